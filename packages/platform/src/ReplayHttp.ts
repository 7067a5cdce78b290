/**
 * HTTP transports for the buffers of a `ReplayRegistry`: server-sent events
 * that a stock `EventSource` resumes, WebSocket with binary frames that carry
 * their offset, plain and long-poll GET, and JSON metadata — the wire
 * protocol of `ReplayProtocol`, described in the package README ("Serving
 * buffers over HTTP").
 *
 * Three parts:
 *
 * - the `ReplayHttp` service: the checked options and the connection limits
 *   (made with {@link make} / {@link layer}, which fail with
 *   `InvalidHttpOptions` on a bad option);
 * - {@link routes}: the endpoints on an `HttpLayerRouter`, with their path,
 *   query and headers decoded by `ReplayProtocol`'s schemas;
 * - {@link Authorization}: a required service — serving without deciding
 *   who may read does not compile ({@link layerAllowAll} is the explicit
 *   way to allow everyone).
 *
 * On Node, `@scrollback/platform-node` serves the same endpoints with bounded
 * socket backlogs, WebSocket pings and a fan-out writer that needs no fiber
 * per connection.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/http/service.js"
import type { Denied, InvalidHttpOptions } from "./ReplayHttpError.js"
import type * as ReplayProtocol from "./ReplayProtocol.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The default path prefix: `/scrollback`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PREFIX: string = internal.DEFAULT_PREFIX

/**
 * The default bound on streaming connections (SSE, WebSocket, waiting
 * long-polls) over all buffers: 10,000. Over it, new ones get `503`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_CONNECTIONS: number = internal.DEFAULT_MAX_CONNECTIONS

/**
 * The default bound on streaming connections per buffer: 1,000. Over it, new
 * ones get `429`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_CONNECTIONS_PER_BUFFER: number = internal.DEFAULT_MAX_CONNECTIONS_PER_BUFFER

/**
 * The default idle time after which an SSE connection gets a `: ping`
 * comment: 15 seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_KEEP_ALIVE: Duration.Duration = internal.DEFAULT_KEEP_ALIVE

/**
 * The default SSE `retry:` sent to clients: 1 second.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SSE_RETRY: Duration.Duration = internal.DEFAULT_SSE_RETRY

/**
 * The default bound on a long-poll's `wait`: 30 seconds (a larger `wait` is
 * clamped to it).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_LONG_POLL_MAX_WAIT: Duration.Duration = internal.DEFAULT_LONG_POLL_MAX_WAIT

/**
 * Where `metrics: true` serves the metrics: `/metrics`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_METRICS_PATH: string = internal.DEFAULT_METRICS_PATH

/**
 * The default `limit` of a GET: 1 MiB (1,048,576 bytes).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_LIMIT: number = internal.DEFAULT_LIMIT

/**
 * The default largest `limit` a GET accepts: 8 MiB (8,388,608 bytes); above
 * it the answer is `413`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_LIMIT: number = internal.DEFAULT_MAX_LIMIT

/**
 * The default bound on what the runtime holds unsent for one connection:
 * 4 MiB (4,194,304 bytes). Enforced where the runtime exposes it
 * (`@scrollback/platform-node`; see {@link Options}).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_BACKLOG_BYTES: number = internal.DEFAULT_MAX_BACKLOG_BYTES

/**
 * The default bound on one WebSocket message from a client: 4 KiB. A larger
 * one closes the connection with `1009`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_WS_MAX_MESSAGE_BYTES: number = internal.DEFAULT_WS_MAX_MESSAGE_BYTES

/**
 * The default bound on what a WebSocket client may send over time: 16 KiB
 * per second, with bursts of up to 64 KiB (a token bucket; control frames
 * such as pings count too). Past it the connection is closed with `1008`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_WS_INBOUND_BYTES_PER_SECOND: number = internal.DEFAULT_WS_INBOUND_BYTES_PER_SECOND

/**
 * The default burst of the inbound token bucket: 64 KiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_WS_INBOUND_BURST_BYTES: number = internal.DEFAULT_WS_INBOUND_BURST_BYTES

/**
 * Which browser origins may use the endpoints (every one of them: SSE,
 * WebSocket, GET, info, list): a list of exact origins
 * (`"https://app.example.com"`), `"same-origin"` (the `Origin` host equals
 * the `Host` header) or `"*"` (any). A request without `Origin` (not a
 * browser, or a same-origin GET) is always allowed. A refusal is `403
 * OriginNotAllowed`.
 *
 * @since 0.1.0
 * @category models
 */
