/**
 * A byte-bounded replay buffer: a producer writes bytes, readers ask for
 * everything still retained from a byte offset, followers wait for more.
 *
 * Offsets are absolute: `total` counts every byte ever written and never goes
 * back; the buffer keeps the last `capacity` bytes, `[oldest, total)`, with
 * `oldest = max(0, total − capacity)`. `readFrom` follows the Go seed's
 * `ReadFrom` exactly:
 *
 * | call                                  | result                                        |
 * |---------------------------------------|-----------------------------------------------|
 * | `readFrom(o)`, `o >= total`           | `{ bytes: empty, offset: total }`             |
 * | `readFrom(o)`, `o < oldest` (or < 0)  | bytes `[oldest, total)`, `offset: oldest`     |
 * | `readFrom(o)` otherwise               | bytes `[o, total)`, `offset: o`               |
 * | `readFrom(NaN / 1.5 / ±Infinity)`     | fails `InvalidOffset`                         |
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/replayBuffer.js"
import type {
  BufferClosed,
  InvalidCapacity,
  InvalidOffset,
  LeaseLost,
  OffsetOverflow,
  ProducerFailed,
  StorageUnavailable,
  WriterBusy
} from "./ReplayBufferError.js"

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
 * The default capacity: 1 MiB (1,048,576 bytes), as in the seed.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CAPACITY: number = internal.DEFAULT_CAPACITY

/**
 * The default bound on the bytes one `readChunks` call returns: 1 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_READ_BYTES: number = internal.DEFAULT_MAX_READ_BYTES

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Bytes retained: a positive safe integer. Default {@link DEFAULT_CAPACITY}. */
  readonly capacity?: number | undefined
}

/**
 * What `readFrom` returns: a caller-owned copy of the bytes from `offset` to
 * the `total` at the time of the read.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadResult {
  /** A fresh array: later writes never change it, and the buffer keeps no reference to it. */
  readonly bytes: Uint8Array
  /** The offset of the first returned byte (after clamping). */
  readonly offset: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ReadChunksOptions {
  /** The most bytes to return. A positive safe integer; default {@link DEFAULT_MAX_READ_BYTES}. */
  readonly maxBytes?: number | undefined
}

/**
 * What `readChunks` returns: zero-copy views of the retained bytes from
 * `offset` (clamped like `readFrom`) to `next`, and a consistent snapshot of
 * the buffer's state taken in the same step.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadChunks {
  /** The offset of the first returned byte (after clamping). */
  readonly offset: number
  /** The offset just past the last returned byte: where the next read starts. */
  readonly next: number
  /**
   * Views of shared storage, in order. They never change after the read, but
   * they are shared with every other reader: treat them as read-only.
   */
  readonly chunks: ReadonlyArray<Uint8Array>
  readonly oldest: number
  readonly total: number
  /** `Some` once the buffer has ended, with how it ended. */
  readonly ended: Option.Option<Exit.Exit<void, ProducerFailed>>
}

/**
 * Why a write can be refused: the buffer has ended (`BufferClosed`), the
 * write would pass 2^53 − 1 (`OffsetOverflow`), another producer holds the
 * writer lease (`WriterBusy`), or the engine cannot reach its log of record
 * (`StorageUnavailable`, never raised by the in-memory engine).
 *
 * @since 0.1.0
 * @category models
 */
export type WriteError = BufferClosed | OffsetOverflow | WriterBusy | StorageUnavailable

/**
 * Why a write through a {@link Writer} can be refused: as {@link WriteError},
 * except that the writer holds the lease, so instead of `WriterBusy` it can
 * find its lease gone (`LeaseLost`).
 *
 * @since 0.1.0
 * @category models
 */
export type WriterError = BufferClosed | OffsetOverflow | LeaseLost | StorageUnavailable

/**
 * Why taking the writer lease can fail: the buffer has already ended, another
 * producer holds the lease, or the engine cannot reach its log of record.
 *
 * @since 0.1.0
 * @category models
 */
