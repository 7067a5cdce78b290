/**
 * The connections to Redis one server instance shares between all its
 * buffers: one command connection (auto-pipelined) and one subscriber
 * connection (sharded pub/sub), whatever the number of buffers and followers.
 *
 * Commands fail fast while Redis is away (`StorageUnavailable`, never a hang:
 * every command is bounded by the command timeout) and everything resumes
 * when it returns: the connections reconnect by themselves, the subscriber
 * re-subscribes and every tail re-pulls.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Redis, RedisOptions } from "ioredis"
import * as internal from "./internal/store.js"
import type { InvalidStoreOptions, StorageUnavailable } from "./RedisLogError.js"

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
 * Default Redis URL: `redis://127.0.0.1:6379`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_URL: string = internal.DEFAULT_URL

/**
 * Default key prefix: `sb:`. A buffer `k` lives under `sb:{k}:meta`,
 * `sb:{k}:log`, `sb:{k}:tail`, with wake-ups on the channel `sb:{k}:n`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_KEY_PREFIX: string = internal.DEFAULT_KEY_PREFIX

/**
 * Default writer lease: 10 s (10,000 ms), refreshed every third of it.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_LEASE_MS: number = internal.DEFAULT_LEASE_MS

/**
 * Default safety poll of a tail: every 5 s (5,000 ms) it re-reads the log
 * even without a wake-up, so a lost wake-up costs at most this much latency.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SAFETY_POLL_MS: number = internal.DEFAULT_SAFETY_POLL_MS

/**
 * Default command timeout: 5 s (5,000 ms). A command with no reply by then
 * fails with `StorageUnavailable`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_COMMAND_TIMEOUT_MS: number = internal.DEFAULT_COMMAND_TIMEOUT_MS

/**
 * Default bound on the bytes of one group-committed batch: 1 MiB. A single
 * `writeAll` larger than that is still sent whole (it is atomic), alone.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_BATCH_BYTES: number = internal.DEFAULT_MAX_BATCH_BYTES

/**
 * Default bound on the writes waiting for the next batch of one log handle:
 * 1,024. Writers beyond it wait for room (backpressure).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_PENDING_WRITES: number = internal.DEFAULT_MAX_PENDING_WRITES

/**
 * Default number of stream entries one read returns: 32 (at most 2 MiB, as
 * an entry holds at most 64 KiB).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_READ_ENTRIES: number = internal.DEFAULT_READ_ENTRIES

/**
 * Default lifetime of a producer's dedup record (the last batch it wrote,
 * so a re-sent batch is recognised): 60 s. Must be at least the command timeout.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_DEDUP_TTL_MS: number = internal.DEFAULT_DEDUP_TTL_MS

/**
 * Default grace of a removed or expired log: 60 s (60,000 ms). Its keys stay
 * in Redis this long after `remove` (and after its idle time, for a registry),
 * so every instance's tail reads its end before they go. Must be at least the
 * safety poll.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_REMOVE_GRACE_MS: number = internal.DEFAULT_REMOVE_GRACE_MS

/**
 * Default number of append script calls one log handle keeps in flight: 2.
 * The client builds the next batch while Redis runs the previous one; the
 * second call names the first (`prev`), so Redis records them in order even
 * across a reconnect. `1` sends one batch at a time.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_APPENDS_IN_FLIGHT: number = internal.DEFAULT_MAX_APPENDS_IN_FLIGHT

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where Redis is. Default {@link DEFAULT_URL}. */
  readonly url?: string | undefined
  /**
   * Extra ioredis options, applied over the ones this package sets (see the
   * README before changing `enableOfflineQueue`, `maxRetriesPerRequest` or
   * `autoResendUnfulfilledCommands`).
   */
  readonly redis?: RedisOptions | undefined
  /** Prefix of every key and channel; must not contain `{` or `}`. Default {@link DEFAULT_KEY_PREFIX}. */
  readonly keyPrefix?: string | undefined
  /** Writer lease time in ms. Default {@link DEFAULT_LEASE_MS}. */
  readonly leaseMs?: number | undefined
  /** A tail's safety poll in ms. Default {@link DEFAULT_SAFETY_POLL_MS}. */
  readonly safetyPollMs?: number | undefined
  /** Command timeout in ms. Default {@link DEFAULT_COMMAND_TIMEOUT_MS}. */
  readonly commandTimeoutMs?: number | undefined
  /** Default {@link DEFAULT_MAX_BATCH_BYTES}. */
  readonly maxBatchBytes?: number | undefined
  /** Default {@link DEFAULT_MAX_PENDING_WRITES}. */
  readonly maxPendingWrites?: number | undefined
  /** Default {@link DEFAULT_READ_ENTRIES}. */
  readonly readEntries?: number | undefined
  /** Default {@link DEFAULT_DEDUP_TTL_MS}. */
  readonly dedupTtlMs?: number | undefined
  /** Default {@link DEFAULT_REMOVE_GRACE_MS}; at least `safetyPollMs`. */
  readonly removeGraceMs?: number | undefined
  /** 1 or 2. Default {@link DEFAULT_MAX_APPENDS_IN_FLIGHT}. */
  readonly maxAppendsInFlight?: number | undefined
}

