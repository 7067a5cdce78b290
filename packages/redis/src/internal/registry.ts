import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import {
  BufferClosed,
  InvalidCapacity,
  type LeaseLost,
  type OffsetOverflow,
  ProducerFailed,
  StorageUnavailable,
  WriterBusy
} from "@scrollback/core/ReplayBufferError"
import * as ReplayMetrics from "@scrollback/core/ReplayMetrics"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import {
  BufferExists,
  BufferNotFound,
  type InvalidRegistryOptions,
  RegistryFull
} from "@scrollback/core/ReplayRegistryError"
import * as ReplayReplica from "@scrollback/core/ReplayReplica"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Scope from "effect/Scope"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type { InvalidStoreOptions, LogLost } from "../RedisLogError.js"
import type * as Api from "../RedisRegistry.js"
import * as RedisStore from "../RedisStore.js"
import * as log from "./log.js"
import * as store from "./store.js"

/** @internal */
export const tag: Context.Tag<Api.RedisRegistry, Api.RedisRegistry> = Context.GenericTag<Api.RedisRegistry>(
  "@scrollback/redis/RedisRegistry"
)

const NO_TAGS: ReadonlyArray<never> = []

/** Whether `acquireWriter` takes the lease over from a live holder (see `RedisRegistry.takeover`). @internal */
export const takeoverRef: FiberRef.FiberRef<boolean> = FiberRef.unsafeMake(false)

/** @internal */
export const takeover = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, takeoverRef, true)

type EndExit = Exit.Exit<void, ProducerFailed>

/** One instance's copy of one buffer: a replica fed by a tail, writing through the log handle. */
interface Held {
  readonly buffer: ReplayBuffer.ReplayBuffer
  readonly replica: ReplayReplica.Replica
  readonly log: log.LogHandle
  readonly tail: log.Tail
  /** The replica's total, kept by the only two paths that apply bytes (the tail and the appender's hook). */
  readonly total: () => number
}

/**
 * A key this instance holds, or is opening. Its capacity counts against
 * `maxTotalBytes` from the moment it is reserved.
 */
interface Slot {
  readonly key: string
  readonly sequence: number
  capacity: number
  createdAt: number
  /** Completed once the replica is loaded (or the opening failed). */
  readonly ready: Deferred.Deferred<Held, OpenError | Retry>
  held: Held | undefined
  /** Lost, removed or closed: never handed out again; its watcher forgets it at once. */
  gone: boolean
  readonly goneSignal: Deferred.Deferred<void>
  /** The handle's and the tail's scope. */
  readonly scope: Scope.CloseableScope
  watcher: Fiber.RuntimeFiber<void> | undefined
}

interface State {
  readonly closed: boolean
  readonly slots: HashMap.HashMap<string, Slot>
  /** The sum of the capacities of the slots. */
  readonly bytes: number
  readonly sequence: number
}

type OpenError = BufferExists | BufferNotFound | RegistryFull | InvalidCapacity | StorageUnavailable

/** The slot went away while it was opened or looked at (lost, removed): look again. */
class Retry {
  readonly _tag = "Retry"
}

type Mode = "create" | "getOrCreate" | "get"

/** How many times `get`/`create` look again after a slot went away under them. */
const ATTEMPTS = 4

const isFinite = (d: Duration.Duration) => Duration.isFinite(d)

class RedisRegistryImpl implements Api.RedisRegistry {
  readonly [ReplayRegistry.TypeId]: ReplayRegistry.TypeId = ReplayRegistry.TypeId
  readonly lifetime: log.Lifetime

  constructor(
    readonly limits: ReplayRegistry.Limits,
    readonly store: RedisStore.RedisStore,
    private readonly state: SynchronizedRef.SynchronizedRef<State>,
    private readonly scope: Scope.Scope,
    private readonly runWatcher: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>
  ) {
    this.lifetime = {
      idleMs: isFinite(limits.idleTimeout) ? Duration.toMillis(limits.idleTimeout) : undefined
    }
  }

