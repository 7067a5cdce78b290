import { assert, describe, it } from "@effect/vitest"
import { ReplayBufferError } from "@scrollback/core"
import { ReplayHttp } from "@scrollback/platform"
import { Deferred, Effect, Exit, FastCheck as fc, Fiber, Scope } from "effect"
import { binaryOffset, bytes, collectWs, concatBytes, serve, ws } from "./ReplayHttpHarness.js"

const text = (data: Uint8Array) => new TextDecoder().decode(data)

describe("ReplayHttp WebSocket", () => {
  it.scopedLive("hello, binary frames with an 8-byte big-endian offset, end, close 1000", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const buffer = yield* server.create("term")
      yield* buffer.write(bytes("abc"))
      const conn = yield* ws(server.port, "/scrollback/term/ws")
      assert.strictEqual(conn.status, 101)
      const hello = yield* conn.next
      assert.strictEqual(hello._tag, "Text")
      assert.deepStrictEqual(JSON.parse((hello as { text: string }).text), {
        type: "hello",
        epoch: buffer.epoch,
        offset: 0,
        oldest: 0,
        total: 3
      })
      const first = yield* conn.next
      assert.strictEqual(first._tag, "Binary")
      const frame = binaryOffset((first as { bytes: Uint8Array }).bytes)
      assert.deepStrictEqual((first as { bytes: Uint8Array }).bytes.subarray(0, 8), new Uint8Array(8))
      assert.strictEqual(frame.offset, 0)
      assert.strictEqual(text(frame.bytes), "abc")
      // Messages from the client are ignored.
      yield* conn.sendText("ignored")
      yield* buffer.write(bytes("de"))
      const second = binaryOffset(((yield* conn.next) as { bytes: Uint8Array }).bytes)
      assert.strictEqual(second.offset, 3)
      assert.strictEqual(text(second.bytes), "de")
      yield* buffer.end
      assert.deepStrictEqual(JSON.parse(((yield* conn.next) as { text: string }).text), {
        type: "end",
        status: "ended"
      })
      const close = yield* conn.next
      assert.strictEqual(close._tag, "Close")
      assert.strictEqual((close as { code: number }).code, 1000)
    }))

  it.scopedLive("the offset header is exact past 2^32", () =>
    Effect.sync(() => {
      // The header is written as two 32-bit halves: check the arithmetic on a large offset.
      const offset = 2 ** 40 + 12345
      const message = new Uint8Array(9)
      const view = new DataView(message.buffer)
      view.setBigUint64(0, BigInt(offset))
      assert.strictEqual(binaryOffset(message).offset, offset)
    }))

  it.scopedLive("resumes at ?offset=, signals a gap under clamp, and a failed end", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const buffer = yield* server.create("small", 8)
      yield* buffer.write(bytes("abcdefghijklmnopqrst")) // oldest 12
      yield* buffer.fail(new ReplayBufferError.ProducerFailed({ reason: "exit 2", exitCode: 2 }))
      const gap = yield* collectWs(yield* ws(server.port, `/scrollback/small/ws?offset=3&epoch=${buffer.epoch}`))
      assert.strictEqual(gap.hello.offset, 3)
      assert.deepStrictEqual(gap.texts[0], { type: "gap", requested: 3, oldest: 12 })
      assert.strictEqual(text(gap.bytes), "mnopqrst")
      assert.deepStrictEqual(gap.texts[1], { type: "end", status: "failed", reason: "exit 2", exitCode: 2 })
      assert.strictEqual(gap.close?.code, 1000)
      const resumed = yield* collectWs(yield* ws(server.port, "/scrollback/small/ws?offset=15"))
      assert.strictEqual(text(resumed.bytes), "pqrst")
    }))

  it.scopedLive("close codes 4400, 4409, 4410 after the upgrade", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const buffer = yield* server.create("codes", 4)
      yield* buffer.write(bytes("0123456789"))
      const other = buffer.epoch === "0123456789abcdef" ? "fedcba9876543210" : "0123456789abcdef"
      const cases: ReadonlyArray<[string, number]> = [
        ["?offset=abc", 4400],
        ["?epoch=nothex", 4400],
        ["?onEvicted=nope", 4400],
        [`?epoch=${other}`, 4409],
        ["?offset=1&onEvicted=fail", 4410]
      ]
      for (const [query, code] of cases) {
        const conn = yield* ws(server.port, `/scrollback/codes/ws${query}`)
        assert.strictEqual(conn.status, 101, query)
        const message = yield* conn.next
        assert.strictEqual(message._tag, "Close", query)
        assert.strictEqual((message as { code: number }).code, code, query)
        assert.isTrue((message as { reason: string }).reason.length > 0, query)
      }
    }))

  it.scopedLive("Origin: same-origin by default, an allow-list, or any; no Origin is allowed", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      yield* server.create("o")
      const bad = yield* ws(server.port, "/scrollback/o/ws", { Origin: "https://evil.example" })
      assert.strictEqual(bad.status, 403)
      const body = JSON.parse(yield* bad.body)
      assert.strictEqual(body.error._tag, "OriginNotAllowed")
      const same = yield* ws(server.port, "/scrollback/o/ws", { Origin: `http://127.0.0.1:${server.port}` })
      assert.strictEqual(same.status, 101)
      const none = yield* ws(server.port, "/scrollback/o/ws")
      assert.strictEqual(none.status, 101)

      const listed = yield* serve({ http: { allowedOrigins: ["https://app.example"] } })
      yield* listed.create("o")
      assert.strictEqual((yield* ws(listed.port, "/scrollback/o/ws", { Origin: "https://app.example" })).status, 101)
      assert.strictEqual(
        (yield* ws(listed.port, "/scrollback/o/ws", { Origin: `http://127.0.0.1:${listed.port}` })).status,
        403
      )
      const any = yield* serve({ http: { allowedOrigins: "*" } })
      yield* any.create("o")
      assert.strictEqual((yield* ws(any.port, "/scrollback/o/ws", { Origin: "https://anything.example" })).status, 101)
    }))

  it.scopedLive("404, 429 and an authorization denial are answered before the upgrade", () =>
    Effect.gen(function*() {
      const server = yield* serve({ http: { maxConnectionsPerBuffer: 1 } })
      yield* server.create("busy")
      const missing = yield* ws(server.port, "/scrollback/missing/ws")
      assert.strictEqual(missing.status, 404)
      const first = yield* ws(server.port, "/scrollback/busy/ws")
      assert.strictEqual(first.status, 101)
      yield* first.next // the hello: the session holds its slot
      const second = yield* ws(server.port, "/scrollback/busy/ws")
      assert.strictEqual(second.status, 429)
      const plain = yield* ws(server.port, "/scrollback/busy/ws") // still busy
      assert.strictEqual(plain.status, 429)

      const denied = yield* serve({
        authorization: {
          authorize: ({ transport }) =>
            transport === "ws"
              ? Effect.fail(new ReplayHttp.Denied({ status: 403, message: "no sockets" }))
              : Effect.void
        }
      })
      yield* denied.create("k")
      const refused = yield* ws(denied.port, "/scrollback/k/ws")
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(JSON.parse(yield* refused.body).error._tag, "Denied")
    }))

  it.scopedLive("a client that stops reading is closed with 4429 once its backlog passes the bound", () =>
    Effect.gen(function*() {
      const ended = yield* Deferred.make<void>()
      const server = yield* serve({
        http: { wsMaxBacklogBytes: 64 * 1024 },
        wrap: (app) => Effect.ensuring(app, Deferred.succeed(ended, undefined))
      })
      const capacity = 64 * 1024 * 1024
      const buffer = yield* server.create("flood", capacity)
      const conn = yield* ws(server.port, "/scrollback/flood/ws")
      assert.strictEqual(conn.status, 101)
      const hello = yield* conn.next
      assert.strictEqual(hello._tag, "Text")
      yield* conn.pause
      // Far more than the kernel's socket buffers hold: the server's own backlog must pass 64 KiB.
      const chunk = Uint8Array.from({ length: 256 * 1024 }, (_, i) => i & 0xff)
      const written: Array<Uint8Array> = []
      for (let i = 0; i < 128 && !(yield* Deferred.isDone(ended)); i++) {
        yield* buffer.write(chunk)
        written.push(chunk)
        yield* Effect.yieldNow()
      }
      yield* Deferred.await(ended) // the server's session is over while the client still reads nothing
      yield* conn.resume
      let cursor = 0
      let received = 0
      while (true) {
        const message = yield* conn.next
        if (message._tag === "Binary") {
          const frame = binaryOffset(message.bytes)
          assert.strictEqual(frame.offset, cursor)
          cursor += frame.bytes.length
          received += frame.bytes.length
          continue
        }
        assert.strictEqual(message._tag, "Close")
        assert.strictEqual((message as { code: number }).code, 4429)
        break
      }
      const all = concatBytes(written)
      assert.isBelow(received, all.length, "the server stopped before sending everything")
      assert.isAbove(received, 0)
    }))

  it.scopedLive("a client that goes away ends its session and frees its slot", () =>
    Effect.gen(function*() {
      const ended = yield* Deferred.make<void>()
      const server = yield* serve({
        http: { maxConnectionsPerBuffer: 1 },
        wrap: (app) => Effect.ensuring(app, Deferred.succeed(ended, undefined))
      })
      yield* server.create("gone")
      const first = yield* ws(server.port, "/scrollback/gone/ws")
      yield* first.next // hello
      assert.strictEqual((yield* ws(server.port, "/scrollback/gone/ws")).status, 429)
      yield* first.destroy
      yield* Deferred.await(ended)
      const again = yield* ws(server.port, "/scrollback/gone/ws")
      assert.strictEqual(again.status, 101)
    }))

  it.scopedLive("server shutdown closes sessions with 1001", () =>
    Effect.gen(function*() {
      const serverScope = yield* Scope.make()
      const server = yield* serve().pipe(Scope.extend(serverScope))
      yield* server.create("bye")
      const conn = yield* ws(server.port, "/scrollback/bye/ws")
      yield* conn.next // hello
      const closing = yield* Effect.fork(Scope.close(serverScope, Exit.void))
      const message = yield* conn.next
      assert.strictEqual(message._tag, "Close")
      assert.strictEqual((message as { code: number }).code, 1001)
      yield* Fiber.join(closing)
    }))
})

describe("ReplayHttp WebSocket property", () => {
  it.effect.prop(
    "random writes split at random points, delivered over WebSocket and joined, equal the written log",
    [
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 25 }),
      fc.integer({ min: 0, max: 25 }),
      fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 25 })
    ],
    ([writes, connectAfter, splits]) =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("p")
        const pieces = writes.flatMap((write, i) => {
          const at = Math.min(splits[i] ?? 0, write.length)
          return [write.subarray(0, at), write.subarray(at)]
        })
        for (const piece of pieces.slice(0, connectAfter)) yield* buffer.write(piece)
        const conn = yield* ws(server.port, "/scrollback/p/ws")
        const reader = yield* Effect.fork(collectWs(conn))
        for (const piece of pieces.slice(connectAfter)) yield* buffer.write(piece)
        yield* buffer.end
        const collected = yield* Fiber.join(reader)
        assert.deepStrictEqual(collected.bytes, concatBytes(writes))
        assert.deepStrictEqual(collected.texts, [{ type: "end", status: "ended" }])
        assert.strictEqual(collected.close?.code, 1000)
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: 100 } }
  )
})
