/**
 * The portable path as a {@link Serve}: `ReplayHttp.toHttpApp` served by
 * `HttpServer.serve` on `NodeHttpServer` (a Stream per SSE and WebSocket
 * connection) — the reference every other server is compared with.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type * as Net from "node:net"
import type * as Stream from "node:stream"
import type { ServeOptions, TestServer } from "./server.js"

export interface PortableServeOptions extends ServeOptions {
  /**
   * Sees the app before it is served (e.g. to count the requests in flight,
   * or to observe when a WebSocket session ends). Default: the app as it is.
   */
  readonly wrap?: ((app: HttpApp.Default<never, Scope.Scope>) => HttpApp.Default<never, Scope.Scope>) | undefined
}

/**
 * A portable-path server in the current scope: the Node server first, then
 * the app (`toHttpApp`), then the handlers, so that a shutdown (closing the
 * scope) releases them in the other order: the handlers go, the app's routes
 * close (streaming answers end, WebSocket sessions say `1001`), and the Node
 * server's close, which waits for its connections, completes.
 */
export const serve = (options?: PortableServeOptions): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* Effect.orDie(ReplayRegistry.make())
    const http = yield* Effect.orDie(ReplayHttp.make({ list: true, ...options?.http }))
    const nodeServer = Http.createServer()
    // `NodeHttpServer` (0.108) writes to upgrade sockets without an error listener (Node removes its own): a peer
    // that leaves first is an uncaught EPIPE. The platform README tells users of this path to do the same.
    nodeServer.prependListener("upgrade", (_request: Http.IncomingMessage, socket: Stream.Duplex) => {
      socket.on("error", () => {})
    })
    const context = yield* Layer.build(NodeHttpServer.layer(() => nodeServer, { port: 0, host: "127.0.0.1" })).pipe(
      Effect.orDie
    )
    const base = yield* ReplayHttp.toHttpApp.pipe(
      Effect.provideService(ReplayHttp.ReplayHttp, http),
      Effect.provideService(ReplayRegistry.ReplayRegistry, registry),
      Effect.provideService(ReplayHttp.Authorization, options?.authorization ?? { authorize: () => Effect.void })
    )
    const app = options?.wrap ? options.wrap(base) : base
    yield* HttpServer.serveEffect(app).pipe(Effect.provide(context))
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
