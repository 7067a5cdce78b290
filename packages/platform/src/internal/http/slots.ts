import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * Takes one permit of `semaphore` if one is free now, without waiting: the
 * probe (`withPermitsIfAvailable`) and the take run in one synchronous step
 * (each completes synchronously when a permit is free), so no other fiber can
 * take the last permit in between and a refused caller never waits.
 */
const unsafeTryTake = (semaphore: Effect.Semaphore): boolean => {
  if (Option.isNone(Effect.runSync(semaphore.withPermitsIfAvailable(1)(Effect.void)))) return false
  Effect.runSync(semaphore.take(1))
  return true
}

/**
 * Connection slots: the permits of an Effect `Semaphore` for the server and
 * one per buffer (kept beside the buffer, so it goes away with it). A
 * connection takes one of each, or neither.
 *
 * @internal
 */
export class Slots {
  private readonly server: Effect.Semaphore
  private readonly buffers = new WeakMap<ReplayBuffer.ReplayBuffer, Effect.Semaphore>()

  constructor(maxConnections: number, private readonly maxPerBuffer: number) {
    this.server = Effect.unsafeMakeSemaphore(maxConnections)
  }

  /**
   * Takes a slot for a connection to `buffer`: the release (idempotent), or
   * which limit refused it.
   */
  unsafeTake(buffer: ReplayBuffer.ReplayBuffer): (() => void) | "server" | "buffer" {
    let perBuffer = this.buffers.get(buffer)
    if (perBuffer === undefined) {
      perBuffer = Effect.unsafeMakeSemaphore(this.maxPerBuffer)
      this.buffers.set(buffer, perBuffer)
    }
    if (!unsafeTryTake(this.server)) return "server"
    if (!unsafeTryTake(perBuffer)) {
      Effect.runSync(this.server.release(1))
      return "buffer"
    }
    const buffers = perBuffer
    let released = false
    return () => {
      if (released) return
      released = true
      Effect.runSync(buffers.release(1))
      Effect.runSync(this.server.release(1))
    }
  }
}
