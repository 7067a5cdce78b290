import { InvalidCapacity, InvalidOffset, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import { BufferClosed, OffsetOverflow } from "@scrollback/core/ReplayBufferError"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import {
  InvalidKey,
  LeaseLost,
  LogExists,
  LogLost,
  LogNotFound,
  MAX_KEY_LENGTH,
  StorageUnavailable,
  WriterBusy
} from "../RedisLogError.js"
import { entryBytes, type LogKeys, logKeys, randomHex16 } from "./keys.js"
import { isConnectionFailure, type StoreImpl } from "./store.js"

// The models are the public module's: one definition (a type import, so no runtime cycle).
export type {
  AcquireOptions,
  Appended,
  FollowOptions,
  LeaseState,
  LeaseToken,
  LogRead,
  Tail,
  WriteError
} from "../RedisLog.js"
import type { AcquireOptions, Appended, FollowOptions, LeaseToken, LogRead, Tail, WriteError } from "../RedisLog.js"

/**
 * Called by the appender for every batch Redis recorded, in the order they
 * were recorded, before their writers complete: `blob` holds the batch's
 * bytes from `offset` (those the batch evicted itself are not included).
 *
 * @internal
 */
export type OnCommitted = (offset: number, blob: Uint8Array) => void

/** @internal */
export interface LogHandle {
  readonly key: string
  readonly epoch: string
  readonly capacity: number
  readonly entryBytes: number
  readonly createdAt: number
  readonly producer: string
  readonly writeAll: (chunks: Iterable<Uint8Array>, lease?: LeaseToken) => Effect.Effect<Appended, WriteError>
  readonly write: (bytes: Uint8Array, lease?: LeaseToken) => Effect.Effect<Appended, WriteError>
  readonly end: (
    exit?: Exit.Exit<void, ProducerFailed>,
    lease?: LeaseToken
  ) => Effect.Effect<boolean, LeaseLost | StorageUnavailable | LogLost>
  readonly acquireWriter: (
    options?: AcquireOptions
  ) => Effect.Effect<LeaseToken, BufferClosed | WriterBusy | StorageUnavailable | LogLost, Scope.Scope>
  readonly refreshLease: (lease: LeaseToken) => Effect.Effect<void, LeaseLost | StorageUnavailable | LogLost>
  readonly read: (
    from: number,
    options?: { readonly maxEntries?: number | undefined }
  ) => Effect.Effect<LogRead, InvalidOffset | StorageUnavailable | LogLost>
  readonly reapLapsedWriter: Effect.Effect<boolean, StorageUnavailable | LogLost>
  readonly follow: (options: FollowOptions) => Effect.Effect<Tail, never, Scope.Scope>
  /** The appender's commit hook (the registry's replica uses it to apply its own writes at once, in order). */
  onCommitted: OnCommitted | undefined
}

/**
 * How long logs live once they ended. `idleMs`: a log that ended this long
 * ago counts as gone (`open` fails, `create` replaces it) and its keys expire
 * `idleMs + graceMs` after its end; `undefined` keeps ended logs until removed.
 *
 * @internal
 */
export interface Lifetime {
  readonly idleMs: number | undefined
}

const FOREVER: Lifetime = { idleMs: undefined }

/** @internal */
export interface Meta {
  readonly key: string
  readonly epoch: string
  readonly capacity: number
  readonly entryBytes: number
  readonly createdAt: number
}

const str = (u: unknown): string => (Buffer.isBuffer(u) ? u.toString("latin1") : String(u))

const validKey = (key: string): Effect.Effect<string, InvalidKey> =>
  typeof key === "string" && key.length > 0 && key.length <= MAX_KEY_LENGTH
    ? Effect.succeed(key)
    : Effect.fail(new InvalidKey({ key: String(key) }))

const unexpected = (what: string, reply: unknown) =>
  new StorageUnavailable({ reason: `${what}: unexpected reply ${JSON.stringify(reply)}` })

const lostFrom = (meta: Meta, reply: ReadonlyArray<unknown>) =>
  str(reply[0]) === "NOMETA"
    ? new LogLost({ key: meta.key, epoch: meta.epoch, reason: "missing" })
    : new LogLost({ key: meta.key, epoch: meta.epoch, reason: "epoch-changed", actualEpoch: str(reply[1]) })

const leaseLost = (reason: unknown) => new LeaseLost({ reason: str(reason) === "fenced" ? "fenced" : "released" })

const idleArg = (lifetime: Lifetime) => (lifetime.idleMs === undefined ? "" : String(lifetime.idleMs))

/** The TTL of an ended log's keys: the idle time plus the grace, or none. */
const endTtlArg = (store: StoreImpl, lifetime: Lifetime) =>
  lifetime.idleMs === undefined ? "" : String(lifetime.idleMs + store.options.removeGraceMs)

/** Keeps the end to "ok" or "failed with a ProducerFailed", as core does. */
const normalize = (exit: Exit.Exit<void, ProducerFailed>): Exit.Exit<void, ProducerFailed> => {
  if (Exit.isSuccess(exit)) return exit
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return Exit.fail(failure.value)
  const defect = Cause.dieOption(exit.cause)
  if (Option.isSome(defect)) {
    const value = defect.value
    return Exit.fail(
      new ProducerFailed({ reason: `defect: ${value instanceof Error ? value.message : String(value)}` })
    )
  }
  return Exit.fail(new ProducerFailed({ reason: "interrupted" }))
}

/** @internal */
export const endExit = (kind: string, reason: string, code: string): Exit.Exit<void, ProducerFailed> =>
  kind === "ok"
    ? Exit.void
    : Exit.fail(new ProducerFailed(code === "" ? { reason } : { reason, exitCode: Number(code) }))

// --- create / open / remove ---

/** @internal */
export const create = (
  store: StoreImpl,
  key: string,
  options: { readonly capacity: number },
  mode: "create" | "get",
  lifetime: Lifetime = FOREVER
): Effect.Effect<LogHandle, InvalidKey | InvalidCapacity | LogExists | StorageUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validKey(key)
    const capacity = options.capacity
    if (!Number.isSafeInteger(capacity) || capacity <= 0) return yield* new InvalidCapacity({ capacity })
    const keys = logKeys(store.options.keyPrefix, key)
    const epoch = randomHex16()
    const entry = entryBytes(capacity)
    const reply = yield* store.call(
      "create",
      (c) => c.sbCreate(keys.meta, keys.log, keys.tail, epoch, String(capacity), String(entry), mode, idleArg(lifetime))
    )
    switch (str(reply[0])) {
      case "CREATED":
        return yield* makeHandle(store, keys, {
          key,
          epoch,
          capacity,
          entryBytes: entry,
          createdAt: Number(str(reply[1]))
        }, lifetime)
      case "EXISTS":
        return yield* new LogExists({ key })
      case "FOUND":
        return yield* makeHandle(store, keys, foundMeta(key, reply), lifetime)
      default:
        return yield* unexpected("create", reply)
    }
  })

