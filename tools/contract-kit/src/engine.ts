/**
 * What a suite needs from an engine: a way to make buffers, and how to run.
 */
import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { InvalidCapacity, StorageUnavailable } from "@scrollback/core/ReplayBufferError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/** Makes buffers of the engine under test; each lives as long as the scope it was made in. */
export interface BufferMaker {
  readonly make: (options: {
    readonly capacity: number
  }) => Effect.Effect<ReplayBuffer.ReplayBuffer, InvalidCapacity | StorageUnavailable, Scope.Scope>
}

export const BufferMaker: Context.Tag<BufferMaker, BufferMaker> = Context.GenericTag<BufferMaker>(
  "@scrollback/contract-kit/BufferMaker"
)

/** The in-memory engine: `ReplayBuffer.make`. */
export const layerMemory: Layer.Layer<BufferMaker> = Layer.succeed(BufferMaker, {
  make: (options) => ReplayBuffer.make(options)
})

/** A buffer of the engine under test, in the current scope (a failure to make one fails the test). */
export const makeBuffer = (
  capacity: number
): Effect.Effect<ReplayBuffer.ReplayBuffer, never, BufferMaker | Scope.Scope> =>
  Effect.flatMap(BufferMaker, (maker) => Effect.orDie(maker.make({ capacity })))

/**
 * How a suite runs against an engine. `runs` scales every property's run count
 * (1 = the counts the in-memory engine is held to).
 */
export interface SuiteOptions {
  readonly runs?: number | undefined
}

/** A run count scaled by `options.runs`, at least 1. */
export const runsOf = (options: SuiteOptions | undefined, base: number): number =>
  Math.max(1, Math.round(base * (options?.runs ?? 1)))

/** Yields `n` times: the interleaving points of the concurrency properties. */
export const yieldTimes = (n: number): Effect.Effect<void> =>
  n <= 0 ? Effect.void : Effect.repeatN(Effect.yieldNow(), n - 1)

/** Joins views into one array of byte values. */
export const concat = (chunks: ReadonlyArray<Uint8Array>): Array<number> => chunks.flatMap((c) => Array.from(c))
