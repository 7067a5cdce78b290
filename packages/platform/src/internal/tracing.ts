import type { OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Tracer from "effect/Tracer"
import type * as HttpApi from "../ReplayHttp.js"
import type * as Api from "../ReplayTracing.js"

/** Effect's built-in tracer, as the default runtime has it: spans it makes are seen by no one. */
let builtIn: Tracer.Tracer | undefined = undefined

/** @internal */
export const isTracing: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => {
  builtIn ??= Effect.runSync(Effect.tracer)
  return tracer !== builtIn
})

/** @internal */
export const formatFrom = (from: ReplayCursor.From | undefined): string => {
  if (from === undefined) return "oldest"
  if (typeof from === "object") return `${from.epoch}:${from.offset}`
  return String(from)
}

/** @internal */
export const requestedFrom = (request: HttpApi.ReadRequest): string => {
  const lastEventId = request.transport === "sse" ? request.headers["last-event-id"] : undefined
  if (lastEventId !== undefined && lastEventId !== "") return lastEventId.slice(0, 160)
  const offset = request.query["offset"]
  if (offset === undefined) return "oldest"
  const epoch = request.query["epoch"]
  return (epoch === undefined ? offset : `${epoch}:${offset}`).slice(0, 160)
}

/** @internal */
export const startFollower = (options: Api.FollowerSpanOptions): Effect.Effect<Tracer.Span> => {
  const { cursor } = options
  const epoch = cursor.buffer.epoch
  const attributes: Record<string, unknown> = {
    "scrollback.transport": options.transport,
    "scrollback.epoch": epoch,
    "scrollback.from": options.from ?? "oldest",
    "scrollback.start": `${epoch}:${cursor.start}`,
    "scrollback.oldest": cursor.oldest,
    "scrollback.total": cursor.total,
    "scrollback.on_evicted": cursor.onEvicted
  }
  if (options.key !== undefined) attributes["scrollback.key"] = options.key
  return Effect.makeSpan(options.name, {
    attributes,
    kind: options.transport === "stream" ? "internal" : "server",
    captureStackTrace: false
  })
}

/** @internal */
export const unsafeGap = (span: Tracer.Span, clock: Clock.Clock, gap: ReplayCursor.Gap): void => {
  span.event("scrollback.gap", clock.unsafeCurrentTimeNanos(), {
    "scrollback.requested": gap.requested,
    "scrollback.oldest": gap.oldest
  })
}

/** @internal */
export const endOf = (exit: Exit.Exit<unknown, OffsetEvicted | ProducerFailed>): Api.FollowerEnd => {
  if (Exit.isSuccess(exit)) return "ended"
  const cause = exit.cause
  if (cause._tag === "Fail") return cause.error._tag === "OffsetEvicted" ? "evicted" : "failed"
  if (cause._tag === "Interrupt") return "interrupted"
  // A defect, or several causes: the interruption wins when there is one.
  return Exit.isInterrupted(exit) ? "interrupted" : "failed"
}

/** @internal */
export const unsafeEnd = (
  span: Tracer.Span,
  clock: Clock.Clock,
  end: Api.FollowerEnd,
  epoch: string,
  position: number | undefined,
  gaps: number,
  exit: Exit.Exit<unknown, unknown>
): void => {
  span.attribute("scrollback.end", end)
  if (position !== undefined) span.attribute("scrollback.position", `${epoch}:${position}`)
  span.attribute("scrollback.gaps", gaps)
  span.end(clock.unsafeCurrentTimeNanos(), exit)
}
