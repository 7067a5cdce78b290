import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Api from "../ReplayHttp.js"
import * as HttpError from "../ReplayHttpError.js"
import type * as ReplayStream from "../ReplayStream.js"
import { badRequest, endStateOf, infoJson, Reject, stateOf } from "./httpShared.js"
import { Slots } from "./httpSlots.js"
import { sseResponse } from "./httpSse.js"
import { runSession, type WsPlan } from "./httpWs.js"

/** @internal */
export const DEFAULT_PREFIX = "/scrollback"
/** @internal */
export const DEFAULT_MAX_CONNECTIONS = 10_000
/** @internal */
export const DEFAULT_MAX_CONNECTIONS_PER_BUFFER = 1_000
/** @internal */
export const DEFAULT_KEEP_ALIVE: Duration.Duration = Duration.seconds(15)
/** @internal */
export const DEFAULT_SSE_RETRY: Duration.Duration = Duration.seconds(1)
/** @internal */
export const DEFAULT_LONG_POLL_MAX_WAIT: Duration.Duration = Duration.seconds(30)
/** @internal */
export const DEFAULT_LIMIT = 1024 * 1024
/** @internal */
export const DEFAULT_MAX_LIMIT = 8 * 1024 * 1024
/** @internal */
export const DEFAULT_WS_MAX_BACKLOG_BYTES = 4 * 1024 * 1024

/** @internal */
export const authorizationTag = Context.GenericTag<Api.Authorization>("@scrollback/platform/ReplayHttp/Authorization")

/** @internal */
export const layerAuthorization = (
  authorize: (request: Api.AuthorizationRequest) => Effect.Effect<void, HttpError.Denied>
): Layer.Layer<Api.Authorization> => Layer.succeed(authorizationTag, { authorize })

/** @internal */
export const layerAllowAll: Layer.Layer<Api.Authorization> = layerAuthorization(() => Effect.void)

// -----------------------------------------------------------------------------
// options
// -----------------------------------------------------------------------------

interface Resolved {
  readonly prefix: string
  readonly maxConnections: number
  readonly maxConnectionsPerBuffer: number
  readonly keepAliveMillis: number
  readonly sseRetryMillis: number
  readonly longPollMaxWaitMillis: number
  readonly defaultLimit: number
  readonly maxLimit: number
  readonly wsMaxBacklogBytes: number
  readonly allowedOrigins: Api.AllowedOrigins
}

const positiveInteger = (name: string, value: number | undefined, fallback: number): number => {
  const n = value ?? fallback
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`ReplayHttp: ${name} must be a positive safe integer, got ${String(n)}`)
  }
  return n
}

const positiveMillis = (name: string, value: Duration.DurationInput | undefined, fallback: Duration.Duration) => {
  const millis = Duration.toMillis(value === undefined ? fallback : Duration.decode(value))
  if (!(millis > 0) || !Number.isFinite(millis)) {
    throw new RangeError(`ReplayHttp: ${name} must be a positive finite duration`)
  }
  return Math.ceil(millis)
}

const resolveOptions = (options: Api.Options | undefined): Resolved => {
  const prefix = options?.prefix ?? DEFAULT_PREFIX
  if (prefix !== "" && !/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/.test(prefix)) {
    throw new RangeError(
      `ReplayHttp: prefix must be "" or "/segment[/segment…]" without a trailing slash, got ${prefix}`
    )
  }
  const defaultLimit = positiveInteger("defaultLimit", options?.defaultLimit, DEFAULT_LIMIT)
  const maxLimit = positiveInteger("maxLimit", options?.maxLimit, DEFAULT_MAX_LIMIT)
  if (defaultLimit > maxLimit) throw new RangeError("ReplayHttp: defaultLimit must not exceed maxLimit")
  const allowedOrigins = options?.allowedOrigins ?? "same-origin"
  return {
    prefix,
    maxConnections: positiveInteger("maxConnections", options?.maxConnections, DEFAULT_MAX_CONNECTIONS),
    maxConnectionsPerBuffer: positiveInteger(
      "maxConnectionsPerBuffer",
      options?.maxConnectionsPerBuffer,
      DEFAULT_MAX_CONNECTIONS_PER_BUFFER
    ),
    keepAliveMillis: positiveMillis("keepAlive", options?.keepAlive, DEFAULT_KEEP_ALIVE),
    sseRetryMillis: positiveMillis("sseRetry", options?.sseRetry, DEFAULT_SSE_RETRY),
    longPollMaxWaitMillis: positiveMillis("longPollMaxWait", options?.longPollMaxWait, DEFAULT_LONG_POLL_MAX_WAIT),
    defaultLimit,
    maxLimit,
    wsMaxBacklogBytes: positiveInteger("wsMaxBacklogBytes", options?.wsMaxBacklogBytes, DEFAULT_WS_MAX_BACKLOG_BYTES),
    allowedOrigins: allowedOrigins === "same-origin" || allowedOrigins === "*"
      ? allowedOrigins
      : allowedOrigins.map((origin) => origin.toLowerCase())
  }
}

