import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Command from "@effect/platform/Command"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, it } from "@effect/vitest"
import { ReplayBufferError } from "@scrollback/core"
import { ReplayRegistry } from "@scrollback/core"
import { ReplayHttp, ReplayHttpError, ReplayProcess } from "@scrollback/platform"
import { Context, Deferred, Effect, Fiber, Layer, Stream } from "effect"
import * as Http from "node:http"
import {
  bytes,
  collectSse,
  concatBytes,
  decodeBase64,
  json,
  nextEvent,
  request,
  serve,
  splitPieces,
  splitWritesArb,
  sse
} from "./ReplayHttpHarness.js"

const text = (data: Uint8Array) => new TextDecoder().decode(data)

describe("ReplayHttp SSE", () => {
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
      assert.deepStrictEqual(collected.bytes, concatBytes(writes))
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

  it.scopedLive("409 on an epoch mismatch, from the query or from Last-Event-ID", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const buffer = yield* server.create("epoch")
      const other = buffer.epoch === "0123456789abcdef" ? "fedcba9876543210" : "0123456789abcdef"
      const byQuery = yield* request(`${server.base}/scrollback/epoch/sse?epoch=${other}&offset=0`)
      assert.strictEqual(byQuery.status, 409)
      assert.strictEqual(byQuery.headers["content-type"], "application/json")
      assert.deepStrictEqual(json(byQuery).error._tag, "EpochMismatch")
      assert.deepStrictEqual(json(byQuery).error.expected, other)
      assert.deepStrictEqual(json(byQuery).error.actual, buffer.epoch)
      const byHeader = yield* request(`${server.base}/scrollback/epoch/sse`, {
        headers: { "last-event-id": `${other}:0` }
      })
      assert.strictEqual(byHeader.status, 409)
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
      yield* buffer.fail(new ReplayBufferError.ProducerFailed({ reason: "exit code 3", exitCode: 3 }))
      const collected = yield* collectSse(yield* sse(`${server.base}/scrollback/crash/sse`))
      assert.strictEqual(text(collected.bytes), "oops")
      assert.deepStrictEqual(JSON.parse(collected.end!.data), { status: "failed", reason: "exit code 3", exitCode: 3 })
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
      const expected = concatBytes([
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

  it.scopedLive("400 for each malformed parameter", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      yield* server.create("k")
      const cases: ReadonlyArray<[string, Record<string, string>?]> = [
        ["/scrollback/k/sse?offset=abc"],
        ["/scrollback/k/sse?offset=1.5"],
        ["/scrollback/k/sse?offset="],
        ["/scrollback/k/sse?offset=99999999999999999999"],
        ["/scrollback/k/sse?epoch=xyz"],
        ["/scrollback/k/sse?onEvicted=maybe"],
        ["/scrollback/k/sse", { "last-event-id": "nonsense" }],
        ["/scrollback/k/sse", { "last-event-id": "0123456789abcdef:x" }],
        ["/scrollback/k?limit=abc"],
        ["/scrollback/k?limit=0"],
        ["/scrollback/k?wait=-1"],
        ["/scrollback/k?wait=soon"],
        ["/scrollback/k?offset=x"],
        ["/scrollback/k?epoch=ABC"],
        ["/scrollback/k?onEvicted=skip"],
        ["/scrollback/bad%20key/info"]
      ]
      for (const [path, headers] of cases) {
        const result = yield* request(`${server.base}${path}`, headers ? { headers } : undefined)
        assert.strictEqual(result.status, 400, path)
        assert.strictEqual(result.headers["content-type"], "application/json", path)
        assert.strictEqual(json(result).error._tag, "BadRequest", path)
        assert.isString(json(result).error.name, path)
        assert.isString(json(result).message, path)
      }
    }))

  it.scopedLive("404 for an unknown buffer on every endpoint, and for unknown paths", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      for (const path of ["/scrollback/nope", "/scrollback/nope/sse", "/scrollback/nope/info"]) {
        const result = yield* request(`${server.base}${path}`)
        assert.strictEqual(result.status, 404, path)
        assert.deepStrictEqual(json(result).error._tag, "BufferNotFound")
        assert.deepStrictEqual(json(result).error.key, "nope")
      }
      for (const path of ["/elsewhere", "/scrollback/a/b/c", "/scrollback/a/other"]) {
        const result = yield* request(`${server.base}${path}`)
        assert.strictEqual(result.status, 404, path)
        assert.deepStrictEqual(json(result).error._tag, "NotFound")
      }
      const post = yield* request(`${server.base}/scrollback/`, { method: "POST" })
      assert.strictEqual(post.status, 405)
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
      assert.deepStrictEqual(json(tooMany).error._tag, "TooManyConnections")
      assert.deepStrictEqual(json(tooMany).error.scope, "buffer")
      const second = yield* sse(`${server.base}/scrollback/b/sse`)
      yield* nextEvent(second)
      const overall = yield* request(`${server.base}/scrollback/c/sse`)
      assert.strictEqual(overall.status, 503)
      assert.deepStrictEqual(json(overall).error.scope, "server")
      // Ending buffer "a" ends its stream, which releases its slot before the response ends.
      yield* a.end
      yield* first.closed
      const third = yield* sse(`${server.base}/scrollback/c/sse`)
      assert.strictEqual(third.status, 200)
    }))

  it.scopedLive("a client that goes away frees its slot", () =>
    Effect.gen(function*() {
      const streamDone = yield* Deferred.make<void>()
      const server = yield* serve({
        http: { maxConnectionsPerBuffer: 1 },
        // Observe the end of the response body; the server releases the slot before this runs.
        wrap: (app) =>
          Effect.map(app, (response) =>
            response.body._tag === "Stream"
              ? HttpServerResponse.setBody(
                response,
                HttpBody.stream(
                  Stream.ensuring(response.body.stream, Deferred.succeed(streamDone, undefined)),
                  response.body.contentType
                )
              )
              : response)
      })
      yield* server.create("k")
      const first = yield* sse(`${server.base}/scrollback/k/sse`)
      yield* nextEvent(first)
      assert.strictEqual((yield* request(`${server.base}/scrollback/k/sse`)).status, 429)
      yield* first.close
      yield* Deferred.await(streamDone)
      const again = yield* sse(`${server.base}/scrollback/k/sse`)
      assert.strictEqual(again.status, 200)
    }))

  it.scopedLive("the authorization hook: a denial answers with its status; it sees the key and transport", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const server = yield* serve({
        authorization: {
          authorize: ({ key, request, transport }) => {
            seen.push(`${transport}:${key}`)
            return request.headers["authorization"] === "Bearer ok"
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
      const unknownDenied = yield* request(`${server.base}/scrollback/unknown/info`)
      assert.strictEqual(unknownDenied.status, 401, "a refused client cannot probe which keys exist")
      const ok = yield* request(`${server.base}/scrollback/secret/info`, { headers: { authorization: "Bearer ok" } })
      assert.strictEqual(ok.status, 200)
      const list = yield* request(`${server.base}/scrollback/`, { headers: { authorization: "Bearer ok" } })
      assert.strictEqual(list.status, 200)
      const get = yield* request(`${server.base}/scrollback/secret`)
      assert.strictEqual(get.status, 401)
      assert.deepStrictEqual(seen, ["sse:secret", "info:unknown", "info:secret", "list:undefined", "get:secret"])
      const forbidden = yield* serve({
        authorization: { authorize: () => Effect.fail(new ReplayHttpError.Denied({ status: 403, message: "no" })) }
      })
      assert.strictEqual((yield* request(`${forbidden.base}/scrollback/`)).status, 403)
    }))
})

describe("ReplayHttp GET and long-poll", () => {
  it.scopedLive("returns the bytes with every header", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const buffer = yield* server.create("get", 16)
      yield* buffer.write(bytes("0123456789"))
      const all = yield* request(`${server.base}/scrollback/get`)
      assert.strictEqual(all.status, 200)
      assert.strictEqual(all.headers["content-type"], "application/octet-stream")
      assert.strictEqual(text(all.body), "0123456789")
      assert.strictEqual(all.headers["scrollback-epoch"], buffer.epoch)
      assert.strictEqual(all.headers["scrollback-offset"], "0")
      assert.strictEqual(all.headers["scrollback-next-offset"], "10")
      assert.strictEqual(all.headers["scrollback-oldest"], "0")
      assert.strictEqual(all.headers["scrollback-total"], "10")
      assert.strictEqual(all.headers["scrollback-ended"], "false")
      assert.strictEqual(all.headers["scrollback-gap"], undefined)
      const limited = yield* request(`${server.base}/scrollback/get?offset=3&limit=4&epoch=${buffer.epoch}`)
      assert.strictEqual(text(limited.body), "3456")
      assert.strictEqual(limited.headers["scrollback-offset"], "3")
      assert.strictEqual(limited.headers["scrollback-next-offset"], "7")
      const past = yield* request(`${server.base}/scrollback/get?offset=50`)
      assert.strictEqual(past.body.length, 0)
      assert.strictEqual(past.headers["scrollback-offset"], "10")
      yield* buffer.write(bytes("abcdefghij")) // 20 bytes, capacity 16: oldest 4
      const gap = yield* request(`${server.base}/scrollback/get?offset=1`)
      assert.strictEqual(gap.headers["scrollback-gap"], "1-4")
      assert.strictEqual(gap.headers["scrollback-offset"], "4")
      assert.strictEqual(text(gap.body), "456789abcdefghij")
      const gone = yield* request(`${server.base}/scrollback/get?offset=1&onEvicted=fail`)
      assert.strictEqual(gone.status, 410)
      assert.deepStrictEqual(json(gone).error.requested, 1)
      assert.deepStrictEqual(json(gone).error.oldest, 4)
      const tooBig = yield* request(`${server.base}/scrollback/get?limit=${8 * 1024 * 1024 + 1}`)
      assert.strictEqual(tooBig.status, 413)
      assert.strictEqual(json(tooBig).error._tag, "LimitTooLarge")
      const maxOk = yield* request(`${server.base}/scrollback/get?limit=${8 * 1024 * 1024}`)
      assert.strictEqual(maxOk.status, 200)
      const mismatch = yield* request(`${server.base}/scrollback/get?epoch=0000000000000000`)
      assert.strictEqual(mismatch.status, buffer.epoch === "0000000000000000" ? 200 : 409)
      yield* buffer.fail(new ReplayBufferError.ProducerFailed({ reason: "killed", exitCode: 137 }))
      const failed = yield* request(`${server.base}/scrollback/get?offset=20`)
      assert.strictEqual(failed.headers["scrollback-ended"], "failed")
      assert.strictEqual(failed.headers["scrollback-exit-code"], "137")
    }))

  it.scopedLive("a long-poll returns as soon as bytes arrive", () =>
    Effect.gen(function*() {
      const asked = yield* Deferred.make<void>()
      const server = yield* serve({
        authorization: { authorize: () => Deferred.succeed(asked, undefined) }
      })
      const buffer = yield* server.create("poll")
      const poll = yield* Effect.fork(request(`${server.base}/scrollback/poll?offset=0&wait=30000`))
      yield* Deferred.await(asked)
      yield* buffer.write(bytes("news"))
      const result = yield* Fiber.join(poll)
      assert.strictEqual(text(result.body), "news")
      assert.strictEqual(result.headers["scrollback-next-offset"], "4")
    }).pipe(Effect.timeout("10 seconds")))

  it.scopedLive("a long-poll returns at the end, and after `wait` with an empty body", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const buffer = yield* server.create("poll")
      const timedOut = yield* request(`${server.base}/scrollback/poll?wait=50`)
      assert.strictEqual(timedOut.status, 200)
      assert.strictEqual(timedOut.body.length, 0)
      assert.strictEqual(timedOut.headers["scrollback-ended"], "false")
      const waiting = yield* Effect.fork(request(`${server.base}/scrollback/poll?wait=30000`))
      yield* buffer.end
      const ended = yield* Fiber.join(waiting)
      assert.strictEqual(ended.body.length, 0)
      assert.strictEqual(ended.headers["scrollback-ended"], "ended")
    }).pipe(Effect.timeout("10 seconds")))

  it.scopedLive("a wait above longPollMaxWait is clamped to it", () =>
    Effect.gen(function*() {
      const server = yield* serve({ http: { longPollMaxWait: "50 millis" } })
      yield* server.create("poll")
      const result = yield* request(`${server.base}/scrollback/poll?wait=1000000`)
      assert.strictEqual(result.status, 200)
      assert.strictEqual(result.body.length, 0)
    }).pipe(Effect.timeout("10 seconds")))
})

