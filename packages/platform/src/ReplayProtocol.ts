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
 * @since 0.1.0
 */
import type {
  EpochMismatch,
  OffsetAhead,
  OffsetEvicted,
  ProducerFailed,
  StorageUnavailable
} from "@scrollback/core/ReplayBufferError"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import type { BufferNotFound, InvalidKey } from "@scrollback/core/ReplayRegistryError"
import type * as Either from "effect/Either"
import type * as Exit from "effect/Exit"
import type * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/protocol.js"
import type * as ReplayHttpError from "./ReplayHttpError.js"

/**
 * A buffer's epoch on the wire: 16 lowercase hexadecimal digits.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Epoch: Schema.Schema<string> = internal.Epoch

/**
 * A byte offset on the wire: an integer from 0 to 2^53 − 1.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Offset: Schema.Schema<number> = internal.Offset

/**
 * A decimal integer in a query string (`-12`, `0`, `4096`; no exponent,
 * sign `+`, spaces or hex), decoded to a safe integer.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DecimalInteger: Schema.Schema<number, string> = internal.DecimalInteger

/**
 * A resume position: where a reader continues, in which incarnation.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Position: Schema.Schema<ReplayCursor.Position> = internal.Position

/**
 * A resume position as text, `EPOCH:OFFSET`: an SSE `id`, a
 * `Last-Event-ID` header.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PositionFromString: Schema.Schema<ReplayCursor.Position, string> = internal.PositionFromString

/**
 * Formats a resume position as `EPOCH:OFFSET`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const formatPosition: (position: ReplayCursor.Position) => string = internal.formatPosition

/**
 * Parses `EPOCH:OFFSET`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parsePosition: (text: string) => Either.Either<ReplayCursor.Position, ParseResult.ParseError> =
  internal.parsePosition

/**
 * The query of a read (`sse`, `ws`, `get`): `offset` (a decimal integer; the
 * seed's clamp applies), `epoch` (with `offset`, a resume position) and
 * `onEvicted` (default `"clamp"`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReadQuery: Schema.Schema<ReadQuery, ReadQueryEncoded> = internal.ReadQuery

/**
 * The query parameters of a read as they arrive.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadQueryEncoded {
  readonly offset?: string | undefined
  readonly epoch?: string | undefined
  readonly onEvicted?: ReplayCursor.OnEvicted | undefined
}

/**
 * The query of a plain GET: {@link ReadQuery} plus `limit` (≥ 1) and `wait`
 * (milliseconds ≥ 0).
 *
 * @since 0.1.0
 * @category schemas
 */
export const GetQuery: Schema.Schema<GetQuery, GetQueryEncoded> = internal.GetQuery

/**
 * The query parameters of a plain GET as they arrive.
 *
 * @since 0.1.0
 * @category models
 */
export interface GetQueryEncoded extends ReadQueryEncoded {
  readonly limit?: string | undefined
  readonly wait?: string | undefined
}

/**
 * The first message of a stream: the buffer's epoch, where the stream starts
 * (`offset`), and the buffer's `oldest` and `total` when it started.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Hello: Schema.Schema<Hello> = internal.Hello

/**
 * The bytes `[requested, oldest)` were evicted before the reader got them; it
 * continues at `oldest`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Gap: Schema.Schema<Gap> = internal.Gap

/**
 * How a stream ended: `{ status: "ended" }`, or
 * `{ status: "failed", reason, exitCode? }` when the producer failed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const End: Schema.Schema<End> = internal.End

/**
 * The end message of a buffer's end.
 *
 * @since 0.1.0
 * @category encoding
 */
export const endOf: (exit: Exit.Exit<void, ProducerFailed>) => End = internal.endOf

/**
 * A buffer's state: `GET {prefix}/{key}/info`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Info: Schema.Schema<Info> = internal.Info

/**
 * The buffers a server holds: `GET {prefix}`, when the list endpoint is on.
 *
 * @since 0.1.0
 * @category schemas
 */
export const List: Schema.Schema<List> = internal.List

