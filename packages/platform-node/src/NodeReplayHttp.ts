/**
 * scrollback's streaming transports on Node, served at the cost of a
 * hand-written server: an `HttpServer` (as `NodeHttpServer`'s) that answers
 * `GET {prefix}/:key/sse` and `{prefix}/:key/ws` itself, with the fan-out
 * writer — per buffer, each written range is read once, encoded once per wire
 * format and written to every caught-up connection; a connection that is
 * behind reads through a cursor of its own until it catches up. No fiber and
 * no Stream per connection.
 *
 * What needs Node lives here too: flow control on the socket (a connection
 * that stops draining is written no more until it drains, and each message
 * carries at most a quarter of `maxBacklogBytes`, so Node holds less than that
 * for it; one that still holds more is closed, `4429` on WebSocket; an SSE
 * response that drains nothing for two `keepAlive` periods is dropped), the
 * WebSocket handshake on the `ws` library (a client that leaves mid-handshake
 * frees its slot at once), server pings that find dead peers, a per-time
 * budget on what a WebSocket client sends (pings answered, not punished; time
 * read from the Effect `Clock`), and a shutdown that always completes (every
 * request answered `503 ShuttingDown`, connections asked to go, then
 * destroyed after `shutdownGrace`).
 *
 * Every other endpoint (`GET {prefix}/:key`, `/info`, the list) is the app's:
 * serve `ReplayHttp.routes` on this server. The checks, limits and wire format
 * are `@scrollback/platform`'s (`ReplayHttp.prepareRead`, `ReplayProtocol`),
 * so both paths answer alike.
 *
 * @since 0.1.0
 */
import type * as NodeContext from "@effect/platform-node/NodeContext"
import type * as Etag from "@effect/platform/Etag"
import type * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import type * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import type * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import type { InvalidHttpOptions } from "@scrollback/platform/ReplayHttpError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { LazyArg } from "effect/Function"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Http from "node:http"
import type * as Net from "node:net"
import * as internal from "./internal/layer.js"
import * as server from "./internal/server.js"

/**
 * The default grace given to connections at shutdown before they are
 * destroyed: 1 second.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SHUTDOWN_GRACE: Duration.Duration = server.DEFAULT_SHUTDOWN_GRACE

/**
 * The default bound on a WebSocket handshake handed to `ws`: 5 seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_UPGRADE_TIMEOUT: Duration.Duration = server.DEFAULT_UPGRADE_TIMEOUT

/**
 * The server's own options (the transports' are `ReplayHttp.Options`). Each
 * duration must be positive and finite: anything else fails with
 * `InvalidHttpOptions`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** At shutdown, connections still open this long after they were asked to go are destroyed. Default 1 second. */
  readonly shutdownGrace?: Duration.DurationInput | undefined
  /** A WebSocket handshake that has not completed in this time is dropped, freeing its slot. Default 5 seconds. */
  readonly upgradeTimeout?: Duration.DurationInput | undefined
  /**
   * A span per streaming connection (`ReplayHttp.sse` / `ReplayHttp.ws`, see
   * `ReplayTracing`), opened when it starts following and ended when it
   * closes, with no fiber. Default: on when a tracer other than Effect's
   * built-in one is installed where the server is made
   * (`ReplayTracing.isTracing`), off otherwise — the built-in tracer's spans
   * are seen by no one, and a span held by each idle connection costs memory.
   */
  readonly connectionSpans?: boolean | undefined
}

/**
 * The options of {@link serve}: the server's, and routes of your own served
 * beside the endpoints (a page's files, a health check). Routes outside the
 * prefix are yours; check `ReplayHttp.checkRequest` in them to refuse the
 * same hosts and origins as the endpoints.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServeOptions extends Options {
  readonly routes?: Layer.Layer<never, never, HttpLayerRouter.HttpRouter> | undefined
}

/**
 * The server, in the current scope: listens (as `NodeHttpServer.make`), and
 * serves the streaming endpoints of the `ReplayHttp` in the context itself.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  evaluate: LazyArg<Http.Server>,
  listen: Net.ListenOptions,
  options?: Options
) => Effect.Effect<
  HttpServer.HttpServer,
  ServeError | InvalidHttpOptions,
  Scope.Scope | ReplayHttp.ReplayHttp | ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization
> = server.make

/**
 * The server as a layer, with what `NodeHttpServer.layer` provides beside it.
 *
 * @example
 * ```ts
 * import { HttpLayerRouter } from "@effect/platform"
 * import { ReplayRegistry } from "@scrollback/core"
 * import { ReplayHttp } from "@scrollback/platform"
 * import { NodeReplayHttp } from "@scrollback/platform-node"
 * import { Layer } from "effect"
 * import { createServer } from "node:http"
 *
 * const Main = HttpLayerRouter.serve(ReplayHttp.routes).pipe(
 *   Layer.provide(NodeReplayHttp.layer(createServer, { port: 7681, host: "127.0.0.1" })),
 *   Layer.provide(ReplayHttp.layer({ prefix: "/logs" })),
 *   Layer.provide(ReplayRegistry.layer()),
 *   Layer.provide(ReplayHttp.layerAllowAll)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  evaluate: LazyArg<Http.Server>,
  listen: Net.ListenOptions,
  options?: Options
) => Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform | Etag.Generator | NodeContext.NodeContext,
  ServeError | InvalidHttpOptions,
  ReplayHttp.ReplayHttp | ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization
> = internal.layer

/**
 * Everything at once: the `ReplayHttp` service with `options`, its routes
 * (and `options.routes` beside them), and this server listening. Needs a
 * registry and an authorization. An `ReplayInteractive` service provided to
 * it (such as `@scrollback/terminal`'s `TerminalControl.layer`) makes
 * WebSockets opened with `?terminal=1` interactive sessions.
 *
 * @example
 * ```ts
 * import { ReplayRegistry } from "@scrollback/core"
 * import { ReplayHttp } from "@scrollback/platform"
 * import { NodeReplayHttp } from "@scrollback/platform-node"
 * import { Layer } from "effect"
 * import { createServer } from "node:http"
 *
 * const Main = NodeReplayHttp.serve(createServer, { port: 7681, host: "127.0.0.1" }).pipe(
 *   Layer.provide(ReplayRegistry.layer()),
 *   Layer.provide(ReplayHttp.layerAllowAll)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const serve: (
  evaluate: LazyArg<Http.Server>,
  listen: Net.ListenOptions,
  options?: ReplayHttp.Options & ServeOptions
) => Layer.Layer<
  never,
  ServeError | InvalidHttpOptions,
  ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization
> = internal.serve
