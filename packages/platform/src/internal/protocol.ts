import * as Sse from "@effect/experimental/Sse"
import {
  EpochMismatch,
  OffsetAhead,
  OffsetEvicted,
  type ProducerFailed,
  StorageUnavailable
} from "@scrollback/core/ReplayBufferError"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import { BufferNotFound, InvalidKey } from "@scrollback/core/ReplayRegistryError"
import * as Cause from "effect/Cause"
import type * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as HttpError from "../ReplayHttpError.js"
import type * as Api from "../ReplayProtocol.js"
import { allocateFilled, assertFilled, base64Length, encodeComment, writeBase64 } from "./sse.js"

// --- positions ---------------------------------------------------------------

/** @internal */
export const Epoch: Schema.Schema<string> = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{16}$/, { message: () => "an epoch is 16 lowercase hexadecimal digits" }),
  Schema.annotations({ identifier: "Epoch" })
)

/** @internal */
export const Offset: Schema.Schema<number> = Schema.Number.pipe(
  Schema.int(),
  Schema.between(0, Number.MAX_SAFE_INTEGER),
  Schema.annotations({ identifier: "Offset" })
)

/** @internal */
export const DecimalInteger: Schema.Schema<number, string> = Schema.transformOrFail(
  Schema.String.pipe(
    Schema.pattern(/^-?[0-9]+$/, { message: () => "a decimal integer (digits, an optional leading -)" })
  ),
  Schema.Number.pipe(Schema.int()),
  {
    strict: true,
    decode: (text, _, ast) => {
      const n = Number(text)
      return Number.isSafeInteger(n)
        ? ParseResult.succeed(n)
        : ParseResult.fail(new ParseResult.Type(ast, text, "out of range: past 2^53 - 1"))
    },
    encode: (n) => ParseResult.succeed(String(n))
  }
).pipe(Schema.annotations({ identifier: "DecimalInteger" }))

/** @internal */
export const Position: Schema.Schema<ReplayCursor.Position> = Schema.Struct({ epoch: Epoch, offset: Offset })

/** @internal */
export const formatPosition = (position: ReplayCursor.Position): string => `${position.epoch}:${position.offset}`

/** @internal */
export const PositionFromString: Schema.Schema<ReplayCursor.Position, string> = Schema.transformOrFail(
  Schema.String,
  Position,
  {
    strict: true,
    decode: (text, _, ast) => {
      const colon = text.indexOf(":")
      const offset = colon === -1 ? NaN : Number(text.slice(colon + 1))
      if (colon === -1 || !/^(0|[1-9][0-9]*)$/.test(text.slice(colon + 1))) {
        return ParseResult.fail(new ParseResult.Type(ast, text, "a position is EPOCH:OFFSET"))
      }
      return ParseResult.succeed({ epoch: text.slice(0, colon), offset })
    },
    encode: (position) => ParseResult.succeed(formatPosition(position))
  }
).pipe(Schema.annotations({ identifier: "Position" }))

const decodePosition = Schema.decodeEither(PositionFromString)

/** @internal */
export const parsePosition = (text: string): Either.Either<ReplayCursor.Position, ParseResult.ParseError> =>
  decodePosition(text)

// --- queries -------------------------------------------------------------------

/** @internal */
export const OnEvicted: Schema.Schema<ReplayCursor.OnEvicted> = Schema.Literal("clamp", "fail")

/** @internal */
export const Flag: Schema.Schema<boolean, "0" | "1"> = Schema.transform(Schema.Literal("0", "1"), Schema.Boolean, {
  strict: true,
  decode: (flag) => flag === "1",
  encode: (on) => on ? "1" as const : "0" as const
}).pipe(Schema.annotations({ identifier: "Flag" }))

const readFields = {
  offset: Schema.optional(DecimalInteger),
  epoch: Schema.optional(Epoch),
  onEvicted: Schema.optionalWith(OnEvicted, { default: () => "clamp" as const }),
  terminal: Schema.optional(Flag),
  takeover: Schema.optional(Flag)
}

/** @internal */
export const ReadQuery: Schema.Schema<Api.ReadQuery, Api.ReadQueryEncoded> = Schema.Struct(readFields)

/** @internal */
export const GetQuery: Schema.Schema<Api.GetQuery, Api.GetQueryEncoded> = Schema.Struct({
  ...readFields,
  limit: Schema.optional(DecimalInteger.pipe(Schema.greaterThanOrEqualTo(1))),
  wait: Schema.optional(DecimalInteger.pipe(Schema.greaterThanOrEqualTo(0)))
})

