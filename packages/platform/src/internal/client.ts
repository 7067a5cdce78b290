/**
 * `ReplayClient`: the connection loop shared by both transports, the HTTP
 * requests both make (`/info`, refusals), and the SSE transport.
 *
 * The resume logic is the pure state machine of `clientState.ts`; a
 * transport only turns a connection into its events. The loop runs one
 * attempt per connection and reconnects with `Stream.retry` and the
 * `schedule`: an attempt fails with `Disconnected` when it drops, and its
 * output (frames, or a progress marker) resets the schedule.
 *
 * SSE is parsed with `@effect/experimental`'s `Sse.makeParser`, which is
 * byte-exact for this protocol: the server sends LF line ends only, base64
 * data, and an id on every event (the parser's ids are per event, not
 * carried over); the bytes are decoded from UTF-8 by `Stream.decodeText`
 * (whose decoder drops a BOM), so the parser's own BOM check (which compares
 * a decoded string with the BOM's bytes) and its handling of a CRLF split
 * across two chunks (an extra empty line) never come into play, and its
 * `Retry` events (the `retry:` field) are ignored: the schedule decides.
 * Its `makeChannel` is not used: it sleeps for the `retry:` every response
 * starts with (1 s) before going on, and turns an oversized event into a
 * defect. The text is fed to the parser one line at a time (see
 * `sseDecoder`: its scan is quadratic in the lines of one feed). The parser
 * does not report comments, so the `: ping` keep-alive counts as what it is:
 * bytes. Any bytes keep the idle timeout from firing, and any bytes after
 * the hello count as progress.
 *
 * @internal
 */
import * as Sse from "@effect/experimental/Sse"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { InvalidOffset } from "@scrollback/core/ReplayBufferError"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Api from "../ReplayClient.js"
import * as ClientError from "../ReplayClientError.js"
import type * as ProtocolApi from "../ReplayProtocol.js"
import type * as ReplayStream from "../ReplayStream.js"
import * as Machine from "./clientState.js"
import * as Protocol from "./protocol.js"

/** @internal */
export const DEFAULT_IDLE_TIMEOUT: Duration.Duration = Duration.seconds(45)

/** @internal */
export const DEFAULT_MAX_RETRIES = 10

/** @internal */
export const defaultSchedule: Schedule.Schedule<unknown, ClientError.Disconnected> = Schedule.exponential(
  Duration.millis(100),
  2
).pipe(
  Schedule.jittered,
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(5))),
  Schedule.intersect(Schedule.recurs(DEFAULT_MAX_RETRIES))
)

/**
 * The most the SSE parser holds for one event (its data plus the unterminated
 * line): 1 MiB. The server's longest line is a data event's, 64 KiB of base64
 * plus the id, so this only trips on a broken or hostile peer.
 *
 * @internal
 */
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024

/**
 * The most of an error response's body read, and kept in `HttpStatusError.body`:
 * the rest is not read (the response is aborted).
 */
const MAX_ERROR_BODY = 4096

/** The most of a `/info` body read: a larger one is a `ProtocolError` (a real one is ~200 bytes). */
const MAX_INFO_BODY = 64 * 1024

const textDecoder = new TextDecoder()

/**
 * Reads at most `max + 1` bytes of a response's body, then stops (aborting the
 * rest), so a huge or endless body is never buffered. `truncated` says whether
 * the body was longer than `max`; `text` decodes its first `max` bytes (an
 * incomplete UTF-8 sequence at the cut is dropped).
 */
const readBounded = (response: HttpClientResponse.HttpClientResponse, max: number) =>
  Stream.runFoldWhile(
    response.stream,
    { chunks: [] as Array<Uint8Array>, size: 0 },
    (acc) => acc.size <= max,
    (acc, chunk) => {
      acc.chunks.push(chunk)
      acc.size += chunk.length
      return acc
    }
  ).pipe(Effect.map(({ chunks, size }) => {
    const bytes = new Uint8Array(Math.min(size, max))
    let pos = 0
    for (const chunk of chunks) {
      if (pos >= bytes.length) break
      const take = Math.min(chunk.length, bytes.length - pos)
      bytes.set(take === chunk.length ? chunk : chunk.subarray(0, take), pos)
      pos += take
    }
    // `stream: true` holds back (here: drops) a UTF-8 sequence cut at the end, rather than a U+FFFD.
    return { text: textDecoder.decode(bytes, { stream: size > max }), truncated: size > max }
  }))

