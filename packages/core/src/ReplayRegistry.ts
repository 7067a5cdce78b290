/**
 * A keyed set of `ReplayBuffer`s as a service: one buffer per stream (a
 * process, a build, a chat turn), found by a key that can appear in a URL,
 * with bounds on how many buffers and how many bytes it holds, and removal of
 * ended buffers after an idle time.
 *
 * | limit            | default              | what happens when it is reached                        |
 * |------------------|----------------------|--------------------------------------------------------|
 * | `maxBuffers`     | 1,024                | `create` fails `RegistryFull { reason: "buffers" }`    |
 * | `maxTotalBytes`  | 268,435,456 (256 MiB)| `create` fails `RegistryFull { reason: "bytes" }`      |
 * | `defaultCapacity`| 1,048,576 (1 MiB)    | the capacity of a buffer created without one           |
 * | `idleTimeout`    | 5 minutes            | an ended buffer is removed this long after it ended    |
 * | `maxKeySeries`   | 100                  | later keys are counted in the metrics' `(other)` series |
 *
 * `maxTotalBytes` bounds the sum of the *capacities* of the buffers held (the
 * most memory they can ever retain), not the bytes written so far.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/registry.js"
import type * as ReplayBuffer from "./ReplayBuffer.js"
import type { InvalidCapacity, StorageUnavailable } from "./ReplayBufferError.js"
import type {
  BufferExists,
  BufferNotFound,
  InvalidKey,
  InvalidRegistryOptions,
  RegistryFull
} from "./ReplayRegistryError.js"

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
 * Default `maxBuffers`: 1,024.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_BUFFERS: number = internal.DEFAULT_MAX_BUFFERS

/**
 * Default `maxTotalBytes`: 268,435,456 (256 MiB).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_TOTAL_BYTES: number = internal.DEFAULT_MAX_TOTAL_BYTES

/**
 * Default `defaultCapacity`: 1,048,576 (1 MiB), the same as `ReplayBuffer`'s.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CAPACITY: number = internal.DEFAULT_CAPACITY

/**
 * Default `idleTimeout`: 5 minutes.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_IDLE_TIMEOUT: Duration.Duration = internal.DEFAULT_IDLE_TIMEOUT

/**
 * The longest key: 128 characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_KEY_LENGTH: number = internal.MAX_KEY_LENGTH

/**
 * The registry's bounds. Each number must be a positive safe integer
 * (`maxKeySeries`: non-negative) and `defaultCapacity` must not exceed
 * `maxTotalBytes`; `idleTimeout` must be a
 * non-negative duration (`0` removes an ended buffer at once,
 * `Duration.infinity` keeps ended buffers until they are removed). Anything
 * else fails `make` with `InvalidRegistryOptions`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The most buffers held at once. Default 1,024. */
  readonly maxBuffers?: number | undefined
  /** The most bytes held: the sum of the capacities of the buffers held. Default 268,435,456 (256 MiB). */
  readonly maxTotalBytes?: number | undefined
  /** The capacity of a buffer created without one. Default 1,048,576 (1 MiB). */
  readonly defaultCapacity?: number | undefined
  /** How long an ended buffer stays after it ended. Default 5 minutes. */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /**
   * How many distinct keys get metric series of their own (`key` tag,
   * `ReplayMetrics`); the buffers of every later key are counted in the
   * aggregate `key="(other)"` series. A non-negative safe integer (`0`: only
   * the aggregate). Default 100 (`ReplayMetrics.DEFAULT_MAX_KEY_SERIES`).
   */
  readonly maxKeySeries?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CreateOptions {
  /** Bytes retained by the new buffer: a positive safe integer. Default: the registry's `defaultCapacity`. */
  readonly capacity?: number | undefined
}

/**
 * A buffer held by a registry.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly key: string
  readonly buffer: ReplayBuffer.ReplayBuffer
  /** When it was created: epoch milliseconds from the registry's `Clock`. */
  readonly createdAt: number
}

/**
 * Why making or adopting a buffer under a key can fail.
 *
 * @since 0.1.0
 * @category models
 */
export type CreateError = InvalidKey | BufferExists | RegistryFull | InvalidCapacity | StorageUnavailable

