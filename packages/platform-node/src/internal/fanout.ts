/**
 * The fan-out writer: per buffer and wire format, one hub that reads each newly
 * written range once, encodes it once, and writes that same encoded buffer to
 * every connection that is caught up. A connection that is behind (a new one
 * replaying, or one whose socket stopped draining) reads through a cursor of
 * its own until it catches up, then joins the hub again. No fiber and no
 * Stream per connection: a caught-up connection is a small record in a set.
 *
 * Writers never wait for any of it: the hub's wake-up only schedules a tick
 * (a microtask), so the fan-out runs after the writer's step.
 *
 * @internal
 */
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as Metrics from "@scrollback/core/ReplayMetrics"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"

/** How one wire format encodes what a cursor yields. */
export interface Format {
  /** The `transport` tag of its metrics. */
  readonly transport: "sse" | "ws"
  /** One message for a data step (the bytes `[step.offset, step.next)`). */
  readonly data: (epoch: string, step: ReplayCursor.Data) => Uint8Array
  /**
   * The same message as a string, when the format has one: what a member reading alone (a replay catching up)
   * writes, since Node encodes a string straight into the socket's write request (one copy, no array per step).
   * The hub's live path always writes `data`: one array, encoded once, for every caught-up member.
   */
  readonly text?: ((epoch: string, step: ReplayCursor.Data) => ReadonlyArray<string>) | undefined
  readonly gap: (epoch: string, gap: ReplayCursor.Gap) => Uint8Array | string
}

/** Where one connection's messages go. */
export interface Outlet {
  /**
   * Writes a message; `false` when the connection's send buffer is full: write no more until `onDrain`. (A data
   * step the format gives as several strings is written whole: the step, at most `maxChunkBytes`, is the unit.)
   */
  readonly write: (message: Uint8Array | string) => boolean
  /** Calls `resume` once, when the send buffer drained (or never, if the connection closes first). */
  readonly onDrain: (resume: () => void) => void
  /** The stream is done at `position`: the end message and close, or a close for an eviction under "fail". */
  readonly finish: (exit: Exit.Exit<void, OffsetEvicted | ProducerFailed>, position: number) => void
  /**
   * The connection fell behind eviction (keyframes): the outlet may send what replaces the gap (a snapshot) and
   * return the offset to continue from; `undefined` for the gap message.
   */
  readonly resync?: ((gap: ReplayCursor.Gap) => number | undefined) | undefined
  /** A gap is about to be written (for the connection's span). */
  readonly gap: (gap: ReplayCursor.Gap) => void
}

/** A connection served by the fan-out. */
export class Member {
  /** The offset of the next byte this connection needs. */
  position: number
  /** Its own cursor while it is behind; `undefined` while it is in its hub's set. */
  cursor: ReplayCursor.ReplayCursor | undefined
  closed = false
  constructor(
    readonly hub: Hub,
    readonly outlet: Outlet,
    readonly onEvicted: ReplayCursor.OnEvicted,
    cursor: ReplayCursor.ReplayCursor
  ) {
    this.cursor = cursor
    this.position = cursor.position
    // Counted from attach to close or finish (the `closed` flag makes the stop happen once).
    Metrics.unsafeFollowerStarted(hub.buffer, hub.format.transport)
  }

  /** The connection went away: it leaves its hub and is never written to again. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.cursor = undefined
    this.hub.leave(this)
    Metrics.unsafeFollowerStopped(this.hub.buffer, this.hub.format.transport)
  }

  /** The stream is done at `position`: the outlet sends its end, and the member leaves its hub. */
  finish(exit: Exit.Exit<void, OffsetEvicted | ProducerFailed>, position: number): void {
    if (this.closed) return
    this.closed = true
    this.cursor = undefined
    this.hub.leave(this)
    Metrics.unsafeFollowerStopped(this.hub.buffer, this.hub.format.transport)
    this.outlet.finish(exit, position)
  }