export type AllowedOrigins = ReadonlyArray<string> | "same-origin" | "*"

/**
 * Which `Host` headers the endpoints answer to, against DNS rebinding (a
 * page on `evil.example` whose name is made to resolve to this server sends
 * `Host: evil.example`, and is same-origin with itself):
 *
 * - always allowed: IP literals (`127.0.0.1:7681`, `[::1]`), `localhost`
 *   and `*.localhost`, and a request without `Host` (not a browser);
 * - each entry of the list: a name (`"logs.example.com"`, any port), or a
 *   domain with its subdomains (`".example.com"`);
 * - `"*"`: any host (behind a proxy that checks it, say).
 *
 * The default, `[]`, allows the loopback and IP literals only. A refusal is
 * `403 HostNotAllowed`.
 *
 * @since 0.1.0
 * @category models
 */
export type AllowedHosts = ReadonlyArray<string> | "*"

/**
 * The options of the transports. Every number must be a positive safe
 * integer and every duration positive and finite: anything else fails
 * {@link make} with `InvalidHttpOptions`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The path prefix of every endpoint: `""` or `/segment[/segment…]`. Default `"/scrollback"`. */
  readonly prefix?: string | undefined
  /** Streaming connections (SSE, WebSocket, waiting long-polls) over all buffers. Default 10,000; over it → `503`. */
  readonly maxConnections?: number | undefined
  /** Streaming connections per buffer. Default 1,000; over it → `429`. */
  readonly maxConnectionsPerBuffer?: number | undefined
  /**
   * An SSE connection with nothing sent for this long gets a `: ping` comment;
   * on Node, WebSocket clients are pinged every half of it. Default 15 seconds.
   */
  readonly keepAlive?: Duration.DurationInput | undefined
  /** The `retry:` sent at the start of each SSE response. Default 1 second. */
  readonly sseRetry?: Duration.DurationInput | undefined
  /** The longest a long-poll waits; a larger `wait` is clamped to it. Default 30 seconds. */
  readonly longPollMaxWait?: Duration.DurationInput | undefined
  /** The `limit` of a GET without one. Default 1 MiB. */
  readonly defaultLimit?: number | undefined
  /** The largest `limit` a GET accepts; above it → `413`. Default 8 MiB. */
  readonly maxLimit?: number | undefined
  /**
   * On Node (`@scrollback/platform-node`): the most bytes held unsent for one
   * connection. Flow control keeps a connection that stops reading below it
   * (it is written no more until it drains, and each message carries at most
   * a quarter of this); one that still holds more is closed (WebSocket:
   * `4429`, SSE: ended) and resumes by offset. Values below the socket's
   * high-water mark (16 KiB) close connections that merely have bytes in
   * flight. Not enforced on the portable path. Default 4 MiB.
   */
  readonly maxBacklogBytes?: number | undefined
  /** The largest WebSocket message a client may send. Default 4 KiB. */
  readonly wsMaxMessageBytes?: number | undefined
  /** On Node: what a WebSocket client may send per second, pings included (past it: `1008`). Default 16 KiB. */
  readonly wsInboundBytesPerSecond?: number | undefined
  /** On Node: the burst of that budget. Default 64 KiB. */
  readonly wsInboundBurstBytes?: number | undefined
  /** Browser origins allowed to use the endpoints. Default `"same-origin"`. */
  readonly allowedOrigins?: AllowedOrigins | undefined
  /** `Host` names the endpoints answer to (see {@link AllowedHosts}). Default `[]`: IP literals and `localhost`. */
  readonly allowedHosts?: AllowedHosts | undefined
  /**
   * Serve the list of buffers (`GET {prefix}`). Default `false`: the list
   * tells every key to whoever asks, so it is off unless asked for (and then
   * still subject to {@link Authorization}, with `transport: "list"`).
   */
  readonly list?: boolean | undefined
  /**
   * Serve the metrics in the Prometheus text format: `true` at
   * {@link DEFAULT_METRICS_PATH} (`/metrics`, outside the prefix), or at the
   * path given (`/segment[/segment…]`). Default `false`: no endpoint (`404`).
   * Subject to {@link Authorization}, with `transport: "metrics"` and no key.
   * Every metric of Effect's registry is served, the application's own
   * included, after `ReplayMetrics.refresh`.
   */
  readonly metrics?: boolean | string | undefined
}

