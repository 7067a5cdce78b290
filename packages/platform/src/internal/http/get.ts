import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as ReplayCursor from "@scrollback/core/ReplayCursor"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Api from "../../ReplayHttp.js"
import * as HttpError from "../../ReplayHttpError.js"
import * as Protocol from "../protocol.js"
import { tag, whenClosing } from "./config.js"
import { decodeGetQuery, prepareRead, readRequest, refusal, startRefusal, takeSlot } from "./read.js"

const concat = (chunks: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  // Views of storage that never changes: one chunk goes out as is.
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(length)
  let pos = 0
  for (const chunk of chunks) {
    out.set(chunk, pos)
    pos += chunk.length
  }
  return out
}

/**
 * A plain GET of the bytes from an offset, or a long-poll (`wait`): the bytes
 * of one cursor step (at most `limit`), with the `Scrollback-*` headers. A
 * long-poll that has to wait holds a connection slot while it waits.
 *
 * @internal
 */
export const get = (
  request: HttpServerRequest.HttpServerRequest,
  key: string
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Api.Refusal,
  Api.ReplayHttp | ReplayRegistry.ReplayRegistry | Api.Authorization | Scope.Scope
> =>
  Effect.gen(function*() {
    const http = yield* tag
    const { options } = http
    const read = readRequest(request, "get", key)
    // The limits are checked before anything else looks at the buffer.
    const query = decodeGetQuery(read.query)
    if (Either.isRight(query) && query.right.limit !== undefined && query.right.limit > options.maxLimit) {
      return yield* Effect.fail(
        refusal(new HttpError.LimitTooLarge({ limit: query.right.limit, max: options.maxLimit }))
      )
    }
    const plan = yield* prepareRead(read)
    const { buffer, cursor } = plan
    const waitMillis = Math.min(Either.isRight(query) ? query.right.wait ?? 0 : 0, options.longPollMaxWaitMillis)

    // At most one gap comes before data: after it the cursor stands at `oldest`, which is retained.
    let gap = undefined as ReplayCursor.Gap | undefined
    const take = (step: ReplayCursor.Step): ReplayCursor.Step => {
      if (step._tag !== "Gap") return step
      gap = step
      return ReplayCursor.unsafeNext(cursor)
    }
    let step = take(ReplayCursor.unsafeNext(cursor))
    if (step._tag === "Pending" && waitMillis > 0) {
      const release = yield* Either.match(takeSlot(http, buffer, "get"), {
        onLeft: Effect.fail,
        onRight: Effect.succeed
      })
      yield* Effect.addFinalizer(() => Effect.sync(release))
      // The wait ends early when the routes close: the answer is what there is (nothing yet).
      const ready = yield* ReplayCursor.next(cursor).pipe(
        Effect.raceFirst(Effect.as(Effect.sleep(waitMillis), undefined)),
        Effect.raceFirst(Effect.as(whenClosing, undefined))
      )
      if (ready !== undefined) step = take(ready)
    }
    // Under "fail", a read that fell behind eviction while it waited is refused like one that started there.
    if (step._tag === "Done" && Exit.isFailure(step.exit)) {
      const evicted = Cause.failureOption(step.exit.cause)
      if (Option.isSome(evicted) && evicted.value._tag === "OffsetEvicted") {
        return yield* Effect.fail(startRefusal(evicted.value))
      }
    }
    const state = yield* Effect.orDie(buffer.readChunks(Number.MAX_SAFE_INTEGER, { maxBytes: 1 }))
    const range = step._tag === "Data"
      ? { offset: step.offset, next: step.next, chunks: step.chunks }
      : { offset: cursor.position, next: cursor.position, chunks: [] }
    // Ended only once every byte was returned: a reader that got `ended` knows it has everything.
    const end = range.next === state.total && Option.isSome(state.ended)
      ? Protocol.endOf(state.ended.value)
      : undefined
    const H = Protocol.Headers
    const headers: Record<string, string> = {
      "cache-control": "no-store",
      [H.epoch]: buffer.epoch,
      [H.offset]: String(range.offset),
      [H.nextOffset]: String(range.next),
      [H.oldest]: String(state.oldest),
      [H.total]: String(state.total),
      [H.ended]: end === undefined ? "false" : end.status
    }
    if (end !== undefined && end.status === "failed" && end.exitCode !== undefined) {
      headers[H.exitCode] = String(end.exitCode)
    }
    const skipped = gap as ReplayCursor.Gap | undefined
    if (skipped !== undefined) headers[H.gap] = `${skipped.requested}-${skipped.oldest}`
    return HttpServerResponse.uint8Array(concat(range.chunks, range.next - range.offset), {
      contentType: "application/octet-stream",
      headers
    })
  })
