import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { InvalidCapacity } from "@scrollback/core/ReplayBufferError"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import * as Metrics from "../ReplayMetrics.js"
import type * as Api from "../ReplayRegistry.js"
// The error classes are values of the public module. The cycle is safe: the public module is the only entry
// point (package exports hide internal/), and nothing here reads them while the modules are being evaluated.
import { BufferExists, BufferNotFound, InvalidKey, InvalidRegistryOptions, RegistryFull } from "../ReplayRegistry.js"

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@scrollback/platform/ReplayRegistry") as Api.TypeId

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
  "@scrollback/platform/ReplayRegistry"
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

// --- options ---

type Limits = Api.ReplayRegistry["limits"]

const positiveSafeInteger = (
  option: string,
  value: number | undefined,
  fallback: number
): number | InvalidRegistryOptions => {
  if (value === undefined) return fallback
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return value
  return new InvalidRegistryOptions({ option, value, reason: "must be a positive safe integer" })
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
  return { maxBuffers, maxTotalBytes, defaultCapacity, idleTimeout }
}

// --- the registry ---

interface Held {
  readonly entry: Api.Entry
  /** The fiber that removes the buffer `idleTimeout` after it ends; set right after registration. */
  watcher: Fiber.RuntimeFiber<void> | undefined
}

