/**
 * Writing a `Stream` of bytes into a `ReplayBuffer`: a `Sink` that turns each
 * chunk the stream delivers into one atomic batch, and `write`, which also
 * ends the buffer when the stream ends.
 *
 * @since 0.1.0
 */
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type * as Effect from "effect/Effect"
import type * as Sink from "effect/Sink"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/sink.js"

/**
 * The errors of a sink into `T`: a plain buffer's writes can meet
 * `WriterBusy` (a producer holds its lease), a writer's can meet `LeaseLost`.
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorOf<T> = T extends ReplayBuffer.ReplayBuffer ? ReplayBuffer.WriteError : ReplayBuffer.WriterError

/**
 * Why `write` can fail, besides the stream's own errors: taking the lease
 * (`WriterBusy`, `BufferClosed` if the buffer had already ended,
 * `StorageUnavailable`) and writing through it (`BufferClosed`,
 * `OffsetOverflow`, `LeaseLost`, `StorageUnavailable`).
 *
 * @since 0.1.0
 * @category models
 */
export type WriteError = ReplayBuffer.AcquireError | ReplayBuffer.WriterError

/**
 * @since 0.1.0
 * @category models
 */
export interface WriteOptions {
  /**
   * Default `true`: the buffer ends with the stream. It ends normally when
   * the stream completes, and is failed with a `ProducerFailed` when the
   * stream fails, dies or is interrupted (reason `"interrupted"`), so
   * followers never hang.
   *
   * With `false` the buffer is left open whatever happens, so that one
   * buffer can outlive several producers; the stream's failure still
   * reaches the caller.
   */
  readonly end?: boolean | undefined
  /**
   * Default `false`: fail with `WriterBusy` at once when another producer
   * holds the buffer's writer lease. `true`: wait for the lease.
   */
  readonly wait?: boolean | undefined
}

/**
 * A sink that writes every chunk the stream delivers into `target` as ONE
 * `writeAll` batch: readers see the whole chunk or none of it, and the
 * Effect overhead is paid once per chunk, not once per array. It never ends
 * the buffer: the sink completes when the stream does, and fails with
 * `BufferClosed` if the buffer was ended meanwhile (or `OffsetOverflow`).
 *
 * `target` is a buffer (plain writes: they fail with `WriterBusy` while a
 * producer holds the buffer's writer lease) or the `Writer` of a lease you
 * hold (see `ReplayBuffer.acquireWriter`).
 *
 * The buffer copies the bytes, so the stream may reuse its arrays. The sink
 * never waits for followers. The bytes are counted by the storage itself
 * (`ReplayMetrics.bytesWritten`, `bytesEvicted`), as every write is.
 *
 * @example
 * ```ts
 * import { ReplayBuffer } from "@scrollback/core"
 * import { ReplaySink } from "@scrollback/platform"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
 *   yield* Stream.make("hello ", "world").pipe(
 *     Stream.encodeText,
 *     Stream.run(ReplaySink.make(buffer))
 *   )
 *   const { bytes } = yield* buffer.readFrom(0)
 *   console.log(new TextDecoder().decode(bytes)) // "hello world"; the buffer is still open
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <T extends ReplayBuffer.ReplayBuffer | ReplayBuffer.Writer>(
  target: T
) => Sink.Sink<void, Uint8Array, never, ErrorOf<T>> = internal.make

/**
 * Runs `stream` into `buffer` with {@link make} while holding the buffer's
 * writer lease for the whole run, then, unless `end: false`, ends the buffer
 * the way the stream ended. A second producer on the same buffer fails with
 * `WriterBusy` at once (or waits, with `wait: true`), before it writes or
 * ends anything: two producers never interleave or end each other's buffer.
 *
 * | the stream                    | the buffer                                         | `write` returns |
 * |-------------------------------|----------------------------------------------------|-----------------|
 * | completes                     | `end`                                              | success         |
 * | fails with `e`                | `fail(ProducerFailed { reason: e's message })`     | fails with `e`  |
 * | fails with a `ProducerFailed` | failed with that same error (exit code kept)       | fails with it   |
 * | dies                          | `fail(ProducerFailed { reason: "defect: …" })`     | dies            |
 * | is interrupted                | `fail(ProducerFailed { reason: "interrupted" })`   | interrupted     |
 *
 * With `end: false` the buffer is left open in every case. If the buffer had
 * already ended, `write` fails with `BufferClosed` before running the stream
 * (an empty stream included); if someone else ends it during the run, the
 * next chunk fails with `BufferClosed` and the first end stands.
 *
 * @example
 * ```ts
 * import { ReplayBuffer } from "@scrollback/core"
 * import { ReplaySink, ReplayStream } from "@scrollback/platform"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make()
 *   const follower = yield* ReplayStream.follow(buffer).pipe(Stream.decodeText(), Stream.mkString, Effect.fork)
 *   yield* Stream.make("a", "b", "c").pipe(Stream.encodeText, ReplaySink.write(buffer))
 *   return yield* follower // "abc": the follower ended because the buffer did
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const write: {
  (
    buffer: ReplayBuffer.ReplayBuffer,
    options?: WriteOptions
  ): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Effect.Effect<void, E | WriteError, R>
  <E, R>(
    self: Stream.Stream<Uint8Array, E, R>,
    buffer: ReplayBuffer.ReplayBuffer,
    options?: WriteOptions
  ): Effect.Effect<void, E | WriteError, R>
} = internal.write