const foundMeta = (key: string, reply: ReadonlyArray<unknown>): Meta => ({
  key,
  epoch: str(reply[1]),
  capacity: Number(str(reply[2])),
  entryBytes: Number(str(reply[3])),
  createdAt: Number(str(reply[4]))
})

/** @internal */
export const open = (
  store: StoreImpl,
  key: string,
  lifetime: Lifetime = FOREVER
): Effect.Effect<LogHandle, InvalidKey | LogNotFound | StorageUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validKey(key)
    const keys = logKeys(store.options.keyPrefix, key)
    const reply = yield* store.call(
      "open",
      (c) => c.sbCreate(keys.meta, keys.log, keys.tail, "", "", "", "open", idleArg(lifetime))
    )
    switch (str(reply[0])) {
      case "FOUND":
        return yield* makeHandle(store, keys, foundMeta(key, reply), lifetime)
      case "NOTFOUND":
        return yield* new LogNotFound({ key })
      default:
        return yield* unexpected("open", reply)
    }
  })

/** Whether a live log exists under `key` (not removed, not past its idle time after its end). @internal */
export const exists = (
  store: StoreImpl,
  key: string,
  lifetime: Lifetime = FOREVER
): Effect.Effect<boolean, StorageUnavailable> => {
  const keys = logKeys(store.options.keyPrefix, key)
  return Effect.map(
    store.call("exists", (c) => c.sbCreate(keys.meta, keys.log, keys.tail, "", "", "", "open", idleArg(lifetime))),
    (reply) => str(reply[0]) === "FOUND"
  )
}

/** What `remove` found: the epoch of the removed log and how it ended. @internal */
export interface Removed {
  readonly epoch: string
  readonly exit: Exit.Exit<void, ProducerFailed>
}

/** @internal */
export const removeLog = (
  store: StoreImpl,
  key: string,
  lifetime: Lifetime = FOREVER
): Effect.Effect<Option.Option<Removed>, InvalidKey | StorageUnavailable> =>
  Effect.gen(function*() {
    yield* validKey(key)
    const keys = logKeys(store.options.keyPrefix, key)
    const reply = yield* store.call(
      "remove",
      (c) =>
        c.sbRemove(keys.meta, keys.log, keys.tail, keys.channel, String(store.options.removeGraceMs), idleArg(lifetime))
    )
    switch (str(reply[0])) {
      case "REMOVED":
        return Option.some({ epoch: str(reply[1]), exit: endExit(str(reply[2]), str(reply[3]), str(reply[4])) })
      case "NOTFOUND":
        return Option.none()
      default:
        return yield* unexpected("remove", reply)
    }
  })

