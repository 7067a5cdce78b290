import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import { dual } from "effect/Function"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type * as ReplayBuffer from "../ReplayBuffer.js"
import type { InvalidCapacity, StorageUnavailable } from "../ReplayBufferError.js"
import type * as Api from "../ReplayRegistry.js"
import {
  BufferExists,
  BufferNotFound,
  InvalidKey,
  InvalidRegistryOptions,
  RegistryFull
} from "../ReplayRegistryError.js"
import * as Metrics from "./metrics.js"
import * as buffer from "./replayBuffer.js"

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@scrollback/core/ReplayRegistry") as Api.TypeId

/** @internal */
export const DEFAULT_MAX_BUFFERS = 1_024

/** @internal */
export const DEFAULT_MAX_TOTAL_BYTES = 268_435_456

/** @internal */
export const DEFAULT_CAPACITY = 1_048_576

/** @internal */
export const DEFAULT_IDLE_TIMEOUT: Duration.Duration = Duration.minutes(5)

/** @internal */
export const MAX_KEY_LENGTH = 128

/** @internal */
export const tag: Context.Tag<Api.ReplayRegistry, Api.ReplayRegistry> = Context.GenericTag<Api.ReplayRegistry>(
  "@scrollback/core/ReplayRegistry"
)

/** @internal */
export const isReplayRegistry = (u: unknown): u is Api.ReplayRegistry => Predicate.hasProperty(u, TypeId)

const NO_TAGS: ReadonlyArray<never> = []

const KEY_CHARS = /^[A-Za-z0-9._~-]+$/

/** @internal */
export const validateKey = (key: unknown): InvalidKey | undefined => {
  if (typeof key !== "string") {
    return new InvalidKey({ key: String(key), reason: "a key must be a string" })
  }
  if (key.length === 0) return new InvalidKey({ key, reason: "a key must not be empty" })
  if (key.length > MAX_KEY_LENGTH) {
    return new InvalidKey({ key, reason: `a key must be at most ${MAX_KEY_LENGTH} characters long` })
  }
  if (!KEY_CHARS.test(key)) {
    return new InvalidKey({ key, reason: "a key may only contain the characters A-Z a-z 0-9 . _ ~ -" })
  }
  if (key === "." || key === "..") {
    return new InvalidKey({ key, reason: "\".\" and \"..\" are path segments that URLs resolve away" })
  }
  return undefined
}

/** @internal */
export const checkKey = (key: string): Effect.Effect<string, InvalidKey> => {
  const invalid = validateKey(key)
  return invalid === undefined ? Exit.succeed(key) : Exit.fail(invalid)
}

// --- options ---

type Limits = Api.Limits

const positiveSafeInteger = (
  option: string,
  value: number | undefined,
  fallback: number
): number | InvalidRegistryOptions => {
  if (value === undefined) return fallback
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return value
  return new InvalidRegistryOptions({ option, value, reason: "must be a positive safe integer" })
}

const nonNegativeSafeInteger = (
  option: string,
  value: number | undefined,
  fallback: number
): number | InvalidRegistryOptions => {
  if (value === undefined) return fallback
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value
  return new InvalidRegistryOptions({ option, value, reason: "must be a non-negative safe integer" })
}

const isNegativeOrNaN = (u: unknown): boolean =>
  (typeof u === "number" && (Number.isNaN(u) || u < 0)) ||
  (typeof u === "bigint" && u < BigInt(0)) ||
  (Array.isArray(u) && u.some(isNegativeOrNaN))

const idleDuration = (value: Duration.DurationInput | undefined): Duration.Duration | InvalidRegistryOptions => {
  if (value === undefined) return DEFAULT_IDLE_TIMEOUT
  const decoded = isNegativeOrNaN(value) ? Option.none() : Duration.decodeUnknown(value)
  if (Option.isSome(decoded)) return decoded.value
  return new InvalidRegistryOptions({
    option: "idleTimeout",
    value,
    reason: "must be a non-negative duration (Duration.DurationInput)"
  })
}

