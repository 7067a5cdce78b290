/**
 * A buffer's log of record in Redis, and the handle one server instance uses
 * to write it, end it, hold its writer lease, read it and tail it.
 *
 * Layout (prefix `sb:` by default, the buffer's key `k` in a hash tag so that
 * everything of one buffer is on one slot):
 *
 * | key | type | holds |
 * |---|---|---|
 * | `sb:{k}:meta` | hash | `epoch`, `capacity`, `entry`, `total`, `fence`, `holder`, `expires`, and once ended `ended`, `reason`, `code` |
 * | `sb:{k}:log` | stream | closed entries of exactly `entry` bytes, id `<end offset>-0`; the end at `<total>-1` |
 * | `sb:{k}:tail` | string | the newest bytes (fewer than `entry`), starting at `total − length` |
 * | `sb:{k}:w:<producer>` | string, with a TTL | the producer's last batch, so a re-sent batch is a no-op |
 * | `sb:{k}:n` | channel | a wake-up (`SPUBLISH` of the new total) after each change |
 *
 * Retention is byte-exact as in core: a read never returns a byte below
 * `oldest = max(0, total − capacity)`. Redis drops whole entries below it and
 * keeps at most one partly evicted entry, so it holds at most
 * `capacity + 2 × entry` bytes of data per buffer.
 *
 * @since 0.1.0
 */
import type { InvalidCapacity, InvalidOffset, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type { BufferClosed, OffsetOverflow } from "@scrollback/core/ReplayBufferError"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/log.js"
import { impl } from "./internal/store.js"
import type {
  InvalidKey,
  LeaseLost,
  LogExists,
  LogLost,
  LogNotFound,
  StorageUnavailable,
  WriterBusy
} from "./RedisLogError.js"
import type { RedisStore } from "./RedisStore.js"

/**
 * A writer lease: the fence number Redis handed out when it was acquired.
 * Writes carrying it are refused with `LeaseLost` once another producer took
 * the lease over (a higher fence) or it was released.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseToken {
  readonly fence: number
  /** The producer id of the handle that holds it. */
  readonly producer: string
}

/**
 * Where a write landed: `offset` of its first byte, and the log's `total`
 * after the batch that carried it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Appended {
  readonly offset: number
  readonly total: number
}

/**
 * A writer lease as a read saw it, with Redis's clock at that moment.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseState {
  readonly holder: string
  /** Redis time (ms since the epoch) the lease lapses at. */
  readonly expiresAt: number
  /** Redis time (ms) of the read. */
  readonly now: number
}

/**
 * One consistent snapshot of the log: the meta and the bytes from an offset.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogRead {
  readonly epoch: string
  readonly capacity: number
  readonly total: number
  /** `max(0, total − capacity)`: no returned byte lies below it. */
  readonly oldest: number
  /** The offset of the first returned byte: the requested one, clamped to `[oldest, total]`. */
  readonly offset: number
  /** The offset after the last returned byte; below `total` when the read was bounded. */
  readonly next: number
  /** Fresh arrays, in order, contiguous from `offset`. */
  readonly chunks: ReadonlyArray<Uint8Array>
  /** How the log ended, if it has (from the meta hash, O(1)). */
  readonly ended: Option.Option<Exit.Exit<void, ProducerFailed>>
  /** `true` when the log has ended and this read returned everything up to its end. */
  readonly reachedEnd: boolean
  /** `true` once the log was removed (its keys then expire after the grace). */
  readonly removed: boolean
  readonly lease: Option.Option<LeaseState>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface FollowOptions {
  /** The offset the tail starts from: the local replica's total. */
  readonly from: number
  /**
   * Called with bytes the log holds at `offset`, in order. `offset` may be
   * past the previous call's end when bytes were evicted meanwhile (a jump).
   * Called synchronously, never concurrently.
   */
  readonly apply: (offset: number, chunks: ReadonlyArray<Uint8Array>) => void
  /** Called once, after the last byte, with how the log ended. */
  readonly applyEnd: (exit: Exit.Exit<void, ProducerFailed>) => void
  /**
   * Where the local copy stands, when something else feeds it too (a
   * replica applies its own writes at once): the tail reads from the larger
   * of this and its own position, and ignores wake-ups it is already past.
   */
  readonly position?: (() => number) | undefined
  /** Called once if the log is lost (its keys vanished, or Redis lost it); the tail then stops. */
  readonly onLost?: ((error: LogLost) => void) | undefined
  /** Called once when the tail finds the log removed (after it applied the end). */
  readonly onRemoved?: (() => void) | undefined
  /** End the log with `ProducerFailed("producer lost")` when a writer lease lapses. Default `true`. */
  readonly reapLapsedWriter?: boolean | undefined
}

/**
 * A running tail: it pulls on every wake-up, after the subscriber
 * reconnects, and on the safety poll.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tail {
  /** The offset up to which bytes were handed to `apply`. */
  readonly position: Effect.Effect<number>
  /** Pulls now until caught up with the log (what a `get` does before answering). */
  readonly pull: Effect.Effect<void, StorageUnavailable | LogLost>
  /** The loss, once the tail has seen one. */
  readonly lost: Effect.Effect<Option.Option<LogLost>>
  /** Whether the tail has found the log removed. */
  readonly removed: Effect.Effect<boolean>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AcquireOptions {
  /** Take the lease even if another producer holds a live one; that one is fenced. Default `false`. */
  readonly takeover?: boolean | undefined
  /** Wait for the lease instead of failing `WriterBusy`. Default `false`. */
  readonly wait?: boolean | undefined
}