// --- messages ------------------------------------------------------------------

const HelloFields = { epoch: Epoch, offset: Offset, oldest: Offset, total: Offset }
const GapFields = { requested: Offset, oldest: Offset }
const Ended = Schema.Struct({ status: Schema.Literal("ended") })
const Failed = Schema.Struct({
  status: Schema.Literal("failed"),
  reason: Schema.String,
  exitCode: Schema.optional(Schema.Number.pipe(Schema.int()))
})

/** @internal */
export const Hello: Schema.Schema<Api.Hello> = Schema.Struct(HelloFields)

/** @internal */
export const Gap: Schema.Schema<Api.Gap> = Schema.Struct(GapFields)

/** @internal */
export const End: Schema.Schema<Api.End> = Schema.Union(Ended, Failed)

/** @internal */
export const endOf = (exit: Exit.Exit<void, ProducerFailed>): Api.End => {
  if (Exit.isSuccess(exit)) return { status: "ended" }
  const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
  if (failure === undefined) return { status: "failed", reason: Cause.pretty(exit.cause) }
  return failure.exitCode === undefined
    ? { status: "failed", reason: failure.reason }
    : { status: "failed", reason: failure.reason, exitCode: failure.exitCode }
}

const InfoSchema = Schema.Struct({
  key: Schema.String,
  epoch: Epoch,
  capacity: Offset,
  oldest: Offset,
  total: Offset,
  ended: Schema.Literal(false, "ended", "failed"),
  reason: Schema.optional(Schema.String),
  exitCode: Schema.optional(Schema.Number.pipe(Schema.int()))
})

/** @internal */
export const Info: Schema.Schema<Api.Info> = InfoSchema

/** @internal */
export const List: Schema.Schema<Api.List> = Schema.Struct({
  buffers: Schema.Array(Schema.extend(InfoSchema, Schema.Struct({ createdAt: Schema.Number })))
})

/** @internal */
export const WsServerMessage: Schema.Schema<Api.WsServerMessage> = Schema.Union(
  Schema.Struct({ type: Schema.Literal("hello"), ...HelloFields }),
  Schema.Struct({ type: Schema.Literal("gap"), ...GapFields }),
  Schema.extend(Schema.Struct({ type: Schema.Literal("end") }), Schema.Union(Ended, Failed)),
  Schema.Struct({ type: Schema.Literal("ping") })
)

const encodeWsMessage = Schema.encodeSync(Schema.parseJson(WsServerMessage))

/** @internal */
export const wsMessage = (message: Api.WsServerMessage): string => encodeWsMessage(message)

/** @internal */
export const wsPing: string = wsMessage({ type: "ping" })

// --- interactive sessions ---------------------------------------------------------

/** @internal */
export const MAX_TERMINAL_COLS = 2048
/** @internal */
export const MAX_TERMINAL_ROWS = 1024

const Cols = Schema.Number.pipe(Schema.int(), Schema.between(1, MAX_TERMINAL_COLS))
const Rows = Schema.Number.pipe(Schema.int(), Schema.between(1, MAX_TERMINAL_ROWS))

/** @internal */
export const WsClientMessage: Schema.Schema<Api.WsClientMessage> = Schema.Union(
  Schema.Struct({ type: Schema.Literal("input"), data: Schema.String }),
  Schema.Struct({ type: Schema.Literal("resize"), cols: Cols, rows: Rows }),
  Schema.Struct({ type: Schema.Literal("takeover") }),
  Schema.Struct({ type: Schema.Literal("release") })
).pipe(Schema.annotations({ identifier: "WsClientMessage" }))

/** @internal */
export const ClientRequest: Schema.Schema<Api.WsClientMessage["type"]> = Schema.Literal(
  "input",
  "resize",
  "takeover",
  "release"
)

/** @internal */
export const RejectReason: Schema.Schema<Api.RejectReason> = Schema.Literal(
  "NotController",
  "NotAllowed",
  "Exited",
  "Overflow",
  "InvalidSize",
  "ReadOnly"
)

