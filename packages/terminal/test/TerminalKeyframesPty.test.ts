import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer } from "@scrollback/core"
import { ReplaySink, ReplayStream } from "@scrollback/platform"
import { ReplayPty, TerminalKeyframes } from "@scrollback/terminal"
import { Effect, Schedule } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assertSame, keyframeOf, replicaOf } from "./keyframes.js"
import { feed, makeTerminal } from "./terminals.js"

/**
 * The program writes into a large buffer that keeps every byte (the reference log); a follower copies it
 * into the small buffer the engine follows, where it is evicted. The copy is the same bytes in the same
 * order, at its own pace.
 */
const mirrored = (capacity: number) =>
  Effect.gen(function*() {
    const log = yield* Effect.orDie(ReplayBuffer.make({ capacity: 16 * 1024 * 1024 }))
    const small = yield* Effect.orDie(ReplayBuffer.make({ capacity }))
    yield* ReplayStream.follow(log, { from: 0, onEvicted: "fail" }).pipe(
      ReplaySink.write(small),
      Effect.ignore,
      Effect.forkScoped
    )
    const bytes = Effect.map(Effect.orDie(log.readFrom(0)), (read) => read.bytes)
    /** Polls (every 20 ms, up to 30 s) until the output so far satisfies `done`. */
    const waitFor = (done: (text: string) => boolean) =>
      Effect.map(bytes, (b) => new TextDecoder().decode(b)).pipe(
        Effect.repeat({ until: done, schedule: Schedule.spaced("20 millis") }),
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("waited for the output") }),
        Effect.orDie
      )
    /** Waits until the copy has every byte of the log. */
    const copied = Effect.zipWith(log.total, small.total, (a, b) => a === b).pipe(
      Effect.repeat({ until: (same) => same, schedule: Schedule.spaced("20 millis") }),
      Effect.timeout("30 seconds"),
      Effect.orDie
    )
    return { log, small, bytes, waitFor, copied }
  })

const count = (text: string, needle: string) => text.split(needle).length - 1

describe("TerminalKeyframes with real programs in a PTY", () => {
  it.scopedLive(
    "less draws a coloured file on the alternate screen: a client at an evicted offset sees that screen",
    () =>
      Effect.gen(function*() {
        const cols = 80
        const rows = 24
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-keyframes-"))
        const file = path.join(dir, "colours.txt")
        const lines: Array<string> = []
        for (let i = 0; i < 300; i++) {
          lines.push(
            `\x1b[3${i % 8};1mline ${i}\x1b[0m \x1b[38;5;${16 + i % 200}m漢字 ✓ naïve\x1b[0m ${"·".repeat(i % 50)}`
          )
        }
        fs.writeFileSync(file, lines.join("\n") + "\n")
        const { bytes, copied, log, small: buffer, waitFor } = yield* mirrored(8 * 1024)
        const keyframes = yield* TerminalKeyframes.make(buffer, { cols, rows, scrollback: 500 })
        // Some ordinary coloured output first (more than the buffer holds), then less.
        const pty = yield* Effect.orDie(ReplayPty.run(log, "sh", [
          "-c",
          `i=0; while [ $i -lt 300 ]; do printf '\\033[1;3%dmbuild step %d\\033[0m ok\\n' $((i % 8)) $i; i=$((i+1)); done; ` +
          `exec less -R -Ps'PAGE-END' '${file}'`
        ], { cols, rows, env: { PATH: process.env.PATH, LESS: "", LESSCHARSET: "utf-8", HOME: dir } }))
        yield* waitFor((text) => count(text, "PAGE-END") >= 1)
        yield* pty.write(" ")
        yield* waitFor((text) => count(text, "PAGE-END") >= 2)
        yield* pty.write(" ")
        yield* waitFor((text) => count(text, "PAGE-END") >= 3)
        // less waits for a key now: nothing more is written.
        yield* copied
        yield* keyframes.awaitPosition(yield* buffer.total)
        assert.isAbove(yield* buffer.oldest, 0, "the start was evicted")
        const reference = makeTerminal(cols, rows, 1000)
        const all = yield* bytes
        assert.strictEqual(all.length, yield* buffer.total)
        yield* Effect.promise(() => feed(reference, all))
        assert.strictEqual(reference.buffer.active.type, "alternate")
        const keyframe = keyframeOf(yield* keyframes.keyframeFor(0))
        const replica = yield* replicaOf(buffer, keyframe, [])
        assertSame(reference, replica, keyframe.scrollbackLines, "less")
        yield* pty.write("q")
        assert.deepStrictEqual(yield* pty.exit, { exitCode: 0, signal: undefined })
        fs.rmSync(dir, { recursive: true })
      }),
    60_000
  )

  it.scopedLive(
    "top redraws until it quits: a client at an evicted offset sees the screen it left",
    () =>
      Effect.gen(function*() {
        const cols = 100
        const rows = 30
        const { bytes, copied, log, small: buffer } = yield* mirrored(8 * 1024)
        const keyframes = yield* TerminalKeyframes.make(buffer, { cols, rows, scrollback: 500 })
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-keyframes-"))
        const pty = yield* Effect.orDie(ReplayPty.run(log, "sh", [
          "-c",
          "echo before top; top -d 0.1 -n 25; echo after top"
        ], { cols, rows, env: { PATH: process.env.PATH, HOME: dir } }))
        assert.strictEqual((yield* pty.exit).exitCode, 0)
        yield* copied
        yield* keyframes.awaitPosition(yield* buffer.total)
        assert.isAbove(yield* buffer.oldest, 0, "top wrote more than the buffer holds")
        const all = yield* bytes
        assert.include(new TextDecoder().decode(all), "after top")
        const reference = makeTerminal(cols, rows, 1000)
        yield* Effect.promise(() => feed(reference, all))
        const keyframe = keyframeOf(yield* keyframes.keyframeFor(0))
        const replica = yield* replicaOf(buffer, keyframe, [])
        assertSame(reference, replica, keyframe.scrollbackLines, "after top")
        fs.rmSync(dir, { recursive: true })
      }),
    60_000
  )
})
