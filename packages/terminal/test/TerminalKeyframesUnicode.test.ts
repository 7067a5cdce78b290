/**
 * `unicodeVersion: "11"`: the engine measures characters as a page with `@xterm/addon-unicode11` does
 * (emoji take two cells), and a keyframe rebuilds such a terminal exactly.
 */
import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer } from "@scrollback/core"
import { TerminalKeyframes } from "@scrollback/terminal"
import { Effect } from "effect"
import { newTerminal } from "../src/internal/keyframes.js"
import { assertSame, keyframeOf, writeLog } from "./keyframes.js"
import { makeLog, random } from "./output.js"
import { Feeder, writeString } from "./terminals.js"

describe("TerminalKeyframes unicodeVersion", () => {
  it.effect("\"11\": emoji are two cells wide, and a keyframe rebuilds a Unicode 11 terminal fed the whole log", () =>
    Effect.gen(function*() {
      const cols = 60
      const rows = 16
      const buffer = yield* Effect.orDie(ReplayBuffer.make({ capacity: 16 * 1024 }))
      const keyframes = yield* TerminalKeyframes.make(buffer, { cols, rows, scrollback: 100, unicodeVersion: "11" })
      assert.strictEqual(keyframes.unicodeVersion, "11")
      const reference = newTerminal(cols, rows, 1000, "11")
      yield* writeLog(buffer, keyframes, makeLog(5, 120 * 1024, { cols, rows, fullScreen: true }), {
        next: random(6),
        maxPiece: 2000,
        reference: new Feeder(reference)
      })
      const keyframe = keyframeOf(yield* keyframes.keyframeFor(0))
      const replica = newTerminal(keyframe.cols, keyframe.rows, 1000, "11")
      yield* Effect.promise(() => writeString(replica, keyframe.snapshot))
      const { bytes } = yield* Effect.orDie(buffer.readFrom(keyframe.offset))
      yield* Effect.promise(() => new Feeder(replica).push(bytes))
      assertSame(reference, replica, 100, "a Unicode 11 client from the keyframe")

      // The widths differ from Unicode 6: the option is applied.
      const six = newTerminal(10, 2, 0, "6")
      const eleven = newTerminal(10, 2, 0, "11")
      yield* Effect.promise(() => writeString(six, "🚀x"))
      yield* Effect.promise(() => writeString(eleven, "🚀x"))
      assert.strictEqual(six.buffer.active.cursorX, 2)
      assert.strictEqual(eleven.buffer.active.cursorX, 3)
    }).pipe(Effect.scoped))

  it.effect("an unknown version is refused", () =>
    Effect.gen(function*() {
      const buffer = yield* Effect.orDie(ReplayBuffer.make())
      const error = yield* Effect.flip(TerminalKeyframes.make(buffer, { unicodeVersion: "15" as never }))
      assert.strictEqual(error._tag, "InvalidKeyframesOptions")
    }).pipe(Effect.scoped))
})
