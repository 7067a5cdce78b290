/**
 * The follower contract (`ReplayStream.follow` / `frames` over the engine's
 * buffers): exactly once from the effective start, under concurrent
 * producers, eviction and interruption.
 */
import { assert } from "@effect/vitest"
import type * as Vitest from "@effect/vitest"
import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayStream from "@scrollback/platform/ReplayStream"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { type BufferMaker, makeBuffer, runsOf, type SuiteOptions, yieldTimes } from "./engine.js"

/**
 * The test's copy of the log. Each write holds the buffer's writer lease and
 * is recorded inside it, once it succeeded: writes are serialised by the
 * lease, so the copy's order is the log's order for any engine (in memory,
 * or with a log of record elsewhere).
 */
class Log {
  readonly bytes: Array<number> = []
  write(buffer: ReplayBuffer.ReplayBuffer, chunks: ReadonlyArray<Uint8Array>) {
    return ReplayBuffer.withWriter(buffer, (writer) =>
      Effect.zipRight(
        chunks.length === 1 ? writer.write(chunks[0]) : writer.writeAll(chunks),
        Effect.sync(() => {
          for (const c of chunks) for (const b of c) this.bytes.push(b)
        })
      ), { wait: true })
  }
  slice(from: number, to: number) {
    return this.bytes.slice(from, to)
  }
}

type Ending = "end" | "fail"

interface FollowerSpec {
  readonly startAfter: number // yields before the follower starts: it may start before, during or after writing
  readonly from: { readonly kind: "delta"; readonly delta: number } | { readonly kind: "oldest" } | {
    readonly kind: "live"
  }
  readonly policy: ReplayStream.OnEvicted
  readonly frames: boolean
  readonly slowness: number // yields after each element: slow followers fall behind eviction
  readonly interruptAfter: number | undefined // yields after start before it is interrupted
  readonly maxChunkBytes: number
}

const followerArb = (capacity: number): fc.Arbitrary<FollowerSpec> =>
  fc.record({
    startAfter: fc.integer({ min: 0, max: 30 }),
    from: fc.oneof(
      fc.record({ kind: fc.constant("delta" as const), delta: fc.integer({ min: -capacity - 8, max: 8 }) }),
      fc.record({ kind: fc.constant("oldest" as const) }),
      fc.record({ kind: fc.constant("live" as const) })
    ),
    policy: fc.constantFrom<ReplayStream.OnEvicted>("clamp", "fail"),
    frames: fc.boolean(),
    slowness: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 6 })),
    interruptAfter: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
    maxChunkBytes: fc.oneof(fc.constant(1 << 20), fc.integer({ min: 1, max: 64 }))
  })

const writeArb = (capacity: number) =>
  fc.record({
    chunks: fc.array(fc.uint8Array({ minLength: 0, maxLength: capacity + 4 }), { minLength: 1, maxLength: 3 }),
    yields: fc.integer({ min: 0, max: 3 })
  })

