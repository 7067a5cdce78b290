import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"

/** The permits of one limit: how many are taken. */
interface Count {
  taken: number
}

/**
 * Connection slots: a count for the server and one per buffer (kept beside
 * the buffer, so it goes away with it). A connection takes one of each, or
 * neither. Plain counters: a take never waits (it is refused when a limit
 * is reached) and JavaScript runs it in one synchronous step, so no other
 * taker can come in between the check and the take; an Effect `Semaphore`
 * cost several fibers per connection for the same thing.
 *
 * @internal
 */
export class Slots {
  private readonly server: Count = { taken: 0 }
  private readonly buffers = new WeakMap<ReplayBuffer.ReplayBuffer, Count>()

  constructor(private readonly maxConnections: number, private readonly maxPerBuffer: number) {}

  /**
   * Takes a slot for a connection to `buffer`: the release (idempotent), or
   * which limit refused it.
   */
  unsafeTake(buffer: ReplayBuffer.ReplayBuffer): (() => void) | "server" | "buffer" {
    let perBuffer = this.buffers.get(buffer)
    if (perBuffer === undefined) {
      perBuffer = { taken: 0 }
      this.buffers.set(buffer, perBuffer)
    }
    const server = this.server
    if (server.taken >= this.maxConnections) return "server"
    if (perBuffer.taken >= this.maxPerBuffer) return "buffer"
    server.taken++
    perBuffer.taken++
    const buffers = perBuffer
    let released = false
    return () => {
      if (released) return
      released = true
      buffers.taken--
      server.taken--
    }
  }
}
