import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Api from "../../ReplayHttp.js"
import { Denied, InvalidHttpOptions } from "../../ReplayHttpError.js"
import { Slots } from "./slots.js"

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@scrollback/platform/ReplayHttp") as Api.TypeId

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
export const DEFAULT_METRICS_PATH = "/metrics"
/** @internal */
export const DEFAULT_LIMIT = 1024 * 1024
/** @internal */
export const DEFAULT_MAX_LIMIT = 8 * 1024 * 1024
/** @internal */
export const DEFAULT_MAX_BACKLOG_BYTES = 4 * 1024 * 1024
/** @internal */
export const DEFAULT_WS_MAX_MESSAGE_BYTES = 4 * 1024
/** @internal */
export const DEFAULT_WS_INBOUND_BYTES_PER_SECOND = 16 * 1024
/** @internal */
export const DEFAULT_WS_INBOUND_BURST_BYTES = 64 * 1024

/**
 * The service: the options, and the connection slots every transport (and
 * the Node adapter) takes from.
 *
 * @internal
 */
export interface Service extends Api.ReplayHttp {
  readonly slots: Slots
}

/** @internal */
export const tag: Context.Tag<Api.ReplayHttp, Api.ReplayHttp> = Context.GenericTag<Api.ReplayHttp>(
  "@scrollback/platform/ReplayHttp"
)

/**
 * Completed when the routes' scope closes (the server shuts down): streaming
 * responses end, long-polls answer and WebSocket sessions close with `1001`,
 * so a server whose shutdown waits for its connections (as `NodeHttpServer`
 * does) is not held open by a follower.
 *
 * @internal
 */
export class Closing
  extends Context.Tag("@scrollback/platform/ReplayHttp/Closing")<Closing, Deferred.Deferred<void>>()
{}

/** Completes when the routes close; never, outside them. @internal */
export const whenClosing: Effect.Effect<void> = Effect.flatMap(
  Effect.serviceOption(Closing),
  (closing) => closing._tag === "Some" ? Deferred.await(closing.value) : Effect.never
)

/** The service's internals (every `ReplayHttp` is made by `make`). @internal */
export const serviceOf = (http: Api.ReplayHttp): Service => http as Service

const invalid = (option: string, value: unknown, reason: string) => new InvalidHttpOptions({ option, value, reason })

const positiveInteger = (option: string, value: number | undefined, fallback: number): number => {
  const n = value ?? fallback
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
    throw invalid(option, value, "must be a positive safe integer")
  }
  return n
}

const positiveMillis = (option: string, value: Duration.DurationInput | undefined, fallback: Duration.Duration) => {
  const duration = value === undefined ? fallback : Option.getOrUndefined(Duration.decodeUnknown(value))
  const millis = duration === undefined ? NaN : Duration.toMillis(duration)
  if (!(millis > 0) || !Number.isFinite(millis)) throw invalid(option, value, "must be a positive finite duration")
  return Math.ceil(millis)
}

const HOST = /^\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/

const PREFIX = /^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/

