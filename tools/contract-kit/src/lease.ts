/**
 * The writer lease contract: one producer at a time, refusals that change
 * nothing, and no interleaving inside a producer's run.
 */
import { assert } from "@effect/vitest"
import type * as Vitest from "@effect/vitest"
import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { type BufferMaker, makeBuffer, runsOf, type SuiteOptions, yieldTimes } from "./engine.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: Uint8Array) => new TextDecoder().decode(data)

/** How an effect ended: `Success`, `Interrupted`, `Defect`, or its typed error's tag. */
export const tagOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "Success"
  if (Exit.isInterrupted(exit)) return "Interrupted"
  const failure = Cause.failureOption(exit.cause)
  return Option.isSome(failure) ? (failure.value as { readonly _tag: string })._tag : "Defect"
}

interface ProducerSpec {
  readonly startAfter: number
  readonly wait: boolean
  readonly writes: ReadonlyArray<{ readonly size: number; readonly yields: number }>
  readonly end: boolean
  readonly interruptAfter: number | undefined
}

const producerArb: fc.Arbitrary<ProducerSpec> = fc.record({
  startAfter: fc.integer({ min: 0, max: 10 }),
  wait: fc.boolean(),
  writes: fc.array(fc.record({ size: fc.integer({ min: 3, max: 24 }), yields: fc.integer({ min: 0, max: 3 }) }), {
    minLength: 1,
    maxLength: 6
  }),
  end: fc.boolean(),
  interruptAfter: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined })
})

/** Ids of plain writers start here. */
const PLAIN = 100

/** A chunk of producer `id`'s `seq`-th write: [id, seq, size, filler...] so the log can be parsed back. */
const chunkOf = (id: number, seq: number, size: number) => {
  const out = new Uint8Array(size)
  out.set([id, seq, size])
  out.fill((id * 17 + seq) & 0xff, 3)
  return out
}

