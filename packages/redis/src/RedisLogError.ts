/**
 * The typed errors of `@scrollback/redis`.
 *
 * `StorageUnavailable`, `WriterBusy` and `LeaseLost` are core's
 * (`@scrollback/core/ReplayBufferError`), re-exported here, so a Redis
 * engine's buffers fail exactly as core's contract says.
 *
 * @since 0.1.0
 */
import type { LeaseLost, StorageUnavailable, WriterBusy } from "@scrollback/core/ReplayBufferError"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

export {
  /**
   * The log of record could not be reached: the connection to Redis is down,
   * a command got no reply within the command timeout, or Redis refused the
   * command (out of memory, for instance). A write that fails with it may or
   * may not have been recorded; every instance's tail applies what the log
   * holds. Core's error (`@scrollback/core/ReplayBufferError`), re-exported.
   *
   * @since 0.1.0
   * @category errors
   */
  StorageUnavailable
} from "@scrollback/core/ReplayBufferError"

export {
  /**
   * Another producer holds a live writer lease on this buffer. Core's error,
   * re-exported.
   *
   * @since 0.1.0
   * @category errors
   */
  WriterBusy
} from "@scrollback/core/ReplayBufferError"

export {
  /**
   * A writer used a lease that was taken over by another producer
   * (`"fenced"`) or already released (`"released"`). Nothing was written.
   * Core's error, re-exported.
   *
   * @since 0.1.0
   * @category errors
   */
  LeaseLost
} from "@scrollback/core/ReplayBufferError"

/**
 * `create` found a log under this key already.
 *
 * @since 0.1.0
 * @category errors
 */
export class LogExists extends Schema.TaggedError<LogExists>("@scrollback/redis/LogExists")("LogExists", {
  key: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `a log already exists under the key ${JSON.stringify(this.key)}`
  }
}

/**
 * `open` found no log under this key.
 *
 * @since 0.1.0
 * @category errors
 */
export class LogNotFound extends Schema.TaggedError<LogNotFound>("@scrollback/redis/LogNotFound")("LogNotFound", {
  key: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no log exists under the key ${JSON.stringify(this.key)}`
  }
}

/**
 * The log a handle was opened on is gone: its meta hash vanished (deleted,
 * or Redis restarted without persistence) or carries another epoch (the log
 * was re-created, or a failover lost acknowledged writes). The handle refuses
 * to go on, so two incarnations are never spliced together.
 *
 * @since 0.1.0
 * @category errors
 */
export class LogLost extends Schema.TaggedError<LogLost>("@scrollback/redis/LogLost")("LogLost", {
  key: Schema.String,
  epoch: Schema.String,
  reason: Schema.Literal("missing", "epoch-changed", "total-went-back"),
  /** The epoch found in Redis, when there is one. */
  actualEpoch: Schema.optional(Schema.String)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    switch (this.reason) {
      case "missing":
        return `the log ${JSON.stringify(this.key)} (epoch ${this.epoch}) is gone from Redis`
      case "epoch-changed":
        return `the log ${JSON.stringify(this.key)} changed epoch from ${this.epoch} to ${this.actualEpoch}`
      case "total-went-back":
        return `the log ${JSON.stringify(this.key)} (epoch ${this.epoch}) went back: Redis lost acknowledged bytes`
    }
  }
}

/**
 * A key that cannot name a log: empty, or longer than
 * {@link MAX_KEY_LENGTH} characters.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidKey extends Schema.TaggedError<InvalidKey>("@scrollback/redis/InvalidKey")("InvalidKey", {
  key: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `a log key must be 1 to ${MAX_KEY_LENGTH} characters, got ${JSON.stringify(this.key.slice(0, 64))}${
      this.key.length > 64 ? "…" : ""
    } (${this.key.length} characters)`
  }
}

/**
 * The longest key a log accepts: 1,024 characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_KEY_LENGTH: number = 1024

/**
 * The options given to `RedisStore.make` are not valid.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidStoreOptions
  extends Schema.TaggedError<InvalidStoreOptions>("@scrollback/redis/InvalidStoreOptions")("InvalidStoreOptions", {
    option: Schema.String,
    value: Schema.Unknown
  })
{
  /** @since 0.1.0 */
  override get message(): string {
    return `invalid option ${this.option}: ${String(this.value)}`
  }
}

/**
 * Every error `@scrollback/redis` can raise.
 *
 * @since 0.1.0
 * @category models
 */
export type RedisLogError =
  | StorageUnavailable
  | WriterBusy
  | LeaseLost
  | LogExists
  | LogNotFound
  | LogLost
  | InvalidKey
  | InvalidStoreOptions

const tags = new Set([
  "StorageUnavailable",
  "WriterBusy",
  "LeaseLost",
  "LogExists",
  "LogNotFound",
  "LogLost",
  "InvalidKey",
  "InvalidStoreOptions"
])

/**
 * @since 0.1.0
 * @category guards
 */
export const isRedisLogError = (u: unknown): u is RedisLogError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && tags.has(u._tag) && u instanceof Error
