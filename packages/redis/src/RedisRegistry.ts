/**
 * Core's `ReplayRegistry` with Redis as the log of record: every server
 * instance serves every buffer exactly as the in-memory engine would — the
 * same epoch, the same absolute offsets, the same end — so `ReplayStream`,
 * `ReplayHttp` and `ReplayClient` work over it unchanged.
 *
 * Each key this instance holds is one local replica (`ReplayReplica`) fed by
 * one tail of its Redis log: followers and transports read local memory
 * (zero-copy), writes go to Redis first (group-committed, idempotent) and are
 * applied locally before they return, so a producer reads its own writes.
 * `get` catches up with Redis before it answers, so a resume position of
 * this epoch past the total is refused, never clamped. The registry owns one
 * `RedisStore`: two connections to Redis, whatever the number of buffers and
 * followers.
 *
 * | option | default | meaning |
 * |---|---|---|
 * | `url` | `redis://127.0.0.1:6379` | where Redis is |
 * | `keyPrefix` | `sb:` | prefix of every key and channel |
 * | `leaseMs` | 10,000 | writer lease time; a producer that stops refreshing it is ended ("producer lost") |
 * | `safetyPollMs` | 5,000 | a tail re-reads at least this often without a wake-up |
 * | `commandTimeoutMs` | 5,000 | a Redis command with no reply by then fails `StorageUnavailable` |
 * | `removeGraceMs` | 60,000 | how long a removed or expired log's keys stay so every instance reads its end |
 * | `maxBuffers` | 1,024 | the most buffers this instance holds |
 * | `maxTotalBytes` | 256 MiB | the most bytes (sum of capacities) this instance holds |
 * | `defaultCapacity` | 1 MiB | the capacity of a buffer created without one |
 * | `idleTimeout` | 5 minutes | an ended buffer is let go this long after its end (here, and in Redis) |
 *
 * @since 0.1.0
 */
import type { StorageUnavailable } from "@scrollback/core/ReplayBufferError"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import type { InvalidRegistryOptions } from "@scrollback/core/ReplayRegistryError"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/registry.js"
import type { InvalidStoreOptions } from "./RedisLogError.js"
import type * as RedisStore from "./RedisStore.js"

/**
 * The Redis connection options (`RedisStore.Options`) and the registry's
 * limits (`ReplayRegistry.Options`), each with its default (see the module's
 * table). Use the same values on every instance: the idle time of an ended
 * buffer also sets how long its log stays in Redis.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends RedisStore.Options, ReplayRegistry.Options {}

/**
 * Core's `ReplayRegistry`, backed by Redis, with the store it owns.
 *
 * `limits` bound what **this instance** holds: `maxBuffers` replicas, whose
 * capacities add up to at most `maxTotalBytes`. A `create` or `getOrCreate`
 * past them fails `RegistryFull`; a `get` that would open one more replica
 * fails `StorageUnavailable` (HTTP 503 with Retry-After: another instance, or
 * this one later, can answer). `list` and `retainedBytes` are this
 * instance's, too.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisRegistry extends ReplayRegistry.ReplayRegistry {
  /** The store this registry owns: its two connections to Redis. */
  readonly store: RedisStore.RedisStore
}

/**
 * The service tag (`@scrollback/redis/RedisRegistry`). {@link layerRegistry}
 * also provides core's `ReplayRegistry` tag with the same registry.
 *
 * @since 0.1.0
 * @category tags
 */
export const RedisRegistry: Context.Tag<RedisRegistry, RedisRegistry> = internal.tag

