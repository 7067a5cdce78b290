import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option } from "effect"
import { RedisLog, RedisStore } from "../src/index.js"
import type { RedisLogError } from "../src/index.js"
import { concat, equalBytes } from "./util/bytes.js"
import { ModelReplica, readAll } from "./util/harness.js"
import * as RedisServer from "./util/redisServer.js"

/** Write `i`: 8 bytes of header (its index) then a body, so the log can be parsed back into writes. */
const record = (i: number): Uint8Array => {
  const body = 20 + (i * 37) % 500
  const out = new Uint8Array(8 + body)
  new DataView(out.buffer).setUint32(0, i)
  new DataView(out.buffer).setUint32(4, body)
  for (let j = 0; j < body; j++) out[8 + j] = (i + j) & 0xff
  return out
}

const parse = (bytes: Uint8Array): Array<number> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Array<number> = []
  let at = 0
  while (at < bytes.length) {
    const i = view.getUint32(at)
    const body = view.getUint32(at + 4)
    assert.isTrue(equalBytes(bytes.subarray(at, at + 8 + body), record(i)), `record ${i} at ${at} is intact`)
    out.push(i)
    at += 8 + body
  }
  return out
}

describe("RedisLog under faults", () => {
  it.scopedLive("CLIENT KILL mid-stream: writes succeed or fail StorageUnavailable, the log has each at most once", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const writerStore = yield* RedisStore.make({ url: server.url, commandTimeoutMs: 2000 })
      const followerStore = yield* RedisStore.make({ url: server.url, safetyPollMs: 200 })
      const log = yield* RedisLog.create(writerStore, "kill", { capacity: 8 << 20 })
      const follower = yield* RedisLog.open(followerStore, "kill")
      const replica = new ModelReplica(0)
      const ended = yield* Deferred.make<void>()
      yield* follower.follow({
        from: 0,
        apply: replica.apply,
        applyEnd: (exit) => {
          replica.applyEnd(exit)
          Deferred.unsafeDone(ended, Exit.void)
        }
      })
      const outcomes: Array<"ok" | "unavailable"> = []
      const writer = yield* Effect.forEach(Array.from({ length: 600 }, (_, i) => i), (i) =>
        log.write(record(i)).pipe(
          Effect.as("ok" as const),
          Effect.catchTag("StorageUnavailable", () => Effect.succeed("unavailable" as const)),
          Effect.tap((o) => Effect.sync(() => outcomes.push(o))),
          Effect.zipRight(i % 10 === 0 ? Effect.sleep("2 millis") : Effect.void)
        ), { discard: true }).pipe(Effect.fork)
      // Kill every client connection (commands and subscribers, both instances) a few times while writing.
      let kills = 0
      while (kills < 6 && Option.isNone(yield* Fiber.poll(writer))) {
        yield* Effect.sleep("40 millis")
        const killed = Number(yield* server.command("CLIENT", "KILL", "TYPE", "normal")) +
          Number(yield* server.command("CLIENT", "KILL", "TYPE", "pubsub"))
        if (killed > 0) kills++
      }
      yield* Fiber.join(writer)
      assert.isAtLeast(kills, 1)
      // Everything works again after the drops.
      yield* log.write(record(600))
      outcomes.push("ok")
      assert.isTrue(yield* log.end())
      yield* Deferred.await(ended).pipe(Effect.timeout("30 seconds"))

      const written = parse((yield* readAll(log, 0)).bytes)
      // In order, no duplicate, every acknowledged write present; a failed one may be there or not.
      for (let k = 1; k < written.length; k++) assert.isAbove(written[k], written[k - 1])
      const present = new Set(written)
      outcomes.forEach((o, i) => {
        if (o === "ok") assert.isTrue(present.has(i), `acknowledged write ${i} is in the log`)
      })
      // The other instance's tail got exactly the log, once, in order.
      assert.strictEqual(replica.jumps, 0)
      assert.deepStrictEqual(parse(replica.bytes()), written)
      assert.strictEqual(replica.ends.length, 1)
    }))

  it.scopedLive("redis-server killed: StorageUnavailable within the command timeout, no hang; back when it returns", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ persistence: "aof" })
      const store = yield* RedisStore.make({ url: server.url, commandTimeoutMs: 1000 })
      const log = yield* RedisLog.create(store, "down", { capacity: 1 << 16 })
      yield* log.write(new Uint8Array([1, 2, 3]))
      yield* server.kill9
      const started = Date.now()
      const errors: Array<RedisLogError.RedisLogError | unknown> = []
      errors.push(yield* Effect.flip(log.write(new Uint8Array([4]))))
      errors.push(yield* Effect.flip(log.read(0)))
      errors.push(yield* Effect.flip(log.end()))
      const elapsed = Date.now() - started
      for (const e of errors) assert.deepInclude(e, { _tag: "StorageUnavailable" })
      // Three commands, each bounded by the 1 s timeout (generous slack for a busy machine).
      assert.isBelow(elapsed, 3 * 1000 + 5000)
      yield* server.start({ persistence: "aof" })
      // The connection comes back by itself; the AOF kept the log, so the same handle goes on.
      const appended = yield* log.write(new Uint8Array([5])).pipe(
        Effect.retry({ while: (e) => e._tag === "StorageUnavailable", times: 100 }),
        Effect.tapError(() => Effect.sleep("50 millis"))
      )
      assert.strictEqual(appended.offset, 3)
      assert.deepStrictEqual([...(yield* readAll(log, 0)).bytes], [1, 2, 3, 5])
    }))

  it.scopedLive("a server that stops answering (SIGSTOP): StorageUnavailable after the timeout, then recovery", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const store = yield* RedisStore.make({ url: server.url, commandTimeoutMs: 500 })
      const log = yield* RedisLog.create(store, "frozen", { capacity: 1 << 16 })
      yield* log.write(new Uint8Array([1]))
      yield* server.freeze
      const error = yield* Effect.flip(log.write(new Uint8Array([2])))
      assert.deepInclude(error, { _tag: "StorageUnavailable" })
      yield* server.thaw
      // The timed-out write was delivered and may run once the server wakes: indeterminate, never twice.
      yield* log.write(new Uint8Array([3])).pipe(
        Effect.retry({ while: (e) => e._tag === "StorageUnavailable", times: 50 })
      )
      const bytes = [...(yield* readAll(log, 0)).bytes]
      assert.isTrue(
        JSON.stringify(bytes) === "[1,3]" || JSON.stringify(bytes) === "[1,2,3]",
        `log is ${JSON.stringify(bytes)}`
      )
    }))

  it.scopedLive("restarted without persistence: the loss is detected (LogLost), never spliced", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const store = yield* RedisStore.make({ url: server.url, commandTimeoutMs: 1000, safetyPollMs: 100 })
      const log = yield* RedisLog.create(store, "gone", { capacity: 1 << 16 })
      const replica = new ModelReplica(0)
      const lost = yield* Deferred.make<RedisLogError.LogLost>()
      const tail = yield* log.follow({
        from: 0,
        apply: replica.apply,
        applyEnd: replica.applyEnd,
        onLost: (e) => Deferred.unsafeDone(lost, Exit.succeed(e))
      })
      yield* log.write(new Uint8Array([1, 2, 3]))
      yield* tail.pull
      assert.strictEqual(replica.total, 3)
      yield* server.kill9
      yield* server.start()
      const seen = yield* Deferred.await(lost).pipe(Effect.timeout("30 seconds"))
      assert.deepInclude(seen, { _tag: "LogLost", reason: "missing", epoch: log.epoch })
      assert.deepInclude(yield* tail.lost.pipe(Effect.map(Option.getOrThrow)), { reason: "missing" })
      assert.deepInclude(yield* Effect.flip(log.write(new Uint8Array([4]))), { _tag: "LogLost", reason: "missing" })
      assert.deepInclude(yield* Effect.flip(log.read(0)), { _tag: "LogLost" })
      // Another instance re-creates the key: a new epoch, and the old handle refuses to splice onto it.
      const again = yield* RedisLog.getOrCreate(store, "gone", { capacity: 1 << 16 })
      assert.notStrictEqual(again.epoch, log.epoch)
      yield* again.write(new Uint8Array([9]))
      assert.deepInclude(yield* Effect.flip(log.write(new Uint8Array([4]))), {
        _tag: "LogLost",
        reason: "epoch-changed",
        actualEpoch: again.epoch
      })
      assert.strictEqual(replica.total, 3)
      assert.deepStrictEqual([...concat(replica.parts)], [1, 2, 3])
    }))
})
