/**
 * NodeReplayHttp's API: its layer under an `HttpLayerRouter` beside other
 * routes (the streaming endpoints served by the fan-out, the rest by the
 * app), and its options checked like `ReplayHttp`'s.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, it } from "@effect/vitest"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import { Clients } from "@scrollback/http-test-kit"
import * as NodeReplayHttp from "@scrollback/platform-node/NodeReplayHttp"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as ReplayHttpError from "@scrollback/platform/ReplayHttpError"
import { Effect, Fiber, Layer, Scope } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"

describe("NodeReplayHttp", () => {
  it.scopedLive("layer serves ReplayHttp.routes beside other routes; the fan-out serves SSE and WebSocket", () =>
    Effect.gen(function*() {
      const registry = yield* Effect.orDie(ReplayRegistry.make())
      const buffer = yield* Effect.orDie(registry.create("routed"))
      yield* Effect.orDie(buffer.write(Clients.bytes("via the router")))
      const server = Http.createServer()
      const serverScope = yield* Scope.make()
      const Other = HttpLayerRouter.add("GET", "/health", HttpServerResponse.text("ok"))
      yield* Layer.build(
        HttpLayerRouter.serve(Layer.mergeAll(ReplayHttp.routes, Other), { disableLogger: true, disableListenLog: true })
          .pipe(
            Layer.provide(
              NodeReplayHttp.layer(() => server, { port: 0, host: "127.0.0.1" }, { shutdownGrace: "30 seconds" })
            ),
            Layer.provide(ReplayHttp.layer({ prefix: "/r" })),
            Layer.provide(Layer.succeed(ReplayRegistry.ReplayRegistry, registry)),
            Layer.provide(ReplayHttp.layerAllowAll)
          )
      ).pipe(Effect.orDie, Scope.extend(serverScope))
      const port = (server.address() as Net.AddressInfo).port
      const base = `http://127.0.0.1:${port}`
      assert.strictEqual(Clients.text((yield* Clients.request(`${base}/health`)).body), "ok")
      assert.strictEqual(Clients.json(yield* Clients.request(`${base}/r/routed/info`)).total, 14)
      const sse = yield* Clients.sse(`${base}/r/routed/sse`)
      const ws = yield* Clients.ws(port, "/r/routed/ws")
      const readers = yield* Effect.fork(Effect.all([Clients.collectSse(sse), Clients.collectWs(ws)]))
      yield* Effect.orDie(buffer.end)
      const [bySse, byWs] = yield* Fiber.join(readers)
      assert.deepStrictEqual([Clients.text(bySse.bytes), Clients.text(byWs.bytes)], [
        "via the router",
        "via the router"
      ])
      // The server is NodeReplayHttp's: a paused WebSocket client (which never answers its close) holds the
      // shutdown, and meanwhile every request is answered 503 ShuttingDown. It follows a buffer that has not
      // ended: on the ended one, its hello would come with the end and the close, which it could read (and
      // answer) in the same chunk, and then nothing would hold the shutdown.
      yield* Effect.orDie(registry.create("held"))
      const paused = yield* Clients.ws(port, "/r/held/ws")
      assert.strictEqual((yield* paused.next)._tag, "Text")
      yield* paused.pause
      const closing = yield* Effect.fork(Clients.closesWithin(serverScope, "60 seconds"))
      yield* Clients.eventually(Clients.answersWith(`${base}/health`, 503), { message: "the shutdown began" })
      const refused = yield* Clients.request(`${base}/r/routed/sse`)
      assert.deepStrictEqual([refused.status, Clients.json(refused).error._tag], [503, "ShuttingDown"])
      yield* paused.destroy
      assert.isTrue(yield* Fiber.join(closing), "closed once the paused client left")
    }))

  it.effect("bad options fail with InvalidHttpOptions, naming the option", () =>
    Effect.gen(function*() {
      const cases: Array<[NodeReplayHttp.Options, string]> = [
        [{ shutdownGrace: 0 }, "shutdownGrace"],
        [{ shutdownGrace: "forever" as never }, "shutdownGrace"],
        [{ upgradeTimeout: -1 }, "upgradeTimeout"],
        [{ upgradeTimeout: "1 eternity" as never }, "upgradeTimeout"]
      ]
      for (const [options, option] of cases) {
        const error = yield* Effect.flip(
          NodeReplayHttp.make(() => Http.createServer(), { port: 0, host: "127.0.0.1" }, options).pipe(
            Effect.provide(ReplayHttp.layer()),
            Effect.provide(ReplayRegistry.layer()),
            Effect.provide(ReplayHttp.layerAllowAll),
            Effect.scoped
          )
        )
        assert.instanceOf(error, ReplayHttpError.InvalidHttpOptions, option)
        assert.strictEqual((error as ReplayHttpError.InvalidHttpOptions).option, option)
      }
    }))
})
