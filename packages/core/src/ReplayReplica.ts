/**
 * Replicas: local buffers that mirror a log of record kept elsewhere, for
 * engines such as Redis. Followers and transports read a replica's local
 * memory exactly as they read an in-memory buffer (zero-copy, one
 * synchronous step); its engine applies the bytes and the end its log of
 * record accepted, and receives its writes, ends and writer leases.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/replayBuffer.js"
import type { AcquireWriterOptions, ReplayBuffer } from "./ReplayBuffer.js"
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
 * What a replica's engine does with the writes, ends and leases of its
 * buffer. Its log of record is elsewhere; it applies what that log accepted
 * to the local replica (through {@link Replica}), so readers keep reading
 * local memory.
 *
 * `lease` is `undefined` for a plain write or end, and otherwise the token
 * `acquireWriter` returned. `writeAll` must apply the accepted bytes to the
 * replica before it succeeds, so a producer reads its own writes.
 * `acquireWriter` fails with `BufferClosed` when the log of record has
 * ended although the replica has not applied that end yet.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplicaEngine {
  readonly writeAll: (
    chunks: ReadonlyArray<Uint8Array>,
    lease: object | undefined
  ) => Effect.Effect<void, BufferClosed | OffsetOverflow | WriterBusy | LeaseLost | StorageUnavailable>
  readonly end: (
    exit: Exit.Exit<void, ProducerFailed>,
    lease: object | undefined
  ) => Effect.Effect<boolean, LeaseLost | StorageUnavailable>
  readonly acquireWriter: (
    options: AcquireWriterOptions
  ) => Effect.Effect<object, BufferClosed | WriterBusy | StorageUnavailable, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ReplicaOptions {
  /** Bytes retained: a positive safe integer. */
  readonly capacity: number
  /** The epoch of the log of record: the replica shows the same one. */
  readonly epoch: string
  /** The offset the local log starts at (its `total` and `oldest`): nothing below it is retained here. */
  readonly start: number
  readonly engine: ReplicaEngine
}

/**
 * A local buffer that mirrors a log of record kept elsewhere: `buffer` is
 * what followers and transports use (local memory, zero-copy, unchanged);
 * the engine feeds it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Replica {
  readonly buffer: ReplayBuffer
  /**
   * Applies bytes the log of record accepted at `offset`. Idempotent: what
   * is already applied is skipped. A range that starts past the replica's
   * `total` makes it jump: the bytes in between read as evicted, so its
   * followers see a gap (or `OffsetEvicted`), never a silent skip. Ignored
   * once the replica has ended. Synchronous: call it from one step.
   */
  readonly unsafeApply: (offset: number, chunks: ReadonlyArray<Uint8Array>) => void
  /** Applies the end the log of record recorded; `true` if it ended the replica (the first end wins). */
  readonly unsafeApplyEnd: (exit: Exit.Exit<void, ProducerFailed>) => boolean
}

/**
 * Makes a replica: a local buffer with the given epoch, capacity and starting
 * offset, whose bytes and end are applied by its engine and whose writes,
 * ends and leases go to the engine. This is how an engine whose log of
 * record is remote (Redis) serves every follower and transport from local
 * memory. Fails with `InvalidCapacity` or, for a `start` that is not a
 * non-negative safe integer, `InvalidOffset`.
 *
 * @example
 * ```ts
 * import { Effect, Exit } from "effect"
 * import { ReplayReplica } from "@scrollback/core"
 *
 * // An engine that accepts every write at once (a real one would send it to its log of record first).
 * const program = Effect.gen(function*() {
 *   let replica: ReplayReplica.Replica | undefined
 *   replica = yield* ReplayReplica.make({
 *     capacity: 1024,
 *     epoch: "0123456789abcdef",
 *     start: 4096,
 *     engine: {
 *       writeAll: (chunks) =>
 *         Effect.gen(function*() {
 *           const total = yield* replica!.buffer.total
 *           replica!.unsafeApply(total, chunks)
 *         }),
 *       end: (exit) => Effect.sync(() => replica!.unsafeApplyEnd(exit)),
 *       acquireWriter: () => Effect.succeed({})
 *     }
 *   })
 *   yield* replica.buffer.write(new TextEncoder().encode("hello"))
 *   const { offset } = yield* replica.buffer.readFrom(0) // 4096: the replica starts there
 *   yield* replica.buffer.endWith(Exit.void)
 *   return offset
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: ReplicaOptions) => Effect.Effect<Replica, InvalidCapacity | InvalidOffset> =
  internal.makeReplica
