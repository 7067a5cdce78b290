/** Helpers shared by the platform tests. */
import { assert } from "@effect/vitest"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import { Clients } from "@scrollback/http-test-kit"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

/** Joins byte arrays into one (the kit's `Clients.concat`). */
export const concat: (chunks: Iterable<Uint8Array>) => Uint8Array = Clients.concat

/** Waits (on the buffer's wake-up signal, not by polling) until `total >= n` or the buffer ended. */
export const awaitTotal = (buffer: ReplayBuffer.ReplayBuffer, n: number): Effect.Effect<void> => {
  // An empty read past the end is a consistent snapshot of `total` and the end.
  const state = Effect.orDie(buffer.readChunks(Number.MAX_SAFE_INTEGER, { maxBytes: 1 }))
  return Effect.flatMap(state, function loop(snapshot): Effect.Effect<void> {
    if (snapshot.total >= n || Option.isSome(snapshot.ended)) return Effect.void
    return Effect.zipRight(buffer.awaitData(snapshot.total), Effect.flatMap(state, loop))
  })
}

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