/**
 * A WebSocket text message from the server: hello, gap or end.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WsServerMessage: Schema.Schema<WsServerMessage> = internal.WsServerMessage

/**
 * Every error a refusal can carry: the HTTP transports' own
 * (`ReplayHttpError`), the registry's and the core's.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WireError: Schema.Schema<WireError, WireErrorEncoded> = internal.WireError

/**
 * A {@link WireError} as JSON: `{ "_tag": …, …fields }`.
 *
 * @since 0.1.0
 * @category models
 */
export type WireErrorEncoded =
  | Schema.Schema.Encoded<typeof ReplayHttpError.BadRequest>
  | Schema.Schema.Encoded<typeof ReplayHttpError.Denied>
  | Schema.Schema.Encoded<typeof ReplayHttpError.OriginNotAllowed>
  | Schema.Schema.Encoded<typeof ReplayHttpError.NotFound>
  | Schema.Schema.Encoded<typeof ReplayHttpError.MethodNotAllowed>
  | Schema.Schema.Encoded<typeof ReplayHttpError.LimitTooLarge>
  | Schema.Schema.Encoded<typeof ReplayHttpError.TooManyConnections>
  | Schema.Schema.Encoded<typeof ReplayHttpError.ShuttingDown>
  | Schema.Schema.Encoded<typeof BufferNotFound>
  | Schema.Schema.Encoded<typeof InvalidKey>
  | Schema.Schema.Encoded<typeof EpochMismatch>
  | Schema.Schema.Encoded<typeof OffsetAhead>
  | Schema.Schema.Encoded<typeof OffsetEvicted>
  | Schema.Schema.Encoded<typeof StorageUnavailable>

/**
 * The JSON body of a refusal: `{ "error": { "_tag": …, …fields }, "message": … }`,
 * the error encoded with its own schema and its readable message beside it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorBody: Schema.Schema<ErrorBody, ErrorBodyEncoded> = internal.ErrorBody

/**
 * An {@link ErrorBody} as JSON.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorBodyEncoded {
  readonly error: WireErrorEncoded
  readonly message: string
}

/**
 * The HTTP status of a refusal.
 *
 * @since 0.1.0
 * @category encoding
 */
export const statusOf: (error: WireError) => number = internal.statusOf

/**
 * The WebSocket close code of a refusal after the upgrade: `4000 + status`
 * (`4400`, `4409`, `4410`, …).
 *
 * @since 0.1.0
 * @category encoding
 */
export const closeCodeOf: (error: WireError) => number = internal.closeCodeOf

/**
 * The headers of a plain GET's answer.
 *
 * @since 0.1.0
 * @category constants
 */
export const Headers: {
  readonly epoch: "scrollback-epoch"
  readonly offset: "scrollback-offset"
  readonly nextOffset: "scrollback-next-offset"
  readonly oldest: "scrollback-oldest"
  readonly total: "scrollback-total"
  readonly ended: "scrollback-ended"
  readonly exitCode: "scrollback-exit-code"
  readonly gap: "scrollback-gap"
} = internal.Headers

/**
 * The most raw bytes one SSE data event carries: 48 KiB, which is exactly
 * 64 KiB of base64 in its single `data:` line.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_EVENT_BYTES: number = internal.MAX_EVENT_BYTES

/**
 * The SSE bytes of a data event: `id: EPOCH:NEXT` and one `data:` line with
 * the base64 of the concatenation of `views` (`length` bytes, at most
 * {@link MAX_EVENT_BYTES}). The base64 is written straight into the output
 * bytes, across the views, without an intermediate string: it is encoded
 * once per written range and handed to every follower.
 *
 * @since 0.1.0
 * @category encoding
 */
export const sseData: (epoch: string, next: number, views: ReadonlyArray<Uint8Array>, length: number) => Uint8Array =
  internal.sseData

/**
 * The SSE bytes of the data events for one data step, in one array: split
 * into events of at most {@link MAX_EVENT_BYTES}.
 *
 * @since 0.1.0
 * @category encoding
 */
export const sseDataEvents: (epoch: string, step: ReplayCursor.Data) => Uint8Array = internal.sseDataEvents

