import { assert, describe, it } from "@effect/vitest"
import { ReplayBufferError } from "@scrollback/core"
import { ReplayHttpError } from "@scrollback/platform"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import * as Net from "node:net"
import {
  binaryOffset,
  bytes,
  collectWs,
  concatBytes,
  serve,
  splitPieces,
  splitWritesArb,
  ws
} from "./ReplayHttpHarness.js"

const text = (data: Uint8Array) => new TextDecoder().decode(data)

/**
 * Sends a raw request head over TCP. Answers with the status and body once the head and
 * `Content-Length` bytes of body arrived (a `101` has no body), or when the server ends the connection.
 */
const rawRequest = (port: number, head: string): Effect.Effect<{ status: number; body: string }, never, Scope.Scope> =>
  Effect.flatMap(
    Effect.acquireRelease(
      Effect.sync(() => Net.connect({ port, host: "127.0.0.1" })),
      (socket) => Effect.sync(() => socket.destroy())
    ),
    (socket) =>
      Effect.async<{ status: number; body: string }>((resume) => {
        let answer = Buffer.alloc(0)
        const parse = () => {
          const end = answer.indexOf("\r\n\r\n")
          if (end === -1) return undefined
          const lines = answer.subarray(0, end).toString("latin1").split("\r\n")
          const status = Number(lines[0].split(" ")[1])
          const length = lines.find((line) => line.toLowerCase().startsWith("content-length:"))
          const body = answer.subarray(end + 4)
          const complete = status === 101 || (length !== undefined && body.length >= Number(length.slice(15)))
          return { status, body: body.toString("utf8"), complete }
        }
        socket.on("data", (chunk: Buffer) => {
          answer = Buffer.concat([answer, chunk])
          const parsed = parse()
          if (parsed?.complete) resume(Effect.succeed({ status: parsed.status, body: parsed.body }))
        })
        socket.on("error", () => {})
        socket.on("close", () => {
          const parsed = parse()
          resume(Effect.succeed({ status: parsed?.status ?? 0, body: parsed?.body ?? "" }))
        })
        socket.write(head)
      })
  )

const upgradeHead = (port: number, path: string, headers: Record<string, string>) =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
  Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("") + "\r\n"

const GOOD_KEY = "dGhlIHNhbXBsZSBub25jZQ=="

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
              ? Effect.fail(new ReplayHttpError.Denied({ status: 403, message: "no sockets" }))
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

