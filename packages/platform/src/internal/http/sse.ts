import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Api from "../../ReplayHttp.js"
import { type Follower, fromCursor } from "../follow.js"
import * as Protocol from "../protocol.js"
import { requestedFrom } from "../tracing.js"
import { Closing, tag } from "./config.js"
import { prepareRead, readRequest } from "./read.js"

const PING = { _tag: "Ping" } as const

type Element = ReplayCursor.Data | ReplayCursor.Gap | typeof PING

const asStep = (step: ReplayCursor.Data): Chunk.Chunk<Element> => Chunk.of<Element>(step)
const asGap = (gap: ReplayCursor.Gap): Element => gap

/** The SSE headers: the stream is not cached, and not buffered by proxies that honour `X-Accel-Buffering`. @internal */
export const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no"
} as const

/**
 * The SSE body for a plan: `retry:` and the `hello`, the bytes from the
 * cursor's start (replay then live) as base64 events of at most 48 KiB, gaps,
 * `: ping` whenever nothing was sent for `keepAliveMillis`, and the `end`
 * event. Under `"fail"`, a follower that falls behind eviction ends the
 * response without an `end` event: the client reconnects with its last id and
 * gets `410`. A Stream per connection: the portable path (on Node,
 * `@scrollback/platform-node` serves SSE without one).
 *
 * @internal
 */
export const sseBody = (
  plan: Api.ReadPlan,
  options: {
    readonly retryMillis: number
    readonly keepAliveMillis: number
    /** Ends the response (without an end event: the buffer did not end) when it completes. */
    readonly closing?: Effect.Effect<void> | undefined
  },
  follower: Follower
): Stream.Stream<Uint8Array> => {
  const { cursor, hello } = plan
  const epoch = hello.epoch
  return fromCursor<Element>(cursor, asStep, asGap, undefined, follower, {
    millis: options.keepAliveMillis,
    element: PING
  }).pipe(
    Stream.mapChunks((elements) => {
      const out: Array<Uint8Array> = []
      for (const element of elements) {
        if (element._tag === "Ping") out.push(Protocol.ssePing)
        else if (element._tag === "Gap") out.push(Protocol.sseGap(epoch, element))
        else out.push(Protocol.sseDataEvents(epoch, element))
      }
      return Chunk.unsafeFromArray(out)
    }),
    // The end's id is where the bytes stopped: the cursor's position once it is done.
    Stream.concat(Stream.sync(() => Protocol.sseEnd(epoch, cursor.position, { status: "ended" }))),
    // Only a producer's failure is an end; an eviction under "fail" just closes the response.
    Stream.catchAll((error) =>
      error._tag === "ProducerFailed"
        ? Stream.sync(() =>
          Protocol.sseEnd(
            epoch,
            cursor.position,
            error.exitCode === undefined
              ? { status: "failed", reason: error.reason }
              : { status: "failed", reason: error.reason, exitCode: error.exitCode }
          )
        )
        : Stream.empty
    ),
    options.closing === undefined ? identity : Stream.interruptWhen(options.closing),
    Stream.prepend(Chunk.of(Protocol.sseHello(hello, options.retryMillis))),
    Stream.ensuring(Effect.sync(plan.release))
  )
}

/** `GET {prefix}/{key}/sse`. @internal */
export const sse = (
  request: HttpServerRequest.HttpServerRequest,
  key: string
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Api.Refusal,
  Api.ReplayHttp | ReplayRegistry.ReplayRegistry | Api.Authorization | Scope.Scope
> =>
  Effect.gen(function*() {
    const { options } = yield* tag
    const read = readRequest(request, "sse", key)
    const plan = yield* prepareRead(read)
    if (plan.atEnd) return HttpServerResponse.empty({ status: 204, headers: { "cache-control": "no-store" } })
    // Released with the request's scope too, should the response never be streamed.
    yield* Effect.addFinalizer(() => Effect.sync(plan.release))
    return HttpServerResponse.stream(
      sseBody(plan, {
        retryMillis: options.sseRetryMillis,
        keepAliveMillis: options.keepAliveMillis,
        closing: yield* Effect.serviceOption(Closing).pipe(
          Effect.map((closing) => closing._tag === "Some" ? Deferred.await(closing.value) : undefined)
        )
      }, {
        transport: "sse",
        span: "ReplayHttp.sse",
        key,
        from: requestedFrom(read)
      }),
      { headers: SSE_HEADERS }
    )
  })
