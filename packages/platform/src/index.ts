/**
 * A resuming client for a remote buffer served by `ReplayHttp`, over SSE
 * (`follow`, `frames`) or WebSocket (`followWs`, `framesWs`): a `Stream`
 * that replays then follows, and reconnects after drops (with backoff) from
 * the last offset it received, so the bytes of the remote log arrive exactly
 * once, in order, across any number of drops.
 *
 * @since 0.1.0
 */
export * as ReplayClient from "./ReplayClient.js"

/**
 * The typed errors of `ReplayClient` (both transports). Each is a
 * `Schema.TaggedError`, so it can be encoded and decoded.
 *
 * @since 0.1.0
 */
export * as ReplayClientError from "./ReplayClientError.js"

/**
 * HTTP transports for the buffers of a `ReplayRegistry`: server-sent events
 * that a stock `EventSource` resumes, WebSocket with binary frames that carry
 * their offset, plain and long-poll GET, and JSON metadata — the wire
 * protocol of `ReplayProtocol`, described in the package README ("Serving
 * buffers over HTTP").
 *
 * Three parts:
 *
 * - the `ReplayHttp` service: the checked options and the connection limits
 *   (made with {@link make} / {@link layer}, which fail with
 *   `InvalidHttpOptions` on a bad option);
 * - {@link routes}: the endpoints on an `HttpLayerRouter`, with their path,
 *   query and headers decoded by `ReplayProtocol`'s schemas;
 * - {@link Authorization}: a required service — serving without deciding
 *   who may read does not compile ({@link layerAllowAll} is the explicit
 *   way to allow everyone).
 *
 * On Node, `@scrollback/platform-node` serves the same endpoints with bounded
 * socket backlogs, WebSocket pings and a fan-out writer that needs no fiber
 * per connection.
 *
 * @since 0.1.0
 */
export * as ReplayHttp from "./ReplayHttp.js"

/**
 * The errors the HTTP transports answer with, besides the core's and the
 * registry's. Each is a `Schema.TaggedError`: the server encodes it into the
 * JSON body of a refusal (`ReplayProtocol.ErrorBody`) and the client decodes
 * it back.
 *
 * @since 0.1.0
 */
export * as ReplayHttpError from "./ReplayHttpError.js"

/**
 * Interactive WebSocket sessions: the extension point through which a key
 * whose buffer holds a terminal's output gets a screen that survives
 * eviction, and accepts input from a browser. The transports stay generic:
 * a service in the context (such as `@scrollback/terminal`'s
 * `TerminalControl`) is asked about each WebSocket opened with
 * `?terminal=1`, and decides where its bytes start (a keyframe instead of a
 * gap), what it is told (the `ReplayProtocol.WsTerminalMessage`s) and what
 * becomes of the messages it sends (`ReplayProtocol.WsClientMessage`s).
 *
 * Served by `@scrollback/platform-node`'s `NodeReplayHttp` (its fan-out
 * server looks the service up when it starts; without one, or for a
 * connection without `?terminal=1`, nothing changes: a client message closes
 * the connection with `1008`). The portable path of `ReplayHttp.routes`
 * does not consult it: there, every WebSocket is a plain follower.
 *
 * Costs are the interactive sessions' own: a plain follower carries one
 * field more (`undefined`).
 *
 * @since 0.1.0
 */
export * as ReplayInteractive from "./ReplayInteractive.js"

/**
 * Process capture with `@effect/platform`'s `Command`: a child process's
 * stdout and stderr, merged in arrival order, written into a `ReplayBuffer`
 * that ends with the process's exit status.
 *
 * @since 0.1.0
 */
export * as ReplayProcess from "./ReplayProcess.js"

/**
 * The wire protocol of scrollback's HTTP transports, as Schemas shared by the
 * server (`ReplayHttp`, and the Node fan-out in `@scrollback/platform-node`)
 * and the client (`ReplayClient`): resume positions (`EPOCH:OFFSET`), the
 * query parameters, the hello, gap, end and info messages, WebSocket text
 * messages and binary frames, and the JSON body of a refusal, whose error is
 * encoded with the error classes' own schemas.
 *
 * | message | SSE | WebSocket |
 * |---------|-----|-----------|
 * | hello   | `event: hello`, `id: EPOCH:START`, data {@link Hello} | text `{"type":"hello",…}` |
 * | bytes   | default event, `id: EPOCH:NEXT`, data base64 | binary: 8-byte big-endian offset, then the bytes |
 * | gap     | `event: gap`, `id: EPOCH:OLDEST`, data {@link Gap} | text `{"type":"gap",…}` |
 * | end     | `event: end`, `id: EPOCH:TOTAL`, data {@link End} | text `{"type":"end",…}`, then close 1000 |
 *
 * A WebSocket opened with `?terminal=1` on a key that has a terminal (an
 * `ReplayInteractive` service, such as `@scrollback/terminal`'s
 * `TerminalControl`) is an **interactive session**: after the hello it gets
 * {@link WsTerminalMessage}s (the screen at its start — a keyframe snapshot
 * instead of a gap —, size changes at their offsets, who controls the
 * terminal, refused requests) and may send {@link WsClientMessage}s (input,
 * resize, take-over, release) as text. Close codes for what a client sends:
 *
 * | code   | when |
 * |--------|------|
 * | `1003` | a binary message in an interactive session (its messages are text) |
 * | `1007` | a text message that is not a {@link WsClientMessage} (not JSON, an unknown `type`, a field out of range) |
 * | `1008` | any message in a session that is not interactive; more than the inbound budget (`wsInboundBytesPerSecond`) |
 * | `1009` | a message larger than `wsMaxMessageBytes` |
 *
 * @since 0.1.0
 */
export * as ReplayProtocol from "./ReplayProtocol.js"

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

/**
 * How followers and connections appear in a tracer: one span per follower
 * (a `ReplayStream`) and per streaming HTTP connection, from its start to its
 * end, with where it started and how it ended. Nothing is traced per write
 * or per read.
 *
 * | span | made by |
 * |---|---|
 * | `ReplayStream.follow`, `ReplayStream.frames` | each run of those streams |
 * | `ReplayHttp.sse`, `ReplayHttp.ws` | each SSE / WebSocket connection that follows (`ReplayHttp.routes`, and `@scrollback/platform-node`'s fan-out) |
 *
 * Attributes at the start: `scrollback.transport` (`stream`, `sse`, `ws`),
 * `scrollback.key` (HTTP), `scrollback.epoch`, `scrollback.from` (what was
 * asked: `oldest`, `live`, an offset or `EPOCH:OFFSET`), `scrollback.start`
 * (the resume position it started at, `EPOCH:OFFSET`), `scrollback.oldest`
 * and `scrollback.total` (the buffer's, then), `scrollback.on_evicted`. One
 * `scrollback.gap` event per gap (`scrollback.requested`,
 * `scrollback.oldest`). At the end: `scrollback.end` (a {@link FollowerEnd}),
 * `scrollback.position` (`EPOCH:OFFSET` it stopped at) and `scrollback.gaps`;
 * the span's exit fails for `failed` and `evicted`, is interrupted for
 * `interrupted`, and succeeds otherwise.
 *
 * The functions here are for adapters that serve followers without
 * `ReplayStream` (the Node fan-out): they open the span in an Effect and end
 * it from plain code, with no fiber per connection.
 *
 * @since 0.1.0
 */
export * as ReplayTracing from "./ReplayTracing.js"
