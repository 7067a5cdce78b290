/**
 * The engine contract as reusable test suites. Every `ReplayBuffer` engine —
 * the in-memory one, or one whose log of record is elsewhere — runs the same
 * properties: give `contract` a layer that makes the engine's buffers.
 *
 * ```ts
 * import { Contract } from "@scrollback/contract-kit"
 * Contract.contract("in-memory engine", Contract.layerMemory)
 * ```
 */
import { describe, layer } from "@effect/vitest"
import type * as Layer from "effect/Layer"
import { bufferSuite } from "./buffer.js"
import { cursorSuite } from "./cursor.js"
import type { BufferMaker, SuiteOptions } from "./engine.js"
import { followSuite } from "./follow.js"
import { leaseSuite } from "./lease.js"

export { BufferMaker, layerMemory, type SuiteOptions } from "./engine.js"
export { bufferSuite, cursorSuite, followSuite, leaseSuite }

/**
 * Which suites to run: the core's (buffer, cursor, lease) or the platform's
 * (followers). Default: all.
 */
export interface ContractOptions extends SuiteOptions {
  readonly suites?: ReadonlyArray<"buffer" | "cursor" | "lease" | "follow"> | undefined
  /** Run on the wall clock rather than `TestClock` (engines with timers or a network). Default `false`. */
  readonly live?: boolean | undefined
}

/** Runs the engine contract's suites against the buffers `engine` makes, in a `describe` named `name`. */
export const contract = <E>(
  name: string,
  engine: Layer.Layer<BufferMaker, E>,
  options?: ContractOptions
): void => {
  const suites = new Set(options?.suites ?? ["buffer", "cursor", "lease", "follow"])
  layer(engine, { excludeTestServices: options?.live ?? false })(name, (it) => {
    if (suites.has("buffer")) describe("ReplayBuffer", () => bufferSuite(it, options))
    if (suites.has("cursor")) describe("ReplayCursor", () => cursorSuite(it, options))
    if (suites.has("lease")) describe("writer lease", () => leaseSuite(it, options))
    if (suites.has("follow")) describe("ReplayStream", () => followSuite(it, options))
  })
}
