import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as ReplayBuffer from "../ReplayBuffer.js"
import { EpochMismatch, InvalidOffset, OffsetAhead, OffsetEvicted } from "../ReplayBufferError.js"
import type * as Api from "../ReplayCursor.js"
import { coreOf, type ReplayBufferImpl } from "./replayBuffer.js"

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@scrollback/core/ReplayCursor") as Api.TypeId

/** @internal */
export const DEFAULT_MAX_CHUNK_BYTES = 256 * 1024

/** @internal */
export const isReplayCursor = (u: unknown): u is Api.ReplayCursor => Predicate.hasProperty(u, TypeId)

const PENDING: Api.Pending = { _tag: "Pending" }

class ReplayCursorImpl implements Api.ReplayCursor {
  readonly [TypeId]: Api.TypeId = TypeId
  position: number
  /** The step that finished the cursor: returned again by every later step. */
  done: Api.Done | undefined = undefined

  constructor(
    readonly buffer: ReplayBuffer.ReplayBuffer,
    readonly core: ReplayBufferImpl,
    readonly start: number,
    readonly oldest: number,
    readonly total: number,
    readonly onEvicted: Api.OnEvicted,
    readonly maxChunkBytes: number
  ) {
    this.position = start
  }

  pipe() {
    return pipeArguments(this, arguments)
  }

  toJSON() {
    return {
      _id: "@scrollback/core/ReplayCursor",
      epoch: this.buffer.epoch,
      start: this.start,
      position: this.position,
      onEvicted: this.onEvicted,
      done: this.done !== undefined
    }
  }
}

const impl = (cursor: Api.ReplayCursor): ReplayCursorImpl => cursor as ReplayCursorImpl

/**
 * Where a cursor starts, or why it cannot: the only place a start position is
 * read. Numbers follow the seed's clamp into `[0, total]`; a resume position
 * must be of this epoch and not past `total` (refused, never clamped).
 */
const resolveStart = (
  core: ReplayBufferImpl,
  from: Api.From | undefined
): number | InvalidOffset | EpochMismatch | OffsetAhead => {
  const total = core.log.total
  if (from === undefined || from === "oldest") return core.log.oldest
  if (from === "live") return total
  if (typeof from === "number") {
    if (!Number.isInteger(from)) return new InvalidOffset({ offset: from })
    return Math.min(Math.max(from, 0), total)
  }
  if (Predicate.isObject(from) && typeof from.epoch === "string" && typeof from.offset === "number") {
    if (!Number.isSafeInteger(from.offset) || from.offset < 0) return new InvalidOffset({ offset: from.offset })
    if (from.epoch !== core.epoch) return new EpochMismatch({ expected: from.epoch, actual: core.epoch })
    if (from.offset > total) return new OffsetAhead({ requested: from.offset, total })
    return from.offset
  }
  return new InvalidOffset({ offset: from })
}

/** @internal */
export const make = (
  buffer: ReplayBuffer.ReplayBuffer,
  options?: Api.Options
): Effect.Effect<Api.ReplayCursor, Api.StartError> =>
  Effect.suspend((): Effect.Effect<Api.ReplayCursor, Api.StartError> => {
    const core = coreOf(buffer)
    const policy = options?.onEvicted ?? "fail"
    if (policy !== "fail" && policy !== "clamp") {
      return Exit.die(new TypeError(`onEvicted must be "fail" or "clamp", got ${String(policy)}`))
    }
    const maxChunkBytes = options?.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES
    if (!Number.isSafeInteger(maxChunkBytes) || maxChunkBytes < 1) {
      return Exit.die(new RangeError(`maxChunkBytes must be a positive safe integer, got ${maxChunkBytes}`))
    }
    // Resolved and checked against eviction in this one step, with the snapshot the hello reports.
    const epoch = options?.epoch
    if (epoch !== undefined && epoch !== core.epoch) {
      return Exit.fail(new EpochMismatch({ expected: epoch, actual: core.epoch }))
    }
    const start = resolveStart(core, options?.from)
    if (typeof start !== "number") return Exit.fail(start)
    const oldest = core.log.oldest
    if (start < oldest && policy === "fail") return Exit.fail(new OffsetEvicted({ requested: start, oldest }))
    return Exit.succeed(new ReplayCursorImpl(buffer, core, start, oldest, core.log.total, policy, maxChunkBytes))
  })

/** @internal */
export const unsafeNext = (cursor: Api.ReplayCursor): Api.Step => {
  const self = impl(cursor)
  if (self.done !== undefined) return self.done
  const position = self.position
  const read = self.core.unsafeRead(position, self.maxChunkBytes)
  if (read.offset > position) {
    // The next byte this cursor needs was evicted.
    if (self.onEvicted === "fail") {
      self.done = { _tag: "Done", exit: Exit.fail(new OffsetEvicted({ requested: position, oldest: read.offset })) }
      return self.done
    }
    self.position = read.offset
    return { _tag: "Gap", requested: position, oldest: read.offset }
  }
  if (read.chunks.length > 0) {
    self.position = read.next
    return { _tag: "Data", offset: read.offset, next: read.next, chunks: read.chunks, total: read.total }
  }
  if (read.ended._tag === "Some") {
    self.done = { _tag: "Done", exit: read.ended.value }
    return self.done
  }
  return PENDING
}

/** @internal */
export const unsafeAwait = (cursor: Api.ReplayCursor, wake: () => void): () => void => {
  const self = impl(cursor)
  if (self.done !== undefined) {
    wake()
    return noop
  }
  return self.core.unsafeOnData(self.position, wake)
}

const noop = () => {}

/** @internal */
export const next = (cursor: Api.ReplayCursor): Effect.Effect<Api.Ready> =>
  Effect.suspend(function loop(): Effect.Effect<Api.Ready> {
    const step = unsafeNext(cursor)
    if (step._tag !== "Pending") return Effect.succeed(step)
    const self = impl(cursor)
    return Effect.zipRight(self.core.awaitData(self.position), Effect.suspend(loop))
  })