/** @internal */
export const remove = (store: StoreImpl, key: string): Effect.Effect<boolean, InvalidKey | StorageUnavailable> =>
  Effect.map(removeLog(store, key), Option.isSome)

// --- the handle ---

interface Request {
  readonly chunks: ReadonlyArray<Uint8Array>
  readonly length: number
  readonly lease: LeaseToken | undefined
  /** Completes the writer's `Effect.async` (once; later calls, or calls after an interruption, are ignored). */
  readonly resume: (exit: Exit.Exit<Appended, WriteError>) => void
}

type Reply = ReadonlyArray<unknown>

/** One script call: a batch of requests, recorded all or none. */
interface Flight {
  readonly batch: ReadonlyArray<Request>
  readonly seq: number
  readonly length: number
  /** Leading bytes of the batch not sent: the batch evicts them itself. */
  readonly skip: number
  /** A fresh copy of the bytes sent (from `skip`). */
  readonly blob: Uint8Array
  /** The tail length the pieces were cut for ("" when unknown: the script cuts them). */
  readonly tailAssumed: string
  /** `blob`, cut where entries close if the tail holds `tailAssumed` bytes (views, no copy). */
  readonly pieces: ReadonlyArray<Buffer>
  readonly fence: string
  /** Redis time is not needed: the deadline is this process's clock. */
  readonly deadline: number
  /** The sequence number that must be recorded before this one ("" for none). */
  prev: string
  /** The reply of the latest send (issued synchronously, so calls go out in the order they were made). */
  attempt: Promise<Reply>
  readonly settled: Deferred.Deferred<void>
}

const NOT_SENT: Promise<Reply> = Promise.resolve([])

/** Past this total the appender keeps one call in flight, so an overflow can be split write by write in order. */
const PIPELINE_LIMIT = 2 ** 52

