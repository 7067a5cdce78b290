/**
 * The one place where a follower's rules live: a cursor resolves where a
 * reader starts (an offset, `"oldest"`, `"live"` or a resume position with
 * an epoch), clamps it, applies the eviction policy, reads the next
 * zero-copy views in one synchronous step, signals gaps and reports the end.
 * `ReplayStream.follow`, every HTTP transport and the fan-out writer are
 * built on it, so none of them re-derives a rule.
 *
 * | `from`                        | start                                    | refused with                         |
 * |-------------------------------|------------------------------------------|--------------------------------------|
 * | `"oldest"` (default)          | `oldest`                                 |                                      |
 * | `"live"`                      | `total`                                  |                                      |
 * | an integer `n`                | `n` clamped into `[0, total]` (the seed) | `InvalidOffset` for `NaN`, fractions |
 * | `{ epoch, offset }`           | `offset`                                 | `EpochMismatch` (another epoch), `OffsetAhead` (`offset > total`), `InvalidOffset` |
 *
 * With the `epoch` option, any start is refused with `EpochMismatch` when
 * the buffer is another incarnation.
 *
 * A start below `oldest` was evicted: under `onEvicted: "fail"` (the
 * default) `make` fails with `OffsetEvicted`; under `"clamp"` the first step
 * is a `Gap` and reading continues at `oldest`. The same holds whenever a
 * cursor falls behind eviction later: `"fail"` finishes it with
 * `OffsetEvicted`, `"clamp"` yields a `Gap`. Never a silent skip.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type { Pipeable } from "effect/Pipeable"
import * as internal from "./internal/cursor.js"
import type * as ReplayBuffer from "./ReplayBuffer.js"
import type { EpochMismatch, InvalidOffset, OffsetAhead, OffsetEvicted, ProducerFailed } from "./ReplayBufferError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The default bound on the bytes one step returns: 256 KiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_CHUNK_BYTES: number = internal.DEFAULT_MAX_CHUNK_BYTES

/**
 * A resume position: the offset of the next byte a reader needs, in the
 * incarnation of the buffer named by `epoch` (what an SSE id
 * `EPOCH:OFFSET` carries).
 *
 * @since 0.1.0
 * @category models
 */
export interface Position {
  readonly epoch: string
  readonly offset: number
}

/**
 * Where a cursor starts.
 *
 * @since 0.1.0
 * @category models
 */
export type From = number | "oldest" | "live" | Position

/**
 * What a cursor does when the next byte it needs was evicted: `"fail"` with
 * `OffsetEvicted`, or `"clamp"`: continue at `oldest` after a `Gap` step.
 *
 * @since 0.1.0
 * @category models
 */
export type OnEvicted = "clamp" | "fail"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default `"oldest"`. */
  readonly from?: From | undefined
  /** Default `"fail"`: a cursor never skips bytes silently unless asked to. */
  readonly onEvicted?: OnEvicted | undefined
  /**
   * The epoch the reader expects, whatever `from` is (for example with
   * `"oldest"`): another epoch fails with `EpochMismatch`. A `Position` in
   * `from` carries its own.
   */
  readonly epoch?: string | undefined
  /** The most bytes one step returns: a positive safe integer. Default {@link DEFAULT_MAX_CHUNK_BYTES}. */
  readonly maxChunkBytes?: number | undefined
}

/**
 * Bytes from `offset` to `next`, as zero-copy views of the buffer's storage
 * (they never change; treat them as read-only). `total` is the buffer's
 * total when they were read.
 *
 * @since 0.1.0
 * @category models
 */
export interface Data {
  readonly _tag: "Data"
  readonly offset: number
  readonly next: number
  readonly chunks: ReadonlyArray<Uint8Array>
  readonly total: number
}

/**
 * The bytes `[requested, oldest)` were evicted before this cursor read them;
 * it continues at `oldest` (`onEvicted: "clamp"` only).
 *
 * @since 0.1.0
 * @category models
 */
export interface Gap {
  readonly _tag: "Gap"
  readonly requested: number
  readonly oldest: number
}

/**
 * The cursor is finished: the buffer ended and every byte was read
 * (`exit` is the buffer's end: success, or the producer's `ProducerFailed`),
 * or, under `onEvicted: "fail"`, the next byte was evicted (`OffsetEvicted`).
 * Every later step returns it again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Done {
  readonly _tag: "Done"
  readonly exit: Exit.Exit<void, OffsetEvicted | ProducerFailed>
}

/**
 * Caught up with a buffer that has not ended: wait (see {@link unsafeAwait}
 * or {@link next}) and step again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pending {
  readonly _tag: "Pending"
}

/**
 * @since 0.1.0
 * @category models
 */
export type Step = Data | Gap | Done | Pending

/**
 * A step that is not {@link Pending}: what {@link next} returns.
 *
 * @since 0.1.0
 * @category models
 */
export type Ready = Data | Gap | Done

/**
 * Why a cursor cannot start.
 *
 * @since 0.1.0
 * @category models
 */
export type StartError = InvalidOffset | OffsetEvicted | EpochMismatch | OffsetAhead

/**
 * A reader's position in a buffer. It holds a few numbers and no data: its
 * steps are views of the buffer's shared storage.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayCursor extends Pipeable {
  readonly [TypeId]: TypeId
  readonly buffer: ReplayBuffer.ReplayBuffer
  /** The resolved start. */
  readonly start: number
  /** The offset of the next byte this cursor will read. */
  readonly position: number
  /** The buffer's `oldest` when the cursor was made (what a hello reports). */
  readonly oldest: number
  /** The buffer's `total` when the cursor was made (what a hello reports). */
  readonly total: number
  readonly onEvicted: OnEvicted
  readonly maxChunkBytes: number
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isReplayCursor: (u: unknown) => u is ReplayCursor = internal.isReplayCursor

/**
 * Makes a cursor: resolves the start, checks it against eviction and takes
 * the `oldest`/`total` snapshot, all in one synchronous step.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayBuffer, ReplayCursor } from "@scrollback/core"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make({ capacity: 4 })
 *   yield* buffer.write(new TextEncoder().encode("abcdef")) // keeps "cdef"
 *   const cursor = yield* ReplayCursor.make(buffer, { from: 0, onEvicted: "clamp" })
 *   const gap = yield* ReplayCursor.next(cursor) // { _tag: "Gap", requested: 0, oldest: 2 }
 *   const data = yield* ReplayCursor.next(cursor) // { _tag: "Data", offset: 2, next: 6, ... }
 *   return [gap, data]
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  buffer: ReplayBuffer.ReplayBuffer,
  options?: Options
) => Effect.Effect<ReplayCursor, StartError> = internal.make

/**
 * One synchronous step: the next views (at most `maxChunkBytes` bytes), a
 * gap, the end, or `Pending` when caught up with a buffer that has not
 * ended. For integrations that drive many cursors without a fiber each; run
 * it inside one step of an effect or a callback.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const unsafeNext: (cursor: ReplayCursor) => Step = internal.unsafeNext

/**
 * Calls `wake` once, when the cursor's next step would not be `Pending` (a
 * byte at its position exists, or the buffer ended) — at once if that
 * already holds — and returns a function that cancels the call. O(1) to
 * register and to cancel.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const unsafeAwait: (cursor: ReplayCursor, wake: () => void) => () => void = internal.unsafeAwait

/**
 * The next step, waiting (on the buffer's wake-up signal, O(1), interruptible)
 * instead of returning `Pending`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const next: (cursor: ReplayCursor) => Effect.Effect<Ready> = internal.next