  pipe() {
    return pipeArguments(this, arguments)
  }

  private get impl(): store.StoreImpl {
    return store.impl(this.store)
  }

  // --- slots ---

  /** Forgets `slot` in `state` (the caller checked it is the one held under its key). */
  private forget(state: State, slot: Slot): State {
    ReplayMetrics.registryBuffers.unsafeModify(-1, NO_TAGS)
    return {
      closed: state.closed,
      slots: HashMap.remove(state.slots, slot.key),
      bytes: state.bytes - slot.capacity,
      sequence: state.sequence
    }
  }

  private markGone(slot: Slot): void {
    if (slot.gone) return
    slot.gone = true
    Deferred.unsafeDone(slot.goneSignal, Exit.void)
  }

  /**
   * The log of record is gone (its keys vanished, Redis lost them, or another
   * incarnation replaced it): the local replica ends with a `ProducerFailed`
   * that says so, so every follower here terminates, and the key is dropped,
   * so a later `get` answers `BufferNotFound` or the new incarnation (another
   * epoch: resumes are refused), never a splice of two logs.
   */
  private lose(slot: Slot, replica: ReplayReplica.Replica, error: LogLost): void {
    replica.unsafeApplyEnd(Exit.fail(new ProducerFailed({ reason: `the log of record was lost: ${error.message}` })))
    this.markGone(slot)
  }

  /**
   * Forgets the slot (if it is still the one held) and closes its scope (the
   * tail, the appender), `idleTimeout` after its buffer ended, or at once once
   * it is gone.
   */
  private watch(slot: Slot, held: Held): Effect.Effect<void> {
    const idle = this.limits.idleTimeout
    const afterEnd = Effect.zipRight(
      Effect.exit(held.buffer.awaitEnd),
      isFinite(idle) ? Effect.sleep(idle) : Effect.never
    )
    return Effect.interruptible(Effect.raceFirst(afterEnd, Deferred.await(slot.goneSignal))).pipe(
      Effect.zipRight(this.expire(slot))
    )
  }

  private expire(slot: Slot): Effect.Effect<void> {
    return SynchronizedRef.update(
      this.state,
      (state) => Option.getOrUndefined(HashMap.get(state.slots, slot.key)) === slot ? this.forget(state, slot) : state
    ).pipe(Effect.zipRight(Scope.close(slot.scope, Exit.void)))
  }

  /**
   * Finds the slot of `key`, or reserves a new one (checking the limits, in
   * the same update: concurrent callers never pass them together).
   */
  private reserve(
    key: string,
    mode: Mode,
    capacity: number
  ): Effect.Effect<readonly [Slot, boolean], RegistryFull | StorageUnavailable> {
    return SynchronizedRef.modifyEffect(this.state, (state) =>
      Effect.gen(this, function*(): Effect.fn.Return<
        readonly [readonly [Slot, boolean], State],
        RegistryFull | StorageUnavailable
      > {
        if (state.closed) {
          return yield* Effect.die(new Error("RedisRegistry: a buffer was asked for after the registry's scope closed"))
        }
        const current = Option.getOrUndefined(HashMap.get(state.slots, key))
        if (current !== undefined && !current.gone) return [[current, false], state]
        // A gone slot is replaced: forgotten here; its watcher still closes its scope.
        const base = current !== undefined ? this.forget(state, current) : state
        const { maxBuffers, maxTotalBytes } = this.limits
        if (HashMap.size(base.slots) >= maxBuffers) {
          return yield* mode === "get"
            ? new StorageUnavailable({
              reason: `this instance already holds maxBuffers = ${maxBuffers} buffers; try again later or elsewhere`
            })
            : new RegistryFull({ reason: "buffers", limit: maxBuffers })
        }
        const reserved = mode === "get" ? 0 : capacity
        if (base.bytes + reserved > maxTotalBytes) {
          return yield* new RegistryFull({ reason: "bytes", limit: maxTotalBytes, requested: reserved })
        }
        const slot: Slot = {
          key,
          sequence: base.sequence,
          capacity: reserved,
          createdAt: 0,
          ready: Deferred.unsafeMake(FiberId.none),
          held: undefined,
          gone: false,
          goneSignal: Deferred.unsafeMake(FiberId.none),
          scope: yield* Scope.fork(this.scope, ExecutionStrategy.sequential),
          watcher: undefined
        }
        ReplayMetrics.registryBuffers.unsafeModify(1, NO_TAGS)
        return [[slot, true], {
          closed: false,
          slots: HashMap.set(base.slots, key, slot),
          bytes: base.bytes + reserved,
          sequence: base.sequence + 1
        }]
      }))
  }

