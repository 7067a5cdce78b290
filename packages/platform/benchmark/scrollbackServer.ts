/**
 * How the benchmarks start scrollback's server: the one place to change when
 * the transports change. Public API only: `ReplayHttp.layer` (SSE and
 * WebSocket) on `NodeHttpServer.layer`, over a `ReplayRegistry` (`@scrollback/core`)
 * the caller creates its buffers in.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import { ReplayRegistry } from "@scrollback/core"
import { ReplayHttp } from "@scrollback/platform"
import { Context, Effect, Layer, Scope } from "effect"
import * as Http from "node:http"

export interface ScrollbackServer {
  readonly port: number
  readonly registry: ReplayRegistry.ReplayRegistry
}

/**
 * Serves `/scrollback/{key}/sse` and `/scrollback/{key}/ws` on 127.0.0.1 (a
 * free port) with the default options, besides connection limits raised to
 * admit `followers` on one key (plus a few warm-up clients on another). The
 * server lives as long as the process.
 */
export const startScrollback = async (options: {
  readonly followers: number
  readonly defaultCapacity: number
}): Promise<ScrollbackServer> => {
  const layer = ReplayHttp.layer({
    maxConnections: Math.max(ReplayHttp.DEFAULT_MAX_CONNECTIONS, options.followers + 100),
    maxConnectionsPerBuffer: Math.max(ReplayHttp.DEFAULT_MAX_CONNECTIONS_PER_BUFFER, options.followers)
  }).pipe(
    Layer.provideMerge(ReplayRegistry.layer({ defaultCapacity: options.defaultCapacity })),
    Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
  )
  const context = await Effect.runPromise(Layer.buildWithScope(layer, Effect.runSync(Scope.make())))
  const server = Context.get(context, HttpServer.HttpServer)
  if (server.address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return { port: server.address.port, registry: Context.get(context, ReplayRegistry.ReplayRegistry) }
}
