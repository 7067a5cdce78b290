import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as Metrics from "@scrollback/core/ReplayMetrics"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Api from "../../ReplayHttp.js"
import * as HttpError from "../../ReplayHttpError.js"
import type * as ProtocolApi from "../../ReplayProtocol.js"
import * as Protocol from "../protocol.js"
import { authorizationTag, serviceOf, tag } from "./config.js"

/** @internal */
export const refusal = (error: ProtocolApi.WireError, headers: Readonly<Record<string, string>> = {}): Api.Refusal => ({
  error,
  headers
})

/** @internal */
export const badRequest = (name: string, reason: string): Api.Refusal =>
  refusal(new HttpError.BadRequest({ name, reason }))

const RETRY = { "retry-after": "1" } as const

const encodeErrorBody = Schema.encodeSync(Protocol.ErrorBody)

/**
 * The answer to a refusal: its status, `Cache-Control: no-store`, its headers
 * and the JSON body `ReplayProtocol.ErrorBody`.
 *
 * @internal
 */
export const refusalResponse = (refused: Api.Refusal): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(encodeErrorBody({ error: refused.error, message: refused.error.message }), {
    status: Protocol.statusOf(refused.error),
    headers: { "cache-control": "no-store", ...refused.headers }
  })

/** The first thing a parse error names: the parameter (or header) that was wrong. */
const nameOf = (error: ParseResult.ParseError, fallback: string): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  const key = issue?.path[0]
  return typeof key === "string" ? key : fallback
}

const reasonOf = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => issue.message).join("; ")

const decodeRead = Schema.decodeUnknownEither(Protocol.ReadQuery)
const decodeGet = Schema.decodeUnknownEither(Protocol.GetQuery)

/** Decodes a query with `ReplayProtocol`'s schema; a malformed parameter is a `400` naming it. @internal */
export const decodeQuery = <A>(
  decode: (u: unknown) => Either.Either<A, ParseResult.ParseError>,
  query: Readonly<Record<string, string | undefined>>
): Either.Either<A, Api.Refusal> =>
  Either.mapLeft(decode(query), (error) => badRequest(nameOf(error, "query"), reasonOf(error)))

/** @internal */
export const decodeReadQuery = (query: Readonly<Record<string, string | undefined>>) => decodeQuery(decodeRead, query)

/** @internal */
export const decodeGetQuery = (query: Readonly<Record<string, string | undefined>>) => decodeQuery(decodeGet, query)

/**
 * The cursor's `from` for a read: `Last-Event-ID` (a resume position) wins
 * over the query; an offset with an epoch is a resume position too (refused
 * past the total, never clamped); an offset alone is the seed's clamp;
 * nothing, the oldest byte.
 */
const fromOf = (
  query: ProtocolApi.ReadQuery,
  lastEventId: ReplayCursor.Position | undefined
): { readonly from: ReplayCursor.From; readonly epoch: string | undefined } => {
  if (lastEventId !== undefined) return { from: lastEventId, epoch: lastEventId.epoch }
  if (query.offset === undefined) return { from: "oldest", epoch: query.epoch }
  if (query.epoch === undefined) return { from: query.offset, epoch: undefined }
  // A resume position is an offset the reader had: never negative.
  return { from: query.offset < 0 ? query.offset : { epoch: query.epoch, offset: query.offset }, epoch: query.epoch }
}

/** Each reason a cursor cannot start, as a refusal. @internal */
export const startRefusal = (error: ReplayCursor.StartError): Api.Refusal =>
  error._tag === "InvalidOffset" ? badRequest("offset", error.message) : refusal(error)

// --- the request as the checks see it ------------------------------------------

/** @internal */
export const headersOf = (request: HttpServerRequest.HttpServerRequest): Readonly<Record<string, string | undefined>> =>
  request.headers

/** @internal */
export const queryOf = (url: string): Record<string, string | undefined> => {
  const query: Record<string, string | undefined> = {}
  const at = url.indexOf("?")
  if (at === -1) return query
  // The first value of a repeated parameter counts, as URLSearchParams.get does.
  for (const [name, value] of new URLSearchParams(url.slice(at + 1))) if (!(name in query)) query[name] = value
  return query
}

