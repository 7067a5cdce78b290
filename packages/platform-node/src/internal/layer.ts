import type * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as Etag from "@effect/platform/Etag"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import type { InvalidHttpOptions } from "@scrollback/platform/ReplayHttpError"
import * as Effect from "effect/Effect"
import type { LazyArg } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Http from "node:http"
import type * as Net from "node:net"
import type * as Api from "../NodeReplayHttp.js"
import { make } from "./server.js"

/** @internal */
export const layer = (
  evaluate: LazyArg<Http.Server>,
  listen: Net.ListenOptions,
  options?: Api.Options
): Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform | Etag.Generator | NodeContext.NodeContext,
  ServeError | InvalidHttpOptions,
  ReplayHttp.ReplayHttp | ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization
> => Layer.mergeAll(Layer.scoped(HttpServer.HttpServer, make(evaluate, listen, options)), NodeHttpServer.layerContext)

/**
 * The service, the app of `ReplayHttp.toHttpApp` (its routes, and a JSON
 * `404` for every other path) or its routes beside `options.routes`, and
 * this server, sharing one `ReplayHttp`.
 *
 * @internal
 */
export const serve = (
  evaluate: LazyArg<Http.Server>,
  listen: Net.ListenOptions,
  options?: ReplayHttp.Options & Api.ServeOptions
): Layer.Layer<never, ServeError | InvalidHttpOptions, ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization> =>
  (options?.routes === undefined
    ? Layer.unwrapScoped(Effect.map(ReplayHttp.toHttpApp, (app) => HttpServer.serve(app)))
    // Beside other routes: a path outside all of them is the router's own 404.
    : HttpLayerRouter.serve(Layer.mergeAll(ReplayHttp.routes, options.routes), {
      routerConfig: { maxParamLength: 3 * ReplayRegistry.MAX_KEY_LENGTH },
      disableLogger: true,
      disableListenLog: true
    })).pipe(
      Layer.provide(layer(evaluate, listen, options)),
      Layer.provideMerge(ReplayHttp.layer(options))
    ) as Layer.Layer<never, ServeError | InvalidHttpOptions, ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization>
