/**
 * The cursor contract: where a reader starts, what it refuses, and its steps.
 */
import { assert } from "@effect/vitest"
import type * as Vitest from "@effect/vitest"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import { type BufferMaker, concat, makeBuffer, runsOf, type SuiteOptions } from "./engine.js"
import { tagOf } from "./lease.js"

type FromSpec =
  | { readonly kind: "oldest" }
  | { readonly kind: "live" }
  | { readonly kind: "offset"; readonly offset: number }
  | { readonly kind: "position"; readonly sameEpoch: boolean; readonly offset: number }

const fromArb = (span: number): fc.Arbitrary<FromSpec> =>
  fc.oneof(
    fc.constant({ kind: "oldest" as const }),
    fc.constant({ kind: "live" as const }),
    fc.record({ kind: fc.constant("offset" as const), offset: fc.integer({ min: -span, max: 2 * span }) }),
    fc.record({
      kind: fc.constant("position" as const),
      sameEpoch: fc.boolean(),
      offset: fc.integer({ min: -2, max: 2 * span })
    })
  )

const scenarioArb = fc.integer({ min: 1, max: 64 }).chain((capacity) =>
  fc.record({
    capacity: fc.constant(capacity),
    writes: fc.array(fc.uint8Array({ maxLength: capacity + 8 }), { maxLength: 8 }),
    from: fromArb(capacity * 3),
    policy: fc.constantFrom<ReplayCursor.OnEvicted>("fail", "clamp"),
    maxChunkBytes: fc.integer({ min: 1, max: 80 }),
    end: fc.constantFrom("open", "ended", "failed")
  })
)

export const cursorSuite = (it: Vitest.Vitest.MethodsNonLive<BufferMaker, boolean>, options?: SuiteOptions): void => {
  it.effect.prop(
    "starts where the table says, refuses what it says, then steps through exactly the retained bytes",
    [scenarioArb],
    ([{ capacity, end, from, maxChunkBytes, policy, writes }]) =>
      Effect.gen(function*() {
        const buffer = yield* makeBuffer(capacity)
        for (const chunk of writes) yield* buffer.write(chunk)
        const log = writes.flatMap((chunk) => Array.from(chunk))
        const total = log.length
        const oldest = Math.max(0, total - capacity)
        const failure = new ProducerFailed({ reason: "boom", exitCode: 3 })
        if (end === "ended") yield* buffer.end
        if (end === "failed") yield* buffer.fail(failure)

        const option: ReplayCursor.From = from.kind === "oldest" || from.kind === "live"
          ? from.kind
          : from.kind === "offset"
          ? from.offset
          : { epoch: from.sameEpoch ? buffer.epoch : "ffffffffffffffff", offset: from.offset }
        const made = yield* Effect.exit(ReplayCursor.make(buffer, { from: option, onEvicted: policy, maxChunkBytes }))

        // The table of ReplayCursor's module doc.
        let expected: number | string
        if (from.kind === "oldest") expected = oldest
        else if (from.kind === "live") expected = total
        else if (from.kind === "offset") expected = Math.min(Math.max(from.offset, 0), total)
        else if (from.offset < 0) expected = "InvalidOffset"
        else if (!from.sameEpoch) expected = "EpochMismatch"
        else if (from.offset > total) expected = "OffsetAhead"
        else expected = from.offset
        if (typeof expected === "number" && expected < oldest && policy === "fail") expected = "OffsetEvicted"

        if (typeof expected === "string") {
          assert.strictEqual(tagOf(made), expected)
          return
        }
        assert.isTrue(Exit.isSuccess(made))
        if (Exit.isFailure(made)) return
        const cursor = made.value
        assert.deepStrictEqual([cursor.start, cursor.oldest, cursor.total], [expected, oldest, total])

        // Steps: a gap first if the start was evicted (clamp), then the bytes in chunks of at most maxChunkBytes.
        let position = expected
        if (expected < oldest) {
          const gap = ReplayCursor.unsafeNext(cursor)
          assert.deepStrictEqual(gap, { _tag: "Gap", requested: expected, oldest })
          position = oldest
        }
        for (;;) {
          const step = ReplayCursor.unsafeNext(cursor)
          if (step._tag !== "Data") {
            if (end === "open") assert.strictEqual(step._tag, "Pending")
            else {
              assert.strictEqual(step._tag, "Done")
              if (step._tag === "Done") {
                assert.deepStrictEqual(step.exit, end === "ended" ? Exit.void : Exit.fail(failure))
                assert.strictEqual(ReplayCursor.unsafeNext(cursor), step, "a finished cursor stays finished")
              }
            }
            break
          }
          assert.strictEqual(step.offset, position, "no gap, no duplicate")
          assert.isAtMost(step.next - step.offset, maxChunkBytes)
          assert.deepStrictEqual(concat(step.chunks), log.slice(step.offset, step.next))
          position = step.next
        }
        assert.strictEqual(position, total)
        assert.strictEqual(cursor.position, total)
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: runsOf(options, 1_000) } }
  )

  it.effect("a cursor that falls behind eviction: a gap under clamp, OffsetEvicted under fail; never a skip", () =>
    Effect.gen(function*() {
      const buffer = yield* makeBuffer(4)
      yield* buffer.write(new Uint8Array([1, 2]))
      const clamp = yield* ReplayCursor.make(buffer, { from: 0, onEvicted: "clamp" })
      const fail = yield* ReplayCursor.make(buffer, { from: 0, onEvicted: "fail" })
      yield* buffer.write(new Uint8Array([3, 4, 5, 6, 7]))
      assert.deepStrictEqual(ReplayCursor.unsafeNext(clamp), { _tag: "Gap", requested: 0, oldest: 3 })
      const data = ReplayCursor.unsafeNext(clamp)
      assert.deepStrictEqual(data._tag === "Data" && [data.offset, concat(data.chunks)], [3, [4, 5, 6, 7]])
      const evicted = ReplayCursor.unsafeNext(fail)
      assert.strictEqual(evicted._tag, "Done")
      if (evicted._tag === "Done") assert.strictEqual(tagOf(evicted.exit), "OffsetEvicted")
    }).pipe(Effect.scoped))

  it.effect("next waits for data or the end; unsafeAwait wakes once, and at once when ready", () =>
    Effect.gen(function*() {
      const buffer = yield* makeBuffer(16)
      const cursor = yield* ReplayCursor.make(buffer, { from: "live" })
      const woken: Array<string> = []
      ReplayCursor.unsafeAwait(cursor, () => woken.push("first"))
      const cancelled = ReplayCursor.unsafeAwait(cursor, () => woken.push("cancelled"))
      cancelled()
      const waiting = yield* Effect.fork(ReplayCursor.next(cursor))
      yield* buffer.write(new Uint8Array([9]))
      const step = yield* Fiber.join(waiting)
      assert.deepStrictEqual(step._tag === "Data" && concat(step.chunks), [9])
      assert.deepStrictEqual(woken, ["first"])
      yield* buffer.end
      ReplayCursor.unsafeAwait(cursor, () => woken.push("at once"))
      assert.deepStrictEqual(woken, ["first", "at once"])
      assert.deepStrictEqual(yield* ReplayCursor.next(cursor), { _tag: "Done", exit: Exit.void })
    }).pipe(Effect.scoped))
}