// -----------------------------------------------------------------------------
// parameters
// -----------------------------------------------------------------------------

const INTEGER = /^-?[0-9]+$/
const EPOCH = /^[0-9a-f]{16}$/

const parseInteger = (name: string, raw: string): number | Reject => {
  if (!INTEGER.test(raw)) return badRequest(name, `${name} must be a decimal integer, got ${JSON.stringify(raw)}`)
  const n = Number(raw)
  if (!Number.isSafeInteger(n)) return badRequest(name, `${name} is out of range: ${raw}`)
  return n
}

const parseEpoch = (raw: string): string | Reject =>
  EPOCH.test(raw) ? raw : badRequest("epoch", `epoch must be 16 lowercase hex digits, got ${JSON.stringify(raw)}`)

interface Position {
  readonly epoch: string | undefined
  readonly offset: number | undefined
}

const parseResumeId = (raw: string): Position | Reject => {
  const colon = raw.lastIndexOf(":")
  const epoch = colon === -1 ? undefined : raw.slice(0, colon)
  const offset = colon === -1 ? undefined : parseInteger("Last-Event-ID", raw.slice(colon + 1))
  if (epoch === undefined || !EPOCH.test(epoch) || offset === undefined || offset instanceof Reject || offset < 0) {
    return badRequest(
      "Last-Event-ID",
      `Last-Event-ID must be EPOCH:OFFSET (16 lowercase hex digits, a decimal offset), got ${JSON.stringify(raw)}`
    )
  }
  return { epoch, offset }
}

const queryPosition = (query: URLSearchParams): Position | Reject => {
  const rawOffset = query.get("offset")
  const rawEpoch = query.get("epoch")
  const offset = rawOffset === null ? undefined : parseInteger("offset", rawOffset)
  if (offset instanceof Reject) return offset
  const epoch = rawEpoch === null ? undefined : parseEpoch(rawEpoch)
  if (epoch instanceof Reject) return epoch
  return { epoch, offset }
}

const parseOnEvicted = (query: URLSearchParams): ReplayStream.OnEvicted | Reject => {
  const raw = query.get("onEvicted")
  if (raw === null || raw === "clamp") return "clamp"
  if (raw === "fail") return "fail"
  return badRequest("onEvicted", `onEvicted must be "clamp" or "fail", got ${JSON.stringify(raw)}`)
}

/**
 * The cursor's `from` for a parsed position: with an epoch and an offset, a
 * resume position (refused if it belongs to another epoch or points past the
 * total); an offset alone, the seed's clamp; nothing, the oldest byte.
 */
const fromOf = (position: Position): ReplayCursor.From =>
  position.offset === undefined
    ? "oldest"
    : position.epoch === undefined
    ? position.offset
    : { epoch: position.epoch, offset: position.offset }

/** Shorthand: a value or a refusal, as an Effect. */
const orReject = <A>(value: A | Reject): Effect.Effect<Exclude<A, Reject>, Reject> =>
  value instanceof Reject ? Effect.fail(value) : Effect.succeed(value as Exclude<A, Reject>)

// -----------------------------------------------------------------------------
// the app
// -----------------------------------------------------------------------------

type Route =
  | { readonly _tag: "List" }
  | { readonly _tag: "Buffer"; readonly key: string; readonly endpoint: "get" | "sse" | "ws" | "info" }
  | { readonly _tag: "NotFound" }

