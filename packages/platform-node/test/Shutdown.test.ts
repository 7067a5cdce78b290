/**
 * NodeReplayHttp's shutdown with clients attached: it completes within a
 * few seconds whatever they do (reading, stalled with megabytes pending,
 * paused), refuses what comes meanwhile with 503 ShuttingDown, and never
 * writes to a response it ended.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clients } from "@scrollback/http-test-kit"
import { Effect, Fiber, Scope } from "effect"
import { serveNode } from "./util/serve.js"
import { watchSockets } from "./util/sockets.js"

/** 16 MiB in 256 KiB writes: more than the kernel's and Node's buffers hold for a client that reads nothing. */
const flood = (write: (bytes: Uint8Array) => Effect.Effect<void, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 64; i++) {
      yield* Effect.orDie(write(Clients.pattern(256 * 1024, i)))
      yield* Effect.yieldNow()
    }
  })

describe("NodeReplayHttp shutdown", () => {
  it.scopedLive("with reading, stalled and paused SSE and WebSocket clients, the server closes within 5 s", () =>
    Effect.gen(function*() {
      const serverScope = yield* Scope.make()
      const server = yield* serveNode({ http: { maxBacklogBytes: 1024 * 1024 * 1024 } }).pipe(
        Scope.extend(serverScope)
      )
      const buffer = yield* server.create("k", 64 * 1024 * 1024)
      const base = server.base

      const reading = yield* Clients.sse(`${base}/scrollback/k/sse`)
      assert.strictEqual(reading.status, 200)
      const stalled = yield* Clients.stalledSse(server.port, "/scrollback/k/sse", 1)
      const wsReading = yield* Clients.ws(server.port, "/scrollback/k/ws")
      assert.strictEqual((yield* wsReading.next)._tag, "Text")
      const wsPaused = yield* Clients.ws(server.port, "/scrollback/k/ws")
      assert.strictEqual((yield* wsPaused.next)._tag, "Text")
      yield* wsPaused.pause
      // 16 MiB that the stalled clients never read: the server holds their connections with megabytes pending.
      yield* flood((chunk) => buffer.write(chunk))
      yield* buffer.write(Clients.bytes("last"))
      const total = 64 * 256 * 1024 + 4
      // The reading clients catch up (so nothing is queued for them when the server stops).
      while (Number((yield* Clients.nextEvent(reading)).id?.split(":")[1]) < total) continue
      while (true) {
        const message = yield* wsReading.next
        assert.strictEqual(message._tag, "Binary")
        const frame = Clients.binaryOffset((message as { bytes: Uint8Array }).bytes)
        if (frame.offset + frame.bytes.length === total) break
      }
      assert.isBelow(stalled.received(), 16 * 1024 * 1024, "the stalled client has megabytes pending")
      // Bytes in flight to the reading clients when the shutdown begins.
      yield* buffer.write(Clients.pattern(2 * 1024 * 1024, 99))

      assert.isTrue(yield* Clients.closesWithin(serverScope, "5 seconds"), "the server closed within 5 s")
      // The stalled connections were closed by the server; the reading clients were told.
      yield* Clients.drainedAndClosed(stalled.socket)
      yield* reading.closed
      assert.notInclude(reading.raw(), "event: end", "the buffer did not end: no end event")
      // Asked to go, not cut: what was sent arrives whole, and the response ends between two events.
      assert.isTrue(reading.complete(), "the reading client's response ended cleanly")
      assert.isTrue(reading.raw().endsWith("\n\n"))
      let goingAway = yield* wsReading.next
      while (goingAway._tag === "Binary") goingAway = yield* wsReading.next // the bytes in flight
      assert.deepStrictEqual(goingAway, { _tag: "Close", code: 1001, reason: "server shutdown" })
      yield* wsPaused.resume
      while (true) {
        const message = yield* wsPaused.next
        if (message._tag === "Binary" || message._tag === "Text") continue
        // Its unread bytes (and the close frame behind them) may have gone with the connection.
        assert.include(["Close", "SocketClosed"], message._tag)
        break
      }
    }))

  it.scopedLive("while it waits for a paused client, every request gets 503 ShuttingDown", () =>
    Effect.gen(function*() {
      const serverScope = yield* Scope.make()
      const server = yield* serveNode({
        http: { maxBacklogBytes: 1024 * 1024 * 1024 },
        node: { shutdownGrace: "20 seconds" }
      }).pipe(Scope.extend(serverScope))
      const sockets = yield* watchSockets(server.server)
      const buffer = yield* server.create("k", 64 * 1024 * 1024)
      // A paused WebSocket client never answers the close: it holds the shutdown for the grace.
      const paused = yield* Clients.ws(server.port, "/scrollback/k/ws")
      assert.strictEqual((yield* paused.next)._tag, "Text")
      yield* paused.pause
      const stalled = yield* Clients.stalledSse(server.port, "/scrollback/k/sse", 1)
      yield* flood((chunk) => buffer.write(chunk))
      const closing = yield* Effect.fork(Clients.closesWithin(serverScope, "60 seconds"))
      yield* Clients.eventually(Clients.answersWith(`${server.base}/scrollback/k/info`, 503), {
        message: "the shutdown began"
      })
      // Streaming or not, every request is refused until the server closes (the app's handlers are gone).
      for (const path of ["/scrollback/k/sse", "/scrollback/k/info", "/scrollback/k", "/elsewhere"]) {
        const answer = yield* Clients.request(`${server.base}${path}`)
        assert.strictEqual(answer.status, 503, path)
        assert.strictEqual(answer.headers["retry-after"], "1", path)
        assert.deepStrictEqual(Clients.json(answer).error, { _tag: "ShuttingDown" }, path)
      }
      const ws = yield* Clients.ws(server.port, "/scrollback/k/ws")
      assert.strictEqual(ws.status, 503)
      assert.strictEqual(JSON.parse(yield* ws.body).error._tag, "ShuttingDown")
      // The stalled SSE connection was asked to go and is given the grace (not destroyed as an idle one).
      assert.isFalse(sockets.of(stalled.socket).destroyed, "the stalled SSE connection is given the grace")
      // The clients leave: nothing holds the shutdown any more, long before the grace.
      yield* paused.destroy
      yield* Effect.sync(() => stalled.socket.destroy())
      assert.isTrue(yield* Fiber.join(closing), "the server closed once the paused client left")
    }))

  it.scopedLive("a response ended at shutdown is never written to again (its socket full, below the high-water mark)", () =>
    Effect.gen(function*() {
      const serverScope = yield* Scope.make()
      const server = yield* serveNode().pipe(Scope.extend(serverScope))
      const sockets = yield* watchSockets(server.server)
      const buffer = yield* server.create("k", 64 * 1024 * 1024)
      const stalled = yield* Clients.stalledSse(server.port, "/scrollback/k/sse", 1)
      const serverSide = sockets.of(stalled.socket)
      // Small writes until the kernel's buffers are full and Node holds the first bytes: the connection is still
      // caught up (its writes succeed), so the fan-out keeps writing to it.
      let writes = 0
      while (serverSide.writableLength === 0) {
        yield* buffer.write(Clients.pattern(4096, writes++))
        yield* Effect.yieldNow()
        if (writes > 100_000) return assert.fail("the kernel's buffers never filled")
      }
      assert.isBelow(serverSide.writableLength, serverSide.writableHighWaterMark)
      // The shutdown ends the response (its end queued behind the unsent bytes), and the producer writes on
      // before any socket event: a write after `end()` would throw ERR_STREAM_WRITE_AFTER_END out of the server.
      const closing = yield* Effect.fork(Clients.closesWithin(serverScope, "10 seconds"))
      for (let i = 0; i < 200; i++) {
        yield* buffer.write(Clients.pattern(64, writes++))
        yield* Effect.yieldNow()
      }
      assert.isTrue(yield* Fiber.join(closing), "the server closed within 10 s")
      yield* Clients.drainedAndClosed(stalled.socket)
    }))
})