export type AcquireError = BufferClosed | WriterBusy | StorageUnavailable

/**
 * @since 0.1.0
 * @category models
 */
export interface AcquireWriterOptions {
  /**
   * Default `false`: fail with `WriterBusy` at once when another producer
   * holds the lease. `true`: wait for it (first come, first served).
   */
  readonly wait?: boolean | undefined
}

/**
 * A replay buffer. Every method has no requirements, so it can be used inside
 * HTTP handlers and Stream bodies directly.
 *
 * Each write is atomic: no reader ever sees part of one, and concurrent
 * writes never interleave inside each other. Writes copy their input, so the
 * caller may reuse its array as soon as the write returns.
 *
 * Reads and in-memory writes are synchronous steps, atomic on the event loop,
 * and take no lock. A producer that must not be interleaved with another
 * takes the writer lease ({@link acquireWriter}) for its whole life: while
 * it is held, writes that do not go through it fail with `WriterBusy`.
 * Ending a buffer is allowed to anyone at any time (the first end wins): it
 * is how an owner stops a producer.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayBuffer extends Pipeable {
  readonly [TypeId]: TypeId
  /** Bytes retained. */
  readonly capacity: number
  /** A random id chosen when the buffer was made: offsets from another incarnation carry another epoch. */
  readonly epoch: string
  /** Bytes ever written. */
  readonly total: Effect.Effect<number>
  /** The oldest retained offset: `max(0, total − capacity)`. */
  readonly oldest: Effect.Effect<number>
  /** Appends bytes, evicting the oldest when full. An empty write changes nothing. */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, WriteError>
  /** Appends several chunks as one atomic batch: readers see all of them or none. */
  readonly writeAll: (chunks: Iterable<Uint8Array>) => Effect.Effect<void, WriteError>
  /** A caller-owned copy of the retained bytes from `offset`, as the seed's `ReadFrom`. */
  readonly readFrom: (offset: number) => Effect.Effect<ReadResult, InvalidOffset>
  /** Zero-copy views of the retained bytes from `offset`, for followers and transports. */
  readonly readChunks: (offset: number, options?: ReadChunksOptions) => Effect.Effect<ReadChunks, InvalidOffset>
  /**
   * Waits until a byte at `offset` or later exists, or the buffer has ended.
   * Costs O(1) per waiting fiber; interruption unregisters it.
   */
  readonly awaitData: (offset: number) => Effect.Effect<void>
  /** Ends the buffer normally. `true` if this call ended it, `false` if it had already ended. */
  readonly end: Effect.Effect<boolean, StorageUnavailable>
  /** Ends the buffer with the producer's failure, which followers will fail with. */
  readonly fail: (error: ProducerFailed) => Effect.Effect<boolean, StorageUnavailable>
  /**
   * Ends the buffer with an `Exit`: success for a normal end, failure for a
   * producer's failure. An `Exit` that failed by a defect or an interruption
   * is recorded as a `ProducerFailed` whose reason says so.
   */
  readonly endWith: (exit: Exit.Exit<void, ProducerFailed>) => Effect.Effect<boolean, StorageUnavailable>
  /** How the buffer ended, if it has. */
  readonly ended: Effect.Effect<Option.Option<Exit.Exit<void, ProducerFailed>>>
  /** Waits until the buffer ends; fails with the producer's failure. */
  readonly awaitEnd: Effect.Effect<void, ProducerFailed>
  /**
   * Takes the writer lease for as long as the scope lives: the returned
   * {@link Writer} is the only way to write while it is held. Fails with
   * `WriterBusy` when another producer holds it (unless `wait: true`), and
   * with `BufferClosed` when the buffer has already ended.
   */
  readonly acquireWriter: (
    options?: AcquireWriterOptions
  ) => Effect.Effect<Writer, AcquireError, Scope.Scope>
}