const resolveUnsafe = (options: Api.Options | undefined): Api.ResolvedOptions => {
  const prefix = options?.prefix ?? DEFAULT_PREFIX
  if (typeof prefix !== "string" || (prefix !== "" && !PREFIX.test(prefix))) {
    throw invalid("prefix", prefix, "must be \"\" or \"/segment[/segment…]\" without a trailing slash")
  }
  const defaultLimit = positiveInteger("defaultLimit", options?.defaultLimit, DEFAULT_LIMIT)
  const maxLimit = positiveInteger("maxLimit", options?.maxLimit, DEFAULT_MAX_LIMIT)
  if (defaultLimit > maxLimit) throw invalid("defaultLimit", defaultLimit, `must not exceed maxLimit (${maxLimit})`)
  const origins = options?.allowedOrigins ?? "same-origin"
  let allowedOrigins: Api.AllowedOrigins
  if (origins === "same-origin" || origins === "*") {
    allowedOrigins = origins
  } else if (Array.isArray(origins)) {
    for (const origin of origins) {
      if (typeof origin !== "string" || !/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i.test(origin)) {
        throw invalid("allowedOrigins", origin, "an origin is scheme://host[:port], without a path")
      }
    }
    allowedOrigins = origins.map((origin) => origin.toLowerCase())
  } else {
    throw invalid("allowedOrigins", origins, "must be a list of origins, \"same-origin\" or \"*\"")
  }
  const hosts = options?.allowedHosts ?? []
  let allowedHosts: Api.AllowedHosts
  if (hosts === "*") {
    allowedHosts = hosts
  } else if (Array.isArray(hosts)) {
    for (const host of hosts) {
      if (typeof host !== "string" || !HOST.test(host)) {
        throw invalid("allowedHosts", host, "a host is a name (\"logs.example.com\") or a domain (\".example.com\")")
      }
    }
    allowedHosts = hosts.map((host) => host.toLowerCase().replace(/\.$/, ""))
  } else {
    throw invalid("allowedHosts", hosts, "must be a list of host names or \"*\"")
  }
  const list = options?.list ?? false
  if (typeof list !== "boolean") throw invalid("list", list, "must be a boolean")
  const metrics = options?.metrics ?? false
  let metricsPath: string | undefined
  if (metrics === false) {
    metricsPath = undefined
  } else if (metrics === true) {
    metricsPath = DEFAULT_METRICS_PATH
  } else if (typeof metrics === "string" && PREFIX.test(metrics)) {
    metricsPath = metrics
  } else {
    throw invalid("metrics", metrics, "must be a boolean or a path \"/segment[/segment…]\" without a trailing slash")
  }
  if (metricsPath !== undefined && metricsPath === prefix) {
    throw invalid("metrics", metrics, `must not be the prefix itself (${prefix}), where the list is served`)
  }
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
    maxBacklogBytes: positiveInteger("maxBacklogBytes", options?.maxBacklogBytes, DEFAULT_MAX_BACKLOG_BYTES),
    wsMaxMessageBytes: positiveInteger("wsMaxMessageBytes", options?.wsMaxMessageBytes, DEFAULT_WS_MAX_MESSAGE_BYTES),
    wsInboundBytesPerSecond: positiveInteger(
      "wsInboundBytesPerSecond",
      options?.wsInboundBytesPerSecond,
      DEFAULT_WS_INBOUND_BYTES_PER_SECOND
    ),
    wsInboundBurstBytes: positiveInteger(
      "wsInboundBurstBytes",
      options?.wsInboundBurstBytes,
      DEFAULT_WS_INBOUND_BURST_BYTES
    ),
    allowedOrigins,
    allowedHosts,
    list,
    metricsPath
  }
}

/** The options with their defaults, or the first one out of range. @internal */
export const resolve = (options: Api.Options | undefined): Either.Either<Api.ResolvedOptions, InvalidHttpOptions> => {
  try {
    return Either.right(resolveUnsafe(options))
  } catch (error) {
    if (error instanceof InvalidHttpOptions) return Either.left(error)
    throw error
  }
}

/** @internal */
export const make = (options?: Api.Options): Effect.Effect<Api.ReplayHttp, InvalidHttpOptions> =>
  Effect.suspend(() =>
    Either.match(resolve(options), {
      onLeft: (error) => Effect.fail(error),
      onRight: (resolved): Effect.Effect<Api.ReplayHttp> =>
        Effect.succeed<Service>({
          [TypeId]: TypeId,
          options: resolved,
          slots: new Slots(resolved.maxConnections, resolved.maxConnectionsPerBuffer)
        })
    })
  )

/** @internal */
export const layer = (options?: Api.Options): Layer.Layer<Api.ReplayHttp, InvalidHttpOptions> =>
  Layer.effect(tag, make(options))