  /** Counts the log's real capacity instead of what was reserved (a `get` reserves nothing). */
  private settleCapacity(
    slot: Slot,
    capacity: number,
    mode: Mode
  ): Effect.Effect<void, RegistryFull | StorageUnavailable> {
    if (slot.capacity === capacity) return Effect.void
    return SynchronizedRef.modifyEffect(this.state, (
      state
    ): Effect.Effect<readonly [void, State], RegistryFull | StorageUnavailable> => {
      if (Option.getOrUndefined(HashMap.get(state.slots, slot.key)) !== slot) return Effect.succeed([undefined, state])
      const bytes = state.bytes - slot.capacity + capacity
      if (capacity > slot.capacity && bytes > this.limits.maxTotalBytes) {
        const limit = this.limits.maxTotalBytes
        return mode === "get"
          ? Effect.fail(
            new StorageUnavailable({
              reason:
                `this instance cannot hold ${capacity} more bytes (maxTotalBytes = ${limit}); try again later or elsewhere`
            })
          )
          : Effect.fail(new RegistryFull({ reason: "bytes", limit, requested: capacity }))
      }
      slot.capacity = capacity
      return Effect.succeed([undefined, { ...state, bytes }])
    })
  }

  /** Opens the log for a new slot, makes and loads its replica, starts its tail and its watcher. */
  private open(slot: Slot, mode: Mode, capacity: number): Effect.Effect<Held, OpenError | Retry> {
    const self = this
    const impl = this.impl
    // The key was checked by the registry's rules (stricter than the log's): InvalidKey cannot happen.
    const opened: Effect.Effect<
      log.LogHandle,
      BufferNotFound | BufferExists | InvalidCapacity | StorageUnavailable,
      Scope.Scope
    > = mode === "get"
      ? log.open(impl, slot.key, self.lifetime).pipe(Effect.catchTags({
        LogNotFound: () => Effect.fail(new BufferNotFound({ key: slot.key })),
        InvalidKey: Effect.die
      }))
      : log.create(impl, slot.key, { capacity }, mode === "create" ? "create" : "get", self.lifetime).pipe(
        Effect.catchTags({
          LogExists: () => Effect.fail(new BufferExists({ key: slot.key })),
          InvalidKey: Effect.die
        })
      )
    return Effect.gen(function*(): Effect.fn.Return<Held, OpenError | Retry> {
      const handle = yield* Scope.extend(opened, slot.scope)
      yield* self.settleCapacity(slot, handle.capacity, mode)
      slot.createdAt = handle.createdAt

      let total = 0
      let replica: ReplayReplica.Replica | undefined
      let tail: log.Tail | undefined
      const apply = (offset: number, chunks: ReadonlyArray<Uint8Array>) => {
        let length = 0
        for (const c of chunks) length += c.length
        replica!.unsafeApply(offset, chunks)
        if (offset + length > total) total = offset + length
      }
      const lost = (error: LogLost) => self.lose(slot, replica!, error)
      /** After the log of record answered, make the replica show it: pull if the appender's hook could not. */
      const catchUp = (to: number): Effect.Effect<void, StorageUnavailable | BufferClosed> =>
        Effect.flatMap(replica!.buffer.ended, (ended) =>
          total >= to || Option.isSome(ended)
            ? Effect.void
            : Effect.catchTag(tail!.pull, "LogLost", () => new BufferClosed({ total })))
      const refresh = Effect.ignore(Effect.suspend(() => tail!.pull))
      const onLogLost = <A>(error: LogLost): Effect.Effect<A, BufferClosed> =>
        Effect.zipRight(Effect.sync(() => lost(error)), new BufferClosed({ total }))

      const local = yield* Effect.makeSemaphore(1)
      // The ends this instance is recording: when the tail applies the end Redis recorded and it is one of
      // these, the replica keeps the caller's own value (the producer's failure, as it was given).
      const ownEnds: Array<EndExit> = []
      const applyEnd = (exit: EndExit) => {
        const own = ownEnds.find((e) => sameEnd(e, exit))
        replica!.unsafeApplyEnd(own ?? exit)
      }
      const engine: ReplayReplica.ReplicaEngine = {
        writeAll: (chunks, lease) =>
          Effect.suspend(() => {
            let length = 0
            for (const c of chunks) length += c.length
            // An end applied here is final (Redis recorded it, or the log was lost): refused without asking Redis.
            const ended = Option.isSome(Effect.runSync(replica!.buffer.ended))
            if (ended) return Effect.fail(new BufferClosed({ total }))
            return handle.writeAll(chunks, lease as log.LeaseToken | undefined).pipe(
              Effect.flatMap((appended) => catchUp(appended.offset + length)),
              Effect.catchTags({
                LogLost: (error) => onLogLost<void>(error),
                // Ended elsewhere: show the end here too before answering, so the next step sees it.
                BufferClosed: (error) => Effect.zipRight(refresh, Effect.fail(error))
              })
            ) as Effect.Effect<void, BufferClosed | OffsetOverflow | WriterBusy | LeaseLost | StorageUnavailable>
          }),
        end: (exit: EndExit, lease) =>
          Effect.suspend(() => {
            ownEnds.push(exit)
            return handle.end(exit, lease as log.LeaseToken | undefined).pipe(
              // The end is applied by the tail, after the last byte: pull now so it shows when this returns.
              Effect.tap(() => refresh),
              Effect.catchTag("LogLost", (error) => Effect.as(Effect.sync(() => lost(error)), false)),
              Effect.ensuring(Effect.sync(() => ownEnds.splice(ownEnds.indexOf(exit), 1)))
            )
          }),
        acquireWriter: (options) =>
          Effect.gen(function*() {
            const scope = yield* Effect.scope
            const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
            const takingOver = yield* FiberRef.get(takeoverRef)
            return yield* Effect.zipRight(
              // Producers on this instance queue here (first come, first served); the lease in Redis is taken
              // once this instance's turn comes. A takeover goes straight to Redis: it fences whoever holds it.
              takingOver ? Effect.void : holdLocal(local, options.wait === true, handle.epoch),
              handle.acquireWriter({ wait: options.wait === true, takeover: takingOver })
            ).pipe(
              Scope.extend(child),
              Effect.onError((cause) => Scope.close(child, Exit.failCause(cause))),
              Effect.catchTags({
                LogLost: (error) => onLogLost<object>(error),
                BufferClosed: (error) => Effect.zipRight(refresh, Effect.fail(error))
              })
            )
          })
      }
      replica = yield* Effect.orDie(ReplayReplica.make({
        capacity: handle.capacity,
        epoch: handle.epoch,
        start: 0,
        engine
      }))
      handle.onCommitted = (offset, blob) => {
        if (total >= offset) apply(offset, [blob])
      }
      tail = yield* handle.follow({
        from: 0,
        apply,
        applyEnd,
        position: () => total,
        onLost: lost,
        onRemoved: () => self.markGone(slot)
      }).pipe(Scope.extend(slot.scope))
      // Load what Redis retains (the replica jumps to its oldest), up to its current total.
      yield* Effect.catchTag(tail.pull, "LogLost", () => Effect.fail(new Retry()))
      if (slot.gone) return yield* Effect.fail(new Retry())
      const held: Held = { buffer: replica.buffer, replica, log: handle, tail, total: () => total }
      return held
    })
  }

