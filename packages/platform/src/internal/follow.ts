import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { InvalidOffset, OffsetEvicted, type ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as Metrics from "../ReplayMetrics.js"
import type * as Api from "../ReplayStream.js"

/** @internal */
export const DEFAULT_MAX_CHUNK_BYTES = 256 * 1024

const NO_TAGS: ReadonlyArray<never> = []

type FollowError = InvalidOffset | OffsetEvicted | ProducerFailed

const validate = (options: Api.FollowOptions | undefined): InvalidOffset | undefined => {
  const from = options?.from
  if (typeof from === "number" && !Number.isInteger(from)) return new InvalidOffset({ offset: from })
  if (from !== undefined && typeof from !== "number" && from !== "oldest" && from !== "live") {
    return new InvalidOffset({ offset: from })
  }
  return undefined
}

/**
 * The follower: a cursor into the buffer's shared storage. Each pull reads
 * zero-copy views from the cursor in one synchronous step; when caught up it
 * parks on the buffer's wake-up signal (`awaitData`), which costs O(1), and
 * re-reads when woken. There is no snapshot/subscribe split, so nothing can
 * fall between replay and live, and no per-follower queue, so an idle
 * follower holds a few numbers and a callback.
 *
 * `emit` turns one read into output elements (views for the bytes variant,
 * frames for the frames variant).
 */
const cursorStream = <A>(
  buffer: ReplayBuffer.ReplayBuffer,
  options: Api.FollowOptions | undefined,
  emit: (read: ReplayBuffer.ReadChunks) => Chunk.Chunk<A>,
  gapElement: ((gap: Api.Gap) => A) | undefined,
  keepAlive?: KeepAlive<A>
): Stream.Stream<A, FollowError> =>
  Stream.suspend(() => {
    const invalid = validate(options)
    if (invalid !== undefined) return Stream.fail(invalid)
    const policy = options?.onEvicted ?? "fail"
    const maxBytes = options?.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      return Stream.die(new RangeError(`maxChunkBytes must be a positive safe integer, got ${maxBytes}`))
    }
    const onGap = options?.onGap

    // Resolved when the stream starts, not when it is built, so a stream value can be run many times.
    const from = options?.from ?? "oldest"
    let cursor = from === "oldest"
      ? buffer.unsafeOldest()
      : from === "live"
      ? buffer.unsafeTotal()
      : Math.min(Math.max(from, 0), buffer.unsafeTotal())

    const loop: Channel.Channel<Chunk.Chunk<A>, unknown, FollowError, unknown, void, unknown> = Channel.suspend(() => {
      const read = buffer.unsafeRead(cursor, maxBytes)
      Metrics.followerLag.unsafeUpdate(read.total - cursor, NO_TAGS)
      if (read.offset > cursor) {
        // The next byte this follower needs was evicted.
        const gap: Api.Gap = { _tag: "Gap", requested: cursor, oldest: read.offset }
        if (policy === "fail") {
          return Channel.fail(new OffsetEvicted({ requested: cursor, oldest: read.offset }))
        }
        Metrics.gaps.unsafeUpdate(1, NO_TAGS)
        cursor = read.offset
        const announce = gapElement === undefined ? Channel.void : Channel.write(Chunk.of(gapElement(gap)))
        const notify = onGap === undefined ? announce : Channel.zipRight(Channel.fromEffect(onGap(gap)), announce)
        return Channel.zipRight(notify, loop)
      }
      if (read.chunks.length > 0) {
        cursor = read.next
        return Channel.zipRight(Channel.write(emit(read)), loop)
      }
      if (read.ended._tag === "Some") {
        const exit = read.ended.value
        return Exit.isSuccess(exit) ? Channel.void : Channel.failCause(exit.cause)
      }
      if (keepAlive === undefined) return Channel.zipRight(Channel.fromEffect(buffer.awaitData(cursor)), loop)
      return Channel.flatMap(
        Channel.fromEffect(awaitDataOrTimeout(buffer, cursor, keepAlive.millis)),
        (timedOut) => timedOut ? Channel.zipRight(Channel.write(Chunk.of(keepAlive.element)), loop) : loop
      )
    })

    return Stream.fromChannel(Channel.suspend(() => {
      Metrics.activeFollowers.unsafeModify(1, NO_TAGS)
      return Channel.ensuring(loop, stopped)
    }))
  })

/** @internal */
export interface KeepAlive<A> {
  readonly millis: number
  readonly element: A
}

/**
 * Waits for data at `offset` (or the end), or `millis` of idleness, whichever
 * comes first: `true` when the time ran out. One `Effect.async` holding both
 * the buffer's wake-up and a timer: racing two effects would fork fibers on
 * every wait, which dominated the cost of an SSE follower.
 */
const awaitDataOrTimeout = (buffer: ReplayBuffer.ReplayBuffer, offset: number, millis: number) =>
  Effect.async<boolean>((resume) => {
    let timer: ReturnType<typeof setTimeout> | undefined = undefined
    let woken = false
    const cancel = buffer.unsafeOnData(offset, () => {
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

const stopped = Effect.sync(() => Metrics.activeFollowers.unsafeModify(-1, NO_TAGS))

/** @internal */
export const follow = (
  buffer: ReplayBuffer.ReplayBuffer,
  options?: Api.FollowOptions
): Stream.Stream<Uint8Array, FollowError> =>
  cursorStream(buffer, options, (read) => Chunk.unsafeFromArray(read.chunks), undefined)

/** @internal */
export const frames = (
  buffer: ReplayBuffer.ReplayBuffer,
  options?: Api.FollowOptions
): Stream.Stream<Api.Frame, FollowError> => framesWith<Api.Frame>(buffer, options, undefined)

/**
 * `frames` that also emits `keepAlive.element` whenever it waited
 * `keepAlive.millis` for data (the SSE `: ping`), without a second stream.
 *
 * @internal
 */
export const framesWith = <A = never>(
  buffer: ReplayBuffer.ReplayBuffer,
  options: Api.FollowOptions | undefined,
  keepAlive: KeepAlive<A> | undefined
): Stream.Stream<Api.Frame | A, FollowError> =>
  cursorStream<Api.Frame | A>(buffer, options, (read) => {
    const out: Array<Api.Frame> = new Array(read.chunks.length)
    let offset = read.offset
    for (let i = 0; i < read.chunks.length; i++) {
      const bytes = read.chunks[i]
      out[i] = { _tag: "Data", offset, bytes }
      offset += bytes.length
    }
    return Chunk.unsafeFromArray<Api.Frame | A>(out)
  }, (gap) =>
    gap, keepAlive)
