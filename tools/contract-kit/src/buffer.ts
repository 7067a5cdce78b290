/**
 * The buffer contract: reads and writes against a reference model, and
 * concurrent writers and readers.
 */
import { assert } from "@effect/vitest"
import type * as Vitest from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import { type BufferMaker, concat, makeBuffer, runsOf, type SuiteOptions, yieldTimes } from "./engine.js"

/** A plain reference model: every byte ever written, in order. */
class Model {
  readonly log: Array<number> = []
  constructor(readonly capacity: number) {}
  get total() {
    return this.log.length
  }
  get oldest() {
    return Math.max(0, this.total - this.capacity)
  }
  write(bytes: Uint8Array) {
    for (const b of bytes) this.log.push(b)
  }
  readFrom(offset: number): { bytes: Array<number>; offset: number } {
    if (offset >= this.total) return { bytes: [], offset: this.total }
    const start = Math.max(offset, this.oldest)
    return { bytes: this.log.slice(start), offset: start }
  }
}

type Offset = { readonly kind: "absolute"; readonly n: number } | { readonly kind: "fromTotal"; readonly delta: number }

type Op =
  | { readonly _tag: "write"; readonly bytes: Uint8Array }
  | { readonly _tag: "writeAll"; readonly chunks: ReadonlyArray<Uint8Array> }
  | { readonly _tag: "readFrom"; readonly at: Offset }
  | { readonly _tag: "readChunks"; readonly at: Offset; readonly maxBytes: number }

const offsetArb = (capacity: number): fc.Arbitrary<Offset> =>
  fc.oneof(
    fc.record({ kind: fc.constant("absolute" as const), n: fc.integer({ min: -1_000, max: 40_000 }) }),
    fc.record({ kind: fc.constant("fromTotal" as const), delta: fc.integer({ min: -capacity - 5, max: 5 }) })
  )

const opArb = (capacity: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        _tag: fc.constant("write" as const),
        bytes: fc.uint8Array({ maxLength: capacity * 2 + 3 })
      })
    },
    {
      weight: 2,
      arbitrary: fc.record({
        _tag: fc.constant("writeAll" as const),
        chunks: fc.array(fc.uint8Array({ maxLength: capacity + 2 }), { maxLength: 6 })
      })
    },
    { weight: 2, arbitrary: fc.record({ _tag: fc.constant("readFrom" as const), at: offsetArb(capacity) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        _tag: fc.constant("readChunks" as const),
        at: offsetArb(capacity),
        maxBytes: fc.integer({ min: 1, max: capacity * 2 + 2 })
      })
    }
  )

const scenario = fc.integer({ min: 1, max: 300 }).chain((capacity) =>
  fc.record({ capacity: fc.constant(capacity), ops: fc.array(opArb(capacity), { maxLength: 60 }) })
)

// Each chunk written carries a header [writer, seq, length, chunks left in its batch] so the final log can be
// parsed back into writes; a read may only ever end where a whole write (a whole batch) ends.
const HEADER = 4
const payload = (writer: number, seq: number, length: number, left: number) => {
  const p = new Uint8Array(length)
  p.set([writer, seq, length, left])
  p.fill((writer * 31 + seq) & 0xff, HEADER)
  return p
}

const writerArb = fc.array(
  fc.record({
    sizes: fc.array(fc.integer({ min: HEADER, max: 40 }), { minLength: 1, maxLength: 3 }),
    yields: fc.integer({ min: 0, max: 3 })
  }),
  { minLength: 1, maxLength: 12 }
)
const readerArb = fc.array(
  fc.record({
    offset: fc.integer({ min: -10, max: 1_500 }),
    yields: fc.integer({ min: 0, max: 3 }),
    chunks: fc.boolean()
  }),
  { minLength: 1, maxLength: 12 }
)
const waiterArb = fc.array(
  fc.record({
    offset: fc.integer({ min: -5, max: 1_500 }),
    interruptAfter: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined })
  }),
  { maxLength: 8 }
)

