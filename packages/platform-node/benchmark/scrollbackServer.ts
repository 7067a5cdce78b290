/**
 * How the benchmarks start scrollback's server: the one place to change when
 * the transports change. Public API only, over a `ReplayRegistry`
 * (`@scrollback/core`) the caller creates its buffers in:
 *
 * - `"node"` (what `scrollback` measures): `NodeReplayHttp.serve`, the fan-out
 *   writer with no fiber per connection;
 * - `"portable"`: `ReplayHttp.serve` on `NodeHttpServer.layer`, the
 *   runtime-agnostic path (an Effect Stream per connection), for comparison.
 *
 * `SCROLLBACK_BENCH_CONNECTION_SPANS=1` in the environment (the server
 * children inherit it) turns on the fan-out's span per connection
 * (`connectionSpans: true`; spans of Effect's built-in tracer, made and held
 * until the connection closes), to measure what they cost: e.g.
 * `SCROLLBACK_BENCH_CONNECTION_SPANS=1 node --expose-gc --import tsx benchmark/idle.ts`.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import { ReplayRegistry } from "@scrollback/core"
import { ReplayHttp } from "@scrollback/platform"
import { NodeReplayHttp } from "@scrollback/platform-node"
import { Context, Effect, Layer, Scope } from "effect"
import * as Http from "node:http"

export interface ScrollbackServer {
  readonly port: number
  readonly registry: ReplayRegistry.ReplayRegistry
}

/** Which of scrollback's servers: the Node fan-out, or the portable path. */
export type ScrollbackPath = "node" | "portable"

/**
 * Serves `/scrollback/{key}/sse` and `/scrollback/{key}/ws` on 127.0.0.1 (a
 * free port) with the default options, besides connection limits raised to
 * admit `followers` on one key (plus a few warm-up clients on another). The
 * server lives as long as the process. Everyone may read (a benchmark on
 * loopback).
 */
export const startScrollback = async (options: {
  readonly followers: number
  readonly defaultCapacity: number
  readonly path?: ScrollbackPath
}): Promise<ScrollbackServer> => {
  const http: ReplayHttp.Options = {
    maxConnections: Math.max(ReplayHttp.DEFAULT_MAX_CONNECTIONS, options.followers + 100),
    maxConnectionsPerBuffer: Math.max(ReplayHttp.DEFAULT_MAX_CONNECTIONS_PER_BUFFER, options.followers)
  }
  const listen = { port: 0, host: "127.0.0.1" }
  const served = options.path === "portable"
    ? ReplayHttp.serve(http).pipe(Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), listen)))
    // The streaming endpoints only: the fan-out serves them before any app would.
    : NodeReplayHttp.layer(() => Http.createServer(), listen, {
      connectionSpans: process.env["SCROLLBACK_BENCH_CONNECTION_SPANS"] === "1" ? true : undefined
    }).pipe(Layer.provideMerge(ReplayHttp.layer(http)))
  const layer = served.pipe(
    Layer.provideMerge(ReplayRegistry.layer({ defaultCapacity: options.defaultCapacity })),
    Layer.provide(ReplayHttp.layerAllowAll)
  )
  const context = await Effect.runPromise(Layer.buildWithScope(layer, Effect.runSync(Scope.make())))
  const server = Context.get(context, HttpServer.HttpServer)
  if (server.address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return { port: server.address.port, registry: Context.get(context, ReplayRegistry.ReplayRegistry) }
}
