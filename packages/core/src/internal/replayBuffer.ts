import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import type * as Api from "../ReplayBuffer.js"
import {
  BufferClosed,
  InvalidCapacity,
  InvalidOffset,
  LeaseLost,
  OffsetOverflow,
  ProducerFailed,
  type StorageUnavailable,
  WriterBusy
} from "../ReplayBufferError.js"
import type * as ReplicaApi from "../ReplayReplica.js"
import { SegmentLog } from "./segmentLog.js"
import { Signal } from "./signal.js"

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@scrollback/core/ReplayBuffer") as Api.TypeId

/** @internal */
export const DEFAULT_CAPACITY = 1_048_576

/** @internal */
export const DEFAULT_MAX_READ_BYTES = 1_048_576

/** @internal */
export const tag: Context.Tag<Api.ReplayBuffer, Api.ReplayBuffer> = Context.GenericTag<Api.ReplayBuffer>(
  "@scrollback/core/ReplayBuffer"
)

/** @internal */
export const isReplayBuffer = (u: unknown): u is Api.ReplayBuffer => Predicate.hasProperty(u, TypeId)

/** @internal */
export const randomEpoch = (): string => {
  const bytes = new Uint8Array(8)
  globalThis.crypto.getRandomValues(bytes)
  let out = ""
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0")
  return out
}

type WriteError = Api.WriteError
type WriterError = Api.WriterError
type EndExit = Exit.Exit<void, ProducerFailed>

/**
 * A buffer: its storage, its end, its wake-up signal and its writer lease.
 *
 * Reads and in-memory writes are synchronous steps (atomic on the event loop,
 * no lock). A buffer with an `engine` is a replica: its bytes and its end are
 * applied by the engine (`unsafeApply`, `unsafeEnd`), and its writes, ends and
 * leases go to the engine, whose log of record is elsewhere.
 *
 * The synchronous members are not part of the public interface: the cursor
 * (`ReplayCursor`) and the registry reach them through {@link coreOf}.
 *
 * @internal
 */
export class ReplayBufferImpl implements Api.ReplayBuffer {
  readonly [TypeId]: Api.TypeId = TypeId
  readonly log: SegmentLog
  readonly signal = new Signal()
  exit: EndExit | undefined = undefined
  /** Followers running now (streams and connections), counted by `ReplayMetrics.unsafeFollowerStarted`/`Stopped`. */
  followers = 0
  /** The writer lease: one permit, held by a fiber for as long as a producer's scope lives. */
  private readonly lease = Effect.unsafeMakeSemaphore(1)
  /** The token of the writer that holds the lease (in-memory engine). */
  private holder: object | undefined = undefined

  constructor(
    readonly capacity: number,
    readonly epoch: string,
    start: number,
    private readonly engine: ReplicaApi.ReplicaEngine | undefined
  ) {
    this.log = new SegmentLog(capacity, start)
  }

  pipe() {
    return pipeArguments(this, arguments)
  }

  // --- synchronous core: each call is one uninterrupted step, hence atomic ---

  unsafeEnded(): Option.Option<EndExit> {
    return Option.fromNullable(this.exit)
  }

  /** Why a write of `length` bytes by `token` (`undefined`: a plain write) is refused, if it is. */
  private refuse(length: number, token: object | undefined): Exit.Exit<never, WriteError> | undefined {
    if (this.exit !== undefined) return Exit.fail(new BufferClosed({ total: this.log.total }))
    if (this.holder !== undefined && this.holder !== token) return Exit.fail(new WriterBusy({ epoch: this.epoch }))
    if (this.log.total + length > Number.MAX_SAFE_INTEGER) {
      return Exit.fail(new OffsetOverflow({ total: this.log.total, length }))
    }
    return undefined
  }

  /** Appends in memory; `token` is the writer's lease token, `undefined` for a plain write. */
  unsafeWrite(bytes: Uint8Array, token: object | undefined): Exit.Exit<void, WriteError> {
    const refused = this.refuse(bytes.length, token)
    if (refused !== undefined) return refused
    if (bytes.length === 0) return Exit.void
    this.log.append(bytes)
    this.signal.notify()
    return Exit.void
  }

  /** Appends a batch in memory, atomically: sized first, so a refusal comes before anything is written. */
  unsafeWriteAll(chunks: ReadonlyArray<Uint8Array>, token: object | undefined): Exit.Exit<void, WriteError> {
    let length = 0
    for (let i = 0; i < chunks.length; i++) length += chunks[i].length
    const refused = this.refuse(length, token)
    if (refused !== undefined) return refused
    if (length === 0) return Exit.void
    this.log.appendAll(chunks, length)
    this.signal.notify()
    return Exit.void
  }

