/**
 * How the transports compose with other routes and servers, and their
 * options. The wire behaviour is the http-test-kit's suites
 * (`Transports.test.ts`), run on both paths.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, it } from "@effect/vitest"
import { ReplayRegistry } from "@scrollback/core"
import { Clients } from "@scrollback/http-test-kit"
import { ReplayHttp, ReplayHttpError } from "@scrollback/platform"
import { Context, Effect, Layer } from "effect"
import * as Http from "node:http"

const { bytes, collectSse, json, request, sse, text } = Clients

describe("ReplayHttp composition", () => {
  it.scopedLive("routes adds the endpoints to an HttpLayerRouter next to other routes", () =>
    Effect.gen(function*() {
      const registry = yield* Effect.orDie(ReplayRegistry.make())
      const buffer = yield* Effect.orDie(registry.create("routed"))
      yield* buffer.write(bytes("via the router"))
      yield* buffer.end
      const Other = HttpLayerRouter.add("GET", "/health", HttpServerResponse.text("ok"))
      const Routes = Layer.mergeAll(ReplayHttp.routes, Other).pipe(
        Layer.provide(ReplayHttp.layer({ prefix: "/r", list: true })),
        Layer.provide(Layer.succeed(ReplayRegistry.ReplayRegistry, registry)),
        Layer.provide(ReplayHttp.layerAllowAll)
      )
      const context = yield* Layer.build(
        HttpLayerRouter.serve(Routes, { disableLogger: true, disableListenLog: true }).pipe(
          Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
        )
      ).pipe(Effect.orDie)
      const address = Context.get(context, HttpServer.HttpServer).address
      const base = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`
      assert.strictEqual(text((yield* request(`${base}/health`)).body), "ok")
      assert.strictEqual(json(yield* request(`${base}/r/routed/info`)).total, 14)
      assert.strictEqual(json(yield* request(`${base}/r`)).buffers.length, 1)
      assert.strictEqual(json(yield* request(`${base}/r/`)).buffers.length, 1)
      assert.strictEqual(text((yield* request(`${base}/r/routed?offset=4`)).body), "the router")
      const collected = yield* collectSse(yield* sse(`${base}/r/routed/sse`))
      assert.strictEqual(text(collected.bytes), "via the router")
      const post = yield* request(`${base}/r/routed`, { method: "POST" })
      assert.deepStrictEqual([post.status, post.headers["allow"], json(post).error._tag], [
        405,
        "GET",
        "MethodNotAllowed"
      ])
      const unknown = yield* request(`${base}/r/routed/nope/deeper`)
      assert.deepStrictEqual([unknown.status, json(unknown).error._tag], [404, "NotFound"])
    }))

  it.scopedLive("serve answers with the registry and authorization of its context; the list is off by default", () =>
    Effect.gen(function*() {
      const registry = yield* Effect.orDie(ReplayRegistry.make())
      yield* Effect.orDie(registry.create("served"))
      const build = (options?: ReplayHttp.Options) =>
        Layer.build(
          ReplayHttp.serve(options).pipe(
            Layer.provide(Layer.succeed(ReplayRegistry.ReplayRegistry, registry)),
            Layer.provide(
              ReplayHttp.layerAuthorization(({ transport }) =>
                transport === "list"
                  ? Effect.fail(new ReplayHttpError.Denied({ status: 403, message: "no listing" }))
                  : Effect.void
              )
            ),
            Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
          )
        ).pipe(Effect.orDie)
      const baseOf = (context: Context.Context<HttpServer.HttpServer>) => {
        const address = Context.get(context, HttpServer.HttpServer).address
        return `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`
      }
      const quiet = baseOf(yield* build())
      assert.strictEqual((yield* request(`${quiet}/scrollback/served/info`)).status, 200)
      const hidden = yield* request(`${quiet}/scrollback/`)
      assert.deepStrictEqual([hidden.status, json(hidden).error._tag], [404, "NotFound"], "no list unless enabled")
      // A path outside every route (or one the router cannot decode) is the JSON 404 too, not the router's empty one.
      for (const path of ["/elsewhere", "/scrollback/%ZZ/sse"]) {
        const outside = yield* request(`${quiet}${path}`)
        assert.deepStrictEqual([outside.status, outside.headers["content-type"], json(outside).error._tag], [
          404,
          "application/json",
          "NotFound"
        ], path)
      }
      const listing = baseOf(yield* build({ list: true }))
      assert.strictEqual((yield* request(`${listing}/scrollback/`)).status, 403, "enabled, and still authorized")
    }))

  it.effect("bad options fail make with InvalidHttpOptions, naming the option", () =>
    Effect.gen(function*() {
      const cases: Array<[ReplayHttp.Options, string]> = [
        [{ maxConnections: 0 }, "maxConnections"],
        [{ maxConnectionsPerBuffer: 1.5 }, "maxConnectionsPerBuffer"],
        [{ prefix: "no-slash" }, "prefix"],
        [{ prefix: "/trailing/" }, "prefix"],
        [{ defaultLimit: 10, maxLimit: 5 }, "defaultLimit"],
        [{ keepAlive: 0 }, "keepAlive"],
        [{ sseRetry: "forever" as never }, "sseRetry"],
        [{ allowedOrigins: ["https://x.example/path"] }, "allowedOrigins"],
        [{ list: "yes" as never }, "list"],
        [{ maxBacklogBytes: -1 }, "maxBacklogBytes"]
      ]
      for (const [options, option] of cases) {
        const error = yield* Effect.flip(ReplayHttp.make(options))
        assert.instanceOf(error, ReplayHttpError.InvalidHttpOptions)
        assert.strictEqual(error.option, option)
      }
      const layerError = yield* Effect.flip(Layer.build(ReplayHttp.layer({ maxLimit: 0 })).pipe(Effect.scoped))
      assert.strictEqual(layerError.option, "maxLimit")
    }))
})