/** @internal */
export const layerConfig = (
  config: Config.Config.Wrap<Api.Options>
): Layer.Layer<Api.ReplayHttp, InvalidHttpOptions | ConfigError.ConfigError> =>
  Layer.effect(tag, Effect.flatMap(Config.unwrap(config), make))

// --- authorization ---

/** @internal */
export const authorizationTag = Context.GenericTag<Api.Authorization>("@scrollback/platform/ReplayHttp/Authorization")

/** @internal */
export const layerAuthorization = (
  authorize: (request: Api.AuthorizationRequest) => Effect.Effect<void, Denied>
): Layer.Layer<Api.Authorization> => Layer.succeed(authorizationTag, { authorize })

/** @internal */
export const layerAllowAll: Layer.Layer<Api.Authorization> = layerAuthorization(() => Effect.void)

const encoder = new TextEncoder()

/** Compares in time that depends on the lengths only, not on where the first difference is. @internal */
export const constantTimeEqual = (a: string, b: string): boolean => {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  let diff = x.length ^ y.length
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ (y[i % Math.max(1, y.length)] ?? 0)
  return diff === 0
}

/** @internal */
export const DEFAULT_TOKEN_COOKIE = "scrollback_token"
/** @internal */
export const DEFAULT_TOKEN_QUERY = "token"

const cookieValue = (header: string | undefined, name: string): string | undefined => {
  if (header === undefined) return undefined
  for (const part of header.split(";")) {
    const at = part.indexOf("=")
    if (at !== -1 && part.slice(0, at).trim() === name) {
      const value = part.slice(at + 1).trim()
      try {
        return decodeURIComponent(value.startsWith("\"") && value.endsWith("\"") ? value.slice(1, -1) : value)
      } catch {
        return value
      }
    }
  }
  return undefined
}

const queryValue = (url: string, name: string): string | undefined => {
  const at = url.indexOf("?")
  if (at === -1) return undefined
  return new URLSearchParams(url.slice(at + 1)).get(name) ?? undefined
}

/** @internal */
export const tokenMatches = (
  token: Redacted.Redacted<string>,
  request: Pick<Api.AuthorizationRequest, "headers" | "url">,
  options?: Api.AccessTokenOptions
): boolean => {
  const expected = Redacted.value(token)
  const cookie = options?.cookie ?? DEFAULT_TOKEN_COOKIE
  const query = options?.query ?? DEFAULT_TOKEN_QUERY
  const bearer = request.headers["authorization"]
  const candidates = [
    bearer !== undefined && bearer.startsWith("Bearer ") ? bearer.slice(7) : undefined,
    cookie === false ? undefined : cookieValue(request.headers["cookie"], cookie),
    query === false ? undefined : queryValue(request.url, query)
  ]
  // Every candidate is compared (no early exit): the time does not tell which one matched, or how far.
  let matched = false
  for (const candidate of candidates) {
    if (candidate !== undefined && expected.length > 0 && constantTimeEqual(candidate, expected)) matched = true
  }
  return matched
}

/** @internal */
export const accessToken = (
  token: Redacted.Redacted<string>,
  options?: Api.AccessTokenOptions
): (request: Api.AuthorizationRequest) => Effect.Effect<void, Denied> =>
(request) =>
  tokenMatches(token, request, options)
    ? Effect.void
    : Effect.fail(new Denied({ status: 401, message: "a valid access token is required" }))

/** @internal */
export const layerAccessToken = (
  token: Redacted.Redacted<string>,
  options?: Api.AccessTokenOptions
): Layer.Layer<Api.Authorization> => layerAuthorization(accessToken(token, options))

/** @internal */
export const layerBearerToken = (token: Redacted.Redacted<string>): Layer.Layer<Api.Authorization> =>
  layerAuthorization(({ headers }) => {
    const given = headers["authorization"] ?? ""
    const expected = `Bearer ${Redacted.value(token)}`
    return constantTimeEqual(given, expected)
      ? Effect.void
      : Effect.fail(new Denied({ status: 401, message: "a valid bearer token is required" }))
  })