  /** The buffer held under `key`, made or opened as `mode` says, and brought up to date with the log of record. */
  private acquire(key: string, mode: Mode, capacity: number): Effect.Effect<ReplayBuffer.ReplayBuffer, OpenError> {
    const self = this
    return Effect.gen(function*(): Effect.fn.Return<ReplayBuffer.ReplayBuffer, OpenError> {
      let last: OpenError | undefined
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const [slot, fresh] = yield* self.reserve(key, mode, capacity)
        if (fresh) {
          const exit = yield* Effect.exit(Effect.uninterruptible(self.open(slot, mode, capacity)))
          if (Exit.isSuccess(exit)) {
            slot.held = exit.value
            slot.watcher = self.runWatcher(self.watch(slot, exit.value))
            yield* Deferred.succeed(slot.ready, exit.value)
            return exit.value.buffer
          }
          // Nothing is held: forget the slot, close what was opened, and tell whoever waited for it.
          self.markGone(slot)
          yield* self.expire(slot)
          yield* Deferred.failCause(slot.ready, exit.cause)
          const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
          if (error === undefined) return yield* Effect.die(Cause.squash(exit.cause))
          if (error._tag === "Retry") continue
          return yield* Effect.fail(error)
        }
        // Held (or being opened by someone else): wait for it, then make sure it is current.
        const ready = yield* Effect.exit(Deferred.await(slot.ready))
        if (Exit.isFailure(ready)) {
          const error = Option.getOrUndefined(Cause.failureOption(ready.cause))
          if (error !== undefined && error._tag !== "Retry") last = error
          continue
        }
        const held = ready.value
        // Before answering, catch up with Redis: a cursor made next sees every acknowledged byte, so a resume
        // position past it is refused (OffsetAhead), never clamped. This pull also finds a log that was lost or
        // removed (on any instance): the slot is then gone, and we look again.
        const pulled = yield* Effect.exit(held.tail.pull)
        if (Exit.isFailure(pulled)) {
          const error = Option.getOrUndefined(Cause.failureOption(pulled.cause))
          if (error !== undefined && error._tag === "StorageUnavailable") return yield* Effect.fail(error)
          if (!slot.gone) return yield* Effect.die(Cause.squash(pulled.cause))
        }
        if (slot.gone) continue
        if (mode === "create") return yield* new BufferExists({ key })
        return held.buffer
      }
      return yield* Effect.fail(
        last ?? (mode === "get" ? new BufferNotFound({ key }) : new StorageUnavailable({
          reason: `the log under ${JSON.stringify(key)} kept going away while it was opened`
        }))
      )
    })
  }

  private capacityOf(options: ReplayRegistry.CreateOptions | undefined): Effect.Effect<number, InvalidCapacity> {
    const capacity = options?.capacity ?? this.limits.defaultCapacity
    return Number.isSafeInteger(capacity) && capacity > 0
      ? Effect.succeed(capacity)
      : Effect.fail(new InvalidCapacity({ capacity }))
  }

  readonly create = (
    key: string,
    options?: ReplayRegistry.CreateOptions
  ): Effect.Effect<ReplayBuffer.ReplayBuffer, ReplayRegistry.CreateError> =>
    Effect.gen(this, function*(): Effect.fn.Return<ReplayBuffer.ReplayBuffer, ReplayRegistry.CreateError> {
      yield* ReplayRegistry.checkKey(key)
      const capacity = yield* this.capacityOf(options)
      return yield* this.acquire(key, "create", capacity).pipe(
        Effect.catchTags({
          // Full: but a key that is taken is taken whatever the limits (the order core's registry checks in).
          RegistryFull: (full) =>
            Effect.flatMap(
              log.exists(this.impl, key, this.lifetime),
              (taken): Effect.Effect<never, BufferExists | RegistryFull> =>
                taken ? Effect.fail(new BufferExists({ key })) : Effect.fail(full)
            ),
          BufferNotFound: Effect.die
        })
      )
    })

  readonly getOrCreate = (
    key: string,
    options?: ReplayRegistry.CreateOptions
  ): Effect.Effect<ReplayBuffer.ReplayBuffer, Exclude<ReplayRegistry.CreateError, BufferExists>> =>
    Effect.gen(this, function*() {
      yield* ReplayRegistry.checkKey(key)
      const capacity = yield* this.capacityOf(options)
      return yield* this.acquire(key, "getOrCreate", capacity).pipe(
        Effect.catchTags({ BufferExists: Effect.die, BufferNotFound: Effect.die })
      )
    })

  /**
   * A buffer made elsewhere (`ReplayBuffer.make`, `ReplayProcess.run`…) lives
   * in this process's memory: it cannot become a log of record in Redis that
   * other instances read. Refused: `InvalidKey` for a bad key, `BufferExists`
   * for a key taken (here or in Redis), otherwise a defect that says so —
   * none of the interface's errors means "this engine cannot adopt", and
   * `StorageUnavailable` would invite a retry (HTTP 503 + Retry-After) of a
   * call that can never succeed. Create the buffer through the registry and
   * write into it instead (`ReplayProcess.capture(command, buffer)`).
   */
  readonly adopt = (
    key: string,
    _buffer: ReplayBuffer.ReplayBuffer
  ): Effect.Effect<void, Exclude<ReplayRegistry.CreateError, InvalidCapacity>> =>
    Effect.gen(this, function*() {
      yield* ReplayRegistry.checkKey(key)
      const state = yield* SynchronizedRef.get(this.state)
      const slot = Option.getOrUndefined(HashMap.get(state.slots, key))
      if ((slot !== undefined && !slot.gone) || (yield* log.exists(this.impl, key, this.lifetime))) {
        return yield* new BufferExists({ key })
      }
      return yield* Effect.die(
        new Error(
          "RedisRegistry.adopt: a buffer made in this process cannot be moved into Redis; create it with " +
            "registry.create(key) (its log of record is then in Redis) and write into that buffer instead"
        )
      )
    })

  readonly get = (key: string): Effect.Effect<ReplayBuffer.ReplayBuffer, BufferNotFound | StorageUnavailable> =>
    Effect.suspend(() =>
      ReplayRegistry.isValidKey(key)
        ? this.acquire(key, "get", 0).pipe(
          Effect.catchTags({
            BufferExists: Effect.die,
            InvalidCapacity: Effect.die,
            RegistryFull: (full) => new StorageUnavailable({ reason: full.message })
          })
        )
        : Effect.fail(new BufferNotFound({ key }))
    )

  get list(): Effect.Effect<ReadonlyArray<ReplayRegistry.Entry>> {
    return Effect.map(SynchronizedRef.get(this.state), (state) =>
      Array.from(HashMap.values(state.slots))
        .filter((slot) => slot.held !== undefined && !slot.gone)
        .sort((a, b) => a.sequence - b.sequence)
        .map((slot) => ({ key: slot.key, buffer: slot.held!.buffer, createdAt: slot.createdAt })))
  }

  readonly remove = (key: string): Effect.Effect<void, BufferNotFound | StorageUnavailable> =>
    Effect.uninterruptible(Effect.gen(this, function*() {
      if (!ReplayRegistry.isValidKey(key)) return yield* new BufferNotFound({ key })
      // In Redis first: ended (a recorded end is kept), the key free for everyone; the other instances' tails
      // read the end and let go of it. If Redis cannot be reached, nothing changes.
      const removed = yield* Effect.catchTag(
        log.removeLog(this.impl, key, this.lifetime),
        "InvalidKey",
        Effect.die
      )
      const slot = yield* SynchronizedRef.modify(this.state, (state) => {
        const slot = Option.getOrUndefined(HashMap.get(state.slots, key))
        return slot === undefined ? [undefined, state] as const : [slot, this.forget(state, slot)] as const
      })
      if (slot === undefined) {
        if (Option.isNone(removed)) return yield* new BufferNotFound({ key })
        return
      }
      // Locally: the end is applied after the bytes (a pull), so followers here drain and complete as they
      // would on any instance; if Redis went away meanwhile, the end Redis recorded is applied as it is.
      const ready = yield* Effect.exit(Deferred.await(slot.ready))
      if (Exit.isSuccess(ready)) {
        const held = ready.value
        yield* Effect.ignore(held.tail.pull)
        held.replica.unsafeApplyEnd(Option.isSome(removed) ? removed.value.exit : Exit.void)
      }
      this.markGone(slot)
      if (slot.watcher !== undefined) yield* Fiber.interrupt(slot.watcher)
      yield* Scope.close(slot.scope, Exit.void)
    }))

  get retainedBytes(): Effect.Effect<number> {
    return Effect.map(SynchronizedRef.get(this.state), (state) => state.bytes)
  }

  /**
   * The scope's finalizer. Redis is not touched: the logs go on for the other
   * instances. Each local replica ends with a `ProducerFailed` that says this
   * instance let go of it, so no follower here hangs.
   */
  get close(): Effect.Effect<void> {
    return SynchronizedRef.modify(this.state, (state) => {
      const slots = Array.from(HashMap.values(state.slots))
      if (slots.length > 0) ReplayMetrics.registryBuffers.unsafeModify(-slots.length, NO_TAGS)
      return [slots, { closed: true, slots: HashMap.empty(), bytes: 0, sequence: state.sequence }] as const
    }).pipe(Effect.flatMap((slots) =>
      Effect.forEach(slots, (slot) =>
        Effect.suspend(() => {
          slot.held?.replica.unsafeApplyEnd(Exit.fail(
            new ProducerFailed({
              reason: "this instance closed its registry: the stream goes on in Redis (reconnect to another instance)"
            })
          ))
          this.markGone(slot)
          return Scope.close(slot.scope, Exit.void)
        }), { discard: true })
    ))
  }

  toJSON() {
    return {
      _id: "@scrollback/redis/RedisRegistry",
      limits: {
        maxBuffers: this.limits.maxBuffers,
        maxTotalBytes: this.limits.maxTotalBytes,
        defaultCapacity: this.limits.defaultCapacity,
        idleTimeout: Duration.format(this.limits.idleTimeout)
      },
      keyPrefix: this.store.options.keyPrefix
    }
  }
}