/**
 * A registry of replay buffers: what an application injects, and what every
 * engine implements (the in-memory one here, a Redis-backed one in
 * `@scrollback/redis`). `StorageUnavailable` is raised only by engines whose
 * log of record is remote.
 *
 * The in-memory registry keeps its state in a `SynchronizedRef`: every change
 * (create, adopt, remove, expiry) is one atomic update, so concurrent callers
 * never pass a limit together and exactly one of several concurrent
 * `create`s or `remove`s of a key wins; reads take no lock.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayRegistry extends Pipeable {
  readonly [TypeId]: TypeId
  /** The bounds in force, with defaults applied. */
  readonly limits: Limits
  /**
   * Makes a buffer and holds it under `key`. Checks, in order: the key
   * (`InvalidKey`), the capacity (`InvalidCapacity`), that the key is free
   * (`BufferExists`), `maxBuffers` then `maxTotalBytes` (`RegistryFull`).
   */
  readonly create: (key: string, options?: CreateOptions) => Effect.Effect<ReplayBuffer.ReplayBuffer, CreateError>
  /**
   * The buffer held under `key`, or a new one made and held as `create`
   * would (with `options`). A buffer already held is returned as it is,
   * whatever its capacity.
   */
  readonly getOrCreate: (
    key: string,
    options?: CreateOptions
  ) => Effect.Effect<ReplayBuffer.ReplayBuffer, Exclude<CreateError, BufferExists>>
  /**
   * Holds a buffer made elsewhere (by `ReplayBuffer.make`,
   * `ReplayProcess.run`, …) under `key`, so it can be served. It counts
   * against the limits, is removed `idleTimeout` after it ends, and is ended
   * by `remove` and when the registry closes, like a buffer the registry made.
   */
  readonly adopt: (
    key: string,
    buffer: ReplayBuffer.ReplayBuffer
  ) => Effect.Effect<void, Exclude<CreateError, InvalidCapacity>>
  /** The buffer held under `key`. A remote engine brings its local replica up to date first. */
  readonly get: (key: string) => Effect.Effect<ReplayBuffer.ReplayBuffer, BufferNotFound | StorageUnavailable>
  /** Every buffer held, in the order they were added. */
  readonly list: Effect.Effect<ReadonlyArray<Entry>, StorageUnavailable>
  /**
   * Forgets the buffer held under `key` and ends it if it has not ended, so
   * its followers drain what is retained and complete. When it returns, the
   * key is free and the buffer has ended.
   */
  readonly remove: (key: string) => Effect.Effect<void, BufferNotFound | StorageUnavailable>
  /** The sum of the capacities of the buffers held. */
  readonly retainedBytes: Effect.Effect<number, StorageUnavailable>
}

/**
 * The bounds of a registry, with defaults applied.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  readonly maxBuffers: number
  readonly maxTotalBytes: number
  readonly defaultCapacity: number
  readonly idleTimeout: Duration.Duration
  readonly maxKeySeries: number
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const ReplayRegistry: Context.Tag<ReplayRegistry, ReplayRegistry> = internal.tag

/**
 * @since 0.1.0
 * @category guards
 */
export const isReplayRegistry: (u: unknown) => u is ReplayRegistry = internal.isReplayRegistry

/**
 * Makes an in-memory registry in the current scope. Each held buffer has a
 * fiber in that scope that removes it `idleTimeout` after it ends (removing
 * the buffer stops it). Closing the scope stops those fibers and ends every
 * buffer still held, so their followers complete; a `create` after that is a
 * defect.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayRegistry } from "@scrollback/core"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* ReplayRegistry.make({ maxBuffers: 16, idleTimeout: "1 minute" })
 *   const buffer = yield* registry.create("build-42", { capacity: 64 * 1024 })
 *   yield* buffer.write(new TextEncoder().encode("compiling...\n"))
 *   const same = yield* registry.get("build-42")
 *   yield* same.end // removed one minute from now
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<ReplayRegistry, InvalidRegistryOptions, Scope.Scope> =
  internal.make

/**
 * A layer with a registry that lives as long as the layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayRegistry } from "@scrollback/core"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* ReplayRegistry.ReplayRegistry
 *   yield* registry.create("session-1")
 * }).pipe(Effect.provide(ReplayRegistry.layer({ maxTotalBytes: 64 * 1024 * 1024 })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Options) => Layer.Layer<ReplayRegistry, InvalidRegistryOptions> = internal.layer

/**
 * A layer that reads its options from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { ReplayRegistry } from "@scrollback/core"
 *
 * const RegistryLive = ReplayRegistry.layerConfig({
 *   maxBuffers: Config.integer("SCROLLBACK_MAX_BUFFERS").pipe(Config.withDefault(ReplayRegistry.DEFAULT_MAX_BUFFERS)),
 *   idleTimeout: Config.duration("SCROLLBACK_IDLE_TIMEOUT").pipe(Config.withDefault(ReplayRegistry.DEFAULT_IDLE_TIMEOUT))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config: Config.Config.Wrap<Options>
) => Layer.Layer<ReplayRegistry, InvalidRegistryOptions | ConfigError.ConfigError> = internal.layerConfig

/**
 * @since 0.1.0
 * @category combinators
 */
