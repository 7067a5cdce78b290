import { assert, describe, it } from "@effect/vitest"
import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as ReplayMetrics from "@scrollback/core/ReplayMetrics"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import { Effect, Exit, FastCheck as fc, Metric, Option } from "effect"
import { makeRecorder } from "./util/recordingTracer.js"
import { makeRemote } from "./util/remoteEngine.js"

/** The storage's process-wide counters, as Effect's metrics show them (reading one refreshes it). */
const counters = Effect.all({
  written: Effect.map(Metric.value(ReplayMetrics.bytesWritten), (state) => state.count),
  evicted: Effect.map(Metric.value(ReplayMetrics.bytesEvicted), (state) => state.count)
})

/** What a per-key metric reads for `key`. */
const perKey = (key: string) =>
  Effect.all({
    written: Effect.map(Metric.value(Metric.tagged(ReplayMetrics.bufferBytesWritten, "key", key)), (s) => s.count),
    evicted: Effect.map(Metric.value(Metric.tagged(ReplayMetrics.bufferBytesEvicted, "key", key)), (s) => s.count),
    retained: Effect.map(Metric.value(Metric.tagged(ReplayMetrics.bufferRetainedBytes, "key", key)), (s) => s.value),
    followers: Effect.map(Metric.value(Metric.tagged(ReplayMetrics.bufferFollowers, "key", key)), (s) => s.value)
  })

/** Series are process-wide and never forgotten: each test uses keys of its own. */
let run = 0
const unique = (name: string) => `${name}-${++run}-${Math.random().toString(36).slice(2, 8)}`

const bytes = (n: number, seed = 0) => new Uint8Array(n).map((_, i) => (i + seed) & 0xff)

