import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer, ReplayBufferError } from "@scrollback/core"
import { ReplayPtyError, TerminalKeyframes, TerminalKeyframesError } from "@scrollback/terminal"
import type { Terminal } from "@xterm/headless"
import { Chunk, Effect, Option, Stream } from "effect"
import { assertSame, keyframeOf, replicaOf, writeLog } from "./keyframes.js"
import { makeLog, random } from "./output.js"
import { Feeder, makeTerminal, writeString } from "./terminals.js"

const makeBuffer = (capacity: number) => Effect.orDie(ReplayBuffer.make({ capacity }))

/** What a client does with terminal frames: the terminal it ends with, and the gaps it was told about. */
const applyFrames = (frames: Iterable<TerminalKeyframes.TerminalFrame>) =>
  Effect.gen(function*() {
    let term: Terminal | undefined
    let feeder: Feeder | undefined
    const gaps: Array<{ readonly requested: number; readonly oldest: number }> = []
    let expected: number | undefined
    for (const frame of frames) {
      switch (frame._tag) {
        case "Snapshot": {
          term?.dispose()
          term = makeTerminal(frame.cols, frame.rows, 1000)
          yield* Effect.promise(() => writeString(term!, frame.snapshot))
          feeder = new Feeder(term)
          expected = frame.offset
          break
        }
        case "Resize": {
          if (term === undefined) {
            term = makeTerminal(frame.cols, frame.rows, 1000)
            feeder = new Feeder(term)
          } else {
            feeder!.resize(frame.cols, frame.rows)
          }
          if (expected !== undefined) assert.strictEqual(frame.offset, expected, "a resize applies where the bytes are")
          break
        }
        case "Data": {
          assert.isDefined(feeder, "data after a snapshot or a size")
          if (expected !== undefined) assert.strictEqual(frame.offset, expected, "the bytes are contiguous")
          yield* Effect.promise(() => feeder!.push(frame.bytes))
          expected = frame.offset + frame.bytes.length
          break
        }
        case "Gap": {
          gaps.push({ requested: frame.requested, oldest: frame.oldest })
          expected = frame.oldest
          break
        }
      }
    }
    return { term: term!, gaps }
  })