/**
 * The options with their defaults applied, durations in milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedOptions {
  readonly prefix: string
  readonly maxConnections: number
  readonly maxConnectionsPerBuffer: number
  readonly keepAliveMillis: number
  readonly sseRetryMillis: number
  readonly longPollMaxWaitMillis: number
  readonly defaultLimit: number
  readonly maxLimit: number
  readonly maxBacklogBytes: number
  readonly wsMaxMessageBytes: number
  readonly wsInboundBytesPerSecond: number
  readonly wsInboundBurstBytes: number
  readonly allowedOrigins: AllowedOrigins
  readonly allowedHosts: AllowedHosts
  readonly list: boolean
  /** Where the metrics are served, or `undefined` (the default: not served). */
  readonly metricsPath: string | undefined
}

/**
 * The transports' service: the checked options and the connection limits
 * (permits of Effect `Semaphore`s, one for the server and one per buffer),
 * shared by every route and by the Node adapter.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayHttp {
  readonly [TypeId]: TypeId
  readonly options: ResolvedOptions
}

/**
 * @since 0.1.0
 * @category tags
 */
export const ReplayHttp: Context.Tag<ReplayHttp, ReplayHttp> = internal.tag

/**
 * Checks the options and makes the connection limits.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayHttp } from "@scrollback/platform"
 *
 * const program = Effect.gen(function*() {
 *   const http = yield* ReplayHttp.make({ prefix: "/logs", maxConnections: 500 })
 *   return http.options.maxConnectionsPerBuffer // 1000, the default
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<ReplayHttp, InvalidHttpOptions> = internal.make

/**
 * The service as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Options) => Layer.Layer<ReplayHttp, InvalidHttpOptions> = internal.layer

/**
 * The service with its options read from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { ReplayHttp } from "@scrollback/platform"
 *
 * const HttpLive = ReplayHttp.layerConfig({
 *   prefix: Config.string("SCROLLBACK_PREFIX").pipe(Config.withDefault(ReplayHttp.DEFAULT_PREFIX)),
 *   maxConnections: Config.integer("SCROLLBACK_MAX_CONNECTIONS").pipe(
 *     Config.withDefault(ReplayHttp.DEFAULT_MAX_CONNECTIONS)
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config: Config.Config.Wrap<Options>
) => Layer.Layer<ReplayHttp, InvalidHttpOptions | ConfigError.ConfigError> = internal.layerConfig

// -----------------------------------------------------------------------------
// authorization
// -----------------------------------------------------------------------------

/**
 * The endpoint a request is for.
 *
 * @since 0.1.0
 * @category models
 */
export type Transport = "sse" | "ws" | "get" | "info" | "list" | "metrics"

/**
 * What the authorization hook is asked about: the buffer's key (`undefined`
 * for the list), the endpoint, and the request's method, URL, headers and
 * remote address.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizationRequest {
  readonly key: string | undefined
  readonly transport: Transport
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly remoteAddress: string | undefined
}

/**
 * Who may read what: a required service. It runs for every request after
 * the path and parameters were decoded and before the buffer is looked up
 * (so a refused client cannot learn which keys exist). A refusal is answered
 * with its `Denied` status.
 *
 * @since 0.1.0
 * @category models
 */
export interface Authorization {
  readonly authorize: (request: AuthorizationRequest) => Effect.Effect<void, Denied>
}

/**
 * The service tag. There is no default: every server decides who may read.
 *
 * @since 0.1.0
 * @category tags
 */
export const Authorization: Context.Tag<Authorization, Authorization> = internal.authorizationTag

/**
 * An authorization hook from a function.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayHttp, ReplayHttpError } from "@scrollback/platform"
 *
 * const TeamOnly = ReplayHttp.layerAuthorization(({ headers, key }) =>
 *   key !== undefined && key.startsWith("team-") && headers["x-team"] === "blue"
 *     ? Effect.void
 *     : Effect.fail(new ReplayHttpError.Denied({ status: 403, message: "team blue only" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAuthorization: (
  authorize: (request: AuthorizationRequest) => Effect.Effect<void, Denied>
) => Layer.Layer<Authorization> = internal.layerAuthorization

/**
 * Requires `Authorization: Bearer <token>` on every request (compared in
 * constant time); anything else is refused with `401`.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { ReplayHttp } from "@scrollback/platform"
 *
 * const TokenAuth = ReplayHttp.layerBearerToken(Redacted.make("let-me-in"))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerBearerToken: (token: Redacted.Redacted<string>) => Layer.Layer<Authorization> =
  internal.layerBearerToken

/**
 * Where {@link accessToken} looks for the token, besides
 * `Authorization: Bearer <token>`: a cookie (default `scrollback_token`) and
 * a query parameter (default `token`); `false` turns one off.
 *
 * @since 0.1.0
 * @category models
 */