/** @internal */
export const WsTerminalMessage: Schema.Schema<Api.WsTerminalMessage> = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("terminal"),
    offset: Offset,
    cols: Cols,
    rows: Rows,
    unicode: Schema.Literal("6", "11"),
    snapshot: Schema.optional(Schema.String)
  }),
  Schema.Struct({ type: Schema.Literal("resize"), offset: Offset, cols: Cols, rows: Rows }),
  Schema.Struct({
    type: Schema.Literal("control"),
    role: Schema.Literal("controller", "viewer"),
    canControl: Schema.Boolean,
    controlled: Schema.Boolean
  }),
  Schema.Struct({
    type: Schema.Literal("rejected"),
    request: ClientRequest,
    reason: RejectReason,
    message: Schema.String
  })
).pipe(Schema.annotations({ identifier: "WsTerminalMessage" }))

const decodeClientJson = Schema.decodeUnknownEither(Schema.parseJson(WsClientMessage))
const encodeTerminalJson = Schema.encodeSync(Schema.parseJson(WsTerminalMessage))

/** @internal */
export const decodeWsClientMessage = (
  text: string
): Either.Either<Api.WsClientMessage, ParseResult.ParseError> => decodeClientJson(text)

/** @internal */
export const wsTerminalMessage = (message: Api.WsTerminalMessage): string => encodeTerminalJson(message)

/** @internal */
export const CLOSE_UNSUPPORTED_DATA = 1003
/** @internal */
export const CLOSE_INVALID_PAYLOAD = 1007
/** @internal */
export const CLOSE_POLICY_VIOLATION = 1008
/** @internal */
export const CLOSE_TOO_BIG = 1009

// --- errors --------------------------------------------------------------------

/** @internal */
export const WireError = Schema.Union(
  HttpError.BadRequest,
  HttpError.Denied,
  HttpError.OriginNotAllowed,
  HttpError.HostNotAllowed,
  HttpError.NotFound,
  HttpError.MethodNotAllowed,
  HttpError.LimitTooLarge,
  HttpError.TooManyConnections,
  HttpError.ShuttingDown,
  BufferNotFound,
  InvalidKey,
  EpochMismatch,
  OffsetAhead,
  OffsetEvicted,
  StorageUnavailable
)

/** @internal */
export const ErrorBody = Schema.Struct({ error: WireError, message: Schema.String })

/** @internal */
export const statusOf = (error: Api.WireError): number => {
  switch (error._tag) {
    case "BadRequest":
    case "InvalidKey":
      return 400
    case "Denied":
      return Number.isInteger(error.status) && error.status >= 400 && error.status <= 599 ? error.status : 403
    case "OriginNotAllowed":
    case "HostNotAllowed":
      return 403
    case "NotFound":
    case "BufferNotFound":
      return 404
    case "MethodNotAllowed":
      return 405
    case "EpochMismatch":
    case "OffsetAhead":
      return 409
    case "OffsetEvicted":
      return 410
    case "LimitTooLarge":
      return 413
    case "TooManyConnections":
      return error.scope === "buffer" ? 429 : 503
    case "StorageUnavailable":
    case "ShuttingDown":
      return 503
  }
}

/** @internal */
export const closeCodeOf = (error: Api.WireError): number => 4000 + statusOf(error)

// --- bytes -----------------------------------------------------------------------

/** @internal */
export const Headers = {
  epoch: "scrollback-epoch",
  offset: "scrollback-offset",
  nextOffset: "scrollback-next-offset",
  oldest: "scrollback-oldest",
  total: "scrollback-total",
  ended: "scrollback-ended",
  exitCode: "scrollback-exit-code",
  gap: "scrollback-gap"
} as const

/** @internal */
export const MAX_EVENT_BYTES = 48 * 1024

const textEncoder = new TextEncoder()

/** Writes the ASCII `text` into `out` at `pos`; returns the position just past it. */
const writeAscii = (text: string, out: Uint8Array, pos: number): number => {
  for (let i = 0; i < text.length; i++) out[pos++] = text.charCodeAt(i)
  return pos
}

/** Writes one data event (`id: EPOCH:NEXT`, the base64 of `views`) into `out` at `pos`. */
const writeSseData = (
  epoch: string,
  next: number,
  views: ReadonlyArray<Uint8Array>,
  out: Uint8Array,
  pos: number
): number => {
  pos = writeAscii(`id: ${epoch}:${next}\ndata: `, out, pos)
  pos = writeBase64(views, out, pos)
  out[pos++] = 10
  out[pos++] = 10
  return pos
}

/** The length of a data event's `id:` and `data:` prefix. */
const sseDataHeadLength = (epoch: string, next: number): number => 4 + epoch.length + 1 + String(next).length + 7