// ---------------------------------------------------------------------------
// Wire payloads: ReplayProtocol's schemas
// ---------------------------------------------------------------------------

const decodeErrorBody = Schema.decodeUnknownEither(Schema.parseJson(Protocol.ErrorBody))
const decodeInfo = Schema.decodeUnknownEither(Schema.parseJson(Protocol.Info))
const decodeHello = Schema.decodeUnknownEither(Schema.parseJson(Protocol.Hello))
const decodeGap = Schema.decodeUnknownEither(Schema.parseJson(Protocol.Gap))
const decodeEnd = Schema.decodeUnknownEither(Schema.parseJson(Protocol.End))
const isPosition = Schema.is(Protocol.Position)

/** The first characters of a payload, for an error's reason. */
const excerpt = (text: string): string => text.length <= 200 ? text : `${text.slice(0, 200)}…`

// ---------------------------------------------------------------------------
// What both transports share
// ---------------------------------------------------------------------------

/** The options both transports read, resolved. */
export interface Settings {
  /** The buffer's base URL, `{prefix}/{key}`, without a trailing slash. */
  readonly base: string
  readonly from: ReplayStream.From
  readonly policy: ReplayStream.OnEvicted
  readonly epoch: string | undefined
  readonly idleTimeout: Duration.Duration
  readonly schedule: Schedule.Schedule<unknown, ClientError.Disconnected>
  readonly onGap: ((gap: ReplayStream.Gap) => Effect.Effect<void>) | undefined
}

/** Checks and resolves the options; fails with `InvalidOffset` for a `from` that is no offset or position. */
export const settings = (
  url: string,
  options: Api.Options | undefined
): Either.Either<Settings, InvalidOffset> => {
  const from = options?.from ?? "oldest"
  const valid = from === "oldest" || from === "live" ||
    (typeof from === "number" && Number.isSafeInteger(from)) ||
    (isPosition(from) && (options?.epoch === undefined || options.epoch === from.epoch))
  if (!valid) return Either.left(new InvalidOffset({ offset: from }))
  return Either.right({
    base: url.endsWith("/") ? url.slice(0, -1) : url,
    from,
    policy: options?.onEvicted ?? "fail",
    epoch: options?.epoch,
    idleTimeout: Duration.decode(options?.idleTimeout ?? DEFAULT_IDLE_TIMEOUT),
    schedule: options?.schedule ?? defaultSchedule,
    onGap: options?.onGap
  })
}

const transport = (cause: unknown): ClientError.Disconnected =>
  new ClientError.Disconnected({ reason: "Transport", cause })

/** @internal */
export const idle = (): ClientError.Disconnected => new ClientError.Disconnected({ reason: "IdleTimeout" })

