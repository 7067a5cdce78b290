import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer, ReplayBufferError } from "@scrollback/core"
import { ReplayMetrics } from "@scrollback/core"
import { ReplayStream } from "@scrollback/platform"
import { Cause, Chunk, Effect, Exit, Fiber, Metric, Option, Ref, Stream } from "effect"

const enc = new TextEncoder()
const bytes = (s: string) => enc.encode(s)
const text = (chunks: Iterable<Uint8Array>) => {
  const dec = new TextDecoder()
  let out = ""
  for (const c of chunks) out += dec.decode(c, { stream: true })
  return out + dec.decode()
}
const collect = <E>(stream: Stream.Stream<Uint8Array, E>) => Effect.map(Stream.runCollect(stream), (c) => text(c))

// Every follower counts under its transport: a ReplayStream's is "stream".
const streamFollowers = Metric.tagged(ReplayMetrics.activeFollowers, "transport", "stream")
const streamGaps = Metric.tagged(ReplayMetrics.gaps, "transport", "stream")
const activeFollowers = Effect.map(Metric.value(streamFollowers), (s) => s.value)

/** Yields until `n` more followers than `before` have started (resolved their start offset). */
const awaitStarted = (before: number, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000; i++) {
      if ((yield* activeFollowers) - before >= n) return
      yield* Effect.yieldNow()
    }
    throw new Error("followers did not start")
  })

const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  return Option.getOrThrow(Cause.failureOption(exit.cause))
}