/** @internal */
export const readRequest = (
  request: HttpServerRequest.HttpServerRequest,
  transport: "sse" | "ws" | "get",
  key: string
): Api.ReadRequest => ({
  transport,
  key,
  query: queryOf(request.url),
  headers: request.headers,
  method: request.method,
  url: request.url,
  remoteAddress: Option.getOrUndefined(request.remoteAddress)
})

// --- the checks -------------------------------------------------------------------

/** @internal */
export const authorize = (
  request: Omit<Api.AuthorizationRequest, "transport" | "key">,
  key: string | undefined,
  transport: Api.Transport
): Effect.Effect<void, Api.Refusal, Api.Authorization> =>
  Effect.flatMap(authorizationTag, (authorization) =>
    Effect.mapError(
      authorization.authorize({
        key,
        transport,
        method: request.method,
        url: request.url,
        headers: request.headers,
        remoteAddress: request.remoteAddress
      }),
      (denied) => refusal(denied)
    ))

/** @internal */
export const lookup = (
  key: string
): Effect.Effect<ReplayBuffer.ReplayBuffer, Api.Refusal, ReplayRegistry.ReplayRegistry> =>
  Effect.flatMap(ReplayRegistry.ReplayRegistry, (registry) => registry.get(key)).pipe(
    Effect.mapError((error) => error._tag === "BufferNotFound" ? refusal(error) : refusal(error, RETRY))
  )

const IPV4 = /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/

/** Whether a `Host` header names a host this server answers to (`allowedHosts`). @internal */
export const hostAllowed = (
  allowed: Api.AllowedHosts,
  headers: Readonly<Record<string, string | undefined>>
): boolean => {
  const raw = headers["host"]
  // Not a browser (every browser sends Host): nothing to rebind.
  if (raw === undefined || allowed === "*") return true
  const host = raw.trim().toLowerCase()
  // An IP literal: the page's origin is that address, which no DNS answer can rebind.
  if (host.startsWith("[")) return /^\[[0-9a-f:.]+\](:[0-9]+)?$/.test(host)
  const colon = host.lastIndexOf(":")
  const name = (colon !== -1 && /^[0-9]+$/.test(host.slice(colon + 1)) ? host.slice(0, colon) : host).replace(/\.$/, "")
  if (IPV4.test(name)) return true
  if (name === "localhost" || name.endsWith(".localhost")) return true
  for (const entry of allowed) {
    if (entry.startsWith(".") ? name === entry.slice(1) || name.endsWith(entry) : name === entry) return true
  }
  return false
}

/**
 * The checks every endpoint makes first: the `Host` (`allowedHosts`, against
 * DNS rebinding), then the browser `Origin` (`allowedOrigins`).
 *
 * @internal
 */
export const checkRequest = (
  options: Api.ResolvedOptions,
  headers: Readonly<Record<string, string | undefined>>
): Api.Refusal | undefined => {
  if (!hostAllowed(options.allowedHosts, headers)) {
    return refusal(new HttpError.HostNotAllowed({ host: (headers["host"] ?? "").slice(0, 256) }))
  }
  if (!originAllowed(options.allowedOrigins, headers)) {
    return refusal(new HttpError.OriginNotAllowed({ origin: (headers["origin"] ?? "").slice(0, 256) }))
  }
  return undefined
}

/** Whether a browser `Origin` may use this server. @internal */
export const originAllowed = (
  allowed: Api.AllowedOrigins,
  headers: Readonly<Record<string, string | undefined>>
): boolean => {
  const origin = headers["origin"]
  if (origin === undefined) return true
  if (allowed === "*") return true
  if (allowed === "same-origin") {
    const host = headers["host"]
    if (host === undefined) return false
    try {
      return new URL(origin).host.toLowerCase() === host.toLowerCase()
    } catch {
      return false
    }
  }
  return allowed.includes(origin.toLowerCase())
}

/** A `Sec-WebSocket-Key`: 16 bytes in base64. */
const WS_KEY = /^[+/0-9A-Za-z]{21}[AQgw]==$/

