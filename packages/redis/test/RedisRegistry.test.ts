import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer, ReplayCursor } from "@scrollback/core"
import { OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import { ReplayStream } from "@scrollback/platform"
import { Cause, Deferred, Effect, Exit, Fiber, Option, Schedule, Scope, Stream } from "effect"
import { RedisRegistry } from "../src/index.js"
import { concat, equalBytes, pattern } from "./util/bytes.js"
import { keysOf } from "./util/harness.js"
import * as RedisServer from "./util/redisServer.js"

const text = (s: string) => new TextEncoder().encode(s)

/** How an effect ended: `Success`, `Defect`, `Interrupted`, or its error's tag. */
const tagOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "Success"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return (failure.value as { readonly _tag: string })._tag
  return Cause.isInterruptedOnly(exit.cause) ? "Interrupted" : "Defect"
}

/** One redis-server and two registries over it: two "instances", each with its own two connections. */
const twoInstances = (options?: RedisRegistry.Options) =>
  Effect.gen(function*() {
    const server = yield* RedisServer.make()
    const a = yield* RedisRegistry.make({ ...options, url: server.url })
    const b = yield* RedisRegistry.make({ ...options, url: server.url })
    return { server, a, b }
  })

/** A follower (`ReplayStream.follow`) in a fiber: the bytes it got, and how it ended. */
const follower = (buffer: ReplayBuffer.ReplayBuffer, options?: ReplayStream.FollowOptions) =>
  Effect.fork(Effect.gen(function*() {
    const got: Array<Uint8Array> = []
    const exit = yield* Effect.exit(
      Stream.runForEach(ReplayStream.follow(buffer, options), (chunk) => Effect.sync(() => got.push(chunk)))
    )
    return { exit, bytes: concat(got) }
  }))

/** Asks `registry` for `key` until it answers BufferNotFound (at most 10 s). */
const awaitGone = (registry: RedisRegistry.RedisRegistry, key: string) =>
  registry.get(key).pipe(
    Effect.flatMap(() => Effect.fail("still there")),
    Effect.catchTag("BufferNotFound", () => Effect.void),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeout("10 seconds")
  )

/** Stops `registry`'s tail of `key` from hearing wake-ups: its replica then moves only when something pulls. */
const deafen = (registry: RedisRegistry.RedisRegistry, key: string) =>
  Effect.promise(() => registry.store.subscriber.sunsubscribe(keysOf(key).channel))

/** Every retained byte of a buffer, from its oldest. */
const retained = (buffer: ReplayBuffer.ReplayBuffer) => Effect.map(buffer.readFrom(0), (r) => r.bytes)

const writesOf = (count: number) => {
  let at = 0
  return Array.from({ length: count }, (_, i) => {
    const chunk = pattern(at, i % 25 === 0 ? 70_000 : 1 + (i * 97) % 3000)
    at += chunk.length
    return chunk
  })
}

