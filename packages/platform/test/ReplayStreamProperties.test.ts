import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer, ReplayBufferError } from "@scrollback/core"
import { ReplayStream } from "@scrollback/platform"
import { Cause, Effect, Exit, FastCheck as fc, Fiber, Option, Stream } from "effect"

// The test keeps its own copy of the log. A write and its record happen in one synchronous step (the write runs
// to completion inside `Effect.sync`), so the model's order is exactly the buffer's order.
class Log {
  readonly bytes: Array<number> = []
  write(buffer: ReplayBuffer.ReplayBuffer, chunk: Uint8Array) {
    return Effect.sync(() => {
      for (const b of chunk) this.bytes.push(b)
      Effect.runSync(buffer.write(chunk))
    })
  }
  writeAll(buffer: ReplayBuffer.ReplayBuffer, chunks: ReadonlyArray<Uint8Array>) {
    return Effect.sync(() => {
      for (const c of chunks) for (const b of c) this.bytes.push(b)
      Effect.runSync(buffer.writeAll(chunks))
    })
  }
  slice(from: number, to: number) {
    return this.bytes.slice(from, to)
  }
}

const yieldTimes = (n: number) => n === 0 ? Effect.void : Effect.repeatN(Effect.yieldNow(), n - 1)

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

describe("ReplayStream properties", () => {
  it.effect.prop(
    "replay-then-follow delivers the log exactly once from the effective start, under concurrent writers, eviction and interruption",
    [scenarioArb],
    ([{ capacity, ending, followers, writers }]) =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity })
        const log = new Log()
        const producerError = new ReplayBufferError.ProducerFailed({ reason: "boom", exitCode: 1 })

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
            const totalAtStart = log.bytes.length
            const seen: Array<Seen> = []
            const options = { from, onEvicted: spec.policy, maxChunkBytes: spec.maxChunkBytes }
            const slow = yieldTimes(spec.slowness)
            const stream: Stream.Stream<Seen, ReplayBufferError.ReplayBufferError> = spec.frames
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
          Effect.forEach(steps, (step) =>
            Effect.zipRight(
              yieldTimes(step.yields),
              step.chunks.length === 1 ? log.write(buffer, step.chunks[0]) : log.writeAll(buffer, step.chunks)
            ), { discard: true })
        )
        const followerFibers = yield* Effect.forEach(followers, (spec) => Effect.fork(runFollower(spec)))
        yield* Effect.all(writerPrograms, { concurrency: "unbounded", discard: true })
        yield* ending === "end" ? buffer.end : buffer.fail(producerError)
        const results = yield* Effect.forEach(followerFibers, Fiber.join)
        yield* Fiber.interrupt(stalled)

        const total = log.bytes.length
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
                // Unknown start ("live"/"oldest"/past the end, bytes variant): locate it as a suffix-aligned run.
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
      }),
    { fastCheck: { numRuns: 1_000 } }
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
        const buffer = yield* ReplayBuffer.make({ capacity })
        const log = new Log()
        for (const c of chunks) yield* log.write(buffer, c)
        yield* buffer.end
        const total = log.bytes.length
        const oldest = Math.max(0, total - capacity)
        const out = yield* Stream.runCollect(ReplayStream.follow(buffer, { from, onEvicted: "clamp" }))
        const got = Array.from(out).flatMap((c) => Array.from(c))
        const start = from >= total ? total : Math.max(from, oldest)
        assert.deepStrictEqual(got, log.slice(start, total))
      }),
    { fastCheck: { numRuns: 500 } }
  )
})
