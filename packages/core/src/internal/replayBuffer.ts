import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Api from "../ReplayBuffer.js"
import { BufferClosed, InvalidCapacity, InvalidOffset, OffsetOverflow, ProducerFailed } from "../ReplayBufferError.js"
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

const randomEpoch = (): string => {
  const bytes = new Uint8Array(8)
  globalThis.crypto.getRandomValues(bytes)
  let out = ""
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0")
  return out
}

type WriteError = BufferClosed | OffsetOverflow

class ReplayBufferImpl implements Api.ReplayBuffer {
  readonly [TypeId]: Api.TypeId = TypeId
  readonly capacity: number
  readonly epoch: string
  private readonly log: SegmentLog
  private readonly signal = new Signal()
  private exit: Exit.Exit<void, ProducerFailed> | undefined = undefined

  constructor(capacity: number, epoch: string, total: number) {
    this.capacity = capacity
    this.epoch = epoch
    this.log = new SegmentLog(capacity, total)
  }

  pipe() {
    return pipeArguments(this, arguments)
  }

  // --- synchronous core: each call is one uninterrupted step, hence atomic ---

  readonly unsafeTotal = (): number => {
    return this.log.total
  }

  readonly unsafeOldest = (): number => {
    return this.log.oldest
  }

  readonly unsafeEnded = (): Option.Option<Exit.Exit<void, ProducerFailed>> => {
    return Option.fromNullable(this.exit)
  }

  readonly unsafeWrite = (bytes: Uint8Array): Exit.Exit<void, WriteError> => {
    const failure = this.refuse(bytes.length)
    if (failure !== undefined) return failure
    if (bytes.length === 0) return Exit.void
    this.log.append(bytes)
    this.signal.notify()
    return Exit.void
  }

  readonly unsafeWriteAll = (chunks: Iterable<Uint8Array>): Exit.Exit<void, WriteError> => {
    // One pass to size the batch, so an overflow fails before anything is written.
    const array = Array.isArray(chunks) ? chunks as ReadonlyArray<Uint8Array> : Array.from(chunks)
    let length = 0
    for (let i = 0; i < array.length; i++) length += array[i].length
    const failure = this.refuse(length)
    if (failure !== undefined) return failure
    if (length === 0) return Exit.void
    this.log.appendAll(array, length)
    this.signal.notify()
    return Exit.void
  }

  readonly unsafeRead = (offset: number, maxBytes: number): Api.ReadChunks => {
    const log = this.log
    const start = log.start(offset)
    const chunks = log.viewsFrom(start, maxBytes)
    let next = start
    for (let i = 0; i < chunks.length; i++) next += chunks[i].length
    return { offset: start, next, chunks, oldest: log.oldest, total: log.total, ended: this.unsafeEnded() }
  }

  readonly unsafeEnd = (exit: Exit.Exit<void, ProducerFailed>): boolean => {
    if (this.exit !== undefined) return false
    this.exit = normalize(exit)
    this.signal.notify()
    return true
  }

  private refuse(length: number): Exit.Exit<never, WriteError> | undefined {
    if (this.exit !== undefined) return Exit.fail(new BufferClosed({ total: this.log.total }))
    if (this.log.total + length > Number.MAX_SAFE_INTEGER) {
      return Exit.fail(new OffsetOverflow({ total: this.log.total, length }))
    }
    return undefined
  }

  // --- the Effect API ---

  readonly total: Effect.Effect<number> = Effect.sync(() => this.log.total)
  readonly oldest: Effect.Effect<number> = Effect.sync(() => this.log.oldest)
  readonly ended: Effect.Effect<Option.Option<Exit.Exit<void, ProducerFailed>>> = Effect.sync(() => this.unsafeEnded())

  readonly write = (bytes: Uint8Array): Effect.Effect<void, WriteError> => {
    return Effect.suspend(() => this.unsafeWrite(bytes))
  }

  readonly writeAll = (chunks: Iterable<Uint8Array>): Effect.Effect<void, WriteError> => {
    return Effect.suspend(() => this.unsafeWriteAll(chunks))
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

  readonly unsafeOnData = (offset: number, wake: () => void): () => void =>
    this.signal.register(() => this.exit !== undefined || this.log.total > offset, wake)

  readonly awaitData = (offset: number): Effect.Effect<void> => {
    return this.signal.waitUntil(() => this.exit !== undefined || this.log.total > offset)
  }

  readonly end: Effect.Effect<boolean> = Effect.sync(() => this.unsafeEnd(Exit.void))

  readonly fail = (error: ProducerFailed): Effect.Effect<boolean> => {
    return Effect.sync(() => this.unsafeEnd(Exit.fail(error)))
  }

  readonly endWith = (exit: Exit.Exit<void, ProducerFailed>): Effect.Effect<boolean> => {
    return Effect.sync(() => this.unsafeEnd(exit))
  }

  readonly awaitEnd: Effect.Effect<void, ProducerFailed> = Effect.suspend(() => {
    const self = this
    return Effect.flatMap(
      this.signal.waitUntil(() => self.exit !== undefined),
      () => self.exit!
    )
  })

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

/**
 * Keeps the end a buffer records to "ended" or "failed with a `ProducerFailed`":
 * an `Exit` that failed by a defect or an interruption becomes a
 * `ProducerFailed` that says so, so followers and transports always see a
 * typed end they can report (an SSE `end` event, a WebSocket end message).
 */
const normalize = (exit: Exit.Exit<void, ProducerFailed>): Exit.Exit<void, ProducerFailed> => {
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

const validCapacity = (capacity: number): boolean => Number.isSafeInteger(capacity) && capacity > 0

/** @internal */
export const unsafeMake = (capacity: number, total = 0): Api.ReplayBuffer =>
  new ReplayBufferImpl(capacity, randomEpoch(), total)

/** @internal */
export const make = (options?: Api.Options): Effect.Effect<Api.ReplayBuffer, InvalidCapacity> =>
  Effect.suspend(() => {
    const capacity = options?.capacity ?? DEFAULT_CAPACITY
    if (!validCapacity(capacity)) return Exit.fail(new InvalidCapacity({ capacity }))
    return Exit.succeed(unsafeMake(capacity))
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
  (error: ProducerFailed) => (self: Api.ReplayBuffer) => Effect.Effect<boolean>,
  (self: Api.ReplayBuffer, error: ProducerFailed) => Effect.Effect<boolean>
>(2, (self, error) => self.fail(error))

/** @internal */
export const endWith = dual<
  (exit: Exit.Exit<void, ProducerFailed>) => (self: Api.ReplayBuffer) => Effect.Effect<boolean>,
  (self: Api.ReplayBuffer, exit: Exit.Exit<void, ProducerFailed>) => Effect.Effect<boolean>
>(2, (self, exit) => self.endWith(exit))
