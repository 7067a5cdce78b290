/**
 * The typed errors of `@scrollback/core`. Each is a `Schema.TaggedError`, so
 * it can cross the wire (SSE, WebSocket, RPC) and be decoded on the other side.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * The requested capacity is not a positive safe integer.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCapacity extends Schema.TaggedError<InvalidCapacity>("@scrollback/core/InvalidCapacity")(
  "InvalidCapacity",
  { capacity: Schema.Unknown }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `capacity must be a positive safe integer number of bytes, got ${String(this.capacity)}`
  }
}

/**
 * The offset is not an integer (`NaN`, `±Infinity` or a fraction).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOffset extends Schema.TaggedError<InvalidOffset>("@scrollback/core/InvalidOffset")(
  "InvalidOffset",
  { offset: Schema.Unknown }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `offset must be an integer byte offset, got ${String(this.offset)}`
  }
}

/**
 * A write reached a buffer that has already ended.
 *
 * @since 0.1.0
 * @category errors
 */
export class BufferClosed extends Schema.TaggedError<BufferClosed>("@scrollback/core/BufferClosed")(
  "BufferClosed",
  { total: Schema.Number }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the buffer has ended at offset ${this.total}; it accepts no more writes`
  }
}

/**
 * A write would take `total` past `Number.MAX_SAFE_INTEGER` (2^53 − 1), where
 * offsets stop being exact. Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class OffsetOverflow extends Schema.TaggedError<OffsetOverflow>("@scrollback/core/OffsetOverflow")(
  "OffsetOverflow",
  { total: Schema.Number, length: Schema.Number }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `writing ${this.length} bytes at offset ${this.total} would pass 2^53 - 1; nothing was written`
  }
}

/**
 * The requested offset was evicted: the oldest byte still retained is at
 * `oldest`. Raised by followers whose eviction policy is `"fail"`.
 *
 * @since 0.1.0
 * @category errors
 */
export class OffsetEvicted extends Schema.TaggedError<OffsetEvicted>("@scrollback/core/OffsetEvicted")(
  "OffsetEvicted",
  { requested: Schema.Number, oldest: Schema.Number }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `offset ${this.requested} was evicted; the oldest retained offset is ${this.oldest}`
  }
}

/**
 * The producer ended the buffer with a failure (for a process: a non-zero exit
 * code or a signal). Followers that drain the buffer fail with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProducerFailed extends Schema.TaggedError<ProducerFailed>("@scrollback/core/ProducerFailed")(
  "ProducerFailed",
  {
    reason: Schema.String,
    exitCode: Schema.optional(Schema.Number)
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return this.exitCode === undefined
      ? `the producer failed: ${this.reason}`
      : `the producer failed with exit code ${this.exitCode}: ${this.reason}`
  }
}

/**
 * Every error `@scrollback/core` can raise.
 *
 * @since 0.1.0
 * @category models
 */
export type ReplayBufferError =
  | InvalidCapacity
  | InvalidOffset
  | BufferClosed
  | OffsetOverflow
  | OffsetEvicted
  | ProducerFailed

/**
 * The schema of every error `@scrollback/core` can raise, for transports that
 * encode them.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReplayBufferError: Schema.Union<[
  typeof InvalidCapacity,
  typeof InvalidOffset,
  typeof BufferClosed,
  typeof OffsetOverflow,
  typeof OffsetEvicted,
  typeof ProducerFailed
]> = Schema.Union(InvalidCapacity, InvalidOffset, BufferClosed, OffsetOverflow, OffsetEvicted, ProducerFailed)

const tags = new Set([
  "InvalidCapacity",
  "InvalidOffset",
  "BufferClosed",
  "OffsetOverflow",
  "OffsetEvicted",
  "ProducerFailed"
])

/**
 * @since 0.1.0
 * @category guards
 */
export const isReplayBufferError = (u: unknown): u is ReplayBufferError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && tags.has(u._tag) && u instanceof Error