/**
 * The checks of a WebSocket handshake (RFC 6455, section 4.2.1), made before a
 * connection slot is taken. `Connection` must list the `upgrade` token.
 *
 * @internal
 */
export const handshakeRefusal = (headers: Readonly<Record<string, string | undefined>>): Api.Refusal | undefined => {
  if ((headers["upgrade"] ?? "").toLowerCase() !== "websocket") {
    return badRequest("upgrade", "this endpoint needs a WebSocket upgrade")
  }
  const connection = (headers["connection"] ?? "").toLowerCase().split(",").map((token) => token.trim())
  if (!connection.includes("upgrade")) {
    return badRequest("connection", "a WebSocket upgrade needs the header Connection: Upgrade")
  }
  const key = headers["sec-websocket-key"]
  if (key === undefined || !WS_KEY.test(key)) {
    return badRequest("sec-websocket-key", "missing or invalid Sec-WebSocket-Key header (16 bytes in base64)")
  }
  const version = headers["sec-websocket-version"]
  if (version !== "13" && version !== "8") {
    return badRequest("sec-websocket-version", "missing or invalid Sec-WebSocket-Version header (13 or 8)")
  }
  const protocols = headers["sec-websocket-protocol"]
  if (protocols !== undefined && !validProtocols(protocols)) {
    return badRequest(
      "sec-websocket-protocol",
      "invalid Sec-WebSocket-Protocol header (a comma-separated list of distinct tokens)"
    )
  }
  return undefined
}

/** An RFC 7230 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * A `Sec-WebSocket-Protocol` list as RFC 6455 (section 4.1) has it, and as
 * the `ws` library parses it: distinct tokens separated by commas, with
 * optional spaces or tabs around them. A list that fails this would be
 * refused by the runtime's WebSocket server with a bare `400`, after the
 * connection slot was taken.
 */
const validProtocols = (header: string): boolean => {
  const seen = new Set<string>()
  for (const part of header.split(",")) {
    const protocol = part.replace(/^[ \t]+|[ \t]+$/g, "")
    if (!TOKEN.test(protocol) || seen.has(protocol)) return false
    seen.add(protocol)
  }
  return true
}

const decodeLastEventId = Schema.decodeUnknownEither(Protocol.PositionFromString)

const fromEither = <A>(either: Either.Either<A, Api.Refusal>): Effect.Effect<A, Api.Refusal> =>
  Either.isRight(either) ? Effect.succeed(either.right) : Effect.fail(either.left)

/**
 * Takes a connection slot for a read of `buffer` (server-wide and per
 * buffer, never waiting): its release, or the refusal (`503` / `429`).
 *
 * @internal
 */
export const takeSlot = (
  http: Api.ReplayHttp,
  buffer: ReplayBuffer.ReplayBuffer,
  transport: Api.ReadRequest["transport"]
): Either.Either<() => void, Api.Refusal> => {
  const { options, slots } = serviceOf(http)
  const taken = slots.unsafeTake(buffer)
  if (typeof taken === "string") Metrics.unsafeConnectionRefused(transport, taken)
  if (taken === "server") {
    return Either.left(
      refusal(new HttpError.TooManyConnections({ scope: "server", limit: options.maxConnections }), RETRY)
    )
  }
  if (taken === "buffer") {
    return Either.left(
      refusal(new HttpError.TooManyConnections({ scope: "buffer", limit: options.maxConnectionsPerBuffer }), RETRY)
    )
  }
  return Either.right(taken)
}

/**
 * The checks of a read, in order: the query (and `Last-Event-ID` for SSE),
 * the WebSocket origin and handshake, authorization, the lookup, the cursor,
 * and (except for a GET, which takes one only if it waits) a slot.
 *
 * A WebSocket's parameter and position refusals (`400`, `409`, `410`) come
 * after the lookup and are not failures: a browser cannot read the status of
 * a refused handshake, so the plan carries them (`refused`) and the session
 * closes with `4000 + status` right after the upgrade.
 *
 * @internal
 */