/** The HTTP requests both transports make. */
export interface Http {
  /** Sends a GET with the idle timeout on the response headers; transport failures are `Disconnected`. */
  readonly send: (
    request: HttpClientRequest.HttpClientRequest
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, ClientError.Disconnected>
  /** A non-2xx answer to `url` as a `Refused` event, its error decoded from the body's `ErrorBody`. */
  readonly refusal: (url: string, response: HttpClientResponse.HttpClientResponse) => Effect.Effect<Machine.Event>
  /** `GET {url}/info`: the event `onInfo` makes of the buffer's state, or a refusal, or a malformed body. */
  readonly info: (onInfo: (info: ProtocolApi.Info) => Machine.Event) => Effect.Effect<
    Machine.Event,
    ClientError.Disconnected
  >
}

/** @internal */
export const makeHttp = (client: HttpClient.HttpClient, settings: Settings): Http => {
  const { idleTimeout } = settings

  const send = (request: HttpClientRequest.HttpClientRequest) =>
    client.execute(request).pipe(
      Effect.timeoutFail({ duration: idleTimeout, onTimeout: idle }),
      Effect.catchIf(
        (error): error is Exclude<typeof error, ClientError.Disconnected> => error._tag !== "Disconnected",
        (error) =>
          // A client built with `filterStatusOk` reports statuses as errors: answer them like statuses.
          error._tag === "ResponseError" && error.reason === "StatusCode"
            ? Effect.succeed(error.response)
            : Effect.fail(transport(error))
      )
    )

  const refusal = (url: string, response: HttpClientResponse.HttpClientResponse): Effect.Effect<Machine.Event> =>
    readBounded(response, MAX_ERROR_BODY).pipe(
      Effect.timeout(idleTimeout),
      Effect.map(({ text }) => text),
      Effect.orElseSucceed(() => ""),
      Effect.map((body): Machine.Event => ({
        _tag: "Refused",
        url,
        status: response.status,
        error: Either.getOrUndefined(decodeErrorBody(body))?.error,
        body
      }))
    )

  const infoUrl = `${settings.base}/info`
  const info = (onInfo: (info: ProtocolApi.Info) => Machine.Event) =>
    Effect.gen(function*() {
      const response = yield* send(HttpClientRequest.get(infoUrl, { acceptJson: true }))
      if (response.status !== 200) return yield* refusal(infoUrl, response)
      // Read at most `MAX_INFO_BODY` bytes: a larger body is not an info, and is not buffered.
      const { text, truncated } = yield* readBounded(response, MAX_INFO_BODY).pipe(
        Effect.timeoutFail({ duration: idleTimeout, onTimeout: idle }),
        Effect.mapError((error) => error._tag === "Disconnected" ? error : transport(error))
      )
      if (truncated) {
        return { _tag: "Malformed", reason: `the /info body is larger than ${MAX_INFO_BODY} bytes` } as const
      }
      const decoded = decodeInfo(text)
      return Either.isLeft(decoded)
        ? { _tag: "Malformed", reason: `malformed info: ${excerpt(text)}` } as const
        : onInfo(decoded.right)
    })

  return { send, refusal, info }
}

/** One connection of a transport: the events it saw. It fails (or ends) when the connection drops. */
export type Connect = (request: Machine.Request) => Stream.Stream<Machine.Event, ClientError.Disconnected>

/** Resets the reconnect schedule when an attempt made progress without emitting a frame. */
const PROGRESS = { _tag: "Progress" } as const
type Output = ReplayStream.Frame | typeof PROGRESS

/**
 * The user's schedule, fed only disconnections: a fatal error ends it at once
 * (so `Stream.retry` fails with that error) without the schedule seeing it.
 */
const onDisconnected = (
  schedule: Schedule.Schedule<unknown, ClientError.Disconnected>
): Schedule.Schedule<unknown, ClientError.ReplayClientError | ClientError.Disconnected> =>
  Schedule.makeWithState(schedule.initial, (now, input, state) =>
    input._tag === "Disconnected"
      ? schedule.step(now, input, state)
      : Effect.succeed([state, undefined, ScheduleDecision.done] as const))

/**
 * Follows with one transport: runs the state machine over the events of one
 * connection after the other, reconnecting with `Stream.retry` per the
 * schedule. Gaps come alone in their chunk, after `onGap` ran.
 *
 * @internal
 */
export const run = (
  settings: Settings,
  url: string,
  http: Http,
  connect: Connect,
  transport: "sse" | "ws"
): Stream.Stream<ReplayStream.Frame, ClientError.ReplayClientError> =>
  Stream.suspend(() => {
    const config: Machine.Config = { url, policy: settings.policy }
    let state = Machine.initial({ from: settings.from, epoch: settings.epoch })
    let attempts = 0
    // The URL without its query (which may carry a token) names the stream in every attempt's span.
    const spanUrl = url.split("?")[0]

    /** Steps the machine over the events of one connection, writing frames (a gap alone in its chunk). */
    const reader: Channel.Channel<
      Chunk.Chunk<Output>,
      Chunk.Chunk<Machine.Event>,
      ClientError.ReplayClientError | ClientError.Disconnected,
      ClientError.Disconnected,
      void,
      unknown
    > = Channel.readWithCause({
      onInput: (events: Chunk.Chunk<Machine.Event>) => {
        const out: Array<Chunk.Chunk<Output>> = []
        let pending: Array<Output> = []
        const before = state.attempt.progress
        let decision: Machine.Decision = { _tag: "Continue" }
        for (const event of events) {
          const step = Machine.step(config, state, event)
          state = step.state
          if (step.frame !== undefined) {
            if (step.frame._tag === "Gap") {
              if (pending.length > 0) out.push(Chunk.unsafeFromArray(pending))
              pending = []
              out.push(Chunk.of(step.frame))
            } else {
              pending.push(step.frame)
            }
          }
          decision = step.decision
          if (decision._tag !== "Continue") break
        }
        if (pending.length > 0) out.push(Chunk.unsafeFromArray(pending))
        // Progress without a frame (e.g. a keep-alive after the hello) still resets the schedule.
        if (out.length === 0 && !before && state.attempt.progress) out.push(Chunk.of(PROGRESS))
        const rest = decision._tag === "Continue"
          ? reader
          : decision._tag === "Complete"
          ? Channel.void
          : decision._tag === "Fail"
          ? Channel.fail(decision.error)
          : Channel.fail(decision.cause)
        return out.length === 0 ? rest : Channel.zipRight(Channel.writeAll(...out), rest)
      },
      onFailure: (cause) => {
        const failure = Cause.failureOption(cause)
        if (Option.isNone(failure)) return Channel.failCause(cause)
        return dropped(failure.value)
      },
      onDone: () => dropped(new ClientError.Disconnected({ reason: "EndOfStream" }))
    })

    const dropped = (cause: ClientError.Disconnected) => {
      const step = Machine.step(config, state, { _tag: "Disconnected", cause })
      state = step.state
      return Channel.fail(cause)
    }

    const attempt = Stream.suspend(() => {
      state = Machine.connect(state)
      const request = Machine.request(state)
      // `from: "live"`: `/info` says where to start; the connection is made once the machine took it in.
      const events = request._tag === "Live"
        ? Stream.concat(
          Stream.fromEffect(http.info((info) => ({ _tag: "Started", info }))),
          Stream.suspend(() => connect(Machine.request(state)))
        )
        : connect(request)
      // One span per connection attempt, from the request to the drop (its exit: `Disconnected`) or the end.
      return Stream.fromChannel(Channel.pipeTo(Stream.toChannel(events), reader)).pipe(
        Stream.withSpan("ReplayClient.connect", {
          kind: "client",
          captureStackTrace: false,
          attributes: {
            "scrollback.url": spanUrl,
            "scrollback.transport": transport,
            "scrollback.attempt": ++attempts,
            "scrollback.request": request._tag === "Resume"
              ? `${request.position.epoch}:${request.position.offset}`
              : request._tag === "Live"
              ? "live"
              : request.offset === undefined
              ? "oldest"
              : String(request.offset)
          }
        })
      )
    })

    const frames = attempt.pipe(
      Stream.retry(onDisconnected(settings.schedule)),
      Stream.catchAll((error) =>
        Stream.fail(
          error._tag === "Disconnected"
            ? new ClientError.ConnectionFailed({ url, attempts: state.failures, cause: error })
            : error
        )
      ),
      Stream.mapChunks((chunk) =>
        chunk.length === 1 && Chunk.unsafeHead(chunk)._tag === "Progress"
          ? Chunk.empty<ReplayStream.Frame>()
          : chunk as Chunk.Chunk<ReplayStream.Frame>
      )
    )
    const onGap = settings.onGap
    if (onGap === undefined) return frames
    // Gaps come alone in their chunk: `onGap` runs before the bytes after the gap are emitted.
    return Stream.mapChunksEffect(frames, (chunk) => {
      const first = Chunk.get(chunk, 0)
      return first._tag === "Some" && first.value._tag === "Gap"
        ? Effect.as(onGap(first.value), chunk)
        : Effect.succeed(chunk)
    })
  })

/**
 * The bytes of frames: `Data` frames' bytes; gaps (already reported to
 * `onGap`) are dropped.
 *
 * @internal
 */
export const bytesOf = <E, R>(
  frames: Stream.Stream<ReplayStream.Frame, E, R>
): Stream.Stream<Uint8Array, E, R> =>
  Stream.mapChunks(frames, (chunk) => {
    const first = Chunk.get(chunk, 0)
    if (first._tag === "Some" && first.value._tag === "Gap") return Chunk.empty()
    return Chunk.map(chunk, (frame) => (frame as ReplayStream.Data).bytes)
  })

// ---------------------------------------------------------------------------
// SSE
// ---------------------------------------------------------------------------

/** Decodes one SSE event into the machine's event; unknown types are ignored (forward compatibility). */
const sseEvent = (event: Sse.Event): Machine.Event | undefined => {
  const type = event.event
  if (type !== "hello" && type !== "message" && type !== "gap" && type !== "end") return undefined
  const parsed = event.id === undefined ? undefined : Either.getOrUndefined(Protocol.parsePosition(event.id))
  if (parsed === undefined) return { _tag: "Malformed", reason: `malformed id ${String(event.id)} on a ${type} event` }
  const id = parsed
  switch (type) {
    case "hello": {
      const hello = decodeHello(event.data)
      return Either.isLeft(hello)
        ? { _tag: "Malformed", reason: `malformed hello: ${excerpt(event.data)}` }
        : { _tag: "Hello", hello: hello.right, id }
    }
    case "message": {
      const bytes = Encoding.decodeBase64(event.data)
      return Either.isLeft(bytes)
        ? { _tag: "Malformed", reason: `malformed base64 at ${event.id}` }
        : { _tag: "Data", offset: id.offset - bytes.right.length, bytes: bytes.right, epoch: id.epoch }
    }
    case "gap": {
      const gap = decodeGap(event.data)
      return Either.isLeft(gap)
        ? { _tag: "Malformed", reason: `malformed gap: ${excerpt(event.data)}` }
        : { _tag: "Gap", gap: gap.right, id }
    }
    case "end": {
      const end = decodeEnd(event.data)
      return Either.isLeft(end)
        ? { _tag: "Malformed", reason: `malformed end: ${excerpt(event.data)}` }
        : { _tag: "End", end: end.right, id }
    }
  }
}

/**
 * SSE text in, the machine's events out, with `Sse.makeParser`.
 *
 * The text is fed one line at a time (each piece ends just after an LF, so
 * a CRLF stays in one piece and the parser's state carries across pieces:
 * the events are exactly those of feeding the whole chunk). The parser
 * rescans its buffer from the start for every line it finds, so a chunk of
 * `n` lines costs O(n × chunk): fed whole, a 64 KiB chunk of small events
 * parses at ~0.2 MB/s; fed by lines, ~12 MB/s (large data events, ~185
 * MB/s). The pieces also show the keep-alives the parser does not report: a
 * whole comment line (`: ping`) after the hello is progress (an `Alive`
 * event). Part of an event is not: a link that always cuts before an event
 * is complete must use up the retry schedule, not reset it for ever.
 *
 * The parser holds at most `maxEventBytes` of an event (its data and the
 * unterminated line); past that, the events completed before are delivered,
 * then a `Malformed`, and the rest of the connection is ignored.
 */
const sseDecoder = (maxEventBytes: number) => {
  let parsed: Array<Sse.Event> = []
  const parser = Sse.makeParser((event) => {
    if (event._tag === "Event") parsed.push(event)
  }, { maxEventSize: maxEventBytes })
  /** The parser dispatched the connection's first event (the hello). */
  let started = false
  /** The next piece starts a line. */
  let lineStart = true
  let stopped = false

  return (texts: Chunk.Chunk<string>): Chunk.Chunk<Machine.Event> => {
    const out: Array<Machine.Event> = []
    if (stopped) return Chunk.empty()
    for (const text of texts) {
      let overflow: Sse.SseError | undefined
      let after = false
      let start = 0
      while (start < text.length && overflow === undefined) {
        const lf = text.indexOf("\n", start)
        const end = lf === -1 ? text.length : lf + 1
        const piece = start === 0 && end === text.length ? text : text.slice(start, end)
        // A whole comment line; its start is a line's start: every piece but a chunk's first starts one, and a
        // chunk's first does when the previous chunk ended with an LF.
        if (started && lf !== -1 && piece.charCodeAt(0) === 58 && lineStart) after = true
        lineStart = lf !== -1
        overflow = parser.feed(piece)
        if (parsed.length > 0) started = true
        start = end
      }
      for (const event of parsed) {
        const decoded = sseEvent(event)
        if (decoded !== undefined) out.push(decoded)
      }
      parsed = []
      if (after) out.push({ _tag: "Alive" })
      if (overflow !== undefined) {
        stopped = true
        out.push({
          _tag: "Malformed",
          reason: `event too large: an event (its data and unterminated line) exceeds maxEventBytes (${maxEventBytes})`
        })
        break
      }
    }
    return Chunk.unsafeFromArray(out)
  }
}

/** @internal */
export const framesSse = (
  url: string,
  options?: Api.FollowOptions
): Stream.Stream<ReplayStream.Frame, ClientError.ReplayClientError, HttpClient.HttpClient> =>
  Stream.unwrap(Effect.gen(function*() {
    const resolved = settings(url, options)
    if (Either.isLeft(resolved)) return Stream.fail(resolved.left)
    const config = resolved.right
    const http = makeHttp(yield* HttpClient.HttpClient, config)
    const sseUrl = `${config.base}/sse`
    const maxEventBytes = options?.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES

    const connect: Connect = (request) =>
      Stream.unwrap(Effect.gen(function*() {
        let req = HttpClientRequest.get(sseUrl, { headers: { accept: "text/event-stream" } })
        if (request._tag === "Resume") {
          req = HttpClientRequest.setHeader(req, "last-event-id", Protocol.formatPosition(request.position))
        } else if (request._tag === "Start") {
          if (request.offset !== undefined) req = HttpClientRequest.setUrlParam(req, "offset", String(request.offset))
          if (request.epoch !== undefined) req = HttpClientRequest.setUrlParam(req, "epoch", request.epoch)
        }
        req = HttpClientRequest.setUrlParam(req, "onEvicted", config.policy)
        const response = yield* http.send(req)
        // The position is at the end of an ended buffer: `/info` says how it ended.
        if (response.status === 204) return Stream.fromEffect(http.info((info) => ({ _tag: "Ended", info })))
        if (response.status !== 200) return Stream.fromEffect(http.refusal(sseUrl, response))
        const contentType = response.headers["content-type"] ?? ""
        if (!contentType.toLowerCase().startsWith("text/event-stream")) {
          yield* Effect.ignore(readBounded(response, MAX_ERROR_BODY).pipe(Effect.timeout(config.idleTimeout)))
          return Stream.make<[Machine.Event]>({
            _tag: "Malformed",
            reason: `expected text/event-stream, got ${JSON.stringify(contentType)}`
          })
        }
        return response.stream.pipe(
          Stream.mapError(transport),
          // Any bytes (an event, a keep-alive comment) show the connection is alive.
          Stream.timeoutFail(idle, config.idleTimeout),
          Stream.decodeText(),
          Stream.mapChunks(sseDecoder(maxEventBytes))
        )
      }))

    return run(config, sseUrl, http, connect, "sse")
  }))

/** @internal */
export const followSse = (
  url: string,
  options?: Api.FollowOptions
): Stream.Stream<Uint8Array, ClientError.ReplayClientError, HttpClient.HttpClient> => bytesOf(framesSse(url, options))
