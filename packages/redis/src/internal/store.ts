import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import type { RedisOptions } from "ioredis"
import { InvalidStoreOptions, StorageUnavailable } from "../RedisLogError.js"
import type * as Api from "../RedisStore.js"
import type { RedisStore } from "../RedisStore.js"
import * as scripts from "./scripts.js"

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@scrollback/redis/RedisStore") as Api.TypeId

/** @internal */
export const DEFAULT_URL = "redis://127.0.0.1:6379"
/** @internal */
export const DEFAULT_KEY_PREFIX = "sb:"
/** @internal */
export const DEFAULT_LEASE_MS = 10_000
/** @internal */
export const DEFAULT_SAFETY_POLL_MS = 5_000
/** @internal */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000
/** @internal */
export const DEFAULT_MAX_BATCH_BYTES = 1 << 20
/** @internal */
export const DEFAULT_MAX_PENDING_WRITES = 1024
/** @internal */
export const DEFAULT_READ_ENTRIES = 32
/** @internal */
export const DEFAULT_DEDUP_TTL_MS = 60_000
/** @internal */
export const DEFAULT_REMOVE_GRACE_MS = 60_000
/** @internal */
export const DEFAULT_MAX_APPENDS_IN_FLIGHT = 2

/** @internal */
export type Options = Api.Options

/** @internal */
export type ResolvedOptions = Api.ResolvedOptions

type Reply = ReadonlyArray<unknown>

/** The scripts, as ioredis custom commands (EVALSHA, falling back to EVAL after a restart). @internal */
export interface ScriptCommands {
  readonly sbCreate: (meta: string, log: string, tail: string, ...argv: Array<string>) => Promise<Reply>
  readonly sbAppend: (
    meta: string,
    log: string,
    tail: string,
    dedup: string,
    ...argv: Array<string | Buffer>
  ) => Promise<Reply>
  readonly sbEnd: (meta: string, log: string, tail: string, ...argv: Array<string>) => Promise<Reply>
  readonly sbReap: (meta: string, log: string, tail: string, ...argv: Array<string>) => Promise<Reply>
  readonly sbAcquire: (meta: string, ...argv: Array<string>) => Promise<Reply>
  readonly sbRefresh: (meta: string, ...argv: Array<string>) => Promise<Reply>
  readonly sbRelease: (meta: string, ...argv: Array<string>) => Promise<Reply>
  readonly sbReadBuffer: (meta: string, log: string, tail: string, from: string, count: string) => Promise<Reply>
  readonly sbRemove: (meta: string, log: string, tail: string, ...argv: Array<string>) => Promise<Reply>
}

/** @internal */
export interface Subscriber {
  readonly onMessage: (message: string) => void
  readonly onReconnect: () => void
}

/** @internal */
export interface StoreImpl extends RedisStore {
  readonly commands: ScriptCommands
  readonly call: <A>(what: string, f: (commands: ScriptCommands) => Promise<A>) => Effect.Effect<A, StorageUnavailable>
  readonly subscribe: (channel: string, subscriber: Subscriber) => Effect.Effect<void, never, Scope.Scope>
}

/** @internal */
export const tag = Context.GenericTag<RedisStore>("@scrollback/redis/RedisStore")

/** The public service is a `StoreImpl` at runtime. @internal */
export const impl = (store: RedisStore): StoreImpl => store as StoreImpl

const describe = (cause: unknown): string =>
  Predicate.hasProperty(cause, "message") && typeof cause.message === "string" ? cause.message : String(cause)

/**
 * Whether a failure means the command may not have reached Redis or its
 * reply was lost with the connection (retrying an idempotent command is
 * safe), as opposed to an error reply from Redis itself or a timeout.
 *
 * @internal
 */
export const isConnectionFailure = (error: StorageUnavailable): boolean =>
  error.cause !== undefined &&
  !(Predicate.hasProperty(error.cause, "name") && error.cause.name === "ReplyError") &&
  !(Predicate.hasProperty(error.cause, "_tag") && error.cause._tag === "TimeoutException")

const positiveInt = (option: string, value: number | undefined, fallback: number) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Number.isSafeInteger(value) && value > 0
    ? Effect.succeed(value)
    : Effect.fail(new InvalidStoreOptions({ option, value }))