  unsafeRead(offset: number, maxBytes: number): Api.ReadChunks {
    const log = this.log
    const start = log.start(offset)
    const chunks = log.viewsFrom(start, maxBytes)
    let next = start
    for (let i = 0; i < chunks.length; i++) next += chunks[i].length
    return { offset: start, next, chunks, oldest: log.oldest, total: log.total, ended: this.unsafeEnded() }
  }

  unsafeEnd(exit: EndExit): boolean {
    if (this.exit !== undefined) return false
    this.exit = normalize(exit)
    this.signal.notify()
    return true
  }

  /** Calls `wake` once a byte at `offset` or later exists or the buffer has ended; returns the cancel. */
  unsafeOnData(offset: number, wake: () => void): () => void {
    return this.signal.register(() => this.exit !== undefined || this.log.total > offset, wake)
  }

  /**
   * Applies bytes the log of record accepted at `offset` (replicas). What is
   * already applied is skipped, so re-applying is harmless; a range that
   * starts past `total` makes the log jump, and the bytes in between read as
   * evicted.
   */
  unsafeApply(offset: number, chunks: ReadonlyArray<Uint8Array>): void {
    if (this.exit !== undefined) return
    let length = 0
    for (let i = 0; i < chunks.length; i++) length += chunks[i].length
    const log = this.log
    if (offset + length <= log.total) return
    if (offset + length > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`a replica was given bytes past 2^53 - 1 (${offset} + ${length})`)
    }
    if (offset > log.total) log.jump(offset)
    let skip = log.total - offset
    if (skip === 0) {
      log.appendAll(chunks, length)
    } else {
      const rest: Array<Uint8Array> = []
      for (const chunk of chunks) {
        if (skip >= chunk.length) {
          skip -= chunk.length
        } else {
          rest.push(skip === 0 ? chunk : chunk.subarray(skip))
          skip = 0
        }
      }
      log.appendAll(rest, offset + length - log.total)
    }
    this.signal.notify()
  }

  // --- the Effect API ---

  readonly total: Effect.Effect<number> = Effect.sync(() => this.log.total)
  readonly oldest: Effect.Effect<number> = Effect.sync(() => this.log.oldest)
  readonly ended: Effect.Effect<Option.Option<EndExit>> = Effect.sync(() => this.unsafeEnded())

  readonly write = (bytes: Uint8Array): Effect.Effect<void, WriteError> => {
    const engine = this.engine
    if (engine !== undefined) return plainWrite(engine, [bytes])
    return Effect.suspend(() => this.unsafeWrite(bytes, undefined))
  }

  readonly writeAll = (chunks: Iterable<Uint8Array>): Effect.Effect<void, WriteError> => {
    return Effect.suspend(() => {
      const array = Array.isArray(chunks) ? chunks as ReadonlyArray<Uint8Array> : Array.from(chunks)
      const engine = this.engine
      return engine === undefined ? this.unsafeWriteAll(array, undefined) : plainWrite(engine, array)
    })
  }

  readonly readFrom = (offset: number): Effect.Effect<Api.ReadResult, InvalidOffset> => {
    return Effect.suspend(() => {
      if (!Number.isInteger(offset)) return Exit.fail(new InvalidOffset({ offset }))
      const start = this.log.start(offset)
      return Exit.succeed({ bytes: this.log.copyFrom(start), offset: start })
    })
  }

  readonly readChunks = (
    offset: number,
    options?: Api.ReadChunksOptions
  ): Effect.Effect<Api.ReadChunks, InvalidOffset> => {
    return Effect.suspend(() => {
      if (!Number.isInteger(offset)) return Exit.fail(new InvalidOffset({ offset }))
      const maxBytes = options?.maxBytes ?? DEFAULT_MAX_READ_BYTES
      if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
        return Exit.die(new RangeError(`maxBytes must be a positive safe integer, got ${maxBytes}`))
      }
      return Exit.succeed(this.unsafeRead(offset, maxBytes))
    })
  }

  readonly awaitData = (offset: number): Effect.Effect<void> => {
    return this.signal.waitUntil(() => this.exit !== undefined || this.log.total > offset)
  }

  readonly endWith = (exit: EndExit): Effect.Effect<boolean, StorageUnavailable> => {
    const engine = this.engine
    if (engine !== undefined) return Effect.catchTag(engine.end(exit, undefined), "LeaseLost", Effect.die)
    return Effect.sync(() => this.unsafeEnd(exit))
  }

  readonly end: Effect.Effect<boolean, StorageUnavailable> = Effect.suspend(() => this.endWith(Exit.void))

  readonly fail = (error: ProducerFailed): Effect.Effect<boolean, StorageUnavailable> => {
    return this.endWith(Exit.fail(error))
  }

  readonly awaitEnd: Effect.Effect<void, ProducerFailed> = Effect.suspend(() => {
    const self = this
    return Effect.flatMap(
      this.signal.waitUntil(() => self.exit !== undefined),
      () => self.exit!
    )
  })

  // --- the writer lease ---

  readonly acquireWriter = (
    options?: Api.AcquireWriterOptions
  ): Effect.Effect<Api.Writer, Api.AcquireError, Scope.Scope> => {
    // The span covers taking the lease (waiting for it, with `wait: true`), not the producer's life.
    return Effect.withSpan(
      Effect.suspend((): Effect.Effect<Api.Writer, Api.AcquireError, Scope.Scope> => {
        if (this.exit !== undefined) return Exit.fail(new BufferClosed({ total: this.log.total }))
        const engine = this.engine
        if (engine !== undefined) {
          return Effect.map(engine.acquireWriter(options ?? {}), (token) => new WriterImpl(this, token))
        }
        return this.acquireLocal(options?.wait === true)
      }),
      "ReplayBuffer.acquireWriter",
      {
        attributes: {
          "scrollback.epoch": this.epoch,
          "scrollback.wait": options?.wait === true,
          "scrollback.engine": this.engine === undefined ? "memory" : "replica"
        },
        captureStackTrace: false
      }
    )
  }

  /**
   * Takes the one permit of the lease in a fiber that holds it until the
   * caller's scope closes (or the caller is interrupted while waiting): a
   * producer's lease costs one parked fiber for its life and nothing per write.
   */
  private acquireLocal(wait: boolean): Effect.Effect<Api.Writer, WriterBusy, Scope.Scope> {
    const token = {}
    return Effect.flatMap(Deferred.make<void, WriterBusy>(), (ready) => {
      const hold = Effect.sync(() => {
        this.holder = token
      }).pipe(
        Effect.zipRight(Deferred.succeed(ready, undefined)),
        Effect.zipRight(Effect.never),
        Effect.ensuring(Effect.sync(() => {
          if (this.holder === token) this.holder = undefined
        }))
      )
      const holder = wait
        ? this.lease.withPermits(1)(hold)
        : Effect.zipRight(
          this.lease.withPermitsIfAvailable(1)(hold),
          Deferred.fail(ready, new WriterBusy({ epoch: this.epoch }))
        )
      return Effect.flatMap(Effect.forkScoped(Effect.interruptible(holder)), (fiber) =>
        Deferred.await(ready).pipe(
          Effect.onInterrupt(() => Fiber.interrupt(fiber)),
          Effect.as(new WriterImpl(this, token))
        ))
    })
  }

  /** Writes through a writer: only while its lease is current. */
  writeAs(chunks: ReadonlyArray<Uint8Array>, token: object): Effect.Effect<void, WriterError> {
    const engine = this.engine
    if (engine !== undefined) return Effect.catchTag(engine.writeAll(chunks, token), "WriterBusy", Effect.die)
    return Effect.suspend((): Exit.Exit<void, WriterError> => {
      if (this.holder !== token) return Exit.fail(new LeaseLost({ reason: "released" }))
      // With the lease held by this token, the only refusals left are BufferClosed and OffsetOverflow.
      return this.unsafeWriteAll(chunks, token) as Exit.Exit<void, WriterError>
    })
  }

  /** Ends through a writer: only while its lease is current. */
  endAs(exit: EndExit, token: object): Effect.Effect<boolean, LeaseLost | StorageUnavailable> {
    const engine = this.engine
    if (engine !== undefined) return engine.end(exit, token)
    return Effect.suspend(() =>
      this.holder === token ? Exit.succeed(this.unsafeEnd(exit)) : Exit.fail(new LeaseLost({ reason: "released" }))
    )
  }

  toJSON() {
    return {
      _id: "@scrollback/core/ReplayBuffer",
      epoch: this.epoch,
      capacity: this.capacity,
      total: this.log.total,
      oldest: this.log.oldest,
      ended: this.exit !== undefined
    }
  }
}