describe("ReplayStream", () => {
  it.effect("replays what is retained, then follows live writes, then ends with the buffer", () =>
    Effect.gen(function*() {
      const buffer = yield* ReplayBuffer.make({ capacity: 64 })
      yield* buffer.write(bytes("hello "))
      const follower = yield* Effect.fork(collect(ReplayStream.follow(buffer)))
      yield* Effect.yieldNow()
      yield* buffer.write(bytes("live "))
      yield* buffer.writeAll([bytes("wor"), bytes("ld")])
      yield* buffer.end
      assert.strictEqual(yield* Fiber.join(follower), "hello live world")
    }))

  it.effect("from: a number, 'oldest', 'live', negative and past the end", () =>
    Effect.gen(function*() {
      const buffer = yield* ReplayBuffer.make({ capacity: 64 })
      yield* buffer.write(bytes("0123456789"))
      const before = yield* activeFollowers
      const live = yield* Effect.fork(collect(ReplayStream.follow(buffer, { from: "live" })))
      const past = yield* Effect.fork(collect(ReplayStream.follow(buffer, { from: 1_000 })))
      yield* awaitStarted(before, 2)
      yield* buffer.write(bytes("ab"))
      yield* buffer.end
      assert.strictEqual(yield* Fiber.join(live), "ab")
      assert.strictEqual(yield* Fiber.join(past), "ab") // past the end starts at total, as the seed's ReadFrom
      assert.strictEqual(yield* collect(ReplayStream.follow(buffer, { from: 4 })), "456789ab")
      assert.strictEqual(yield* collect(ReplayStream.follow(buffer, { from: -3 })), "0123456789ab")
      assert.strictEqual(yield* collect(ReplayStream.follow(buffer, { from: "oldest" })), "0123456789ab")
    }))

  it.effect("a follower that starts after the end replays and completes", () =>
    Effect.gen(function*() {
      const buffer = yield* ReplayBuffer.make({ capacity: 4 })
      yield* buffer.write(bytes("abcdef"))
      yield* buffer.end
      assert.strictEqual(yield* collect(ReplayStream.follow(buffer, { onEvicted: "clamp" })), "cdef")
      assert.strictEqual(yield* collect(ReplayStream.follow(buffer, { from: "live" })), "")
    }))

  it.effect("a failed buffer: followers drain, then fail with the producer's failure", () =>
    Effect.gen(function*() {
      const buffer = yield* ReplayBuffer.make({ capacity: 64 })
      const error = new ReplayBufferError.ProducerFailed({ reason: "exited", exitCode: 3 })
      const early = yield* Effect.fork(
        ReplayStream.follow(buffer).pipe(Stream.runFold("", (s, c) => s + new TextDecoder().decode(c)), Effect.either)
      )
      yield* Effect.yieldNow()
      yield* buffer.write(bytes("partial"))
      yield* buffer.fail(error)
      const result = yield* Fiber.join(early)
      assert.isTrue(result._tag === "Left" && result.left === error)
      // A late follower sees every byte first, then the same failure.
      const seen: Array<string> = []
      const late = yield* Effect.exit(
        ReplayStream.follow(buffer).pipe(Stream.runForEach((c) => Effect.sync(() => seen.push(text([c])))))
      )
      assert.strictEqual(seen.join(""), "partial")
      assert.strictEqual(failure(late), error)
    }))

  it.effect("invalid from fails InvalidOffset; a bad maxChunkBytes is a defect", () =>
    Effect.gen(function*() {
      const buffer = yield* ReplayBuffer.make({ capacity: 8 })
      for (const from of [1.5, NaN, Infinity, "newest" as "live"]) {
        const error = failure(yield* Effect.exit(Stream.runDrain(ReplayStream.follow(buffer, { from }))))
        assert.strictEqual(error._tag, "InvalidOffset")
      }
      const exit = yield* Effect.exit(Stream.runDrain(ReplayStream.follow(buffer, { maxChunkBytes: 0 })))
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
    }))

  it.effect("an evicted start offset: 'fail' fails OffsetEvicted, 'clamp' signals a gap", () =>
    Effect.gen(function*() {
      const buffer = yield* ReplayBuffer.make({ capacity: 4 })
      yield* buffer.write(bytes("abcdefgh"))
      yield* buffer.end
      const error = failure(yield* Effect.exit(Stream.runDrain(ReplayStream.follow(buffer, { from: 1 }))))
      assert.deepStrictEqual(error, new ReplayBufferError.OffsetEvicted({ requested: 1, oldest: 4 }))

      const gaps = yield* Ref.make<Array<ReplayStream.Gap>>([])
      const before = yield* Metric.value(streamGaps)
      const out = yield* collect(
        ReplayStream.follow(buffer, {
          from: 1,
          onEvicted: "clamp",
          onGap: (gap) => Ref.update(gaps, (g) => [...g, gap])
        })
      )
      assert.strictEqual(out, "efgh")
      assert.deepStrictEqual(yield* Ref.get(gaps), [{ _tag: "Gap", requested: 1, oldest: 4 }])
      assert.strictEqual((yield* Metric.value(streamGaps)).count - before.count, 1)

      const frames = Chunk.toReadonlyArray(
        yield* Stream.runCollect(ReplayStream.frames(buffer, { from: 0, onEvicted: "clamp" }))
      )
      assert.deepStrictEqual(frames[0], { _tag: "Gap", requested: 0, oldest: 4 })
      assert.deepStrictEqual(frames.slice(1).map((f) => f._tag === "Data" ? [f.offset, text([f.bytes])] : f), [[
        4,
        "efgh"
      ]])
    }))

  it.effect("a follower that falls behind eviction while following gets the policy", () =>
    Effect.gen(function*() {
      const buffer = yield* ReplayBuffer.make({ capacity: 4 })
      // Pull one element, then stall while the writer laps the follower.
      const failing = yield* Stream.toPull(ReplayStream.follow(buffer, { from: 0 }))
      const clamping = yield* Stream.toPull(ReplayStream.frames(buffer, { from: 0, onEvicted: "clamp" }))
      yield* buffer.write(bytes("ab"))
      assert.strictEqual(text(yield* failing), "ab")
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* clamping).map((f) => f._tag), ["Data"])
      yield* buffer.write(bytes("cdefgh")) // oldest is now 4; both followers are at 2
      const error = yield* Effect.flip(failing)
      assert.deepStrictEqual(error, Option.some(new ReplayBufferError.OffsetEvicted({ requested: 2, oldest: 4 })))
      const next = Chunk.toReadonlyArray(yield* clamping)
      assert.deepStrictEqual(next[0], { _tag: "Gap", requested: 2, oldest: 4 })
    }).pipe(Effect.scoped))

  it.effect("replay hands out views of the buffer's storage, not copies", () =>
    Effect.gen(function*() {
      const buffer = yield* ReplayBuffer.make({ capacity: 1 << 20 })
      yield* buffer.writeAll(Array.from({ length: 256 }, (_, i) => new Uint8Array(4096).fill(i)))
      yield* buffer.end
      const chunks = Chunk.toReadonlyArray(yield* Stream.runCollect(ReplayStream.follow(buffer)))
      const views = yield* buffer.readChunks(0)
      assert.strictEqual(chunks.length, views.chunks.length)
      chunks.forEach((chunk, i) => {
        assert.strictEqual(chunk.buffer, views.chunks[i].buffer) // the same storage
        assert.strictEqual(chunk.byteOffset, views.chunks[i].byteOffset)
      })
      assert.strictEqual(chunks.reduce((n, c) => n + c.length, 0), 1 << 20)
    }))

  it.effect("frames carry contiguous offsets", () =>
    Effect.gen(function*() {
      const buffer = yield* ReplayBuffer.make({ capacity: 100_000 })
      yield* buffer.write(new Uint8Array(70_000).fill(1))
      const follower = yield* Effect.fork(Stream.runCollect(ReplayStream.frames(buffer, { maxChunkBytes: 30_000 })))
      yield* Effect.yieldNow()
      yield* buffer.write(new Uint8Array(10).fill(2))
      yield* buffer.end
      let next = 0
      for (const frame of yield* Fiber.join(follower)) {
        assert.strictEqual(frame._tag, "Data")
        if (frame._tag === "Data") {
          assert.strictEqual(frame.offset, next)
          assert.isAtMost(frame.bytes.length, 30_000)
          next += frame.bytes.length
        }
      }
      assert.strictEqual(next, 70_010)
    }))

  it.effect("metrics: active followers and lag", () =>
    Effect.gen(function*() {
      const buffer = yield* ReplayBuffer.make({ capacity: 64 })
      const active = () => activeFollowers
      const before = yield* active()
      const lagBefore = yield* Metric.value(ReplayMetrics.followerLag)
      yield* buffer.write(bytes("0123456789"))
      const followers = yield* Effect.forEach(
        [1, 2, 3],
        () => Effect.fork(Stream.runDrain(ReplayStream.follow(buffer)))
      )
      yield* awaitStarted(before, 3)
      assert.strictEqual((yield* active()) - before, 3)
      yield* Fiber.interrupt(followers[0])
      assert.strictEqual((yield* active()) - before, 2)
      yield* buffer.end
      yield* Effect.forEach(followers.slice(1), Fiber.join)
      assert.strictEqual((yield* active()) - before, 0)
      const lag = yield* Metric.value(ReplayMetrics.followerLag)
      assert.isAbove(lag.count, lagBefore.count)
      assert.isAtLeast(lag.max, 10) // the first read of each follower was 10 bytes behind
    }))
})