const notFound = (path: string) => new Reject(new HttpError.NotFound({ path }))

const route = (prefix: string, path: string): Route | Reject => {
  if (path === prefix || path === prefix + "/") return { _tag: "List" }
  if (!path.startsWith(prefix + "/")) return { _tag: "NotFound" }
  const parts = path.slice(prefix.length + 1).split("/")
  if (parts.length > 2) return { _tag: "NotFound" }
  let endpoint: "get" | "sse" | "ws" | "info" = "get"
  if (parts.length === 2) {
    const name = parts[1]
    if (name === "sse" || name === "ws" || name === "info") endpoint = name
    else return { _tag: "NotFound" }
  }
  let key: string
  try {
    key = decodeURIComponent(parts[0])
  } catch {
    return badRequest("key", "the key is not valid percent-encoding")
  }
  if (!ReplayRegistry.isValidKey(key)) {
    return badRequest("key", `a key is 1 to 128 characters of [A-Za-z0-9._~-], got ${JSON.stringify(key)}`)
  }
  return { _tag: "Buffer", key, endpoint }
}

const originAllowed = (allowed: Api.AllowedOrigins, request: HttpServerRequest.HttpServerRequest): boolean => {
  const origin = request.headers["origin"]
  if (origin === undefined) return true
  if (allowed === "*") return true
  if (allowed === "same-origin") {
    const host = request.headers["host"]
    if (host === undefined) return false
    try {
      return new URL(origin).host.toLowerCase() === host.toLowerCase()
    } catch {
      return false
    }
  }
  return allowed.includes(origin.toLowerCase())
}

const headerOf = (request: HttpServerRequest.HttpServerRequest, name: string): string | undefined =>
  request.headers[name]

/** A `Sec-WebSocket-Key`: 16 bytes in base64, as the `ws` library checks it. */
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/

/**
 * The handshake checks of the `ws` library, made before a connection slot is
 * taken: `ws` answers a handshake it refuses itself, without calling back,
 * and the session waiting for it would hold its slot until the upgrade
 * timeout. `Connection` must list the `upgrade` token (else Node does not
 * route the request as an upgrade at all).
 */
const checkHandshake = (request: HttpServerRequest.HttpServerRequest): void | Reject => {
  if ((headerOf(request, "upgrade") ?? "").toLowerCase() !== "websocket") {
    return badRequest("upgrade", "this endpoint needs a WebSocket upgrade")
  }
  const connection = (headerOf(request, "connection") ?? "").toLowerCase().split(",").map((token) => token.trim())
  if (!connection.includes("upgrade")) {
    return badRequest("connection", "a WebSocket upgrade needs the header Connection: Upgrade")
  }
  const key = headerOf(request, "sec-websocket-key")
  if (key === undefined || !WS_KEY.test(key)) {
    return badRequest("sec-websocket-key", "missing or invalid Sec-WebSocket-Key header")
  }
  const version = headerOf(request, "sec-websocket-version")
  if (version !== "13" && version !== "8") {
    return badRequest("sec-websocket-version", "missing or invalid Sec-WebSocket-Version header (13 or 8)")
  }
}

/**
 * Builds the app. The options are checked and the connection counters
 * allocated here, once; the registry and the optional authorization hook
 * are read from each request's context.
 *
 * @internal
 */