/** Whether the end Redis recorded is `own` (a normal end, or the same producer failure). */
const sameEnd = (own: EndExit, recorded: EndExit): boolean => {
  if (Exit.isSuccess(own) || Exit.isSuccess(recorded)) return Exit.isSuccess(own) && Exit.isSuccess(recorded)
  const a = Option.getOrUndefined(Cause.failureOption(own.cause))
  const b = Option.getOrUndefined(Cause.failureOption(recorded.cause))
  return a !== undefined && b !== undefined && a.reason === b.reason && a.exitCode === b.exitCode
}

/**
 * Takes this instance's turn at a buffer's writer lease for the scope: a
 * fiber holds the one permit until the scope closes. Without `wait`, fails
 * `WriterBusy` at once if another producer here holds it.
 */
const holdLocal = (
  semaphore: Effect.Semaphore,
  wait: boolean,
  epoch: string
): Effect.Effect<void, WriterBusy, Scope.Scope> =>
  Effect.flatMap(Deferred.make<void, WriterBusy>(), (ready) => {
    const hold = Effect.zipRight(Deferred.succeed(ready, undefined), Effect.never)
    const holder = wait
      ? semaphore.withPermits(1)(hold)
      : Effect.zipRight(semaphore.withPermitsIfAvailable(1)(hold), Deferred.fail(ready, new WriterBusy({ epoch })))
    return Effect.flatMap(
      Effect.forkScoped(Effect.interruptible(holder)),
      (fiber) => Deferred.await(ready).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))
    )
  })