/** @internal */
export const resolveOptions = (options: Options = {}): Effect.Effect<ResolvedOptions, InvalidStoreOptions> =>
  Effect.gen(function*() {
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX
    if (keyPrefix.includes("{") || keyPrefix.includes("}")) {
      return yield* new InvalidStoreOptions({ option: "keyPrefix", value: keyPrefix })
    }
    const leaseMs = yield* positiveInt("leaseMs", options.leaseMs, DEFAULT_LEASE_MS)
    if (leaseMs < 3) return yield* new InvalidStoreOptions({ option: "leaseMs", value: leaseMs })
    const commandTimeoutMs = yield* positiveInt(
      "commandTimeoutMs",
      options.commandTimeoutMs,
      DEFAULT_COMMAND_TIMEOUT_MS
    )
    const dedupTtlMs = yield* positiveInt("dedupTtlMs", options.dedupTtlMs, DEFAULT_DEDUP_TTL_MS)
    if (dedupTtlMs < commandTimeoutMs) {
      return yield* new InvalidStoreOptions({ option: "dedupTtlMs", value: dedupTtlMs })
    }
    const safetyPollMs = yield* positiveInt("safetyPollMs", options.safetyPollMs, DEFAULT_SAFETY_POLL_MS)
    const removeGraceMs = yield* positiveInt("removeGraceMs", options.removeGraceMs, DEFAULT_REMOVE_GRACE_MS)
    if (removeGraceMs < safetyPollMs) {
      return yield* new InvalidStoreOptions({ option: "removeGraceMs", value: removeGraceMs })
    }
    const maxAppendsInFlight = yield* positiveInt(
      "maxAppendsInFlight",
      options.maxAppendsInFlight,
      DEFAULT_MAX_APPENDS_IN_FLIGHT
    )
    if (maxAppendsInFlight > 2) {
      return yield* new InvalidStoreOptions({ option: "maxAppendsInFlight", value: maxAppendsInFlight })
    }
    return {
      url: options.url ?? DEFAULT_URL,
      keyPrefix,
      leaseMs,
      safetyPollMs,
      commandTimeoutMs,
      maxBatchBytes: yield* positiveInt("maxBatchBytes", options.maxBatchBytes, DEFAULT_MAX_BATCH_BYTES),
      maxPendingWrites: yield* positiveInt("maxPendingWrites", options.maxPendingWrites, DEFAULT_MAX_PENDING_WRITES),
      readEntries: yield* positiveInt("readEntries", options.readEntries, DEFAULT_READ_ENTRIES),
      dedupTtlMs,
      removeGraceMs,
      maxAppendsInFlight
    }
  })

/**
 * The connection options that make commands fail fast while Redis is away and
 * recover when it returns:
 * - `enableOfflineQueue: false`: a command issued while disconnected fails at once;
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: a command
 *   in flight when the connection drops fails at once and is never re-sent later
 *   behind the caller's back (the appender re-sends it itself, idempotently,
 *   within the command timeout);
 * - `retryStrategy`: reconnect forever, 50 ms more per attempt, at most 1 s apart;
 * - `commandTimeout` and `connectTimeout`: the command timeout.
 *
 * @internal
 */
export const connectionOptions = (options: ResolvedOptions): RedisOptions => ({
  lazyConnect: true,
  enableAutoPipelining: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  autoResubscribe: true,
  retryStrategy: (times) => Math.min(times * 50, 1000),
  commandTimeout: options.commandTimeoutMs,
  connectTimeout: options.commandTimeoutMs
})

const defineScripts = (client: Redis): ScriptCommands => {
  client.defineCommand("sbCreate", { numberOfKeys: 3, lua: scripts.create })
  client.defineCommand("sbAppend", { numberOfKeys: 4, lua: scripts.append })
  client.defineCommand("sbEnd", { numberOfKeys: 3, lua: scripts.end })
  client.defineCommand("sbReap", { numberOfKeys: 3, lua: scripts.reap })
  client.defineCommand("sbAcquire", { numberOfKeys: 1, lua: scripts.acquire })
  client.defineCommand("sbRefresh", { numberOfKeys: 1, lua: scripts.refresh })
  client.defineCommand("sbRelease", { numberOfKeys: 1, lua: scripts.release })
  client.defineCommand("sbRead", { numberOfKeys: 3, lua: scripts.read })
  client.defineCommand("sbRemove", { numberOfKeys: 3, lua: scripts.remove })
  return client as unknown as ScriptCommands
}

