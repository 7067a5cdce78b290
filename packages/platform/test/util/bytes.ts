/** Helpers shared by the platform tests. */
import { assert } from "@effect/vitest"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

/** Joins byte arrays into one. */
export const concat = (chunks: Iterable<Uint8Array>): Uint8Array => {
  const list = Array.from(chunks)
  const out = new Uint8Array(list.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const c of list) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/** Waits (on the buffer's wake-up signal, not by polling) until `total >= n` or the buffer ended. */
export const awaitTotal = (buffer: ReplayBuffer.ReplayBuffer, n: number): Effect.Effect<void> =>
  Effect.suspend(function loop(): Effect.Effect<void> {
    const total = buffer.unsafeTotal()
    if (total >= n || Option.isSome(buffer.unsafeEnded())) return Effect.void
    return Effect.flatMap(buffer.awaitData(total), loop)
  })

/** How the buffer ended; throws if it has not. */
export const endedWith = (buffer: ReplayBuffer.ReplayBuffer) =>
  Effect.map(buffer.ended, (ended) => Option.getOrThrowWith(ended, () => new Error("the buffer has not ended")))

/** The `ProducerFailed` an exit failed with; fails the test otherwise. */
export const producerFailure = (exit: Exit.Exit<unknown, unknown>): ProducerFailed => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
  const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
  assert.instanceOf(failure, ProducerFailed)
  return failure as ProducerFailed
}