/** The buffer contract's properties, run with the engine's `BufferMaker`. */
export const bufferSuite = (it: Vitest.Vitest.MethodsNonLive<BufferMaker, boolean>, options?: SuiteOptions): void => {
  it.effect.prop(
    "matches the reference model for any capacity, writes and reads; past reads never change",
    [scenario],
    ([{ capacity, ops }]) =>
      Effect.gen(function*() {
        const rb = yield* makeBuffer(capacity)
        const model = new Model(capacity)
        const held: Array<{ readonly get: () => Array<number>; readonly expected: Array<number> }> = []
        for (const op of ops) {
          const offsetOf = (at: Offset) => at.kind === "absolute" ? at.n : model.total + at.delta
          switch (op._tag) {
            case "write": {
              yield* rb.write(op.bytes)
              model.write(op.bytes)
              break
            }
            case "writeAll": {
              yield* rb.writeAll(op.chunks)
              for (const c of op.chunks) model.write(c)
              break
            }
            case "readFrom": {
              const offset = offsetOf(op.at)
              const got = yield* rb.readFrom(offset)
              const want = model.readFrom(offset)
              assert.strictEqual(got.offset, want.offset)
              assert.deepStrictEqual(Array.from(got.bytes), want.bytes)
              held.push({ get: () => Array.from(got.bytes), expected: want.bytes })
              break
            }
            case "readChunks": {
              const offset = offsetOf(op.at)
              const got = yield* rb.readChunks(offset, { maxBytes: op.maxBytes })
              const want = model.readFrom(offset)
              const expected = want.bytes.slice(0, op.maxBytes)
              assert.strictEqual(got.offset, want.offset)
              assert.strictEqual(got.next, want.offset + expected.length)
              assert.deepStrictEqual(concat(got.chunks), expected)
              assert.strictEqual(got.total, model.total)
              assert.strictEqual(got.oldest, model.oldest)
              held.push({ get: () => concat(got.chunks), expected })
              break
            }
          }
          assert.strictEqual(yield* rb.total, model.total)
          assert.strictEqual(yield* rb.oldest, model.oldest)
        }
        for (const h of held) assert.deepStrictEqual(h.get(), h.expected)
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: runsOf(options, 3_000) } }
  )

  it.effect.prop(
    "concurrent writers and readers: every read is a run of whole writes, in each writer's order",
    [
      fc.array(writerArb, { minLength: 1, maxLength: 6 }),
      fc.array(readerArb, { minLength: 1, maxLength: 4 }),
      waiterArb
    ],
    ([writers, readers, waiters]) =>
      Effect.gen(function*() {
        const rb = yield* makeBuffer(1 << 20)
        const reads: Array<{ readonly offset: number; readonly bytes: Array<number> }> = []

        const waiterFibers = yield* Effect.forEach(waiters, (w) =>
          Effect.fork(rb.awaitData(w.offset).pipe(Effect.as(w.offset))))
        const interrupters = Effect.forEach(
          waiters.map((w, i) =>
            [w, waiterFibers[i]] as const
          ),
          ([w, fiber]) =>
            w.interruptAfter !== undefined
              ? yieldTimes(w.interruptAfter).pipe(Effect.zipRight(Fiber.interrupt(fiber)))
              : Effect.void,
          { concurrency: "unbounded", discard: true }
        )
        const writerPrograms = writers.map((steps, writer) =>
          Effect.forEach(steps, (step, seq) =>
            yieldTimes(step.yields).pipe(Effect.zipRight(
              step.sizes.length === 1
                ? rb.write(payload(writer, seq, step.sizes[0], 0))
                : rb.writeAll(step.sizes.map((size, i) => payload(writer, seq, size, step.sizes.length - 1 - i)))
            )), { discard: true })
        )
        const readerPrograms = readers.map((steps) =>
          Effect.forEach(steps, (step) =>
            yieldTimes(step.yields).pipe(
              Effect.zipRight(
                step.chunks
                  ? Effect.map(rb.readChunks(step.offset), (r) => ({ offset: r.offset, bytes: concat(r.chunks) }))
                  : Effect.map(rb.readFrom(step.offset), (r) => ({ offset: r.offset, bytes: Array.from(r.bytes) }))
              ),
              Effect.tap((r) => Effect.sync(() => reads.push(r)))
            ), { discard: true })
        )

        yield* Effect.all([...writerPrograms, ...readerPrograms, interrupters], {
          concurrency: "unbounded",
          discard: true
        })
        yield* rb.end

        // Parse the final log back into chunks.
        const log = Array.from((yield* rb.readFrom(0)).bytes)
        const batchEnds = new Set<number>([0])
        const lastSeq = new Map<number, number>()
        let at = 0
        let chunks = 0
        while (at < log.length) {
          const [writer, seq, length, left] = log.slice(at, at + HEADER)
          assert.isAtLeast(length, HEADER)
          assert.deepStrictEqual(log.slice(at, at + length), Array.from(payload(writer, seq, length, left)))
          const previous = lastSeq.get(writer) ?? -1
          assert.isTrue(seq === previous || seq === previous + 1, "a writer's writes stay in its order")
          lastSeq.set(writer, seq)
          at += length
          chunks++
          if (left === 0) batchEnds.add(at)
        }
        assert.strictEqual(at, log.length)
        assert.strictEqual(chunks, writers.flat().reduce((n, s) => n + s.sizes.length, 0))

        for (const r of reads) {
          assert.deepStrictEqual(r.bytes, log.slice(r.offset, r.offset + r.bytes.length))
          assert.isTrue(batchEnds.has(r.offset + r.bytes.length), "a read never ends inside a write or a batch")
        }

        const results = yield* Effect.forEach(waiterFibers, Fiber.await)
        results.forEach((exit, i) => {
          if (waiters[i].interruptAfter === undefined) assert.isTrue(Exit.isSuccess(exit), "every waiter wakes")
        })
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: runsOf(options, 500) } }
  )
}
