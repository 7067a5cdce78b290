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
 * The engine could not reach its log of record (for example, a Redis engine
 * whose server is down or answered too late): nothing is known to have been
 * written or ended, and the operation may be retried. The in-memory engine
 * never raises it.
 *
 * @since 0.1.0
 * @category errors
 */
export class StorageUnavailable extends Schema.TaggedError<StorageUnavailable>("@scrollback/core/StorageUnavailable")(
  "StorageUnavailable",
  { reason: Schema.String, cause: Schema.optional(Schema.Defect) }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the storage is unavailable: ${this.reason}`
  }
}

/**
 * Another producer holds the buffer's writer lease: taking the lease failed,
 * or a write that does not go through the lease was refused. Nothing was
 * written.
 *
 * @since 0.1.0
 * @category errors
 */
export class WriterBusy extends Schema.TaggedError<WriterBusy>("@scrollback/core/WriterBusy")(
  "WriterBusy",
  { epoch: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `another producer holds the writer lease of buffer ${this.epoch}`
  }
}

/**
 * A writer was used after its lease ended: its scope closed (`"released"`),
 * or another producer took the buffer over (`"fenced"`, remote engines), or
 * it could not be refreshed in time (`"expired"`, remote engines). Nothing
 * was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>("@scrollback/core/LeaseLost")(
  "LeaseLost",
  { reason: Schema.Literal("released", "fenced", "expired") }
) {
  /** @since 0.1.0 */
  override get message(): string {
    switch (this.reason) {
      case "released":
        return "the writer's lease was released: it can no longer write or end the buffer"
      case "fenced":
        return "another producer took the buffer over: this writer is fenced off"
      case "expired":
        return "the writer's lease expired before it was refreshed"
    }
  }
}

/**
 * A resume position belongs to another incarnation of the buffer: its epoch
 * is `expected`, the buffer's is `actual`. Splicing the two logs would be
 * wrong, so the read is refused.
 *
 * @since 0.1.0
 * @category errors
 */
export class EpochMismatch extends Schema.TaggedError<EpochMismatch>("@scrollback/core/EpochMismatch")(
  "EpochMismatch",
  { expected: Schema.String, actual: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the position belongs to epoch ${this.expected}, but the buffer is epoch ${this.actual}`
  }
}

/**
 * A resume position of this buffer's epoch points past its `total`: the
 * reader saw bytes this buffer does not have (it lost data, or the position
 * was forged). Refused, never clamped: clamping would deliver some bytes
 * twice.
 *
 * @since 0.1.0
 * @category errors
 */
export class OffsetAhead extends Schema.TaggedError<OffsetAhead>("@scrollback/core/OffsetAhead")(
  "OffsetAhead",
  { requested: Schema.Number, total: Schema.Number }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the position ${this.requested} is past the buffer's total ${this.total}: it was never written here`
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
  | StorageUnavailable
  | WriterBusy
  | LeaseLost
  | EpochMismatch
  | OffsetAhead

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
  typeof ProducerFailed,
  typeof StorageUnavailable,
  typeof WriterBusy,
  typeof LeaseLost,
  typeof EpochMismatch,
  typeof OffsetAhead
]> = Schema.Union(
  InvalidCapacity,
  InvalidOffset,
  BufferClosed,
  OffsetOverflow,
  OffsetEvicted,
  ProducerFailed,
  StorageUnavailable,
  WriterBusy,
  LeaseLost,
  EpochMismatch,
  OffsetAhead
)

const tags = new Set([
  "InvalidCapacity",
  "InvalidOffset",
  "BufferClosed",
  "OffsetOverflow",
  "OffsetEvicted",
  "ProducerFailed",
  "StorageUnavailable",
  "WriterBusy",
  "LeaseLost",
  "EpochMismatch",
  "OffsetAhead"
])

/**
 * @since 0.1.0
 * @category guards
 */
export const isReplayBufferError = (u: unknown): u is ReplayBufferError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && tags.has(u._tag) && u instanceof Error
