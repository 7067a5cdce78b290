/** Helpers shared by the terminal tests. */
import { assert } from "@effect/vitest"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayStream from "@scrollback/platform/ReplayStream"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"

/** Follows the buffer from 0 until its text matches `pattern`; returns that text. Dies if the buffer ends first. */
export const waitForText = (buffer: ReplayBuffer.ReplayBuffer, pattern: RegExp): Effect.Effect<string> =>
  ReplayStream.follow(buffer, { from: 0 }).pipe(
    Stream.catchAll(() => Stream.empty),
    Stream.decodeText(),
    Stream.scan("", (text, piece) => text + piece),
    Stream.takeUntil((text) => pattern.test(text)),
    Stream.runLast,
    Effect.map(Option.getOrElse(() => "")),
    Effect.flatMap((text) =>
      pattern.test(text)
        ? Effect.succeed(text)
        : Effect.dieMessage(`the buffer ended before ${pattern}: ${JSON.stringify(text)}`)
    )
  )

/** Everything the buffer retains, as text. */
export const contents = (buffer: ReplayBuffer.ReplayBuffer): Effect.Effect<string> =>
  Effect.map(Effect.orDie(buffer.readFrom(0)), (read) => new TextDecoder().decode(read.bytes))

/** How the buffer ended; dies if it has not. */
export const endedWith = (buffer: ReplayBuffer.ReplayBuffer) =>
  Effect.flatMap(buffer.ended, (ended) =>
    Option.match(ended, {
      onNone: () => Effect.dieMessage("the buffer has not ended"),
      onSome: Effect.succeed
    }))

/** The `ProducerFailed` an exit failed with; fails the test otherwise. */
export const producerFailure = (exit: Exit.Exit<unknown, unknown>): ProducerFailed => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
  const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
  assert.instanceOf(failure, ProducerFailed)
  return failure as ProducerFailed
}

/** Whether a process with this pid exists (a zombie counts as gone). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    assert.strictEqual((error as NodeJS.ErrnoException).code, "ESRCH")
    return false
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z"
  } catch {
    return false
  }
}

/** The pids of the live (not zombie) processes in a process group, from `/proc` (Linux). */
export const groupMembers = (pgid: number): Array<number> => {
  const pids: Array<number> = []
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
    } catch {
      continue
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (Number(pgrp) === pgid && state !== "Z") pids.push(Number(entry))
  }
  return pids
}
