/**
 * A TCP proxy in front of a real redis-server, to lose a reply on purpose:
 * `loseNextReply(i)` lets connection `i` (in the order they were opened)
 * forward its next request, waits for Redis's answer to reach the proxy (so
 * Redis has run the command), then closes both sides without forwarding it.
 * The client sees its connection drop with the command in flight, exactly
 * as when a reply is lost on the network.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as net from "node:net"

export interface Proxy {
  readonly url: string
  /** Connections opened so far, in order. */
  readonly connections: number
  /**
   * Arms connection `index`: its next reply is dropped and the connection
   * closed. Resolves, with the bytes dropped, once it happened.
   */
  readonly loseNextReply: (index: number) => Effect.Effect<string>
}

export const make = (target: () => number): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pairs: Array<{ client: net.Socket; server: net.Socket; lose: ((dropped: string) => void) | undefined }> = []
    const server = net.createServer((client) => {
      const upstream = net.connect({ port: target(), host: "127.0.0.1" })
      const pair = { client, server: upstream, lose: undefined as ((dropped: string) => void) | undefined }
      pairs.push(pair)
      client.on("data", (d) => upstream.write(d))
      upstream.on("data", (d) => {
        if (pair.lose !== undefined) {
          const done = pair.lose
          pair.lose = undefined
          client.destroy()
          upstream.destroy()
          done(d.toString("latin1"))
          return
        }
        client.write(d)
      })
      const close = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on("error", close)
      upstream.on("error", close)
      client.on("close", close)
      upstream.on("close", close)
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const p of pairs) {
            p.client.destroy()
            p.server.destroy()
          }
          server.close(() => resume(Effect.void))
        })
    )
    return {
      url: `redis://127.0.0.1:${port}`,
      get connections() {
        return pairs.length
      },
      loseNextReply: (index) =>
        Effect.async<string>((resume) => {
          pairs[index].lose = (dropped) => resume(Effect.succeed(dropped))
        })
    }
  })