describe("TerminalKeyframes", () => {
  describe("follow", () => {
    it.effect("a new client at an evicted offset gets a Snapshot, then the bytes after it: the reference screen", () =>
      Effect.gen(function*() {
        const cols = 70
        const rows = 20
        const log = makeLog(11, 300 * 1024, { cols, rows, fullScreen: true })
        const buffer = yield* makeBuffer(16 * 1024)
        const keyframes = yield* TerminalKeyframes.make(buffer, { cols, rows, scrollback: 200 })
        const reference = makeTerminal(cols, rows, 1000)
        const resizes = [{ offset: 100_000, cols: 90, rows: 30 }, { offset: 250_000, cols: 80, rows: 24 }]
        yield* writeLog(buffer, keyframes, log, {
          next: random(12),
          maxPiece: 3000,
          reference: new Feeder(reference),
          resizes
        })
        yield* buffer.end
        const frames = yield* Stream.runCollect(TerminalKeyframes.follow(keyframes, { from: 0 }))
        const first = Chunk.unsafeHead(frames)
        assert.strictEqual(first._tag, "Snapshot")
        const { gaps, term } = yield* applyFrames(frames)
        assert.deepStrictEqual(gaps, [])
        assertSame(reference, term, 200, "a client that started at offset 0")
      }).pipe(Effect.scoped))

    it.effect("size changes come as Resize frames at their offsets, for a client following from the start", () =>
      Effect.gen(function*() {
        const cols = 60
        const rows = 20
        const log = makeLog(21, 120 * 1024, { cols, rows, fullScreen: false })
        const buffer = yield* makeBuffer(256 * 1024)
        const keyframes = yield* TerminalKeyframes.make(buffer, { cols, rows })
        const follower = yield* TerminalKeyframes.follow(keyframes, { from: 0 }).pipe(Stream.runCollect, Effect.fork)
        const reference = makeTerminal(cols, rows, 1000)
        const resizes = [{ offset: 10_000, cols: 100, rows: 30 }, { offset: 10_000, cols: 40, rows: 10 }, {
          offset: 77_777,
          cols: 81,
          rows: 25
        }]
        yield* writeLog(buffer, keyframes, log, {
          next: random(22),
          maxPiece: 2000,
          reference: new Feeder(reference),
          resizes
        })
        yield* buffer.end
        const frames = Chunk.toReadonlyArray(yield* follower)
        assert.deepStrictEqual(frames[0], { _tag: "Resize", offset: 0, cols, rows })
        const sizes = frames.filter((frame) => frame._tag === "Resize").slice(1)
        assert.deepStrictEqual(sizes, resizes.map((change) => ({ _tag: "Resize", ...change })))
        const { gaps, term } = yield* applyFrames(frames)
        assert.deepStrictEqual(gaps, [])
        assertSame(reference, term, 1000, "a client that followed from the start")
      }).pipe(Effect.scoped))

    it.effect("a follower that falls behind eviction resumes from a keyframe, not a gap", () =>
      Effect.gen(function*() {
        const cols = 80
        const rows = 24
        const log = makeLog(31, 400 * 1024, { cols, rows, fullScreen: true })
        const buffer = yield* makeBuffer(16 * 1024)
        const keyframes = yield* TerminalKeyframes.make(buffer, { cols, rows, scrollback: 100 })
        const reference = makeTerminal(cols, rows, 1000)
        const feeder = new Feeder(reference)
        // The client reads the first part, then stalls while 300 KiB more are written.
        yield* writeLog(buffer, keyframes, log.subarray(0, 50 * 1024), {
          next: random(32),
          maxPiece: 3000,
          reference: feeder
        })
        const pull = yield* Stream.toPull(TerminalKeyframes.follow(keyframes, { from: 0, maxChunkBytes: 4096 }))
        const before = Chunk.toReadonlyArray(yield* pull)
        yield* writeLog(buffer, keyframes, log.subarray(50 * 1024), {
          next: random(33),
          maxPiece: 3000,
          reference: feeder
        })
        yield* buffer.end
        const after: Array<TerminalKeyframes.TerminalFrame> = []
        for (;;) {
          const chunk = yield* Effect.either(pull)
          if (chunk._tag === "Left") {
            assert.isTrue(Option.isNone(chunk.left), "the stream ends without an error")
            break
          }
          after.push(...chunk.right)
        }
        const snapshots = after.filter((frame) => frame._tag === "Snapshot")
        assert.isAtLeast(snapshots.length, 1, "resynchronised from a keyframe")
        assert.deepStrictEqual(after.filter((frame) => frame._tag === "Gap"), [])
        const { gaps, term } = yield* applyFrames([...before, ...after])
        assert.deepStrictEqual(gaps, [])
        assertSame(reference, term, 100, "a client that fell behind")
      }).pipe(Effect.scoped))
  })

  describe("falling behind", () => {
    it.effect("a visible gap, no keyframe until a full reset; after it, exact again", () =>
      Effect.gen(function*() {
        const cols = 80
        const rows = 24
        const buffer = yield* makeBuffer(16 * 1024)
        const keyframes = yield* TerminalKeyframes.make(buffer, { cols, rows, scrollback: 200 })
        const reference = makeTerminal(cols, rows, 1000)
        const feeder = new Feeder(reference)
        // One write far larger than the buffer: the writer never waits, the engine cannot keep up.
        const burst = makeLog(41, 100 * 1024, { cols, rows, fullScreen: true })
        yield* buffer.write(burst)
        yield* Effect.promise(() => feeder.push(burst))
        yield* keyframes.awaitPosition(yield* buffer.total)
        const behind = yield* keyframes.stats
        assert.isAtLeast(behind.gaps, 1)
        assert.isFalse(behind.trusted)
        assert.strictEqual(behind.keyframes, 0)
        const oldest = yield* buffer.oldest
        const resume = yield* keyframes.keyframeFor(0)
        assert.deepStrictEqual(resume, { _tag: "Gap", requested: 0, oldest, size: { cols, rows }, resizes: [] })
        const frames = yield* TerminalKeyframes.follow(keyframes, { from: 0 }).pipe(Stream.take(2), Stream.runCollect)
        assert.deepStrictEqual(Chunk.toReadonlyArray(frames), [{ _tag: "Gap", requested: 0, oldest }, {
          _tag: "Resize",
          offset: oldest,
          cols,
          rows
        }])

        // More output: still untrusted without a reset.
        yield* writeLog(buffer, keyframes, makeLog(42, 40 * 1024, { cols, rows, fullScreen: false }), {
          next: random(43),
          maxPiece: 2000,
          reference: feeder
        })
        assert.isFalse((yield* keyframes.stats).trusted)
        assert.strictEqual((yield* keyframes.keyframeFor(0))._tag, "Gap")

        // `reset` prints ESC c: from there the engine's terminal is exact again.
        const after = new Uint8Array([
          ...new TextEncoder().encode("\x1bc"),
          ...makeLog(44, 60 * 1024, { cols, rows, fullScreen: true })
        ])
        yield* writeLog(buffer, keyframes, after, { next: random(45), maxPiece: 2000, reference: feeder })
        const stats = yield* keyframes.stats
        assert.isTrue(stats.trusted)
        assert.strictEqual(stats.resets, 1)
        const keyframe = keyframeOf(yield* keyframes.keyframeFor(0))
        const replica = yield* replicaOf(buffer, keyframe, [])
        assertSame(reference, replica, keyframe.scrollbackLines, "after the reset")
      }).pipe(Effect.scoped))
  })

  describe("bounds and errors", () => {
    it.effect("options out of bounds fail InvalidKeyframesOptions; sizes InvalidPtySize; offsets InvalidOffset", () =>
      Effect.gen(function*() {
        const buffer = yield* makeBuffer(64 * 1024)
        const bad: Array<[TerminalKeyframes.Options, string]> = [
          [{ scrollback: -1 }, "scrollback"],
          [{ scrollback: 1.5 }, "scrollback"],
          [{ scrollback: 100_001 }, "scrollback"],
          [{ interval: 0 }, "interval"],
          [{ maxKeyframes: 0 }, "maxKeyframes"],
          [{ maxKeyframeBytes: NaN }, "maxKeyframeBytes"],
          [{ maxSizeChanges: 0 }, "maxSizeChanges"],
          [{ maxChunkBytes: 0 }, "maxChunkBytes"]
        ]
        for (const [options, name] of bad) {
          const error = yield* Effect.flip(TerminalKeyframes.make(buffer, options))
          assert.instanceOf(error, TerminalKeyframesError.InvalidKeyframesOptions)
          assert.strictEqual((error as TerminalKeyframesError.InvalidKeyframesOptions).name, name)
          assert.include(error.message, name)
        }
        for (const options of [{ cols: 0 }, { rows: 1.5 }, { cols: 100_000 }]) {
          assert.instanceOf(yield* Effect.flip(TerminalKeyframes.make(buffer, options)), ReplayPtyError.InvalidPtySize)
        }
        const keyframes = yield* TerminalKeyframes.make(buffer)
        for (const [cols, rows] of [[0, 10], [10, -1], [1.5, 10], [10, NaN], [5000, 10]]) {
          assert.instanceOf(yield* Effect.flip(keyframes.resize(cols, rows)), ReplayPtyError.InvalidPtySize)
        }
        assert.instanceOf(yield* Effect.flip(keyframes.keyframeFor(NaN)), ReplayBufferError.InvalidOffset)
        const follow = yield* Effect.flip(Stream.runDrain(TerminalKeyframes.follow(keyframes, { from: 0.5 })))
        assert.instanceOf(follow, ReplayBufferError.InvalidOffset)
        assert.deepStrictEqual((yield* keyframes.stats).size, { cols: 80, rows: 24 })
      }).pipe(Effect.scoped))

    it.effect("maxKeyframes and maxKeyframeBytes bound what is held", () =>
      Effect.gen(function*() {
        const cols = 80
        const rows = 24
        const log = makeLog(51, 200 * 1024, { cols, rows, fullScreen: false })
        for (
          const [options, check] of [
            [{ maxKeyframes: 2, interval: 4096 }, (s: TerminalKeyframes.Stats) => s.keyframes <= 2 && s.taken > 2],
            [{ maxKeyframeBytes: 100 }, (s: TerminalKeyframes.Stats) => s.keyframes === 0 && s.rejected > 0]
          ] as const
        ) {
          const buffer = yield* makeBuffer(64 * 1024)
          const keyframes = yield* TerminalKeyframes.make(buffer, { cols, rows, ...options })
          let max = 0
          yield* writeLog(buffer, keyframes, log, {
            next: random(52),
            maxPiece: 3000,
            reference: new Feeder(makeTerminal(cols, rows)),
            every: 16 * 1024,
            checkpoint: () =>
              Effect.map(keyframes.stats, (stats) => {
                max = Math.max(max, stats.keyframes)
                assert.isAtMost(
                  stats.keyframeBytes,
                  options.maxKeyframeBytes ?? TerminalKeyframes.DEFAULT_MAX_KEYFRAME_BYTES
                )
              })
          })
          const stats = yield* keyframes.stats
          assert.isTrue(check(stats), JSON.stringify(stats))
          assert.isAtMost(max, options.maxKeyframes ?? TerminalKeyframes.DEFAULT_MAX_KEYFRAMES)
        }
      }).pipe(Effect.scoped))

    it.effect("the scope's end stops the engine", () =>
      Effect.gen(function*() {
        const buffer = yield* makeBuffer(64 * 1024)
        const keyframes = yield* TerminalKeyframes.make(buffer).pipe(Effect.scoped)
        yield* buffer.write(new TextEncoder().encode("hello\r\n"))
        assert.isTrue((yield* keyframes.stats).stopped)
        // A waiter on a stopped engine does not hang.
        yield* keyframes.awaitPosition(1_000_000)
      }))
  })
})
