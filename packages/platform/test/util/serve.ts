/** A portable-path server for the tests: the kit's `Serve`. */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import type { Suites } from "@scrollback/http-test-kit"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import { Effect, Layer } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"

/**
 * A portable-path server in the current scope. The app is served from a
 * layer built on top of the server's layer, so that on shutdown the handlers
 * (and their WebSocket sessions) are interrupted before the server closes.
 */
export const serve: Suites.Serve = (options) =>
  Effect.gen(function*() {
    const registry = yield* Effect.orDie(ReplayRegistry.make())
    const http = yield* Effect.orDie(ReplayHttp.make({ list: true, ...options?.http }))
    const app = yield* ReplayHttp.toHttpApp.pipe(
      Effect.provideService(ReplayHttp.ReplayHttp, http),
      Effect.provideService(ReplayRegistry.ReplayRegistry, registry),
      Effect.provideService(ReplayHttp.Authorization, options?.authorization ?? { authorize: () => Effect.void })
    )
    const nodeServer = Http.createServer()
    yield* Layer.build(
      HttpServer.serve(app).pipe(
        Layer.provideMerge(NodeHttpServer.layer(() => nodeServer, { port: 0, host: "127.0.0.1" }))
      )
    ).pipe(Effect.orDie)
    const port = (nodeServer.address() as Net.AddressInfo).port
    return {
      port,
      base: `http://127.0.0.1:${port}`,
      prefix: http.options.prefix,
      registry,
      create: (key, capacity) => Effect.orDie(registry.create(key, capacity === undefined ? undefined : { capacity })),
      connections: Effect.async<number>((resume) => {
        nodeServer.getConnections((error, count) => resume(error ? Effect.die(error) : Effect.succeed(count)))
      })
    }
  })
