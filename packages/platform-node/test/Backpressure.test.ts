/**
 * NodeReplayHttp with clients that stop reading: a connection whose socket
 * does not drain is written no more until it drains (its backlog in Node
 * stays near the socket's high-water mark plus one message, whatever the
 * producer writes), and resumes exactly where it stopped; a WebSocket whose
 * backlog passes `maxBacklogBytes` is closed with 4429 after what it was sent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clients } from "@scrollback/http-test-kit"
import { Effect, Fiber } from "effect"
import { serveNode } from "./util/serve.js"
import { trackBacklog, watchSockets } from "./util/sockets.js"

/** Writes `count` chunks of `size` bytes (letting the fan-out run after each); the bytes written. */
const flood = (write: (bytes: Uint8Array) => Effect.Effect<void, unknown>, count: number, size: number) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    for (let i = 0; i < count; i++) {
      const chunk = Clients.pattern(size, i)
      chunks.push(chunk)
      yield* Effect.orDie(write(chunk))
      yield* Effect.yieldNow()
    }
    // Time for the fan-out to resume on the socket's drains, as far as the kernel takes bytes.
    yield* Effect.sleep("300 millis")
    return Clients.concat(chunks)
  })

/** The largest message the fan-out writes: one cursor step (256 KiB) as SSE (base64 events) or a binary frame. */
const LARGEST_SSE_MESSAGE = Math.ceil((256 * 1024) / (48 * 1024)) * (64 * 1024 + 64)
const LARGEST_WS_MESSAGE = 256 * 1024 + 8 + 10

