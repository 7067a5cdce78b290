/**
 * The kit's own clients, checked against independent implementations: the
 * raw WebSocket client against a stock `ws` server, the SSE parser against
 * the spec's examples and random splits.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clients } from "@scrollback/http-test-kit"
import { Effect, FastCheck as fc } from "effect"
import type * as Net from "node:net"
import { WebSocketServer } from "ws"

describe("binaryOffset", () => {
  it("is exact past 2^32 (the header is read as two 32-bit halves)", () => {
    for (const offset of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
      const message = new Uint8Array(9)
      new DataView(message.buffer).setBigUint64(0, BigInt(offset))
      assert.strictEqual(Clients.binaryOffset(message).offset, offset)
    }
  })
})

describe("the raw WebSocket client", () => {
  it.scopedLive("reads what a stock ws server sends: every length encoding, fragments, pings, the close", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(
        Effect.async<WebSocketServer>((resume) => {
          const wss: WebSocketServer = new WebSocketServer(
            { port: 0, host: "127.0.0.1" },
            () => resume(Effect.succeed(wss))
          )
        }),
        (wss) => Effect.async<void>((resume) => wss.close(() => resume(Effect.void)))
      )
      const sizes = [0, 1, 125, 126, 65535, 65536, 200_000]
      server.on("connection", (socket) => {
        socket.send("hello")
        for (const size of sizes) socket.send(Clients.pattern(size, size))
        socket.send("frag", { fin: false })
        socket.send("mented", { fin: true })
        socket.ping(Buffer.from("are you there"))
        socket.once("pong", (payload) => socket.close(4321, `pong ${payload.toString()}`))
      })
      const port = (server.address() as Net.AddressInfo).port
      const conn = yield* Clients.ws(port, "/")
      assert.strictEqual(conn.status, 101)
      assert.deepStrictEqual(yield* conn.next, { _tag: "Text", text: "hello" })
      for (const size of sizes) {
        const message = yield* conn.next
        assert.strictEqual(message._tag, "Binary")
        assert.isTrue(Clients.equal((message as { bytes: Uint8Array }).bytes, Clients.pattern(size, size)), `${size}`)
      }
      assert.deepStrictEqual(yield* conn.next, { _tag: "Text", text: "fragmented" })
      // The client answers the ping as a browser does; the server's close names the pong it got.
      assert.deepStrictEqual(yield* conn.next, { _tag: "Close", code: 4321, reason: "pong are you there" })
      assert.deepStrictEqual(yield* conn.next, { _tag: "SocketClosed" })
      assert.deepStrictEqual(yield* conn.next, { _tag: "SocketClosed" }, "the end is reported again")
    }))
})

describe("the SSE parser", () => {
  it("follows the spec: line endings, comments, fields, ids, retry, BOM", () => {
    const comments: Array<string> = []
    const parser = Clients.makeSseParser((text) => comments.push(text))
    const events = parser.feed(
      "\uFEFF: ping\r\nretry: 1500\nevent: hello\nid: a:1\ndata: x\n\n" +
        "data:one\rdata:  two\r\n\r" +
        "id: b\0\ndata\n\nid\ndata: z\n\nretry: 2x\nevent: e\nid: c:2\n\n"
    )
    assert.deepStrictEqual(events, [
      { event: "hello", id: "a:1", retry: 1500, data: "x" },
      { id: "a:1", data: "one\n two" },
      { id: "a:1", data: "" },
      { data: "z" }
    ])
    assert.deepStrictEqual(comments, ["ping"])
    assert.strictEqual(parser.lastEventId(), "c:2")
  })

  it.effect.prop(
    "events split at random points, with random line endings, parse the same",
    [
      fc.array(
        fc.record({
          event: fc.option(fc.stringMatching(/^[a-z]{1,8}$/), { nil: undefined }),
          id: fc.option(fc.stringMatching(/^[0-9a-f]{4}:[0-9]{1,4}$/), { nil: undefined }),
          data: fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, " "))
        }),
        { maxLength: 20 }
      ),
      fc.constantFrom("\n", "\r\n", "\r"),
      fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 10 })
    ],
    ([events, newline, cuts]) =>
      Effect.sync(() => {
        let wire = ""
        let lastId: string | undefined = undefined
        const expected: Array<Clients.SseEvent> = []
        for (const event of events) {
          if (event.event !== undefined) wire += `event: ${event.event}${newline}`
          if (event.id !== undefined) wire += `id: ${event.id}${newline}`
          wire += `data: ${event.data}${newline}${newline}`
          if (event.id !== undefined) lastId = event.id
          const parsed: { event?: string; data: string; id?: string } = { data: event.data }
          if (event.event !== undefined) parsed.event = event.event
          if (lastId !== undefined) parsed.id = lastId
          expected.push(parsed)
        }
        const points = [...new Set(cuts.map((cut) => cut % (wire.length + 1)))].sort((a, b) => a - b)
        const parser = Clients.makeSseParser()
        const parsed: Array<Clients.SseEvent> = []
        let from = 0
        for (const point of [...points, wire.length]) {
          parsed.push(...parser.feed(wire.slice(from, point)))
          from = point
        }
        assert.deepStrictEqual(parsed, expected)
      }),
    { fastCheck: { numRuns: 300 } }
  )
})
