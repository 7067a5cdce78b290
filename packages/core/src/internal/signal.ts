/**
 * A wake-up signal for fibers waiting on new bytes.
 *
 * Each waiter costs one callback in a Set (O(1) to add, O(1) to remove on
 * interruption); `notify` resumes every current waiter once and is O(1) when
 * nobody waits, so the write path pays a single size check.
 *
 * @internal
 */
import * as Effect from "effect/Effect"

/** @internal */
export class Signal {
  private waiters = new Set<() => void>()

  /** How many fibers are parked on the signal right now. */
  get size(): number {
    return this.waiters.size
  }

  /**
   * Completes at once when `ready()` holds, otherwise parks the calling fiber
   * until a `notify` finds `ready()` true. The check and the registration run
   * in one synchronous step, so a notification cannot fall between them.
   */
  waitUntil(ready: () => boolean): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (ready()) {
        resume(Effect.void)
        return
      }
      const wake = () => {
        if (ready()) {
          this.waiters.delete(wake)
          resume(Effect.void)
        }
      }
      this.waiters.add(wake)
      return Effect.sync(() => {
        this.waiters.delete(wake)
      })
    })
  }

  /** Wakes every waiter whose condition now holds; the others stay parked. */
  notify(): void {
    if (this.waiters.size === 0) return
    for (const wake of this.waiters) wake()
  }
}