export const create: {
  (
    key: string,
    options?: CreateOptions
  ): (self: ReplayRegistry) => Effect.Effect<ReplayBuffer.ReplayBuffer, CreateError>
  (self: ReplayRegistry, key: string, options?: CreateOptions): Effect.Effect<ReplayBuffer.ReplayBuffer, CreateError>
} = internal.create

/**
 * @since 0.1.0
 * @category combinators
 */
export const getOrCreate: {
  (
    key: string,
    options?: CreateOptions
  ): (self: ReplayRegistry) => Effect.Effect<ReplayBuffer.ReplayBuffer, Exclude<CreateError, BufferExists>>
  (
    self: ReplayRegistry,
    key: string,
    options?: CreateOptions
  ): Effect.Effect<ReplayBuffer.ReplayBuffer, Exclude<CreateError, BufferExists>>
} = internal.getOrCreate

/**
 * @since 0.1.0
 * @category combinators
 */
export const adopt: {
  (
    key: string,
    buffer: ReplayBuffer.ReplayBuffer
  ): (self: ReplayRegistry) => Effect.Effect<void, Exclude<CreateError, InvalidCapacity>>
  (
    self: ReplayRegistry,
    key: string,
    buffer: ReplayBuffer.ReplayBuffer
  ): Effect.Effect<void, Exclude<CreateError, InvalidCapacity>>
} = internal.adopt

/**
 * @since 0.1.0
 * @category combinators
 */
export const get: {
  (key: string): (self: ReplayRegistry) => Effect.Effect<ReplayBuffer.ReplayBuffer, BufferNotFound | StorageUnavailable>
  (self: ReplayRegistry, key: string): Effect.Effect<ReplayBuffer.ReplayBuffer, BufferNotFound | StorageUnavailable>
} = internal.get

/**
 * @since 0.1.0
 * @category combinators
 */
export const remove: {
  (key: string): (self: ReplayRegistry) => Effect.Effect<void, BufferNotFound | StorageUnavailable>
  (self: ReplayRegistry, key: string): Effect.Effect<void, BufferNotFound | StorageUnavailable>
} = internal.remove

/**
 * @since 0.1.0
 * @category getters
 */
export const list = (self: ReplayRegistry): Effect.Effect<ReadonlyArray<Entry>, StorageUnavailable> => self.list

/**
 * @since 0.1.0
 * @category getters
 */
export const retainedBytes = (self: ReplayRegistry): Effect.Effect<number, StorageUnavailable> => self.retainedBytes

/**
 * Whether `key` is a valid key: 1 to 128 characters of `[A-Za-z0-9._~-]`
 * (the characters a URL path segment carries unescaped), other than `"."`
 * and `".."`, which URLs resolve away.
 *
 * @since 0.1.0
 * @category guards
 */
export const isValidKey = (key: unknown): key is string => internal.validateKey(key) === undefined

/**
 * Checks a key by the rules every registry applies (see {@link isValidKey}):
 * succeeds with the key, or fails with `InvalidKey` saying which rule it
 * broke. For engines that implement {@link ReplayRegistry}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayRegistry } from "@scrollback/core"
 *
 * const refused = Effect.flip(ReplayRegistry.checkKey("a/b")) // InvalidKey { key: "a/b", reason: "..." }
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const checkKey = (key: string): Effect.Effect<string, InvalidKey> => internal.checkKey(key)

/**
 * Resolves a registry's options to its {@link Limits}, defaults applied, or
 * fails with `InvalidRegistryOptions` exactly as {@link make} would. For
 * engines that implement {@link ReplayRegistry} with the same options.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayRegistry } from "@scrollback/core"
 *
 * const limits = Effect.runSync(ReplayRegistry.resolveLimits({ maxBuffers: 16 }))
 * console.log(limits.maxBuffers, limits.maxTotalBytes) // 16 268435456
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveLimits = (options?: Options): Effect.Effect<Limits, InvalidRegistryOptions> =>
  internal.resolveLimits(options)
