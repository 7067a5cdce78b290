/**
 * NodeReplayHttp's WebSocket liveness: what a client sends is metered per
 * time (a token bucket on the Effect `Clock`, driven here by `TestClock`),
 * so keep-alive pings for hours never run it out while a flood is closed
 * with 1008; the server's own pings find dead peers and terminate them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clients } from "@scrollback/http-test-kit"
import { Effect, TestClock } from "effect"
import { serveNode } from "./util/serve.js"

const codeOf = (message: Clients.WsMessage) => message._tag === "Close" ? message.code : message._tag

describe("NodeReplayHttp WebSocket inbound budget", () => {
  it.scoped("a client pinging every 30 s for 3 hours (TestClock) gets its pongs and stays", () =>
    Effect.gen(function*() {
      // 1 KiB at once, 128 bytes a second: a lifetime budget would be gone after 46 of these 22-byte pings.
      const server = yield* serveNode({ http: { wsInboundBurstBytes: 1024, wsInboundBytesPerSecond: 128 } })
      const buffer = yield* server.create("ping")
      const conn = yield* Clients.ws(server.port, "/scrollback/ping/ws")
      assert.strictEqual(conn.status, 101)
      assert.strictEqual((yield* conn.next)._tag, "Text") // hello
      for (let i = 0; i < 360; i++) {
        const payload = Clients.bytes(`keep-alive ${String(i).padStart(5, "0")}`)
        yield* conn.sendPing(payload)
        const answer = yield* conn.next
        assert.strictEqual(answer._tag, "Pong", `ping ${i} at ${i * 30} s`)
        assert.deepStrictEqual((answer as { payload: Uint8Array }).payload, payload)
        yield* TestClock.adjust("30 seconds")
      }
      yield* buffer.write(Clients.bytes("still here"))
      const frame = yield* conn.next
      assert.strictEqual(frame._tag, "Binary")
      assert.strictEqual(Clients.text(Clients.binaryOffset((frame as { bytes: Uint8Array }).bytes).bytes), "still here")
    }))

  it.scoped("the budget refills with time; a faster sender is closed with 1008 and frees its slot", () =>
    Effect.gen(function*() {
      const server = yield* serveNode({
        http: { wsInboundBurstBytes: 1024, wsInboundBytesPerSecond: 128, maxConnectionsPerBuffer: 1 }
      })
      yield* server.create("rate")
      const conn = yield* Clients.ws(server.port, "/scrollback/rate/ws")
      assert.strictEqual((yield* conn.next)._tag, "Text") // hello
      // The largest control frame: 125 bytes of payload, 131 on the wire. 7 of them fit in 1 KiB (917 bytes).
      const payload = new Uint8Array(125).fill(0x61)
      const sevenPings = Effect.gen(function*() {
        for (let i = 0; i < 7; i++) {
          yield* conn.sendPing(payload)
          assert.strictEqual((yield* conn.next)._tag, "Pong")
        }
      })
      yield* sevenPings
      yield* TestClock.adjust("8 seconds") // 8 × 128 = 1,024 bytes: the bucket is full again
      yield* sevenPings
      // No time passes: 2 more (262 bytes) overdraw the 107 bytes left.
      yield* conn.sendPing(payload)
      yield* conn.sendPing(payload)
      let pongs = 0
      while (true) {
        const message = yield* conn.next
        if (message._tag === "Pong") {
          pongs++
          continue
        }
        assert.deepStrictEqual(message, { _tag: "Close", code: 1008, reason: "inbound rate exceeded" })
        break
      }
      // `ws` may answer the pings that arrived in the same read before the budget's watcher sees them.
      assert.isAtMost(pongs, 2)
      assert.strictEqual(codeOf(yield* conn.next), "SocketClosed")
      assert.strictEqual((yield* Clients.ws(server.port, "/scrollback/rate/ws")).status, 101, "its slot is free")
    }))
})

describe("NodeReplayHttp WebSocket pings", () => {
  it.scopedLive(
    "the server pings; a peer that answers stays, one that does not is terminated",
    () =>
      Effect.gen(function*() {
        // A ping every second; a peer that answered nothing (and read nothing) by the next tick is dead.
        const server = yield* serveNode({ http: { keepAlive: "2 seconds", maxConnectionsPerBuffer: 3 } })
        const buffer = yield* server.create("k")
        const reporting = yield* Clients.ws(server.port, "/scrollback/k/ws", undefined, { pings: "report" })
        const answering = yield* Clients.ws(server.port, "/scrollback/k/ws")
        const dead = yield* Clients.ws(server.port, "/scrollback/k/ws", undefined, { pings: "ignore" })
        for (const conn of [reporting, answering, dead]) assert.strictEqual((yield* conn.next)._tag, "Text")
        // The server's ping arrives; the dead peer's connection is destroyed without a close frame.
        assert.strictEqual((yield* reporting.next)._tag, "Ping")
        assert.strictEqual(codeOf(yield* dead.next), "SocketClosed")
        // Its slot is free, and the peer that answers is still served.
        const again = yield* Clients.ws(server.port, "/scrollback/k/ws")
        assert.strictEqual(again.status, 101)
        yield* buffer.write(Clients.bytes("alive"))
        let message = yield* answering.next
        while (message._tag === "Pong") message = yield* answering.next
        assert.strictEqual(Clients.text(Clients.binaryOffset((message as { bytes: Uint8Array }).bytes).bytes), "alive")
      }),
    30_000
  )
})
