/** The WebSocket endpoint on the wire: framing, resumes, close codes, origins, refusals, slots, client messages. */
import { assert, describe, it } from "@effect/vitest"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayHttpError from "@scrollback/platform/ReplayHttpError"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { bytes, text } from "../bytes.js"
import { closesWithin, eventually, GOOD_KEY, rawRequest, requestHead, upgradeHeaders } from "../http.js"
import type { Serve } from "../server.js"
import { binaryOffset, collectWs, stockWs, ws, type WsMessage } from "../ws.js"

const codeOf = (message: WsMessage) => message._tag === "Close" ? message.code : message._tag

/** Opens WebSockets until one upgrades (a slot freed by a session that ended), within a bound. */
const upgradesAgain = (port: number, path: string, message: string) =>
  eventually(
    Effect.scoped(Effect.map(ws(port, path), (conn) => conn.status === 101)),
    { message }
  )

export const wsSuite = (serve: Serve): void => {
  describe("WebSocket", () => {
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
        assert.strictEqual(codeOf(yield* conn.next), 1000)
      }))

    it.scopedLive("the stock ws client reads the same session (its close handshake included)", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("stock")
        const payload = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 13) & 0xff)
        yield* buffer.write(payload.subarray(0, 30_000))
        const conn = yield* stockWs(`ws://127.0.0.1:${server.port}/scrollback/stock/ws`)
        assert.strictEqual(conn.status, 101)
        const reader = yield* Effect.fork(collectWs(conn))
        yield* buffer.write(payload.subarray(30_000))
        yield* buffer.end
        const collected = yield* Fiber.join(reader)
        assert.deepStrictEqual(collected.bytes, payload)
        assert.deepStrictEqual(collected.texts, [{ type: "end", status: "ended" }])
        assert.strictEqual(collected.close?.code, 1000)
      }))

    it.scopedLive("resumes at ?offset=, signals a gap under clamp, and a failed end", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("small", 8)
        yield* buffer.write(bytes("abcdefghijklmnopqrst")) // oldest 12
        yield* buffer.fail(new ProducerFailed({ reason: "exit 2", exitCode: 2 }))
        const gap = yield* collectWs(yield* ws(server.port, `/scrollback/small/ws?offset=3&epoch=${buffer.epoch}`))
        assert.strictEqual(gap.hello.offset, 3)
        assert.deepStrictEqual(gap.texts[0], { type: "gap", requested: 3, oldest: 12 })
        assert.strictEqual(text(gap.bytes), "mnopqrst")
        assert.deepStrictEqual(gap.texts[1], { type: "end", status: "failed", reason: "exit 2", exitCode: 2 })
        assert.strictEqual(gap.close?.code, 1000)
        const resumed = yield* collectWs(yield* ws(server.port, "/scrollback/small/ws?offset=15"))
        assert.strictEqual(text(resumed.bytes), "pqrst")
      }))

    it.scopedLive("close codes 4400, 4409, 4410 right after the upgrade (no hello)", () =>
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
          [`?epoch=${buffer.epoch}&offset=11`, 4409],
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
        assert.deepStrictEqual(body.error, { _tag: "OriginNotAllowed", origin: "https://evil.example" })
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
        assert.strictEqual(
          (yield* ws(any.port, "/scrollback/o/ws", { Origin: "https://anything.example" })).status,
          101
        )
      }))

    it.scopedLive("404, 429, 503 and an authorization denial are answered as JSON before the upgrade", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { maxConnectionsPerBuffer: 1, maxConnections: 2 } })
        yield* server.create("busy")
        yield* server.create("other")
        yield* server.create("third")
        const missing = yield* ws(server.port, "/scrollback/missing/ws")
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(JSON.parse(yield* missing.body).error._tag, "BufferNotFound")
        const first = yield* ws(server.port, "/scrollback/busy/ws")
        assert.strictEqual(first.status, 101)
        yield* first.next // the hello: the session holds its slot
        const second = yield* ws(server.port, "/scrollback/busy/ws")
        assert.strictEqual(second.status, 429)
        assert.deepStrictEqual(JSON.parse(yield* second.body).error, {
          _tag: "TooManyConnections",
          scope: "buffer",
          limit: 1
        })
        assert.strictEqual(second.headers["retry-after"], "1")
        const plain = yield* ws(server.port, "/scrollback/busy/ws") // still busy
        assert.strictEqual(plain.status, 429)
        const other = yield* ws(server.port, "/scrollback/other/ws")
        assert.strictEqual(other.status, 101)
        yield* other.next
        const overall = yield* ws(server.port, "/scrollback/third/ws")
        assert.strictEqual(overall.status, 503)
        assert.strictEqual(JSON.parse(yield* overall.body).error.scope, "server")

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
        assert.deepStrictEqual(JSON.parse(yield* refused.body), {
          error: { _tag: "Denied", status: 403, message: "no sockets" },
          message: "no sockets"
        })
      }))

    it.scopedLive("a client that goes away ends its session and frees its slot", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { maxConnectionsPerBuffer: 1 } })
        yield* server.create("gone")
        const first = yield* ws(server.port, "/scrollback/gone/ws")
        yield* first.next // hello
        assert.strictEqual((yield* ws(server.port, "/scrollback/gone/ws")).status, 429)
        yield* first.destroy
        yield* upgradesAgain(server.port, "/scrollback/gone/ws", "the slot of a client that left is free")
      }))

    it.scopedLive("server shutdown closes sessions with 1001, and the server's close completes", () =>
      Effect.gen(function*() {
        const serverScope = yield* Scope.make()
        const server = yield* serve().pipe(Scope.extend(serverScope))
        yield* server.create("bye")
        const conn = yield* ws(server.port, "/scrollback/bye/ws")
        yield* conn.next // hello
        const stock = yield* stockWs(`ws://127.0.0.1:${server.port}/scrollback/bye/ws`)
        yield* stock.next // hello
        assert.isTrue(yield* closesWithin(serverScope, "10 seconds"), "the server closed within 10 s")
        assert.strictEqual(codeOf(yield* conn.next), 1001)
        assert.strictEqual(codeOf(yield* stock.next), 1001)
      }))

    it.scopedLive("a malformed handshake is answered 400 JSON before a slot is taken", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { maxConnectionsPerBuffer: 2 } })
        yield* server.create("hs")
        const path = "/scrollback/hs/ws"
        const cases: ReadonlyArray<[Record<string, string>, string]> = [
          [{ Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13" }, "sec-websocket-key"],
          [
            {
              Connection: "Upgrade",
              Upgrade: "websocket",
              "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "short"
            },
            "sec-websocket-key"
          ],
          [
            {
              Connection: "Upgrade",
              Upgrade: "websocket",
              "Sec-WebSocket-Version": "12",
              "Sec-WebSocket-Key": GOOD_KEY
            },
            "sec-websocket-version"
          ],
          [{ Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Key": GOOD_KEY }, "sec-websocket-version"],
          [
            { Connection: "Upgrade", Upgrade: "h2c", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": GOOD_KEY },
            "upgrade"
          ],
          [{}, "upgrade"]
        ]
        // More malformed requests than slots: each must be refused with its own 400, never 429.
        for (const [headers, name] of [...cases, ...cases]) {
          const answer = yield* rawRequest(server.port, requestHead(server.port, path, headers))
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

    it.scopedLive("Connection is matched as a token list, case-insensitively; version 8 is accepted", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        yield* server.create("tok")
        const answer = yield* rawRequest(
          server.port,
          requestHead(server.port, "/scrollback/tok/ws", {
            Connection: "keep-alive, UPGRADE",
            Upgrade: "WebSocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": GOOD_KEY
          })
        )
        assert.strictEqual(answer.status, 101)
        const eight = yield* rawRequest(
          server.port,
          requestHead(server.port, "/scrollback/tok/ws", { ...upgradeHeaders, "Sec-WebSocket-Version": "8" })
        )
        assert.strictEqual(eight.status, 101)
      }))

    it.scopedLive("Upgrade: websocket without Connection: Upgrade is answered 400 JSON", () =>
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
          const answer = yield* rawRequest(server.port, requestHead(server.port, "/scrollback/nc/ws", headers))
          assert.strictEqual(answer.status, 400, String(connection))
          const body = JSON.parse(answer.body)
          assert.strictEqual(body.error._tag, "BadRequest")
          assert.strictEqual(body.error.name, "connection")
        }
        assert.strictEqual((yield* ws(server.port, "/scrollback/nc/ws")).status, 101)
      }))

    it.scopedLive("a malformed Sec-WebSocket-Protocol is answered 400 JSON before a slot is taken", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { maxConnectionsPerBuffer: 1 } })
        yield* server.create("net")
        // Lists the WebSocket server would refuse by itself, with a bare 400 (and the slot held meanwhile).
        for (const protocols of ["a b", "chat, chat", "a,,b", ",a", "a;b", "\"a\""]) {
          const answer = yield* rawRequest(
            server.port,
            requestHead(server.port, "/scrollback/net/ws", { ...upgradeHeaders, "Sec-WebSocket-Protocol": protocols })
          )
          assert.strictEqual(answer.status, 400, protocols)
          assert.deepStrictEqual(JSON.parse(answer.body).error.name, "sec-websocket-protocol", protocols)
        }
        const listed = yield* rawRequest(
          server.port,
          requestHead(server.port, "/scrollback/net/ws", {
            ...upgradeHeaders,
            "Sec-WebSocket-Protocol": "chat,  superchat\t, v2.scrollback"
          })
        )
        assert.strictEqual(listed.status, 101, "a valid list is accepted (the slot was free)")
      }))

    it.scopedLive("a client message closes the session with 1008 and frees its slot", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { maxConnectionsPerBuffer: 1 } })
        yield* server.create("talk")
        const conn = yield* ws(server.port, "/scrollback/talk/ws")
        assert.strictEqual((yield* conn.next)._tag, "Text") // hello
        yield* conn.sendText("hi")
        assert.strictEqual(codeOf(yield* conn.next), 1008)
        yield* upgradesAgain(server.port, "/scrollback/talk/ws", "the slot of a closed session is free")
        const binary = yield* ws(server.port, "/scrollback/talk/ws")
        assert.strictEqual((yield* binary.next)._tag, "Text")
        yield* binary.sendBinary(new Uint8Array([1, 2, 3]))
        assert.strictEqual(codeOf(yield* binary.next), 1008)
      }))

    it.scopedLive("a message larger than wsMaxMessageBytes closes the session with 1009", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { wsMaxMessageBytes: 64, maxConnectionsPerBuffer: 1 } })
        yield* server.create("big")
        const conn = yield* ws(server.port, "/scrollback/big/ws")
        assert.strictEqual((yield* conn.next)._tag, "Text") // hello
        yield* conn.sendBinary(new Uint8Array(65))
        assert.strictEqual(codeOf(yield* conn.next), 1009)
        yield* upgradesAgain(server.port, "/scrollback/big/ws", "the slot of a closed session is free")
      }))

    it.scopedLive("pings from the client are answered with pongs, and the session goes on", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("ping")
        const conn = yield* ws(server.port, "/scrollback/ping/ws")
        assert.strictEqual((yield* conn.next)._tag, "Text") // hello
        for (let i = 0; i < 20; i++) {
          const payload = bytes(`keep-alive ${i}`)
          yield* conn.sendPing(payload)
          const answer = yield* conn.next
          assert.strictEqual(answer._tag, "Pong")
          assert.deepStrictEqual((answer as { payload: Uint8Array }).payload, payload)
        }
        yield* buffer.write(bytes("still here"))
        const frame = yield* conn.next
        assert.strictEqual(text(binaryOffset((frame as { bytes: Uint8Array }).bytes).bytes), "still here")
      }))
  })
}