/**
 * The SSE bytes of a control event: the `hello` (with `retry:`), a `gap`, the
 * `end`, with their `EPOCH:OFFSET` ids (encoded with `@effect/experimental`'s
 * `Sse.encoder`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const sseHello: (hello: Hello, retryMillis: number) => Uint8Array = internal.sseHello

/**
 * @since 0.1.0
 * @category encoding
 */
export const sseGap: (epoch: string, gap: Gap) => Uint8Array = internal.sseGap

/**
 * @since 0.1.0
 * @category encoding
 */
export const sseEnd: (epoch: string, position: number, end: End) => Uint8Array = internal.sseEnd

/**
 * The SSE keep-alive comment, `: ping`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const ssePing: Uint8Array = internal.ssePing

/**
 * A WebSocket binary message: the 8-byte big-endian offset of the first byte,
 * then the bytes of `views` (`length` in all).
 *
 * @since 0.1.0
 * @category encoding
 */
export const wsFrame: (offset: number, views: ReadonlyArray<Uint8Array>, length: number) => Uint8Array =
  internal.wsFrame

/**
 * Reads a WebSocket binary message back: its offset and bytes (a view).
 *
 * @since 0.1.0
 * @category decoding
 */
export const readWsFrame: (
  message: Uint8Array
) => { readonly offset: number; readonly bytes: Uint8Array } | undefined = internal.readWsFrame

/**
 * A WebSocket text message, encoded.
 *
 * @since 0.1.0
 * @category encoding
 */
export const wsMessage: (message: WsServerMessage) => string = internal.wsMessage

/**
 * The WebSocket keep-alive, `{"type":"ping"}`: sent when nothing else was
 * sent for the server's `keepAlive`, so that a client can tell a quiet
 * connection from a dead one (a browser cannot see protocol-level pings).
 * Clients ignore it; it needs no answer.
 *
 * @since 0.1.0
 * @category encoding
 */
export const wsPing: string = internal.wsPing

/**
 * @since 0.1.0
 * @category models
 */
export interface Hello {
  readonly epoch: string
  readonly offset: number
  readonly oldest: number
  readonly total: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Gap {
  readonly requested: number
  readonly oldest: number
}

/**
 * @since 0.1.0
 * @category models
 */
export type End =
  | { readonly status: "ended" }
  | { readonly status: "failed"; readonly reason: string; readonly exitCode?: number | undefined }

/**
 * @since 0.1.0
 * @category models
 */
export interface Info {
  readonly key: string
  readonly epoch: string
  readonly capacity: number
  readonly oldest: number
  readonly total: number
  readonly ended: false | "ended" | "failed"
  readonly reason?: string | undefined
  readonly exitCode?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface List {
  readonly buffers: ReadonlyArray<Info & { readonly createdAt: number }>
}

/**
 * @since 0.1.0
 * @category models
 */
export type WsServerMessage =
  | ({ readonly type: "hello" } & Hello)
  | ({ readonly type: "gap" } & Gap)
  | ({ readonly type: "end" } & End)
  | { readonly type: "ping" }

/**
 * @since 0.1.0
 * @category models
 */
export type WireError =
  | ReplayHttpError.BadRequest
  | ReplayHttpError.Denied
  | ReplayHttpError.OriginNotAllowed
  | ReplayHttpError.NotFound
  | ReplayHttpError.MethodNotAllowed
  | ReplayHttpError.LimitTooLarge
  | ReplayHttpError.TooManyConnections
  | ReplayHttpError.ShuttingDown
  | BufferNotFound
  | InvalidKey
  | EpochMismatch
  | OffsetAhead
  | OffsetEvicted
  | StorageUnavailable

/**
 * @since 0.1.0
 * @category models
 */
export interface ErrorBody {
  readonly error: WireError
  readonly message: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ReadQuery {
  readonly offset?: number | undefined
  readonly epoch?: string | undefined
  readonly onEvicted: ReplayCursor.OnEvicted
}

/**
 * @since 0.1.0
 * @category models
 */
export interface GetQuery extends ReadQuery {
  readonly limit?: number | undefined
  readonly wait?: number | undefined
}
