/**
 * How followers and connections appear in a tracer: one span per follower
 * (a `ReplayStream`) and per streaming HTTP connection, from its start to its
 * end, with where it started and how it ended. Nothing is traced per write
 * or per read.
 *
 * | span | made by |
 * |---|---|
 * | `ReplayStream.follow`, `ReplayStream.frames` | each run of those streams |
 * | `ReplayHttp.sse`, `ReplayHttp.ws` | each SSE / WebSocket connection that follows (`ReplayHttp.routes`, and `@scrollback/platform-node`'s fan-out) |
 *
 * Attributes at the start: `scrollback.transport` (`stream`, `sse`, `ws`),
 * `scrollback.key` (HTTP), `scrollback.epoch`, `scrollback.from` (what was
 * asked: `oldest`, `live`, an offset or `EPOCH:OFFSET`), `scrollback.start`
 * (the resume position it started at, `EPOCH:OFFSET`), `scrollback.oldest`
 * and `scrollback.total` (the buffer's, then), `scrollback.on_evicted`. One
 * `scrollback.gap` event per gap (`scrollback.requested`,
 * `scrollback.oldest`). At the end: `scrollback.end` (a {@link FollowerEnd}),
 * `scrollback.position` (`EPOCH:OFFSET` it stopped at) and `scrollback.gaps`;
 * the span's exit fails for `failed` and `evicted`, is interrupted for
 * `interrupted`, and succeeds otherwise.
 *
 * The functions here are for adapters that serve followers without
 * `ReplayStream` (the Node fan-out): they open the span in an Effect and end
 * it from plain code, with no fiber per connection.
 *
 * @since 0.1.0
 */
import type { OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import type * as ReplayMetrics from "@scrollback/core/ReplayMetrics"
import type * as Clock from "effect/Clock"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Tracer from "effect/Tracer"
import * as internal from "./internal/tracing.js"
import type * as ReplayHttp from "./ReplayHttp.js"

/**
 * How a follower ended:
 *
 * - `ended`: it delivered everything up to the buffer's normal end;
 * - `failed`: it delivered everything up to the producer's failure;
 * - `evicted`: it fell behind eviction under `onEvicted: "fail"`;
 * - `interrupted`: its fiber was interrupted (a `ReplayStream` whose consumer
 *   stopped; on the portable HTTP path, a client that went away or a server
 *   shutting down);
 * - `client-gone`: the connection closed before the end (fan-out);
 * - `shutdown`: the server asked it to go (fan-out);
 * - `slow-consumer`: closed because its unsent bytes passed `maxBacklogBytes` (fan-out);
 * - `refused`: a WebSocket upgraded only to be closed with a refusal (fan-out).
 *
 * @since 0.1.0
 * @category models
 */
export type FollowerEnd =
  | "ended"
  | "failed"
  | "evicted"
  | "interrupted"
  | "client-gone"
  | "shutdown"
  | "slow-consumer"
  | "refused"

/**
 * @since 0.1.0
 * @category models
 */
export interface FollowerSpanOptions {
  /** The span's name, e.g. `ReplayHttp.sse`. */
  readonly name: string
  readonly transport: ReplayMetrics.FollowerTransport
  /** The cursor the follower reads through, as made: its start is the resume position. */
  readonly cursor: ReplayCursor.ReplayCursor
  /** The buffer's key, when known. */
  readonly key?: string | undefined
  /** What the follower asked for, as {@link formatFrom} writes it. Default `"oldest"`. */
  readonly from?: string | undefined
}

/**
 * Whether a tracer other than Effect's built-in one is installed (for
 * example `@effect/opentelemetry`'s, or a `Tracer.make` of your own): the
 * built-in tracer's spans are seen by no one, so code that pays for a span per
 * connection can skip them.
 *
 * @since 0.1.0
 * @category tracing
 */
export const isTracing: Effect.Effect<boolean> = internal.isTracing

/**
 * A `from` as the `scrollback.from` attribute shows it: `oldest`, `live`, an
 * offset, or `EPOCH:OFFSET`.
 *
 * @since 0.1.0
 * @category tracing
 */
export const formatFrom: (from: ReplayCursor.From | undefined) => string = internal.formatFrom

/**
 * What a streaming HTTP read asked for, as `scrollback.from` shows it: the
 * `Last-Event-ID` of an SSE resume, else the query's `EPOCH:OFFSET` or
 * `OFFSET`, else `oldest` (as sent, at most 160 characters: the span shows
 * what came, valid or not).
 *
 * @since 0.1.0
 * @category tracing
 */
export const requestedFrom: (request: ReplayHttp.ReadRequest) => string = internal.requestedFrom

/**
 * Opens a follower's span (with the current span as parent, not made
 * current): end it exactly once with {@link unsafeEnd}.
 *
 * @example
 * ```ts
 * import { Clock, Effect, Exit } from "effect"
 * import { ReplayBuffer, ReplayCursor } from "@scrollback/core"
 * import { ReplayTracing } from "@scrollback/platform"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make()
 *   const cursor = yield* ReplayCursor.make(buffer, { from: "live" })
 *   const clock = yield* Effect.clock
 *   const span = yield* ReplayTracing.startFollower({ name: "my-adapter.follow", transport: "sse", cursor })
 *   // ... serve the follower with no fiber, then, once, when it is over:
 *   ReplayTracing.unsafeEnd(span, clock, "client-gone", buffer.epoch, cursor.position, 0, Exit.void)
 * })
 * ```
 *
 * @since 0.1.0
 * @category tracing
 */
export const startFollower: (options: FollowerSpanOptions) => Effect.Effect<Tracer.Span> = internal.startFollower

/**
 * Records a gap on a follower's span: a `scrollback.gap` event.
 *
 * @since 0.1.0
 * @category tracing
 */
export const unsafeGap: (span: Tracer.Span, clock: Clock.Clock, gap: ReplayCursor.Gap) => void = internal.unsafeGap

/**
 * How a cursor's `Done` exit (or an interruption) reads as a {@link FollowerEnd}.
 *
 * @since 0.1.0
 * @category tracing
 */
export const endOf: (exit: Exit.Exit<unknown, OffsetEvicted | ProducerFailed>) => FollowerEnd = internal.endOf

/**
 * Ends a follower's span: `scrollback.end`, `scrollback.position`
 * (`epoch:position`, left out when `position` is `undefined`: a connection
 * that never followed) and `scrollback.gaps`, then the span itself with
 * `exit`.
 *
 * @since 0.1.0
 * @category tracing
 */
export const unsafeEnd: (
  span: Tracer.Span,
  clock: Clock.Clock,
  end: FollowerEnd,
  epoch: string,
  position: number | undefined,
  gaps: number,
  exit: Exit.Exit<unknown, unknown>
) => void = internal.unsafeEnd
