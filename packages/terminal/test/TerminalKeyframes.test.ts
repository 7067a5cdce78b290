import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer, ReplayBufferError } from "@scrollback/core"
import { TerminalKeyframes } from "@scrollback/terminal"
import { Effect, FastCheck } from "effect"
import { assertSame, keyframeOf, replicaOf, writeLog } from "./keyframes.js"
import { makeLog, random } from "./output.js"
import { Feeder, makeTerminal } from "./terminals.js"

const makeBuffer = (capacity: number) => Effect.orDie(ReplayBuffer.make({ capacity }))

const propertySeed: { readonly seed?: number } = process.env["TERMINAL_PROPERTY_SEED"] === "random"
  ? {}
  : { seed: Number(process.env["TERMINAL_PROPERTY_SEED"] ?? 20261202) }

describe("TerminalKeyframes", () => {
  it.scopedLive(
    "16 KiB buffer, 2 MiB of coloured output then a full-screen program: an evicted offset gets the exact screen",
    () =>
      Effect.gen(function*() {
        const cols = 80
        const rows = 24
        const scrollback = 300
        const log = makeLog(1, 2 * 1024 * 1024, { cols, rows, fullScreen: true })
        const buffer = yield* makeBuffer(16 * 1024)
        const keyframes = yield* TerminalKeyframes.make(buffer, { cols, rows, scrollback })
        const reference = makeTerminal(cols, rows, 1000)
        let checkpoints = 0
        yield* writeLog(buffer, keyframes, log, {
          next: random(2),
          maxPiece: 4096,
          reference: new Feeder(reference),
          every: 256 * 1024,
          // Along the way (scrolling output, then the full-screen program): a client asking for offset 0.
          checkpoint: () =>
            Effect.gen(function*() {
              const keyframe = keyframeOf(yield* keyframes.keyframeFor(0))
              const replica = yield* replicaOf(buffer, keyframe, [])
              assertSame(reference, replica, keyframe.scrollbackLines, `checkpoint at ${keyframe.offset}`)
              checkpoints++
            })
        })
        assert.strictEqual(checkpoints, 8)
        const total = yield* buffer.total
        const oldest = yield* buffer.oldest
        assert.strictEqual(total, log.length)
        assert.isAbove(oldest, 2_000_000)
        assert.strictEqual(reference.buffer.active.type, "alternate", "the full-screen program is running")

        // Every keyframe held rebuilds the reference.
        const held = yield* keyframes.keyframes
        assert.isAbove(held.length, 1)
        for (const keyframe of held) {
          assert.isAtLeast(keyframe.offset, oldest)
          assert.strictEqual(keyframe.scrollbackLines, scrollback)
          const replica = yield* replicaOf(buffer, keyframe, [])
          assertSame(reference, replica, keyframe.scrollbackLines, `keyframe at ${keyframe.offset}`)
        }

        // Evicted offsets get the newest keyframe; retained ones replay; past the end is the end.
        const newest = held[held.length - 1]
        for (const requested of [0, 1, 12345, oldest - 1]) {
          assert.deepStrictEqual(keyframeOf(yield* keyframes.keyframeFor(requested)), newest)
        }
        for (
          const [requested, offset] of [[oldest, oldest], [total - 100, total - 100], [total, total], [
            total + 5,
            total
          ]]
        ) {
          const resume = yield* keyframes.keyframeFor(requested)
          assert.strictEqual(resume._tag, "Replay")
          if (resume._tag === "Replay") {
            assert.strictEqual(resume.offset, offset)
            assert.deepStrictEqual(resume.size, { cols, rows })
          }
        }
        const invalid = yield* Effect.flip(keyframes.keyframeFor(1.5))
        assert.instanceOf(invalid, ReplayBufferError.InvalidOffset)
        const stats = yield* keyframes.stats
        assert.strictEqual(stats.gaps, 0)
        assert.isTrue(stats.trusted)
        assert.strictEqual(stats.position, total)
        assert.isAtMost(stats.keyframes, TerminalKeyframes.DEFAULT_MAX_KEYFRAMES)
        reference.dispose()
      }),
    180_000
  )

  it.effect.prop(
    "property: random logs, random splits into writes, random intervals and resizes",
    [
      FastCheck.integer({ min: 1, max: 1_000_000 }),
      FastCheck.integer({ min: 32 * 1024, max: 160 * 1024 }),
      FastCheck.integer({ min: 4, max: 16 }),
      FastCheck.integer({ min: 8, max: 50 }),
      FastCheck.boolean(),
      FastCheck.array(
        FastCheck.tuple(
          FastCheck.double({ min: 0, max: 1, noNaN: true }),
          FastCheck.integer({ min: 20, max: 140 }),
          FastCheck.integer({ min: 5, max: 45 })
        ),
        { maxLength: 4 }
      )
    ],
    ([seed, size, capacityKiB, intervalPercent, fullScreen, resizeSpecs]) =>
      Effect.gen(function*() {
        const cols = 60
        const rows = 20
        const capacity = capacityKiB * 1024
        const interval = Math.max(512, Math.floor((capacity * intervalPercent) / 100))
        const log = makeLog(seed, size, { cols, rows, fullScreen })
        const resizes = resizeSpecs.map(([at, c, r]) => ({ offset: Math.floor(at * log.length), cols: c, rows: r }))
        const buffer = yield* makeBuffer(capacity)
        const keyframes = yield* TerminalKeyframes.make(buffer, { cols, rows, scrollback: 100, interval })
        const reference = makeTerminal(cols, rows, 1000)
        yield* writeLog(buffer, keyframes, log, {
          next: random(seed + 1),
          maxPiece: 1 + (seed % Math.min(3000, capacity / 2)),
          reference: new Feeder(reference),
          resizes
        })
        const oldest = yield* buffer.oldest
        const held = yield* keyframes.keyframes
        for (const keyframe of held) {
          const resume = yield* keyframes.keyframeFor(keyframe.offset)
          const after = resume._tag === "Replay" ? resume.resizes : []
          const replica = yield* replicaOf(buffer, keyframe, after)
          assertSame(reference, replica, keyframe.scrollbackLines, `keyframe at ${keyframe.offset} of ${log.length}`)
          replica.dispose()
        }
        if (oldest > 0) {
          const resume = yield* keyframes.keyframeFor(0)
          assert.strictEqual(resume._tag, "Keyframe", "an evicted offset gets a keyframe")
          if (resume._tag === "Keyframe") {
            const replica = yield* replicaOf(buffer, resume.keyframe, resume.resizes)
            assertSame(reference, replica, resume.keyframe.scrollbackLines, "keyframeFor(0)")
            replica.dispose()
          }
        }
        assert.strictEqual((yield* keyframes.stats).gaps, 0)
        reference.dispose()
      }).pipe(Effect.scoped),
    // A fixed seed in CI (the same 40 cases each run): seed -911035937 (path "18") finds a known limit, a
    // resize that narrows the terminal after a keyframe rewraps the last rows differently from the reference,
    // which holds a longer history (packages/terminal/README.md, Known limits). TERMINAL_PROPERTY_SEED=random
    // explores; TERMINAL_PROPERTY_SEED=N replays seed N.
    { fastCheck: { numRuns: 40, endOnFailure: true, ...propertySeed }, timeout: 300_000 }
  )
})