export interface AccessTokenOptions {
  readonly cookie?: string | false | undefined
  readonly query?: string | false | undefined
}

/**
 * The default cookie {@link accessToken} reads: `scrollback_token`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TOKEN_COOKIE: string = internal.DEFAULT_TOKEN_COOKIE

/**
 * The default query parameter {@link accessToken} reads: `token`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TOKEN_QUERY: string = internal.DEFAULT_TOKEN_QUERY

/**
 * Whether a request carries `token`: as `Authorization: Bearer <token>`, in
 * the cookie or in the query parameter of {@link AccessTokenOptions}. Every
 * place is compared in constant time (the time depends on the lengths only),
 * and all of them are compared. An empty token matches nothing.
 *
 * @since 0.1.0
 * @category authorization
 */
export const tokenMatches: (
  token: Redacted.Redacted<string>,
  request: Pick<AuthorizationRequest, "headers" | "url">,
  options?: AccessTokenOptions
) => boolean = internal.tokenMatches

/**
 * An authorization function that requires an access token (see
 * {@link tokenMatches}), refusing others with `401`: for
 * {@link layerAuthorization}, or to decide who may type into a terminal
 * (`@scrollback/terminal`'s `TerminalControl`). A browser page gets the
 * cookie from its server (the token in the URL once, as Jupyter does), so
 * its `EventSource` and `WebSocket` carry it.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { ReplayHttp } from "@scrollback/platform"
 *
 * const check = ReplayHttp.accessToken(Redacted.make("s3cret"))
 * const allowed = check({
 *   key: "build",
 *   transport: "sse",
 *   method: "GET",
 *   url: "/scrollback/build/sse?token=s3cret",
 *   headers: {},
 *   remoteAddress: "127.0.0.1"
 * }) // Effect.void
 * ```
 *
 * @since 0.1.0
 * @category authorization
 */
export const accessToken: (
  token: Redacted.Redacted<string>,
  options?: AccessTokenOptions
) => (request: AuthorizationRequest) => Effect.Effect<void, Denied> = internal.accessToken

/**
 * Requires the access token (see {@link accessToken}) on every request.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAccessToken: (
  token: Redacted.Redacted<string>,
  options?: AccessTokenOptions
) => Layer.Layer<Authorization> = internal.layerAccessToken

/**
 * Allows every request: anyone who can reach the server may read every
 * buffer. Choose it explicitly, for a server on a trusted network.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAllowAll: Layer.Layer<Authorization> = internal.layerAllowAll

// -----------------------------------------------------------------------------
// serving
// -----------------------------------------------------------------------------

/**
 * Adds the endpoints to an `HttpLayerRouter`: `GET {prefix}/:key` (plain GET
 * and long-poll), `{prefix}/:key/sse`, `{prefix}/:key/ws`,
 * `{prefix}/:key/info` and, with `list: true`, `{prefix}`; other methods on
 * them answer `405`, other paths under the prefix a JSON `404`. Compose with
 * other routes and serve with `HttpLayerRouter.serve`.
 *
 * @example
 * ```ts
 * import { HttpLayerRouter } from "@effect/platform"
 * import { ReplayRegistry } from "@scrollback/core"
 * import { ReplayHttp } from "@scrollback/platform"
 * import { Layer } from "effect"
 *
 * const Server = HttpLayerRouter.serve(ReplayHttp.routes).pipe(
 *   Layer.provide(ReplayHttp.layer({ prefix: "/logs" })),
 *   Layer.provide(ReplayRegistry.layer()),
 *   Layer.provide(ReplayHttp.layerAllowAll)
 * ) // then provide an HttpServer, e.g. NodeHttpServer.layer(...)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const routes: Layer.Layer<
  never,
  never,
  HttpLayerRouter.HttpRouter | ReplayHttp | ReplayRegistry.ReplayRegistry | Authorization
> = internal.routes

/**
 * The endpoints as an app that routes by itself, for `HttpServer.serve` or
 * `HttpRouter.mountApp(prefix, app, { includePrefix: true })`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toHttpApp: Effect.Effect<
  HttpApp.Default<never, Scope.Scope>,
  never,
  ReplayHttp | ReplayRegistry.ReplayRegistry | Authorization | Scope.Scope
> = internal.toHttpApp

/**
 * Serves only these endpoints on the `HttpServer` in the context.
 *
 * @example
 * ```ts
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { ReplayRegistry } from "@scrollback/core"
 * import { ReplayHttp } from "@scrollback/platform"
 * import { Layer } from "effect"
 * import { createServer } from "node:http"
 *
 * const Main = ReplayHttp.serve().pipe(
 *   Layer.provide(ReplayRegistry.layer()),
 *   Layer.provide(ReplayHttp.layerAllowAll),
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 7681, host: "127.0.0.1" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const serve: (
  options?: Options
) => Layer.Layer<
  never,
  InvalidHttpOptions,
  HttpServer.HttpServer | ReplayRegistry.ReplayRegistry | Authorization
> = internal.serve

/**
 * The metrics in the Prometheus text format (0.0.4), as the `metrics`
 * endpoint serves them: every metric of Effect's registry, the storage's
 * brought up to date first (`ReplayMetrics.snapshot`). For serving them on
 * a route or port of your own.
 *
 * @example
 * ```ts
 * import { HttpLayerRouter, HttpServerResponse } from "@effect/platform"
 * import { ReplayHttp } from "@scrollback/platform"
 * import { Effect } from "effect"
 *
 * const Metrics = HttpLayerRouter.add(
 *   "GET",
 *   "/internal/metrics",
 *   Effect.map(ReplayHttp.metricsText, (text) =>
 *     HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const metricsText: Effect.Effect<string> = internal.metricsText

// -----------------------------------------------------------------------------
// for adapters
// -----------------------------------------------------------------------------

/**
 * A read as an adapter sees it (a server that serves the streaming
 * transports itself, such as `@scrollback/platform-node`'s fan-out): the
 * transport, the decoded key and the request's query, headers, method, URL
 * and remote address.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadRequest {
  readonly transport: "sse" | "ws" | "get"
  readonly key: string
  readonly query: Readonly<Record<string, string | undefined>>
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly method: string
  readonly url: string
  readonly remoteAddress: string | undefined
}

/**
 * What a read may go ahead with: the buffer, its cursor (made in one step with
 * the `hello`'s snapshot), and the release of its connection slot (call it
 * when the connection ends; calling it again does nothing). `atEnd` is
 * `true` for an SSE resume at the end of an ended buffer (answered `204`,
 * holding no slot).
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadPlan {
  readonly buffer: ReplayBuffer.ReplayBuffer
  readonly cursor: ReplayCursor.ReplayCursor
  readonly hello: ReplayProtocol.Hello
  readonly release: () => void
  readonly atEnd: boolean
  /**
   * A WebSocket refused for its parameters or position: upgrade, then close
   * with `ReplayProtocol.closeCodeOf(refused.error)` (browsers cannot read
   * the status of a refused handshake).
   */
  readonly refused: Refusal | undefined
}

