/**
 * A resuming client for a remote buffer's SSE endpoint: a `Stream` that
 * replays then follows, and reconnects after drops (with backoff) from the
 * last offset it received, so the bytes of the remote log arrive exactly
 * once, in order, across any number of drops.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type { InvalidOffset, OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type { BufferNotFound } from "@scrollback/core/ReplayRegistryError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/client.js"
import type * as ReplayStream from "./ReplayStream.js"

/**
 * The remote buffer is another incarnation than the one the client was
 * following: the server answered `409` (its epoch is not the one in the
 * resume position), or a `hello` carried another epoch — typically the
 * producer's server restarted and created a new buffer under the same key.
 * The client never splices two incarnations together.
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
 * protocol's JSON error), truncated to 4 KiB: the client reads no more than
 * that of an error body.
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
 * The server sent something the protocol does not allow: a malformed event
 * or id, an event before the `hello`, bytes that do not continue exactly
 * at the last offset received, an event (or line) larger than
 * `maxEventBytes`, or a `/info` body larger than 64 KiB. The client fails
 * rather than splice, skip or buffer without bound.
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
 * One connection attempt ended without the `end` event: the input of the
 * reconnect `schedule`, and the `cause` of {@link ConnectionFailed}.
 *
 * - `"Transport"`: the request failed or the response body broke off
 *   (connection refused or reset, a cut in the middle of a chunk, …).
 * - `"EndOfStream"`: the response ended cleanly but without the `end` event.
 * - `"IdleTimeout"`: nothing (no header, event nor keep-alive comment) arrived
 *   for `idleTimeout`.
 * - `"Unavailable"`: the server answered `429` (too many connections for this
 *   buffer), `503` (too many connections overall) or another `5xx`; `status`
 *   says which.
 *
 * @since 0.1.0
 * @category errors
 */