  /**
   * Reads through its own cursor, writing every step, until it is caught up
   * (then it joins its hub), its send buffer is full (then it resumes on
   * drain), or the stream is done.
   */
  pump(): void {
    const hub = this.hub
    const epoch = hub.buffer.epoch
    for (;;) {
      if (this.closed) return
      const cursor = this.cursor
      if (cursor === undefined) return
      const step = ReplayCursor.unsafeNext(cursor)
      switch (step._tag) {
        case "Data": {
          this.position = step.next
          Metrics.unsafeLag(step.total - step.offset)
          if (!this.writeData(epoch, step)) return this.outlet.onDrain(() => this.pump())
          break
        }
        case "Gap": {
          const at = this.outlet.resync?.(step)
          if (at !== undefined) {
            // A snapshot replaced the gap: continue from its offset with a cursor of its own.
            this.cursor = undefined
            return this.resume(at)
          }
          this.position = step.oldest
          Metrics.unsafeGap(hub.format.transport)
          this.outlet.gap(step)
          if (!this.outlet.write(hub.format.gap(epoch, step))) return this.outlet.onDrain(() => this.pump())
          break
        }
        case "Done":
          return this.finish(step.exit, cursor.position)
        case "Pending":
          return hub.offer(this)
      }
    }
  }

  /**
   * Writes one data step: the format's strings when it has them (every one of them: the step was read), else its
   * one array. `false` when the connection's send buffer is full.
   */
  private writeData(epoch: string, step: ReplayCursor.Data): boolean {
    const format = this.hub.format
    if (format.text === undefined) return this.outlet.write(format.data(epoch, step))
    let ok = true
    for (const text of format.text(epoch, step)) ok = this.outlet.write(text) && ok
    return ok
  }

  /** Left its hub at `position`: continues with a cursor of its own from there. */
  resume(position: number): void {
    if (this.closed) return
    const made = Effect.runSync(Effect.either(ReplayCursor.make(this.hub.buffer, {
      from: { epoch: this.hub.buffer.epoch, offset: position },
      onEvicted: this.onEvicted,
      maxChunkBytes: this.hub.maxChunkBytes
    })))
    if (Either.isLeft(made)) {
      // Evicted under "fail" while it was not reading: finished like a cursor that fell behind.
      const error = made.left
      return this.finish(error._tag === "OffsetEvicted" ? Exit.fail(error) : Exit.die(error), position)
    }
    this.cursor = made.right
    this.pump()
  }
}

/**
 * One buffer's fan-out for one format. Its own cursor stands at the live
 * edge; each tick reads what was written since, encodes it once and writes it
 * to every member. It lives while it has members.
 */
export class Hub {
  /** Every member attached and not finished: the hub lives while there is one. */
  private readonly all = new Set<Member>()
  /** The caught-up members: the hub writes to them. */
  readonly members = new Set<Member>()
  /** Caught-up members waiting for the hub to reach their position. */
  private readonly joining = new Set<Member>()
  private cursor: ReplayCursor.ReplayCursor
  private scheduled = false
  private cancelWake: (() => void) | undefined = undefined
  private done: ReplayCursor.Done | undefined = undefined

  constructor(
    readonly buffer: ReplayBuffer.ReplayBuffer,
    readonly format: Format,
    /** The most bytes one message carries (the step of every cursor of this hub). */
    readonly maxChunkBytes: number,
    private readonly onEmpty: (hub: Hub) => void
  ) {
    this.cursor = Effect.runSync(
      Effect.orDie(ReplayCursor.make(buffer, { from: "live", onEvicted: "clamp", maxChunkBytes }))
    )
  }

  /**
   * A connection from a cursor of its own (replaying from its start): it
   * joins once caught up. A cursor with another step is made again at its
   * position (nothing was read from it yet), so every message is at most
   * `maxChunkBytes`.
   */
  attach(outlet: Outlet, cursor: ReplayCursor.ReplayCursor): Member {
    const member = new Member(this, outlet, cursor.onEvicted, cursor)
    this.all.add(member)
    if (cursor.maxChunkBytes === this.maxChunkBytes) member.pump()
    else member.resume(cursor.position)
    return member
  }