type RunWatcher = (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>

class ReplayRegistryImpl implements Api.ReplayRegistry {
  readonly [TypeId]: Api.TypeId = TypeId
  /** Insertion order is creation order: a key created again after removal goes to the end. */
  private readonly held = new Map<string, Held>()
  private bytes = 0
  private closed = false

  constructor(
    readonly limits: Limits,
    private readonly clock: Clock.Clock,
    private readonly runWatcher: RunWatcher
  ) {}

  pipe() {
    return pipeArguments(this, arguments)
  }

  /** Checks and registers in one synchronous step, so concurrent creates can never pass a limit together. */
  private register(key: string, buffer: ReplayBuffer.ReplayBuffer): Exit.Exit<
    ReplayBuffer.ReplayBuffer,
    BufferExists | RegistryFull
  > {
    if (this.closed) return Exit.die(new Error("ReplayRegistry: create was called after the registry's scope closed"))
    if (this.held.has(key)) return Exit.fail(new BufferExists({ key }))
    const { maxBuffers, maxTotalBytes } = this.limits
    if (this.held.size >= maxBuffers) {
      return Exit.fail(new RegistryFull({ reason: "buffers", limit: maxBuffers }))
    }
    if (this.bytes + buffer.capacity > maxTotalBytes) {
      return Exit.fail(
        new RegistryFull({ reason: "bytes", limit: maxTotalBytes, requested: buffer.capacity })
      )
    }
    const held: Held = {
      entry: { key, buffer, createdAt: this.clock.unsafeCurrentTimeMillis() },
      watcher: undefined
    }
    this.held.set(key, held)
    this.bytes += buffer.capacity
    Metrics.registryBuffers.unsafeModify(1, NO_TAGS)
    held.watcher = this.runWatcher(this.watch(held))
    return Exit.succeed(buffer)
  }

  /** Forgets a held entry; the caller has checked that it is the one held under its key. */
  private forget(held: Held): void {
    this.held.delete(held.entry.key)
    this.bytes -= held.entry.buffer.capacity
    Metrics.registryBuffers.unsafeModify(-1, NO_TAGS)
  }

  /**
   * Removes the buffer `idleTimeout` after it ends, unless it was removed or
   * replaced meanwhile (the identity check below). Interruptible whatever
   * the flags of the fiber that built the registry, so that `remove` and the
   * scope's close can always stop it.
   */
  private watch(held: Held): Effect.Effect<void> {
    const idle = this.limits.idleTimeout
    const expire = Effect.sync(() => {
      if (this.held.get(held.entry.key) === held) this.forget(held)
    })
    // With an infinite idle time an ended buffer stays until removed: nothing left to wait for.
    const afterEnd = Duration.isFinite(idle) ? Effect.zipRight(Effect.sleep(idle), expire) : Effect.void
    return Effect.interruptible(Effect.zipRight(Effect.exit(held.entry.buffer.awaitEnd), afterEnd))
  }

  readonly create = (
    key: string,
    options?: Api.CreateOptions
  ): Effect.Effect<ReplayBuffer.ReplayBuffer, InvalidKey | BufferExists | RegistryFull | InvalidCapacity> => {
    return Effect.suspend((): Effect.Effect<
      ReplayBuffer.ReplayBuffer,
      InvalidKey | BufferExists | RegistryFull | InvalidCapacity
    > => {
      const invalid = validateKey(key)
      if (invalid !== undefined) return Exit.fail(invalid)
      // A buffer allocates no storage until written to, so making one that is then refused costs next to nothing.
      return Effect.flatMap(
        ReplayBuffer.make({ capacity: options?.capacity ?? this.limits.defaultCapacity }),
        (buffer) => Effect.suspend(() => this.register(key, buffer))
      )
    })
  }

  readonly get = (key: string): Effect.Effect<ReplayBuffer.ReplayBuffer, BufferNotFound> => {
    return Effect.suspend(() => {
      const held = this.held.get(key)
      return held === undefined ? Exit.fail(new BufferNotFound({ key })) : Exit.succeed(held.entry.buffer)
    })
  }

  readonly list: Effect.Effect<ReadonlyArray<Api.Entry>> = Effect.sync(() =>
    Array.from(this.held.values(), (held) => held.entry)
  )

  readonly remove = (key: string): Effect.Effect<void, BufferNotFound> => {
    return Effect.uninterruptible(Effect.suspend(() => {
      const held = this.held.get(key)
      if (held === undefined) return Exit.fail(new BufferNotFound({ key }))
      // Forget it in the same step as the lookup, so exactly one of several concurrent removes wins;
      // then end it (followers drain and complete) and stop its timer before returning.
      this.forget(held)
      const watcher = held.watcher
      const end = Effect.asVoid(held.entry.buffer.end)
      return watcher === undefined ? end : Effect.zipRight(end, Fiber.interrupt(watcher))
    }))
  }

  readonly retainedBytes: Effect.Effect<number> = Effect.sync(() => this.bytes)

  /** The scope's finalizer: ends every buffer still held and forgets them. Timers are stopped by the FiberSet. */
  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    this.closed = true
    const held = Array.from(this.held.values())
    this.held.clear()
    this.bytes = 0
    if (held.length > 0) Metrics.registryBuffers.unsafeModify(-held.length, NO_TAGS)
    return Effect.forEach(held, (h) => h.entry.buffer.end, { discard: true })
  })

  toJSON() {
    return {
      _id: "@scrollback/platform/ReplayRegistry",
      buffers: this.held.size,
      retainedBytes: this.bytes,
      limits: {
        maxBuffers: this.limits.maxBuffers,
        maxTotalBytes: this.limits.maxTotalBytes,
        defaultCapacity: this.limits.defaultCapacity,
        idleTimeout: Duration.format(this.limits.idleTimeout)
      }
    }
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
      const clock = yield* Effect.clock
      // Created before the registry's own finalizer, so it closes after it: buffers end first, then timers stop.
      const watchers = yield* FiberSet.make<void, never>()
      const run = yield* FiberSet.runtime(watchers)<never>()
      const registry = new ReplayRegistryImpl(limits, clock, (effect) => run(effect))
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
  ) => (
    self: Api.ReplayRegistry
  ) => Effect.Effect<ReplayBuffer.ReplayBuffer, InvalidKey | BufferExists | RegistryFull | InvalidCapacity>,
  (
    self: Api.ReplayRegistry,
    key: string,
    options?: Api.CreateOptions
  ) => Effect.Effect<ReplayBuffer.ReplayBuffer, InvalidKey | BufferExists | RegistryFull | InvalidCapacity>
>((args) => isReplayRegistry(args[0]), (self, key, options) => self.create(key, options))

/** @internal */
export const get = dual<
  (key: string) => (self: Api.ReplayRegistry) => Effect.Effect<ReplayBuffer.ReplayBuffer, BufferNotFound>,
  (self: Api.ReplayRegistry, key: string) => Effect.Effect<ReplayBuffer.ReplayBuffer, BufferNotFound>
>(2, (self, key) => self.get(key))

/** @internal */
export const remove = dual<
  (key: string) => (self: Api.ReplayRegistry) => Effect.Effect<void, BufferNotFound>,
  (self: Api.ReplayRegistry, key: string) => Effect.Effect<void, BufferNotFound>
>(2, (self, key) => self.remove(key))
