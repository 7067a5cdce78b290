/**
 * A resuming client for a remote buffer served by `ReplayHttp`, over SSE
 * (`follow`, `frames`) or WebSocket (`followWs`, `framesWs`): a `Stream`
 * that replays then follows, and reconnects after drops (with backoff) from
 * the last offset it received, so the bytes of the remote log arrive exactly
 * once, in order, across any number of drops.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Socket from "@effect/platform/Socket"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/client.js"
import * as internalWs from "./internal/clientWs.js"
import type { Disconnected, ReplayClientError } from "./ReplayClientError.js"
import type * as ReplayStream from "./ReplayStream.js"

/**
 * The options of both transports.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Where to start: an absolute byte offset (read like the server reads
   * `?offset=`: negative or evicted → `onEvicted` applies from the oldest
   * retained byte; past the end → the end), `"oldest"` (everything retained),
   * `"live"` (the client asks `{url}/info` for `total` and starts there), or
   * a resume position `{ epoch, offset }` saved earlier (it resumes exactly
   * there, in that epoch; `epoch`, if also given, must be the same).
   * Default `"oldest"`. Anything else fails with `InvalidOffset`.
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
   * When nothing arrives for this long — no response headers or opened
   * WebSocket, no event or message, no keep-alive (`: ping` on SSE,
   * `{"type":"ping"}` on WebSocket) — the connection is treated as dead and
   * the client reconnects. Default {@link DEFAULT_IDLE_TIMEOUT} (45 seconds:
   * three times the server's 15 s keep-alive). It also bounds the `/info`
   * requests.
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /**
   * Runs on each gap under `"clamp"`, before the bytes after the gap are
   * emitted (by `frames`, after the `Gap` frame is emitted too).
   */
  readonly onGap?: ((gap: ReplayStream.Gap) => Effect.Effect<void>) | undefined
}

/**
 * The options of the SSE transport (`follow`, `frames`).
 *
 * @since 0.1.0
 * @category models
 */
export interface FollowOptions extends Options {
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
}

/**
 * The options of the WebSocket transport (`followWs`, `framesWs`).
 *
 * @since 0.1.0
 * @category models
 */
export interface FollowWsOptions extends Options {
  /**
   * The most bytes of messages the WebSocket delivered that the stream's
   * consumer has not taken yet. A WebSocket cannot be paused, so a consumer
   * slower than the connection would otherwise grow the client's memory;
   * past this bound the connection is dropped (`Disconnected` reason
   * `"SlowConsumer"`, which made progress, so it does not count against the
   * schedule) and resumed from the last byte delivered. Default
   * {@link DEFAULT_MAX_BUFFERED_BYTES} (8 MiB).
   */
  readonly maxBufferedBytes?: number | undefined
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
 * The default `maxBufferedBytes` of the WebSocket transport: 8 MiB (a
 * message carries at most 256 KiB + 8 bytes).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_BUFFERED_BYTES: number = internalWs.DEFAULT_MAX_BUFFERED_BYTES

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
 * `onGap`, if given, runs on each gap right after its `Gap` frame is emitted
 * and before the bytes after it.
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
) => Stream.Stream<ReplayStream.Frame, ReplayClientError, HttpClient.HttpClient> = internal.framesSse

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
) => Stream.Stream<Uint8Array, ReplayClientError, HttpClient.HttpClient> = internal.followSse

/**
 * Follows a remote buffer's frames over WebSocket, `{url}/ws` (with `ws:` or
 * `wss:` for `http:` or `https:`): the same frames, options, checks, errors
 * and reconnects as {@link frames}, on the same state machine. Binary
 * messages carry their offset; a resume asks for `?offset=N&epoch=E`.
 *
 * It needs a `Socket.WebSocketConstructor` (`Socket.layerWebSocketConstructorGlobal`
 * in browsers and runtimes with a global `WebSocket`,
 * `NodeSocket.layerWebSocketConstructor` from `@effect/platform-node` on
 * Node) and an `HttpClient`: the WebSocket API hides why an upgrade was
 * refused and what a `4409`/`4410` close was about, so the client asks
 * `GET {url}/info` (and `from: "live"` starts from its `total`, as on SSE).
 *
 * @example
 * ```ts
 * import { FetchHttpClient, Socket } from "@effect/platform"
 * import { ReplayClient } from "@scrollback/platform"
 * import { Effect, Layer, Stream } from "effect"
 *
 * const program = ReplayClient.framesWs("http://127.0.0.1:8080/scrollback/build-42", {
 *   onEvicted: "clamp",
 *   onGap: (gap) => Effect.log(`missed bytes ${gap.requested}..${gap.oldest}`)
 * }).pipe(
 *   Stream.runForEach((frame) =>
 *     frame._tag === "Data" ? Effect.log(`${frame.bytes.length} bytes at ${frame.offset}`) : Effect.void
 *   ),
 *   Effect.provide(Layer.merge(FetchHttpClient.layer, Socket.layerWebSocketConstructorGlobal))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const framesWs: (
  url: string,
  options?: FollowWsOptions
) => Stream.Stream<
  ReplayStream.Frame,
  ReplayClientError,
  HttpClient.HttpClient | Socket.WebSocketConstructor
> = internalWs.framesWs

/**
 * Like {@link framesWs}, but emits the bytes only, as {@link follow} does
 * over SSE.
 *
 * @example
 * ```ts
 * import { FetchHttpClient, Socket } from "@effect/platform"
 * import { ReplayClient } from "@scrollback/platform"
 * import { Console, Effect, Layer, Stream } from "effect"
 *
 * const program = ReplayClient.followWs("https://example.com/scrollback/build-42").pipe(
 *   Stream.decodeText(),
 *   Stream.runForEach(Console.log),
 *   Effect.provide(Layer.merge(FetchHttpClient.layer, Socket.layerWebSocketConstructorGlobal))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const followWs: (
  url: string,
  options?: FollowWsOptions
) => Stream.Stream<Uint8Array, ReplayClientError, HttpClient.HttpClient | Socket.WebSocketConstructor> =
  internalWs.followWs