const scenarioArb = fc.integer({ min: 1, max: 96 }).chain((capacity) =>
  fc.record({
    capacity: fc.constant(capacity),
    writers: fc.array(fc.array(writeArb(capacity), { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 3 }),
    followers: fc.array(followerArb(capacity), { minLength: 1, maxLength: 6 }),
    ending: fc.constantFrom<Ending>("end", "fail")
  })
)

/** What a follower saw: positioned data and gaps, in order, and how it stopped. */
type Seen = { readonly _tag: "Data"; readonly offset: number; readonly bytes: Array<number> } | ReplayStream.Gap

export const followSuite = (it: Vitest.Vitest.MethodsNonLive<BufferMaker, boolean>, options?: SuiteOptions): void => {
  it.effect.prop(
    "replay-then-follow delivers the log exactly once from the effective start, under concurrent writers, eviction and interruption",
    [scenarioArb],
    ([{ capacity, ending, followers, writers }]) =>
      Effect.gen(function*() {
        const buffer = yield* makeBuffer(capacity)
        const log = new Log()
        const producerError = new ProducerFailed({ reason: "boom", exitCode: 1 })

        // A follower that stalls forever on its first element: the writers must never wait for it.
        const stalled = yield* Effect.fork(
          ReplayStream.follow(buffer, { from: 0, onEvicted: "clamp" }).pipe(Stream.runForEach(() => Effect.never))
        )

        const runFollower = (spec: FollowerSpec) =>
          Effect.gen(function*() {
            yield* yieldTimes(spec.startAfter)
            const from: ReplayStream.From = spec.from.kind === "delta"
              ? log.bytes.length + spec.from.delta
              : spec.from.kind
            // The copy never runs ahead of the buffer (a write is recorded once it succeeded), so an offset up to
            // this total existed when the follower was built.
            const totalAtStart = log.bytes.length
            const seen: Array<Seen> = []
            const options = { from, onEvicted: spec.policy, maxChunkBytes: spec.maxChunkBytes }
            const slow = yieldTimes(spec.slowness)
            const stream: Stream.Stream<Seen, ReplayStream.FollowError> = spec.frames
              ? ReplayStream.frames(buffer, options).pipe(
                Stream.map((f): Seen => f._tag === "Data" ? { ...f, bytes: Array.from(f.bytes) } : f)
              )
              : Stream.suspend(() => {
                // The bytes variant: positions are reconstructed from the start offset and the onGap signal.
                let position = -1
                const gaps: Array<ReplayStream.Gap> = []
                return ReplayStream.follow(buffer, {
                  ...options,
                  onGap: (gap) => Effect.sync(() => gaps.push(gap))
                }).pipe(
                  Stream.mapConcat((chunk): Array<Seen> => {
                    const out: Array<Seen> = []
                    while (gaps.length > 0) {
                      const gap = gaps.shift()!
                      out.push(gap)
                      position = gap.oldest
                    }
                    if (position < 0) position = -2 // unknown start: checked below through the first element
                    out.push({ _tag: "Data", offset: position, bytes: Array.from(chunk) })
                    if (position >= 0) position += chunk.length
                    return out
                  })
                )
              })
            const fiber = yield* Effect.fork(
              Stream.runForEach(stream, (s) => Effect.zipRight(Effect.sync(() => seen.push(s)), slow))
            )
            if (spec.interruptAfter !== undefined) {
              yield* yieldTimes(spec.interruptAfter)
              yield* Fiber.interrupt(fiber)
            }
            const exit = yield* Fiber.await(fiber)
            return { spec, from, totalAtStart, seen, exit }
          })

        const writerPrograms = writers.map((steps) =>
          Effect.forEach(steps, (step) => Effect.zipRight(yieldTimes(step.yields), log.write(buffer, step.chunks)), {
            discard: true
          })
        )
        const followerFibers = yield* Effect.forEach(followers, (spec) => Effect.fork(runFollower(spec)))
        yield* Effect.all(writerPrograms, { concurrency: "unbounded", discard: true })
        yield* ending === "end" ? buffer.end : buffer.fail(producerError)
        const results = yield* Effect.forEach(followerFibers, Fiber.join)
        yield* Fiber.interrupt(stalled)

        const total = log.bytes.length
        assert.strictEqual(yield* buffer.total, total, "the copy holds every byte written")
        for (const { exit, from, seen, spec, totalAtStart } of results) {
          // Where the follower starts: known when it asked for an offset that existed when it was built; otherwise
          // read off its first element (frames and gaps carry offsets; plain bytes do not).
          let position: number | undefined = typeof from === "number" && from <= totalAtStart
            ? Math.max(0, from)
            : undefined
          const first = seen[0]
          if (first !== undefined) {
            const firstPosition = first._tag === "Gap" ? first.requested : first.offset >= 0 ? first.offset : undefined
            if (position !== undefined && firstPosition !== undefined) {
              assert.strictEqual(firstPosition, position, "a follower starts where it asked")
            }
            position ??= firstPosition
          }
          // Contiguity: every element continues exactly where the previous one stopped.
          let next = position
          for (const s of seen) {
            if (s._tag === "Gap") {
              assert.isTrue(next === undefined || s.requested === next, "a gap starts where the follower was")
              assert.isAbove(s.oldest, s.requested)
              assert.strictEqual(spec.policy, "clamp", "only clamping followers see gaps")
              next = s.oldest
            } else {
              const offset = s.offset >= 0 ? s.offset : next
              if (next !== undefined && offset !== undefined) assert.strictEqual(offset, next, "no gap, no duplicate")
              if (offset !== undefined) {
                assert.deepStrictEqual(s.bytes, log.slice(offset, offset + s.bytes.length), "the bytes at that offset")
                next = offset + s.bytes.length
              } else {
                // Unknown start ("live"/"oldest"/past the end, bytes variant): located as a suffix-aligned run below.
                next = undefined
              }
            }
          }
          if (Exit.isSuccess(exit)) {
            assert.strictEqual(ending, "end")
            if (next !== undefined) assert.strictEqual(next, total, "a completed follower has every byte")
          } else if (spec.interruptAfter === undefined || !Exit.isInterrupted(exit)) {
            const error = Option.getOrThrow(Cause.failureOption(exit.cause))
            if (error._tag === "OffsetEvicted") {
              assert.strictEqual(spec.policy, "fail")
              if (next !== undefined) assert.strictEqual(error.requested, next, "evicted exactly where it stood")
              assert.isAbove(error.oldest, error.requested)
            } else {
              assert.strictEqual(ending, "fail")
              assert.strictEqual(error, producerError)
              if (next !== undefined) assert.strictEqual(next, total, "a follower drains before it fails")
            }
          }
          // Bytes-variant followers with an unknown start: their output is still a contiguous run of the log that
          // ends at total when they completed.
          if (!spec.frames && position === undefined && seen.length > 0 && Exit.isSuccess(exit)) {
            const out = seen.flatMap((s) => s._tag === "Data" ? s.bytes : [])
            const hasGap = seen.some((s) => s._tag === "Gap")
            if (!hasGap) assert.deepStrictEqual(out, log.slice(total - out.length, total))
          }
        }
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: runsOf(options, 1_000) } }
  )

  it.effect.prop(
    "a follower that starts after the end replays what is retained and completes",
    [
      fc.integer({ min: 1, max: 64 }),
      fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 8 }),
      fc.integer({ min: -100, max: 700 })
    ],
    ([capacity, chunks, from]) =>
      Effect.gen(function*() {
        const buffer = yield* makeBuffer(capacity)
        const log = new Log()
        for (const c of chunks) yield* log.write(buffer, [c])
        yield* buffer.end
        const total = log.bytes.length
        const oldest = Math.max(0, total - capacity)
        const out = yield* Stream.runCollect(ReplayStream.follow(buffer, { from, onEvicted: "clamp" }))
        const got = Array.from(out).flatMap((c) => Array.from(c))
        const start = from >= total ? total : Math.max(from, oldest)
        assert.deepStrictEqual(got, log.slice(start, total))
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: runsOf(options, 500) } }
  )
}
