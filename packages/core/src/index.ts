/**
 * A byte-bounded replay buffer: a producer writes bytes, readers ask for
 * everything still retained from a byte offset, followers wait for more.
 *
 * Offsets are absolute: `total` counts every byte ever written and never goes
 * back; the buffer keeps the last `capacity` bytes, `[oldest, total)`, with
 * `oldest = max(0, total − capacity)`. `readFrom` follows the Go seed's
 * `ReadFrom` exactly:
 *
 * | call                                  | result                                        |
 * |---------------------------------------|-----------------------------------------------|
 * | `readFrom(o)`, `o >= total`           | `{ bytes: empty, offset: total }`             |
 * | `readFrom(o)`, `o < oldest` (or < 0)  | bytes `[oldest, total)`, `offset: oldest`     |
 * | `readFrom(o)` otherwise               | bytes `[o, total)`, `offset: o`               |
 * | `readFrom(NaN / 1.5 / ±Infinity)`     | fails `InvalidOffset`                         |
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