/**
 * A refusal: the error (its status is `ReplayProtocol.statusOf(error)`) and
 * extra response headers (`Retry-After`, `Allow`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Refusal {
  readonly error: ReplayProtocol.WireError
  readonly headers: Readonly<Record<string, string>>
}

/**
 * Every check of a streaming read, in the order the endpoints run them: the
 * query and the `Last-Event-ID` decoded, the WebSocket origin and handshake,
 * the authorization hook, the buffer looked up, the cursor made (the start
 * resolved and checked, the hello's snapshot taken), and a connection slot
 * taken. For adapters that serve the transports themselves; the routes use it
 * too, so both answer alike.
 *
 * @since 0.1.0
 * @category adapters
 */
export const prepareRead: (
  request: ReadRequest
) => Effect.Effect<ReadPlan, Refusal, ReplayHttp | ReplayRegistry.ReplayRegistry | Authorization> = internal.prepareRead

/**
 * The checks every endpoint makes first, for adapters and for routes served
 * beside these (a page's own files): the `Host` (`allowedHosts`), then the
 * `Origin` (`allowedOrigins`). `undefined` when both pass.
 *
 * @since 0.1.0
 * @category adapters
 */
export const checkRequest: (
  options: ResolvedOptions,
  headers: Readonly<Record<string, string | undefined>>
) => Refusal | undefined = internal.checkRequest

/**
 * The answer to a refusal: its status, `Cache-Control: no-store`, its
 * headers and the JSON body `ReplayProtocol.ErrorBody`.
 *
 * @since 0.1.0
 * @category adapters
 */
export const refusalResponse: (refused: Refusal) => HttpServerResponse.HttpServerResponse = internal.refusalResponse

/**
 * The request description the authorization hook and {@link prepareRead}
 * see, read off an `HttpServerRequest`.
 *
 * @since 0.1.0
 * @category adapters
 */
export const readRequest: (
  request: HttpServerRequest.HttpServerRequest,
  transport: "sse" | "ws" | "get",
  key: string
) => ReadRequest = internal.readRequest
