import type { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import { Effect, Exit } from "effect"
import type { RedisLog } from "../../src/index.js"
import { logKeys } from "../../src/internal/keys.js"
import { concat } from "./bytes.js"

/** Reads everything retained from `from`, page by page (no concurrent writes expected). */
export const readAll = (log: RedisLog.RedisLog, from: number) =>
  Effect.gen(function*() {
    let r = yield* log.read(from)
    const first = r
    const chunks = [...r.chunks]
    while (r.next < r.total) {
      r = yield* log.read(r.next)
      chunks.push(...r.chunks)
    }
    return { offset: first.offset, oldest: first.oldest, total: r.total, bytes: concat(chunks), last: r }
  })

/** The keys of a log under the default prefix. */
export const keysOf = (key: string, prefix = "sb:") => logKeys(prefix, key)

/**
 * A stand-in for core's replica (`unsafeApply` / `unsafeApplyEnd`): idempotent
 * applies, jumps counted, the end recorded once.
 */
export class ModelReplica {
  total: number
  readonly start: number
  readonly parts: Array<Uint8Array> = []
  jumps = 0
  applies = 0
  ends: Array<Exit.Exit<void, ProducerFailed>> = []
  constructor(start: number) {
    this.start = start
    this.total = start
  }
  apply = (offset: number, chunks: ReadonlyArray<Uint8Array>): void => {
    this.applies++
    let at = offset
    if (at > this.total) {
      this.jumps++
      this.total = at
    }
    for (const c of chunks) {
      const skip = Math.max(0, this.total - at)
      if (skip < c.length) {
        this.parts.push(c.subarray(skip))
        this.total = at + c.length
      }
      at += c.length
    }
  }
  applyEnd = (exit: Exit.Exit<void, ProducerFailed>): void => {
    this.ends.push(exit)
  }
  bytes(): Uint8Array {
    return concat(this.parts)
  }
}

export const isOk = Exit.isSuccess