class WriterImpl implements Api.Writer {
  constructor(readonly buffer: ReplayBufferImpl, private readonly token: object) {}

  readonly write = (bytes: Uint8Array): Effect.Effect<void, WriterError> => this.buffer.writeAs([bytes], this.token)

  readonly writeAll = (chunks: Iterable<Uint8Array>): Effect.Effect<void, WriterError> =>
    Effect.suspend(() =>
      this.buffer.writeAs(
        Array.isArray(chunks) ? chunks as ReadonlyArray<Uint8Array> : Array.from(chunks),
        this.token
      )
    )

  readonly endWith = (exit: EndExit): Effect.Effect<boolean, LeaseLost | StorageUnavailable> =>
    this.buffer.endAs(exit, this.token)

  readonly end: Effect.Effect<boolean, LeaseLost | StorageUnavailable> = Effect.suspend(() => this.endWith(Exit.void))

  readonly fail = (error: ProducerFailed): Effect.Effect<boolean, LeaseLost | StorageUnavailable> =>
    this.endWith(Exit.fail(error))
}

/**
 * A plain write to a replica's engine: without a lease token, the engine
 * refuses with `WriterBusy` when a writer holds the lease; `LeaseLost` is
 * reserved for writes with a token, so it is a defect here.
 */
const plainWrite = (
  engine: ReplicaApi.ReplicaEngine,
  chunks: ReadonlyArray<Uint8Array>
): Effect.Effect<void, WriteError> => Effect.catchTag(engine.writeAll(chunks, undefined), "LeaseLost", Effect.die)

