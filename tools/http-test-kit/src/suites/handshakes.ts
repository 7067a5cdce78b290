/**
 * Clients that give up: WebSocket handshakes and SSE requests aborted at
 * random points (seeded) must leave every connection slot free and the
 * server able to shut down promptly with clients attached.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Scope from "effect/Scope"
import { bytes } from "../bytes.js"
import { abortHandshake, attemptArb, delayingAuthorization } from "../handshakes.js"
import { closesWithin, eventually, status } from "../http.js"
import type { Serve } from "../server.js"
import { nextEvent, sse, type SseConnection } from "../sse.js"
import { ws, type WsConnection } from "../ws.js"

export interface AbortedOptions {
  /** How many aborted requests. Default 10,000. */
  readonly aborts?: number | undefined
  readonly seed?: number | undefined
}

const DEFAULT_SEED = 0x5c0_11ba

export const abortedSuite = (serve: Serve, options?: AbortedOptions): void => {
  const aborts = options?.aborts ?? 10_000
  const seed = options?.seed ?? DEFAULT_SEED
  describe("aborted requests", () => {
    it.scopedLive(
      `${aborts} WebSocket and SSE requests aborted at random points (seed ${seed}) leave every slot free`,
      () =>
        Effect.gen(function*() {
          const serverScope = yield* Scope.make()
          const perBuffer = 6
          const overall = 10
          const server = yield* serve({
            http: { maxConnections: overall, maxConnectionsPerBuffer: perBuffer },
            authorization: delayingAuthorization
          }).pipe(Scope.extend(serverScope))
          const a = yield* server.create("a")
          yield* server.create("b")
          yield* Effect.orDie(a.write(bytes("some bytes to replay")))

          // Three in four are WebSocket handshakes, the rest SSE requests.
          const attempts = fc.sample(attemptArb(["a", "b"], ["ws", "ws", "ws", "sse"]), { seed, numRuns: aborts })
          const outcomes = yield* Effect.forEach(
            attempts,
            (attempt) => abortHandshake(server.port, server.prefix, attempt),
            { concurrency: 16 }
          )
          const hung = outcomes.filter((outcome) => outcome === "hung").length
          assert.strictEqual(hung, 0, `${hung} attempts were still open after 10 s (seed ${seed})`)
          yield* eventually(Effect.map(server.connections, (n) => n === 0), {
            message: `the server lets go of every aborted connection (seed ${seed})`
          })

          // Every slot is free: exactly `perBuffer` clients fit on one buffer, and `overall` on the server.
          const clients: Array<WsConnection> = []
          for (let i = 0; i < perBuffer; i++) {
            const conn = yield* ws(server.port, `${server.prefix}/a/ws`)
            assert.strictEqual(conn.status, 101, `client ${i} on "a" (seed ${seed})`)
            assert.strictEqual((yield* conn.next)._tag, "Text") // the hello: it holds a slot
            clients.push(conn)
          }
          assert.strictEqual(
            (yield* ws(server.port, `${server.prefix}/a/ws`)).status,
            429,
            `"a" holds exactly ${perBuffer} (seed ${seed})`
          )
          assert.strictEqual(yield* status(`${server.base}${server.prefix}/a/sse`), 429)
          const sses: Array<SseConnection> = []
          for (let i = perBuffer; i < overall; i++) {
            const conn = yield* sse(`${server.base}${server.prefix}/b/sse`)
            assert.strictEqual(conn.status, 200, `client ${i} on "b" (seed ${seed})`)
            yield* nextEvent(conn)
            sses.push(conn)
          }
          assert.strictEqual(
            (yield* ws(server.port, `${server.prefix}/b/ws`)).status,
            503,
            `the server holds exactly ${overall} (seed ${seed})`
          )

          // Shutdown with those clients attached: each WebSocket gets 1001 and the server's close completes.
          assert.isTrue(yield* closesWithin(serverScope, "5 seconds"), "the server closed within 5 s")
          for (const conn of clients) {
            let message = yield* conn.next
            while (message._tag === "Binary") message = yield* conn.next // the replay of "a"
            assert.deepStrictEqual(message._tag === "Close" ? message.code : message._tag, 1001)
          }
          for (const conn of sses) {
            yield* conn.closed
            assert.notInclude(conn.raw(), "event: end")
          }
        }),
      240_000
    )
  })
}
