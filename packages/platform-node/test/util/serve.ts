/** A NodeReplayHttp server for the tests: the kit's `Serve`, plus what the Node-only tests look into. */
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import type { Suites } from "@scrollback/http-test-kit"
import * as NodeReplayHttp from "@scrollback/platform-node/NodeReplayHttp"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import { Effect, Layer, type Scope } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"

export interface NodeTestServer extends Suites.TestServer {
  /** The Node server itself (to watch its sockets). */
  readonly server: Http.Server
}

export interface NodeServeOptions extends Suites.ServeOptions {
  readonly node?: NodeReplayHttp.Options | undefined
}

/** `NodeReplayHttp.serve` on 127.0.0.1 (port 0) in the current scope, with a registry of its own. */
export const serveNode = (options?: NodeServeOptions): Effect.Effect<NodeTestServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* Effect.orDie(ReplayRegistry.make())
    const server = Http.createServer()
    const http = { list: true, ...options?.http }
    yield* Layer.build(
      NodeReplayHttp.serve(() => server, { port: 0, host: "127.0.0.1" }, { ...http, ...options?.node }).pipe(
        Layer.provide(Layer.succeed(ReplayRegistry.ReplayRegistry, registry)),
        Layer.provide(
          Layer.succeed(ReplayHttp.Authorization, options?.authorization ?? { authorize: () => Effect.void })
        )
      )
    ).pipe(Effect.orDie)
    const port = (server.address() as Net.AddressInfo).port
    return {
      port,
      base: `http://127.0.0.1:${port}`,
      prefix: http.prefix ?? ReplayHttp.DEFAULT_PREFIX,
      registry,
      server,
      create: (key, capacity) => Effect.orDie(registry.create(key, capacity === undefined ? undefined : { capacity })),
      connections: Effect.async<number>((resume) => {
        server.getConnections((error, count) => resume(error ? Effect.die(error) : Effect.succeed(count)))
      })
    }
  })

/** The kit's `Serve`. */
export const serve: Suites.Serve = serveNode