export const prepareRead = (
  request: Api.ReadRequest
): Effect.Effect<Api.ReadPlan, Api.Refusal, Api.ReplayHttp | ReplayRegistry.ReplayRegistry | Api.Authorization> =>
  Effect.gen(function*() {
    const http = yield* tag
    const { options } = http
    const ws = request.transport === "ws"
    const checked = checkRequest(options, request.headers)
    if (checked !== undefined) return yield* Effect.fail(checked)
    if (ws) {
      const handshake = handshakeRefusal(request.headers)
      if (handshake !== undefined) return yield* Effect.fail(handshake)
    }
    const position = positionOf(request)
    if (!ws && Either.isLeft(position)) return yield* Effect.fail(position.left)
    yield* authorize(request, request.key, request.transport)
    const buffer = yield* lookup(request.key)
    const made = Either.isLeft(position) ? Either.left(position.left) : yield* Effect.either(
      Effect.mapError(
        ReplayCursor.make(buffer, {
          from: position.right.from,
          epoch: position.right.epoch,
          onEvicted: position.right.query.onEvicted,
          maxChunkBytes: request.transport === "get"
            ? Math.min((position.right.query as ProtocolApi.GetQuery).limit ?? options.defaultLimit, options.maxLimit)
            : undefined
        }),
        startRefusal
      )
    )
    if (Either.isLeft(made)) {
      if (!ws) return yield* Effect.fail(made.left)
      // A WebSocket upgrades, then closes with the refusal's code: it needs a slot for that moment, and a
      // cursor that reads nothing.
      const cursor = yield* Effect.orDie(ReplayCursor.make(buffer, { from: "live", onEvicted: "clamp" }))
      const release = yield* fromEither(takeSlot(http, buffer, request.transport))
      return { buffer, cursor, hello: helloOf(buffer, cursor), release, atEnd: false, refused: made.left }
    }
    const cursor = made.right
    const hello = helloOf(buffer, cursor)
    if (request.transport === "sse" && !Either.isLeft(position) && position.right.resumed) {
      // A resume at the end of an ended buffer: the client has everything, and 204 makes EventSource stop.
      // One synchronous read gives a consistent snapshot of the total and the end.
      const state = yield* Effect.orDie(buffer.readChunks(Number.MAX_SAFE_INTEGER, { maxBytes: 1 }))
      if (Option.isSome(state.ended) && state.total === cursor.start) {
        return { buffer, cursor, hello, release: noop, atEnd: true, refused: undefined }
      }
    }
    if (request.transport === "get") return { buffer, cursor, hello, release: noop, atEnd: false, refused: undefined }
    const release = yield* fromEither(takeSlot(http, buffer, request.transport))
    return { buffer, cursor, hello, release, atEnd: false, refused: undefined }
  })

const helloOf = (buffer: ReplayBuffer.ReplayBuffer, cursor: ReplayCursor.ReplayCursor): ProtocolApi.Hello => ({
  epoch: buffer.epoch,
  offset: cursor.start,
  oldest: cursor.oldest,
  total: cursor.total
})

/** The decoded query and where the read starts: `Last-Event-ID` (SSE) wins over the query. */
const positionOf = (request: Api.ReadRequest): Either.Either<
  {
    readonly query: ProtocolApi.ReadQuery
    readonly from: ReplayCursor.From
    readonly epoch: string | undefined
    readonly resumed: boolean
  },
  Api.Refusal
> =>
  Either.flatMap(
    request.transport === "get" ? decodeGetQuery(request.query) : decodeReadQuery(request.query),
    (query) => {
      const raw = request.transport === "sse" ? request.headers["last-event-id"] : undefined
      if (raw === undefined || raw === "") {
        return Either.right({ query, ...fromOf(query, undefined), resumed: query.offset !== undefined })
      }
      const decoded = decodeLastEventId(raw)
      if (Either.isLeft(decoded)) {
        return Either.left(badRequest("Last-Event-ID", `must be EPOCH:OFFSET, got ${JSON.stringify(raw.slice(0, 64))}`))
      }
      return Either.right({ query, ...fromOf(query, decoded.right), resumed: true })
    }
  )

const noop = () => {}