export const httpApp = (
  options?: Api.Options
): HttpApp.Default<never, ReplayRegistry.ReplayRegistry | Scope.Scope> => {
  const config = resolveOptions(options)

  // Connection slots: permits of Effect semaphores, one for the server and one per buffer.
  const slots = new Slots(config.maxConnections, config.maxConnectionsPerBuffer)
  const acquire = (key: string, buffer: ReplayBuffer.ReplayBuffer): Effect.Effect<() => void, Reject, Scope.Scope> =>
    Effect.suspend(() => {
      const taken = slots.unsafeTake(buffer)
      if (taken === "server") {
        return Effect.fail(
          new Reject(new HttpError.TooManyConnections({ scope: "server", limit: config.maxConnections }), {
            "retry-after": "1"
          })
        )
      }
      if (taken === "buffer") {
        return Effect.fail(
          new Reject(new HttpError.TooManyConnections({ scope: "buffer", limit: config.maxConnectionsPerBuffer }), {
            "retry-after": "1"
          })
        )
      }
      return Effect.as(Effect.addFinalizer(() => Effect.sync(taken)), taken)
    })

  const authorize = (
    request: HttpServerRequest.HttpServerRequest,
    key: string | undefined,
    transport: Api.Transport
  ): Effect.Effect<void, Reject> =>
    Effect.flatMap(
      Effect.serviceOption(authorizationTag),
      (authorization) =>
        Option.isNone(authorization) ? Effect.void : authorization.value.authorize({ key, transport, request }).pipe(
          Effect.mapError((denied) => new Reject(denied))
        )
    )

  const lookup = (key: string): Effect.Effect<ReplayBuffer.ReplayBuffer, Reject, ReplayRegistry.ReplayRegistry> =>
    Effect.flatMap(ReplayRegistry.ReplayRegistry, (registry) => registry.get(key)).pipe(
      Effect.mapError((error) =>
        error._tag === "BufferNotFound" ? new Reject(error) : new Reject(error, { "retry-after": "1" })
      )
    )

  /** The cursor of a read, with every refusal the cursor can raise as its status. */
  const cursorOf = (
    buffer: ReplayBuffer.ReplayBuffer,
    position: Position,
    policy: ReplayStream.OnEvicted,
    maxChunkBytes?: number
  ): Effect.Effect<ReplayCursor.ReplayCursor, Reject> =>
    Effect.mapError(
      ReplayCursor.make(buffer, { from: fromOf(position), epoch: position.epoch, onEvicted: policy, maxChunkBytes }),
      startRefusal
    )

  // --- list and info -------------------------------------------------------

  const list = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function*() {
      yield* authorize(request, undefined, "list")
      const registry = yield* ReplayRegistry.ReplayRegistry
      const entries = yield* Effect.mapError(registry.list, (error) => new Reject(error, { "retry-after": "1" }))
      const buffers = yield* Effect.forEach(entries, (entry) =>
        Effect.map(infoJson(entry.key, entry.buffer), (info) => ({ ...info, createdAt: entry.createdAt })))
      return HttpServerResponse.unsafeJson({ buffers }, { headers: { "cache-control": "no-store" } })
    })

  const info = (request: HttpServerRequest.HttpServerRequest, key: string) =>
    Effect.gen(function*() {
      yield* authorize(request, key, "info")
      const buffer = yield* lookup(key)
      return HttpServerResponse.unsafeJson(yield* infoJson(key, buffer), { headers: { "cache-control": "no-store" } })
    })

  // --- plain GET and long-poll --------------------------------------------

  const get = (request: HttpServerRequest.HttpServerRequest, query: URLSearchParams, key: string) =>
    Effect.gen(function*() {
      const position = yield* orReject(queryPosition(query))
      const policy = yield* orReject(parseOnEvicted(query))
      const rawLimit = query.get("limit")
      const limit = rawLimit === null ? config.defaultLimit : yield* orReject(parseInteger("limit", rawLimit))
      if (limit < 1) return yield* Effect.fail(badRequest("limit", `limit must be at least 1, got ${limit}`))
      if (limit > config.maxLimit) {
        return yield* Effect.fail(
          new Reject(new HttpError.LimitTooLarge({ limit, max: config.maxLimit }))
        )
      }
      const rawWait = query.get("wait")
      const wait = rawWait === null ? 0 : yield* orReject(parseInteger("wait", rawWait))
      if (wait < 0) return yield* Effect.fail(badRequest("wait", `wait must not be negative, got ${wait}`))
      const waitMillis = Math.min(wait, config.longPollMaxWaitMillis)

      yield* authorize(request, key, "get")
      const buffer = yield* lookup(key)
      const cursor = yield* cursorOf(buffer, position, policy, limit)
      // At most one gap comes before data: after it the cursor stands at `oldest`, which is retained.
      let gap = undefined as ReplayCursor.Gap | undefined
      const take = (step: ReplayCursor.Step): ReplayCursor.Step => {
        if (step._tag !== "Gap") return step
        gap = step
        return ReplayCursor.unsafeNext(cursor)
      }
      let step = take(ReplayCursor.unsafeNext(cursor))
      if (step._tag === "Pending" && waitMillis > 0) {
        yield* acquire(key, buffer)
        const ready = yield* Effect.raceFirst(ReplayCursor.next(cursor), Effect.as(Effect.sleep(waitMillis), undefined))
        if (ready !== undefined) step = take(ready)
      }
      // Under "fail", a read that fell behind eviction while it waited is refused like one that started there.
      if (step._tag === "Done" && Exit.isFailure(step.exit)) {
        const evicted = Cause.failureOption(step.exit.cause)
        if (Option.isSome(evicted) && evicted.value._tag === "OffsetEvicted") {
          return yield* Effect.fail(startRefusal(evicted.value))
        }
      }
      const state = yield* stateOf(buffer)
      const read = step._tag === "Data"
        ? { offset: step.offset, next: step.next, chunks: step.chunks }
        : { offset: cursor.position, next: cursor.position, chunks: [] }
      const body = concat(read.chunks, read.next - read.offset)
      // Ended only once every byte was returned: a reader that got `ended` knows it has everything.
      const ended = read.next === state.total ? endStateOf(state.ended) : endStateOf(Option.none())
      const headers: Record<string, string> = {
        "cache-control": "no-store",
        "scrollback-epoch": buffer.epoch,
        "scrollback-offset": String(read.offset),
        "scrollback-next-offset": String(read.next),
        "scrollback-oldest": String(state.oldest),
        "scrollback-total": String(state.total),
        "scrollback-ended": ended.status === "open" ? "false" : ended.status
      }
      if (ended.status === "failed" && ended.exitCode !== undefined) {
        headers["scrollback-exit-code"] = String(ended.exitCode)
      }
      if (gap !== undefined) headers["scrollback-gap"] = `${gap.requested}-${gap.oldest}`
      return HttpServerResponse.uint8Array(body, { contentType: "application/octet-stream", headers })
    })

  // --- SSE -----------------------------------------------------------------

  const sse = (request: HttpServerRequest.HttpServerRequest, query: URLSearchParams, key: string) =>
    Effect.gen(function*() {
      const lastEventId = headerOf(request, "last-event-id")
      const position = lastEventId !== undefined && lastEventId !== ""
        ? yield* orReject(parseResumeId(lastEventId))
        : yield* orReject(queryPosition(query))
      const policy = yield* orReject(parseOnEvicted(query))
      yield* authorize(request, key, "sse")
      const buffer = yield* lookup(key)
      const cursor = yield* cursorOf(buffer, position, policy)
      if (position.offset !== undefined) {
        // A resume at the end of an ended buffer: the client has everything, and 204 makes a stock
        // EventSource stop reconnecting.
        const state = yield* stateOf(buffer)
        if (state.ended._tag === "Some" && cursor.start === state.total) {
          return HttpServerResponse.empty({ status: 204, headers: { "cache-control": "no-store" } })
        }
      }
      const release = yield* acquire(key, buffer)
      return sseResponse({
        cursor,
        retryMillis: config.sseRetryMillis,
        keepAliveMillis: config.keepAliveMillis,
        release
      })
    })

  // --- WebSocket -----------------------------------------------------------

  const ws = (request: HttpServerRequest.HttpServerRequest, query: URLSearchParams, key: string) =>
    Effect.gen(function*() {
      if (!originAllowed(config.allowedOrigins, request)) {
        return yield* Effect.fail(
          new Reject(new HttpError.OriginNotAllowed({ origin: request.headers["origin"] ?? "" }))
        )
      }
      yield* orReject(checkHandshake(request))
      yield* authorize(request, key, "ws")
      const buffer = yield* lookup(key)
      yield* acquire(key, buffer)
      const plan = yield* planWs(buffer, query)
      // Fails with 400 when the request cannot be upgraded after all (answered as JSON by `handle`).
      yield* runSession(request, plan, config.wsMaxBacklogBytes)
      return HttpServerResponse.empty()
    })

  /** What a WebSocket does once upgraded: a parameter, an epoch or a start refused (as a close code), or follow. */
  const planWs = (buffer: ReplayBuffer.ReplayBuffer, query: URLSearchParams): Effect.Effect<WsPlan> => {
    const position = queryPosition(query)
    const policy = parseOnEvicted(query)
    const refuse = (reject: Reject): WsPlan => ({ _tag: "Close", code: reject.closeCode, reason: reject.message })
    if (position instanceof Reject) return Effect.succeed(refuse(position))
    if (policy instanceof Reject) return Effect.succeed(refuse(policy))
    return cursorOf(buffer, position, policy).pipe(
      Effect.match({
        onFailure: refuse,
        onSuccess: (cursor): WsPlan => ({ _tag: "Follow", cursor })
      })
    )
  }

  // --- routing -------------------------------------------------------------

  const handle = (
    request: HttpServerRequest.HttpServerRequest
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, Reject, ReplayRegistry.ReplayRegistry | Scope.Scope> => {
    let url: URL
    try {
      url = new URL(request.url, "http://localhost")
    } catch {
      return Effect.fail(badRequest("url", "the request URL cannot be parsed"))
    }
    const target = route(config.prefix, url.pathname)
    if (target instanceof Reject) return Effect.fail(target)
    if (target._tag === "NotFound") return Effect.fail(notFound(url.pathname))
    if (request.method !== "GET") {
      return Effect.fail(
        new Reject(new HttpError.MethodNotAllowed({ method: request.method }), { allow: "GET" })
      )
    }
    if (target._tag === "List") return list(request)
    switch (target.endpoint) {
      case "get":
        return get(request, url.searchParams, target.key)
      case "info":
        return info(request, target.key)
      case "sse":
        return sse(request, url.searchParams, target.key)
      case "ws":
        return ws(request, url.searchParams, target.key)
    }
  }

  return Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    // Servers run handlers uninterruptibly; ours wait (long-poll, WebSocket), so a client that goes away
    // must be able to interrupt them, as the routers allow for their routes.
    (request) => Effect.interruptible(Effect.catchAll(handle(request), (reject) => Effect.succeed(reject.toResponse())))
  )
}