/** @internal */
export const validateOptions = (options: Api.Options | undefined): Limits | InvalidRegistryOptions => {
  const maxBuffers = positiveSafeInteger("maxBuffers", options?.maxBuffers, DEFAULT_MAX_BUFFERS)
  if (typeof maxBuffers !== "number") return maxBuffers
  const maxTotalBytes = positiveSafeInteger("maxTotalBytes", options?.maxTotalBytes, DEFAULT_MAX_TOTAL_BYTES)
  if (typeof maxTotalBytes !== "number") return maxTotalBytes
  const defaultCapacity = positiveSafeInteger("defaultCapacity", options?.defaultCapacity, DEFAULT_CAPACITY)
  if (typeof defaultCapacity !== "number") return defaultCapacity
  // An explicit default that can never fit is a mistake; the implicit 1 MiB default is not checked, so a small
  // registry whose callers always pass a capacity needs no defaultCapacity.
  if (options?.defaultCapacity !== undefined && defaultCapacity > maxTotalBytes) {
    return new InvalidRegistryOptions({
      option: "defaultCapacity",
      value: defaultCapacity,
      reason: `must not exceed maxTotalBytes (${maxTotalBytes})`
    })
  }
  const idleTimeout = idleDuration(options?.idleTimeout)
  if (!Duration.isDuration(idleTimeout)) return idleTimeout
  const maxKeySeries = nonNegativeSafeInteger("maxKeySeries", options?.maxKeySeries, Metrics.DEFAULT_MAX_KEY_SERIES)
  if (typeof maxKeySeries !== "number") return maxKeySeries
  return { maxBuffers, maxTotalBytes, defaultCapacity, idleTimeout, maxKeySeries }
}

/** @internal */
export const resolveLimits = (options?: Api.Options): Effect.Effect<Limits, InvalidRegistryOptions> =>
  Effect.suspend(() => {
    const limits = validateOptions(options)
    return "idleTimeout" in limits ? Exit.succeed(limits) : Exit.fail(limits)
  })

// --- the registry ---

interface Held {
  readonly entry: Api.Entry
  /** The order it was added in. */
  readonly sequence: number
  /** The fiber that removes the buffer `idleTimeout` after it ends; set right after registration. */
  watcher: Fiber.RuntimeFiber<void> | undefined
  /** How the per-key metrics see it. */
  readonly tracked: Metrics.Tracked
}

interface State {
  readonly closed: boolean
  readonly held: HashMap.HashMap<string, Held>
  /** The sum of the capacities held. */
  readonly bytes: number
  /** Orders `list`: each registration takes the next number. */
  readonly sequence: number
}

