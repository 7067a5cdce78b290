/**
 * Replay-then-follow Streams over a `ReplayBuffer`: everything retained from
 * an offset, then live writes, in order, with no gap and no duplicate.
 *
 * @since 0.1.0
 */
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/follow.js"

/**
 * Where a follower starts: an absolute byte offset, `"oldest"` (everything
 * retained), `"live"` (only bytes written from now on), or a resume position
 * `{ epoch, offset }` — the rules of `ReplayCursor`:
 *
 * A numeric offset is read like the seed's `ReadFrom`: below 0 counts as 0,
 * past `total` starts at `total`; below `oldest` it was evicted, and the
 * `onEvicted` policy applies. A resume position of another epoch fails with
 * `EpochMismatch`, one past `total` with `OffsetAhead`.
 *
 * @since 0.1.0
 * @category models
 */
export type From = ReplayCursor.From

/**
 * What a follower does when the next byte it needs was evicted — at the
 * start, or later because it fell behind:
 *
 * - `"fail"`: fail with `OffsetEvicted { requested, oldest }`, so the caller
 *   can resync.
 * - `"clamp"`: the seed's behaviour: continue from `oldest`, and signal the
 *   gap (a `Gap` frame in `frames`, the `onGap` callback in both variants,
 *   and the `scrollback_gaps_total` metric).
 *
 * @since 0.1.0
 * @category models
 */
export type OnEvicted = ReplayCursor.OnEvicted

/**
 * The bytes `[requested, oldest)` were evicted before this follower read
 * them; it continues at `oldest`.
 *
 * @since 0.1.0
 * @category models
 */
export type Gap = ReplayCursor.Gap

/**
 * Why a follower fails: it cannot start (`InvalidOffset`, `OffsetEvicted`,
 * `EpochMismatch`, `OffsetAhead`), it fell behind eviction under `"fail"`
 * (`OffsetEvicted`), or the producer failed (`ProducerFailed`).
 *
 * @since 0.1.0
 * @category models
 */
export type FollowError = ReplayCursor.StartError | ProducerFailed

/**
 * Bytes at an absolute offset.
 *
 * @since 0.1.0
 * @category models
 */
export interface Data {
  readonly _tag: "Data"
  /** The offset of `bytes[0]`; the next frame starts at `offset + bytes.length`. */
  readonly offset: number
  /** A view of shared storage: it never changes, and must not be mutated. */
  readonly bytes: Uint8Array
}

/**
 * @since 0.1.0
 * @category models
 */
export type Frame = Data | Gap

/**
 * @since 0.1.0
 * @category models
 */
export interface FollowOptions {
  /** Default `"oldest"`. */
  readonly from?: From | undefined
  /** Default `"fail"`: a follower never skips bytes silently unless asked to. */
  readonly onEvicted?: OnEvicted | undefined
  /** Runs on each gap under `"clamp"`, before the bytes after the gap are emitted. */
  readonly onGap?: ((gap: Gap) => Effect.Effect<void>) | undefined
  /** The most bytes one pull reads. Default {@link DEFAULT_MAX_CHUNK_BYTES}. */
  readonly maxChunkBytes?: number | undefined
}

/**
 * The default bound on the bytes a follower reads in one pull: 256 KiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_CHUNK_BYTES: number = internal.DEFAULT_MAX_CHUNK_BYTES

/**
 * Follows a buffer: replays what is retained from `from`, then emits live
 * writes. The stream ends when the buffer ends (after every byte has been
 * emitted) and fails with the producer's `ProducerFailed` when the buffer was
 * failed. A follower that starts after the end replays and ends.
 *
 * Emitted arrays are zero-copy views of the buffer's storage: they never
 * change, and must not be mutated. The writer never waits for a follower.
 *
 * @example
 * ```ts
 * import { ReplayBuffer } from "@scrollback/core"
 * import { ReplayStream } from "@scrollback/platform"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make()
 *   yield* buffer.write(new TextEncoder().encode("hello "))
 *   const follower = yield* ReplayStream.follow(buffer, { from: 0 }).pipe(
 *     Stream.decodeText(),
 *     Stream.mkString,
 *     Effect.fork
 *   )
 *   yield* buffer.write(new TextEncoder().encode("world"))
 *   yield* buffer.end
 *   return yield* follower // "hello world"
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const follow: (
  buffer: ReplayBuffer.ReplayBuffer,
  options?: FollowOptions
) => Stream.Stream<Uint8Array, FollowError> = internal.follow

/**
 * Like {@link follow}, but emits frames that carry their offset, and a `Gap`
 * frame where bytes were evicted under `"clamp"`: what transports need for
 * SSE ids and WebSocket frame headers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const frames: (
  buffer: ReplayBuffer.ReplayBuffer,
  options?: FollowOptions
) => Stream.Stream<Frame, FollowError> = internal.frames