describe("ReplayHttp WebSocket regressions", () => {
  it.scopedLive("a malformed handshake is answered 400 JSON before a slot is taken, and frees nothing it holds", () =>
    Effect.gen(function*() {
      const server = yield* serve({ http: { maxConnectionsPerBuffer: 2 } })
      yield* server.create("hs")
      const path = "/scrollback/hs/ws"
      const cases: ReadonlyArray<[Record<string, string>, string]> = [
        [{ Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13" }, "sec-websocket-key"],
        [
          { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "short" },
          "sec-websocket-key"
        ],
        [
          { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "12", "Sec-WebSocket-Key": GOOD_KEY },
          "sec-websocket-version"
        ],
        [{ Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Key": GOOD_KEY }, "sec-websocket-version"]
      ]
      // More malformed requests than slots: each must be refused with its own 400, never 429.
      for (const [headers, name] of [...cases, ...cases]) {
        const answer = yield* rawRequest(server.port, upgradeHead(server.port, path, headers))
        assert.strictEqual(answer.status, 400, name)
        const body = JSON.parse(answer.body)
        assert.strictEqual(body.error._tag, "BadRequest", name)
        assert.strictEqual(body.error.name, name)
      }
      // Both slots are still free.
      const first = yield* ws(server.port, path)
      assert.strictEqual(first.status, 101)
      const second = yield* ws(server.port, path)
      assert.strictEqual(second.status, 101)
      yield* first.next
      yield* second.next
      assert.strictEqual((yield* ws(server.port, path)).status, 429)
    }))

  it.scopedLive("Connection is matched as a token list, case-insensitively", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      yield* server.create("tok")
      const answer = yield* rawRequest(
        server.port,
        upgradeHead(server.port, "/scrollback/tok/ws", {
          Connection: "keep-alive, UPGRADE",
          Upgrade: "WebSocket",
          "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": GOOD_KEY
        })
      )
      assert.strictEqual(answer.status, 101)
    }))

  it.scopedLive("Upgrade: websocket without Connection: Upgrade is answered 400 JSON, not 204", () =>
    Effect.gen(function*() {
      const server = yield* serve({ http: { maxConnectionsPerBuffer: 1 } })
      yield* server.create("nc")
      for (const connection of [undefined, "keep-alive", "close"]) {
        const headers: Record<string, string> = {
          Upgrade: "websocket",
          "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": GOOD_KEY
        }
        if (connection !== undefined) headers["Connection"] = connection
        const answer = yield* rawRequest(server.port, upgradeHead(server.port, "/scrollback/nc/ws", headers))
        assert.strictEqual(answer.status, 400, String(connection))
        const body = JSON.parse(answer.body)
        assert.strictEqual(body.error._tag, "BadRequest")
        assert.strictEqual(body.error.name, "connection")
      }
      assert.strictEqual((yield* ws(server.port, "/scrollback/nc/ws")).status, 101)
    }))

  it.scopedLive(
    "a handshake that ws refuses by itself frees its slot within the upgrade timeout",
    () =>
      Effect.gen(function*() {
        const ended = yield* Deferred.make<void>()
        const server = yield* serve({
          http: { maxConnectionsPerBuffer: 1 },
          wrap: (app) => Effect.ensuring(app, Deferred.succeed(ended, undefined))
        })
        yield* server.create("net")
        // Passes our checks, but ws cannot parse the subprotocol list: it answers 400 itself, never calling back.
        const answer = yield* rawRequest(
          server.port,
          upgradeHead(server.port, "/scrollback/net/ws", {
            Connection: "Upgrade",
            Upgrade: "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": GOOD_KEY,
            "Sec-WebSocket-Protocol": "a b"
          })
        )
        assert.strictEqual(answer.status, 400)
        yield* Deferred.await(ended) // the session gives up after the upgrade timeout
        const again = yield* ws(server.port, "/scrollback/net/ws")
        assert.strictEqual(again.status, 101)
      }),
    15_000
  )

  it.scopedLive("a client message closes the session with 1008 and frees its slot", () =>
    Effect.gen(function*() {
      const ended = yield* Deferred.make<void>()
      const server = yield* serve({
        http: { maxConnectionsPerBuffer: 1 },
        wrap: (app) => Effect.ensuring(app, Deferred.succeed(ended, undefined))
      })
      yield* server.create("talk")
      const conn = yield* ws(server.port, "/scrollback/talk/ws")
      assert.strictEqual((yield* conn.next)._tag, "Text") // hello
      yield* conn.sendText("hi")
      const close = yield* conn.next
      assert.strictEqual(close._tag, "Close")
      assert.strictEqual((close as { code: number }).code, 1008)
      yield* Deferred.await(ended)
      assert.strictEqual((yield* ws(server.port, "/scrollback/talk/ws")).status, 101)
    }))

  it.scopedLive("a large incoming message is cut off with 1008 before it completes", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      yield* server.create("big")
      const conn = yield* ws(server.port, "/scrollback/big/ws")
      assert.strictEqual((yield* conn.next)._tag, "Text") // hello
      // A masked binary frame announcing 64 MiB, of which only 64 KiB is sent: ws would wait for the rest.
      const header = new Uint8Array(14)
      const view = new DataView(header.buffer)
      header[0] = 0x82
      header[1] = 0x80 | 127
      view.setBigUint64(2, BigInt(64 * 1024 * 1024))
      yield* conn.sendRaw(header)
      yield* conn.sendRaw(new Uint8Array(64 * 1024))
      const close = yield* conn.next
      assert.strictEqual(close._tag, "Close")
      assert.strictEqual((close as { code: number }).code, 1008)
    }))
})

describe("ReplayHttp WebSocket property", () => {
  it.effect.prop(
    "random writes split at random points, delivered over WebSocket and joined, equal the written log",
    splitWritesArb,
    ([writes, connectAfter, splits]) =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("p")
        const pieces = splitPieces(writes, splits)
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
