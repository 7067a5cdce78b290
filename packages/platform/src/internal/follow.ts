import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as Metrics from "@scrollback/core/ReplayMetrics"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type * as Api from "../ReplayStream.js"
import * as Tracing from "./tracing.js"

/** @internal */
export const DEFAULT_MAX_CHUNK_BYTES = ReplayCursor.DEFAULT_MAX_CHUNK_BYTES

type FollowError = ReplayCursor.StartError | ProducerFailed

/**
 * Who follows, for the metrics (`transport`) and the follower's span (its
 * name, the key when known, and what was asked for).
 *
 * @internal
 */
export interface Follower {
  readonly transport: Metrics.FollowerTransport
  readonly span: string
  readonly key?: string | undefined
  readonly from?: string | undefined
}

/** @internal */
export interface KeepAlive<A> {
  readonly millis: number
  readonly element: A
}

/** Parks until the cursor's next step is ready; interruption cancels the registration. */
const awaitCursor = (cursor: ReplayCursor.ReplayCursor): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const cancel = ReplayCursor.unsafeAwait(cursor, () => resume(Effect.void))
    return Effect.sync(cancel)
  })

/**
 * Waits until the cursor's next step is ready, or `millis` of idleness,
 * whichever comes first: `true` when the time ran out. One `Effect.async`
 * holding both the wake-up and a timer: racing two effects would fork fibers
 * on every wait, which dominated the cost of an SSE follower.
 */
const awaitCursorOrTimeout = (cursor: ReplayCursor.ReplayCursor, millis: number) =>
  Effect.async<boolean>((resume) => {
    let timer: ReturnType<typeof setTimeout> | undefined = undefined
    let woken = false
    const cancel = ReplayCursor.unsafeAwait(cursor, () => {
      woken = true
      if (timer !== undefined) clearTimeout(timer)
      resume(Effect.succeed(false))
    })
    if (woken) return
    timer = setTimeout(() => {
      cancel()
      resume(Effect.succeed(true))
    }, millis)
    return Effect.sync(() => {
      cancel()
      clearTimeout(timer)
    })
  })

/**
 * A Stream over a cursor (`ReplayCursor`, where every rule of a follower
 * lives): each pull takes one synchronous step — zero-copy views, a gap or
 * the end — and, when caught up, parks on the buffer's wake-up signal (O(1))
 * until the next step is ready. No per-follower queue: an idle follower
 * holds a cursor and a callback.
 *
 * `emit` turns a data step into output elements (views for the bytes
 * variant, frames for the frames variant).
 *
 * While it runs it counts in `ReplayMetrics.activeFollowers{transport}` and
 * its buffer's followers, and its span (`ReplayTracing`) shows its start,
 * its gaps and how it ended: nothing per read but a lag observation.
 *
 * @internal
 */