describe("RedisRegistry", () => {
  it.scopedLive("core's registry interface: keys are global (in Redis), limits bound what this instance holds", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const a = yield* RedisRegistry.make({
        url: server.url,
        maxBuffers: 2,
        maxTotalBytes: 3000,
        defaultCapacity: 1000,
        idleTimeout: "1 minute"
      })
      const b = yield* RedisRegistry.make({ url: server.url })
      assert.deepStrictEqual(
        [a.limits.maxBuffers, a.limits.maxTotalBytes, a.limits.defaultCapacity],
        [2, 3000, 1000]
      )
      const k1 = yield* a.create("k1")
      assert.strictEqual(k1.capacity, 1000)
      assert.match(k1.epoch, /^[0-9a-f]{16}$/)
      // Another instance sees the same key: taken for create, the same log for get.
      assert.strictEqual(tagOf(yield* Effect.exit(b.create("k1"))), "BufferExists")
      const k1b = yield* b.get("k1")
      assert.deepStrictEqual([k1b.epoch, k1b.capacity], [k1.epoch, 1000])
      assert.strictEqual(yield* a.getOrCreate("k1", { capacity: 5 }), k1, "held as it is")
      assert.strictEqual(yield* a.get("k1"), k1)
      // Refusals in core's order: key, capacity, taken, then this instance's limits.
      assert.strictEqual(tagOf(yield* Effect.exit(a.create("a/b"))), "InvalidKey")
      assert.strictEqual(tagOf(yield* Effect.exit(a.create("k2", { capacity: 0 }))), "InvalidCapacity")
      const bytesFull = yield* Effect.flip(a.create("k2", { capacity: 2500 }))
      assert.deepInclude(bytesFull, { _tag: "RegistryFull", reason: "bytes", limit: 3000, requested: 2500 })
      yield* a.create("k2", { capacity: 2000 })
      const buffersFull = yield* Effect.flip(a.create("k3", { capacity: 1 }))
      assert.deepInclude(buffersFull, { _tag: "RegistryFull", reason: "buffers", limit: 2 })
      assert.strictEqual(tagOf(yield* Effect.exit(a.create("k1"))), "BufferExists", "a taken key, even when full")
      // B has room: the log exists in Redis, but A may not open one more replica (503 material, not a 404).
      yield* b.create("k3", { capacity: 1 })
      const full = yield* Effect.flip(a.get("k3"))
      assert.strictEqual(full._tag, "StorageUnavailable")
      assert.include(full.message, "maxBuffers = 2")
      // What A holds, in order, with the creation time Redis recorded (the same on every instance).
      const listA = yield* a.list
      assert.deepStrictEqual(listA.map((e) => e.key), ["k1", "k2"])
      const listB = yield* b.list
      assert.strictEqual(listA[0].createdAt, listB.find((e) => e.key === "k1")!.createdAt)
      assert.isAbove(listA[0].createdAt, Date.now() - 60_000)
      assert.strictEqual(yield* a.retainedBytes, 3000)
      // remove: gone everywhere.
      yield* a.remove("k2")
      assert.strictEqual(yield* a.retainedBytes, 1000)
      assert.strictEqual(tagOf(yield* Effect.exit(a.get("k2"))), "BufferNotFound")
      assert.strictEqual(tagOf(yield* Effect.exit(b.get("k2"))), "BufferNotFound")
      assert.strictEqual(tagOf(yield* Effect.exit(a.remove("k2"))), "BufferNotFound")
      assert.strictEqual(tagOf(yield* Effect.exit(a.get("a/b"))), "BufferNotFound")
      assert.strictEqual(tagOf(yield* Effect.exit(a.get("nope"))), "BufferNotFound")
      // Now A has room again for k3.
      assert.strictEqual((yield* a.get("k3")).capacity, 1)
    }))

  it.scopedLive("a producer on A, followers on A and B: every byte, once, in order, and the same end", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoInstances()
      const bufferA = yield* a.create("stream", { capacity: 8 << 20 })
      const bufferB = yield* b.get("stream")
      const followers = yield* Effect.all([
        follower(bufferA),
        follower(bufferB),
        follower(bufferB, { from: "live" })
      ])
      const writes = writesOf(300)
      yield* ReplayBuffer.withWriter(bufferA, (writer) =>
        Effect.gen(function*() {
          for (let i = 0; i < writes.length; i += 3) yield* writer.writeAll(writes.slice(i, i + 3))
          yield* writer.fail(new ProducerFailed({ reason: "exit 2", exitCode: 2 }))
        }))
      const all = concat(writes)
      const failure = Exit.fail(new ProducerFailed({ reason: "exit 2", exitCode: 2 }))
      const [onA, onB, liveOnB] = yield* Effect.forEach(followers, Fiber.join)
      for (const { bytes, exit } of [onA, onB]) {
        assert.deepStrictEqual(exit, failure)
        assert.isTrue(equalBytes(bytes, all), "every byte, once, in order, before the end")
      }
      assert.deepStrictEqual(liveOnB.exit, failure)
      assert.isTrue(equalBytes(liveOnB.bytes, all.subarray(all.length - liveOnB.bytes.length)))
      assert.deepStrictEqual(yield* bufferB.ended, yield* bufferA.ended)
      // A follower that comes to B after the end replays everything and fails the same way.
      const late = yield* Fiber.join(yield* follower(bufferB, { from: 0 }))
      assert.deepStrictEqual(late.exit, failure)
      assert.isTrue(equalBytes(late.bytes, all))
    }))

  it.scopedLive("writers on both instances at once: one log, the same bytes everywhere, each writer's order kept", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoInstances()
      const bufferA = yield* a.create("shared", { capacity: 1 << 20 })
      const bufferB = yield* b.get("shared")
      const followers = yield* Effect.all([follower(bufferA), follower(bufferB)])
      // Write i of writer w: [w, i (2 bytes), length] then filler, so the log parses back into writes.
      const write = (w: number, i: number) => {
        const out = new Uint8Array(4 + (i * 53 + w * 11) % 700)
        out.set([w, i >> 8, i & 0xff, 0])
        out.fill(w * 7 + i, 4)
        return out
      }
      const writer = (buffer: ReplayBuffer.ReplayBuffer, w: number) =>
        Effect.forEach(Array.from({ length: 150 }, (_, i) => i), (i) =>
          i % 3 === 0
            ? buffer.writeAll([write(w, i)])
            : Effect.zipRight(buffer.write(write(w, i)), i % 10 === 0 ? Effect.sleep("1 millis") : Effect.void), {
          discard: true
        })
      yield* Effect.all([writer(bufferA, 1), writer(bufferB, 2), writer(bufferA, 3), writer(bufferB, 4)], {
        concurrency: "unbounded"
      })
      yield* bufferB.end
      const [onA, onB] = yield* Effect.forEach(followers, Fiber.join)
      assert.deepStrictEqual([onA.exit, onB.exit], [Exit.void, Exit.void])
      assert.isTrue(equalBytes(onA.bytes, onB.bytes), "the same log on both instances")
      const seen = new Map<number, number>()
      for (let at = 0; at < onA.bytes.length;) {
        const [w, hi, lo] = onA.bytes.subarray(at, at + 3)
        const i = (hi << 8) | lo
        const expected = write(w, i)
        assert.isTrue(equalBytes(onA.bytes.subarray(at, at + expected.length), expected), `write ${w}/${i} intact`)
        assert.strictEqual(i, (seen.get(w) ?? -1) + 1, "each writer's writes in its order, none lost")
        seen.set(w, i)
        at += expected.length
      }
      assert.deepStrictEqual([...seen.values()], [149, 149, 149, 149])
    }))

  it.scopedLive("exactly once across instances: B catches up before answering, a position past the total is refused", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoInstances({ safetyPollMs: 60_000 })
      const bufferA = yield* a.create("resume", { capacity: 1 << 20 })
      yield* b.get("resume")
      // B's tail hears nothing from now on: only a get's pull can bring its replica up to date.
      yield* deafen(b, "resume")
      const writes = writesOf(40)
      yield* bufferA.writeAll(writes.slice(0, 20))
      // A browser read everything up to N on A...
      const onA = yield* ReplayCursor.make(bufferA, { from: 0 })
      let n = 0
      for (;;) {
        const step = ReplayCursor.unsafeNext(onA)
        if (step._tag !== "Data") break
        n = step.next
      }
      yield* Effect.forEach(writes.slice(20), (w) => bufferA.write(w), { discard: true })
      const total = yield* bufferA.total
      assert.strictEqual(n, concat(writes.slice(0, 20)).length)
      // ...and reconnects to B with EPOCH:N. B's replica is behind; get brings it up to date before answering.
      const bufferB = yield* b.get("resume")
      assert.strictEqual(yield* bufferB.total, total, "caught up before answering")
      const onB = yield* ReplayCursor.make(bufferB, { from: { epoch: bufferA.epoch, offset: n } })
      const seen: Array<Uint8Array> = []
      let at = n
      for (;;) {
        const step = ReplayCursor.unsafeNext(onB)
        if (step._tag !== "Data") break
        assert.strictEqual(step.offset, at, "no gap, no duplicate")
        seen.push(...step.chunks)
        at = step.next
      }
      assert.isTrue(equalBytes(concat(seen), concat(writes).subarray(n)), "exactly the bytes after N")
      // A position of this epoch past the total is refused, never clamped; another epoch is another log.
      const ahead = yield* Effect.flip(
        ReplayCursor.make(bufferB, { from: { epoch: bufferA.epoch, offset: total + 1 } })
      )
      assert.deepInclude(ahead, { _tag: "OffsetAhead", requested: total + 1, total })
      const other = yield* Effect.flip(ReplayCursor.make(bufferB, { from: { epoch: "ffffffffffffffff", offset: n } }))
      assert.strictEqual(other._tag, "EpochMismatch")
    }))

  it.scopedLive("the first end wins on every instance", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoInstances()
      const bufferA = yield* a.create("ends", { capacity: 1024 })
      const bufferB = yield* b.get("ends")
      yield* bufferA.write(text("bytes"))
      const followers = yield* Effect.all([follower(bufferA), follower(bufferB)])
      const failure = new ProducerFailed({ reason: "killed", exitCode: 137 })
      const results = yield* Effect.all([
        bufferA.fail(failure),
        bufferB.end,
        bufferA.end,
        bufferB.fail(failure)
      ], { concurrency: "unbounded" })
      assert.strictEqual(results.filter((won) => won).length, 1, "one end won")
      const winner = results.indexOf(true)
      const expected: Exit.Exit<void, ProducerFailed> = winner === 0 || winner === 3 ? Exit.fail(failure) : Exit.void
      for (const f of followers) {
        const { bytes, exit } = yield* Fiber.join(f)
        assert.deepStrictEqual(exit, expected)
        assert.strictEqual(new TextDecoder().decode(bytes), "bytes")
      }
      const endedA = Option.getOrThrow(yield* bufferA.ended)
      const endedB = Option.getOrThrow(yield* bufferB.ended)
      assert.deepStrictEqual([endedA, endedB], [expected, expected])
      assert.strictEqual(tagOf(yield* Effect.exit(bufferB.write(text("late")))), "BufferClosed")
      assert.strictEqual(tagOf(yield* Effect.exit(Effect.scoped(bufferA.acquireWriter()))), "BufferClosed")
    }))

  it.scopedLive("retention by bytes: oldest agrees on both instances; a lapped follower gets a gap or OffsetEvicted", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoInstances({ safetyPollMs: 60_000 })
      const capacity = 1000
      const bufferA = yield* a.create("evict", { capacity })
      yield* bufferA.write(pattern(0, 300))
      const bufferB = yield* b.get("evict")
      const clamp = yield* ReplayCursor.make(bufferB, { from: 0, onEvicted: "clamp" })
      const fail = yield* ReplayCursor.make(bufferB, { from: 0, onEvicted: "fail" })
      for (const cursor of [clamp, fail]) {
        const step = ReplayCursor.unsafeNext(cursor)
        assert.deepStrictEqual(step._tag === "Data" && [step.offset, step.next], [0, 300])
      }
      const streamFail = yield* follower(bufferB, { from: 0, onEvicted: "fail" })
      yield* Effect.yieldNow()
      // B falls behind: it hears nothing while A writes three times its capacity.
      yield* deafen(b, "evict")
      for (let at = 300; at < 3300; at += 100) yield* bufferA.write(pattern(at, 100))
      yield* b.get("evict")
      assert.deepStrictEqual(
        [yield* bufferB.oldest, yield* bufferB.total],
        [yield* bufferA.oldest, yield* bufferA.total]
      )
      assert.deepStrictEqual([yield* bufferA.oldest, yield* bufferA.total], [2300, 3300])
      const all = pattern(0, 3300)
      assert.isTrue(equalBytes(yield* retained(bufferB), all.subarray(2300)))
      assert.isTrue(equalBytes(yield* retained(bufferA), all.subarray(2300)))
      // The replica jumped: its followers see the gap, never a silent skip.
      assert.deepStrictEqual(ReplayCursor.unsafeNext(clamp), { _tag: "Gap", requested: 300, oldest: 2300 })
      const data = ReplayCursor.unsafeNext(clamp)
      assert.deepStrictEqual(data._tag === "Data" && [data.offset, data.next], [2300, 3300])
      const evicted = ReplayCursor.unsafeNext(fail)
      assert.isTrue(evicted._tag === "Done" && tagOf(evicted.exit) === "OffsetEvicted")
      const streamed = yield* Fiber.join(streamFail)
      assert.isTrue(equalBytes(streamed.bytes, all.subarray(0, 300)))
      assert.deepStrictEqual(streamed.exit, Exit.fail(new OffsetEvicted({ requested: 300, oldest: 2300 })))
    }))

  it.scopedLive("offsets up to 2^53 - 1 are exact on every instance; a write past it is refused with OffsetOverflow", () =>
    Effect.gen(function*() {
      const { a, b, server } = yield* twoInstances()
      const max = Number.MAX_SAFE_INTEGER
      yield* a.create("huge", { capacity: 1000 })
      // A log that has come a long way (set behind the registry's back, before any replica of it was loaded on B).
      yield* server.command("HSET", keysOf("huge").meta, "total", String(max - 5000))
      const bufferB = yield* b.get("huge")
      assert.deepStrictEqual([yield* bufferB.oldest, yield* bufferB.total], [max - 5000, max - 5000])
      yield* bufferB.write(pattern(0, 4000))
      assert.deepStrictEqual([yield* bufferB.oldest, yield* bufferB.total], [max - 2000, max - 1000])
      const refused = yield* Effect.flip(bufferB.writeAll([pattern(1, 600), pattern(2, 401)]))
      assert.deepInclude(refused, { _tag: "OffsetOverflow", total: max - 1000, length: 1001 })
      yield* bufferB.write(pattern(3, 1000))
      assert.strictEqual(yield* bufferB.total, max)
      const bufferA = yield* a.get("huge")
      for (const buffer of [bufferA, bufferB]) {
        const read = yield* buffer.readFrom(0)
        assert.strictEqual(read.offset, max - 1000)
        assert.isTrue(equalBytes(read.bytes, pattern(3, 1000)))
      }
      assert.strictEqual(tagOf(yield* Effect.exit(bufferA.write(new Uint8Array(1)))), "OffsetOverflow")
    }))

  it.scopedLive("remove: followers on every instance drain and complete, the key is free at once, Redis lets go", () =>
    Effect.gen(function*() {
      const { a, b, server } = yield* twoInstances({ safetyPollMs: 100, removeGraceMs: 500 })
      const bufferA = yield* a.create("rm", { capacity: 4096 })
      const bufferB = yield* b.get("rm")
      const followers = yield* Effect.all([follower(bufferA), follower(bufferB)])
      yield* bufferA.write(text("last words"))
      yield* a.remove("rm")
      for (const f of followers) {
        const { bytes, exit } = yield* Fiber.join(f)
        assert.deepStrictEqual([exit, new TextDecoder().decode(bytes)], [Exit.void, "last words"])
      }
      assert.strictEqual(tagOf(yield* Effect.exit(a.get("rm"))), "BufferNotFound")
      assert.strictEqual(tagOf(yield* Effect.exit(b.get("rm"))), "BufferNotFound")
      assert.deepStrictEqual(yield* b.list, [])
      // The keys stay for the grace (so lagging instances read the end), then expire.
      const ttl = Number(yield* server.command("PTTL", keysOf("rm").meta))
      assert.isTrue(ttl > 0 && ttl <= 500, `PTTL ${ttl}`)
      // The key is free at once: a new incarnation, another epoch.
      const again = yield* b.create("rm", { capacity: 4096 })
      assert.notStrictEqual(again.epoch, bufferA.epoch)
      assert.strictEqual((yield* a.get("rm")).epoch, again.epoch)
    }))

  it.scopedLive("an ended buffer is let go idleTimeout after its end, on every instance and in Redis", () =>
    Effect.gen(function*() {
      const { a, b, server } = yield* twoInstances({
        idleTimeout: "300 millis",
        safetyPollMs: 100,
        removeGraceMs: 400
      })
      const bufferA = yield* a.create("idle", { capacity: 4096 })
      yield* b.get("idle")
      yield* bufferA.write(text("done"))
      yield* bufferA.end
      // Redis keeps the ended log's keys for idleTimeout + grace.
      const ttl = Number(yield* server.command("PTTL", keysOf("idle").meta))
      assert.isTrue(ttl > 0 && ttl <= 700, `PTTL ${ttl}`)
      // Every instance answers BufferNotFound once the idle time has passed (polled: a timer, not a race).
      yield* awaitGone(a, "idle")
      yield* awaitGone(b, "idle")
      assert.deepStrictEqual([yield* a.list, yield* b.list], [[], []])
      yield* Effect.sleep("800 millis")
      assert.strictEqual(Number(yield* server.command("EXISTS", keysOf("idle").meta)), 0, "expired in Redis")
    }))

  it.scopedLive("a takeover fences the stale writer on another instance: LeaseLost, nothing written", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoInstances()
      const bufferA = yield* a.create("fence", { capacity: 4096 })
      const bufferB = yield* b.get("fence")
      const stale = yield* bufferA.acquireWriter()
      yield* stale.write(text("one "))
      assert.strictEqual(tagOf(yield* Effect.exit(Effect.scoped(bufferB.acquireWriter()))), "WriterBusy")
      // The restarted producer takes its buffer back without waiting for the old lease to lapse.
      const fresh = yield* RedisRegistry.takeover(bufferB.acquireWriter())
      yield* fresh.write(text("two "))
      const refused = yield* Effect.flip(stale.write(text("stale")))
      assert.deepInclude(refused, { _tag: "LeaseLost", reason: "fenced" })
      assert.strictEqual(tagOf(yield* Effect.exit(stale.end)), "LeaseLost")
      assert.isTrue(Option.isNone(yield* bufferA.ended))
      // Taken over again, on A this time, while A's stale producer still holds A's local turn.
      const third = yield* RedisRegistry.takeover(bufferA.acquireWriter())
      assert.deepInclude(yield* Effect.flip(fresh.write(text("x"))), { _tag: "LeaseLost", reason: "fenced" })
      yield* third.write(text("three"))
      yield* third.end
      yield* b.get("fence")
      for (const buffer of [bufferA, bufferB]) {
        assert.strictEqual(new TextDecoder().decode(yield* retained(buffer)), "one two three")
      }
    }))

  it.scopedLive("adopt: a buffer made in this process cannot move into Redis (a defect that says so)", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoInstances()
      yield* b.create("taken")
      const local = yield* ReplayBuffer.make()
      assert.strictEqual(tagOf(yield* Effect.exit(a.adopt("a b", local))), "InvalidKey")
      assert.strictEqual(tagOf(yield* Effect.exit(a.adopt("taken", local))), "BufferExists")
      const refused = yield* Effect.exit(a.adopt("free", local))
      assert.strictEqual(tagOf(refused), "Defect")
      assert.include(String(Cause.squash(Exit.isFailure(refused) ? refused.cause : Cause.empty)), "cannot be moved")
      assert.strictEqual(tagOf(yield* Effect.exit(a.get("free"))), "BufferNotFound")
    }))

  it.effect("options out of range fail make with a typed error, before connecting", () =>
    Effect.gen(function*() {
      const made = (options: RedisRegistry.Options) => Effect.exit(Effect.scoped(RedisRegistry.make(options)))
      assert.strictEqual(tagOf(yield* made({ maxBuffers: 0 })), "InvalidRegistryOptions")
      assert.strictEqual(tagOf(yield* made({ idleTimeout: -1 })), "InvalidRegistryOptions")
      assert.strictEqual(tagOf(yield* made({ leaseMs: 1.5 })), "InvalidStoreOptions")
      assert.strictEqual(tagOf(yield* made({ keyPrefix: "a{b" })), "InvalidStoreOptions")
      assert.strictEqual(tagOf(yield* made({ safetyPollMs: 1000, removeGraceMs: 10 })), "InvalidStoreOptions")
    }))

  it.scopedLive("2 instances × 500 followers use 4 Redis connections (CLIENT LIST)", () =>
    Effect.gen(function*() {
      const { a, b, server } = yield* twoInstances()
      const bufferA = yield* a.create("fanout", { capacity: 1 << 16 })
      const bufferB = yield* b.get("fanout")
      const message = text("to everyone\n")
      let received = 0
      const all = yield* Deferred.make<void>()
      const one = (buffer: ReplayBuffer.ReplayBuffer) =>
        Effect.fork(Stream.runForEach(ReplayStream.follow(buffer, { from: 0 }), (chunk) =>
          Effect.sync(() => {
            received += chunk.length
            if (received === 1000 * message.length) Deferred.unsafeDone(all, Exit.void)
          })))
      const fibers = yield* Effect.forEach(
        Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? bufferA : bufferB)),
        one
      )
      yield* bufferA.write(message)
      yield* Deferred.await(all)
      const list = String(yield* server.command("CLIENT", "LIST")).trim().split("\n")
      // The admin connection asking is not an instance's.
      const clients = list.filter((line) => !line.includes("cmd=client|list"))
      assert.strictEqual(clients.length, 4, clients.join("\n"))
      assert.strictEqual(clients.filter((line) => line.includes("sub=0") && line.includes("ssub=1")).length, 2)
      yield* bufferB.end
      for (const f of fibers) assert.isTrue(Exit.isSuccess(yield* Fiber.await(f)), "every follower completes")
    }))

  it.scopedLive("closing a registry ends its replicas (typed, so followers terminate); the log goes on in Redis", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const a = yield* RedisRegistry.make({ url: server.url })
      const scope = yield* Scope.make()
      const b = yield* Scope.extend(RedisRegistry.make({ url: server.url }), scope)
      const bufferA = yield* a.create("goes-on")
      const f = yield* follower(yield* b.get("goes-on"))
      yield* Scope.close(scope, Exit.void)
      const { exit } = yield* Fiber.join(f)
      assert.strictEqual(tagOf(exit), "ProducerFailed")
      assert.include(String(Cause.squash(Exit.isFailure(exit) ? exit.cause : Cause.empty)), "closed its registry")
      yield* bufferA.write(text("still here"))
      assert.isTrue(Option.isNone(yield* bufferA.ended))
      assert.strictEqual(tagOf(yield* Effect.exit(b.get("goes-on"))), "Defect")
    }))
})
