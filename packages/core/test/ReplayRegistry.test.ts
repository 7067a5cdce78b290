import { assert, describe, it } from "@effect/vitest"
import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as ReplayMetrics from "@scrollback/core/ReplayMetrics"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import {
  Cause,
  Chunk,
  Clock,
  Config,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  Layer,
  Metric,
  Option,
  Stream,
  Supervisor,
  TestClock
} from "effect"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const gauge = Effect.map(Metric.value(ReplayMetrics.registryBuffers), (state) => state.value)

const keysOf = (registry: ReplayRegistry.ReplayRegistry) =>
  Effect.map(registry.list, (entries) => entries.map((entry) => entry.key))

const isHeld = (registry: ReplayRegistry.ReplayRegistry, key: string) =>
  Effect.map(Effect.exit(registry.get(key)), Exit.isSuccess)

const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<E, A, R> => Effect.flip(effect)

/**
 * Follows a buffer with a cursor until it is done: every byte from `from` as a Stream of views (the platform's
 * `ReplayStream.follow` does the same; core's tests do not depend on it).
 */
const follow = (buffer: ReplayBuffer.ReplayBuffer, options?: ReplayCursor.Options) =>
  Stream.unwrap(Effect.map(ReplayCursor.make(buffer, options), (cursor) =>
    Stream.repeatEffectOption(
      Effect.flatMap(ReplayCursor.next(cursor), (step) => {
        switch (step._tag) {
          case "Data":
            return Effect.succeed(Chunk.unsafeFromArray(step.chunks as Array<Uint8Array>))
          case "Gap":
            return Effect.succeed(Chunk.empty<Uint8Array>())
          case "Done":
            return Exit.isSuccess(step.exit)
              ? Effect.fail(Option.none())
              : Effect.failCause(Cause.map(step.exit.cause, Option.some))
        }
      })
    ).pipe(Stream.flattenChunks)))

/** The key a `BufferNotFound` names (the in-memory registry never raises `StorageUnavailable`). */
const keyOf = (error: { readonly _tag: string; readonly key?: string }) => error.key

const yieldTimes = (n: number) => n === 0 ? Effect.void : Effect.repeatN(Effect.yieldNow(), n - 1)