const makeHandle = (
  store: StoreImpl,
  keys: LogKeys,
  meta: Meta,
  lifetime: Lifetime
): Effect.Effect<LogHandle, never, Scope.Scope> =>
  Effect.gen(function*() {
    const options = store.options
    const producer = randomHex16()
    const dedup = keys.dedup(producer)
    const leaseMs = String(options.leaseMs)
    const dedupTtl = String(options.dedupTtlMs)
    const endTtl = endTtlArg(store, lifetime)
    const timeoutMs = options.commandTimeoutMs
    let seq = 0
    const handle: LogHandle = {} as LogHandle

    // --- the group-committed appender ---
    //
    // Writes wait in a bounded list; a sender takes as many as fit in a batch (same lease, up to maxBatchBytes)
    // and sends the batch as one script call. Two calls may be in flight at once (pipelined on the one command
    // connection), so the client builds the next batch while Redis runs the previous one. Order holds even across
    // reconnects: a pipelined call names the sequence number that must be recorded before it (`prev`), and Redis
    // refuses it (GAP, nothing written) otherwise; the completer then re-sends, in order. A re-sent call that Redis
    // already ran is answered from the producer's dedup record (its last two batches), never run twice.

    // Plain arrays and callbacks rather than a Queue and a Deferred per write: a write costs one suspension.
    const backlog: Array<Request> = []
    /** Writers waiting for room (more than maxPendingWrites pending): they join the backlog in order. */
    const blocked: Array<Request> = []
    let wakeSender: (() => void) | undefined
    const admit = () => {
      while (blocked.length > 0 && backlog.length < options.maxPendingWrites) backlog.push(blocked.shift()!)
    }
    const inflight: Array<Flight> = []
    const flights = yield* Queue.unbounded<Flight>()
    const slots = yield* Effect.makeSemaphore(options.maxAppendsInFlight)
    const sendLock = yield* Effect.makeSemaphore(1)
    /** The log's total as the last reply said; unknown (Infinity) until the first. */
    let knownTotal = Infinity
    /**
     * The open tail's length after the last batch sent, as predicted (or as its reply said): the next batch is
     * cut for it, so Redis stores its pieces as they are. `undefined` when unknown.
     */
    let tailPredicted: number | undefined = undefined
    const entry = meta.entryBytes
    let closed = false

    /** Sends the call now (synchronously: calls reach the connection in the order they are made). */
    const callAppend = (f: Flight): Promise<Reply> => {
      const promise = store.commands.sbAppend(
        keys.meta,
        keys.log,
        keys.tail,
        dedup,
        meta.epoch,
        String(f.seq),
        f.prev,
        f.fence,
        String(f.skip),
        keys.channel,
        dedupTtl,
        f.tailAssumed,
        ...f.pieces
      )
      promise.catch(() => {})
      return promise
    }

    /** The reply of the call's latest send, within the command timeout. */
    const replyOf = (f: Flight) => {
      const attempt = f.attempt
      return Effect.exit(store.call("append", () => attempt))
    }

    /** Re-sends every call in flight, in order: the oldest needs nothing before it any more. */
    const resendAll = sendLock.withPermits(1)(Effect.sync(() => {
      for (let i = 0; i < inflight.length; i++) {
        const f = inflight[i]
        f.prev = i === 0 ? "" : String(inflight[i - 1].seq)
        f.attempt = callAppend(f)
      }
    }))

    const makeFlight = (batch: ReadonlyArray<Request>, now: number, prev: string): Flight => {
      let length = 0
      for (const r of batch) length += r.length
      // Bytes that the batch itself would evict are not sent: only their count moves `total`.
      const skip = Math.max(0, length - meta.capacity)
      const blob = new Uint8Array(length - skip)
      let toSkip = skip
      let at = 0
      for (const r of batch) {
        for (const c of r.chunks) {
          if (toSkip >= c.length) {
            toSkip -= c.length
            continue
          }
          const part = toSkip > 0 ? c.subarray(toSkip) : c
          blob.set(part, at)
          at += part.length
          toSkip = 0
        }
      }
      const lease = batch[0].lease
      // Cut where entries close, for the tail the previous batch left (a batch that evicts itself starts a new run).
      const assumed = skip > 0 ? 0 : tailPredicted
      const pieces: Array<Buffer> = []
      const view = (from: number, to: number) => Buffer.from(blob.buffer, blob.byteOffset + from, to - from)
      if (assumed === undefined || blob.length === 0) {
        if (blob.length > 0) pieces.push(view(0, blob.length))
      } else {
        let at = Math.min(blob.length, entry - assumed)
        pieces.push(view(0, at))
        for (; at < blob.length; at += entry) pieces.push(view(at, Math.min(blob.length, at + entry)))
      }
      tailPredicted = assumed === undefined ? undefined : (assumed + blob.length) % entry
      return {
        batch,
        seq: ++seq,
        length,
        skip,
        blob,
        tailAssumed: assumed === undefined ? "" : String(assumed),
        pieces,
        fence: lease === undefined ? "" : String(lease.fence),
        deadline: now + timeoutMs,
        prev,
        attempt: NOT_SENT,
        settled: Deferred.unsafeMake<void>(FiberId.none)
      }
    }

    /** The next batch from the backlog: consecutive requests under the same lease, up to maxBatchBytes. */
    const nextBatch = (): Array<Request> => {
      const batch = [backlog.shift()!]
      let bytes = batch[0].length
      const fence = batch[0].lease?.fence
      while (
        backlog.length > 0 && backlog[0].lease?.fence === fence && bytes + backlog[0].length <= options.maxBatchBytes
      ) {
        bytes += backlog[0].length
        batch.push(backlog.shift()!)
      }
      admit()
      return batch
    }

    const sender = Effect.gen(function*() {
      yield* slots.take(1)
      while (backlog.length === 0) {
        yield* Effect.async<void>((resume) => {
          wakeSender = () => {
            wakeSender = undefined
            resume(Effect.void)
          }
          return Effect.sync(() => {
            wakeSender = undefined
          })
        })
      }
      // Near 2^53 one call at a time: an overflowing batch is then split write by write, in order.
      while (inflight.length > 0 && !(knownTotal < PIPELINE_LIMIT)) yield* Deferred.await(inflight[0].settled)
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      yield* sendLock.withPermits(1)(Effect.sync(() => {
        const prev = inflight.length > 0 ? String(inflight[inflight.length - 1].seq) : ""
        const flight = makeFlight(nextBatch(), now, prev)
        flight.attempt = callAppend(flight)
        inflight.push(flight)
        Queue.unsafeOffer(flights, flight)
      }))
    }).pipe(Effect.forever)

    const refusal = (reply: Reply): WriteError => {
      switch (str(reply[0])) {
        case "CLOSED":
          knownTotal = Number(reply[1])
          return new BufferClosed({ total: Number(reply[1]) })
        case "OVERFLOW":
          knownTotal = Number(reply[1])
          return new OffsetOverflow({ total: Number(reply[1]), length: Number(reply[2]) })
        case "BUSY":
          return new WriterBusy({ epoch: meta.epoch })
        case "LEASELOST":
          return leaseLost(reply[1])
        case "NOMETA":
        case "EPOCH":
          return lostFrom(meta, reply)
        default:
          return unexpected("append", reply)
      }
    }

    const succeed = (f: Flight, reply: Reply) =>
      Effect.suspend(() => {
        const start = Number(reply[1])
        knownTotal = Number(reply[2])
        // The reply of the last batch sent tells the next one how to cut (a DUP does not say: cut by the script).
        if (inflight[inflight.length - 1] === f || inflight.length === 0) {
          tailPredicted = str(reply[0]) === "OK" ? Number(reply[3]) : undefined
        }
        const hook = handle.onCommitted
        if (hook !== undefined && f.blob.length > 0) hook(start + f.skip, f.blob)
        let offset = start
        for (const r of f.batch) {
          r.resume(Exit.succeed({ offset, total: knownTotal }))
          offset += r.length
        }
        return Effect.void
      })

    const failAll = (batch: ReadonlyArray<Request>, error: WriteError) =>
      Effect.sync(() => {
        tailPredicted = undefined
        const exit = Exit.fail(error)
        for (const r of batch) r.resume(exit)
      })

    /** Sends one request alone and waits for its answer (an overflowing batch, split). */
    const sendAlone = (r: Request): Effect.Effect<void> =>
      Effect.gen(function*() {
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const f = makeFlight([r], now, "")
        for (;;) {
          f.attempt = callAppend(f)
          const exit = yield* replyOf(f)
          if (Exit.isSuccess(exit)) {
            const tag = str(exit.value[0])
            if (tag === "OK" || tag === "DUP") return yield* succeed(f, exit.value)
            return yield* failAll(f.batch, refusal(exit.value))
          }
          const error = Cause.squash(exit.cause) as StorageUnavailable
          const later = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          if (!isConnectionFailure(error) || later >= f.deadline) return yield* failAll(f.batch, error)
          yield* Effect.sleep(Duration.millis(50))
        }
      })

    /** Settles the oldest call in flight, re-sending it (and the one behind it) after a dropped connection or a GAP. */
    const settle = (f: Flight): Effect.Effect<void> =>
      Effect.gen(function*() {
        for (;;) {
          const exit = yield* replyOf(f)
          if (Exit.isFailure(exit)) {
            const error = Cause.squash(exit.cause) as StorageUnavailable
            const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
            // A dropped connection may or may not have delivered the call: re-send (same sequence number).
            if (isConnectionFailure(error) && now < f.deadline) {
              yield* Effect.sleep(Duration.millis(50))
              yield* resendAll
              continue
            }
            // No reply within the command timeout, or an error reply: the outcome is not known to the writers.
            return yield* failAll(f.batch, error)
          }
          const reply = exit.value
          const tag = str(reply[0])
          if (tag === "OK" || tag === "DUP") return yield* succeed(f, reply)
          if (tag === "GAP") {
            // The call before it was refused or never arrived: nothing was written; send again, in order.
            yield* resendAll
            continue
          }
          const error = refusal(reply)
          // An overflow of a combined batch says nothing about each write alone: retry them one by one.
          if (error._tag === "OffsetOverflow" && f.batch.length > 1) {
            return yield* sendLock.withPermits(1)(Effect.forEach(f.batch, sendAlone, { discard: true }))
          }
          return yield* failAll(f.batch, error)
        }
      })

    const completer = Effect.gen(function*() {
      const f = yield* Queue.take(flights)
      yield* settle(f)
      inflight.shift()
      yield* Deferred.succeed(f.settled, undefined)
      yield* slots.release(1)
    }).pipe(Effect.forever)

    // Interruptible whatever the flags of the fiber that opened the handle (a registry opens it uninterruptibly),
    // so closing the scope always stops them.
    yield* Effect.forkScoped(Effect.interruptible(sender))
    yield* Effect.forkScoped(Effect.interruptible(completer))
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        const closedError = new StorageUnavailable({ reason: "the log handle was closed" })
        const left = [...backlog, ...blocked, ...inflight.flatMap((f) => f.batch)]
        backlog.length = 0
        blocked.length = 0
        yield* failAll(left, closedError)
      })
    )

    const writeAll = (chunks: Iterable<Uint8Array>, lease?: LeaseToken): Effect.Effect<Appended, WriteError> =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(new StorageUnavailable({ reason: "the log handle was closed" }))
        const list = Array.from(chunks)
        let length = 0
        for (const c of list) length += c.length
        // An interrupted writer does not take its write back: it may already be on its way to Redis.
        return Effect.async<Appended, WriteError>((resume) => {
          let done = false
          const request: Request = {
            chunks: list,
            length,
            lease,
            resume: (exit) => {
              if (done) return
              done = true
              resume(exit)
            }
          }
          if (backlog.length < options.maxPendingWrites) backlog.push(request)
          else blocked.push(request)
          wakeSender?.()
        })
      })

    // --- end ---

    const end = (exit: Exit.Exit<void, ProducerFailed> = Exit.void, lease?: LeaseToken) =>
      Effect.gen(function*() {
        const normalized = normalize(exit)
        let kind = "ok"
        let reason = ""
        let code = ""
        if (Exit.isFailure(normalized)) {
          const failure = Cause.failureOption(normalized.cause)
          kind = "failed"
          if (Option.isSome(failure)) {
            reason = failure.value.reason
            code = failure.value.exitCode === undefined ? "" : String(failure.value.exitCode)
          }
        }
        const fence = lease === undefined ? "" : String(lease.fence)
        const reply = yield* store.call(
          "end",
          (c) => c.sbEnd(keys.meta, keys.log, keys.tail, meta.epoch, kind, reason, code, keys.channel, fence, endTtl)
        )
        switch (str(reply[0])) {
          case "ENDED":
            return true
          case "ALREADY":
            return false
          case "LEASELOST":
            return yield* leaseLost(reply[1])
          case "NOMETA":
          case "EPOCH":
            return yield* lostFrom(meta, reply)
          default:
            return yield* unexpected("end", reply)
        }
      })

    const reapLapsedWriter = Effect.gen(function*() {
      const reply = yield* store.call(
        "reap",
        (c) => c.sbReap(keys.meta, keys.log, keys.tail, meta.epoch, keys.channel, endTtl)
      )
      switch (str(reply[0])) {
        case "ENDED":
          return true
        case "LIVE":
          return false
        case "NOMETA":
        case "EPOCH":
          return yield* lostFrom(meta, reply)
        default:
          return yield* unexpected("reap", reply)
      }
    })

    // --- writer lease ---

    const acquireOnce = (takeover: boolean) =>
      Effect.gen(function*() {
        const reply = yield* store.call(
          "acquire",
          (c) => c.sbAcquire(keys.meta, meta.epoch, producer, leaseMs, takeover ? "1" : "0")
        )
        switch (str(reply[0])) {
          case "OK":
            return { fence: Number(reply[1]), producer } satisfies LeaseToken
          case "BUSY":
            return yield* new WriterBusy({ epoch: meta.epoch })
          case "CLOSED":
            return yield* new BufferClosed({ total: Number(reply[1]) })
          case "NOMETA":
          case "EPOCH":
            return yield* lostFrom(meta, reply)
          default:
            return yield* unexpected("acquire", reply)
        }
      })

    const refreshLease = (lease: LeaseToken) =>
      Effect.gen(function*() {
        const reply = yield* store.call(
          "refresh",
          (c) => c.sbRefresh(keys.meta, meta.epoch, String(lease.fence), leaseMs)
        )
        switch (str(reply[0])) {
          case "OK":
            return
          case "LEASELOST":
            return yield* leaseLost(reply[1])
          case "NOMETA":
          case "EPOCH":
            return yield* lostFrom(meta, reply)
          default:
            return yield* unexpected("refresh", reply)
        }
      })

    const releaseLease = (lease: LeaseToken) =>
      store.call("release", (c) => c.sbRelease(keys.meta, meta.epoch, String(lease.fence)))

    const refreshEvery = Duration.millis(Math.max(1, Math.floor(options.leaseMs / 3)))
    const acquireWriter = (acquire: AcquireOptions = {}) =>
      Effect.gen(function*() {
        const once = acquireOnce(acquire.takeover === true)
        const lease = yield* Effect.acquireRelease(
          acquire.wait === true
            ? once.pipe(Effect.retry({
              while: (e) => e._tag === "WriterBusy",
              schedule: Schedule.spaced(Duration.min(refreshEvery, Duration.millis(250)))
            }))
            : once,
          (lease) => Effect.ignore(releaseLease(lease))
        )
        // Refresh every third of the lease; stop once the lease is lost (writes then fail LeaseLost).
        yield* refreshLease(lease).pipe(
          Effect.catchTag("StorageUnavailable", () => Effect.void),
          Effect.repeat(Schedule.spaced(refreshEvery)),
          Effect.ignore,
          Effect.interruptible,
          Effect.forkScoped
        )
        return lease
      })

    // --- reads ---

    const read = (from: number, readOptions?: { readonly maxEntries?: number | undefined }) =>
      Effect.gen(function*() {
        if (!Number.isSafeInteger(from)) return yield* new InvalidOffset({ offset: from })
        const count = readOptions?.maxEntries ?? options.readEntries
        const reply = yield* store.call(
          "read",
          (c) => c.sbReadBuffer(keys.meta, keys.log, keys.tail, String(Math.max(0, from)), String(count))
        )
        if (str(reply[0]) !== "OK") return yield* new LogLost({ key: meta.key, epoch: meta.epoch, reason: "missing" })
        const epoch = str(reply[1])
        if (epoch !== meta.epoch) {
          return yield* new LogLost({ key: meta.key, epoch: meta.epoch, reason: "epoch-changed", actualEpoch: epoch })
        }
        return decodeRead(epoch, reply, from, count)
      })

    const decodeRead = (epoch: string, reply: ReadonlyArray<unknown>, from: number, count: number): LogRead => {
      const capacity = Number(str(reply[2]))
      const total = Number(str(reply[3]))
      const endKind = str(reply[4])
      const holder = str(reply[7])
      const now = Number(str(reply[9])) * 1000 + Math.floor(Number(str(reply[10])) / 1000)
      const entries = reply[11] as ReadonlyArray<[Buffer, ReadonlyArray<Buffer>]>
      const tail = reply[12] as Buffer
      const oldest = Math.max(0, total - capacity)
      const start = Math.min(Math.max(from, oldest), total)
      const chunks: Array<Uint8Array> = []
      let offset = start
      let next = start
      const take = (end: number, data: Buffer) => {
        const begin = end - data.length
        if (end <= next) return true
        if (chunks.length === 0) {
          offset = Math.max(begin, next)
        } else if (begin > next) {
          return false // not contiguous: stop here, the next read starts from `next`
        }
        // Copy: the client's parser may reuse the memory behind a reply.
        chunks.push(new Uint8Array(data.subarray(Math.max(0, next - begin))))
        next = end
        return true
      }
      let contiguous = true
      for (const [id, fields] of entries) {
        const idText = str(id)
        if (idText.endsWith("-1")) continue
        if (!(contiguous = take(Number(idText.slice(0, -2)), fields[1]))) break
      }
      if (contiguous && tail.length > 0) take(total, tail)
      // Nothing at all between here and the total, though the read reached the stream's end: those bytes are not
      // in Redis (it lost them). Report them as skipped (the next read starts at the total), so a reader moves on
      // with a gap instead of asking for them forever.
      if (chunks.length === 0 && entries.length < count && next < total) next = total
      if (chunks.length === 0) offset = next
      const ended = endKind === "" ? Option.none() : Option.some(endExit(endKind, str(reply[5]), str(reply[6])))
      return {
        epoch,
        capacity,
        total,
        oldest,
        offset,
        next,
        chunks,
        ended,
        reachedEnd: Option.isSome(ended) && next >= total,
        removed: str(reply[13]) !== "",
        lease: holder === "" ? Option.none() : Option.some({ holder, expiresAt: Number(str(reply[8])), now })
      }
    }

    // --- the tail ---

    const follow = (follow: FollowOptions): Effect.Effect<Tail, never, Scope.Scope> =>
      Effect.gen(function*() {
        /** Bytes up to here were handed to `apply` (or, with `position`, are in the local copy). */
        let cursor = follow.from
        let done = false
        let removed = false
        let lostError: LogLost | undefined
        /** How long until the writer lease seen by the last pull lapses (ms), if one is held. */
        let leaseLeft: number | undefined
        const reap = follow.reapLapsedWriter !== false
        const positionOf = () => (follow.position === undefined ? cursor : Math.max(cursor, follow.position()))
        const wake = yield* Queue.sliding<void>(1)
        const permit = yield* Effect.makeSemaphore(1)
        const tailFibers = yield* FiberSet.make<unknown, unknown>()
        const runTail = yield* FiberSet.runtime(tailFibers)<never>()

        const markRemoved = () => {
          if (removed) return
          removed = true
          follow.onRemoved?.()
        }

        /**
         * Reads until caught up with the log. Bytes are handed to `apply` only up to a total some read saw, so
         * the local copy only ever stops where a whole batch ends (a read is one snapshot; a catch-up of several
         * pages is not): a reader of the copy never sees part of a write, on any instance.
         */
        const catchUp: Effect.Effect<void, StorageUnavailable | LogLost> = Effect.gen(function*() {
          if (done) {
            // Ended: one read checks that the log is still there (removed, or lost, shows here).
            const r = yield* Effect.catchTag(read(cursor, { maxEntries: 1 }), "InvalidOffset", Effect.die)
            if (r.removed) markRemoved()
            return
          }
          let pending: Array<Uint8Array> = []
          let pendingStart = positionOf()
          let pendingEnd = pendingStart
          let boundaries: Array<number> = []
          const applyUpTo = (boundary: number) => {
            const prefix: Array<Uint8Array> = []
            let at = pendingStart
            const rest: Array<Uint8Array> = []
            for (const c of pending) {
              if (at + c.length <= boundary) prefix.push(c)
              else if (at >= boundary) rest.push(c)
              else {
                prefix.push(c.subarray(0, boundary - at))
                rest.push(c.subarray(boundary - at))
              }
              at += c.length
            }
            if (boundary > pendingStart || pendingStart > positionOf()) follow.apply(pendingStart, prefix)
            pending = rest
            pendingStart = boundary
            if (boundary > cursor) cursor = boundary
            boundaries = boundaries.filter((t) => t > boundary)
          }
          for (;;) {
            const r = yield* Effect.catchTag(read(pendingEnd), "InvalidOffset", Effect.die)
            if (r.total < positionOf()) {
              return yield* new LogLost({ key: meta.key, epoch: meta.epoch, reason: "total-went-back" })
            }
            if (r.offset > pendingEnd) {
              // Evicted meanwhile: whatever is pending lies below the new oldest; the copy jumps (a gap).
              pending = []
              pendingStart = r.offset
              pendingEnd = r.offset
            }
            for (const c of r.chunks) pending.push(c)
            pendingEnd = r.next
            boundaries.push(r.total)
            let boundary = -1
            for (const t of boundaries) if (t <= pendingEnd && t > boundary) boundary = t
            if (boundary >= pendingStart) applyUpTo(boundary)
            if (r.reachedEnd && Option.isSome(r.ended)) {
              done = true
              follow.applyEnd(r.ended.value)
              if (r.removed) markRemoved()
              return
            }
            if (r.next < r.total) continue
            leaseLeft = undefined
            if (Option.isNone(r.ended) && Option.isSome(r.lease)) {
              const { expiresAt, now } = r.lease.value
              if (reap && expiresAt <= now) {
                if (yield* reapLapsedWriter) continue
              }
              leaseLeft = Math.max(0, expiresAt - now)
            }
            return
          }
        })

        const guarded = Effect.suspend(() => (lostError !== undefined ? Effect.fail(lostError) : catchUp)).pipe(
          Effect.tapError((e) =>
            e._tag === "LogLost" && lostError === undefined
              ? Effect.sync(() => {
                lostError = e
                done = true
                follow.onLost?.(e)
              })
              : Effect.void
          )
        )

        // A pull that starts after it was asked for, shared by everyone who asks while it has not started yet:
        // a reconnect storm of many gets costs one read, and each of them sees every byte acknowledged before it.
        const stopped = Exit.fail(new StorageUnavailable({ reason: "the tail was stopped" }))
        let nextPull: Deferred.Deferred<void, StorageUnavailable | LogLost> | undefined
        const pull: Effect.Effect<void, StorageUnavailable | LogLost> = Effect.suspend(() => {
          let d = nextPull
          if (d === undefined) {
            const made = Deferred.unsafeMake<void, StorageUnavailable | LogLost>(FiberId.none)
            d = made
            nextPull = made
            runTail(
              Effect.interruptible(
                permit.withPermits(1)(Effect.suspend(() => {
                  if (nextPull === made) nextPull = undefined
                  return guarded
                }))
              ).pipe(
                Effect.exit,
                // Stopped (its scope closed, maybe by what this very pull found): a typed answer for the waiters.
                Effect.flatMap((exit) =>
                  Deferred.done(made, Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? stopped : exit)
                ),
                Effect.onInterrupt(() => Deferred.done(made, stopped))
              )
            )
          }
          return Deferred.await(d)
        })

        yield* store.subscribe(keys.channel, {
          onMessage: (message) => {
            if (message === "end" || message === "removed" || Number(message) > positionOf()) {
              Queue.unsafeOffer(wake, undefined)
            }
          },
          onReconnect: () => Queue.unsafeOffer(wake, undefined)
        })
        const safetyPollMs = options.safetyPollMs
        yield* Effect.gen(function*() {
          while (!done) {
            yield* Effect.ignore(pull)
            if (done) return
            // The safety poll, or sooner when a writer lease will lapse first: a dead producer is reaped as soon
            // as its lease lapses, not up to a poll later.
            const wait = leaseLeft === undefined ? safetyPollMs : Math.min(safetyPollMs, leaseLeft + 20)
            yield* Queue.take(wake).pipe(Effect.timeout(Duration.millis(wait)), Effect.ignore)
          }
        }).pipe(Effect.interruptible, Effect.forkScoped)

        return {
          position: Effect.sync(() => cursor),
          pull,
          lost: Effect.sync(() => Option.fromNullable(lostError)),
          removed: Effect.sync(() => removed)
        } satisfies Tail
      })

    Object.assign(
      handle,
      {
        key: meta.key,
        epoch: meta.epoch,
        capacity: meta.capacity,
        entryBytes: meta.entryBytes,
        createdAt: meta.createdAt,
        producer,
        writeAll,
        write: (bytes: Uint8Array, lease?: LeaseToken) => writeAll([bytes], lease),
        end,
        acquireWriter,
        refreshLease,
        read,
        reapLapsedWriter,
        follow,
        onCommitted: undefined
      } satisfies LogHandle
    )
    return handle
  })