describe("ReplayHttp metadata", () => {
  it.scopedLive("info and list", () =>
    Effect.gen(function*() {
      const server = yield* serve({ http: { prefix: "/api/logs" } })
      const a = yield* server.create("a", 4)
      const b = yield* server.create("b")
      yield* a.write(bytes("123456"))
      yield* b.fail(new ReplayBufferError.ProducerFailed({ reason: "boom", exitCode: 2 }))
      const info = yield* request(`${server.base}/api/logs/a/info`)
      assert.deepStrictEqual(json(info), { key: "a", epoch: a.epoch, capacity: 4, oldest: 2, total: 6, ended: false })
      const list = yield* request(`${server.base}/api/logs`)
      const body = json(list)
      assert.strictEqual(body.buffers.length, 2)
      assert.strictEqual(body.buffers[0].key, "a")
      assert.isNumber(body.buffers[0].createdAt)
      const { createdAt: _, ...infoB } = body.buffers[1]
      assert.deepStrictEqual(infoB, {
        key: "b",
        epoch: b.epoch,
        capacity: 1024 * 1024,
        oldest: 0,
        total: 0,
        ended: "failed",
        reason: "boom",
        exitCode: 2
      })
      assert.strictEqual((yield* request(`${server.base}/api/logs/`)).status, 200)
      assert.strictEqual((yield* request(`${server.base}/scrollback/a/info`)).status, 404)
    }))
})

