/**
 * HTTP transports for the buffers of a `ReplayRegistry`: server-sent events
 * that a stock `EventSource` resumes, WebSocket with binary frames that carry
 * their offset, plain and long-poll GET, and JSON metadata — the wire
 * protocol v1 described in the package README ("Serving buffers over HTTP").
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/httpApp.js"
import type { Denied } from "./ReplayHttpError.js"

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
 * The default bound on streaming connections per buffer key: 1,000. Over it,
 * new ones get `429`.
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
 * The default bound on a WebSocket's unsent bytes: 4 MiB (4,194,304 bytes).
 * Past it the connection is closed with `4429`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_WS_MAX_BACKLOG_BYTES: number = internal.DEFAULT_WS_MAX_BACKLOG_BYTES

/**
 * Which browser origins may open a WebSocket: a list of exact origins
 * (`"https://app.example.com"`), `"same-origin"` (the `Origin` host equals
 * the `Host` header) or `"*"` (any). A request without `Origin` (not a
 * browser) is always allowed.
 *
 * @since 0.1.0
 * @category models
 */
export type AllowedOrigins = ReadonlyArray<string> | "same-origin" | "*"

/**
 * Every numeric option must be a positive safe integer (durations: positive);
 * an invalid value is a defect when the app is built.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The path prefix of every endpoint: `""` or `/segment[/segment…]`. Default `"/scrollback"`. */
  readonly prefix?: string | undefined
  /** Streaming connections (SSE, WebSocket, waiting long-polls) over all buffers. Default 10,000; over it → `503`. */
  readonly maxConnections?: number | undefined
  /** Streaming connections per buffer key. Default 1,000; over it → `429`. */
  readonly maxConnectionsPerBuffer?: number | undefined
  /** An SSE connection with nothing sent for this long gets a `: ping` comment. Default 15 seconds. */
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
   * A WebSocket whose unsent bytes exceed this is closed with `4429` (the
   * client resumes by offset). Keep it at least the buffers' capacity so a
   * full replay fits. Default 4 MiB.
   */
  readonly wsMaxBacklogBytes?: number | undefined
  /** Browser origins allowed to open a WebSocket. Default `"same-origin"`. */
  readonly allowedOrigins?: AllowedOrigins | undefined
}

/**
 * The endpoint a request is for.
 *
 * @since 0.1.0
 * @category models
 */
export type Transport = "sse" | "ws" | "get" | "info" | "list"

/**
 * What the authorization hook is asked about. `key` is `undefined` for the
 * list endpoint.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizationRequest {
  readonly key: string | undefined
  readonly transport: Transport
  readonly request: HttpServerRequest.HttpServerRequest
}

/**
 * The authorization hook, a service users supply. It runs for every request
 * after the path and parameters were parsed and before the buffer is looked
 * up (so a refused client cannot learn which keys exist). Without it in the
 * context, every request is allowed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Authorization {
  readonly authorize: (request: AuthorizationRequest) => Effect.Effect<void, Denied>
}

/**
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
 * import { ReplayHttp } from "@scrollback/platform"
 *
 * const TokenAuth = ReplayHttp.layerAuthorization(({ request }) =>
 *   request.headers["authorization"] === "Bearer let-me-in"
 *     ? Effect.void
 *     : Effect.fail(new ReplayHttpError.Denied({ status: 401, message: "a bearer token is required" }))
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
 * The default hook: allows every request.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAllowAll: Layer.Layer<Authorization> = internal.layerAllowAll

/**
 * The app: every endpoint under `prefix`, routed by the app itself from the
 * request's full path, so serve it directly (`HttpServer.serve(app)`) or
 * mount it keeping the prefix
 * (`HttpRouter.mountApp(prefix, app, { includePrefix: true })`). Other paths
 * get a JSON `404`, other methods `405`.
 *
 * Each request reads the `ReplayRegistry` and the optional
 * {@link Authorization} from its context, and needs a `Scope` (provided by
 * `HttpServer.serve` and the routers) that releases its connection slot even
 * if its response is never streamed.
 *
 * The options are checked (an invalid one is a defect, thrown here) and the
 * connection counters allocated when this function is called: call it once
 * and reuse the app, so every request shares the same limits.
 *
 * @example
 * ```ts
 * import { HttpServer } from "@effect/platform"
 * import { Layer } from "effect"
 * import { ReplayRegistry } from "@scrollback/core"
 * import { ReplayHttp } from "@scrollback/platform"
 *
 * const Server = HttpServer.serve(ReplayHttp.httpApp({ prefix: "/logs" })).pipe(
 *   Layer.provide(ReplayRegistry.layer())
 * ) // then provide an HttpServer, e.g. NodeHttpServer.layer(...)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const httpApp: (
  options?: Options
) => HttpApp.Default<never, ReplayRegistry.ReplayRegistry | Scope.Scope> = internal.httpApp

/**
 * Adds the endpoints to an `HttpLayerRouter` (routes `GET {prefix}` and
 * `GET {prefix}/*`), to compose with other routes and serve with
 * `HttpLayerRouter.serve`.
 *
 * @example
 * ```ts
 * import { HttpLayerRouter } from "@effect/platform"
 * import { Layer } from "effect"
 * import { ReplayRegistry } from "@scrollback/core"
 * import { ReplayHttp } from "@scrollback/platform"
 *
 * const Routes = ReplayHttp.layerRouter().pipe(Layer.provide(ReplayRegistry.layer()))
 * const Server = HttpLayerRouter.serve(Routes) // needs an HttpServer
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRouter: (
  options?: Options
) => Layer.Layer<never, never, HttpLayerRouter.HttpRouter | ReplayRegistry.ReplayRegistry> = internal.layerRouter

/**
 * Serves {@link httpApp} on the `HttpServer` in the context (for a server
 * that only speaks this protocol).
 *
 * @example
 * ```ts
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { createServer } from "node:http"
 * import { ReplayRegistry } from "@scrollback/core"
 * import { ReplayHttp } from "@scrollback/platform"
 *
 * const Main = ReplayHttp.layer().pipe(
 *   Layer.provide(ReplayRegistry.layer()),
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 7681, host: "127.0.0.1" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options?: Options
) => Layer.Layer<never, never, HttpServer.HttpServer | ReplayRegistry.ReplayRegistry> = internal.layer
