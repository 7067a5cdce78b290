/** Plain GET and long-poll, and the JSON metadata endpoints. */
import { assert, describe, it } from "@effect/vitest"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { bytes, text } from "../bytes.js"
import { json, request, status } from "../http.js"
import type { Serve } from "../server.js"

export const getSuite = (serve: Serve): void => {
  describe("GET and long-poll", () => {
    it.scopedLive("returns the bytes with every header", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const buffer = yield* server.create("get", 16)
        yield* buffer.write(bytes("0123456789"))
        const all = yield* request(`${server.base}/scrollback/get`)
        assert.strictEqual(all.status, 200)
        assert.strictEqual(all.headers["content-type"], "application/octet-stream")
        assert.strictEqual(all.headers["cache-control"], "no-store")
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
        assert.deepStrictEqual(json(tooBig).error, {
          _tag: "LimitTooLarge",
          limit: 8 * 1024 * 1024 + 1,
          max: 8 * 1024 * 1024
        })
        const maxOk = yield* request(`${server.base}/scrollback/get?limit=${8 * 1024 * 1024}`)
        assert.strictEqual(maxOk.status, 200)
        const mismatch = yield* request(`${server.base}/scrollback/get?epoch=0000000000000000`)
        assert.strictEqual(mismatch.status, buffer.epoch === "0000000000000000" ? 200 : 409)
        yield* buffer.fail(new ProducerFailed({ reason: "killed", exitCode: 137 }))
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

    it.scopedLive("a plain GET needs no slot; a long-poll gives its slot back when it returns", () =>
      Effect.gen(function*() {
        const asked = yield* Deferred.make<void>()
        const server = yield* serve({
          http: { maxConnectionsPerBuffer: 1 },
          authorization: { authorize: () => Deferred.succeed(asked, undefined) }
        })
        const buffer = yield* server.create("slot")
        const poll = yield* Effect.fork(request(`${server.base}/scrollback/slot?wait=30000`))
        yield* Deferred.await(asked)
        // The poll takes its slot right after the hook: a GET that does not wait never needs one.
        const plain = yield* request(`${server.base}/scrollback/slot`)
        assert.strictEqual(plain.status, 200)
        yield* buffer.write(bytes("x"))
        assert.strictEqual(text((yield* Fiber.join(poll)).body), "x")
        assert.strictEqual(yield* status(`${server.base}/scrollback/slot/sse`), 200)
      }).pipe(Effect.timeout("10 seconds")))
  })
}

export const metadataSuite = (serve: Serve): void => {
  describe("metadata", () => {
    it.scopedLive("info and list, under another prefix", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { prefix: "/api/logs" } })
        const a = yield* server.create("a", 4)
        const b = yield* server.create("b")
        yield* a.write(bytes("123456"))
        yield* b.fail(new ProducerFailed({ reason: "boom", exitCode: 2 }))
        const info = yield* request(`${server.base}/api/logs/a/info`)
        assert.strictEqual(info.headers["cache-control"], "no-store")
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
        assert.strictEqual((yield* request(`${server.base}/scrollback/a/sse`)).status, 404)
        const streamed = yield* request(`${server.base}/api/logs/b/sse`)
        assert.strictEqual(streamed.status, 200)
        assert.include(text(streamed.body), "event: end")
      }))

    it.scopedLive("the list is off unless asked for", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { list: false } })
        yield* server.create("a")
        const hidden = yield* request(`${server.base}/scrollback`)
        assert.deepStrictEqual([hidden.status, json(hidden).error._tag], [404, "NotFound"])
        assert.strictEqual((yield* request(`${server.base}/scrollback/a/info`)).status, 200)
      }))

    it.scopedLive("the empty prefix serves at the root", () =>
      Effect.gen(function*() {
        const server = yield* serve({ http: { prefix: "" } })
        const buffer = yield* server.create("root")
        yield* buffer.write(bytes("at the root"))
        yield* buffer.end
        assert.strictEqual(json(yield* request(`${server.base}/root/info`)).total, 11)
        assert.strictEqual(text((yield* request(`${server.base}/root`)).body), "at the root")
        const streamed = yield* request(`${server.base}/root/sse`)
        assert.strictEqual(streamed.status, 200)
        assert.include(text(streamed.body), "event: end")
        assert.strictEqual(json(yield* request(`${server.base}/`)).buffers.length, 1)
      }))
  })
}