/**
 * Opens a `RedisStore` and a registry over it in the current scope. Closing
 * the scope ends every local replica with a `ProducerFailed` that says this
 * instance let go of it (its followers terminate) and closes the connections;
 * the logs in Redis go on for the other instances.
 *
 * Errors: `InvalidRegistryOptions` or `InvalidStoreOptions` for an option out
 * of range, `StorageUnavailable` when Redis does not answer within the
 * command timeout.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RedisRegistry } from "@scrollback/redis"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* RedisRegistry.make({ url: "redis://127.0.0.1:6379", maxBuffers: 256 })
 *   const buffer = yield* registry.create("build-42", { capacity: 1024 * 1024 })
 *   yield* buffer.write(new TextEncoder().encode("compiling...\n")) // in Redis, then here
 *   yield* buffer.end // every instance's followers drain and complete
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<RedisRegistry, InvalidRegistryOptions | InvalidStoreOptions | StorageUnavailable, Scope.Scope> =
  internal.make

/**
 * A layer with a registry (and its store) that lives as long as the layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RedisRegistry } from "@scrollback/redis"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* RedisRegistry.RedisRegistry
 *   const buffer = yield* registry.get("build-42") // caught up with Redis first
 *   return yield* buffer.total
 * }).pipe(Effect.provide(RedisRegistry.layer({ url: "redis://127.0.0.1:6379" })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options?: Options
) => Layer.Layer<RedisRegistry, InvalidRegistryOptions | InvalidStoreOptions | StorageUnavailable> = internal.layer

/**
 * The options read from the environment, each with its default:
 * `RedisStore.config` (`SCROLLBACK_REDIS_URL`, `SCROLLBACK_REDIS_KEY_PREFIX`,
 * `SCROLLBACK_REDIS_LEASE_MS`, `SCROLLBACK_REDIS_SAFETY_POLL_MS`,
 * `SCROLLBACK_REDIS_COMMAND_TIMEOUT_MS`, `SCROLLBACK_REDIS_REMOVE_GRACE_MS`)
 * and `SCROLLBACK_MAX_BUFFERS`, `SCROLLBACK_MAX_TOTAL_BYTES`,
 * `SCROLLBACK_DEFAULT_CAPACITY`, `SCROLLBACK_IDLE_TIMEOUT` (a duration such
 * as `5 minutes`).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = internal.config

/**
 * A layer whose options come from `Config` ({@link config} by default).
 *
 * @example
 * ```ts
 * import { RedisRegistry } from "@scrollback/redis"
 *
 * const RegistryLive = RedisRegistry.layerConfig() // SCROLLBACK_REDIS_URL etc., or the defaults
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config?: Config.Config<Options>
) => Layer.Layer<
  RedisRegistry,
  InvalidRegistryOptions | InvalidStoreOptions | StorageUnavailable | ConfigError.ConfigError
> = internal.layerConfig

/**
 * Provides core's `ReplayRegistry` tag (and {@link RedisRegistry}) with one
 * Redis registry: what `ReplayHttp`, `ReplayStream` and the rest of
 * `@scrollback/platform` look up, so they run over Redis unchanged.
 *
 * @example
 * ```ts
 * import { ReplayRegistry } from "@scrollback/core"
 * import { RedisRegistry } from "@scrollback/redis"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* ReplayRegistry.ReplayRegistry // the Redis one
 *   yield* registry.getOrCreate("session-7")
 * }).pipe(Effect.provide(RedisRegistry.layerRegistry({ url: "redis://127.0.0.1:6379" })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRegistry: (
  options?: Options
) => Layer.Layer<
  RedisRegistry | ReplayRegistry.ReplayRegistry,
  InvalidRegistryOptions | InvalidStoreOptions | StorageUnavailable
> = internal.layerRegistry

/**
 * {@link layerRegistry} with its options from `Config` ({@link config} by default).
 *
 * @example
 * ```ts
 * import { RedisRegistry } from "@scrollback/redis"
 *
 * const RegistryLive = RedisRegistry.layerRegistryConfig()
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRegistryConfig: (
  config?: Config.Config<Options>
) => Layer.Layer<
  RedisRegistry | ReplayRegistry.ReplayRegistry,
  InvalidRegistryOptions | InvalidStoreOptions | StorageUnavailable | ConfigError.ConfigError
> = internal.layerRegistryConfig

/**
 * Runs `effect` so that the writer leases it takes (`acquireWriter`,
 * `withWriter`, `ReplaySink.write`…) on this registry's buffers are taken
 * over from a live holder instead of failing `WriterBusy`: how a restarted
 * producer takes its buffer back without waiting for the old lease to lapse
 * (which would end the buffer, "producer lost"). The lease gets a new fence:
 * the old holder's writes and ends then fail `LeaseLost { reason: "fenced" }`
 * and change nothing, on every instance.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RedisRegistry } from "@scrollback/redis"
 *
 * const restarted = Effect.gen(function*() {
 *   const registry = yield* RedisRegistry.RedisRegistry
 *   const buffer = yield* registry.get("session-7")
 *   const writer = yield* RedisRegistry.takeover(buffer.acquireWriter())
 *   yield* writer.write(new TextEncoder().encode("back\r\n"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const takeover: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = internal.takeover
