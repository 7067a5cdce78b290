import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { InvalidOffset, OffsetAhead, OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import { BufferNotFound } from "@scrollback/core/ReplayRegistryError"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Api from "../ReplayClient.js"
import * as ClientError from "../ReplayClientError.js"
import type * as ReplayStream from "../ReplayStream.js"
import { makeSseParser, type SseEvent } from "./sse.js"

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
// Wire payloads
// ---------------------------------------------------------------------------

const NonNegativeInt = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

const HelloJson = Schema.parseJson(Schema.Struct({
  epoch: Schema.String,
  offset: NonNegativeInt,
  oldest: NonNegativeInt,
  total: NonNegativeInt
}))
const decodeHello = Schema.decodeUnknownEither(HelloJson)

const GapJson = Schema.parseJson(Schema.Struct({ requested: Schema.Number.pipe(Schema.int()), oldest: NonNegativeInt }))
const decodeGap = Schema.decodeUnknownEither(GapJson)

const EndJson = Schema.parseJson(Schema.Union(
  Schema.Struct({ status: Schema.Literal("ended") }),
  Schema.Struct({
    status: Schema.Literal("failed"),
    reason: Schema.optional(Schema.String),
    exitCode: Schema.optional(Schema.Number)
  })
))
const decodeEnd = Schema.decodeUnknownEither(EndJson)

const InfoJson = Schema.parseJson(Schema.Struct({
  epoch: Schema.String,
  oldest: NonNegativeInt,
  total: NonNegativeInt,
  ended: Schema.Union(Schema.Literal(false, "ended", "failed")),
  reason: Schema.optional(Schema.String),
  exitCode: Schema.optional(Schema.Number)
}))
const decodeInfo = Schema.decodeUnknownEither(InfoJson)

const ErrorJson = Schema.parseJson(Schema.Struct({
  error: Schema.Struct({
    _tag: Schema.String,
    key: Schema.optional(Schema.String),
    expected: Schema.optional(Schema.String),
    actual: Schema.optional(Schema.String),
    requested: Schema.optional(Schema.Number),
    oldest: Schema.optional(Schema.Number),
    total: Schema.optional(Schema.Number)
  })
}))
const decodeErrorBody = Schema.decodeUnknownEither(ErrorJson)

const ID = /^([^:]+):(0|[1-9][0-9]*)$/

/** Splits an `EPOCH:OFFSET` id; `undefined` when malformed. */
const parseId = (id: string | undefined): { readonly epoch: string; readonly offset: number } | undefined => {
  if (id === undefined) return undefined
  const match = ID.exec(id)
  if (match === null) return undefined
  const offset = Number(match[2])
  return Number.isSafeInteger(offset) ? { epoch: match[1], offset } : undefined
}

// ---------------------------------------------------------------------------
// The follower
// ---------------------------------------------------------------------------

/** Where the remote log is, as far as this follower knows: survives reconnects. */
interface Position {
  /** The remote buffer's epoch: from `options.epoch`, or the first `hello`. */
  epoch: string | undefined
  /** The offset of the next byte to deliver; `undefined` before the first `hello`. */
  cursor: number | undefined
  /** For `from: "live"`: the offset `/info` gave, to start from. */
  start: number | undefined
}

/** What one connection attempt learnt. */
interface Attempt {
  hello: boolean
  /** Bytes, a gap or the end were delivered, or something arrived after the hello. */
  progress: boolean
  /** A data event arrived on this connection (a gap must come first). */
  data: boolean
}

type Fatal = ClientError.ReplayClientError

/** Output of the event handler: frames to write, in order, and how the connection ends, if it does. */
type Outcome = { readonly _tag: "Continue" } | { readonly _tag: "End" } | {
  readonly _tag: "Fail"
  readonly error: Fatal
}

const CONTINUE: Outcome = { _tag: "Continue" }
const END: Outcome = { _tag: "End" }

const trimUrl = (url: string): string => url.endsWith("/") ? url.slice(0, -1) : url

const validateFrom = (from: ReplayStream.From | undefined): InvalidOffset | undefined => {
  if (from === undefined || from === "oldest" || from === "live") return undefined
  if (typeof from === "number" && Number.isSafeInteger(from)) return undefined
  return new InvalidOffset({ offset: from })
}

const transport = (cause: unknown): ClientError.Disconnected =>
  new ClientError.Disconnected({ reason: "Transport", cause })

/** @internal */
export const frames = (
  url: string,
  options?: Api.FollowOptions
): Stream.Stream<ReplayStream.Frame, ClientError.ReplayClientError, HttpClient.HttpClient> =>
  Stream.unwrap(Effect.gen(function*() {
    const invalid = validateFrom(options?.from)
    if (invalid !== undefined) return Stream.fail(invalid)
    const client = yield* HttpClient.HttpClient
    const base = trimUrl(url)
    const sseUrl = `${base}/sse`
    const from = options?.from ?? "oldest"
    const policy = options?.onEvicted ?? "fail"
    const idleTimeout = Duration.decode(options?.idleTimeout ?? DEFAULT_IDLE_TIMEOUT)
    const maxEventBytes = options?.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
    const driver = yield* Schedule.driver(options?.schedule ?? defaultSchedule)
    const position: Position = { epoch: options?.epoch, cursor: undefined, start: undefined }

    const protocolError = (reason: string) => new ClientError.ProtocolError({ url: sseUrl, reason })

    const keyOf = (): string => {
      const slash = base.lastIndexOf("/")
      return decodeURIComponent(slash === -1 ? base : base.slice(slash + 1))
    }

    /** Reads an error response's body: its first `MAX_ERROR_BODY` bytes only, never failing. */
    const bodyOf = (response: HttpClientResponse.HttpClientResponse) =>
      readBounded(response, MAX_ERROR_BODY).pipe(
        Effect.timeout(idleTimeout),
        Effect.map(({ text }) => text),
        Effect.orElseSucceed(() => "")
      )

    /** Turns a non-2xx answer into a fatal error, or a `Disconnected` for the retryable ones. */
    const refusal = (
      requestUrl: string,
      response: HttpClientResponse.HttpClientResponse
    ): Effect.Effect<never, Fatal | ClientError.Disconnected> =>
      Effect.flatMap(bodyOf(response), (body): Effect.Effect<never, Fatal | ClientError.Disconnected> => {
        const status = response.status
        if (status === 429 || status >= 500) {
          return Effect.fail(new ClientError.Disconnected({ reason: "Unavailable", status }))
        }
        const parsed = decodeErrorBody(body)
        const error = Either.isRight(parsed) ? parsed.right.error : undefined
        if (status === 404) {
          return Effect.fail(new BufferNotFound({ key: error?.key ?? keyOf() }))
        }
        if (status === 409 && error?._tag === "OffsetAhead" && error.requested !== undefined) {
          return Effect.fail(new OffsetAhead({ requested: error.requested, total: error.total ?? 0 }))
        }
        if (status === 409) {
          // The body's `expected`/`actual` are named from the server's side: keep ours as `expected`.
          const ours = position.epoch ?? error?.expected ?? ""
          const theirs = [error?.actual, error?.expected].find((epoch) => epoch !== undefined && epoch !== ours)
          return Effect.fail(new ClientError.EpochChanged({ expected: ours, actual: theirs ?? "" }))
        }
        if (status === 410 && error?.requested !== undefined && error.oldest !== undefined) {
          return Effect.fail(new OffsetEvicted({ requested: error.requested, oldest: error.oldest }))
        }
        return Effect.fail(new ClientError.HttpStatusError({ url: requestUrl, status, body }))
      })

    /** Sends a GET with the idle timeout on the response headers; transport failures are retryable. */
    const send = (request: HttpClientRequest.HttpClientRequest) =>
      client.execute(request).pipe(
        Effect.timeoutFail({
          duration: idleTimeout,
          onTimeout: () => new ClientError.Disconnected({ reason: "IdleTimeout" })
        }),
        Effect.catchIf(
          (error): error is Exclude<typeof error, ClientError.Disconnected> => error._tag !== "Disconnected",
          (error) =>
            // A client built with `filterStatusOk` reports statuses as errors: answer them like statuses.
            error._tag === "ResponseError" && error.reason === "StatusCode"
              ? Effect.succeed(error.response)
              : Effect.fail(transport(error))
        )
      )

    /** `GET {url}/info`: the remote buffer's state. */
    const info = Effect.gen(function*() {
      const infoUrl = `${base}/info`
      const response = yield* send(HttpClientRequest.get(infoUrl, { acceptJson: true }))
      if (response.status !== 200) return yield* refusal(infoUrl, response)
      // Read at most `MAX_INFO_BODY` bytes: a larger body is not an info, and is not buffered.
      const { text, truncated } = yield* readBounded(response, MAX_INFO_BODY).pipe(
        Effect.timeoutFail({
          duration: idleTimeout,
          onTimeout: () => new ClientError.Disconnected({ reason: "IdleTimeout" })
        }),
        Effect.mapError((error) => error._tag === "Disconnected" ? error : transport(error))
      )
      if (truncated) {
        return yield* Effect.fail(protocolError(`the /info body is larger than ${MAX_INFO_BODY} bytes`))
      }
      const decoded = decodeInfo(text)
      if (Either.isLeft(decoded)) {
        return yield* Effect.fail(protocolError(`malformed info: ${text.slice(0, 200)}`))
      }
      const value = decoded.right
      if (position.epoch !== undefined && value.epoch !== position.epoch) {
        return yield* Effect.fail(new ClientError.EpochChanged({ expected: position.epoch, actual: value.epoch }))
      }
      return value
    })

    /**
     * The server answered `204`: the resume position is at the end of an
     * ended buffer. Ask `/info` how it ended.
     */
    const settleAtEnd: Channel.Channel<never, unknown, Fatal | ClientError.Disconnected, unknown, void, unknown> =
      Channel
        .fromEffect(Effect.flatMap(info, (state): Effect.Effect<void, Fatal> => {
          if (position.cursor !== undefined && state.total !== position.cursor) {
            return Effect.fail(
              protocolError(`204 at offset ${position.cursor}, but the buffer ended at ${state.total}`)
            )
          }
          if (state.ended === false) {
            return Effect.fail(protocolError("204 for a buffer that has not ended"))
          }
          if (state.ended === "failed") {
            return Effect.fail(
              new ProducerFailed({
                reason: state.reason ?? "the producer failed",
                ...(state.exitCode === undefined ? {} : { exitCode: state.exitCode })
              })
            )
          }
          return Effect.void
        }))

    /** Handles one event; pushes frames to `out` (a `Gap` alone in its own chunk). */
    const handle = (
      event: SseEvent,
      attempt: Attempt,
      out: Array<Chunk.Chunk<ReplayStream.Frame>>,
      pending: Array<ReplayStream.Frame>
    ): Outcome => {
      const type = event.event ?? "message"
      if (type === "hello") {
        const decoded = decodeHello(event.data)
        if (Either.isLeft(decoded)) return fail(protocolError(`malformed hello: ${event.data.slice(0, 200)}`))
        const hello = decoded.right
        const id = parseId(event.id)
        if (id === undefined || id.epoch !== hello.epoch || id.offset !== hello.offset) {
          return fail(protocolError(`hello id ${String(event.id)} does not match its data`))
        }
        if (position.epoch !== undefined && hello.epoch !== position.epoch) {
          return fail(new ClientError.EpochChanged({ expected: position.epoch, actual: hello.epoch }))
        }
        if (attempt.hello) return fail(protocolError("a second hello on one connection"))
        position.epoch = hello.epoch
        if (position.cursor === undefined) {
          position.cursor = hello.offset
        } else if (hello.offset !== position.cursor && !(hello.offset > position.cursor && policy === "clamp")) {
          // A resume starts where the last event ended, or (clamped) past an eviction, announced by a gap.
          return fail(protocolError(`resumed at ${position.cursor}, but the hello starts at ${hello.offset}`))
        }
        attempt.hello = true
        return CONTINUE
      }
      if (!attempt.hello || position.epoch === undefined || position.cursor === undefined) {
        return fail(protocolError(`a ${type} event before the hello`))
      }
      const id = parseId(event.id)
      if (id === undefined) return fail(protocolError(`malformed id ${String(event.id)} on a ${type} event`))
      if (id.epoch !== position.epoch) {
        return fail(protocolError(`an event of epoch ${id.epoch} on a connection of epoch ${position.epoch}`))
      }
      switch (type) {
        case "message": {
          const decoded = Encoding.decodeBase64(event.data)
          if (Either.isLeft(decoded)) return fail(protocolError(`malformed base64 at ${event.id}`))
          const bytes = decoded.right
          const offset = id.offset - bytes.length
          if (offset !== position.cursor) {
            return fail(
              protocolError(`bytes at ${offset}..${id.offset} do not continue the log at ${position.cursor}`)
            )
          }
          attempt.data = true
          attempt.progress = true
          if (bytes.length === 0) return CONTINUE
          pending.push({ _tag: "Data", offset, bytes })
          position.cursor = id.offset
          return CONTINUE
        }
        case "gap": {
          const decoded = decodeGap(event.data)
          if (Either.isLeft(decoded)) return fail(protocolError(`malformed gap: ${event.data.slice(0, 200)}`))
          const gap = decoded.right
          if (gap.oldest !== id.offset || gap.requested >= gap.oldest) {
            return fail(protocolError(`inconsistent gap ${event.data} with id ${event.id}`))
          }
          if (policy === "fail") {
            return fail(new OffsetEvicted({ requested: gap.requested, oldest: gap.oldest }))
          }
          // Either it moves the cursor past evicted bytes, or (on a first connection whose hello
          // already starts at `oldest`) it explains why the log starts there.
          const moves = gap.requested === position.cursor
          const explains = gap.oldest === position.cursor && !attempt.data
          if (!moves && !explains) {
            return fail(protocolError(`a gap ${gap.requested}..${gap.oldest} at offset ${position.cursor}`))
          }
          if (pending.length > 0) out.push(Chunk.unsafeFromArray(pending.splice(0)))
          out.push(Chunk.of<ReplayStream.Frame>({ _tag: "Gap", requested: gap.requested, oldest: gap.oldest }))
          position.cursor = gap.oldest
          attempt.progress = true
          return CONTINUE
        }
        case "end": {
          const decoded = decodeEnd(event.data)
          if (Either.isLeft(decoded)) return fail(protocolError(`malformed end: ${event.data.slice(0, 200)}`))
          if (id.offset !== position.cursor) {
            return fail(protocolError(`the end is at ${id.offset}, but the bytes stopped at ${position.cursor}`))
          }
          attempt.progress = true
          const end = decoded.right
          if (end.status === "ended") return END
          return fail(
            new ProducerFailed({
              reason: end.reason ?? "the producer failed",
              ...(end.exitCode === undefined ? {} : { exitCode: end.exitCode })
            })
          )
        }
        default:
          // Unknown event types are ignored, for forward compatibility.
          return CONTINUE
      }
    }

    const fail = (error: Fatal): Outcome => ({ _tag: "Fail", error })

    /** SSE text in, frames out; fails fatally or with a disconnection. */
    type Reader = Channel.Channel<
      Chunk.Chunk<ReplayStream.Frame>,
      Chunk.Chunk<string>,
      Fatal | ClientError.Disconnected,
      ClientError.Disconnected,
      void,
      unknown
    >

    /** Reads the SSE text of one response and writes frames; ends on the `end` event. */
    const reader = (
      attempt: Attempt
    ): Reader => {
      // A keep-alive comment after the hello shows a live connection: progress. (Comments are seen while a
      // chunk is parsed, before its events are handled; the server sends none before the hello.)
      let comment = false
      const parser = makeSseParser({
        onComment: () => {
          comment = true
        },
        // Bounds the text held for one event: an endless line would otherwise grow without limit (and,
        // since text keeps arriving, the idle timeout would never fire).
        maxEventBytes
      })
      const loop: Reader = Channel.readWithCause({
        onInput: (texts: Chunk.Chunk<string>) => {
          const out: Array<Chunk.Chunk<ReplayStream.Frame>> = []
          const pending: Array<ReplayStream.Frame> = []
          let outcome: Outcome = CONTINUE
          outer: for (const text of texts) {
            for (const event of parser.feed(text)) {
              outcome = handle(event, attempt, out, pending)
              if (outcome._tag !== "Continue") break outer
            }
            // The events completed before the overflow were handled above; the rest is refused.
            const overflow = parser.overflow()
            if (overflow !== undefined) {
              outcome = fail(protocolError(`event too large: ${overflow}`))
              break
            }
          }
          if (comment && attempt.hello) attempt.progress = true
          comment = false
          if (pending.length > 0) out.push(Chunk.unsafeFromArray(pending))
          const rest = outcome._tag === "Continue"
            ? loop
            : outcome._tag === "End"
            ? Channel.void
            : Channel.fail(outcome.error)
          return out.length === 0 ? rest : Channel.zipRight(Channel.writeAll(...out), rest)
        },
        onFailure: Channel.failCause,
        onDone: () => Channel.fail(new ClientError.Disconnected({ reason: "EndOfStream" }))
      })
      return loop
    }

    /** One connection: the request, then the events until the end or a drop. */
    const connect = (
      attempt: Attempt
    ): Channel.Channel<
      Chunk.Chunk<ReplayStream.Frame>,
      unknown,
      Fatal | ClientError.Disconnected,
      unknown,
      void,
      unknown
    > =>
      Channel.unwrap(Effect.gen(function*() {
        let request = HttpClientRequest.get(sseUrl, { headers: { accept: "text/event-stream" } })
        if (position.cursor !== undefined && position.epoch !== undefined) {
          request = HttpClientRequest.setHeader(request, "last-event-id", `${position.epoch}:${position.cursor}`)
        } else {
          if (from === "live" && position.start === undefined) {
            const state = yield* info
            position.epoch = state.epoch
            position.start = state.total
          }
          const offset = from === "live" ? position.start : typeof from === "number" ? from : undefined
          if (offset !== undefined) request = HttpClientRequest.setUrlParam(request, "offset", String(offset))
          if (position.epoch !== undefined) request = HttpClientRequest.setUrlParam(request, "epoch", position.epoch)
        }
        request = HttpClientRequest.setUrlParam(request, "onEvicted", policy)
        const response = yield* send(request)
        if (response.status === 204) return settleAtEnd
        if (response.status !== 200) return yield* refusal(sseUrl, response)
        const contentType = response.headers["content-type"] ?? ""
        if (!contentType.toLowerCase().startsWith("text/event-stream")) {
          yield* Effect.ignore(bodyOf(response))
          return yield* Effect.fail(protocolError(`expected text/event-stream, got ${JSON.stringify(contentType)}`))
        }
        const body = response.stream.pipe(
          Stream.mapError(transport),
          Stream.timeoutFail(() => new ClientError.Disconnected({ reason: "IdleTimeout" }), idleTimeout),
          Stream.decodeText()
        )
        return Channel.pipeTo(Stream.toChannel(body), reader(attempt))
      }))

    let failures = 0
    const loop: Channel.Channel<
      Chunk.Chunk<ReplayStream.Frame>,
      unknown,
      Fatal,
      unknown,
      void,
      unknown
    > = Channel.suspend(() => {
      const attempt: Attempt = { hello: false, progress: false, data: false }
      return Channel.catchAll(connect(attempt), (error) => {
        if (error._tag !== "Disconnected") return Channel.fail(error)
        return Channel.unwrap(Effect.gen(function*() {
          if (attempt.progress) {
            failures = 0
            yield* driver.reset
          }
          failures++
          return yield* driver.next(error).pipe(
            Effect.match({
              onFailure: () =>
                Channel.fail(new ClientError.ConnectionFailed({ url: sseUrl, attempts: failures, cause: error })),
              onSuccess: () => loop
            })
          )
        }))
      })
    })

    return Stream.fromChannel(loop)
  }))

/** @internal */
export const follow = (
  url: string,
  options?: Api.FollowOptions
): Stream.Stream<Uint8Array, ClientError.ReplayClientError, HttpClient.HttpClient> => {
  const onGap = options?.onGap
  return frames(url, options).pipe(
    Stream.mapChunksEffect((chunk) => {
      // Gaps come alone in their chunk, so `onGap` runs before the bytes after the gap are emitted.
      const first = Chunk.get(chunk, 0)
      if (first._tag === "Some" && first.value._tag === "Gap") {
        const gap = first.value
        return onGap === undefined ? Effect.succeed(Chunk.empty()) : Effect.as(onGap(gap), Chunk.empty())
      }
      return Effect.succeed(Chunk.map(chunk, (frame) => (frame as ReplayStream.Data).bytes))
    })
  )
}