const open = (url: string, redisOptions: RedisOptions, timeoutMs: number, name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = new Redis(url, redisOptions)
      // ioredis emits "error" for every failed reconnect; the commands report failures as typed errors.
      client.on("error", () => {})
      return client
    }),
    (client) =>
      client.status === "ready"
        ? Effect.promise(() => client.quit().catch(() => "")).pipe(
          Effect.timeout(Duration.millis(timeoutMs)),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => client.disconnect()))
        )
        : Effect.sync(() => client.disconnect())
  ).pipe(
    Effect.tap((client) =>
      Effect.tryPromise({
        try: () => client.connect(),
        catch: (cause) => new StorageUnavailable({ reason: `${name}: cannot connect: ${describe(cause)}`, cause })
      }).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(timeoutMs),
          onTimeout: () => new StorageUnavailable({ reason: `${name}: no connection within ${timeoutMs} ms` })
        })
      )
    )
  )

/** @internal */
export const make = (
  options: Options = {}
): Effect.Effect<StoreImpl, InvalidStoreOptions | StorageUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = yield* resolveOptions(options)
    const redisOptions: RedisOptions = { ...connectionOptions(resolved), ...options.redis }
    const client = yield* open(resolved.url, redisOptions, resolved.commandTimeoutMs, "command connection")
    const commands = defineScripts(client)
    // The subscriber queues its (s)subscribe commands while reconnecting; they are resent on ready by the
    // "ready" listener below, not by ioredis' own autoResubscribe, whose commands have no rejection handler
    // (a connection killed again right after it came back rejected them as unhandled).
    const subscriber = yield* open(
      resolved.url,
      { ...redisOptions, enableOfflineQueue: true, enableAutoPipelining: false, autoResubscribe: false },
      resolved.commandTimeoutMs,
      "subscriber connection"
    )

    const channels = new Map<string, Set<Subscriber>>()
    subscriber.on("smessage", (channel: string, message: string) => {
      const set = channels.get(channel)
      if (set !== undefined) { for (const s of set) s.onMessage(message) }
    })
    // The first "ready" came before this listener: every later one is a reconnect. Make sure every
    // channel is subscribed, then let every tail re-pull (a wake-up published meanwhile is lost).
    subscriber.on("ready", () => {
      for (const channel of channels.keys()) subscriber.ssubscribe(channel).catch(() => {})
      for (const set of channels.values()) for (const s of set) s.onReconnect()
    })

    const timeoutMs = resolved.commandTimeoutMs
    const call = <A>(what: string, f: (commands: ScriptCommands) => Promise<A>) =>
      Effect.tryPromise({
        try: () => f(commands),
        catch: (cause) => new StorageUnavailable({ reason: `${what}: ${describe(cause)}`, cause })
      }).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(timeoutMs),
          onTimeout: () => new StorageUnavailable({ reason: `${what}: no reply within ${timeoutMs} ms` })
        })
      )

    // Subscribed before the tail's first pull: a wake-up published after that pull is never missed. If the
    // subscription cannot be confirmed (Redis away), the tail still starts; its safety poll covers the gap.
    const confirmed = new Map<string, Promise<unknown>>()
    const subscribe = (channel: string, s: Subscriber) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          let set = channels.get(channel)
          if (set === undefined) {
            set = new Set()
            channels.set(channel, set)
            confirmed.set(channel, subscriber.ssubscribe(channel).catch(() => {}))
          }
          set.add(s)
          return confirmed.get(channel)!
        }),
        () =>
          Effect.sync(() => {
            const set = channels.get(channel)
            if (set === undefined) return
            set.delete(s)
            if (set.size === 0) {
              channels.delete(channel)
              confirmed.delete(channel)
              subscriber.sunsubscribe(channel).catch(() => {})
            }
          })
      ).pipe(
        Effect.flatMap((pending) =>
          Effect.promise(() => pending).pipe(Effect.timeout(Duration.millis(timeoutMs)), Effect.ignore)
        )
      )

    const store: StoreImpl = {
      [TypeId]: TypeId,
      options: resolved,
      client,
      subscriber,
      commands,
      call,
      subscribe
    }
    return store
  })

/** @internal */
export const layer = (
  options?: Options
): Layer.Layer<RedisStore, InvalidStoreOptions | StorageUnavailable> => Layer.scoped(tag, make(options))