/**
 * The buffer behind a `ReplayBuffer` value, with its synchronous members.
 * Every buffer is made by `make` or `makeReplica`; anything else is a defect.
 *
 * @internal
 */
export const coreOf = (buffer: Api.ReplayBuffer): ReplayBufferImpl => {
  if (buffer instanceof ReplayBufferImpl) return buffer
  throw new TypeError("a ReplayBuffer must be made by ReplayBuffer.make or ReplayBuffer.makeReplica")
}

/**
 * Keeps the end a buffer records to "ended" or "failed with a `ProducerFailed`":
 * an `Exit` that failed by a defect or an interruption becomes a
 * `ProducerFailed` that says so, so followers and transports always see a
 * typed end they can report (an SSE `end` event, a WebSocket end message).
 */
const normalize = (exit: EndExit): EndExit => {
  if (Exit.isSuccess(exit)) return exit
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return Exit.fail(failure.value)
  const defect = Cause.dieOption(exit.cause)
  if (Option.isSome(defect)) {
    const value = defect.value
    return Exit.fail(
      new ProducerFailed({ reason: `defect: ${value instanceof Error ? value.message : String(value)}` })
    )
  }
  return Exit.fail(new ProducerFailed({ reason: "interrupted" }))
}

const validCapacity = (capacity: unknown): capacity is number =>
  typeof capacity === "number" && Number.isSafeInteger(capacity) && capacity > 0

/** @internal `start`: the offset the log starts at (tests near 2^53). */
export const unsafeMake = (capacity: number, start = 0): ReplayBufferImpl =>
  new ReplayBufferImpl(capacity, randomEpoch(), start, undefined)

/** @internal */
export const make = (options?: Api.Options): Effect.Effect<Api.ReplayBuffer, InvalidCapacity> =>
  Effect.suspend(() => {
    const capacity = options?.capacity ?? DEFAULT_CAPACITY
    if (!validCapacity(capacity)) return Exit.fail(new InvalidCapacity({ capacity }))
    return Exit.succeed(unsafeMake(capacity))
  })

/** @internal */
export const makeReplica = (
  options: ReplicaApi.ReplicaOptions
): Effect.Effect<ReplicaApi.Replica, InvalidCapacity | InvalidOffset> =>
  Effect.suspend((): Effect.Effect<ReplicaApi.Replica, InvalidCapacity | InvalidOffset> => {
    const { capacity, engine, epoch, start } = options
    if (!validCapacity(capacity)) return Exit.fail(new InvalidCapacity({ capacity }))
    if (!Number.isSafeInteger(start) || start < 0) return Exit.fail(new InvalidOffset({ offset: start }))
    if (typeof epoch !== "string" || epoch.length === 0) {
      return Exit.die(new TypeError("a replica's epoch must be a non-empty string"))
    }
    const buffer = new ReplayBufferImpl(capacity, epoch, start, engine)
    return Exit.succeed<ReplicaApi.Replica>({
      buffer,
      unsafeApply: (offset, chunks) => buffer.unsafeApply(offset, chunks),
      unsafeApplyEnd: (exit) => buffer.unsafeEnd(exit)
    })
  })

