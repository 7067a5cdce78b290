import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { type BufferClosed, type OffsetOverflow, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as Metrics from "../ReplayMetrics.js"
import type * as Api from "../ReplaySink.js"

type WriteError = BufferClosed | OffsetOverflow

const NO_TAGS: ReadonlyArray<never> = []

/**
 * The highest `oldest` already counted in `bytesEvicted`, per buffer. Each
 * write counts only the move past it, in one synchronous step, so writers
 * running concurrently on one buffer never count an eviction twice.
 */
const counted = new WeakMap<ReplayBuffer.ReplayBuffer, number>()

/**
 * Writes one chunk as one atomic `writeAll` batch and updates the metrics.
 *
 * @internal
 */
export const writeChunk = (
  buffer: ReplayBuffer.ReplayBuffer,
  chunk: Chunk.Chunk<Uint8Array>
): Effect.Effect<void, WriteError> =>
  Effect.suspend(() => {
    const array = Chunk.toReadonlyArray(chunk)
    let length = 0
    for (let i = 0; i < array.length; i++) length += array[i].length
    if (!counted.has(buffer)) counted.set(buffer, buffer.unsafeOldest())
    return Effect.map(buffer.writeAll(array), () => {
      if (length === 0) return
      Metrics.bytesWritten.unsafeUpdate(length, NO_TAGS)
      const oldest = buffer.unsafeOldest()
      const before = counted.get(buffer) ?? oldest
      if (oldest > before) {
        Metrics.bytesEvicted.unsafeUpdate(oldest - before, NO_TAGS)
        counted.set(buffer, oldest)
      }
    })
  })

/** @internal */
export const make = (buffer: ReplayBuffer.ReplayBuffer): Sink.Sink<void, Uint8Array, never, WriteError> =>
  Sink.forEachChunk((chunk: Chunk.Chunk<Uint8Array>) => writeChunk(buffer, chunk))

const describe = (u: unknown): string => {
  if (u instanceof Error && u.message.length > 0) return u.message
  if (typeof u === "string") return u
  if (Predicate.hasProperty(u, "_tag") && typeof u._tag === "string") return u._tag
  return String(u)
}

/**
 * The `ProducerFailed` a buffer is failed with when its producer stopped on
 * `cause`: a `ProducerFailed` failure is passed on as it is (so piping one
 * buffer's follower into another keeps the exit code), any other failure
 * becomes its message, a defect `"defect: <message>"`, and an interruption
 * `"interrupted"`.
 *
 * @internal
 */
export const producerFailed = (cause: Cause.Cause<unknown>): ProducerFailed => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    return error instanceof ProducerFailed ? error : new ProducerFailed({ reason: describe(error) })
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) return new ProducerFailed({ reason: `defect: ${describe(defect.value)}` })
  return new ProducerFailed({ reason: "interrupted" })
}

/** @internal */
export const endExit = <A, E>(exit: Exit.Exit<A, E>): Exit.Exit<void, ProducerFailed> =>
  Exit.isSuccess(exit) ? Exit.void : Exit.fail(producerFailed(exit.cause))

/** @internal */
export const write = dual<
  (
    buffer: ReplayBuffer.ReplayBuffer,
    options?: Api.WriteOptions
  ) => <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Effect.Effect<void, E | WriteError, R>,
  <E, R>(
    self: Stream.Stream<Uint8Array, E, R>,
    buffer: ReplayBuffer.ReplayBuffer,
    options?: Api.WriteOptions
  ) => Effect.Effect<void, E | WriteError, R>
>(
  (args) => Predicate.hasProperty(args[0], Stream.StreamTypeId) && !ReplayBuffer.isReplayBuffer(args[0]),
  <E, R>(
    self: Stream.Stream<Uint8Array, E, R>,
    buffer: ReplayBuffer.ReplayBuffer,
    options?: Api.WriteOptions
  ): Effect.Effect<void, E | WriteError, R> => {
    const run = Stream.run(self, make(buffer))
    if (options?.end === false) return run
    return Effect.onExit(run, (exit) => buffer.endWith(endExit(exit)))
  }
)
