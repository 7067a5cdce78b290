/** The SSE endpoint on the wire: framing, exactness, resumes, refusals, limits and slots. */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Command from "@effect/platform/Command"
import { assert, describe, it } from "@effect/vitest"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayHttpError from "@scrollback/platform/ReplayHttpError"
import * as ReplayProcess from "@scrollback/platform/ReplayProcess"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { bytes, concat, decodeBase64, text } from "../bytes.js"
import { closesWithin, eventually, json, request, status } from "../http.js"
import type { Serve } from "../server.js"
import { collectSse, nextEvent, sse } from "../sse.js"

export const sseSuite = (serve: Serve): void => {
  describe("SSE", () => {
    it.scopedLive("starts with retry and hello, streams base64 events with EPOCH:NEXT ids, ends with end", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("log")
        yield* buffer.write(bytes("hello "))
        const conn = yield* sse(`${server.base}/scrollback/log/sse`)
        assert.strictEqual(conn.status, 200)
        assert.strictEqual(conn.headers["content-type"], "text/event-stream")
        assert.strictEqual(conn.headers["cache-control"], "no-cache")
        assert.strictEqual(conn.headers["x-accel-buffering"], "no")
        const hello = yield* nextEvent(conn)
        assert.strictEqual(hello.event, "hello")
        assert.strictEqual(hello.id, `${buffer.epoch}:0`)
        assert.strictEqual(hello.retry, 1000)
        assert.deepStrictEqual(JSON.parse(hello.data), { epoch: buffer.epoch, offset: 0, oldest: 0, total: 6 })
        assert.isTrue(conn.raw().startsWith("retry: 1000\n"))
        const first = yield* nextEvent(conn)
        assert.strictEqual(first.event, undefined)
        assert.strictEqual(first.id, `${buffer.epoch}:6`)
        assert.strictEqual(text(decodeBase64(first.data)), "hello ")
        yield* buffer.write(bytes("world"))
        const second = yield* nextEvent(conn)
        assert.strictEqual(second.id, `${buffer.epoch}:11`)
        assert.strictEqual(text(decodeBase64(second.data)), "world")
        yield* buffer.end
        const end = yield* nextEvent(conn)
        assert.strictEqual(end.event, "end")
        assert.strictEqual(end.id, `${buffer.epoch}:11`)
        assert.deepStrictEqual(JSON.parse(end.data), { status: "ended" })
        yield* conn.closed
      }))

    it.scopedLive("is byte-exact: CR, bare \\r, leading spaces, NUL, invalid UTF-8, UTF-8 split across writes", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("exact")
        const euro = bytes("€") // e2 82 ac
        const writes = [
          bytes("line one\r\n"),
          bytes("progress 10%\rprogress 20%\r"),
          bytes("   leading spaces\n"),
          new Uint8Array([0, 0, 65, 0]),
          new Uint8Array([0xff, 0xfe, 0xc0, 0x80]),
          euro.subarray(0, 1),
          euro.subarray(1),
          bytes("\r"),
          bytes("\n\n\n"),
          bytes("data: not a field\n"),
          Uint8Array.from({ length: 256 }, (_, i) => i)
        ]
        const conn = yield* sse(`${server.base}/scrollback/exact/sse`)
        for (const write of writes) yield* buffer.write(write)
        yield* buffer.end
        const collected = yield* collectSse(conn)
        assert.deepStrictEqual(collected.bytes, concat(writes))
        assert.deepStrictEqual(JSON.parse(collected.end!.data), { status: "ended" })
      }))

    it.scopedLive("splits a large frame into events of at most 64 KiB of base64", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("big", 1024 * 1024)
        const big = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff)
        yield* buffer.write(big)
        yield* buffer.end
        const conn = yield* sse(`${server.base}/scrollback/big/sse`)
        const collected = yield* collectSse(conn)
        assert.deepStrictEqual(collected.bytes, big)
        const data = collected.events.filter((event) => event.event === undefined)
        assert.isTrue(data.length >= 4)
        for (const event of data) assert.isAtMost(event.data.length, 64 * 1024)
        for (const line of conn.raw().split("\n")) assert.isAtMost(line.length, 64 * 1024 + 6)
      }))

    it.scopedLive("resumes with Last-Event-ID, which wins over ?offset= and ?epoch=", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("resume")
        yield* buffer.write(bytes("0123456789"))
        yield* buffer.end
        const conn = yield* sse(
          `${server.base}/scrollback/resume/sse?offset=0&epoch=0000000000000000`,
          { "last-event-id": `${buffer.epoch}:4` }
        )
        const collected = yield* collectSse(conn)
        assert.strictEqual(JSON.parse(collected.hello.data).offset, 4)
        assert.strictEqual(text(collected.bytes), "456789")
        const byQuery = yield* sse(`${server.base}/scrollback/resume/sse?offset=7&epoch=${buffer.epoch}`)
        assert.strictEqual(text((yield* collectSse(byQuery)).bytes), "789")
      }))

    it.scopedLive("a negative offset is clamped; an offset past the total starts at the total", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("clamp")
        yield* buffer.write(bytes("abc"))
        const negative = yield* sse(`${server.base}/scrollback/clamp/sse?offset=-5`)
        const hello = yield* nextEvent(negative)
        assert.strictEqual(JSON.parse(hello.data).offset, 0)
        const past = yield* sse(`${server.base}/scrollback/clamp/sse?offset=99`)
        const pastHello = yield* nextEvent(past)
        assert.strictEqual(JSON.parse(pastHello.data).offset, 3)
        yield* buffer.write(bytes("d"))
        assert.strictEqual(text(decodeBase64((yield* nextEvent(past)).data)), "d")
        assert.strictEqual(text(decodeBase64((yield* nextEvent(negative)).data)), "abc")
      }))

    it.scopedLive("409 on an epoch mismatch, from the query or from Last-Event-ID; 409 OffsetAhead past the total", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("epoch")
        yield* buffer.write(bytes("abc"))
        const other = buffer.epoch === "0123456789abcdef" ? "fedcba9876543210" : "0123456789abcdef"
        const byQuery = yield* request(`${server.base}/scrollback/epoch/sse?epoch=${other}&offset=0`)
        assert.strictEqual(byQuery.status, 409)
        assert.strictEqual(byQuery.headers["content-type"], "application/json")
        assert.strictEqual(byQuery.headers["cache-control"], "no-store")
        assert.deepStrictEqual(json(byQuery).error._tag, "EpochMismatch")
        assert.deepStrictEqual(json(byQuery).error.expected, other)
        assert.deepStrictEqual(json(byQuery).error.actual, buffer.epoch)
        const byHeader = yield* request(`${server.base}/scrollback/epoch/sse`, {
          headers: { "last-event-id": `${other}:0` }
        })
        assert.strictEqual(byHeader.status, 409)
        const ahead = yield* request(`${server.base}/scrollback/epoch/sse`, {
          headers: { "last-event-id": `${buffer.epoch}:4` }
        })
        assert.deepStrictEqual([ahead.status, json(ahead).error], [409, {
          _tag: "OffsetAhead",
          requested: 4,
          total: 3
        }])
      }))

    it.scopedLive("a gap event under clamp, 410 under fail", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("evict", 8)
        yield* buffer.write(bytes("abcdefghijklmnopqrst")) // 20 bytes: oldest 12
        yield* buffer.end
        const conn = yield* sse(`${server.base}/scrollback/evict/sse?offset=2`)
        const collected = yield* collectSse(conn)
        const gap = collected.events[0]
        assert.strictEqual(gap.event, "gap")
        assert.strictEqual(gap.id, `${buffer.epoch}:12`)
        assert.deepStrictEqual(JSON.parse(gap.data), { requested: 2, oldest: 12 })
        assert.strictEqual(text(collected.bytes), "mnopqrst")
        const failed = yield* request(`${server.base}/scrollback/evict/sse?offset=2&onEvicted=fail`)
        assert.strictEqual(failed.status, 410)
        assert.deepStrictEqual(json(failed), {
          error: { _tag: "OffsetEvicted", requested: 2, oldest: 12 },
          message: "offset 2 was evicted; the oldest retained offset is 12"
        })
      }))

    it.scopedLive("after the end: a reconnect at (or past) the end position gets 204", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("done")
        yield* buffer.write(bytes("bye"))
        yield* buffer.end
        const conn = yield* sse(`${server.base}/scrollback/done/sse`)
        const collected = yield* collectSse(conn)
        const endId = collected.end!.id!
        assert.strictEqual(endId, `${buffer.epoch}:3`)
        const again = yield* request(`${server.base}/scrollback/done/sse`, { headers: { "last-event-id": endId } })
        assert.strictEqual(again.status, 204)
        assert.strictEqual(again.body.length, 0)
        const byQuery = yield* request(`${server.base}/scrollback/done/sse?offset=3`)
        assert.strictEqual(byQuery.status, 204)
        const before = yield* request(`${server.base}/scrollback/done/sse`, {
          headers: { "last-event-id": `${buffer.epoch}:1` }
        })
        assert.strictEqual(before.status, 200)
        assert.include(text(before.body), "event: end")
      }))

    it.scopedLive("a failed producer: the end event carries the reason and the exit code", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("crash")
        yield* buffer.write(bytes("oops"))
        yield* buffer.fail(new ProducerFailed({ reason: "exit code 3", exitCode: 3 }))
        const collected = yield* collectSse(yield* sse(`${server.base}/scrollback/crash/sse`))
        assert.strictEqual(text(collected.bytes), "oops")
        assert.deepStrictEqual(JSON.parse(collected.end!.data), {
          status: "failed",
          reason: "exit code 3",
          exitCode: 3
        })
        assert.strictEqual(collected.end!.id, `${buffer.epoch}:4`)
      }))

    it.scopedLive("registry.adopt serves a ReplayProcess.run buffer: byte-exact, with its exit status", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        // CR, a bare \r and every byte value, then exit code 7.
        const script = "process.stdout.write('line 1\\r\\nprogress 50%\\rprogress 100%\\n');" +
          "process.stdout.write(Buffer.from(Array.from({ length: 256 }, (_, i) => i)), () => process.exit(7))"
        const buffer = yield* ReplayProcess.run(Command.make(process.execPath, "-e", script))
        yield* server.registry.adopt("job", buffer)
        const collected = yield* collectSse(yield* sse(`${server.base}/scrollback/job/sse`))
        const expected = concat([
          bytes("line 1\r\nprogress 50%\rprogress 100%\n"),
          Uint8Array.from({ length: 256 }, (_, i) => i)
        ])
        assert.deepStrictEqual(collected.bytes, expected)
        assert.deepStrictEqual(JSON.parse(collected.end!.data), {
          status: "failed",
          reason: "exited with code 7",
          exitCode: 7
        })
        assert.strictEqual(collected.end!.id, `${buffer.epoch}:${expected.length}`)
      }).pipe(Effect.provide(NodeContext.layer)))

    it.scopedLive("sends a : ping comment when nothing was sent for keepAlive", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { keepAlive: "50 millis", sseRetry: "2 seconds" } })
        yield* server.create("idle")
        const conn = yield* sse(`${server.base}/scrollback/idle/sse`)
        const hello = yield* nextEvent(conn)
        assert.strictEqual(hello.retry, 2000)
        const item = yield* conn.next
        assert.deepStrictEqual(item, { _tag: "Comment", text: "ping" })
      }))

    it.scopedLive("400 for each malformed parameter, naming it", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        yield* server.create("k")
        const cases: ReadonlyArray<[string, string, Record<string, string>?]> = [
          ["/scrollback/k/sse?offset=abc", "offset"],
          ["/scrollback/k/sse?offset=1.5", "offset"],
          ["/scrollback/k/sse?offset=", "offset"],
          ["/scrollback/k/sse?offset=99999999999999999999", "offset"],
          ["/scrollback/k/sse?epoch=xyz", "epoch"],
          ["/scrollback/k/sse?onEvicted=maybe", "onEvicted"],
          ["/scrollback/k/sse", "Last-Event-ID", { "last-event-id": "nonsense" }],
          ["/scrollback/k/sse", "Last-Event-ID", { "last-event-id": "0123456789abcdef:x" }],
          ["/scrollback/k/sse", "Last-Event-ID", { "last-event-id": "x:5" }],
          ["/scrollback/k?limit=abc", "limit"],
          ["/scrollback/k?limit=0", "limit"],
          ["/scrollback/k?wait=-1", "wait"],
          ["/scrollback/k?wait=soon", "wait"],
          ["/scrollback/k?offset=x", "offset"],
          ["/scrollback/k?epoch=ABC", "epoch"],
          ["/scrollback/k?onEvicted=skip", "onEvicted"],
          ["/scrollback/bad%20key/info", "key"],
          ["/scrollback/bad%20key/sse", "key"],
          ["/scrollback/a%2Fb/sse", "key"]
        ]
        for (const [path, name, headers] of cases) {
          const result = yield* request(`${server.base}${path}`, headers ? { headers } : undefined)
          assert.strictEqual(result.status, 400, path)
          assert.strictEqual(result.headers["content-type"], "application/json", path)
          assert.strictEqual(json(result).error._tag, "BadRequest", path)
          assert.strictEqual(json(result).error.name, name, path)
          assert.isString(json(result).message, path)
        }
      }))

    it.scopedLive("404 for an unknown buffer on every endpoint, and for unknown paths; 405 for other methods", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        yield* server.create("k")
        for (const path of ["/scrollback/nope", "/scrollback/nope/sse", "/scrollback/nope/info"]) {
          const result = yield* request(`${server.base}${path}`)
          assert.strictEqual(result.status, 404, path)
          assert.deepStrictEqual(json(result).error._tag, "BufferNotFound")
          assert.deepStrictEqual(json(result).error.key, "nope")
        }
        // A path that is not valid percent-encoding matches no endpoint.
        for (const path of ["/elsewhere", "/scrollback/a/b/c", "/scrollback/a/other", "/scrollback/%ZZ/sse"]) {
          const result = yield* request(`${server.base}${path}`)
          assert.strictEqual(result.status, 404, path)
          assert.deepStrictEqual(json(result).error._tag, "NotFound")
        }
        for (
          const [method, path] of [["POST", "/scrollback/"], ["POST", "/scrollback/k/sse"], [
            "DELETE",
            "/scrollback/k/ws"
          ]]
        ) {
          const result = yield* request(`${server.base}${path}`, { method })
          assert.deepStrictEqual([result.status, result.headers["allow"], json(result).error._tag], [
            405,
            "GET",
            "MethodNotAllowed"
          ], `${method} ${path}`)
        }
      }))

    it.scopedLive("429 over the per-buffer limit, 503 over the overall limit; slots are released at the end", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { maxConnections: 2, maxConnectionsPerBuffer: 1 } })
        const a = yield* server.create("a")
        yield* server.create("b")
        yield* server.create("c")
        const first = yield* sse(`${server.base}/scrollback/a/sse`)
        yield* nextEvent(first)
        const tooMany = yield* request(`${server.base}/scrollback/a/sse`)
        assert.strictEqual(tooMany.status, 429)
        assert.strictEqual(tooMany.headers["retry-after"], "1")
        assert.deepStrictEqual(json(tooMany).error, { _tag: "TooManyConnections", scope: "buffer", limit: 1 })
        const second = yield* sse(`${server.base}/scrollback/b/sse`)
        yield* nextEvent(second)
        const overall = yield* request(`${server.base}/scrollback/c/sse`)
        assert.strictEqual(overall.status, 503)
        assert.deepStrictEqual(json(overall).error, { _tag: "TooManyConnections", scope: "server", limit: 2 })
        // Ending buffer "a" ends its stream, which releases its slot before the response ends.
        yield* a.end
        yield* first.closed
        const third = yield* sse(`${server.base}/scrollback/c/sse`)
        assert.strictEqual(third.status, 200)
      }))

    it.scopedLive("a client that goes away frees its slot", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { maxConnectionsPerBuffer: 1 } })
        yield* server.create("k")
        const first = yield* sse(`${server.base}/scrollback/k/sse`)
        yield* nextEvent(first)
        assert.strictEqual((yield* request(`${server.base}/scrollback/k/sse`)).status, 429)
        yield* first.close
        yield* eventually(Effect.map(status(`${server.base}/scrollback/k/sse`), (code) => code === 200), {
          message: "the slot of a client that left is free"
        })
      }))

    it.scopedLive("server shutdown ends SSE responses (no end event) and long-polls, and the server's close completes", () =>
      Effect.gen(function*() {
        const serverScope = yield* Scope.make()
        const server = yield* serve().pipe(Scope.extend(serverScope))
        const buffer = yield* server.create("bye")
        yield* buffer.write(bytes("before"))
        const conn = yield* sse(`${server.base}/scrollback/bye/sse`)
        yield* nextEvent(conn) // hello
        yield* nextEvent(conn) // the bytes
        const poll = yield* Effect.fork(request(`${server.base}/scrollback/bye?offset=6&wait=30000`))
        yield* eventually(Effect.map(server.connections, (n) => n === 2), { message: "the long-poll is waiting" })
        assert.isTrue(yield* closesWithin(serverScope, "5 seconds"), "the server closed within 5 s")
        yield* conn.closed
        assert.notInclude(conn.raw(), "event: end", "the buffer did not end")
        const polled = yield* Fiber.join(poll)
        assert.deepStrictEqual([polled.status, polled.body.length, polled.headers["scrollback-ended"]], [
          200,
          0,
          "false"
        ])
      }))

    it.scopedLive("the authorization hook: a denial answers with its status; it sees the key and transport", () =>
      Effect.gen(function*() {
        const seen: Array<string> = []
        const server = yield* serve({
          authorization: {
            authorize: ({ headers, key, transport }) => {
              seen.push(`${transport}:${key}`)
              return headers["authorization"] === "Bearer ok"
                ? Effect.void
                : Effect.fail(new ReplayHttpError.Denied({ status: 401, message: "token required" }))
            }
          }
        })
        yield* server.create("secret")
        const denied = yield* request(`${server.base}/scrollback/secret/sse`)
        assert.strictEqual(denied.status, 401)
        assert.deepStrictEqual(json(denied), {
          error: { _tag: "Denied", status: 401, message: "token required" },
          message: "token required"
        })
        const unknownDenied = yield* request(`${server.base}/scrollback/unknown/sse`)
        assert.strictEqual(unknownDenied.status, 401, "a refused client cannot probe which keys exist")
        const ok = yield* request(`${server.base}/scrollback/secret/info`, { headers: { authorization: "Bearer ok" } })
        assert.strictEqual(ok.status, 200)
        const list = yield* request(`${server.base}/scrollback/`, { headers: { authorization: "Bearer ok" } })
        assert.strictEqual(list.status, 200)
        const get = yield* request(`${server.base}/scrollback/secret`)
        assert.strictEqual(get.status, 401)
        const streaming = yield* sse(`${server.base}/scrollback/secret/sse`, { authorization: "Bearer ok" })
        assert.strictEqual(streaming.status, 200)
        assert.deepStrictEqual(seen, [
          "sse:secret",
          "sse:unknown",
          "info:secret",
          "list:undefined",
          "get:secret",
          "sse:secret"
        ])
        const forbidden = yield* serve({
          authorization: { authorize: () => Effect.fail(new ReplayHttpError.Denied({ status: 403, message: "no" })) }
        })
        assert.strictEqual((yield* request(`${forbidden.base}/scrollback/`)).status, 403)
        assert.strictEqual((yield* request(`${forbidden.base}/scrollback/k/sse`)).status, 403)
      }))
  })
}