/** @internal */
export const sseData = (epoch: string, next: number, views: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  const out = allocateFilled(sseDataHeadLength(epoch, next) + base64Length(length) + 2)
  assertFilled(out, writeSseData(epoch, next, views, out, 0))
  return out
}

/** @internal */
export const sseDataEvents = (epoch: string, step: ReplayCursor.Data): Uint8Array => {
  // One allocation for every event of the step: sized first, then written in place.
  let size = 0
  for (let start = step.offset; start < step.next; start += MAX_EVENT_BYTES) {
    const length = Math.min(MAX_EVENT_BYTES, step.next - start)
    size += sseDataHeadLength(epoch, start + length) + base64Length(length) + 2
  }
  const out = allocateFilled(size)
  let pos = 0
  let views: Array<Uint8Array> = []
  let length = 0
  let next = step.offset
  for (const chunk of step.chunks) {
    let bytes = chunk
    while (bytes.length > 0) {
      const take = Math.min(bytes.length, MAX_EVENT_BYTES - length)
      views.push(take === bytes.length ? bytes : bytes.subarray(0, take))
      length += take
      next += take
      bytes = bytes.subarray(take)
      if (length === MAX_EVENT_BYTES) {
        pos = writeSseData(epoch, next, views, out, pos)
        views = []
        length = 0
      }
    }
  }
  if (length > 0) pos = writeSseData(epoch, next, views, out, pos)
  assertFilled(out, pos)
  return out
}

const encodeHelloJson = Schema.encodeSync(Schema.parseJson(Hello))
const encodeGapJson = Schema.encodeSync(Schema.parseJson(Gap))
const encodeEndJson = Schema.encodeSync(Schema.parseJson(End))

/** The schema's encoding of `{ status: "ended" }` (every end of a buffer that ended), made once. */
const ENDED_JSON = encodeEndJson({ status: "ended" })

const control = (event: string, id: string, data: string): string =>
  Sse.encoder.write({ _tag: "Event", event, id, data })

const EPOCH = /^[0-9a-f]{16}$/

const isOffset = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/**
 * A hello's JSON, as `Hello`'s schema encodes it (the same keys in the same order), without a schema run per
 * connection when every field is valid (as a cursor's always are); anything else goes through the schema, which
 * names the bad field.
 */
const helloJson = (hello: Api.Hello): string =>
  EPOCH.test(hello.epoch) && isOffset(hello.offset) && isOffset(hello.oldest) && isOffset(hello.total)
    ? JSON.stringify({ epoch: hello.epoch, offset: hello.offset, oldest: hello.oldest, total: hello.total })
    : encodeHelloJson(hello)

/** @internal */
export const sseHello = (hello: Api.Hello, retryMillis: number): Uint8Array =>
  textEncoder.encode(
    `retry: ${Math.max(0, Math.floor(retryMillis))}\n` +
      control("hello", formatPosition({ epoch: hello.epoch, offset: hello.offset }), helloJson(hello))
  )

/** @internal */
export const sseGap = (epoch: string, gap: Api.Gap): Uint8Array =>
  textEncoder.encode(control("gap", formatPosition({ epoch, offset: gap.oldest }), encodeGapJson(gap)))

/** @internal */
export const sseEnd = (epoch: string, position: number, end: Api.End): Uint8Array =>
  textEncoder.encode(
    control(
      "end",
      formatPosition({ epoch, offset: position }),
      end.status === "ended" ? ENDED_JSON : encodeEndJson(end)
    )
  )

/** @internal */
export const ssePing: Uint8Array = encodeComment("ping")

/** @internal */
export const wsFrame = (offset: number, views: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  const out = allocateFilled(8 + length)
  const view = new DataView(out.buffer, out.byteOffset, 8)
  view.setUint32(0, Math.floor(offset / 0x1_0000_0000))
  view.setUint32(4, offset >>> 0)
  let pos = 8
  for (const bytes of views) {
    out.set(bytes, pos)
    pos += bytes.length
  }
  assertFilled(out, pos)
  return out
}

/** @internal */
export const readWsFrame = (
  message: Uint8Array
): { readonly offset: number; readonly bytes: Uint8Array } | undefined => {
  if (message.length < 8) return undefined
  const view = new DataView(message.buffer, message.byteOffset, 8)
  const offset = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4)
  return Number.isSafeInteger(offset) ? { offset, bytes: message.subarray(8) } : undefined
}
