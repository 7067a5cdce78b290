import { assert, describe, it } from "@effect/vitest"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import { Deferred, Effect, Exit, FastCheck as fc, Fiber, Option, Scope } from "effect"
import { RedisLog, RedisStore } from "../src/index.js"
import { concat, equalBytes, pattern } from "./util/bytes.js"
import { keysOf, readAll } from "./util/harness.js"
import * as RedisServer from "./util/redisServer.js"

const MAX_SAFE = Number.MAX_SAFE_INTEGER

/** The stream's raw entries, straight from Redis: [end offset, seq part, length]. */
const rawEntries = (server: RedisServer.RedisServer, key: string) =>
  Effect.map(
    server.command("XRANGE", keysOf(key).log, "-", "+"),
    (reply) =>
      (reply as Array<[Buffer, Array<Buffer>]>).map(([id, fields]) => {
        const [end, part] = id.toString().split("-")
        return { end: Number(end), part: Number(part), length: fields[1].length }
      })
  )

const Size = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 200 }) },
  { weight: 4, arbitrary: fc.integer({ min: 201, max: 9000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 140_000 }) }
)

const Case = fc.record({
  capacity: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 3000, max: 600_000 })),
  batches: fc.array(fc.array(Size, { minLength: 0, maxLength: 4 }), { minLength: 1, maxLength: 12 }),
  // Which of two handles (two instances) writes each batch: a handle cuts its batches for the tail its own last
  // batch left, so a batch after the other handle's takes the script's own path.
  writers: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
  probes: fc.array(fc.integer({ min: -5, max: 1_000_000 }), { minLength: 3, maxLength: 6 })
})

