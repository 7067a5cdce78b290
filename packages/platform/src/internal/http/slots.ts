import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** Whether one permit of `semaphore` is free now (the probe never waits). */
const isFree = (semaphore: Effect.Semaphore): Effect.Effect<boolean> =>
  Effect.map(semaphore.withPermitsIfAvailable(1)(Effect.void), Option.isSome)

/** The per-buffer semaphore and the two effects a connection to that buffer runs, made once per buffer. */
interface BufferSlots {
  /** Takes a permit of both semaphores, or of neither: which one refused, or `undefined`. */
  readonly take: Effect.Effect<"server" | "buffer" | undefined>
  readonly release: Effect.Effect<void>
}

/**
 * Connection slots: the permits of an Effect `Semaphore` for the server and
 * one per buffer (kept beside the buffer, so it goes away with it). A
 * connection takes one of each, or neither, and never waits: the probes
 * (`withPermitsIfAvailable`) and the takes run in one synchronous run, so no
 * other fiber can take the last permit in between. One run to take, one to
 * release (each is a fiber: a connection pays two, not one per operation).
 *
 * @internal
 */
export class Slots {
  private readonly server: Effect.Semaphore
  private readonly buffers = new WeakMap<ReplayBuffer.ReplayBuffer, BufferSlots>()

  constructor(maxConnections: number, private readonly maxPerBuffer: number) {
    this.server = Effect.unsafeMakeSemaphore(maxConnections)
  }

  private slotsOf(buffer: ReplayBuffer.ReplayBuffer): BufferSlots {
    let slots = this.buffers.get(buffer)
    if (slots === undefined) {
      const server = this.server
      const perBuffer = Effect.unsafeMakeSemaphore(this.maxPerBuffer)
      slots = {
        take: Effect.flatMap(isFree(server), (serverFree) =>
          !serverFree
            ? Effect.succeed("server" as const)
            : Effect.flatMap(isFree(perBuffer), (bufferFree) =>
              !bufferFree
                ? Effect.succeed("buffer" as const)
                : Effect.as(Effect.zipRight(server.take(1), perBuffer.take(1)), undefined))),
        release: Effect.zipRight(perBuffer.release(1), server.release(1))
      }
      this.buffers.set(buffer, slots)
    }
    return slots
  }

  /**
   * Takes a slot for a connection to `buffer`: the release (idempotent), or
   * which limit refused it.
   */
  unsafeTake(buffer: ReplayBuffer.ReplayBuffer): (() => void) | "server" | "buffer" {
    const slots = this.slotsOf(buffer)
    const refused = Effect.runSync(slots.take)
    if (refused !== undefined) return refused
    let released = false
    return () => {
      if (released) return
      released = true
      Effect.runSync(slots.release)
    }
  }
}
