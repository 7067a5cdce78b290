/**
 * The typed errors of `ReplayClient` (both transports). Each is a
 * `Schema.TaggedError`, so it can be encoded and decoded.
 *
 * @since 0.1.0
 */
import type { InvalidOffset, OffsetAhead, OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type { BufferNotFound } from "@scrollback/core/ReplayRegistryError"
import * as Schema from "effect/Schema"

/**
 * The remote buffer is another incarnation than the one the client was
 * following: the server answered `409 EpochMismatch` (over WebSocket: closed
 * with `4409`, and `/info` shows another epoch), or a `hello` or `/info`
 * carried another epoch — typically the producer's server restarted and
 * created a new buffer under the same key. The client never splices two
 * incarnations together.
 *
 * @since 0.1.0
 * @category errors
 */
export class EpochChanged extends Schema.TaggedError<EpochChanged>("@scrollback/platform/EpochChanged")(
  "EpochChanged",
  { expected: Schema.String, actual: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the remote buffer's epoch is ${this.actual}, not ${this.expected}: it is another incarnation`
  }
}

/**
 * The server answered with a status the client does not retry (a `400`, a
 * `401`/`403` from the server's authorization hook, a `413`, any other `4xx`
 * or an unexpected `2xx`/`3xx`). `body` is the response body as text (the
 * protocol's JSON `ErrorBody`), truncated to 4 KiB: the client reads no more
 * than that of an error body.
 *
 * Over WebSocket, a close with a code `4400`–`4499` the client does not
 * handle otherwise is reported the same way: `status` is the code minus
 * 4000, `body` the close reason, `url` the WebSocket endpoint. A refused
 * upgrade is reported with `/info`'s answer (the WebSocket API hides the
 * upgrade's status): its `url` is then `{url}/info`.
 *
 * @since 0.1.0
 * @category errors
 */
export class HttpStatusError extends Schema.TaggedError<HttpStatusError>("@scrollback/platform/HttpStatusError")(
  "HttpStatusError",
  { url: Schema.String, status: Schema.Number, body: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `GET ${this.url} answered ${this.status}${this.body === "" ? "" : `: ${this.body}`}`
  }
}

/**
 * The server sent something the protocol does not allow: a malformed event,
 * message or id, an event before the `hello`, bytes that do not continue
 * exactly at the last offset received, an SSE event (or line) larger than
 * `maxEventBytes`, a `/info` body larger than 64 KiB, or a WebSocket close
 * `1008`. The client fails rather than splice, skip or buffer without bound.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Schema.TaggedError<ProtocolError>("@scrollback/platform/ProtocolError")(
  "ProtocolError",
  { url: Schema.String, reason: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `protocol error from ${this.url}: ${this.reason}`
  }
}

/**
 * One connection attempt ended without the `end`: the input of the reconnect
 * `schedule`, and the `cause` of {@link ConnectionFailed}.
 *
 * - `"Transport"`: the request or the WebSocket failed, or the connection
 *   broke off (connection refused or reset, a cut in the middle of a chunk,
 *   an abnormal WebSocket close, …).
 * - `"EndOfStream"`: the response ended cleanly, or the WebSocket was closed
 *   with `1000`/`1001` (e.g. server shutdown), without the `end`.
 * - `"IdleTimeout"`: nothing (no header, event nor keep-alive comment) arrived
 *   for `idleTimeout`, or a WebSocket did not open within it.
 * - `"Unavailable"`: the server answered `429` (too many connections for this
 *   buffer), `503` (too many connections overall, or its storage is
 *   unavailable) or another `5xx`; `status` says which.
 * - `"SlowConsumer"`: the consumer fell behind a WebSocket: the server closed
 *   it with `4429` (its unsent bytes passed its bound), or the client's own
 *   `maxBufferedBytes` was passed. The client resumes from the last byte it
 *   delivered.
 *
 * `code` is the WebSocket close code, when there was one.
 *
 * @since 0.1.0
 * @category errors
 */
export class Disconnected extends Schema.TaggedError<Disconnected>("@scrollback/platform/Disconnected")(
  "Disconnected",
  {
    reason: Schema.Literal("Transport", "EndOfStream", "IdleTimeout", "Unavailable", "SlowConsumer"),
    status: Schema.optional(Schema.Number),
    code: Schema.optional(Schema.Number),
    cause: Schema.optional(Schema.Defect)
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    const closed = this.code === undefined ? "" : ` (close code ${this.code})`
    switch (this.reason) {
      case "Transport":
        return `the connection failed${this.cause instanceof Error ? `: ${this.cause.message}` : ""}${closed}`
      case "EndOfStream":
        return `the connection ended without the end${closed}`
      case "IdleTimeout":
        return "nothing arrived for the idle timeout"
      case "Unavailable":
        return `the server answered ${this.status ?? "5xx"}${closed}`
      case "SlowConsumer":
        return `the consumer fell behind the connection${closed}`
    }
  }
}

/**
 * The reconnect `schedule` gave up: `attempts` consecutive connection attempts
 * made no progress. `cause` is the last attempt's {@link Disconnected}.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionFailed extends Schema.TaggedError<ConnectionFailed>("@scrollback/platform/ConnectionFailed")(
  "ConnectionFailed",
  { url: Schema.String, attempts: Schema.Number, cause: Disconnected }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `gave up following ${this.url} after ${this.attempts} attempts without progress: ${this.cause.message}`
  }
}

/**
 * Every error the client can fail with:
 *
 * - {@link EpochChanged}: the remote buffer is another incarnation (`409`,
 *   WebSocket `4409`).
 * - `OffsetAhead` (from `@scrollback/core`): the resume position is past the
 *   remote buffer's total (`409`, WebSocket `4409`): the server lost bytes
 *   the client read.
 * - `OffsetEvicted` (from `@scrollback/core`): under `onEvicted: "fail"`, the
 *   next byte was evicted before the client could read it (`410`, WebSocket
 *   `4410`).
 * - `BufferNotFound` (from `ReplayRegistry`): no buffer under this key (`404`).
 * - `ProducerFailed` (from `@scrollback/core`): the `end` said the producer
 *   failed; it carries the reason and exit code.
 * - {@link HttpStatusError}: another status the client does not retry.
 * - {@link ConnectionFailed}: the reconnect schedule gave up.
 * - {@link ProtocolError}: the server broke the protocol.
 * - `InvalidOffset` (from `@scrollback/core`): `from` is not an integer,
 *   `"oldest"`, `"live"` or a resume position.
 *
 * @since 0.1.0
 * @category errors
 */
export type ReplayClientError =
  | EpochChanged
  | OffsetAhead
  | OffsetEvicted
  | BufferNotFound
  | ProducerFailed
  | HttpStatusError
  | ConnectionFailed
  | ProtocolError
  | InvalidOffset
