/** Helpers for the keyframe tests: writing a log into a buffer beside a reference terminal, rebuilding one from a keyframe. */
import { assert } from "@effect/vitest"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type * as ReplayBufferError from "@scrollback/core/ReplayBufferError"
import type * as TerminalKeyframes from "@scrollback/terminal/TerminalKeyframes"
import type { Terminal } from "@xterm/headless"
import * as Effect from "effect/Effect"
import { differences, Feeder, makeTerminal, screenText, writeString } from "./terminals.js"

export interface SizeChange {
  readonly offset: number
  readonly cols: number
  readonly rows: number
}

/**
 * Writes `log` into the buffer in pieces of random size (1..maxPiece), and into the reference terminal;
 * resizes both (and the engine) at the given offsets. The test's producer is slower than the parser: it
 * waits while the engine is more than half a capacity behind. The library never makes a writer wait.
 */
export const writeLog = (
  buffer: ReplayBuffer.ReplayBuffer,
  keyframes: TerminalKeyframes.TerminalKeyframes,
  log: Uint8Array,
  options: {
    readonly next: () => number
    readonly maxPiece: number
    readonly reference: Feeder
    readonly resizes?: ReadonlyArray<SizeChange>
    readonly every?: number
    readonly checkpoint?: (total: number) => Effect.Effect<void, ReplayBufferError.InvalidOffset>
  }
) =>
  Effect.gen(function*() {
    const resizes = [...(options.resizes ?? [])].sort((a, b) => a.offset - b.offset)
    const start = yield* buffer.total
    let at = 0
    // The reference is fed in larger pieces (the bytes are the same): a write into xterm costs a timer tick.
    let fed = 0
    const feedReference = Effect.suspend(() => {
      const piece = log.subarray(fed, at)
      fed = at
      return Effect.promise(() => options.reference.push(piece))
    })
    let nextCheckpoint = options.every ?? Infinity
    while (at < log.length) {
      while (resizes.length > 0 && resizes[0].offset <= start + at) {
        const change = resizes.shift()!
        yield* feedReference
        yield* keyframes.resize(change.cols, change.rows)
        options.reference.resize(change.cols, change.rows)
      }
      let end = Math.min(log.length, at + 1 + Math.floor(options.next() * options.maxPiece))
      if (resizes.length > 0) end = Math.min(end, Math.max(at + 1, resizes[0].offset - start))
      // Never more than half a capacity ahead of the engine, this write included.
      const before = yield* buffer.total
      const { position } = yield* keyframes.stats
      const room = Math.max(0, buffer.capacity / 2 - (end - at))
      if (before - position > room) yield* keyframes.awaitPosition(before - room)
      yield* buffer.write(log.subarray(at, end))
      at = end
      const total = yield* buffer.total
      if (options.checkpoint !== undefined && at >= nextCheckpoint) {
        nextCheckpoint += options.every!
        yield* feedReference
        yield* keyframes.awaitPosition(total)
        yield* options.checkpoint(total)
      }
    }
    yield* feedReference
    yield* keyframes.awaitPosition(yield* buffer.total)
  })

/** A terminal rebuilt from a keyframe: the snapshot, then the retained bytes after it, with the size changes. */
export const replicaOf = (
  buffer: ReplayBuffer.ReplayBuffer,
  keyframe: TerminalKeyframes.Keyframe,
  resizes: ReadonlyArray<TerminalKeyframes.SizeChange>,
  scrollback = 1000
) =>
  Effect.gen(function*() {
    const term = makeTerminal(keyframe.cols, keyframe.rows, scrollback)
    yield* Effect.promise(() => writeString(term, keyframe.snapshot))
    const { bytes, offset } = yield* Effect.orDie(buffer.readFrom(keyframe.offset))
    assert.strictEqual(offset, keyframe.offset, "the bytes after the keyframe are retained")
    const feeder = new Feeder(term)
    let at = offset
    for (const change of resizes) {
      if (change.offset <= keyframe.offset) continue
      yield* Effect.promise(() => feeder.push(bytes.subarray(at - offset, change.offset - offset)))
      feeder.resize(change.cols, change.rows)
      at = change.offset
    }
    yield* Effect.promise(() => feeder.push(bytes.subarray(at - offset)))
    return term
  })

export const assertSame = (reference: Terminal, replica: Terminal, scrollbackLines: number, what: string) => {
  const found = differences(reference, replica, scrollbackLines)
  assert.deepStrictEqual(
    found,
    [],
    `${what}\n--- reference\n${screenText(reference)}\n--- replica\n${screenText(replica)}`
  )
}

export const keyframeOf = (resume: TerminalKeyframes.Resume): TerminalKeyframes.Keyframe => {
  if (resume._tag !== "Keyframe") return assert.fail(`expected a keyframe, got ${JSON.stringify(resume)}`)
  return resume.keyframe
}