/**
 * The options in force, defaults filled in.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedOptions {
  readonly url: string
  readonly keyPrefix: string
  readonly leaseMs: number
  readonly safetyPollMs: number
  readonly commandTimeoutMs: number
  readonly maxBatchBytes: number
  readonly maxPendingWrites: number
  readonly readEntries: number
  readonly dedupTtlMs: number
  readonly removeGraceMs: number
  readonly maxAppendsInFlight: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RedisStore {
  readonly [TypeId]: TypeId
  readonly options: ResolvedOptions
  /** The command connection, shared: never run a blocking command on it. */
  readonly client: Redis
  /** The subscriber connection (sharded pub/sub). */
  readonly subscriber: Redis
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const RedisStore: Context.Tag<RedisStore, RedisStore> = internal.tag

/**
 * Opens the two connections and waits until Redis answers (at most the
 * command timeout); closes them with the scope (`QUIT`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RedisLog, RedisStore } from "@scrollback/redis"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* RedisStore.make({ url: "redis://127.0.0.1:6379" })
 *   const log = yield* RedisLog.getOrCreate(store, "build-42", { capacity: 1024 * 1024 })
 *   yield* log.write(new TextEncoder().encode("hello"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<RedisStore, InvalidStoreOptions | StorageUnavailable, Scope.Scope> = internal.make

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Options) => Layer.Layer<RedisStore, InvalidStoreOptions | StorageUnavailable> =
  internal.layer

/**
 * The options read from the environment, each with its default:
 * `SCROLLBACK_REDIS_URL`, `SCROLLBACK_REDIS_KEY_PREFIX`,
 * `SCROLLBACK_REDIS_LEASE_MS`, `SCROLLBACK_REDIS_SAFETY_POLL_MS`,
 * `SCROLLBACK_REDIS_COMMAND_TIMEOUT_MS`, `SCROLLBACK_REDIS_REMOVE_GRACE_MS`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  url: Config.string("SCROLLBACK_REDIS_URL").pipe(Config.withDefault(DEFAULT_URL)),
  keyPrefix: Config.string("SCROLLBACK_REDIS_KEY_PREFIX").pipe(Config.withDefault(DEFAULT_KEY_PREFIX)),
  leaseMs: Config.integer("SCROLLBACK_REDIS_LEASE_MS").pipe(Config.withDefault(DEFAULT_LEASE_MS)),
  safetyPollMs: Config.integer("SCROLLBACK_REDIS_SAFETY_POLL_MS").pipe(Config.withDefault(DEFAULT_SAFETY_POLL_MS)),
  commandTimeoutMs: Config.integer("SCROLLBACK_REDIS_COMMAND_TIMEOUT_MS").pipe(
    Config.withDefault(DEFAULT_COMMAND_TIMEOUT_MS)
  ),
  removeGraceMs: Config.integer("SCROLLBACK_REDIS_REMOVE_GRACE_MS").pipe(Config.withDefault(DEFAULT_REMOVE_GRACE_MS))
})

/**
 * A layer whose options come from `Config` ({@link config} by default).
 *
 * @example
 * ```ts
 * import { RedisStore } from "@scrollback/redis"
 *
 * const StoreLive = RedisStore.layerConfig() // SCROLLBACK_REDIS_URL etc., or the defaults
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<RedisStore, InvalidStoreOptions | StorageUnavailable | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(options, (resolved) => layer(resolved)))