// --- constructors ---

/** @internal */
export const make = (
  options: Api.Options = {}
): Effect.Effect<Api.RedisRegistry, InvalidRegistryOptions | InvalidStoreOptions | StorageUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    const limits = yield* ReplayRegistry.resolveLimits(options)
    const redis = yield* RedisStore.make(options)
    // Made before the registry's finalizer, so it closes after it: replicas end first, then watchers stop.
    const watchers = yield* FiberSet.make<void, never>()
    const run = yield* FiberSet.runtime(watchers)<never>()
    const state = yield* SynchronizedRef.make<State>({
      closed: false,
      slots: HashMap.empty(),
      bytes: 0,
      sequence: 0
    })
    const scope = yield* Effect.scope
    const registry = new RedisRegistryImpl(limits, redis, state, scope, (effect) => run(effect))
    yield* Effect.addFinalizer(() => registry.close)
    return registry
  })

/** @internal */
export const layer = (
  options?: Api.Options
): Layer.Layer<Api.RedisRegistry, InvalidRegistryOptions | InvalidStoreOptions | StorageUnavailable> =>
  Layer.scoped(tag, make(options))

/** @internal */
export const config: Config.Config<Api.Options> = Config.all({
  store: RedisStore.config,
  maxBuffers: Config.integer("SCROLLBACK_MAX_BUFFERS").pipe(Config.withDefault(ReplayRegistry.DEFAULT_MAX_BUFFERS)),
  maxTotalBytes: Config.integer("SCROLLBACK_MAX_TOTAL_BYTES").pipe(
    Config.withDefault(ReplayRegistry.DEFAULT_MAX_TOTAL_BYTES)
  ),
  defaultCapacity: Config.integer("SCROLLBACK_DEFAULT_CAPACITY").pipe(
    Config.withDefault(ReplayRegistry.DEFAULT_CAPACITY)
  ),
  idleTimeout: Config.duration("SCROLLBACK_IDLE_TIMEOUT").pipe(Config.withDefault(ReplayRegistry.DEFAULT_IDLE_TIMEOUT))
}).pipe(Config.map(({ store, ...limits }): Api.Options => ({ ...store, ...limits })))

