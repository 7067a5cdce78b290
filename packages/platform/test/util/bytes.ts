/** Byte helpers shared by the platform tests. */
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as Effect from "effect/Effect"
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