/** @internal */
export const layer = (options?: Api.Options): Layer.Layer<Api.ReplayBuffer, InvalidCapacity> =>
  Layer.effect(tag, make(options))

/** @internal */
export const layerConfig = (
  config: Config.Config.Wrap<Api.Options>
): Layer.Layer<Api.ReplayBuffer, InvalidCapacity | ConfigError.ConfigError> =>
  Layer.effect(tag, Effect.flatMap(Config.unwrap(config), make))

// --- data-first / data-last module functions ---

/** @internal */
export const write = dual<
  (bytes: Uint8Array) => (self: Api.ReplayBuffer) => Effect.Effect<void, WriteError>,
  (self: Api.ReplayBuffer, bytes: Uint8Array) => Effect.Effect<void, WriteError>
>(2, (self, bytes) => self.write(bytes))

/** @internal */
export const writeAll = dual<
  (chunks: Iterable<Uint8Array>) => (self: Api.ReplayBuffer) => Effect.Effect<void, WriteError>,
  (self: Api.ReplayBuffer, chunks: Iterable<Uint8Array>) => Effect.Effect<void, WriteError>
>(2, (self, chunks) => self.writeAll(chunks))

/** @internal */
export const readFrom = dual<
  (offset: number) => (self: Api.ReplayBuffer) => Effect.Effect<Api.ReadResult, InvalidOffset>,
  (self: Api.ReplayBuffer, offset: number) => Effect.Effect<Api.ReadResult, InvalidOffset>
>(2, (self, offset) => self.readFrom(offset))

/** @internal */
export const readChunks = dual<
  (
    offset: number,
    options?: Api.ReadChunksOptions
  ) => (self: Api.ReplayBuffer) => Effect.Effect<Api.ReadChunks, InvalidOffset>,
  (
    self: Api.ReplayBuffer,
    offset: number,
    options?: Api.ReadChunksOptions
  ) => Effect.Effect<Api.ReadChunks, InvalidOffset>
>((args) => isReplayBuffer(args[0]), (self, offset, options) => self.readChunks(offset, options))

/** @internal */
export const awaitData = dual<
  (offset: number) => (self: Api.ReplayBuffer) => Effect.Effect<void>,
  (self: Api.ReplayBuffer, offset: number) => Effect.Effect<void>
>(2, (self, offset) => self.awaitData(offset))

/** @internal */
export const fail = dual<
  (error: ProducerFailed) => (self: Api.ReplayBuffer) => Effect.Effect<boolean, StorageUnavailable>,
  (self: Api.ReplayBuffer, error: ProducerFailed) => Effect.Effect<boolean, StorageUnavailable>
>(2, (self, error) => self.fail(error))

/** @internal */
export const endWith = dual<
  (exit: EndExit) => (self: Api.ReplayBuffer) => Effect.Effect<boolean, StorageUnavailable>,
  (self: Api.ReplayBuffer, exit: EndExit) => Effect.Effect<boolean, StorageUnavailable>
>(2, (self, exit) => self.endWith(exit))

/** @internal */
export const acquireWriter = dual<
  (
    options?: Api.AcquireWriterOptions
  ) => (self: Api.ReplayBuffer) => Effect.Effect<Api.Writer, Api.AcquireError, Scope.Scope>,
  (
    self: Api.ReplayBuffer,
    options?: Api.AcquireWriterOptions
  ) => Effect.Effect<Api.Writer, Api.AcquireError, Scope.Scope>
>((args) => isReplayBuffer(args[0]), (self, options) => self.acquireWriter(options))

/** @internal */
export const withWriter = dual<
  <A, E, R>(
    f: (writer: Api.Writer) => Effect.Effect<A, E, R>,
    options?: Api.AcquireWriterOptions
  ) => (self: Api.ReplayBuffer) => Effect.Effect<A, E | Api.AcquireError, Exclude<R, Scope.Scope>>,
  <A, E, R>(
    self: Api.ReplayBuffer,
    f: (writer: Api.Writer) => Effect.Effect<A, E, R>,
    options?: Api.AcquireWriterOptions
  ) => Effect.Effect<A, E | Api.AcquireError, Exclude<R, Scope.Scope>>
>(
  (args) => isReplayBuffer(args[0]),
  (self, f, options) => Effect.scoped(Effect.flatMap(self.acquireWriter(options), f))
)