/** @internal */
export const layerConfig = (
  options: Config.Config<Api.Options> = config
): Layer.Layer<
  Api.RedisRegistry,
  InvalidRegistryOptions | InvalidStoreOptions | StorageUnavailable | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(options, layer))

/** @internal */
export const layerRegistry = (
  options?: Api.Options
): Layer.Layer<
  Api.RedisRegistry | ReplayRegistry.ReplayRegistry,
  InvalidRegistryOptions | InvalidStoreOptions | StorageUnavailable
> => provideCore(layer(options))

/** @internal */
export const layerRegistryConfig = (
  options: Config.Config<Api.Options> = config
): Layer.Layer<
  Api.RedisRegistry | ReplayRegistry.ReplayRegistry,
  InvalidRegistryOptions | InvalidStoreOptions | StorageUnavailable | ConfigError.ConfigError
> => provideCore(layerConfig(options))

const provideCore = <E>(
  layer: Layer.Layer<Api.RedisRegistry, E>
): Layer.Layer<Api.RedisRegistry | ReplayRegistry.ReplayRegistry, E> =>
  Layer.effectContext(
    Effect.map(
      tag,
      (registry) => Context.make(tag, registry).pipe(Context.add(ReplayRegistry.ReplayRegistry, registry))
    )
  ).pipe(
    Layer.provide(layer)
  )
