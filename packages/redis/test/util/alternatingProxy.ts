/**
 * A TCP proxy in front of several server instances, as a load balancer that
 * sends each new connection to the next instance in turn (connection `i` to
 * `targets[i % n]`), and cuts connections on purpose: connection `i` is cut
 * (both sockets destroyed) after `cutAfter(i, random, requestLine)` response
 * bytes (decided when its first request line arrives), or passed through
 * whole when that is `undefined`. The PRNG is seeded, so a run's plan is
 * reproducible up to TCP chunking.
 *
 * It counts, per target, the connections and the requests whose request line
 * matches `countRequests` (e.g. every `GET …/sse`), so a test can check that
 * every instance served its share. Closing the scope closes the server and
 * destroys every socket.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as net from "node:net"

export interface AlternatingProxyOptions {
  readonly targets: ReadonlyArray<number>
  readonly seed: number
  /**
   * Response bytes after which connection `index` is cut, given its first
   * request line (`GET /path HTTP/1.1`); `undefined`: never.
   */
  readonly cutAfter: (index: number, random: () => number, requestLine: string) => number | undefined
  /** Request lines (`METHOD path HTTP/1.1`) to count per target. */
  readonly countRequests?: RegExp | undefined
}

export interface AlternatingProxy {
  readonly port: number
  readonly url: (path: string) => string
  readonly stats: () => {
    readonly connections: number
    /** Connections cut by the plan or by `cutAll`, among those the plan would cut. */
    readonly cuts: number
    /** Of those, the ones cut by the plan (at a random byte). */
    readonly plannedCuts: number
    readonly perTarget: ReadonlyArray<{ readonly connections: number; readonly requests: number }>
  }
  /** Destroys every open connection (a drop, counted in `cuts` for those the plan would cut). */
  readonly cutAll: Effect.Effect<void>
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

export const make = (options: AlternatingProxyOptions): Effect.Effect<AlternatingProxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly proxy: AlternatingProxy; readonly close: () => Promise<void> }>((resume) => {
      const random = prng(options.seed)
      const sockets = new Set<net.Socket>()
      const open = new Set<() => void>()
      const perTarget = options.targets.map(() => ({ connections: 0, requests: 0 }))
      let connections = 0
      let cuts = 0
      let plannedCuts = 0
      let closed = false
      const track = (socket: net.Socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => socket.destroy())
      }
      const server = net.createServer((client) => {
        track(client)
        if (closed) return client.destroy()
        const index = connections++
        const target = index % options.targets.length
        perTarget[target].connections++
        const upstream = net.connect({ host: "127.0.0.1", port: options.targets[target] })
        track(upstream)
        let cutAfter: number | undefined = undefined
        let planned = false
        let stopped = false
        const cut = () => {
          client.destroy()
          upstream.destroy()
        }
        const drop = () => {
          if (!stopped && cutAfter !== undefined) {
            stopped = true
            cuts++
          }
          cut()
        }
        open.add(drop)
        client.on("close", () => {
          open.delete(drop)
          upstream.destroy()
        })
        upstream.on("close", () => client.destroy())
        let head = ""
        client.on("data", (data: Buffer) => {
          // Request lines: keep the text since the last line break (requests are small).
          head += data.toString("latin1")
          const lines = head.split("\r\n")
          head = lines.pop() ?? ""
          for (const line of lines) {
            if (!planned && line !== "") {
              planned = true
              cutAfter = options.cutAfter(index, random, line)
            }
            if (options.countRequests?.test(line) === true) perTarget[target].requests++
          }
          upstream.write(data)
        })
        let sent = 0
        upstream.on("data", (data: Buffer) => {
          if (stopped) return
          if (cutAfter === undefined || sent + data.length < cutAfter) {
            sent += data.length
            client.write(data)
            return
          }
          stopped = true
          cuts++
          plannedCuts++
          const part = data.subarray(0, cutAfter - sent)
          sent += part.length
          if (part.length > 0) client.write(part, cut)
          else cut()
        })
      })
      server.on("error", (error) => resume(Effect.die(error)))
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port
        resume(Effect.succeed({
          proxy: {
            port,
            url: (path) => `http://127.0.0.1:${port}${path}`,
            stats: () => ({ connections, cuts, plannedCuts, perTarget: perTarget.map((t) => ({ ...t })) }),
            cutAll: Effect.sync(() => {
              for (const drop of Array.from(open)) drop()
            })
          },
          close: () =>
            new Promise<void>((resolve) => {
              closed = true
              for (const socket of sockets) socket.destroy()
              server.close(() => resolve())
            })
        }))
      })
    }),
    ({ close }) => Effect.promise(close)
  ).pipe(Effect.map(({ proxy }) => proxy))
