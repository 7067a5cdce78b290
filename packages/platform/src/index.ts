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
 * HTTP transports for the buffers of a `ReplayRegistry`: server-sent events
 * that a stock `EventSource` resumes, WebSocket with binary frames that carry
 * their offset, plain and long-poll GET, and JSON metadata — the wire
 * protocol v1 described in the package README ("Serving buffers over HTTP").
 *
 * @since 0.1.0
 */
export * as ReplayHttp from "./ReplayHttp.js"

/**
 * Effect `Metric`s for replay buffers and their followers. They are updated
 * by the followers, the writers and the registry of this package; read them
 * with `Metric.value` or export them with any Effect metrics exporter.
 *
 * @since 0.1.0
 */
export * as ReplayMetrics from "./ReplayMetrics.js"

/**
 * Process capture with `@effect/platform`'s `Command`: a child process's
 * stdout and stderr, merged in arrival order, written into a `ReplayBuffer`
 * that ends with the process's exit status.
 *
 * @since 0.1.0
 */
export * as ReplayProcess from "./ReplayProcess.js"

/**
 * A keyed set of `ReplayBuffer`s as a service: one buffer per stream (a
 * process, a build, a chat turn), found by a key that can appear in a URL,
 * with bounds on how many buffers and how many bytes it holds, and removal of
 * ended buffers after an idle time.
 *
 * | limit            | default              | what happens when it is reached                        |
 * |------------------|----------------------|--------------------------------------------------------|
 * | `maxBuffers`     | 1,024                | `create` fails `RegistryFull { reason: "buffers" }`    |
 * | `maxTotalBytes`  | 268,435,456 (256 MiB)| `create` fails `RegistryFull { reason: "bytes" }`      |
 * | `defaultCapacity`| 1,048,576 (1 MiB)    | the capacity of a buffer created without one           |
 * | `idleTimeout`    | 5 minutes            | an ended buffer is removed this long after it ended    |
 *
 * `maxTotalBytes` bounds the sum of the *capacities* of the buffers held (the
 * most memory they can ever retain), not the bytes written so far.
 *
 * @since 0.1.0
 */
export * as ReplayRegistry from "./ReplayRegistry.js"

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