export const leaseSuite = (it: Vitest.Vitest.MethodsNonLive<BufferMaker, boolean>, options?: SuiteOptions): void => {
  it.effect("a second lease fails WriterBusy at once; plain writes are refused while it is held, ends are not", () =>
    Effect.gen(function*() {
      const buffer = yield* makeBuffer(1024)
      const writer = yield* buffer.acquireWriter()
      yield* writer.write(bytes("mine "))
      const second = yield* Effect.exit(Effect.scoped(buffer.acquireWriter()))
      assert.strictEqual(tagOf(second), "WriterBusy")
      assert.strictEqual(tagOf(yield* Effect.exit(buffer.write(bytes("theirs")))), "WriterBusy")
      assert.strictEqual(tagOf(yield* Effect.exit(buffer.writeAll([bytes("theirs")]))), "WriterBusy")
      yield* writer.writeAll([bytes("only"), bytes("!")])
      assert.strictEqual(text((yield* buffer.readFrom(0)).bytes), "mine only!")
      // Ending is an owner's stop, allowed to anyone: the producer's next write then fails BufferClosed.
      assert.isTrue(yield* buffer.end)
      assert.strictEqual(tagOf(yield* Effect.exit(writer.write(bytes("late")))), "BufferClosed")
      assert.isFalse(yield* writer.end)
    }).pipe(Effect.scoped))

  it.effect("with wait: true the second producer gets the lease when the first releases it", () =>
    Effect.gen(function*() {
      const buffer = yield* makeBuffer(1024)
      const released = yield* Deferred.make<void>()
      const first = yield* Effect.fork(
        ReplayBuffer.withWriter(
          buffer,
          (writer) => Effect.zipRight(writer.write(bytes("first ")), Deferred.await(released))
        )
      )
      yield* awaitTotal(buffer, 6)
      const second = yield* Effect.fork(
        ReplayBuffer.withWriter(buffer, (writer) => writer.write(bytes("second")), { wait: true })
      )
      yield* yieldTimes(20)
      assert.strictEqual(text((yield* buffer.readFrom(0)).bytes), "first ", "the second waits")
      yield* Deferred.succeed(released, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.strictEqual(text((yield* buffer.readFrom(0)).bytes), "first second")
    }).pipe(Effect.scoped))

  it.effect("a writer whose scope closed fails LeaseLost and changes nothing; the lease is free again", () =>
    Effect.gen(function*() {
      const buffer = yield* makeBuffer(1024)
      const stale = yield* Effect.scoped(Effect.tap(buffer.acquireWriter(), (writer) => writer.write(bytes("a"))))
      assert.strictEqual(tagOf(yield* Effect.exit(stale.write(bytes("b")))), "LeaseLost")
      assert.strictEqual(tagOf(yield* Effect.exit(stale.end)), "LeaseLost")
      assert.isTrue(Option.isNone(yield* buffer.ended))
      yield* buffer.write(bytes("c")) // no lease held: plain writes go through again
      yield* ReplayBuffer.withWriter(buffer, (writer) => writer.write(bytes("d")))
      assert.strictEqual(text((yield* buffer.readFrom(0)).bytes), "acd")
    }).pipe(Effect.scoped))

  it.effect("the lease of an ended buffer is refused with BufferClosed", () =>
    Effect.gen(function*() {
      const buffer = yield* makeBuffer(1024)
      yield* buffer.end
      assert.strictEqual(tagOf(yield* Effect.exit(Effect.scoped(buffer.acquireWriter()))), "BufferClosed")
    }).pipe(Effect.scoped))

  it.effect.prop(
    "concurrent producers never interleave: each one's writes are contiguous, refused ones wrote nothing",
    [
      fc.array(producerArb, { minLength: 2, maxLength: 5 }),
      // Plain writers (no lease): their writes land only while no producer holds the lease.
      fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 6 }), { maxLength: 3 })
    ],
    ([producers, plainWriters]) =>
      Effect.gen(function*() {
        const buffer = yield* makeBuffer(1 << 20)
        const outcomes: Array<string> = producers.map(() => "")
        const run = (spec: ProducerSpec, id: number) =>
          Effect.gen(function*() {
            yield* yieldTimes(spec.startAfter)
            const exit = yield* Effect.exit(ReplayBuffer.withWriter(buffer, (writer) =>
              Effect.gen(function*() {
                for (let seq = 0; seq < spec.writes.length; seq++) {
                  yield* yieldTimes(spec.writes[seq].yields)
                  yield* writer.write(chunkOf(id, seq, spec.writes[seq].size))
                }
                if (spec.end) yield* writer.end
              }), { wait: spec.wait }))
            outcomes[id] = tagOf(exit)
          })
        const plain = plainWriters.map((steps, k) =>
          Effect.forEach(steps, (yields, seq) =>
            Effect.zipRight(yieldTimes(yields), Effect.ignore(buffer.write(chunkOf(PLAIN + k, seq, 3)))), {
            discard: true
          })
        )
        const fibers = yield* Effect.forEach(producers, (spec, id) =>
          Effect.fork(run(spec, id)))
        const plainFibers = yield* Effect.forEach(plain, (program) =>
          Effect.fork(program))
        yield* Effect.forEach(producers, (spec, id) =>
          spec.interruptAfter === undefined
            ? Effect.void
            : Effect.zipRight(yieldTimes(spec.interruptAfter), Fiber.interrupt(fibers[id])), {
          concurrency: "unbounded",
          discard: true
        })
        yield* Effect.forEach([...fibers, ...plainFibers], Fiber.await, { discard: true })

        // Parse the log into (producer, seq) chunks: each producer's chunks form one contiguous run.
        const log = (yield* buffer.readFrom(0)).bytes
        const runs: Array<number> = []
        const seen = new Map<number, number>()
        for (let at = 0; at < log.length;) {
          const [id, seq, size] = [log[at], log[at + 1], log[at + 2]]
          assert.deepStrictEqual(Array.from(log.subarray(at, at + size)), Array.from(chunkOf(id, seq, size)))
          if (id < PLAIN) {
            assert.strictEqual(seq, (seen.get(id) ?? -1) + 1, "a producer's writes land in order, none lost between")
            seen.set(id, seq)
          }
          if (runs[runs.length - 1] !== id) runs.push(id)
          at += size
        }
        const producerRuns = runs.filter((id) => id < PLAIN)
        assert.strictEqual(new Set(producerRuns).size, producerRuns.length, "no producer's run is split by other bytes")
        producers.forEach((spec, id) => {
          assert.notStrictEqual(outcomes[id], "LeaseLost", "no producer loses its lease while it holds it")
          if (outcomes[id] === "WriterBusy") {
            assert.isFalse(spec.wait, "only a producer that does not wait is refused")
            assert.isFalse(seen.has(id), "a refused producer wrote nothing")
          }
          if (outcomes[id] === "Success") assert.strictEqual(seen.get(id), spec.writes.length - 1)
        })
        // Whoever ended first won; every later producer's lease was refused or its writes failed BufferClosed.
        const ended = yield* buffer.ended
        if (Option.isNone(ended)) assert.isFalse(producers.some((spec, id) => spec.end && outcomes[id] === "Success"))
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: runsOf(options, 300) } }
  )
}

/** Waits (on the buffer's wake-up) until `total >= n`. */
const awaitTotal = (buffer: ReplayBuffer.ReplayBuffer, n: number): Effect.Effect<void> =>
  Effect.flatMap(
    buffer.total,
    (total) => total >= n ? Effect.void : Effect.zipRight(buffer.awaitData(total), awaitTotal(buffer, n))
  )