describe("NodeReplayHttp flow control", () => {
  it.scopedLive("a stalled SSE client is not written to until it drains: bounded backlog, then every byte", () =>
    Effect.gen(function*() {
      const server = yield* serveNode()
      const sockets = yield* watchSockets(server.server)
      const buffer = yield* server.create("k", 64 * 1024 * 1024)
      const stalled = yield* Clients.stalledSse(server.port, "/scrollback/k/sse", 1)
      const serverSide = sockets.of(stalled.socket)
      // 24 MiB for a client that reads nothing: the kernel holds a few MiB, Node at most one message more.
      const backlog = trackBacklog(serverSide)
      const written = yield* flood((chunk) => buffer.write(chunk), 96, 256 * 1024)
      const largest = backlog()
      assert.isAtMost(largest, serverSide.writableHighWaterMark + LARGEST_SSE_MESSAGE, `largest backlog ${largest}`)
      assert.isAbove(largest, 0, "the client's socket did back up")
      yield* buffer.end
      // Reading again, it gets the whole log exactly, then the end.
      const resumed = yield* stalled.resume
      assert.strictEqual(resumed.status, 200)
      const collected = yield* Clients.collectSse(resumed)
      assert.isTrue(Clients.equal(collected.bytes, written), "the stalled client got every byte exactly once")
      assert.deepStrictEqual(JSON.parse(collected.end!.data), { status: "ended" })
    }))

  it.scopedLive("a paused WebSocket is not written to until it drains, and then reads on exactly", () =>
    Effect.gen(function*() {
      const server = yield* serveNode({ http: { keepAlive: "1 hour" } })
      const sockets = yield* watchSockets(server.server)
      const buffer = yield* server.create("k", 64 * 1024 * 1024)
      const paused = yield* Clients.ws(server.port, "/scrollback/k/ws")
      const serverSide = sockets.of(paused.socket)
      assert.strictEqual((yield* paused.next)._tag, "Text") // hello
      yield* paused.pause
      const backlog = trackBacklog(serverSide)
      const written = yield* flood((chunk) => buffer.write(chunk), 96, 256 * 1024)
      const largest = backlog()
      assert.isAtMost(largest, serverSide.writableHighWaterMark + LARGEST_WS_MESSAGE, `largest backlog ${largest}`)
      assert.isAbove(largest, 0, "the client's socket did back up")
      yield* buffer.end
      yield* paused.resume
      const collected = yield* Clients.collectWs(paused, { hello: { offset: 0 } })
      assert.isTrue(Clients.equal(collected.bytes, written), "the paused client got every byte exactly once")
      assert.deepStrictEqual(collected.texts, [{ type: "end", status: "ended" }])
      assert.strictEqual(collected.close?.code, 1000)
    }))

  it.scopedLive("under a 64 KiB maxBacklogBytes, Node holds less for a paused client, and no reader is dropped", () =>
    Effect.gen(function*() {
      const maxBacklogBytes = 64 * 1024
      const server = yield* serveNode({ http: { maxBacklogBytes, keepAlive: "1 hour" } })
      const sockets = yield* watchSockets(server.server)
      const buffer = yield* server.create("k", 64 * 1024 * 1024)
      const paused = yield* Clients.ws(server.port, "/scrollback/k/ws")
      const pausedSide = sockets.of(paused.socket)
      assert.strictEqual((yield* paused.next)._tag, "Text")
      yield* paused.pause
      const reading = yield* Clients.stockWs(`ws://127.0.0.1:${server.port}/scrollback/k/ws`)
      const readingSse = yield* Clients.sse(`${server.base}/scrollback/k/sse`)
      const readers = yield* Effect.fork(
        Effect.all([Clients.collectWs(reading), Clients.collectSse(readingSse)], { concurrency: 2 })
      )
      const backlog = trackBacklog(pausedSide)
      const written = yield* flood((chunk) => buffer.write(chunk), 64, 128 * 1024)
      assert.isBelow(backlog(), maxBacklogBytes, `largest backlog ${backlog()}`)
      yield* buffer.end
      const [ws, sse] = yield* Fiber.join(readers)
      assert.isTrue(Clients.equal(ws.bytes, written), "the reading WebSocket got every byte")
      assert.strictEqual(ws.close?.code, 1000)
      assert.isTrue(Clients.equal(sse.bytes, written), "the reading SSE client got every byte")
      assert.deepStrictEqual(JSON.parse(sse.end!.data), { status: "ended" })
      yield* paused.resume
      const late = yield* Clients.collectWs(paused, { hello: { offset: 0 } })
      assert.isTrue(Clients.equal(late.bytes, written), "the paused client, reading again, got every byte")
      assert.strictEqual(late.close?.code, 1000)
    }))

  it.scopedLive("past a maxBacklogBytes below the socket's high-water mark, a paused WebSocket is closed 4429", () =>
    Effect.gen(function*() {
      const maxBacklogBytes = 8 * 1024
      const server = yield* serveNode({
        http: { maxBacklogBytes, maxConnectionsPerBuffer: 1, keepAlive: "1 hour" },
        // The close frame waits behind the backlog: time enough for the client to read it.
        node: { shutdownGrace: "30 seconds" }
      })
      const buffer = yield* server.create("k", 64 * 1024 * 1024)
      const paused = yield* Clients.ws(server.port, "/scrollback/k/ws")
      assert.strictEqual((yield* paused.next)._tag, "Text")
      yield* paused.pause
      const written = yield* flood((chunk) => buffer.write(chunk), 64, 128 * 1024)
      yield* paused.resume
      const collected = yield* Clients.collectWs(paused, { hello: { offset: 0 } })
      assert.strictEqual(collected.close?.code, 4429)
      assert.include(collected.close?.reason, "slow consumer")
      assert.isBelow(collected.bytes.length, written.length, "closed before the end")
      assert.isTrue(
        Clients.equal(collected.bytes, written.subarray(0, collected.bytes.length)),
        "what it got is an exact prefix of the log"
      )
      yield* Clients.eventually(
        Effect.scoped(Effect.map(Clients.ws(server.port, "/scrollback/k/ws"), (conn) => conn.status === 101)),
        { message: "the slot of the closed client is free" }
      )
    }))

  it.scopedLive("an SSE response that drains nothing for two keep-alive periods is dropped, freeing its slot", () =>
    Effect.gen(function*() {
      const server = yield* serveNode({ http: { keepAlive: "1 second", maxConnectionsPerBuffer: 2 } })
      const sockets = yield* watchSockets(server.server)
      const buffer = yield* server.create("k", 64 * 1024 * 1024)
      const reading = yield* Clients.sse(`${server.base}/scrollback/k/sse`)
      const stalled = yield* Clients.stalledSse(server.port, "/scrollback/k/sse", 1)
      const stalledSide = sockets.of(stalled.socket)
      yield* flood((chunk) => buffer.write(chunk), 96, 256 * 1024)
      yield* Clients.eventually(Effect.sync(() => stalledSide.destroyed), {
        message: "the stalled response is dropped"
      })
      yield* Clients.eventually(Effect.map(Clients.status(`${server.base}/scrollback/k/sse`), (code) => code === 200), {
        message: "its slot is free"
      })
      // The reading client was not: it got everything, then pings while idle.
      let received = 0
      while (received < 96 * 256 * 1024) {
        const event = yield* Clients.nextEvent(reading)
        if (event.event === undefined) received += Clients.decodeBase64(event.data).length
      }
      let item = yield* reading.next
      while (item._tag === "Event") item = yield* reading.next
      assert.deepStrictEqual(item, { _tag: "Comment", text: "ping" })
    }))
})