export class Disconnected extends Schema.TaggedError<Disconnected>("@scrollback/platform/Disconnected")(
  "Disconnected",
  {
    reason: Schema.Literal("Transport", "EndOfStream", "IdleTimeout", "Unavailable"),
    status: Schema.optional(Schema.Number),
    cause: Schema.optional(Schema.Defect)
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    switch (this.reason) {
      case "Transport":
        return `the connection failed${this.cause instanceof Error ? `: ${this.cause.message}` : ""}`
      case "EndOfStream":
        return "the response ended without an end event"
      case "IdleTimeout":
        return "nothing arrived for the idle timeout"
      case "Unavailable":
        return `the server answered ${this.status ?? "5xx"}`
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
 * - {@link EpochChanged}: the remote buffer is another incarnation (`409`).
 * - `OffsetEvicted` (from `@scrollback/core`): under `onEvicted: "fail"`, the
 *   next byte was evicted before the client could read it (`410`).
 * - `BufferNotFound` (from `ReplayRegistry`): no buffer under this key (`404`).
 * - `ProducerFailed` (from `@scrollback/core`): the `end` event said the
 *   producer failed; it carries the reason and exit code.
 * - {@link HttpStatusError}: another status the client does not retry.
 * - {@link ConnectionFailed}: the reconnect schedule gave up.
 * - {@link ProtocolError}: the server broke the protocol.
 * - `InvalidOffset` (from `@scrollback/core`): `from` is not an integer.
 *
 * @since 0.1.0
 * @category errors
 */
export type ReplayClientError =
  | EpochChanged
  | OffsetEvicted
  | BufferNotFound
  | ProducerFailed
  | HttpStatusError
  | ConnectionFailed
  | ProtocolError
  | InvalidOffset

/**
 * @since 0.1.0
 * @category models
 */
export interface FollowOptions {
  /**
   * Where to start: an absolute byte offset (read like the server reads
   * `?offset=`: negative or evicted → `onEvicted` applies from the oldest
   * retained byte; past the end → the end), `"oldest"` (everything retained)
   * or `"live"` (the client asks `{url}/info` for `total` and starts there).
   * Default `"oldest"`.
   */
  readonly from?: ReplayStream.From | undefined
  /**
   * What happens when the next byte was evicted, at the start or on a
   * reconnect after falling behind: `"fail"` → `OffsetEvicted`; `"clamp"` →
   * continue at the oldest retained byte, and say so (a `Gap` frame, and
   * `onGap`). Default `"fail"`, like `ReplayStream.follow`: the client never
   * skips bytes silently unless asked to.
   */
  readonly onEvicted?: ReplayStream.OnEvicted | undefined
  /**
   * The epoch the client expects (for example, saved with an offset before a
   * page reload). A remote buffer with another epoch → `EpochChanged`.
   * Default: whichever epoch the first `hello` carries.
   */
  readonly epoch?: string | undefined
  /**
   * The reconnect schedule. It is fed each failed attempt's `Disconnected`,
   * and is reset whenever an attempt makes progress (see
   * {@link defaultSchedule}); when it ends, the stream fails with
   * `ConnectionFailed`. Default {@link defaultSchedule}.
   */
  readonly schedule?: Schedule.Schedule<unknown, Disconnected> | undefined
  /**
   * When nothing arrives for this long — no response headers, no event, no
   * keep-alive comment — the connection is treated as dead and the client
   * reconnects. Default {@link DEFAULT_IDLE_TIMEOUT} (45 seconds: three times
   * the server's 15 s keep-alive).
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /**
   * The most text the client holds for one SSE event (its `data` plus the
   * line being received), in characters (bytes: the protocol is ASCII). A
   * server or proxy that sends more — one endless line, or `data:` lines
   * without the blank line that ends an event — fails the stream with
   * `ProtocolError` instead of growing the client's memory. Default
   * {@link DEFAULT_MAX_EVENT_BYTES} (1 MiB; the server's longest line is
   * about 64 KiB).
   */
  readonly maxEventBytes?: number | undefined
  /** Runs on each gap under `"clamp"`, before the bytes after the gap are emitted. */
  readonly onGap?: ((gap: ReplayStream.Gap) => Effect.Effect<void>) | undefined
}

/**
 * The default idle timeout: 45 seconds, three times the server's default
 * keep-alive interval (15 s).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_IDLE_TIMEOUT: Duration.Duration = internal.DEFAULT_IDLE_TIMEOUT

/**
 * The default `maxEventBytes`: 1 MiB. The server never sends a line longer
 * than 64 KiB of base64 plus the event id (a data event), so only a broken or
 * hostile peer reaches it.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_EVENT_BYTES: number = internal.DEFAULT_MAX_EVENT_BYTES

/**
 * The default bound on consecutive attempts without progress: 10 retries
 * (so 11 attempts in a row), after which the stream fails with
 * `ConnectionFailed`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_RETRIES: number = internal.DEFAULT_MAX_RETRIES

/**
 * The default reconnect schedule: exponential backoff from 100 ms, ×2 per
 * attempt, jittered (×0.8–1.2), each delay capped at 5 seconds, at most
 * {@link DEFAULT_MAX_RETRIES} (10) retries in a row — about 26 s of retrying
 * before giving up.
 *
 * The client resets the schedule after every attempt that made progress, so
 * it reconnects without limit as long as reconnecting helps. An attempt made
 * progress when it delivered bytes, a gap or the end, or when, after its
 * `hello`, anything more arrived (such as a keep-alive comment): so a server
 * that accepts and drops every connection right after the `hello` does not
 * count as progress.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSchedule: Schedule.Schedule<unknown, Disconnected> = internal.defaultSchedule

/**
 * Follows a remote buffer's frames over SSE. `url` is the buffer's base URL,
 * `{prefix}/{key}` (for example `http://127.0.0.1:8080/scrollback/build-42`);
 * the client requests `{url}/sse`.
 *
 * Emits `Data` frames (`{ offset, bytes }`, contiguous: each starts where the
 * previous one ended) and, under `onEvicted: "clamp"`, a `Gap` frame where
 * bytes were evicted. After a drop (network error, the body ending without
 * an `end` event, `idleTimeout`), it reconnects per `schedule` with
 * `Last-Event-ID` set to the last `EPOCH:OFFSET` it received, and checks that
 * the next bytes start exactly there. The `end` event completes the stream
 * (status `ended`) or fails it with `ProducerFailed` (status `failed`).
 *
 * It needs an `HttpClient` (for example `FetchHttpClient.layer`, or a
 * `NodeHttpClient` layer); add headers such as an authorization token by
 * providing a client built with `HttpClient.mapRequest`.
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { ReplayClient } from "@scrollback/platform"
 * import { Effect, Stream } from "effect"
 *
 * const program = ReplayClient.frames("http://127.0.0.1:8080/scrollback/build-42", {
 *   from: "oldest",
 *   onEvicted: "clamp"
 * }).pipe(
 *   Stream.runForEach((frame) =>
 *     frame._tag === "Gap"
 *       ? Effect.log(`missed bytes ${frame.requested}..${frame.oldest}`)
 *       : Effect.log(`${frame.bytes.length} bytes at ${frame.offset}`)
 *   ),
 *   Effect.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const frames: (
  url: string,
  options?: FollowOptions
) => Stream.Stream<ReplayStream.Frame, ReplayClientError, HttpClient.HttpClient> = internal.frames

/**
 * Like {@link frames}, but emits the bytes only: exactly the bytes of the
 * remote log from `from`, once and in order, across any number of
 * reconnects. Gaps under `onEvicted: "clamp"` are reported to `onGap`.
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { ReplayClient } from "@scrollback/platform"
 * import { Console, Effect, Stream } from "effect"
 *
 * const program = ReplayClient.follow("http://127.0.0.1:8080/scrollback/build-42", {
 *   onEvicted: "clamp",
 *   onGap: (gap) => Console.error(`missed bytes ${gap.requested}..${gap.oldest}`)
 * }).pipe(
 *   Stream.decodeText(),
 *   Stream.runForEach(Console.log),
 *   Effect.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const follow: (
  url: string,
  options?: FollowOptions
) => Stream.Stream<Uint8Array, ReplayClientError, HttpClient.HttpClient> = internal.follow
