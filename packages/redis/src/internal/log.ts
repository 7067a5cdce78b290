import { InvalidCapacity, InvalidOffset, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import { BufferClosed, OffsetOverflow } from "@scrollback/core/ReplayBufferError"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
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

/** @internal */
export interface LeaseToken {
  readonly fence: number
  readonly producer: string
}

/** @internal */
export interface Appended {
  readonly offset: number
  readonly total: number
}

/** @internal */
export interface LeaseState {
  readonly holder: string
  readonly expiresAt: number
  readonly now: number
}

/** @internal */
export interface LogRead {
  readonly epoch: string
  readonly capacity: number
  readonly total: number
  readonly oldest: number
  readonly offset: number
  readonly next: number
  readonly chunks: ReadonlyArray<Uint8Array>
  readonly ended: Option.Option<Exit.Exit<void, ProducerFailed>>
  readonly reachedEnd: boolean
  readonly lease: Option.Option<LeaseState>
}

/** @internal */
export interface FollowOptions {
  readonly from: number
  readonly apply: (offset: number, chunks: ReadonlyArray<Uint8Array>) => void
  readonly applyEnd: (exit: Exit.Exit<void, ProducerFailed>) => void
  readonly onLost?: ((error: LogLost) => void) | undefined
  readonly reapLapsedWriter?: boolean | undefined
}

/** @internal */
export interface Tail {
  readonly position: Effect.Effect<number>
  readonly pull: Effect.Effect<void, StorageUnavailable | LogLost>
  readonly lost: Effect.Effect<Option.Option<LogLost>>
}

/** @internal */
export type WriteError = BufferClosed | OffsetOverflow | WriterBusy | LeaseLost | StorageUnavailable | LogLost

/** @internal */
export interface AcquireOptions {
  readonly takeover?: boolean | undefined
  readonly wait?: boolean | undefined
}

/** @internal */
export interface LogHandle {
  readonly key: string
  readonly epoch: string
  readonly capacity: number
  readonly entryBytes: number
  readonly producer: string
  readonly writeAll: (chunks: Iterable<Uint8Array>, lease?: LeaseToken) => Effect.Effect<Appended, WriteError>
  readonly write: (bytes: Uint8Array, lease?: LeaseToken) => Effect.Effect<Appended, WriteError>
  readonly end: (exit?: Exit.Exit<void, ProducerFailed>) => Effect.Effect<boolean, StorageUnavailable | LogLost>
  readonly acquireWriter: (
    options?: AcquireOptions
  ) => Effect.Effect<LeaseToken, WriterBusy | StorageUnavailable | LogLost, Scope.Scope>
  readonly refreshLease: (lease: LeaseToken) => Effect.Effect<void, LeaseLost | StorageUnavailable | LogLost>
  readonly read: (
    from: number,
    options?: { readonly maxEntries?: number | undefined }
  ) => Effect.Effect<LogRead, InvalidOffset | StorageUnavailable | LogLost>
  readonly reapLapsedWriter: Effect.Effect<boolean, StorageUnavailable | LogLost>
  readonly follow: (options: FollowOptions) => Effect.Effect<Tail, never, Scope.Scope>
}

/** @internal */
export interface Meta {
  readonly key: string
  readonly epoch: string
  readonly capacity: number
  readonly entryBytes: number
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

const endExit = (kind: string, reason: string, code: string): Exit.Exit<void, ProducerFailed> =>
  kind === "ok"
    ? Exit.void
    : Exit.fail(new ProducerFailed(code === "" ? { reason } : { reason, exitCode: Number(code) }))

// --- create / open / remove ---

/** @internal */
export const create = (
  store: StoreImpl,
  key: string,
  options: { readonly capacity: number },
  mode: "create" | "get"
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
      (c) => c.sbCreate(keys.meta, keys.log, keys.tail, epoch, String(capacity), String(entry), mode)
    )
    switch (str(reply[0])) {
      case "CREATED":
        return yield* makeHandle(store, keys, { key, epoch, capacity, entryBytes: entry })
      case "EXISTS":
        return yield* new LogExists({ key })
      case "FOUND":
        return yield* makeHandle(store, keys, {
          key,
          epoch: str(reply[1]),
          capacity: Number(str(reply[2])),
          entryBytes: Number(str(reply[3]))
        })
      default:
        return yield* unexpected("create", reply)
    }
  })

