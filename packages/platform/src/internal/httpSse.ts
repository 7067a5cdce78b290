import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as ReplayStream from "../ReplayStream.js"
import { framesOf } from "./follow.js"
import { endJson, helloOf } from "./httpShared.js"
import { encodeBytesEvent, encodeComment, encodeEvent, MAX_EVENT_BYTES } from "./sse.js"

/** The keep-alive element a follower emits when it waited `keepAliveMillis` for data. */
const PING = { _tag: "Ping" } as const
const PING_COMMENT = encodeComment("ping")

/**
 * Turns one pull of frames into SSE events: consecutive data frames are
 * coalesced into events of at most {@link MAX_EVENT_BYTES} raw bytes (64 KiB
 * of base64), larger frames are split; each event's id is
 * `EPOCH:NEXT`, the offset just past its bytes. A gap becomes a `gap` event
 * whose id is `EPOCH:OLDEST`.
 *
 * @internal
 */
export const encodeFrames = (
  epoch: string,
  frames: Chunk.Chunk<ReplayStream.Frame | typeof PING>
): Chunk.Chunk<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let views: Array<Uint8Array> = []
  let length = 0
  let next = 0
  const flush = () => {
    if (length === 0) return
    out.push(encodeBytesEvent(`${epoch}:${next}`, views, length))
    views = []
    length = 0
  }
  for (const frame of frames) {
    if (frame._tag === "Ping") {
      flush()
      out.push(PING_COMMENT)
      continue
    }
    if (frame._tag === "Gap") {
      flush()
      out.push(encodeEvent({
        event: "gap",
        id: `${epoch}:${frame.oldest}`,
        data: JSON.stringify({ requested: frame.requested, oldest: frame.oldest })
      }))
      continue
    }
    let bytes = frame.bytes
    let offset = frame.offset
    while (bytes.length > 0) {
      const take = Math.min(bytes.length, MAX_EVENT_BYTES - length)
      views.push(take === bytes.length ? bytes : bytes.subarray(0, take))
      length += take
      offset += take
      next = offset
      bytes = bytes.subarray(take)
      if (length === MAX_EVENT_BYTES) flush()
    }
  }
  flush()
  return Chunk.unsafeFromArray(out)
}

/** @internal */
export interface SseOptions {
  readonly cursor: ReplayCursor.ReplayCursor
  readonly retryMillis: number
  readonly keepAliveMillis: number
  readonly release: () => void
}

/**
 * The SSE response: `retry:`, the `hello` event, the bytes from the cursor's
 * start (replay then live), gaps, and the `end` event, with `: ping`
 * comments whenever nothing was sent for `keepAliveMillis`. Under `"fail"`, a
 * follower that falls behind eviction ends the response without an `end`
 * event: the client reconnects with its last id and gets `410`.
 *
 * @internal
 */
export const sseResponse = (options: SseOptions): HttpServerResponse.HttpServerResponse => {
  const { cursor } = options
  const epoch = cursor.buffer.epoch
  const hello = helloOf(cursor)
  const head = encodeEvent({
    retry: options.retryMillis,
    event: "hello",
    id: `${epoch}:${hello.offset}`,
    data: JSON.stringify(hello)
  })
  // The end's id is where the bytes stopped: the cursor's position once it is done.
  const endEvent = (json: Record<string, unknown>) =>
    encodeEvent({ event: "end", id: `${epoch}:${cursor.position}`, data: JSON.stringify(json) })

  // The keep-alive rides in the follower itself: it emits `PING` whenever it waited `keepAliveMillis` for data.
  // (Merging a separate ping stream forked fibers on every element and cost ~5x the CPU per event.)
  const body: Stream.Stream<Uint8Array> = framesOf(cursor, { millis: options.keepAliveMillis, element: PING }).pipe(
    Stream.mapChunks((frames) => encodeFrames(epoch, frames)),
    Stream.concat(Stream.sync(() => endEvent(endJson({ status: "ended" })))),
    // Only a producer's failure is an end; an eviction under "fail" just closes the response.
    Stream.catchAll((error) =>
      error._tag === "ProducerFailed"
        ? Stream.sync(() => endEvent(endJson({ status: "failed", reason: error.reason, exitCode: error.exitCode })))
        : Stream.empty
    ),
    Stream.prepend(Chunk.of(head)),
    Stream.ensuring(Effect.sync(options.release))
  )

  return HttpServerResponse.stream(body, {
    contentType: "text/event-stream",
    headers: {
      "cache-control": "no-cache",
      "x-accel-buffering": "no"
    }
  })
}
