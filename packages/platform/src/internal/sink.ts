import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as Metrics from "@scrollback/core/ReplayMetrics"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type * as Api from "../ReplaySink.js"

/** Where a producer writes: a buffer (plain writes) or the writer of a lease it holds. */
type Target = ReplayBuffer.ReplayBuffer | ReplayBuffer.Writer

const bufferOf = (target: Target): ReplayBuffer.ReplayBuffer =>
  ReplayBuffer.isReplayBuffer(target) ? target : target.buffer

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
export const writeChunk = <T extends Target>(
  target: T,
  chunk: Chunk.Chunk<Uint8Array>
): Effect.Effect<void, Api.ErrorOf<T>> =>
  Effect.suspend(() => {
    const buffer = bufferOf(target)
    const array = Chunk.toReadonlyArray(chunk)
    let length = 0
    for (let i = 0; i < array.length; i++) length += array[i].length
    const write = target.writeAll(array) as Effect.Effect<void, Api.ErrorOf<T>>
    if (length === 0) return write
    return Effect.zipRight(
      write,
      // `oldest` read in the same step as the update, so concurrent writers never count an eviction twice.
      Effect.flatMap(buffer.oldest, (oldest) =>
        Effect.sync(() => {
          Metrics.bytesWritten.unsafeUpdate(length, NO_TAGS)
          const before = counted.get(buffer) ?? 0
          if (oldest > before) {
            Metrics.bytesEvicted.unsafeUpdate(oldest - before, NO_TAGS)
            counted.set(buffer, oldest)
          }
        }))
    )
  })

/** @internal */
export const make = <T extends Target>(target: T): Sink.Sink<void, Uint8Array, never, Api.ErrorOf<T>> =>
  Sink.forEachChunk((chunk: Chunk.Chunk<Uint8Array>) => writeChunk(target, chunk))

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

/**
 * Runs `run` and then ends through `writer` the way it ended, whatever
 * happens (interruption included). A failure to end (the storage went away)
 * is reported when `run` itself succeeded.
 *
 * @internal
 */
export const endingWith = <A, E, R>(
  writer: ReplayBuffer.Writer,
  run: Effect.Effect<A, E, R>,
  result: (exit: Exit.Exit<A, E>) => Exit.Exit<void, ProducerFailed> = endExit
): Effect.Effect<A, E | ReplayBuffer.WriterError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.exit(restore(run)), (exit) =>
      Effect.flatMap(
        Effect.exit(writer.endWith(result(exit))),
        (ended): Exit.Exit<A, E | ReplayBuffer.WriterError> =>
          Exit.isFailure(exit) || Exit.isSuccess(ended) ? exit : Exit.failCause(ended.cause)
      ))
  )

/** @internal */
export const write = dual<
  (
    buffer: ReplayBuffer.ReplayBuffer,
    options?: Api.WriteOptions
  ) => <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Effect.Effect<void, E | Api.WriteError, R>,
  <E, R>(
    self: Stream.Stream<Uint8Array, E, R>,
    buffer: ReplayBuffer.ReplayBuffer,
    options?: Api.WriteOptions
  ) => Effect.Effect<void, E | Api.WriteError, R>
>(
  (args) => Predicate.hasProperty(args[0], Stream.StreamTypeId) && !ReplayBuffer.isReplayBuffer(args[0]),
  <E, R>(
    self: Stream.Stream<Uint8Array, E, R>,
    buffer: ReplayBuffer.ReplayBuffer,
    options?: Api.WriteOptions
  ): Effect.Effect<void, E | Api.WriteError, R> =>
    // The lease is held for the whole run: a second producer fails WriterBusy at once, before writing or ending.
    ReplayBuffer.withWriter(buffer, (writer) => {
      const run = Stream.run(self, make(writer))
      return options?.end === false ? run : endingWith(writer, run)
    }, { wait: options?.wait })
)