/**
 * The errors a write can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type WriteError = BufferClosed | OffsetOverflow | WriterBusy | LeaseLost | StorageUnavailable | LogLost

/**
 * A handle on one buffer's log of record. It lives in a scope (its group
 * committer is a fiber); open one per buffer per server instance.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisLog {
  readonly key: string
  readonly epoch: string
  readonly capacity: number
  /** The size of a closed stream entry for this log. */
  readonly entryBytes: number
  /** When the log was created: Redis time, epoch milliseconds (the same on every instance). */
  readonly createdAt: number
  /** This handle's producer id (random, 16 hex digits). */
  readonly producer: string
  /**
   * Appends the chunks as one atomic batch: every reader on every instance
   * sees all of them or none. Writes that arrive while a batch is in flight
   * are committed together in the next one (group commit); each caller
   * completes when its bytes are in Redis. Without `lease`, fails
   * `WriterBusy` while another producer holds a live lease; with it, fails
   * `LeaseLost` once the lease was taken over or released.
   */
  readonly writeAll: (chunks: Iterable<Uint8Array>, lease?: LeaseToken) => Effect.Effect<Appended, WriteError>
  /** `writeAll` of one chunk. */
  readonly write: (bytes: Uint8Array, lease?: LeaseToken) => Effect.Effect<Appended, WriteError>
  /**
   * Ends the log (normally by default). The first end wins: `true` if this
   * call ended it. Allowed to anyone without a lease; with `lease`, refused
   * with `LeaseLost` unless that lease is current (a writer's own end).
   */
  readonly end: (
    exit?: Exit.Exit<void, ProducerFailed>,
    lease?: LeaseToken
  ) => Effect.Effect<boolean, LeaseLost | StorageUnavailable | LogLost>
  /**
   * Takes the writer lease for the scope: refreshed every third of the lease
   * time, released when the scope closes. Fails `BufferClosed` once the log
   * has ended.
   */
  readonly acquireWriter: (
    options?: AcquireOptions
  ) => Effect.Effect<LeaseToken, BufferClosed | WriterBusy | StorageUnavailable | LogLost, Scope.Scope>
  /** Extends a lease by the lease time; fails `LeaseLost` if it was taken over or released. */
  readonly refreshLease: (lease: LeaseToken) => Effect.Effect<void, LeaseLost | StorageUnavailable | LogLost>
  /** One consistent read of the meta and the bytes from `from` (at most `maxEntries` stream entries). */
  readonly read: (
    from: number,
    options?: { readonly maxEntries?: number | undefined }
  ) => Effect.Effect<LogRead, InvalidOffset | StorageUnavailable | LogLost>
  /**
   * Ends the log with `ProducerFailed("producer lost")` if a writer lease is
   * held and has lapsed; `true` if this call ended it.
   */
  readonly reapLapsedWriter: Effect.Effect<boolean, StorageUnavailable | LogLost>
  /** Starts a tail for the scope. */
  readonly follow: (options: FollowOptions) => Effect.Effect<Tail, never, Scope.Scope>
}

/**
 * Creates a log with a fresh random epoch; fails `LogExists` if the key is taken.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RedisLog, RedisStore } from "@scrollback/redis"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* RedisStore.RedisStore
 *   const log = yield* RedisLog.create(store, "job-7", { capacity: 1024 * 1024 })
 *   yield* log.writeAll([new Uint8Array([1, 2]), new Uint8Array([3])])
 *   yield* log.end()
 * }).pipe(Effect.scoped, Effect.provide(RedisStore.layer()))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const create = (
  store: RedisStore,
  key: string,
  options: { readonly capacity: number }
): Effect.Effect<RedisLog, InvalidKey | InvalidCapacity | LogExists | StorageUnavailable, Scope.Scope> =>
  internal.create(impl(store), key, options, "create")

/**
 * Opens the log under `key`, creating it (with `capacity`) if there is none.
 * An existing log keeps its own epoch and capacity.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RedisLog, RedisStore } from "@scrollback/redis"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* RedisStore.RedisStore
 *   const log = yield* RedisLog.getOrCreate(store, "job-7", { capacity: 1024 * 1024 })
 *   console.log(log.epoch, log.capacity)
 * }).pipe(Effect.scoped, Effect.provide(RedisStore.layer()))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const getOrCreate = (
  store: RedisStore,
  key: string,
  options: { readonly capacity: number }
): Effect.Effect<RedisLog, InvalidKey | InvalidCapacity | StorageUnavailable, Scope.Scope> =>
  internal.create(impl(store), key, options, "get") as Effect.Effect<
    RedisLog,
    InvalidKey | InvalidCapacity | StorageUnavailable,
    Scope.Scope
  >

/**
 * Opens an existing log; fails `LogNotFound` if there is none.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RedisLog, RedisStore } from "@scrollback/redis"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* RedisStore.RedisStore
 *   const log = yield* RedisLog.open(store, "job-7")
 *   const { chunks, total } = yield* log.read(0)
 * }).pipe(Effect.scoped, Effect.provide(RedisStore.layer()))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (
  store: RedisStore,
  key: string
): Effect.Effect<RedisLog, InvalidKey | LogNotFound | StorageUnavailable, Scope.Scope> =>
  internal.open(impl(store), key)

/**
 * Removes a log: ends it normally if it has not ended (a recorded end is
 * kept), and marks it removed, so the key is free at once (`open` fails
 * `LogNotFound`, `create` makes a new log with a new epoch). Its keys stay
 * for the store's `removeGraceMs` so that the tails on every instance read
 * the end, then expire. `true` if there was one.
 *
 * @since 0.1.0
 * @category destructors
 */
export const remove = (store: RedisStore, key: string): Effect.Effect<boolean, InvalidKey | StorageUnavailable> =>
  internal.remove(impl(store), key)
