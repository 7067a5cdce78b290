import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Api from "../../ReplayHttp.js"
import * as HttpError from "../../ReplayHttpError.js"
import { authorizationTag, Closing, layer, tag } from "./config.js"
import { get } from "./get.js"
import { info, list, metrics } from "./meta.js"
import { badRequest, checkRequest, refusal, refusalResponse } from "./read.js"
import { sse } from "./sse.js"
import { ws } from "./ws.js"

type Services = Api.ReplayHttp | ReplayRegistry.ReplayRegistry | Api.Authorization

/** The `:key` path parameter, decoded and checked. */
const keyParam = Effect.flatMap(HttpRouter.params, (params): Effect.Effect<string, Api.Refusal> => {
  const raw = params["key"] ?? ""
  let key: string
  try {
    key = raw.includes("%") ? decodeURIComponent(raw) : raw
  } catch {
    return Effect.fail(badRequest("key", "not valid percent-encoding"))
  }
  return ReplayRegistry.isValidKey(key)
    ? Effect.succeed(key)
    : Effect.fail(badRequest("key", `a key is 1 to 128 characters of [A-Za-z0-9._~-], got ${JSON.stringify(key)}`))
})

type Handler<R> = (
  request: HttpServerRequest.HttpServerRequest,
  key: string
) => Effect.Effect<HttpServerResponse.HttpServerResponse, Api.Refusal, R>

/** Answers refusals as their JSON body; a refused `Host` or `Origin` with `403`; anything but GET with `405`. */
const respond = <R>(
  request: HttpServerRequest.HttpServerRequest,
  effect: Effect.Effect<HttpServerResponse.HttpServerResponse, Api.Refusal, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | Api.ReplayHttp> =>
  Effect.flatMap(tag, (http) => {
    const checked = checkRequest(http.options, request.headers)
    if (checked !== undefined) return Effect.succeed(refusalResponse(checked))
    return request.method !== "GET"
      ? Effect.succeed(
        refusalResponse(refusal(new HttpError.MethodNotAllowed({ method: request.method }), { allow: "GET" }))
      )
      : Effect.catchAll(effect, (refused) => Effect.succeed(refusalResponse(refused)))
  })

const keyed = <R>(handler: Handler<R>) => (request: HttpServerRequest.HttpServerRequest) =>
  respond(request, Effect.flatMap(keyParam, (key) => handler(request, key)))

/** A JSON `404` (or the `403` of a refused `Host` or `Origin`). */
const notFoundResponse = (http: Api.ReplayHttp, request: HttpServerRequest.HttpServerRequest) =>
  refusalResponse(
    checkRequest(http.options, request.headers) ??
      refusal(new HttpError.NotFound({ path: request.url.split("?")[0] }))
  )

/**
 * The routes, with the services of the layer's context captured, so a
 * request's context need not hold them.
 *
 * @internal
 */
export const routes: Layer.Layer<never, never, HttpLayerRouter.HttpRouter | Services> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const http = yield* tag
    // Streaming answers end when the routes close (see `Closing`).
    const closing = yield* Deferred.make<void>()
    yield* Effect.addFinalizer(() => Deferred.succeed(closing, undefined))
    const context = Context.make(tag, http).pipe(
      Context.add(ReplayRegistry.ReplayRegistry, yield* ReplayRegistry.ReplayRegistry),
      Context.add(authorizationTag, yield* authorizationTag),
      Context.add(Closing, closing)
    )
    const provide = <R>(
      handler: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<
        HttpServerResponse.HttpServerResponse,
        never,
        R
      >
    ) =>
    (request: HttpServerRequest.HttpServerRequest) =>
      Effect.provide(handler(request), context) as Effect.Effect<
        HttpServerResponse.HttpServerResponse,
        never,
        Exclude<R, Services>
      >
    const router = yield* HttpLayerRouter.HttpRouter
    const prefix = http.options.prefix
    const base = prefix === "" ? "" : prefix
    const root = (prefix === "" ? "/" : prefix) as `/${string}`
    // The router ignores a trailing slash: this is `{prefix}` and `{prefix}/`.
    yield* router.add("*", root, provide((request) => respond(request, list(request))))
    yield* router.add("*", `${base}/:key` as `/${string}`, provide(keyed(get)))
    yield* router.add("*", `${base}/:key/sse` as `/${string}`, provide(keyed(sse)))
    yield* router.add("*", `${base}/:key/ws` as `/${string}`, provide(keyed(ws)))
    yield* router.add("*", `${base}/:key/info` as `/${string}`, provide(keyed(info)))
    const metricsPath = http.options.metricsPath
    if (metricsPath !== undefined) {
      yield* router.add("*", metricsPath as `/${string}`, provide((request) => respond(request, metrics(request))))
    }
    yield* router.add("*", `${base}/*` as `/${string}`, (request) => Effect.succeed(notFoundResponse(http, request)))
  })
)

/**
 * The router's configuration for these routes: `find-my-way` matches a
 * parameter of at most 100 characters by default, and a key may have 128
 * (three times that, percent-encoded).
 *
 * @internal
 */
export const ROUTER_CONFIG = { maxParamLength: 3 * ReplayRegistry.MAX_KEY_LENGTH } as const

const routerConfig = Layer.succeed(HttpLayerRouter.RouterConfig, ROUTER_CONFIG)

/** @internal */
export const toHttpApp: Effect.Effect<
  HttpApp.Default<never, Scope.Scope>,
  never,
  Services | Scope.Scope
> = Effect.flatMap(tag, (http) =>
  Effect.map(
    // Built with a memo map of its own (`Layer.build`), so each app has its own router and captured services.
    Layer.build(Layer.provideMerge(routes, HttpLayerRouter.layer.pipe(Layer.provide(routerConfig)))),
    (context) =>
      // Every route answers for itself; a path outside them all is a JSON 404, anything else a defect.
      Effect.catchAll(
        Context.get(context, HttpLayerRouter.HttpRouter).asHttpEffect(),
        (error) =>
          error instanceof HttpServerError.RouteNotFound
            ? Effect.succeed(notFoundResponse(http, error.request))
            : Effect.die(error)
      )
  ))

/**
 * Serves the app of {@link toHttpApp} (not the bare routes): a path outside
 * every route is then the JSON `404` too, not the router's empty one.
 *
 * @internal
 */
export const serve = (
  options?: Api.Options
): Layer.Layer<
  never,
  HttpError.InvalidHttpOptions,
  HttpServer.HttpServer | ReplayRegistry.ReplayRegistry | Api.Authorization
> => serveApp.pipe(Layer.provide(layer(options)))

/** The app of {@link toHttpApp} on the `HttpServer` in the context, for the service in the context. @internal */
export const serveApp: Layer.Layer<never, never, HttpServer.HttpServer | Services> = Layer.unwrapScoped(
  Effect.map(toHttpApp, (app) => HttpServer.serve(app))
)