  /** A caught-up member: joins now if the hub stands at its position, or once the hub gets there. */
  offer(member: Member): void {
    if (member.closed) return
    if (this.done !== undefined && member.position === this.cursor.position) {
      return member.finish(this.done.exit, member.position)
    }
    if (!this.scheduled && member.position === this.cursor.position) {
      member.cursor = undefined
      this.members.add(member)
    } else {
      this.joining.add(member)
    }
    this.arm()
  }

  leave(member: Member): void {
    this.all.delete(member)
    this.members.delete(member)
    this.joining.delete(member)
    if (this.all.size === 0) this.dispose()
  }

  private arm(): void {
    if (this.scheduled || this.cancelWake !== undefined || this.done !== undefined) return
    const cancel = ReplayCursor.unsafeAwait(this.cursor, this.wake)
    // `unsafeAwait` calls `wake` at once when a byte is already there: the tick is scheduled and there is nothing
    // to cancel. Keeping the stale canceller would make every later `arm` think the hub is armed: it would
    // never wake again.
    if (!this.scheduled) this.cancelWake = cancel
  }

  /** The buffer's wake-up (inside the writer's step): only schedules a tick. */
  private readonly wake = (): void => {
    this.cancelWake = undefined
    if (this.scheduled) return
    this.scheduled = true
    queueMicrotask(this.tick)
  }

  private readonly tick = (): void => {
    this.scheduled = false
    const epoch = this.buffer.epoch
    for (;;) {
      const step = ReplayCursor.unsafeNext(this.cursor)
      if (step._tag === "Pending") break
      if (step._tag === "Data") {
        // One lag observation per shared read, whatever the number of members it serves.
        Metrics.unsafeLag(step.total - step.offset)
        const message = this.format.data(epoch, step)
        for (const member of this.members) {
          member.position = step.next
          if (!member.outlet.write(message)) {
            // Its socket stopped draining: it leaves the set and catches up on its own once it drains.
            this.members.delete(member)
            member.outlet.onDrain(() => member.resume(step.next))
          }
        }
        continue
      }
      if (step._tag === "Gap") {
        // The hub itself fell behind eviction (a burst larger than the capacity between two ticks): every
        // member continues on its own from where it stood, and meets the gap under its own policy.
        const position = step.requested
        const detached = Array.from(this.members)
        this.members.clear()
        for (const member of detached) member.resume(position)
        continue
      }
      this.done = step
      for (const member of Array.from(this.members)) member.finish(step.exit, this.cursor.position)
      break
    }
    // Members that caught up meanwhile: those at the hub's position join; those behind read on by themselves.
    if (this.joining.size > 0) {
      const joining = Array.from(this.joining)
      this.joining.clear()
      for (const member of joining) {
        if (member.closed) continue
        if (member.position === this.cursor.position) {
          if (this.done !== undefined) {
            member.finish(this.done.exit, member.position)
          } else {
            member.cursor = undefined
            this.members.add(member)
          }
        } else {
          member.pump()
        }
      }
    }
    if (this.all.size > 0) this.arm()
  }

  private dispose(): void {
    this.cancelWake?.()
    this.cancelWake = undefined
    this.onEmpty(this)
  }

  /** Every member attached (for shutdown and keep-alives). */
  get attached(): ReadonlySet<Member> {
    return this.all
  }
}

/** The hubs of one format, one per buffer held by a connection. */
export class Hubs {
  private readonly hubs = new Map<ReplayBuffer.ReplayBuffer, Hub>()
  constructor(
    private readonly format: Format,
    /** The most bytes one message carries. Default `ReplayCursor.DEFAULT_MAX_CHUNK_BYTES`. */
    private readonly maxChunkBytes: number = ReplayCursor.DEFAULT_MAX_CHUNK_BYTES
  ) {}

  attach(buffer: ReplayBuffer.ReplayBuffer, outlet: Outlet, cursor: ReplayCursor.ReplayCursor): Member {
    let hub = this.hubs.get(buffer)
    if (hub === undefined) {
      hub = new Hub(buffer, this.format, this.maxChunkBytes, (empty) => {
        if (this.hubs.get(buffer) === empty) this.hubs.delete(buffer)
      })
      this.hubs.set(buffer, hub)
    }
    return hub.attach(outlet, cursor)
  }

  get size(): number {
    return this.hubs.size
  }
}