describe("RedisLog", () => {
  it.live.prop(
    "byte-exact appends and reads; retention is exactly [max(0, total - capacity), total) at entry granularity",
    [Case],
    ([c]) =>
      Effect.gen(function*() {
        const server = yield* RedisServer.make()
        const store = yield* RedisStore.make({ url: server.url })
        const log = yield* RedisLog.create(store, "prop", { capacity: c.capacity })
        const other = yield* RedisLog.open(yield* RedisStore.make({ url: server.url }), "prop")
        let total = 0
        const written: Array<Uint8Array> = []
        for (const [k, sizes] of c.batches.entries()) {
          const chunks = sizes.map((size) => {
            const chunk = pattern(total + written.length, size)
            return chunk
          })
          const length = sizes.reduce((a, b) => a + b, 0)
          const appended = yield* (c.writers[k] ? other : log).writeAll(chunks)
          assert.strictEqual(appended.offset, total)
          assert.strictEqual(appended.total, total + length)
          total += length
          written.push(...chunks)
        }
        const all = concat(written)
        const oldest = Math.max(0, total - c.capacity)
        for (const probe of [0, oldest, total, ...c.probes.map((p) => p % (total + 2))]) {
          const r = yield* readAll(log, probe)
          const from = Math.min(Math.max(probe, oldest), total)
          assert.strictEqual(r.total, total)
          assert.strictEqual(r.oldest, oldest)
          assert.strictEqual(r.offset, from, `offset for probe ${probe}`)
          assert.isTrue(equalBytes(r.bytes, all.subarray(from, total)), `bytes from ${probe}`)
        }
        // What Redis keeps: no entry wholly below oldest, ids are end offsets, entries of `entryBytes`
        // (the last one may be shorter only after the end), the tail shorter than one entry.
        const entries = yield* rawEntries(server, "prop")
        for (const e of entries) {
          assert.isAbove(e.end, oldest)
          assert.strictEqual(e.part, 0)
          assert.strictEqual(e.length, log.entryBytes)
        }
        const tail = (yield* server.command("STRLEN", keysOf("prop").tail)) as number
        assert.isBelow(tail, log.entryBytes)
        const stored = entries.reduce((a, e) => a + e.length, 0) + tail
        assert.isAtMost(stored, Math.min(total, c.capacity) + 2 * log.entryBytes)
        if (entries.length > 0) assert.strictEqual(entries[entries.length - 1].end, total - tail)
        // After the end everything is in the stream, with the end at <total>-1.
        assert.isTrue(yield* log.end())
        const after = yield* rawEntries(server, "prop")
        assert.deepStrictEqual(after[after.length - 1], { end: total, part: 1, length: after[after.length - 1].length })
        const r = yield* readAll(log, oldest)
        assert.isTrue(equalBytes(r.bytes, all.subarray(oldest, total)))
        assert.isTrue(r.last.reachedEnd)
      }).pipe(Effect.scoped),
    { timeout: 120_000, fastCheck: { numRuns: 30, seed: 20_261_201, endOnFailure: true } }
  )

  it.scopedLive("create refuses an existing key; getOrCreate and open return the same log; remove ends it and frees the key", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const store = yield* RedisStore.make({ url: server.url })
      const a = yield* RedisLog.create(store, "k", { capacity: 4096 })
      assert.match(a.epoch, /^[0-9a-f]{16}$/)
      const exists = yield* Effect.flip(RedisLog.create(store, "k", { capacity: 4096 }))
      assert.strictEqual(exists._tag, "LogExists")
      const b = yield* RedisLog.getOrCreate(store, "k", { capacity: 99 })
      assert.strictEqual(b.epoch, a.epoch)
      assert.strictEqual(b.capacity, 4096)
      const c = yield* RedisLog.open(store, "k")
      assert.strictEqual(c.epoch, a.epoch)
      assert.strictEqual((yield* Effect.flip(RedisLog.open(store, "nope")))._tag, "LogNotFound")
      assert.strictEqual((yield* Effect.flip(RedisLog.create(store, "", { capacity: 1 })))._tag, "InvalidKey")
      for (const capacity of [0, -1, 1.5, NaN, 2 ** 53]) {
        assert.strictEqual((yield* Effect.flip(RedisLog.create(store, "z", { capacity })))._tag, "InvalidCapacity")
      }
      yield* a.write(new Uint8Array([7]))
      assert.isTrue(yield* RedisLog.remove(store, "k"))
      assert.isFalse(yield* RedisLog.remove(store, "k"))
      // Removed: ended (a write is refused), the key is free at once, the keys linger for the grace then expire.
      assert.strictEqual((yield* Effect.flip(a.write(new Uint8Array([1]))))._tag, "BufferClosed")
      assert.strictEqual((yield* Effect.flip(RedisLog.open(store, "k")))._tag, "LogNotFound")
      const removed = yield* readAll(a, 0)
      assert.deepStrictEqual([[...removed.bytes], removed.last.reachedEnd, removed.last.removed], [[7], true, true])
      const ttl = Number(yield* server.command("PTTL", keysOf("k").meta))
      assert.isTrue(ttl > 0 && ttl <= RedisStore.DEFAULT_REMOVE_GRACE_MS, `the meta expires after the grace (${ttl})`)
      const d = yield* RedisLog.create(store, "k", { capacity: 4096 })
      assert.notStrictEqual(d.epoch, a.epoch)
      const changed = yield* Effect.flip(a.write(new Uint8Array([1])))
      assert.deepInclude(changed, { _tag: "LogLost", reason: "epoch-changed", actualEpoch: d.epoch })
    }))

  it.scopedLive("a concurrent reader never sees part of a writeAll", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const writerStore = yield* RedisStore.make({ url: server.url })
      const readerStore = yield* RedisStore.make({ url: server.url })
      const capacity = 1 << 20
      const log = yield* RedisLog.create(writerStore, "atomic", { capacity })
      const reader = yield* RedisLog.open(readerStore, "atomic")
      // Batches of 3..40 chunks of 1..3000 bytes; the reader must only ever see totals at batch boundaries.
      const boundaries = new Set<number>([0])
      const batches: Array<Array<Uint8Array>> = []
      let total = 0
      for (let i = 0; i < 150; i++) {
        const chunks = Array.from({ length: 3 + (i * 7) % 38 }, (_, j) => {
          const chunk = pattern(total, 1 + ((i * 131 + j * 17) % 3000))
          total += chunk.length
          return chunk
        })
        boundaries.add(total)
        batches.push(chunks)
      }
      const all = concat(batches.flat())
      const done = yield* Deferred.make<void>()
      const readerFiber = yield* Effect.gen(function*() {
        let reads = 0
        let seen = new Set<number>()
        while (!(yield* Deferred.isDone(done)) || reads < 5) {
          // One read is one snapshot (a read-only script): large enough to hold the whole buffer.
          const r = yield* Effect.map(reader.read(0, { maxEntries: 1000 }), (r) => ({ ...r, bytes: concat(r.chunks) }))
          assert.strictEqual(r.next, r.total)
          reads++
          seen.add(r.total)
          assert.isTrue(boundaries.has(r.total), `a read saw total ${r.total}, inside a batch`)
          assert.strictEqual(r.offset, Math.max(0, r.total - capacity))
          assert.isTrue(equalBytes(r.bytes, all.subarray(r.offset, r.total)))
          // One raw XRANGE too: every entry id is a multiple of the entry size, and the last one is not past
          // the meta's total read right after.
          const entries = yield* rawEntries(server, "atomic")
          const metaTotal = Number((yield* server.command("HGET", keysOf("atomic").meta, "total")) as Buffer)
          if (entries.length > 0) assert.isAtMost(entries[entries.length - 1].end, metaTotal)
        }
        seen = new Set([...seen].filter((t) => t !== 0 && t !== total))
        return { reads, intermediate: seen.size }
      }).pipe(Effect.fork)
      yield* Effect.forEach(batches, (chunks) => log.writeAll(chunks), { discard: true })
      yield* Deferred.succeed(done, undefined)
      const stats = yield* Fiber.join(readerFiber)
      assert.isAtLeast(stats.reads, 5)
      const final = yield* readAll(reader, 0)
      assert.strictEqual(final.total, total)
      assert.isTrue(equalBytes(final.bytes, all.subarray(total - capacity)))
    }))

  it.scopedLive("group commit: concurrent writes share script calls, each completes with its own offset", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const store = yield* RedisStore.make({ url: server.url })
      const log = yield* RedisLog.create(store, "group", { capacity: 1 << 20 })
      const writes = Array.from({ length: 300 }, (_, i) => pattern(i * 1000, 100 + (i % 50)))
      const results = yield* Effect.forEach(writes, (w) => log.write(w), { concurrency: "unbounded" })
      const byOffset = results.map((r, i) => ({ ...r, i })).sort((a, b) => a.offset - b.offset)
      let at = 0
      for (const r of byOffset) {
        assert.strictEqual(r.offset, at)
        at += writes[r.i].length
      }
      const batches = new Set(results.map((r) => r.total)).size
      assert.isBelow(batches, writes.length, "every write went alone")
      const r = yield* readAll(log, 0)
      assert.isTrue(equalBytes(r.bytes, concat(byOffset.map((x) => writes[x.i]))))
    }))

  it.scopedLive("a re-sent batch (same producer and sequence) is recorded once; order is enforced (GAP)", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const store = yield* RedisStore.make({ url: server.url })
      const log = yield* RedisLog.create(store, "dedup", { capacity: 1000 })
      const k = keysOf("dedup")
      const client = store.client as unknown as {
        sbAppend: (...args: Array<string | Buffer>) => Promise<Array<unknown>>
      }
      const send = (seq: string, bytes: string, prev = "") =>
        Effect.promise(() =>
          client.sbAppend(
            k.meta,
            k.log,
            k.tail,
            k.dedup("p1"),
            log.epoch,
            seq,
            prev,
            "",
            "0",
            k.channel,
            "60000",
            "",
            Buffer.from(bytes)
          )
        )
      // OK start total tailLength (the log's entries are 64 bytes: everything so far sits in the open tail).
      assert.deepStrictEqual(yield* send("1", "hello"), ["OK", 0, 5, 5])
      assert.deepStrictEqual(yield* send("1", "hello"), ["DUP", 0, 5])
      assert.deepStrictEqual(yield* send("2", "!!"), ["OK", 5, 7, 7])
      assert.deepStrictEqual(yield* send("2", "!!"), ["DUP", 5, 7])
      assert.deepStrictEqual(yield* send("1", "hello"), ["DUP", 0, 5], "the last two batches are remembered")
      // A batch pipelined behind one that was not recorded is refused and writes nothing; in order, it goes through.
      assert.deepStrictEqual(yield* send("4", "late", "3"), ["GAP"])
      assert.deepStrictEqual(yield* send("3", "?"), ["OK", 7, 8, 8])
      assert.deepStrictEqual(yield* send("4", "late", "3"), ["OK", 8, 12, 12])
      assert.deepStrictEqual(yield* send("1", "hello"), ["STALE"], "older than the two remembered")
      assert.deepStrictEqual(yield* send("3", "?"), ["DUP", 7, 8])
      const r = yield* readAll(log, 0)
      assert.strictEqual(new TextDecoder().decode(r.bytes), "hello!!?late")
    }))

  it.scopedLive("a write past 2^53 - 1 fails OffsetOverflow and writes nothing; ids stay exact up to it", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const store = yield* RedisStore.make({ url: server.url })
      const log = yield* RedisLog.create(store, "big", { capacity: 64 * 1024 })
      yield* server.command("HSET", keysOf("big").meta, "total", String(MAX_SAFE - 70_000))
      const first = yield* log.write(pattern(0, 60_000))
      assert.deepStrictEqual(first, { offset: MAX_SAFE - 70_000, total: MAX_SAFE - 10_000 })
      const before = yield* rawEntries(server, "big")
      const error = yield* Effect.flip(log.writeAll([pattern(1, 5000), pattern(2, 5001)]))
      assert.deepInclude(error, { _tag: "OffsetOverflow", total: MAX_SAFE - 10_000, length: 10_001 })
      assert.deepStrictEqual(yield* rawEntries(server, "big"), before)
      assert.strictEqual((yield* log.read(0)).total, MAX_SAFE - 10_000)
      const last = yield* log.write(pattern(3, 10_000))
      assert.deepStrictEqual(last, { offset: MAX_SAFE - 10_000, total: MAX_SAFE })
      const r = yield* readAll(log, MAX_SAFE - 10_000)
      assert.strictEqual(r.offset, MAX_SAFE - 10_000)
      assert.isTrue(equalBytes(r.bytes, pattern(3, 10_000)))
      const entries = yield* rawEntries(server, "big")
      for (const e of entries) assert.isTrue(Number.isSafeInteger(e.end) && e.end <= MAX_SAFE)
      assert.strictEqual((yield* Effect.flip(log.write(new Uint8Array(1))))._tag, "OffsetOverflow")
    }))

  it.scopedLive("after the end writes fail BufferClosed; the first end wins, across instances", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const storeA = yield* RedisStore.make({ url: server.url })
      const storeB = yield* RedisStore.make({ url: server.url })
      const a = yield* RedisLog.create(storeA, "end", { capacity: 1000 })
      const b = yield* RedisLog.open(storeB, "end")
      yield* a.write(new Uint8Array([1, 2, 3]))
      const failure = new ProducerFailed({ reason: "exit 3", exitCode: 3 })
      const results = yield* Effect.all([
        a.end(Exit.fail(failure)),
        b.end(Exit.void),
        a.end(Exit.void),
        b.end(Exit.fail(failure))
      ], { concurrency: "unbounded" })
      assert.strictEqual(results.filter((x) => x).length, 1)
      const closed = yield* Effect.flip(b.write(new Uint8Array([4])))
      assert.deepInclude(closed, { _tag: "BufferClosed", total: 3 })
      const r = yield* readAll(a, 0)
      assert.isTrue(r.last.reachedEnd)
      const ended = Option.getOrThrow(r.last.ended)
      const entries = yield* rawEntries(server, "end")
      assert.strictEqual(entries.filter((e) => e.part === 1).length, 1)
      // The recorded end is the winner's: calls 0 and 3 ended with the failure (and its exit code), 1 and 2 normally.
      const winner = results.indexOf(true)
      const expected: Exit.Exit<void, ProducerFailed> = winner === 0 || winner === 3 ? Exit.fail(failure) : Exit.void
      assert.deepStrictEqual(ended, expected)
    }))

  it.scopedLive("writer lease: WriterBusy for others, takeover fences the old writer (LeaseLost), release frees it", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const storeA = yield* RedisStore.make({ url: server.url })
      const storeB = yield* RedisStore.make({ url: server.url })
      const a = yield* RedisLog.create(storeA, "lease", { capacity: 1000 })
      const b = yield* RedisLog.open(storeB, "lease")
      const leaseA = yield* a.acquireWriter()
      yield* a.write(new Uint8Array([1]), leaseA)
      assert.strictEqual((yield* Effect.flip(b.write(new Uint8Array([9]))))._tag, "WriterBusy")
      assert.strictEqual((yield* Effect.flip(Effect.scoped(b.acquireWriter())))._tag, "WriterBusy")
      assert.isFalse(yield* b.reapLapsedWriter)
      const leaseB = yield* b.acquireWriter({ takeover: true })
      assert.isAbove(leaseB.fence, leaseA.fence)
      const lost = yield* Effect.flip(a.write(new Uint8Array([2]), leaseA))
      assert.deepInclude(lost, { _tag: "LeaseLost" })
      assert.strictEqual((yield* Effect.flip(a.refreshLease(leaseA)))._tag, "LeaseLost")
      yield* b.write(new Uint8Array([3]), leaseB)
      // A waiting acquirer gets the lease once the holder's scope closes.
      const waiter = yield* Effect.fork(Effect.scoped(Effect.map(a.acquireWriter({ wait: true }), (l) => l.fence)))
      yield* Effect.sleep("50 millis")
      assert.isNull(yield* Fiber.poll(waiter).pipe(Effect.map(Option.getOrNull)))
      const holder = yield* Scope.make()
      const leaseC = yield* Scope.extend(b.acquireWriter({ takeover: true }), holder)
      yield* Scope.close(holder, Exit.void)
      const fence = yield* Fiber.join(waiter)
      assert.isAbove(fence, leaseC.fence)
      const r = yield* readAll(a, 0)
      assert.deepStrictEqual([...r.bytes], [1, 3])
    }))

  it.scopedLive("a lapsed lease lets any instance end the buffer with ProducerFailed(\"producer lost\")", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const storeA = yield* RedisStore.make({ url: server.url, leaseMs: 300 })
      const storeB = yield* RedisStore.make({ url: server.url, safetyPollMs: 100 })
      const a = yield* RedisLog.create(storeA, "lapse", { capacity: 1000 })
      const b = yield* RedisLog.open(storeB, "lapse")
      // The producer takes the lease in a scope that is never closed, then "dies": its refresher stops.
      const producerScope = yield* Scope.make()
      const lease = yield* Scope.extend(a.acquireWriter(), producerScope)
      yield* a.write(new Uint8Array([7, 7]), lease)
      assert.isFalse(yield* b.reapLapsedWriter)
      const ended = yield* Deferred.make<Exit.Exit<void, ProducerFailed>>()
      const bytes: Array<number> = []
      yield* b.follow({
        from: 0,
        apply: (_offset, chunks) => chunks.forEach((c) => bytes.push(...c)),
        applyEnd: (exit) => Deferred.unsafeDone(ended, Exit.succeed(exit))
      })
      // Kill the producer's refresher without releasing: close its connection for good.
      storeA.client.disconnect()
      const exit = yield* Deferred.await(ended).pipe(Effect.timeout("20 seconds"))
      assert.deepStrictEqual(exit, Exit.fail(new ProducerFailed({ reason: "producer lost" })))
      assert.deepStrictEqual(bytes, [7, 7])
      assert.strictEqual((yield* Effect.flip(b.write(new Uint8Array([1]))))._tag, "BufferClosed")
    }))
})