/** The status of each reason a cursor cannot start. */
const startRefusal = (error: ReplayCursor.StartError): Reject =>
  error._tag === "InvalidOffset" ? badRequest("offset", error.message) : new Reject(error)

const concat = (chunks: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  // Views of storage that never changes: one chunk goes out as is.
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(length)
  let pos = 0
  for (const chunk of chunks) {
    out.set(chunk, pos)
    pos += chunk.length
  }
  return out
}

/**
 * The app with the registry and the authorization hook (if any) of the
 * layer's context fixed, so a router's per-request context need not hold them.
 */
const appFromContext = (
  options: Api.Options | undefined
): Effect.Effect<HttpApp.Default<never, Scope.Scope>, never, ReplayRegistry.ReplayRegistry> =>
  Effect.gen(function*() {
    const app = httpApp(options)
    const registry = yield* ReplayRegistry.ReplayRegistry
    const authorization = yield* Effect.serviceOption(authorizationTag)
    const withRegistry = Effect.provideService(app, ReplayRegistry.ReplayRegistry, registry)
    return Option.isSome(authorization)
      ? Effect.provideService(withRegistry, authorizationTag, authorization.value)
      : withRegistry
  })

/** @internal */
export const layerRouter = (
  options?: Api.Options
): Layer.Layer<never, never, HttpLayerRouter.HttpRouter | ReplayRegistry.ReplayRegistry> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const prefix = resolveOptions(options).prefix
    const app = yield* appFromContext(options)
    const router = yield* HttpLayerRouter.HttpRouter
    yield* router.add("GET", prefix === "" ? "/" : (prefix as `/${string}`), app)
    yield* router.add("GET", `${prefix}/*` as `/${string}`, app)
  }))

/** @internal */
export const layer = (
  options?: Api.Options
): Layer.Layer<never, never, HttpServer.HttpServer | ReplayRegistry.ReplayRegistry> =>
  Layer.unwrapEffect(Effect.map(appFromContext(options), (app) => HttpServer.serve(app)))