describe("ReplayRegistry", () => {
  describe("create / get / list / remove", () => {
    it.scoped("holds buffers under keys, in creation order, with their creation time", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ defaultCapacity: 64 })
        const t0 = yield* Clock.currentTimeMillis
        const a = yield* registry.create("a")
        const b = yield* registry.create("b", { capacity: 16 })
        yield* TestClock.adjust("2 seconds")
        const c = yield* registry.create("c.log_1~x-y", { capacity: 8 })

        assert.strictEqual(a.capacity, 64)
        assert.strictEqual(b.capacity, 16)
        assert.strictEqual(yield* registry.get("a"), a)
        assert.strictEqual(yield* registry.get("b"), b)
        assert.strictEqual(yield* registry.get("c.log_1~x-y"), c)
        assert.notStrictEqual(a.epoch, b.epoch)

        const entries = yield* registry.list
        assert.deepStrictEqual(entries.map((e) => [e.key, e.createdAt]), [
          ["a", t0],
          ["b", t0],
          ["c.log_1~x-y", t0 + 2000]
        ])
        assert.strictEqual(entries[0].buffer, a)
        assert.strictEqual(yield* registry.retainedBytes, 64 + 16 + 8)

        yield* registry.remove("a")
        assert.deepStrictEqual(yield* keysOf(registry), ["b", "c.log_1~x-y"])
        assert.strictEqual(yield* registry.retainedBytes, 16 + 8)
        const notFound = yield* failureOf(registry.get("a"))
        assert.strictEqual(notFound._tag, "BufferNotFound")
        assert.strictEqual(notFound._tag === "BufferNotFound" && notFound.key, "a")

        // A key created again goes to the end of the creation order, with a new buffer.
        const a2 = yield* registry.create("a")
        assert.notStrictEqual(a2, a)
        assert.deepStrictEqual(yield* keysOf(registry), ["b", "c.log_1~x-y", "a"])
      }))

    it.scoped("module functions are dual", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ defaultCapacity: 10 })
        const x = yield* ReplayRegistry.create(registry, "x")
        const y = yield* registry.pipe(ReplayRegistry.create("y", { capacity: 5 }))
        const z = yield* registry.pipe(ReplayRegistry.create("z"))
        assert.strictEqual(y.capacity, 5)
        assert.strictEqual(z.capacity, 10)
        assert.strictEqual(yield* ReplayRegistry.get(registry, "x"), x)
        assert.strictEqual(yield* registry.pipe(ReplayRegistry.get("y")), y)
        assert.strictEqual(yield* ReplayRegistry.retainedBytes(registry), 25)
        yield* ReplayRegistry.remove(registry, "x")
        yield* registry.pipe(ReplayRegistry.remove("y"))
        const entries = yield* ReplayRegistry.list(registry)
        assert.deepStrictEqual(entries.map((e) => e.key), ["z"])
        assert.isTrue(ReplayRegistry.isReplayRegistry(registry))
        assert.isFalse(ReplayRegistry.isReplayRegistry(x))
      }))

    it.scoped("InvalidKey: keys are 1..128 characters of [A-Za-z0-9._~-], not '.' or '..'", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ defaultCapacity: 1 })
        const bad = ["", "a".repeat(129), "a/b", "a b", "é", "a%20", "a?b", "a#b", "a:b", ".", "..", "\n"]
        for (const key of bad) {
          const error = yield* failureOf(registry.create(key))
          assert.strictEqual(error._tag, "InvalidKey", JSON.stringify(key))
          if (error._tag === "InvalidKey") {
            assert.strictEqual(error.key, key)
            assert.isTrue(error.reason.length > 0)
            assert.include(error.message, JSON.stringify(key))
          }
          assert.isFalse(ReplayRegistry.isValidKey(key))
        }
        const good = ["a", "a".repeat(128), "AZaz09._~-", "...", ".a", "~"]
        for (const key of good) {
          yield* registry.create(key)
          assert.isTrue(ReplayRegistry.isValidKey(key))
        }
        assert.deepStrictEqual(yield* keysOf(registry), good)
      }))

    it.scoped("BufferExists leaves the buffer held under the key untouched", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ defaultCapacity: 8 })
        const first = yield* registry.create("k")
        const error = yield* failureOf(registry.create("k", { capacity: 4 }))
        assert.strictEqual(error._tag, "BufferExists")
        if (error._tag === "BufferExists") assert.strictEqual(error.key, "k")
        assert.include(error.message, "\"k\"")
        assert.strictEqual(yield* registry.get("k"), first)
        assert.strictEqual(yield* registry.retainedBytes, 8)
        assert.isTrue(Option.isNone(yield* first.ended))
      }))

    it.scoped("InvalidCapacity for a capacity that is not a positive safe integer", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make()
        for (const capacity of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
          const error = yield* failureOf(registry.create("k", { capacity }))
          assert.strictEqual(error._tag, "InvalidCapacity", String(capacity))
        }
        assert.deepStrictEqual(yield* registry.list, [])
        assert.strictEqual(yield* registry.retainedBytes, 0)
      }))

    it.scoped("checks in order: key, capacity, existence, buffers, bytes", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ maxBuffers: 1, maxTotalBytes: 10, defaultCapacity: 10 })
        assert.strictEqual((yield* failureOf(registry.create("a/b", { capacity: 0 })))._tag, "InvalidKey")
        yield* registry.create("k")
        assert.strictEqual((yield* failureOf(registry.create("k", { capacity: 0 })))._tag, "InvalidCapacity")
        assert.strictEqual((yield* failureOf(registry.create("k", { capacity: 11 })))._tag, "BufferExists")
        const full = yield* failureOf(registry.create("other", { capacity: 11 }))
        assert.strictEqual(full._tag, "RegistryFull")
        if (full._tag === "RegistryFull") assert.strictEqual(full.reason, "buffers")
      }))

    it.scoped("BufferNotFound from get and remove; a second remove fails", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make()
        const onGet = yield* failureOf(registry.get("nope"))
        assert.deepStrictEqual([onGet._tag, keyOf(onGet)], ["BufferNotFound", "nope"])
        assert.include(onGet.message, "\"nope\"")
        yield* registry.create("k")
        yield* registry.remove("k")
        const onRemove = yield* failureOf(registry.remove("k"))
        assert.deepStrictEqual([onRemove._tag, keyOf(onRemove)], ["BufferNotFound", "k"])
      }))
  })

  describe("getOrCreate / adopt", () => {
    it.scoped("getOrCreate returns the buffer held, or makes one within the limits", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ maxBuffers: 2, defaultCapacity: 64 })
        const made = yield* registry.getOrCreate("k", { capacity: 16 })
        assert.strictEqual(made.capacity, 16)
        assert.strictEqual(yield* registry.getOrCreate("k", { capacity: 32 }), made, "held: returned as it is")
        assert.strictEqual(yield* ReplayRegistry.getOrCreate(registry, "j"), yield* registry.get("j"))
        const full = yield* failureOf(registry.getOrCreate("l"))
        assert.strictEqual(full._tag, "RegistryFull")
        assert.strictEqual((yield* failureOf(registry.getOrCreate("a/b")))._tag, "InvalidKey")
        assert.strictEqual((yield* failureOf(registry.getOrCreate("m", { capacity: 0 })))._tag, "InvalidCapacity")
      }))

    it.scoped("concurrent getOrCreate of one key: one buffer, made once", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make()
        const buffers = yield* Effect.all(Array.from({ length: 20 }, () => registry.getOrCreate("k")), {
          concurrency: "unbounded"
        })
        assert.strictEqual(new Set(buffers).size, 1)
        assert.strictEqual((yield* registry.list).length, 1)
      }))

    it.scoped("adopt holds a buffer made elsewhere: limits, get, removal after its end, remove ends it", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ maxTotalBytes: 100, idleTimeout: "1 minute" })
        const outside = yield* ReplayBuffer.make({ capacity: 60 })
        yield* ReplayRegistry.adopt(registry, "outside", outside)
        assert.strictEqual(yield* registry.get("outside"), outside)
        assert.strictEqual(yield* registry.retainedBytes, 60)
        assert.strictEqual((yield* failureOf(registry.adopt("outside", outside)))._tag, "BufferExists")
        const big = yield* ReplayBuffer.make({ capacity: 41 })
        assert.strictEqual((yield* failureOf(registry.adopt("big", big)))._tag, "RegistryFull")
        assert.strictEqual((yield* failureOf(registry.adopt("..", big)))._tag, "InvalidKey")
        // Removed idleTimeout after it ends, like a buffer the registry made.
        yield* outside.end
        yield* TestClock.adjust("1 minute")
        assert.isFalse(yield* isHeld(registry, "outside"))
        // remove ends an adopted buffer that is still running.
        const running = yield* ReplayBuffer.make({ capacity: 10 })
        yield* registry.adopt("running", running)
        yield* registry.remove("running")
        assert.isTrue(Option.isSome(yield* running.ended))
      }))

    it.effect("closing the registry ends adopted buffers too", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 10 })
        yield* Effect.scoped(Effect.flatMap(ReplayRegistry.make(), (registry) => registry.adopt("a", buffer)))
        assert.isTrue(Option.isSome(yield* buffer.ended))
      }))
  })

  describe("options", () => {
    it.scoped("defaults", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make()
        assert.strictEqual(registry.limits.maxBuffers, 1_024)
        assert.strictEqual(registry.limits.maxTotalBytes, 268_435_456)
        assert.strictEqual(registry.limits.defaultCapacity, 1_048_576)
        assert.isTrue(Duration.equals(registry.limits.idleTimeout, Duration.minutes(5)))
        const buffer = yield* registry.create("k")
        assert.strictEqual(buffer.capacity, ReplayBuffer.DEFAULT_CAPACITY)
      }))

    it.effect("out-of-range options fail make with InvalidRegistryOptions", () =>
      Effect.gen(function*() {
        const bad: Array<[ReplayRegistry.Options, string]> = [
          [{ maxBuffers: 0 }, "maxBuffers"],
          [{ maxBuffers: -1 }, "maxBuffers"],
          [{ maxBuffers: 1.5 }, "maxBuffers"],
          [{ maxBuffers: Number.NaN }, "maxBuffers"],
          [{ maxBuffers: Number.POSITIVE_INFINITY }, "maxBuffers"],
          [{ maxTotalBytes: 0 }, "maxTotalBytes"],
          [{ maxTotalBytes: 2 ** 53 }, "maxTotalBytes"],
          [{ defaultCapacity: 0 }, "defaultCapacity"],
          [{ defaultCapacity: 0.5 }, "defaultCapacity"],
          [{ defaultCapacity: 11, maxTotalBytes: 10 }, "defaultCapacity"],
          [{ idleTimeout: -1 }, "idleTimeout"],
          [{ idleTimeout: Number.NaN }, "idleTimeout"],
          [{ idleTimeout: BigInt(-1) }, "idleTimeout"],
          [{ idleTimeout: [-1, 0] }, "idleTimeout"],
          [{ idleTimeout: "soon" as Duration.DurationInput }, "idleTimeout"]
        ]
        for (const [options, option] of bad) {
          const error = yield* failureOf(Effect.scoped(ReplayRegistry.make(options)))
          assert.strictEqual(error._tag, "InvalidRegistryOptions")
          assert.strictEqual(error.option, option, JSON.stringify(options, (_, v) => String(v)))
          assert.include(error.message, option)
        }
        // the boundaries that are valid
        const ok = yield* Effect.scoped(
          ReplayRegistry.make({ maxBuffers: 1, maxTotalBytes: 10, defaultCapacity: 10, idleTimeout: 0 })
        )
        assert.isTrue(Duration.equals(ok.limits.idleTimeout, Duration.zero))
        const forever = yield* Effect.scoped(ReplayRegistry.make({ idleTimeout: Duration.infinity }))
        assert.isFalse(Duration.isFinite(forever.limits.idleTimeout))
      }))

    it.scoped("maxTotalBytes below the implicit 1 MiB default is valid; creates must then pass a capacity", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ maxTotalBytes: 1024 })
        const error = yield* failureOf(registry.create("k"))
        assert.deepStrictEqual(
          error._tag === "RegistryFull" ? [error.reason, error.limit, error.requested] : [],
          ["bytes", 1024, 1_048_576]
        )
        yield* registry.create("k", { capacity: 1024 })
      }))

    it.effect("layer and layerConfig provide the service", () =>
      Effect.gen(function*() {
        const fromLayer = yield* ReplayRegistry.ReplayRegistry.pipe(
          Effect.provide(ReplayRegistry.layer({ maxBuffers: 7 }))
        )
        assert.strictEqual(fromLayer.limits.maxBuffers, 7)

        const configured = ReplayRegistry.layerConfig({
          maxBuffers: Config.integer("MAX_BUFFERS"),
          maxTotalBytes: Config.integer("MAX_BYTES"),
          idleTimeout: Config.duration("IDLE")
        })
        const provider = ConfigProvider.fromMap(
          new Map([["MAX_BUFFERS", "3"], ["MAX_BYTES", "4096"], ["IDLE", "90 seconds"]])
        )
        const fromConfig = yield* Effect.gen(function*() {
          const registry = yield* ReplayRegistry.ReplayRegistry
          yield* registry.create("k", { capacity: 4096 })
          return registry
        }).pipe(Effect.provide(configured), Effect.withConfigProvider(provider))
        assert.strictEqual(fromConfig.limits.maxBuffers, 3)
        assert.strictEqual(fromConfig.limits.maxTotalBytes, 4096)
        assert.isTrue(Duration.equals(fromConfig.limits.idleTimeout, Duration.seconds(90)))
        // the layer's scope has closed: the buffer created in it has ended and is no longer held
        assert.deepStrictEqual(yield* fromConfig.list, [])

        const invalid = yield* failureOf(
          ReplayRegistry.ReplayRegistry.pipe(
            Effect.provide(configured),
            Effect.withConfigProvider(
              ConfigProvider.fromMap(new Map([["MAX_BUFFERS", "0"], ["MAX_BYTES", "1"], ["IDLE", "1 second"]]))
            )
          )
        )
        assert.strictEqual(invalid._tag, "InvalidRegistryOptions")
        const missing = yield* failureOf(
          ReplayRegistry.ReplayRegistry.pipe(
            Effect.provide(configured),
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
          )
        )
        assert.isTrue(missing._tag !== "InvalidRegistryOptions")
      }))
  })

  describe("limits", () => {
    it.scoped("maxBuffers: exactly maxBuffers are held; removing one makes room", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ maxBuffers: 3, defaultCapacity: 1 })
        yield* registry.create("a")
        yield* registry.create("b")
        yield* registry.create("c")
        const error = yield* failureOf(registry.create("d"))
        assert.strictEqual(error._tag, "RegistryFull")
        if (error._tag === "RegistryFull") {
          assert.strictEqual(error.reason, "buffers")
          assert.strictEqual(error.limit, 3)
          assert.include(error.message, "maxBuffers = 3")
        }
        assert.deepStrictEqual(yield* keysOf(registry), ["a", "b", "c"])
        yield* registry.remove("b")
        yield* registry.create("d")
        assert.deepStrictEqual(yield* keysOf(registry), ["a", "c", "d"])
      }))

    it.scoped("maxTotalBytes: the sum of capacities may reach the limit, never pass it", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ maxTotalBytes: 100, defaultCapacity: 40 })
        yield* registry.create("a") // 40
        yield* registry.create("b", { capacity: 60 }) // 100: exactly the limit
        assert.strictEqual(yield* registry.retainedBytes, 100)
        const error = yield* failureOf(registry.create("c", { capacity: 1 }))
        assert.strictEqual(error._tag, "RegistryFull")
        if (error._tag === "RegistryFull") {
          assert.strictEqual(error.reason, "bytes")
          assert.strictEqual(error.limit, 100)
          assert.strictEqual(error.requested, 1)
          assert.include(error.message, "maxTotalBytes = 100")
          assert.include(error.message, "1 bytes")
        }
        yield* registry.remove("a")
        assert.strictEqual(yield* registry.retainedBytes, 60)
        const over = yield* failureOf(registry.create("c", { capacity: 41 }))
        assert.strictEqual(over._tag, "RegistryFull")
        yield* registry.create("c", { capacity: 40 })
        assert.strictEqual(yield* registry.retainedBytes, 100)
      }))

    it.scoped("a single buffer larger than maxTotalBytes is refused by an empty registry", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ maxTotalBytes: 100, defaultCapacity: 10 })
        const error = yield* failureOf(registry.create("big", { capacity: 101 }))
        assert.deepStrictEqual(
          error._tag === "RegistryFull" ? [error.reason, error.limit, error.requested] : [],
          ["bytes", 100, 101]
        )
        yield* registry.create("fits", { capacity: 100 })
      }))
  })

  describe("idle removal", () => {
    it.scoped("an ended buffer is removed idleTimeout after it ended, not before", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ idleTimeout: "10 seconds", defaultCapacity: 8 })
        const a = yield* registry.create("a")
        yield* registry.create("b")
        yield* TestClock.adjust("1 minute") // a buffer that has not ended stays however long it idles
        assert.isTrue(yield* isHeld(registry, "a"))
        yield* a.end
        yield* TestClock.adjust(Duration.millis(9_999))
        assert.isTrue(yield* isHeld(registry, "a"))
        assert.strictEqual(yield* registry.retainedBytes, 16)
        yield* TestClock.adjust(Duration.millis(1))
        assert.isFalse(yield* isHeld(registry, "a"))
        assert.deepStrictEqual(yield* keysOf(registry), ["b"])
        assert.strictEqual(yield* registry.retainedBytes, 8)
        // The removed buffer still serves reads to whoever holds it.
        assert.strictEqual((yield* a.readFrom(0)).offset, 0)
      }))

    it.scoped("a buffer ended by a producer failure is removed too", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ idleTimeout: "1 second", defaultCapacity: 8 })
        const a = yield* registry.create("a")
        yield* a.fail(new ProducerFailed({ reason: "exit", exitCode: 2 }))
        yield* TestClock.adjust(Duration.millis(999))
        assert.isTrue(yield* isHeld(registry, "a"))
        yield* TestClock.adjust(Duration.millis(1))
        assert.isFalse(yield* isHeld(registry, "a"))
      }))

    it.scoped("a buffer that never ends is never removed", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ idleTimeout: 0, defaultCapacity: 8 })
        const a = yield* registry.create("a")
        yield* a.write(encoder.encode("still running"))
        yield* TestClock.adjust("3650 days")
        assert.strictEqual(yield* registry.get("a"), a)
      }))

    it.scoped("idleTimeout 0 removes an ended buffer at once; infinity never does", () =>
      Effect.gen(function*() {
        const zero = yield* ReplayRegistry.make({ idleTimeout: 0, defaultCapacity: 8 })
        const forever = yield* ReplayRegistry.make({ idleTimeout: Duration.infinity, defaultCapacity: 8 })
        yield* Effect.flatMap(zero.create("a"), (b) => b.end)
        yield* Effect.flatMap(forever.create("a"), (b) => b.end)
        yield* TestClock.adjust(0)
        assert.isFalse(yield* isHeld(zero, "a"))
        yield* TestClock.adjust("3650 days")
        assert.isTrue(yield* isHeld(forever, "a"))
      }))

    it.scoped("a new buffer under a key survives the timer of the buffer it replaced", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ idleTimeout: "10 seconds", defaultCapacity: 8 })
        const old = yield* registry.create("k")
        yield* old.end // old timer: due at t = 10 s
        yield* TestClock.adjust("5 seconds")
        yield* registry.remove("k")
        const fresh = yield* registry.create("k")
        yield* fresh.end // new timer: due at t = 15 s
        yield* TestClock.adjust("5 seconds") // t = 10 s
        assert.strictEqual(yield* registry.get("k"), fresh)
        yield* TestClock.adjust(Duration.millis(4_999))
        assert.strictEqual(yield* registry.get("k"), fresh)
        yield* TestClock.adjust(Duration.millis(1)) // t = 15 s
        assert.isFalse(yield* isHeld(registry, "k"))
      }))

    it.scoped("a key freed by idle removal can be created again and gets its own timer", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ idleTimeout: "10 seconds", defaultCapacity: 8 })
        yield* Effect.flatMap(registry.create("k"), (b) => b.end)
        yield* TestClock.adjust("10 seconds")
        assert.isFalse(yield* isHeld(registry, "k"))
        const again = yield* registry.create("k")
        yield* TestClock.adjust("1 hour")
        assert.strictEqual(yield* registry.get("k"), again)
      }))

    it.effect("removing buffers stops their timers: no fiber is left per created/removed buffer", () =>
      Effect.gen(function*() {
        const supervisor = yield* Supervisor.track
        yield* Effect.gen(function*() {
          const registry = yield* ReplayRegistry.make({ idleTimeout: "1 hour", defaultCapacity: 1 })
          for (let i = 0; i < 200; i++) {
            const buffer = yield* registry.create(`k${i % 7}`)
            if (i % 3 === 0) yield* buffer.end // some timers are already sleeping when the buffer is removed
            yield* registry.remove(`k${i % 7}`)
          }
          assert.strictEqual((yield* supervisor.value).length, 0)
          yield* registry.create("held-1")
          yield* registry.create("held-2")
          assert.strictEqual((yield* supervisor.value).length, 2)
          // timers that fire end their own fibers
          yield* Effect.flatMap(registry.get("held-1"), (b) => b.end)
          yield* TestClock.adjust("1 hour")
          assert.isFalse(yield* isHeld(registry, "held-1"))
          assert.strictEqual((yield* supervisor.value).length, 1)
        }).pipe(Effect.scoped, Effect.supervised(supervisor))
        // closing the scope stops the rest
        assert.strictEqual((yield* supervisor.value).length, 0)
      }))
  })

  describe("ending", () => {
    it.scoped("remove ends the buffer, so a running follower drains and completes", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ defaultCapacity: 64 })
        const buffer = yield* registry.create("k")
        yield* buffer.write(encoder.encode("hello"))
        const caughtUp = yield* Deferred.make<void>()
        const follower = yield* follow(buffer).pipe(
          Stream.tap(() => Deferred.succeed(caughtUp, void 0)),
          Stream.runCollect,
          Effect.fork
        )
        yield* Deferred.await(caughtUp)
        yield* buffer.write(encoder.encode(", world"))
        yield* registry.remove("k")
        const bytes = yield* Fiber.join(follower)
        assert.strictEqual(decoder.decode(Buffer.concat(Chunk.toArray(bytes))), "hello, world")
        const ended = yield* buffer.ended
        assert.isTrue(Option.isSome(ended) && Exit.isSuccess(ended.value))
        const closed = yield* failureOf(buffer.write(encoder.encode("!")))
        assert.strictEqual(closed._tag, "BufferClosed")
      }))

    it.scoped("remove keeps a producer failure: followers still fail with it", () =>
      Effect.gen(function*() {
        const registry = yield* ReplayRegistry.make({ defaultCapacity: 64 })
        const buffer = yield* registry.create("k")
        yield* buffer.write(encoder.encode("out"))
        yield* buffer.fail(new ProducerFailed({ reason: "crashed", exitCode: 1 }))
        yield* registry.remove("k")
        const exit = yield* Effect.exit(Stream.runCollect(follow(buffer)))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = Cause.failureOption(exit.cause)
          assert.isTrue(Option.isSome(error) && error.value._tag === "ProducerFailed")
        }
      }))

    it.effect("closing the scope ends every buffer still held and completes their followers", () =>
      Effect.gen(function*() {
        const started = yield* Deferred.make<void>()
        const { a, b, followers, registry } = yield* Effect.gen(function*() {
          const registry = yield* ReplayRegistry.make({ defaultCapacity: 64 })
          const a = yield* registry.create("a")
          const b = yield* registry.create("b")
          const c = yield* registry.create("c")
          yield* registry.remove("c")
          yield* c.end
          yield* a.write(encoder.encode("A"))
          // followers run in the test's fiber, outside the registry's scope
          const followers = yield* Effect.fork(
            Effect.all([
              Stream.runCollect(follow(a).pipe(Stream.tap(() => Deferred.succeed(started, void 0)))),
              Stream.runCollect(follow(b, { from: "live" }))
            ], { concurrency: "unbounded" })
          )
          yield* Deferred.await(started)
          return { a, b, followers, registry }
        }).pipe(Effect.scoped)

        assert.isTrue(Option.isSome(yield* a.ended))
        assert.isTrue(Option.isSome(yield* b.ended))
        const [fromA, fromB] = yield* Fiber.join(followers)
        assert.strictEqual(decoder.decode(Buffer.concat(Chunk.toArray(fromA))), "A")
        assert.strictEqual(Chunk.size(fromB), 0)
        assert.deepStrictEqual(yield* registry.list, [])
        assert.strictEqual(yield* registry.retainedBytes, 0)
        assert.strictEqual((yield* failureOf(registry.get("a")))._tag, "BufferNotFound")
        const late = yield* Effect.exit(registry.create("d"))
        assert.isTrue(Exit.isFailure(late) && Cause.isDie(late.cause))
      }))
  })

  describe("metrics", () => {
    it.effect("registryBuffers counts the buffers held", () =>
      Effect.gen(function*() {
        const before = yield* gauge
        yield* Effect.gen(function*() {
          const registry = yield* ReplayRegistry.make({ idleTimeout: "1 second", maxBuffers: 3, defaultCapacity: 4 })
          const a = yield* registry.create("a")
          yield* registry.create("b")
          yield* registry.create("c")
          assert.strictEqual((yield* gauge) - before, 3)
          yield* Effect.exit(registry.create("c")) // refused: no change
          yield* Effect.exit(registry.create("d")) // refused: no change
          assert.strictEqual((yield* gauge) - before, 3)
          yield* registry.remove("b")
          yield* Effect.exit(registry.remove("b"))
          assert.strictEqual((yield* gauge) - before, 2)
          yield* a.end
          yield* TestClock.adjust("1 second")
          assert.strictEqual((yield* gauge) - before, 1)
        }).pipe(Effect.scoped)
        assert.strictEqual((yield* gauge) - before, 0)
      }))
  })

  // --- model-based properties ---

  type Command =
    | { readonly _tag: "Create"; readonly key: string; readonly capacity: number | undefined }
    | { readonly _tag: "Remove"; readonly key: string }
    | { readonly _tag: "End"; readonly key: string; readonly fail: boolean }
    | { readonly _tag: "Advance"; readonly millis: number }

  const KEYS = ["a", "b", "c", "d"]
  const keyArb = fc.constantFrom(...KEYS)
  const commandArb: fc.Arbitrary<Command> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        _tag: fc.constant("Create" as const),
        key: keyArb,
        capacity: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 60 }), fc.constant(0))
      })
    },
    { weight: 2, arbitrary: fc.record({ _tag: fc.constant("Remove" as const), key: keyArb }) },
    { weight: 2, arbitrary: fc.record({ _tag: fc.constant("End" as const), key: keyArb, fail: fc.boolean() }) },
    {
      weight: 2,
      arbitrary: fc.record({ _tag: fc.constant("Advance" as const), millis: fc.integer({ min: 0, max: 15 }) })
    }
  )

  const LIMITS = { maxBuffers: 3, maxTotalBytes: 100, defaultCapacity: 30, idleTimeout: 10 } as const

  interface ModelEntry {
    readonly capacity: number
    endedAt: number | undefined
  }

  it.effect.prop(
    "random create/remove/end/clock sequences agree with a model of the registry",
    [fc.array(commandArb, { minLength: 1, maxLength: 40 })],
    ([commands]) =>
      Effect.gen(function*() {
        const baseline = yield* gauge
        yield* Effect.gen(function*() {
          const registry = yield* ReplayRegistry.make(LIMITS)
          const model = new Map<string, ModelEntry>()
          let now = yield* Clock.currentTimeMillis
          const modelBytes = () => {
            let n = 0
            for (const e of model.values()) n += e.capacity
            return n
          }

          for (const command of commands) {
            switch (command._tag) {
              case "Create": {
                const capacity = command.capacity ?? LIMITS.defaultCapacity
                const expected = capacity === 0
                  ? "InvalidCapacity"
                  : model.has(command.key)
                  ? "BufferExists"
                  : model.size >= LIMITS.maxBuffers
                  ? "RegistryFull:buffers"
                  : modelBytes() + capacity > LIMITS.maxTotalBytes
                  ? "RegistryFull:bytes"
                  : "ok"
                const exit = yield* Effect.exit(
                  registry.create(command.key, command.capacity === undefined ? undefined : { capacity })
                )
                const actual = Exit.match(exit, {
                  onSuccess: () => "ok",
                  onFailure: (cause) => {
                    const e = Option.getOrThrow(Cause.failureOption(cause))
                    return e._tag === "RegistryFull" ? `RegistryFull:${e.reason}` : e._tag
                  }
                })
                assert.strictEqual(actual, expected, JSON.stringify(command))
                if (expected === "ok") model.set(command.key, { capacity, endedAt: undefined })
                break
              }
              case "Remove": {
                const exit = yield* Effect.exit(registry.remove(command.key))
                assert.strictEqual(Exit.isSuccess(exit), model.has(command.key))
                model.delete(command.key)
                break
              }
              case "End": {
                const held = model.get(command.key)
                const exit = yield* Effect.exit(registry.get(command.key))
                assert.strictEqual(Exit.isSuccess(exit), held !== undefined)
                if (Exit.isSuccess(exit) && held !== undefined) {
                  const ended = yield* (command.fail
                    ? exit.value.fail(new ProducerFailed({ reason: "model" }))
                    : exit.value.end)
                  assert.strictEqual(ended, held.endedAt === undefined)
                  if (held.endedAt === undefined) held.endedAt = now
                }
                break
              }
              case "Advance": {
                yield* TestClock.adjust(Duration.millis(command.millis))
                now += command.millis
                for (const [key, e] of model) {
                  if (e.endedAt !== undefined && e.endedAt + LIMITS.idleTimeout <= now) model.delete(key)
                }
                break
              }
            }

            // the registry agrees with the model after every step
            const entries = yield* registry.list
            assert.deepStrictEqual(entries.map((e) => e.key), Array.from(model.keys()))
            assert.deepStrictEqual(entries.map((e) => e.buffer.capacity), Array.from(model.values(), (e) => e.capacity))
            for (const entry of entries) {
              assert.strictEqual(Option.isSome(yield* entry.buffer.ended), model.get(entry.key)!.endedAt !== undefined)
            }
            const bytes = yield* registry.retainedBytes
            assert.strictEqual(bytes, modelBytes())
            assert.isAtMost(bytes, LIMITS.maxTotalBytes)
            assert.isAtMost(entries.length, LIMITS.maxBuffers)
            assert.strictEqual((yield* gauge) - baseline, model.size)
          }
        }).pipe(Effect.scoped)
        assert.strictEqual((yield* gauge) - baseline, 0)
      }),
    { fastCheck: { numRuns: 300 } }
  )

  type RaceOp =
    | { readonly _tag: "Create"; readonly key: string; readonly capacity: number; readonly yields: number }
    | { readonly _tag: "Remove"; readonly key: string; readonly yields: number }

  const raceOpArb: fc.Arbitrary<RaceOp> = fc.oneof(
    fc.record({
      _tag: fc.constant("Create" as const),
      key: fc.constantFrom("a", "b", "c"),
      capacity: fc.integer({ min: 1, max: 60 }),
      yields: fc.integer({ min: 0, max: 5 })
    }),
    fc.record({
      _tag: fc.constant("Remove" as const),
      key: fc.constantFrom("a", "b", "c"),
      yields: fc.integer({ min: 0, max: 5 })
    })
  )

  it.effect.prop(
    "concurrent creates and removes of the same keys never pass the limits and keep the books balanced",
    [fc.array(raceOpArb, { minLength: 2, maxLength: 60 })],
    ([ops]) =>
      Effect.gen(function*() {
        const baseline = yield* gauge
        yield* Effect.gen(function*() {
          const limits = { maxBuffers: 2, maxTotalBytes: 80, idleTimeout: "1 hour" } as const
          const registry = yield* ReplayRegistry.make(limits)
          const created = new Map<string, number>()
          const buffers: Array<ReplayBuffer.ReplayBuffer> = []
          const removed = new Map<string, number>()
          const violations: Array<string> = []
          const checkLimits = Effect.gen(function*() {
            const entries = yield* registry.list
            const bytes = yield* registry.retainedBytes
            if (entries.length > limits.maxBuffers) violations.push(`buffers ${entries.length}`)
            if (bytes > limits.maxTotalBytes) violations.push(`bytes ${bytes}`)
            if (new Set(entries.map((e) => e.key)).size !== entries.length) violations.push("duplicate key")
          })
          const run = (op: RaceOp) =>
            Effect.gen(function*() {
              yield* yieldTimes(op.yields)
              if (op._tag === "Create") {
                const exit = yield* Effect.exit(registry.create(op.key, { capacity: op.capacity }))
                if (Exit.isSuccess(exit)) {
                  created.set(op.key, (created.get(op.key) ?? 0) + 1)
                  buffers.push(exit.value)
                } else {
                  const e = Option.getOrThrow(Cause.failureOption(exit.cause))
                  if (e._tag !== "BufferExists" && e._tag !== "RegistryFull") violations.push(e._tag)
                }
              } else {
                const exit = yield* Effect.exit(registry.remove(op.key))
                if (Exit.isSuccess(exit)) removed.set(op.key, (removed.get(op.key) ?? 0) + 1)
              }
              yield* checkLimits
            })
          yield* Effect.forEach(ops, run, { concurrency: "unbounded", discard: true })

          assert.deepStrictEqual(violations, [])
          const entries = yield* registry.list
          let sum = 0
          for (const entry of entries) sum += entry.buffer.capacity
          assert.strictEqual(yield* registry.retainedBytes, sum)
          assert.strictEqual((yield* gauge) - baseline, entries.length)
          const heldKeys = new Set(entries.map((e) => e.key))
          for (const key of ["a", "b", "c"]) {
            // every successful remove undid exactly one successful create of the same key
            const balance = (created.get(key) ?? 0) - (removed.get(key) ?? 0)
            assert.strictEqual(balance, heldKeys.has(key) ? 1 : 0, key)
          }
          // the buffers held are running; every other buffer created was removed, hence ended
          const heldBuffers = new Set(entries.map((e) => e.buffer))
          for (const buffer of buffers) {
            assert.strictEqual(Option.isSome(yield* buffer.ended), !heldBuffers.has(buffer))
          }
        }).pipe(Effect.scoped)
        assert.strictEqual((yield* gauge) - baseline, 0)
      }),
    { fastCheck: { numRuns: 200 } }
  )
})

describe("ReplayRegistry layers", () => {
  it.effect("each build of the layer is a fresh registry", () =>
    Effect.gen(function*() {
      const live = ReplayRegistry.layer({ defaultCapacity: 1 })
      const first = yield* Effect.flatMap(ReplayRegistry.ReplayRegistry, (r) => Effect.as(r.create("k"), r)).pipe(
        Effect.provide(Layer.fresh(live))
      )
      const second = yield* ReplayRegistry.ReplayRegistry.pipe(Effect.provide(Layer.fresh(live)))
      assert.notStrictEqual(first, second)
      assert.deepStrictEqual(yield* second.list, [])
    }))
})