export const fromCursor = <A>(
  cursor: ReplayCursor.ReplayCursor,
  emit: (step: ReplayCursor.Data) => Chunk.Chunk<A>,
  gapElement: ((gap: Api.Gap) => A) | undefined,
  onGap: ((gap: Api.Gap) => Effect.Effect<void>) | undefined,
  follower: Follower,
  keepAlive?: KeepAlive<A>
): Stream.Stream<A, ProducerFailed | OffsetEvicted> => {
  const transport = follower.transport
  let span: Tracer.Span | undefined = undefined
  let clock: Clock.Clock | undefined = undefined
  let gapCount = 0
  const loop: Channel.Channel<Chunk.Chunk<A>, unknown, ProducerFailed | OffsetEvicted, unknown, void, unknown> = Channel
    .suspend(() => {
      const step = ReplayCursor.unsafeNext(cursor)
      switch (step._tag) {
        case "Data": {
          Metrics.unsafeLag(step.total - step.offset)
          return Channel.zipRight(Channel.write(emit(step)), loop)
        }
        case "Gap": {
          gapCount++
          Metrics.unsafeGap(transport)
          if (span !== undefined && clock !== undefined) Tracing.unsafeGap(span, clock, step)
          const announce = gapElement === undefined ? Channel.void : Channel.write(Chunk.of(gapElement(step)))
          const notify = onGap === undefined ? announce : Channel.zipRight(Channel.fromEffect(onGap(step)), announce)
          return Channel.zipRight(notify, loop)
        }
        case "Done":
          return Exit.isSuccess(step.exit) ? Channel.void : Channel.failCause(step.exit.cause)
        case "Pending": {
          if (keepAlive === undefined) return Channel.zipRight(Channel.fromEffect(awaitCursor(cursor)), loop)
          return Channel.flatMap(
            Channel.fromEffect(awaitCursorOrTimeout(cursor, keepAlive.millis)),
            (timedOut) => timedOut ? Channel.zipRight(Channel.write(Chunk.of(keepAlive.element)), loop) : loop
          )
        }
      }
    })
  const start = Effect.flatMap(Effect.clock, (c) =>
    Effect.map(
      Tracing.startFollower({ name: follower.span, transport, cursor, key: follower.key, from: follower.from }),
      (opened) => {
        clock = c
        span = opened
        Metrics.unsafeFollowerStarted(cursor.buffer, transport)
        return opened
      }
    ))
  return Stream.fromChannel(Channel.acquireUseRelease(start, () => loop, (opened, exit) =>
    Effect.sync(() => {
      Metrics.unsafeFollowerStopped(cursor.buffer, transport)
      Tracing.unsafeEnd(
        opened,
        clock!,
        Tracing.endOf(exit),
        cursor.buffer.epoch,
        cursor.position,
        gapCount,
        exit
      )
    })))
}

const cursorStream = <A>(
  buffer: ReplayBuffer.ReplayBuffer,
  options: Api.FollowOptions | undefined,
  emit: (step: ReplayCursor.Data) => Chunk.Chunk<A>,
  gapElement: ((gap: Api.Gap) => A) | undefined,
  span: string
): Stream.Stream<A, FollowError> =>
  Stream.unwrap(Effect.map(
    // Made when the stream starts, not when it is built, so a stream value can be run many times.
    ReplayCursor.make(buffer, {
      from: options?.from,
      onEvicted: options?.onEvicted,
      maxChunkBytes: options?.maxChunkBytes
    }),
    (cursor) =>
      fromCursor(cursor, emit, gapElement, options?.onGap, {
        transport: "stream",
        span,
        from: Tracing.formatFrom(options?.from)
      })
  ))

/** Data steps as frames: one per view, each with its offset. @internal */
export const dataFrames = <A = never>(step: ReplayCursor.Data): Chunk.Chunk<Api.Frame | A> => {
  const out: Array<Api.Frame> = new Array(step.chunks.length)
  let offset = step.offset
  for (let i = 0; i < step.chunks.length; i++) {
    const bytes = step.chunks[i]
    out[i] = { _tag: "Data", offset, bytes }
    offset += bytes.length
  }
  return Chunk.unsafeFromArray<Api.Frame | A>(out)
}

const asGap = <A>(gap: Api.Gap): Api.Frame | A => gap

/** @internal */
export const follow = (
  buffer: ReplayBuffer.ReplayBuffer,
  options?: Api.FollowOptions
): Stream.Stream<Uint8Array, FollowError> =>
  cursorStream(
    buffer,
    options,
    (step) => Chunk.unsafeFromArray(step.chunks as Array<Uint8Array>),
    undefined,
    "ReplayStream.follow"
  )

/** @internal */
export const frames = (
  buffer: ReplayBuffer.ReplayBuffer,
  options?: Api.FollowOptions
): Stream.Stream<Api.Frame, FollowError> =>
  cursorStream<Api.Frame>(buffer, options, dataFrames, asGap, "ReplayStream.frames")

/** @internal */
export const framesOf = <A = never>(
  cursor: ReplayCursor.ReplayCursor,
  follower: Follower,
  keepAlive?: KeepAlive<A>
): Stream.Stream<Api.Frame | A, ProducerFailed | OffsetEvicted> =>
  fromCursor<Api.Frame | A>(cursor, dataFrames, asGap, undefined, follower, keepAlive)