/**
 * The writing end of a buffer while its writer lease is held (see
 * {@link acquireWriter}). Once the lease's scope has closed — or, on a remote
 * engine, another producer took over — every call fails with `LeaseLost` and
 * changes nothing.
 *
 * @since 0.1.0
 * @category models
 */
export interface Writer {
  readonly buffer: ReplayBuffer
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, WriterError>
  readonly writeAll: (chunks: Iterable<Uint8Array>) => Effect.Effect<void, WriterError>
  readonly end: Effect.Effect<boolean, LeaseLost | StorageUnavailable>
  readonly fail: (error: ProducerFailed) => Effect.Effect<boolean, LeaseLost | StorageUnavailable>
  readonly endWith: (exit: Exit.Exit<void, ProducerFailed>) => Effect.Effect<boolean, LeaseLost | StorageUnavailable>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const ReplayBuffer: Context.Tag<ReplayBuffer, ReplayBuffer> = internal.tag

/**
 * @since 0.1.0
 * @category guards
 */
export const isReplayBuffer: (u: unknown) => u is ReplayBuffer = internal.isReplayBuffer

/**
 * Makes a buffer. The capacity must be a positive safe integer (default
 * 1 MiB); anything else fails with `InvalidCapacity`, never a silent default.
 * Storage is allocated as bytes arrive, not up front.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayBuffer } from "@scrollback/core"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make({ capacity: 8 })
 *   yield* buffer.write(new TextEncoder().encode("hello, world"))
 *   const { bytes, offset } = yield* buffer.readFrom(0)
 *   // offset 4 (bytes 0-3 were evicted), bytes "o, world"
 *   console.log(offset, new TextDecoder().decode(bytes))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<ReplayBuffer, InvalidCapacity> = internal.make

/**
 * A layer that provides a fresh buffer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayBuffer } from "@scrollback/core"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.ReplayBuffer
 *   yield* buffer.write(new Uint8Array([1, 2, 3]))
 * }).pipe(Effect.provide(ReplayBuffer.layer({ capacity: 64 * 1024 })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Options) => Layer.Layer<ReplayBuffer, InvalidCapacity> = internal.layer

/**
 * A layer that reads its options from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { ReplayBuffer } from "@scrollback/core"
 *
 * const BufferLive = ReplayBuffer.layerConfig({
 *   capacity: Config.integer("SCROLLBACK_CAPACITY").pipe(Config.withDefault(ReplayBuffer.DEFAULT_CAPACITY))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config: Config.Config.Wrap<Options>
) => Layer.Layer<ReplayBuffer, InvalidCapacity | ConfigError.ConfigError> = internal.layerConfig

/**
 * @since 0.1.0
 * @category combinators
 */
export const write: {
  (bytes: Uint8Array): (self: ReplayBuffer) => Effect.Effect<void, WriteError>
  (self: ReplayBuffer, bytes: Uint8Array): Effect.Effect<void, WriteError>
} = internal.write

/**
 * @since 0.1.0
 * @category combinators
 */
export const writeAll: {
  (chunks: Iterable<Uint8Array>): (self: ReplayBuffer) => Effect.Effect<void, WriteError>
  (self: ReplayBuffer, chunks: Iterable<Uint8Array>): Effect.Effect<void, WriteError>
} = internal.writeAll

/**
 * @since 0.1.0
 * @category combinators
 */
export const readFrom: {
  (offset: number): (self: ReplayBuffer) => Effect.Effect<ReadResult, InvalidOffset>
  (self: ReplayBuffer, offset: number): Effect.Effect<ReadResult, InvalidOffset>
} = internal.readFrom

/**
 * @since 0.1.0
 * @category combinators
 */
export const readChunks: {
  (offset: number, options?: ReadChunksOptions): (self: ReplayBuffer) => Effect.Effect<ReadChunks, InvalidOffset>
  (self: ReplayBuffer, offset: number, options?: ReadChunksOptions): Effect.Effect<ReadChunks, InvalidOffset>
} = internal.readChunks

/**
 * @since 0.1.0
 * @category combinators
 */
export const awaitData: {
  (offset: number): (self: ReplayBuffer) => Effect.Effect<void>
  (self: ReplayBuffer, offset: number): Effect.Effect<void>
} = internal.awaitData

/**
 * @since 0.1.0
 * @category combinators
 */
export const fail: {
  (error: ProducerFailed): (self: ReplayBuffer) => Effect.Effect<boolean, StorageUnavailable>
  (self: ReplayBuffer, error: ProducerFailed): Effect.Effect<boolean, StorageUnavailable>
} = internal.fail

/**
 * @since 0.1.0
 * @category combinators
 */
export const endWith: {
  (exit: Exit.Exit<void, ProducerFailed>): (self: ReplayBuffer) => Effect.Effect<boolean, StorageUnavailable>
  (self: ReplayBuffer, exit: Exit.Exit<void, ProducerFailed>): Effect.Effect<boolean, StorageUnavailable>
} = internal.endWith

/**
 * Takes the buffer's writer lease for as long as the scope lives; see
 * {@link ReplayBuffer.acquireWriter}. The lease is a `Semaphore` with one
 * permit: a second producer fails with `WriterBusy` at once (or, with
 * `wait: true`, waits its turn), so two producers never interleave or end
 * each other's buffer. Holding it costs nothing per write.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayBuffer } from "@scrollback/core"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make()
 *   const writer = yield* ReplayBuffer.acquireWriter(buffer)
 *   yield* writer.write(new TextEncoder().encode("only me\n"))
 *   // Anyone else's write now fails with WriterBusy, and so does a second lease:
 *   const second = yield* Effect.scoped(Effect.either(ReplayBuffer.acquireWriter(buffer)))
 *   yield* writer.end
 *   return second // Either.left(WriterBusy)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const acquireWriter: {
  (options?: AcquireWriterOptions): (self: ReplayBuffer) => Effect.Effect<Writer, AcquireError, Scope.Scope>
  (self: ReplayBuffer, options?: AcquireWriterOptions): Effect.Effect<Writer, AcquireError, Scope.Scope>
} = internal.acquireWriter

/**
 * Runs `f` with the writer lease held, and releases it when `f` completes,
 * fails or is interrupted.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReplayBuffer } from "@scrollback/core"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make()
 *   yield* ReplayBuffer.withWriter(buffer, (writer) =>
 *     Effect.gen(function*() {
 *       yield* writer.write(new TextEncoder().encode("step 1\n"))
 *       yield* writer.write(new TextEncoder().encode("step 2\n"))
 *       yield* writer.end
 *     }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withWriter: {
  <A, E, R>(
    f: (writer: Writer) => Effect.Effect<A, E, R>,
    options?: AcquireWriterOptions
  ): (self: ReplayBuffer) => Effect.Effect<A, E | AcquireError, Exclude<R, Scope.Scope>>
  <A, E, R>(
    self: ReplayBuffer,
    f: (writer: Writer) => Effect.Effect<A, E, R>,
    options?: AcquireWriterOptions
  ): Effect.Effect<A, E | AcquireError, Exclude<R, Scope.Scope>>
} = internal.withWriter

/**
 * @since 0.1.0
 * @category getters
 */
export const total = (self: ReplayBuffer): Effect.Effect<number> => self.total

/**
 * @since 0.1.0
 * @category getters
 */
export const oldest = (self: ReplayBuffer): Effect.Effect<number> => self.oldest

/**
 * @since 0.1.0
 * @category combinators
 */
export const end = (self: ReplayBuffer): Effect.Effect<boolean, StorageUnavailable> => self.end

/**
 * @since 0.1.0
 * @category getters
 */
export const ended = (self: ReplayBuffer): Effect.Effect<Option.Option<Exit.Exit<void, ProducerFailed>>> => self.ended

/**
 * @since 0.1.0
 * @category combinators
 */
export const awaitEnd = (self: ReplayBuffer): Effect.Effect<void, ProducerFailed> => self.awaitEnd
