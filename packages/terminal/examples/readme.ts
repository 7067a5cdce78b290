/**
 * The examples of the README, type-checked with the package (`pnpm check`). Run one with
 * `pnpm --filter @scrollback/terminal exec tsx examples/readme.ts`.
 */
import { ReplayBuffer } from "@scrollback/core"
import { ReplayStream } from "@scrollback/platform"
import { ReplayPty, TerminalKeyframes } from "@scrollback/terminal"
import { Console, Effect, Stream } from "effect"

// --- A command in a pseudo-terminal, its output in a buffer, input typed into it.
export const shell = Effect.gen(function*() {
  const buffer = yield* ReplayBuffer.make({ capacity: 1024 * 1024 })
  const pty = yield* ReplayPty.run(buffer, "sh", ["-c", "read name; echo \"hello $name\"; tput cols"], {
    cols: 100,
    rows: 30
  })
  yield* pty.write("world\r")
  // Followers read the buffer: from any offset, while it runs and after it ended.
  const output = yield* ReplayStream.follow(buffer, { from: 0 }).pipe(
    Stream.decodeText(),
    Stream.mkString,
    Effect.catchTag("ProducerFailed", (error) => Effect.succeed(`failed: ${error.message}`))
  )
  yield* Console.log(output) // "world\r\nhello world\r\n100\r\n"
  yield* Console.log(yield* pty.exit) // { exitCode: 0, signal: undefined }
}).pipe(Effect.scoped)

// --- Keyframes: a client that starts at an evicted offset gets the screen instead of a gap.
export const keyframes = Effect.gen(function*() {
  const buffer = yield* ReplayBuffer.make({ capacity: 64 * 1024 })
  // Start the engine with the buffer, before anything is evicted.
  const engine = yield* TerminalKeyframes.make(buffer, { cols: 100, rows: 30 })
  const pty = yield* ReplayPty.run(buffer, "top", ["-d", "0.5"], { cols: 100, rows: 30 })

  // The user resizes the browser window: resize the PTY and tell the engine, together.
  yield* pty.resize(120, 40)
  yield* engine.resize(120, 40)

  // A client asking for the start of the log:
  const resume = yield* engine.keyframeFor(0)
  switch (resume._tag) {
    case "Keyframe":
      // reset the terminal, resize it to resume.keyframe.cols x rows, write resume.keyframe.snapshot,
      // then the bytes from resume.keyframe.offset (applying resume.resizes at their offsets)
      break
    case "Replay":
      // the bytes from resume.offset are still retained
      break
    case "Gap":
      // no keyframe (the engine fell behind and has not seen a reset since): today's gap
      break
  }
}).pipe(Effect.scoped)

// --- The terminal-aware follower, for transports.
export const transport = (engine: TerminalKeyframes.TerminalKeyframes) =>
  TerminalKeyframes.follow(engine, { from: 0 }).pipe(
    Stream.runForEach((frame) => {
      switch (frame._tag) {
        case "Snapshot":
          return Console.log(
            `reset, ${frame.cols}x${frame.rows}, ${frame.snapshot.length} characters, bytes from ${frame.offset}`
          )
        case "Resize":
          return Console.log(`resize to ${frame.cols}x${frame.rows} before byte ${frame.offset}`)
        case "Data":
          return Console.log(`${frame.bytes.length} bytes at ${frame.offset}`)
        case "Gap":
          return Console.log(`bytes ${frame.requested}..${frame.oldest} are gone`)
      }
    })
  )

if (process.argv[1]?.endsWith("readme.ts")) Effect.runPromise(shell)