type RunWatcher = (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>

type CreateError = Api.CreateError

/** Spans of the registry's operations: named `ReplayRegistry.<operation>`, tagged with the key. */
const spanned = <A, E, R>(operation: string, key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withSpan(effect, `ReplayRegistry.${operation}`, {
    attributes: { "scrollback.key": key },
    captureStackTrace: false
  })

class ReplayRegistryImpl implements Api.ReplayRegistry {
  readonly [TypeId]: Api.TypeId = TypeId
  /** The keys given a metric series of their own (at most `maxKeySeries`; never shrinks, as Effect's metrics). */
  private readonly keySeries = new Set<string>()

  constructor(
    readonly limits: Limits,
    private readonly state: SynchronizedRef.SynchronizedRef<State>,
    private readonly runWatcher: RunWatcher
  ) {}

  pipe() {
    return pipeArguments(this, arguments)
  }

  /**
   * Checks the key and the limits and holds `made`'s buffer, in one update of
   * the state: concurrent registrations can never pass a limit together.
   * `made` runs inside the update, only once the key was found free.
   */
  private register<E>(
    key: string,
    existing: "fail" | "return",
    made: Effect.Effect<ReplayBuffer.ReplayBuffer, E>
  ): Effect.Effect<ReplayBuffer.ReplayBuffer, E | BufferExists | RegistryFull> {
    return SynchronizedRef.modifyEffect(this.state, (
      state
    ): Effect.Effect<readonly [ReplayBuffer.ReplayBuffer, State], E | BufferExists | RegistryFull> => {
      if (state.closed) {
        return Effect.die(new Error("ReplayRegistry: a buffer was added after the registry's scope closed"))
      }
      const current = HashMap.get(state.held, key)
      if (Option.isSome(current)) {
        return existing === "return"
          ? Effect.succeed([current.value.entry.buffer, state] as const)
          : Effect.fail(new BufferExists({ key }))
      }
      const { maxBuffers, maxTotalBytes } = this.limits
      return Effect.flatMap(made, (made) => {
        if (HashMap.size(state.held) >= maxBuffers) {
          return Effect.fail(new RegistryFull({ reason: "buffers", limit: maxBuffers }))
        }
        if (state.bytes + made.capacity > maxTotalBytes) {
          return Effect.fail(new RegistryFull({ reason: "bytes", limit: maxTotalBytes, requested: made.capacity }))
        }
        return Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (createdAt) => {
          const held: Held = {
            entry: { key, buffer: made, createdAt },
            sequence: state.sequence,
            watcher: undefined,
            tracked: Metrics.track(Metrics.labelsFor(this.keySeries, this.limits.maxKeySeries, key), made)
          }
          Metrics.registryBuffers.unsafeModify(1, NO_TAGS)
          held.watcher = this.runWatcher(this.watch(held))
          return [made, {
            closed: false,
            held: HashMap.set(state.held, key, held),
            bytes: state.bytes + made.capacity,
            sequence: state.sequence + 1
          }] as const
        })
      })
    })
  }

  /**
   * Removes the buffer `idleTimeout` after it ends, unless it was removed or
   * replaced meanwhile (the identity check). Interruptible whatever the flags
   * of the fiber that built the registry, so `remove` and the scope's close
   * can always stop it.
   */
  private watch(held: Held): Effect.Effect<void> {
    const idle = this.limits.idleTimeout
    const expire = SynchronizedRef.update(
      this.state,
      (state) => Option.getOrUndefined(HashMap.get(state.held, held.entry.key)) === held ? forget(state, held) : state
    )
    // With an infinite idle time an ended buffer stays until removed: nothing left to wait for.
    const afterEnd = Duration.isFinite(idle) ? Effect.zipRight(Effect.sleep(idle), expire) : Effect.void
    return Effect.interruptible(Effect.zipRight(Effect.exit(held.entry.buffer.awaitEnd), afterEnd))
  }

  private made(options: Api.CreateOptions | undefined): Effect.Effect<ReplayBuffer.ReplayBuffer, InvalidCapacity> {
    return buffer.make({ capacity: options?.capacity ?? this.limits.defaultCapacity })
  }

  readonly create = (key: string, options?: Api.CreateOptions): Effect.Effect<ReplayBuffer.ReplayBuffer, CreateError> =>
    spanned(
      "create",
      key,
      Effect.suspend((): Effect.Effect<ReplayBuffer.ReplayBuffer, CreateError> => {
        const invalid = validateKey(key)
        if (invalid !== undefined) return Exit.fail(invalid)
        // Checked before the key: a bad capacity is the caller's mistake whatever the registry holds.
        return Effect.flatMap(this.made(options), (made) => this.register(key, "fail", Effect.succeed(made)))
      })
    )

  readonly getOrCreate = (
    key: string,
    options?: Api.CreateOptions
  ): Effect.Effect<ReplayBuffer.ReplayBuffer, Exclude<CreateError, BufferExists>> =>
    spanned(
      "getOrCreate",
      key,
      Effect.suspend((): Effect.Effect<ReplayBuffer.ReplayBuffer, Exclude<CreateError, BufferExists>> => {
        const invalid = validateKey(key)
        if (invalid !== undefined) return Exit.fail(invalid)
        // With "return", a key already held is no failure: BufferExists cannot happen.
        return this.register(key, "return", this.made(options)) as Effect.Effect<
          ReplayBuffer.ReplayBuffer,
          InvalidCapacity | RegistryFull
        >
      })
    )

  readonly adopt = (
    key: string,
    adopted: ReplayBuffer.ReplayBuffer
  ): Effect.Effect<void, Exclude<CreateError, InvalidCapacity>> =>
    spanned(
      "adopt",
      key,
      Effect.suspend((): Effect.Effect<void, Exclude<CreateError, InvalidCapacity>> => {
        const invalid = validateKey(key)
        if (invalid !== undefined) return Exit.fail(invalid)
        return Effect.asVoid(this.register(key, "fail", Effect.succeed(adopted)))
      })
    )

  readonly get = (key: string): Effect.Effect<ReplayBuffer.ReplayBuffer, BufferNotFound> =>
    spanned(
      "get",
      key,
      Effect.map(SynchronizedRef.get(this.state), (state) => HashMap.get(state.held, key)).pipe(
        Effect.flatMap((held) =>
          Option.isSome(held) ? Effect.succeed(held.value.entry.buffer) : Effect.fail(new BufferNotFound({ key }))
        )
      )
    )

  get list(): Effect.Effect<ReadonlyArray<Api.Entry>> {
    return Effect.map(
      SynchronizedRef.get(this.state),
      (state) =>
        Array.from(HashMap.values(state.held)).sort((a, b) => a.sequence - b.sequence).map((held) => held.entry)
    )
  }

  readonly remove = (key: string): Effect.Effect<void, BufferNotFound | StorageUnavailable> =>
    spanned(
      "remove",
      key,
      this.removeHeld(key)
    )

  private removeHeld(key: string): Effect.Effect<void, BufferNotFound | StorageUnavailable> {
    return Effect.uninterruptible(
      // Forgotten in the same update as the lookup, so exactly one of several concurrent removes wins;
      // then ended (followers drain and complete) and its timer stopped before returning.
      SynchronizedRef.modifyEffect(this.state, (state) => {
        const held = HashMap.get(state.held, key)
        return Option.isSome(held)
          ? Effect.succeed([held.value, forget(state, held.value)] as const)
          : Effect.fail(new BufferNotFound({ key }))
      }).pipe(
        Effect.flatMap((held) => {
          const watcher = held.watcher
          const end = Effect.asVoid(held.entry.buffer.end)
          return watcher === undefined ? end : Effect.ensuring(end, Fiber.interrupt(watcher))
        })
      )
    )
  }

  get retainedBytes(): Effect.Effect<number> {
    return Effect.map(SynchronizedRef.get(this.state), (state) => state.bytes)
  }

  /** The scope's finalizer: ends every buffer still held and forgets them. Timers are stopped by the FiberSet. */
  get close(): Effect.Effect<void> {
    return SynchronizedRef.modify(this.state, (state) => {
      const held = Array.from(HashMap.values(state.held))
      if (held.length > 0) Metrics.registryBuffers.unsafeModify(-held.length, NO_TAGS)
      for (const h of held) Metrics.untrack(h.tracked)
      return [held, { closed: true, held: HashMap.empty(), bytes: 0, sequence: state.sequence }] as const
    }).pipe(Effect.flatMap((held) => Effect.forEach(held, (h) => Effect.ignore(h.entry.buffer.end), { discard: true })))
  }

  toJSON() {
    return {
      _id: "@scrollback/core/ReplayRegistry",
      limits: {
        maxBuffers: this.limits.maxBuffers,
        maxTotalBytes: this.limits.maxTotalBytes,
        defaultCapacity: this.limits.defaultCapacity,
        idleTimeout: Duration.format(this.limits.idleTimeout),
        maxKeySeries: this.limits.maxKeySeries
      }
    }
  }
}

/** The state without `held` (the caller checked it is the one held under its key). */
const forget = (state: State, held: Held): State => {
  Metrics.registryBuffers.unsafeModify(-1, NO_TAGS)
  Metrics.untrack(held.tracked)
  return {
    closed: state.closed,
    held: HashMap.remove(state.held, held.entry.key),
    bytes: state.bytes - held.entry.buffer.capacity,
    sequence: state.sequence
  }
}

/** @internal */
export const make = (
  options?: Api.Options
): Effect.Effect<Api.ReplayRegistry, InvalidRegistryOptions, Scope.Scope> =>
  Effect.suspend(() => {
    const limits = validateOptions(options)
    if (!("idleTimeout" in limits)) return Exit.fail(limits)
    return Effect.gen(function*() {
      // Created before the registry's own finalizer, so it closes after it: buffers end first, then timers stop.
      const watchers = yield* FiberSet.make<void, never>()
      const run = yield* FiberSet.runtime(watchers)<never>()
      const state = yield* SynchronizedRef.make<State>({
        closed: false,
        held: HashMap.empty(),
        bytes: 0,
        sequence: 0
      })
      const registry = new ReplayRegistryImpl(limits, state, (effect) => run(effect))
      yield* Effect.addFinalizer(() => registry.close)
      return registry
    })
  })

/** @internal */
export const layer = (options?: Api.Options): Layer.Layer<Api.ReplayRegistry, InvalidRegistryOptions> =>
  Layer.scoped(tag, make(options))

/** @internal */
export const layerConfig = (
  config: Config.Config.Wrap<Api.Options>
): Layer.Layer<Api.ReplayRegistry, InvalidRegistryOptions | ConfigError.ConfigError> =>
  Layer.scoped(tag, Effect.flatMap(Config.unwrap(config), make))

// --- data-first / data-last module functions ---

/** @internal */
export const create = dual<
  (
    key: string,
    options?: Api.CreateOptions
  ) => (self: Api.ReplayRegistry) => Effect.Effect<ReplayBuffer.ReplayBuffer, CreateError>,
  (
    self: Api.ReplayRegistry,
    key: string,
    options?: Api.CreateOptions
  ) => Effect.Effect<ReplayBuffer.ReplayBuffer, CreateError>
>((args) => isReplayRegistry(args[0]), (self, key, options) => self.create(key, options))

/** @internal */
export const getOrCreate = dual<
  (
    key: string,
    options?: Api.CreateOptions
  ) => (self: Api.ReplayRegistry) => Effect.Effect<ReplayBuffer.ReplayBuffer, Exclude<CreateError, BufferExists>>,
  (
    self: Api.ReplayRegistry,
    key: string,
    options?: Api.CreateOptions
  ) => Effect.Effect<ReplayBuffer.ReplayBuffer, Exclude<CreateError, BufferExists>>
>((args) => isReplayRegistry(args[0]), (self, key, options) => self.getOrCreate(key, options))

/** @internal */
export const adopt = dual<
  (
    key: string,
    buffer: ReplayBuffer.ReplayBuffer
  ) => (self: Api.ReplayRegistry) => Effect.Effect<void, Exclude<CreateError, InvalidCapacity>>,
  (
    self: Api.ReplayRegistry,
    key: string,
    buffer: ReplayBuffer.ReplayBuffer
  ) => Effect.Effect<void, Exclude<CreateError, InvalidCapacity>>
>(3, (self, key, buffer) => self.adopt(key, buffer))

/** @internal */
export const get = dual<
  (
    key: string
  ) => (self: Api.ReplayRegistry) => Effect.Effect<ReplayBuffer.ReplayBuffer, BufferNotFound | StorageUnavailable>,
  (
    self: Api.ReplayRegistry,
    key: string
  ) => Effect.Effect<ReplayBuffer.ReplayBuffer, BufferNotFound | StorageUnavailable>
>(2, (self, key) => self.get(key))

/** @internal */
export const remove = dual<
  (key: string) => (self: Api.ReplayRegistry) => Effect.Effect<void, BufferNotFound | StorageUnavailable>,
  (self: Api.ReplayRegistry, key: string) => Effect.Effect<void, BufferNotFound | StorageUnavailable>
>(2, (self, key) => self.remove(key))
