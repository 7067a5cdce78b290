/**
 * A fault-injecting TCP proxy for tests: it listens on 127.0.0.1 (port 0),
 * forwards every connection to a target, and, per connection, passes the
 * response through, cuts it (destroys both sockets) after a number of
 * response bytes, or stalls it (stops forwarding but keeps the sockets open)
 * after a number of bytes. The plan is drawn from a seeded PRNG, so a run is
 * reproducible from its seed up to the TCP chunking.
 *
 * Bounded: at most `maxConnections` connections are accepted (later ones are
 * refused by closing them at once), and closing the scope closes the server
 * and destroys every socket.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as net from "node:net"

/** What happens to one proxied connection. */
export type Fault =
  | { readonly _tag: "Pass" }
  | { readonly _tag: "Cut"; readonly afterBytes: number }
  | { readonly _tag: "Stall"; readonly afterBytes: number }

export interface FaultProxyOptions {
  readonly target: { readonly host?: string | undefined; readonly port: number }
  readonly seed: number
  /**
   * Chooses the fault for the `index`-th connection (0-based), with the
   * proxy's seeded PRNG (uniform in [0, 1)).
   */
  readonly plan: (index: number, random: () => number) => Fault
  /** Default 10,000. */
  readonly maxConnections?: number | undefined
}

export interface FaultProxyStats {
  /** Connections accepted and forwarded. */
  readonly connections: number
  /** Connections cut by the plan (after the planned bytes were forwarded). */
  readonly cuts: number
  /** Connections stalled by the plan. */
  readonly stalls: number
  /** Response bytes forwarded in all. */
  readonly bytes: number
}

export interface FaultProxy {
  readonly port: number
  /** `http://127.0.0.1:{port}{path}` */
  readonly url: (path: string) => string
  readonly stats: () => FaultProxyStats
  /** Stops forwarding response bytes on every open connection (the sockets stay open). */
  readonly stallAll: Effect.Effect<void>
  /** Destroys every open connection (both sides). */
  readonly cutAll: Effect.Effect<void>
  /** Completes when no proxied connection is open (at once if none is). */
  readonly whenIdle: Effect.Effect<void>
}

/** Mulberry32: a small seeded PRNG, uniform in [0, 1). */
export const prng = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const make = (options: FaultProxyOptions): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly proxy: FaultProxy; readonly close: () => Promise<void> }>((resume) => {
      const random = prng(options.seed)
      const maxConnections = options.maxConnections ?? 10_000
      const sockets = new Set<net.Socket>()
      const links = new Set<{ readonly stall: () => void; readonly cut: () => void }>()
      const idleWaiters = new Set<() => void>()
      const notifyIdle = () => {
        if (links.size > 0) return
        for (const waiter of idleWaiters) waiter()
        idleWaiters.clear()
      }
      let connections = 0
      let cuts = 0
      let stalls = 0
      let bytes = 0
      let closed = false

      const track = (socket: net.Socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => socket.destroy())
      }

      const server = net.createServer((client) => {
        track(client)
        if (closed || connections >= maxConnections) {
          client.destroy()
          return
        }
        const fault = options.plan(connections, random)
        connections++
        const upstream = net.connect({ host: options.target.host ?? "127.0.0.1", port: options.target.port })
        track(upstream)
        let sent = 0
        let stopped = false
        const cut = () => {
          client.destroy()
          upstream.destroy()
        }
        const link = {
          stall: () => {
            stopped = true
            upstream.pause()
          },
          cut
        }
        links.add(link)
        client.on("close", () => {
          links.delete(link)
          notifyIdle()
        })
        client.on("data", (data: Buffer) => {
          if (!stopped) upstream.write(data)
        })
        client.on("close", () => upstream.destroy())
        upstream.on("close", () => {
          if (!stopped) client.destroy()
        })
        upstream.on("data", (data: Buffer) => {
          if (stopped) return
          if (fault._tag === "Pass" || sent + data.length < fault.afterBytes) {
            sent += data.length
            bytes += data.length
            client.write(data)
            return
          }
          const part = data.subarray(0, fault.afterBytes - sent)
          sent += part.length
          bytes += part.length
          stopped = true
          if (fault._tag === "Cut") {
            cuts++
            if (part.length > 0) client.write(part, cut)
            else cut()
          } else {
            stalls++
            if (part.length > 0) client.write(part)
            upstream.pause()
          }
        })
      })

      server.on("error", (error) => resume(Effect.die(error)))
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as net.AddressInfo
        const proxy: FaultProxy = {
          port: address.port,
          url: (path) => `http://127.0.0.1:${address.port}${path}`,
          stats: () => ({ connections, cuts, stalls, bytes }),
          stallAll: Effect.sync(() => {
            for (const link of links) link.stall()
          }),
          cutAll: Effect.sync(() => {
            for (const link of links) link.cut()
          }),
          whenIdle: Effect.async<void>((resume) => {
            if (links.size === 0) return resume(Effect.void)
            const waiter = () => resume(Effect.void)
            idleWaiters.add(waiter)
            return Effect.sync(() => idleWaiters.delete(waiter))
          })
        }
        const close = () =>
          new Promise<void>((resolve) => {
            closed = true
            for (const socket of sockets) socket.destroy()
            server.close(() => resolve())
          })
        resume(Effect.succeed({ proxy, close }))
      })
    }),
    ({ close }) => Effect.promise(close)
  ).pipe(Effect.map(({ proxy }) => proxy))