describe("ReplayMetrics", () => {
  describe("counted by the storage", () => {
    it.effect("every write path counts once: plain writes, batches, a writer lease, big writes; refusals count nothing", () =>
      Effect.gen(function*() {
        const before = yield* counters
        const buffer = yield* ReplayBuffer.make({ capacity: 10 })
        yield* buffer.write(bytes(4)) // 4 retained
        yield* buffer.writeAll([bytes(3), bytes(0), bytes(2)]) // 9 retained
        yield* buffer.write(new Uint8Array(0)) // nothing
        yield* Effect.scoped(Effect.gen(function*() {
          const writer = yield* buffer.acquireWriter()
          yield* writer.write(bytes(5)) // 14 written, 4 evicted
          // While the lease is held a plain write is refused, and counts nothing.
          assert.isTrue(Exit.isFailure(yield* Effect.exit(buffer.write(bytes(7)))))
          yield* writer.writeAll([bytes(6), bytes(6)]) // 26 written, 16 evicted
        }))
        yield* buffer.write(bytes(25)) // larger than the capacity: counts in full, 51 written, 41 evicted
        yield* buffer.end
        assert.isTrue(Exit.isFailure(yield* Effect.exit(buffer.write(bytes(3)))))
        const after = yield* counters
        assert.strictEqual(yield* buffer.total, 51)
        assert.strictEqual(yield* buffer.oldest, 41)
        assert.strictEqual(after.written - before.written, 51)
        assert.strictEqual(after.evicted - before.evicted, 41)
      }))

    it.effect.prop(
      "concurrent writers on several buffers: written = Σ totals, evicted = Σ oldest, per key and in all, whatever the interleaving",
      [
        fc.array(
          fc.record({
            capacity: fc.integer({ min: 1, max: 64 }),
            writers: fc.array(
              fc.array(fc.array(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 4 }), { maxLength: 8 }),
              { minLength: 1, maxLength: 3 }
            )
          }),
          { minLength: 1, maxLength: 4 }
        )
      ],
      ([plans]) =>
        Effect.gen(function*() {
          const before = yield* counters
          const registry = yield* ReplayRegistry.make()
          const keys = plans.map(() => unique("prop"))
          const buffers = yield* Effect.forEach(
            plans,
            (plan, i) => registry.create(keys[i], { capacity: plan.capacity })
          )
          // Every writer of every buffer at once; each batch is a write (one chunk) or a writeAll, with yields between.
          yield* Effect.all(
            plans.flatMap((plan, i) =>
              plan.writers.map((batches) =>
                Effect.forEach(batches, (sizes, j) =>
                  Effect.zipRight(
                    Effect.yieldNow(),
                    sizes.length === 1 && j % 2 === 0
                      ? buffers[i].write(bytes(sizes[0], j))
                      : buffers[i].writeAll(sizes.map((n) => bytes(n, j)))
                  ), { discard: true })
              )
            ),
            { concurrency: "unbounded", discard: true }
          )
          const after = yield* counters
          let totals = 0
          let oldest = 0
          for (const buffer of buffers) {
            totals += yield* buffer.total
            oldest += yield* buffer.oldest
          }
          assert.strictEqual(after.written - before.written, totals)
          assert.strictEqual(after.evicted - before.evicted, oldest)
          for (let i = 0; i < buffers.length; i++) {
            const total = yield* buffers[i].total
            const first = yield* buffers[i].oldest
            assert.deepStrictEqual(yield* perKey(keys[i]), {
              written: total,
              evicted: first,
              retained: total - first,
              followers: 0
            })
          }
        }).pipe(Effect.scoped),
      { fastCheck: { numRuns: 100 } }
    )

    it.effect("a replica counts what is applied to it, once: re-applied ranges count nothing, a jump evicts what was retained", () =>
      Effect.gen(function*() {
        const before = yield* counters
        const { replica } = yield* makeRemote(8, 100)
        // A write goes to the log of record, which applies it to the replica: counted there, once.
        yield* replica.buffer.write(bytes(5))
        let now = yield* counters
        assert.strictEqual(now.written - before.written, 5)
        assert.strictEqual(now.evicted - before.evicted, 0)
        // Re-applying what is already there is harmless and counts nothing; an overlap counts its new bytes.
        replica.unsafeApply(100, [bytes(5)])
        replica.unsafeApply(103, [bytes(4)]) // 2 new bytes: 7 retained
        now = yield* counters
        assert.strictEqual(now.written - before.written, 7)
        // A range past the total makes the replica jump: the 7 retained bytes leave, the 3 written arrive.
        replica.unsafeApply(200, [bytes(3)])
        now = yield* counters
        assert.strictEqual(now.written - before.written, 10)
        assert.strictEqual(now.evicted - before.evicted, 7)
        assert.strictEqual(yield* replica.buffer.oldest, 200)
        assert.strictEqual(yield* replica.buffer.total, 203)
      }))

    it.effect("Metric.snapshot shows the counts as of the last refresh; ReplayMetrics.snapshot refreshes first", () =>
      Effect.gen(function*() {
        const countIn = (pairs: ReadonlyArray<{ metricKey: { name: string; tags: ReadonlyArray<unknown> } }>) => {
          const pair = pairs.find((p) =>
            p.metricKey.name === "scrollback_bytes_written_total" && p.metricKey.tags.length === 0
          )
          return (pair as any)?.metricState.count as number
        }
        yield* ReplayMetrics.refresh
        const start = countIn(yield* Metric.snapshot)
        const buffer = yield* ReplayBuffer.make({ capacity: 64 })
        yield* buffer.write(bytes(12))
        // Counted by the storage, not yet moved into Effect's registry.
        assert.strictEqual(countIn(yield* Metric.snapshot), start)
        assert.strictEqual(countIn(yield* ReplayMetrics.snapshot), start + 12)
      }))
  })

  describe("per key", () => {
    it.scoped("a registry gives maxKeySeries keys a series of their own; later keys are counted in (other)", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ maxKeySeries: 2 })
        const [a, b, c, d] = [unique("a"), unique("b"), unique("c"), unique("d")]
        const otherBefore = yield* perKey(ReplayMetrics.OTHER_KEY)
        const buffers = yield* Effect.forEach([a, b, c, d], (key) => registry.create(key, { capacity: 16 }))
        yield* Effect.forEach(buffers, (buffer, i) => buffer.write(bytes(10 + i)))
        yield* buffers[3].write(bytes(20)) // d: 33 written, 17 evicted, 16 retained
        // The series are in the snapshot, and the keys past the bound have none (checked before anything below
        // reads a series by its tag, which would make it).
        const keys = (yield* ReplayMetrics.snapshot)
          .filter((pair) => pair.metricKey.name === "scrollback_buffer_bytes_written_total")
          .flatMap((pair) => pair.metricKey.tags.filter((tag) => tag.key === "key").map((tag) => tag.value))
        assert.includeMembers(keys, [a, b, ReplayMetrics.OTHER_KEY])
        assert.notInclude(keys, c)
        assert.notInclude(keys, d)
        const [sa, sb, sc, sd] = yield* Effect.forEach([a, b, c, d], perKey)
        assert.deepStrictEqual(sa, { written: 10, evicted: 0, retained: 10, followers: 0 })
        assert.deepStrictEqual(sb, { written: 11, evicted: 0, retained: 11, followers: 0 })
        // c and d have no series of their own (reading one makes an empty one): they are counted in (other).
        assert.deepStrictEqual(sc, { written: 0, evicted: 0, retained: 0, followers: 0 })
        assert.deepStrictEqual(sd, { written: 0, evicted: 0, retained: 0, followers: 0 })
        const other = yield* perKey(ReplayMetrics.OTHER_KEY)
        assert.strictEqual(other.written - otherBefore.written, 12 + 33)
        assert.strictEqual(other.evicted - otherBefore.evicted, 17)
        assert.strictEqual(other.retained, 12 + 16)
      }))

    it.scoped("followers per key; a removed key's gauges read 0, its counters stay, and a new buffer under it continues them", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make()
        const key = unique("k")
        const buffer = yield* registry.create(key, { capacity: 8 })
        yield* buffer.write(bytes(6))
        ReplayMetrics.unsafeFollowerStarted(buffer, "stream")
        ReplayMetrics.unsafeFollowerStarted(buffer, "sse")
        assert.deepStrictEqual(yield* perKey(key), { written: 6, evicted: 0, retained: 6, followers: 2 })
        ReplayMetrics.unsafeFollowerStopped(buffer, "sse")
        assert.strictEqual((yield* perKey(key)).followers, 1)
        yield* buffer.write(bytes(5)) // written after the last read: counted when it leaves
        yield* registry.remove(key)
        ReplayMetrics.unsafeFollowerStopped(buffer, "stream")
        assert.deepStrictEqual(yield* perKey(key), { written: 11, evicted: 3, retained: 0, followers: 0 })
        // Not held any more: writes to it no longer count under the key.
        const again = yield* registry.create(key, { capacity: 8 })
        yield* again.write(bytes(4))
        assert.deepStrictEqual(yield* perKey(key), { written: 15, evicted: 3, retained: 4, followers: 0 })
      }))

    it.scoped("a buffer adopted with bytes in it counts from the moment it is held", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make()
        const key = unique("adopted")
        const buffer = yield* ReplayBuffer.make({ capacity: 8 })
        yield* buffer.write(bytes(10))
        yield* registry.adopt(key, buffer)
        yield* buffer.write(bytes(3))
        assert.deepStrictEqual(yield* perKey(key), { written: 3, evicted: 3, retained: 8, followers: 0 })
      }))

    it.scoped("maxKeySeries: 0 counts every buffer in (other); a negative or fractional bound is refused", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ maxKeySeries: 0 })
        const key = unique("none")
        const before = yield* perKey(ReplayMetrics.OTHER_KEY)
        const buffer = yield* registry.create(key, { capacity: 8 })
        yield* buffer.write(bytes(5))
        assert.strictEqual((yield* perKey(key)).written, 0)
        assert.strictEqual((yield* perKey(ReplayMetrics.OTHER_KEY)).written - before.written, 5)
        for (const maxKeySeries of [-1, 1.5, Number.NaN]) {
          const error = yield* Effect.flip(ReplayRegistry.make({ maxKeySeries }))
          assert.strictEqual(error._tag, "InvalidRegistryOptions")
          assert.strictEqual(error.option, "maxKeySeries")
        }
        assert.strictEqual(registry.limits.maxKeySeries, 0)
        assert.strictEqual((yield* ReplayRegistry.make()).limits.maxKeySeries, ReplayMetrics.DEFAULT_MAX_KEY_SERIES)
      }))

    it.effect("the registry's scope closing drops its keys' gauges to 0", () =>
      Effect.gen(function*() {
        const key = unique("closed")
        yield* Effect.scoped(Effect.gen(function*() {
          const registry = yield* ReplayRegistry.make()
          const buffer = yield* registry.create(key, { capacity: 8 })
          yield* buffer.write(bytes(7))
          assert.strictEqual((yield* perKey(key)).retained, 7)
        }))
        assert.deepStrictEqual(yield* perKey(key), { written: 7, evicted: 0, retained: 0, followers: 0 })
      }))
  })

  describe("spans", () => {
    it.scoped("registry operations and acquireWriter: one span each, named, tagged with the key, ended, under the caller's span", () =>
      Effect.gen(function*() {
        const recorder = makeRecorder()
        const key = unique("spans")
        yield* Effect.gen(function*() {
          const registry = yield* ReplayRegistry.make()
          const buffer = yield* registry.create(key)
          yield* registry.getOrCreate(key)
          yield* registry.get(key)
          assert.isTrue(Exit.isFailure(yield* Effect.exit(registry.get(`${key}-missing`))))
          yield* Effect.scoped(buffer.acquireWriter())
          yield* registry.adopt(`${key}-adopted`, yield* ReplayBuffer.make())
          yield* registry.remove(key)
        }).pipe(Effect.withSpan("test"), Effect.withTracer(recorder.tracer))
        const [outer] = recorder.named("test")
        const names = recorder.spans.filter((span) => span !== outer).map((span) => span.name)
        assert.deepStrictEqual(names, [
          "ReplayRegistry.create",
          "ReplayRegistry.getOrCreate",
          "ReplayRegistry.get",
          "ReplayRegistry.get",
          "ReplayBuffer.acquireWriter",
          "ReplayRegistry.adopt",
          "ReplayRegistry.remove"
        ])
        for (const span of recorder.spans) {
          assert.isTrue(span.ended, `${span.name} ended`)
          if (span === outer) continue
          assert.isTrue(
            Option.isSome(span.parent) && span.parent.value === outer,
            `${span.name} is a child of the caller's span`
          )
          if (span.name.startsWith("ReplayRegistry.")) {
            assert.isTrue(String(span.attributes.get("scrollback.key")).startsWith(key))
          }
        }
        const gets = recorder.named("ReplayRegistry.get")
        assert.isTrue(Exit.isSuccess(gets[0].exit!))
        assert.isTrue(Exit.isFailure(gets[1].exit!), "a BufferNotFound fails its span")
        const [acquire] = recorder.named("ReplayBuffer.acquireWriter")
        assert.strictEqual(acquire.attributes.get("scrollback.engine"), "memory")
        assert.strictEqual(acquire.attributes.get("scrollback.wait"), false)
      }))
  })
})
