import type * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as Etag from "@effect/platform/Etag"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import type { InvalidHttpOptions } from "@scrollback/platform/ReplayHttpError"
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
  ServeError,
  ReplayHttp.ReplayHttp | ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization
> => Layer.mergeAll(Layer.scoped(HttpServer.HttpServer, make(evaluate, listen, options)), NodeHttpServer.layerContext)

/** @internal */
export const serve = (
  evaluate: LazyArg<Http.Server>,
  listen: Net.ListenOptions,
  options?: ReplayHttp.Options & Api.ServeOptions
): Layer.Layer<never, ServeError | InvalidHttpOptions, ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization> =>
  HttpLayerRouter.serve(
    options?.routes === undefined ? ReplayHttp.routes : Layer.mergeAll(ReplayHttp.routes, options.routes),
    { disableLogger: true, disableListenLog: true }
  ).pipe(
    Layer.provide(layer(evaluate, listen, options)),
    Layer.provideMerge(ReplayHttp.layer(options))
  ) as Layer.Layer<never, ServeError | InvalidHttpOptions, ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization>