describe("ReplayHttp SSE property", () => {
  it.effect.prop(
    "random writes split at random points, delivered over SSE and joined, equal the written log",
    splitWritesArb,
    ([writes, connectAfter, splits]) =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("p")
        const pieces = splitPieces(writes, splits)
        const early = pieces.slice(0, connectAfter)
        const late = pieces.slice(connectAfter)
        for (const piece of early) yield* buffer.write(piece)
        const conn = yield* sse(`${server.base}/scrollback/p/sse`)
        const reader = yield* Effect.fork(collectSse(conn))
        for (const piece of late) yield* buffer.write(piece)
        yield* buffer.end
        const collected = yield* Fiber.join(reader)
        assert.deepStrictEqual(collected.bytes, concatBytes(writes))
        assert.deepStrictEqual(JSON.parse(collected.end!.data), { status: "ended" })
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: 100 } }
  )
})

describe("ReplayHttp composition", () => {
  it.scopedLive("layerRouter adds the endpoints to an HttpLayerRouter next to other routes", () =>
    Effect.gen(function*() {
      const registry = yield* Effect.orDie(ReplayRegistry.make())
      const buffer = yield* Effect.orDie(registry.create("routed"))
      yield* buffer.write(bytes("via the router"))
      yield* buffer.end
      const Other = HttpLayerRouter.add("GET", "/health", HttpServerResponse.text("ok"))
      const Routes = Layer.mergeAll(ReplayHttp.layerRouter({ prefix: "/r" }), Other).pipe(
        Layer.provide(Layer.succeed(ReplayRegistry.ReplayRegistry, registry))
      )
      const context = yield* Layer.build(
        HttpLayerRouter.serve(Routes, { disableLogger: true, disableListenLog: true }).pipe(
          Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
        )
      ).pipe(Effect.orDie)
      const address = Context.get(context, HttpServer.HttpServer).address
      const base = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`
      assert.strictEqual(text((yield* request(`${base}/health`)).body), "ok")
      assert.strictEqual(json(yield* request(`${base}/r/routed/info`)).total, 14)
      assert.strictEqual(json(yield* request(`${base}/r`)).buffers.length, 1)
      assert.strictEqual(json(yield* request(`${base}/r/`)).buffers.length, 1)
      assert.strictEqual(text((yield* request(`${base}/r/routed?offset=4`)).body), "the router")
      const collected = yield* collectSse(yield* sse(`${base}/r/routed/sse`))
      assert.strictEqual(text(collected.bytes), "via the router")
    }))

  it.scopedLive("layer serves the app with the registry and authorization of its context", () =>
    Effect.gen(function*() {
      const registry = yield* Effect.orDie(ReplayRegistry.make())
      yield* Effect.orDie(registry.create("served"))
      const context = yield* Layer.build(
        ReplayHttp.layer().pipe(
          Layer.provide(Layer.succeed(ReplayRegistry.ReplayRegistry, registry)),
          Layer.provide(
            ReplayHttp.layerAuthorization(({ transport }) =>
              transport === "list"
                ? Effect.fail(new ReplayHttpError.Denied({ status: 403, message: "no listing" }))
                : Effect.void
            )
          ),
          Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
        )
      ).pipe(Effect.orDie)
      const address = Context.get(context, HttpServer.HttpServer).address
      const base = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`
      assert.strictEqual((yield* request(`${base}/scrollback/served/info`)).status, 200)
      assert.strictEqual((yield* request(`${base}/scrollback/`)).status, 403)
    }))

  it("rejects invalid options as a defect when the app is built", () => {
    assert.throws(() => ReplayHttp.httpApp({ maxConnections: 0 }), /maxConnections/)
    assert.throws(() => ReplayHttp.httpApp({ prefix: "no-slash" }), /prefix/)
    assert.throws(() => ReplayHttp.httpApp({ prefix: "/trailing/" }), /prefix/)
    assert.throws(() => ReplayHttp.httpApp({ defaultLimit: 10, maxLimit: 5 }), /defaultLimit/)
    assert.throws(() => ReplayHttp.httpApp({ keepAlive: 0 }), /keepAlive/)
  })
})
