/**
 * A resuming client for a remote buffer's SSE endpoint: a `Stream` that
 * replays then follows, and reconnects after drops (with backoff) from the
 * last offset it received, so the bytes of the remote log arrive exactly
 * once, in order, across any number of drops.
 *
 * @since 0.1.0
 */
export * as ReplayClient from "./ReplayClient.js"

/**
 * The typed errors of `ReplayClient`. Each is a `Schema.TaggedError`, so it
 * can be encoded and decoded.
 *
 * @since 0.1.0
 */
export * as ReplayClientError from "./ReplayClientError.js"

/**
 * HTTP transports for the buffers of a `ReplayRegistry`: server-sent events
 * that a stock `EventSource` resumes, WebSocket with binary frames that carry
 * their offset, plain and long-poll GET, and JSON metadata — the wire
 * protocol v1 described in the package README ("Serving buffers over HTTP").
 *
 * @since 0.1.0
 */
export * as ReplayHttp from "./ReplayHttp.js"

/**
 * Process capture with `@effect/platform`'s `Command`: a child process's
 * stdout and stderr, merged in arrival order, written into a `ReplayBuffer`
 * that ends with the process's exit status.
 *
 * @since 0.1.0
 */
export * as ReplayProcess from "./ReplayProcess.js"

/**
 * Writing a `Stream` of bytes into a `ReplayBuffer`: a `Sink` that turns each
 * chunk the stream delivers into one atomic batch, and `write`, which also
 * ends the buffer when the stream ends.
 *
 * @since 0.1.0
 */
export * as ReplaySink from "./ReplaySink.js"

/**
 * Replay-then-follow Streams over a `ReplayBuffer`: everything retained from
 * an offset, then live writes, in order, with no gap and no duplicate.
 *
 * @since 0.1.0
 */
export * as ReplayStream from "./ReplayStream.js"
