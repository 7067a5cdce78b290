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

const noop = () => {}

/** @internal */
export class Signal {
  private waiters = new Set<() => void>()

  /** How many fibers are parked on the signal right now. */
  get size(): number {
    return this.waiters.size
  }

  /**
   * Calls `wake` once, when a `notify` finds `ready()` true — or at once, if it
   * already holds — and returns a function that cancels the registration.
   * The check and the registration run in one synchronous step, so a
   * notification cannot fall between them.
   */
  register(ready: () => boolean, wake: () => void): () => void {
    if (ready()) {
      wake()
      return noop
    }
    const waiter = () => {
      if (ready()) {
        this.waiters.delete(waiter)
        wake()
      }
    }
    this.waiters.add(waiter)
    return () => {
      this.waiters.delete(waiter)
    }
  }

  /** Completes at once when `ready()` holds, otherwise parks the calling fiber until it does. */
  waitUntil(ready: () => boolean): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const cancel = this.register(ready, () => resume(Effect.void))
      return Effect.sync(cancel)
    })
  }

  /** Wakes every waiter whose condition now holds; the others stay parked. */
  notify(): void {
    if (this.waiters.size === 0) return
    for (const wake of this.waiters) wake()
  }
}
