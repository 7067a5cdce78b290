import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { BufferClosed, ProducerFailed } from "@scrollback/core/ReplayBufferError"
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

/**
 * Writes one chunk as one atomic `writeAll` batch. The storage counts the
 * bytes (`ReplayMetrics.bytesWritten`/`bytesEvicted`): nothing is counted here.
 *
 * @internal
 */
export const writeChunk = <T extends Target>(
  target: T,
  chunk: Chunk.Chunk<Uint8Array>
): Effect.Effect<void, Api.ErrorOf<T>> =>
  target.writeAll(Chunk.toReadonlyArray(chunk)) as Effect.Effect<void, Api.ErrorOf<T>>

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
        (ended): Effect.Effect<A, E | ReplayBuffer.WriterError> => {
          if (Exit.isFailure(exit)) return exit
          if (Exit.isFailure(ended)) return Exit.failCause(ended.cause)
          // Someone else ended the buffer first: that end stands, and this producer's own end did not happen.
          // `Exit.fail`, not `Effect.fail`: the error is not wrapped with the current span (`ReplaySink.write`).
          return ended.value
            ? exit
            : Effect.flatMap(writer.buffer.total, (total) => Exit.fail(new BufferClosed({ total })))
        }
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
    }, { wait: options?.wait }).pipe(
      Effect.withSpan("ReplaySink.write", {
        attributes: { "scrollback.epoch": buffer.epoch, "scrollback.end_buffer": options?.end !== false },
        captureStackTrace: false
      })
    )
)
