/**
 * A byte-bounded replay buffer: a producer writes bytes, readers ask for
 * everything still retained from a byte offset, followers wait for more.
 *
 * @since 0.1.0
 */
export * as ReplayBuffer from "./ReplayBuffer.js"

/**
 * The typed errors of `@scrollback/core`. Each is a `Schema.TaggedError`, so
 * it can cross the wire (SSE, WebSocket, RPC) and be decoded on the other side.
 *
 * @since 0.1.0
 */
export * as ReplayBufferError from "./ReplayBufferError.js"
