/**
 * NodeReplayHttp with clients that give up: 10,000 WebSocket handshakes and
 * SSE requests aborted at random points (seeded) must leave every connection
 * slot free and the server able to shut down promptly.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clients, Handshakes } from "@scrollback/http-test-kit"
import { Effect, FastCheck as fc, Scope } from "effect"
import { serveNode } from "./util/serve.js"

const SEED = 0x5c0_11ba
const ABORTS = 10_000

describe("NodeReplayHttp: aborted handshakes", () => {
  it.scopedLive(
    `${ABORTS} WebSocket and SSE requests aborted at random points (seed ${SEED}) leave every slot free`,
    () =>
      Effect.gen(function*() {
        const serverScope = yield* Scope.make()
        const perBuffer = 6
        const overall = 10
        const server = yield* serveNode({
          http: { maxConnections: overall, maxConnectionsPerBuffer: perBuffer },
          authorization: Handshakes.delayingAuthorization
        }).pipe(Scope.extend(serverScope))
        const a = yield* server.create("a")
        yield* server.create("b")
        yield* a.write(Clients.bytes("some bytes to replay"))

        // Three in four are WebSocket handshakes, the rest SSE requests.
        const attempts = fc.sample(Handshakes.attemptArb(["a", "b"], ["ws", "ws", "ws", "sse"]), {
          seed: SEED,
          numRuns: ABORTS
        })
        const outcomes = yield* Effect.forEach(
          attempts,
          (attempt) => Handshakes.abortHandshake(server.port, server.prefix, attempt),
          { concurrency: 16 }
        )
        const hung = outcomes.filter((outcome) => outcome === "hung").length
        assert.strictEqual(hung, 0, `${hung} attempts were still open after 10 s (seed ${SEED})`)
        yield* Clients.eventually(Effect.map(server.connections, (n) => n === 0), {
          message: `the server lets go of every aborted connection (seed ${SEED})`
        })

        // Every slot is free: exactly `perBuffer` clients fit on one buffer, and `overall` on the server.
        const clients: Array<Clients.WsConnection> = []
        for (let i = 0; i < perBuffer; i++) {
          const conn = yield* Clients.ws(server.port, "/scrollback/a/ws")
          assert.strictEqual(conn.status, 101, `client ${i} on "a" (seed ${SEED})`)
          assert.strictEqual((yield* conn.next)._tag, "Text") // the hello: it holds a slot
          clients.push(conn)
        }
        assert.strictEqual(
          (yield* Clients.ws(server.port, "/scrollback/a/ws")).status,
          429,
          `"a" holds exactly ${perBuffer} (seed ${SEED})`
        )
        assert.strictEqual(yield* Clients.status(`${server.base}/scrollback/a/sse`), 429)
        const sses: Array<Clients.SseConnection> = []
        for (let i = perBuffer; i < overall; i++) {
          const conn = yield* Clients.sse(`${server.base}/scrollback/b/sse`)
          assert.strictEqual(conn.status, 200, `client ${i} on "b" (seed ${SEED})`)
          yield* Clients.nextEvent(conn)
          sses.push(conn)
        }
        assert.strictEqual(
          (yield* Clients.ws(server.port, "/scrollback/b/ws")).status,
          503,
          `the server holds exactly ${overall} (seed ${SEED})`
        )

        // Shutdown with those clients attached: each WebSocket gets 1001, each SSE response ends without an end
        // event, and the server's close completes.
        assert.isTrue(yield* Clients.closesWithin(serverScope, "5 seconds"), "the server closed within 5 s")
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
