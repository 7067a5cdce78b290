import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit } from "effect"
import { RedisLog, RedisStore } from "../src/index.js"
import { concat, equalBytes, pattern } from "./util/bytes.js"
import { keysOf, ModelReplica } from "./util/harness.js"
import * as RedisServer from "./util/redisServer.js"

const writesOf = (count: number) => {
  let at = 0
  return Array.from({ length: count }, (_, i) => {
    const chunk = pattern(at, i % 9 === 0 ? 70_000 : 1 + (i * 97) % 3000)
    at += chunk.length
    return chunk
  })
}

describe("RedisLog.follow", () => {
  it.scopedLive("a tail on another instance applies every byte exactly once, in order, then the end", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const storeA = yield* RedisStore.make({ url: server.url })
      // A long safety poll: this test relies on the wake-ups.
      const storeB = yield* RedisStore.make({ url: server.url, safetyPollMs: 60_000 })
      const writer = yield* RedisLog.create(storeA, "t", { capacity: 8 << 20 })
      const writes = writesOf(200)
      yield* writer.writeAll(writes.slice(0, 20))
      // The replica starts where a `get` would: at the current total.
      const follower = yield* RedisLog.open(storeB, "t")
      const start = (yield* follower.read(0, { maxEntries: 1 })).total
      const replica = new ModelReplica(start)
      const ended = yield* Deferred.make<void>()
      const tail = yield* follower.follow({
        from: start,
        apply: replica.apply,
        applyEnd: (exit) => {
          replica.applyEnd(exit)
          Deferred.unsafeDone(ended, Exit.void)
        }
      })
      yield* Effect.forEach(writes.slice(20), (w) => writer.write(w), { discard: true })
      yield* writer.end()
      yield* Deferred.await(ended).pipe(Effect.timeout("30 seconds"))
      const all = concat(writes)
      assert.strictEqual(replica.jumps, 0)
      assert.isTrue(equalBytes(replica.bytes(), all.subarray(start)))
      assert.deepStrictEqual(replica.ends, [Exit.void])
      assert.strictEqual(yield* tail.position, all.length)
    }))

  it.scopedLive("lost wake-ups cost latency, never bytes: the safety poll delivers everything exactly once", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const storeA = yield* RedisStore.make({ url: server.url })
      const storeB = yield* RedisStore.make({ url: server.url, safetyPollMs: 100 })
      const writer = yield* RedisLog.create(storeA, "quiet", { capacity: 8 << 20 })
      const follower = yield* RedisLog.open(storeB, "quiet")
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
      // Drop the subscription behind the tail's back: no wake-up reaches it any more.
      yield* Effect.promise(() => storeB.subscriber.sunsubscribe(keysOf("quiet").channel))
      const writes = writesOf(60)
      yield* Effect.forEach(writes, (w, i) =>
        writer.write(w).pipe(
          // Kill the subscriber connection now and then too (it reconnects and resubscribes), then drop the
          // subscription again.
          Effect.zipRight(
            i % 20 === 10
              ? server.command("CLIENT", "KILL", "TYPE", "pubsub").pipe(
                Effect.zipRight(Effect.promise(() => storeB.subscriber.sunsubscribe(keysOf("quiet").channel)))
              )
              : Effect.void
          )
        ), { discard: true })
      yield* writer.end()
      yield* Deferred.await(ended).pipe(Effect.timeout("30 seconds"))
      assert.strictEqual(replica.jumps, 0)
      assert.isTrue(equalBytes(replica.bytes(), concat(writes)))
      assert.strictEqual(replica.ends.length, 1)
    }))

  it.scopedLive("a tail that fell behind the capacity jumps to oldest: the skipped range is reported, not lost", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const store = yield* RedisStore.make({ url: server.url, safetyPollMs: 60_000 })
      const capacity = 100_000
      const writer = yield* RedisLog.create(store, "behind", { capacity })
      const writes = writesOf(100)
      const all = concat(writes)
      yield* Effect.forEach(writes, (w) => writer.write(w), { discard: true })
      const replica = new ModelReplica(0)
      const tail = yield* writer.follow({ from: 0, apply: replica.apply, applyEnd: replica.applyEnd })
      yield* tail.pull
      assert.strictEqual(replica.jumps, 1)
      assert.strictEqual(replica.total, all.length)
      assert.isTrue(equalBytes(replica.bytes(), all.subarray(all.length - capacity)))
    }))
})