/** @internal */
export const open = (
  store: StoreImpl,
  key: string
): Effect.Effect<LogHandle, InvalidKey | LogNotFound | StorageUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validKey(key)
    const keys = logKeys(store.options.keyPrefix, key)
    const fields = yield* store.call("open", () => store.client.hmget(keys.meta, "epoch", "capacity", "entry"))
    if (fields[0] === null) return yield* new LogNotFound({ key })
    return yield* makeHandle(store, keys, {
      key,
      epoch: fields[0],
      capacity: Number(fields[1]),
      entryBytes: Number(fields[2])
    })
  })

/** @internal */
export const remove = (store: StoreImpl, key: string): Effect.Effect<boolean, InvalidKey | StorageUnavailable> =>
  Effect.gen(function*() {
    yield* validKey(key)
    const keys = logKeys(store.options.keyPrefix, key)
    const n = yield* store.call("remove", (c) => c.sbRemove(keys.meta, keys.log, keys.tail, keys.channel))
    return Number(n) === 1
  })

// --- the handle ---

interface Request {
  readonly chunks: ReadonlyArray<Uint8Array>
  readonly length: number
  readonly lease: LeaseToken | undefined
  readonly deferred: Deferred.Deferred<Appended, WriteError>
}

const makeHandle = (
  store: StoreImpl,
  keys: LogKeys,
  meta: Meta
): Effect.Effect<LogHandle, never, Scope.Scope> =>
  Effect.gen(function*() {
    const options = store.options
    const producer = randomHex16()
    const dedup = keys.dedup(producer)
    const leaseMs = String(options.leaseMs)
    const dedupTtl = String(options.dedupTtlMs)
    let seq = 0

    // --- the group-committed appender: one script call in flight; writes that arrive meanwhile join the next ---

    /** One script call for a batch of requests: all of them are recorded, or none. */
    const send = (batch: ReadonlyArray<Request>): Effect.Effect<ReadonlyArray<Appended>, WriteError> => {
      let length = 0
      for (const r of batch) length += r.length
      // Bytes that the batch itself would evict are not sent: only their count moves `total`.
      const skip = Math.max(0, length - meta.capacity)
      const parts: Array<Uint8Array> = []
      let toSkip = skip
      for (const r of batch) {
        for (const c of r.chunks) {
          if (toSkip >= c.length) {
            toSkip -= c.length
            continue
          }
          parts.push(toSkip > 0 ? c.subarray(toSkip) : c)
          toSkip = 0
        }
      }
      const blob = parts.length === 1
        ? Buffer.from(parts[0].buffer, parts[0].byteOffset, parts[0].byteLength)
        : Buffer.concat(parts)
      const lease = batch[0].lease
      const mySeq = String(++seq)
      const attempt = store.call(
        "append",
        (c) =>
          c.sbAppend(
            keys.meta,
            keys.log,
            keys.tail,
            dedup,
            meta.epoch,
            mySeq,
            lease === undefined ? "" : String(lease.fence),
            String(skip),
            blob,
            keys.channel,
            dedupTtl
          )
      )
      return attempt.pipe(
        // A connection that dropped may or may not have delivered the call: re-send it with the same
        // sequence number (a call Redis already ran is answered from the dedup record, not run twice).
        Effect.retry({ while: isConnectionFailure, schedule: Schedule.spaced(Duration.millis(50)) }),
        Effect.timeoutFail({
          duration: Duration.millis(options.commandTimeoutMs),
          onTimeout: () => new StorageUnavailable({ reason: `append: no reply within ${options.commandTimeoutMs} ms` })
        }),
        Effect.flatMap((reply): Effect.Effect<ReadonlyArray<Appended>, WriteError> => {
          switch (str(reply[0])) {
            case "OK":
            case "DUP": {
              let offset = Number(reply[1])
              const total = Number(reply[2])
              return Effect.succeed(batch.map((r) => {
                const appended = { offset, total }
                offset += r.length
                return appended
              }))
            }
            case "CLOSED":
              return Effect.fail(new BufferClosed({ total: Number(reply[1]) }))
            case "OVERFLOW":
              return Effect.fail(new OffsetOverflow({ total: Number(reply[1]), length: Number(reply[2]) }))
            case "BUSY":
              return Effect.fail(new WriterBusy())
            case "LEASELOST":
              return Effect.fail(new LeaseLost({ reason: str(reply[1]) }))
            case "NOMETA":
            case "EPOCH":
              return Effect.fail(lostFrom(meta, reply))
            default:
              return Effect.fail(unexpected("append", reply))
          }
        })
      )
    }

    const settle = (batch: ReadonlyArray<Request>): Effect.Effect<void> =>
      send(batch).pipe(
        Effect.matchEffect({
          onSuccess: (results) => Effect.forEach(batch, (r, i) => Deferred.succeed(r.deferred, results[i])),
          // An overflow of a combined batch says nothing about each write alone: retry them one by one.
          onFailure: (error): Effect.Effect<unknown> =>
            error._tag === "OffsetOverflow" && batch.length > 1
              ? Effect.forEach(batch, (r) => settle([r]))
              : Effect.forEach(batch, (r) => Deferred.fail(r.deferred, error))
        }),
        Effect.asVoid
      )

    const queue = yield* Queue.bounded<Request>(options.maxPendingWrites)
    let closed = false
    const worker = Effect.gen(function*() {
      const first = yield* Queue.take(queue)
      const rest = yield* Queue.takeAll(queue)
      const all = [first, ...rest]
      let i = 0
      while (i < all.length) {
        // A batch: consecutive requests under the same lease, up to maxBatchBytes (at least one request).
        const batch = [all[i]]
        let bytes = all[i].length
        const fence = all[i].lease?.fence
        i++
        while (i < all.length && all[i].lease?.fence === fence && bytes + all[i].length <= options.maxBatchBytes) {
          bytes += all[i].length
          batch.push(all[i])
          i++
        }
        yield* settle(batch)
      }
    }).pipe(Effect.forever)
    yield* Effect.forkScoped(worker)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        const left = yield* Queue.takeAll(queue)
        for (const r of left) {
          yield* Deferred.fail(r.deferred, new StorageUnavailable({ reason: "the log handle was closed" }))
        }
      })
    )

    const writeAll = (chunks: Iterable<Uint8Array>, lease?: LeaseToken): Effect.Effect<Appended, WriteError> =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(new StorageUnavailable({ reason: "the log handle was closed" }))
        const list = Array.from(chunks)
        let length = 0
        for (const c of list) length += c.length
        return Effect.flatMap(Deferred.make<Appended, WriteError>(), (deferred) =>
          Queue.offer(queue, { chunks: list, length, lease, deferred }).pipe(
            Effect.zipRight(Deferred.await(deferred))
          ))
      })

    // --- end ---

    const end = (exit: Exit.Exit<void, ProducerFailed> = Exit.void) =>
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
        const reply = yield* store.call(
          "end",
          (c) =>
            c.sbEnd(keys.meta, keys.log, keys.tail, meta.epoch, kind, reason, code, keys.channel)
        )
        switch (str(reply[0])) {
          case "ENDED":
            return true
          case "ALREADY":
            return false
          case "NOMETA":
          case "EPOCH":
            return yield* lostFrom(meta, reply)
          default:
            return yield* unexpected("end", reply)
        }
      })

    const reapLapsedWriter = Effect.gen(function*() {
      const reply = yield* store.call("reap", (c) =>
        c.sbReap(keys.meta, keys.log, keys.tail, meta.epoch, keys.channel))
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
            return yield* new WriterBusy()
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
            return yield* new LeaseLost({ reason: str(reply[1]) })
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
              schedule: Schedule.spaced(Duration.min(refreshEvery, Duration.seconds(1)))
            }))
            : once,
          (lease) => Effect.ignore(releaseLease(lease))
        )
        // Refresh every third of the lease; stop once the lease is lost (writes then fail LeaseLost).
        yield* refreshLease(lease).pipe(
          Effect.catchTag("StorageUnavailable", () => Effect.void),
          Effect.repeat(Schedule.spaced(refreshEvery)),
          Effect.ignore,
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
        return decodeRead(epoch, reply)
      })

    const decodeRead = (epoch: string, reply: ReadonlyArray<unknown>): (from: number) => LogRead => (from) => {
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
        lease: holder === "" ? Option.none() : Option.some({ holder, expiresAt: Number(str(reply[8])), now })
      }
    }

    const readAt = (from: number, readOptions?: { readonly maxEntries?: number | undefined }) =>
      Effect.map(read(from, readOptions), (decode) => decode(from))

    // --- the tail ---

    const follow = (follow: FollowOptions): Effect.Effect<Tail, never, Scope.Scope> =>
      Effect.gen(function*() {
        let cursor = follow.from
        let done = false
        let lostError: LogLost | undefined
        const reap = follow.reapLapsedWriter !== false
        const wake = yield* Queue.sliding<void>(1)
        const permit = yield* Effect.makeSemaphore(1)

        const pullLoop: Effect.Effect<void, StorageUnavailable | LogLost> = Effect.gen(function*() {
          for (;;) {
            if (done) return
            const r = yield* readAt(cursor).pipe(Effect.catchTag("InvalidOffset", Effect.die))
            if (r.total < cursor) {
              return yield* new LogLost({ key: meta.key, epoch: meta.epoch, reason: "total-went-back" })
            }
            if (r.chunks.length > 0) {
              follow.apply(r.offset, r.chunks)
              cursor = r.next
            } else if (r.next > cursor) {
              cursor = r.next
            }
            if (r.reachedEnd && Option.isSome(r.ended)) {
              done = true
              follow.applyEnd(r.ended.value)
              return
            }
            if (r.next < r.total) continue
            if (
              reap && Option.isNone(r.ended) && Option.isSome(r.lease) && r.lease.value.expiresAt <= r.lease.value.now
            ) {
              if (yield* reapLapsedWriter) continue
            }
            return
          }
        })
        const pull = permit.withPermits(1)(
          Effect.suspend(() => (lostError !== undefined ? Effect.fail(lostError) : pullLoop)).pipe(
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
        )

        yield* store.subscribe(keys.channel, {
          onMessage: (message) => {
            if (message === "deleted" || Number(message) > cursor) Queue.unsafeOffer(wake, undefined)
          },
          onReconnect: () => Queue.unsafeOffer(wake, undefined)
        })
        const safetyPoll = Duration.millis(options.safetyPollMs)
        yield* Effect.gen(function*() {
          while (!done) {
            yield* Effect.ignore(pull)
            if (done) return
            yield* Queue.take(wake).pipe(Effect.timeout(safetyPoll), Effect.ignore)
          }
        }).pipe(Effect.forkScoped)

        return {
          position: Effect.sync(() => cursor),
          pull,
          lost: Effect.sync(() => Option.fromNullable(lostError))
        } satisfies Tail
      })

    const handle: LogHandle = {
      key: meta.key,
      epoch: meta.epoch,
      capacity: meta.capacity,
      entryBytes: meta.entryBytes,
      producer,
      writeAll,
      write: (bytes, lease) => writeAll([bytes], lease),
      end,
      acquireWriter,
      refreshLease,
      read: readAt,
      reapLapsedWriter,
      follow
    }
    return handle
  })
