import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer, ReplayBufferError, ReplayCursor } from "@scrollback/core"
import { Cause, Config, ConfigProvider, Effect, Exit, Fiber, FiberId, Layer, Option, pipe } from "effect"
import * as internal from "../src/internal/replayBuffer.js"

const enc = new TextEncoder()
const dec = new TextDecoder()
const bytes = (s: string) => enc.encode(s)
const text = (u: Uint8Array) => dec.decode(u)

const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  return Option.getOrThrow(Cause.failureOption(exit.cause))
}

describe("ReplayBuffer", () => {
  describe("the seed's cases", () => {
    it.effect("basic write and read", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 1024 })
        yield* rb.write(bytes("hello "))
        yield* rb.write(bytes("world"))
        const { bytes: out, offset } = yield* rb.readFrom(0)
        assert.strictEqual(text(out), "hello world")
        assert.strictEqual(offset, 0)
        assert.strictEqual(yield* rb.total, 11)
      }))

    it.effect("read from the middle", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 1024 })
        yield* rb.write(bytes("hello world"))
        const r = yield* rb.readFrom(6)
        assert.strictEqual(text(r.bytes), "world")
        assert.strictEqual(r.offset, 6)
      }))

    it.effect("read from the current total is empty", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 1024 })
        yield* rb.write(bytes("hello"))
        const r = yield* rb.readFrom(5)
        assert.strictEqual(r.bytes.length, 0)
        assert.strictEqual(r.offset, 5)
      }))

    it.effect("circular eviction at capacity 8", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 8 })
        yield* rb.write(bytes("abcdef")) // 6
        yield* rb.write(bytes("ghijk")) // 11; oldest = 3
        assert.strictEqual(yield* rb.total, 11)
        assert.strictEqual(yield* rb.oldest, 3)
        const all = yield* rb.readFrom(0)
        assert.strictEqual(text(all.bytes), "defghijk")
        assert.strictEqual(all.offset, 3)
        const mid = yield* rb.readFrom(5)
        assert.strictEqual(text(mid.bytes), "fghijk")
        assert.strictEqual(mid.offset, 5)
      }))

    it.effect("a single write larger than capacity 4", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 4 })
        yield* rb.write(bytes("abcdefghij"))
        assert.strictEqual(yield* rb.total, 10)
        const r = yield* rb.readFrom(0)
        assert.strictEqual(text(r.bytes), "ghij")
        assert.strictEqual(r.offset, 6)
      }))

    it.effect("exactly full", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 8 })
        yield* rb.write(bytes("12345678"))
        const r = yield* rb.readFrom(0)
        assert.strictEqual(text(r.bytes), "12345678")
        assert.strictEqual(r.offset, 0)
        assert.strictEqual(yield* rb.oldest, 0)
      }))

    it.effect("wrap-around", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 8 })
        yield* rb.write(bytes("123456"))
        yield* rb.write(bytes("789AB")) // wraps: total 11
        const r = yield* rb.readFrom(4)
        assert.strictEqual(text(r.bytes), "56789AB")
        assert.strictEqual(r.offset, 4)
        const evicted = yield* rb.readFrom(1)
        assert.strictEqual(text(evicted.bytes), "456789AB")
        assert.strictEqual(evicted.offset, 3)
      }))

    it.effect("capacity 1", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 1 })
        yield* rb.write(bytes("a"))
        yield* rb.write(bytes("bc"))
        yield* rb.write(bytes("d"))
        assert.strictEqual(yield* rb.total, 4)
        assert.strictEqual(yield* rb.oldest, 3)
        const r = yield* rb.readFrom(0)
        assert.strictEqual(text(r.bytes), "d")
        assert.strictEqual(r.offset, 3)
        assert.strictEqual((yield* rb.readFrom(4)).offset, 4)
      }))
  })

  describe("semantics table", () => {
    it.effect("readFrom(o >= total) is empty at total", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 16 })
        yield* rb.write(bytes("abc"))
        for (const o of [3, 4, 1_000, Number.MAX_SAFE_INTEGER]) {
          const r = yield* rb.readFrom(o)
          assert.strictEqual(r.bytes.length, 0)
          assert.strictEqual(r.offset, 3)
        }
      }))

    it.effect("readFrom(o < oldest), negative included, clamps to oldest", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 4 })
        yield* rb.write(bytes("abcdef"))
        for (const o of [-1, -1_000, Number.MIN_SAFE_INTEGER, 0, 1]) {
          const r = yield* rb.readFrom(o)
          assert.strictEqual(text(r.bytes), "cdef")
          assert.strictEqual(r.offset, 2)
        }
      }))

    it.effect("readFrom on an empty buffer", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make()
        const r = yield* rb.readFrom(-5)
        assert.strictEqual(r.bytes.length, 0)
        assert.strictEqual(r.offset, 0)
      }))

    it.effect("readFrom(NaN / 1.5 / ±Infinity) fails InvalidOffset", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 4 })
        for (const o of [NaN, 1.5, -0.5, Infinity, -Infinity]) {
          const error = failure(yield* Effect.exit(rb.readFrom(o)))
          assert.strictEqual(error._tag, "InvalidOffset")
          assert.isTrue(Object.is(error.offset, o))
          assert.include(error.message, String(o))
          const chunksError = failure(yield* Effect.exit(rb.readChunks(o)))
          assert.strictEqual(chunksError._tag, "InvalidOffset")
        }
      }))

    it.effect("an empty write changes nothing", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 4 })
        yield* rb.write(bytes("ab"))
        yield* rb.write(new Uint8Array(0))
        yield* rb.writeAll([])
        yield* rb.writeAll([new Uint8Array(0), new Uint8Array(0)])
        assert.strictEqual(yield* rb.total, 2)
        assert.strictEqual(text((yield* rb.readFrom(0)).bytes), "ab")
      }))

    it.effect("make rejects bad capacities with InvalidCapacity", () =>
      Effect.gen(function*() {
        for (const capacity of [0, -1, 1.5, NaN, 2 ** 53, Infinity, -Infinity]) {
          const error = failure(yield* Effect.exit(ReplayBuffer.make({ capacity })))
          assert.strictEqual(error._tag, "InvalidCapacity")
          assert.isTrue(Object.is(error.capacity, capacity))
          assert.include(error.message, "positive safe integer")
        }
        assert.strictEqual((yield* ReplayBuffer.make()).capacity, 1_048_576)
        assert.strictEqual((yield* ReplayBuffer.make({ capacity: 2 ** 53 - 1 })).capacity, 2 ** 53 - 1)
      }))

    it.effect("write after the end fails BufferClosed; reads still work", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 8 })
        yield* rb.write(bytes("abc"))
        assert.isTrue(yield* rb.end)
        assert.isFalse(yield* rb.end)
        const error = failure(yield* Effect.exit(rb.write(bytes("d"))))
        assert.strictEqual(error._tag, "BufferClosed")
        assert.strictEqual(error._tag === "BufferClosed" && error.total, 3)
        assert.strictEqual(failure(yield* Effect.exit(rb.writeAll([bytes("d")])))._tag, "BufferClosed")
        assert.strictEqual(failure(yield* Effect.exit(rb.write(new Uint8Array(0))))._tag, "BufferClosed")
        assert.strictEqual(text((yield* rb.readFrom(0)).bytes), "abc")
        assert.deepStrictEqual(yield* rb.ended, Option.some(Exit.void))
      }))

    it.effect("a write that would pass 2^53 - 1 fails OffsetOverflow and writes nothing", () =>
      Effect.gen(function*() {
        const start = Number.MAX_SAFE_INTEGER - 10
        const rb = internal.unsafeMake(16, start)
        assert.strictEqual(yield* rb.total, start)
        assert.strictEqual(yield* rb.oldest, start)
        yield* rb.write(bytes("012345678")) // lands at MAX_SAFE_INTEGER - 1
        const error = failure(yield* Effect.exit(rb.write(bytes("ab"))))
        assert.deepStrictEqual(
          error,
          new ReplayBufferError.OffsetOverflow({ total: Number.MAX_SAFE_INTEGER - 1, length: 2 })
        )
        assert.include(error.message, "nothing was written")
        const batchError = failure(yield* Effect.exit(rb.writeAll([bytes("a"), bytes("b")])))
        assert.strictEqual(batchError._tag, "OffsetOverflow")
        assert.strictEqual(yield* rb.total, Number.MAX_SAFE_INTEGER - 1)
        yield* rb.write(bytes("z")) // the last exact offset still fits
        assert.strictEqual(yield* rb.total, Number.MAX_SAFE_INTEGER)
        const r = yield* rb.readFrom(0)
        assert.strictEqual(text(r.bytes), "012345678z")
        assert.strictEqual(r.offset, start)
      }))

    it.effect("a write larger than capacity keeps its tail and advances total fully", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 5 })
        yield* rb.write(bytes("xy"))
        yield* rb.write(bytes("0123456789"))
        assert.strictEqual(yield* rb.total, 12)
        const r = yield* rb.readFrom(0)
        assert.strictEqual(text(r.bytes), "56789")
        assert.strictEqual(r.offset, 7)
        yield* rb.writeAll([bytes("abc"), bytes("defg"), bytes("h")])
        assert.strictEqual(yield* rb.total, 20)
        assert.strictEqual(text((yield* rb.readFrom(0)).bytes), "defgh")
      }))
  })

  describe("ownership", () => {
    it.effect("returned bytes are a stable snapshot and the caller's array is not kept", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 4 })
        const input = bytes("abcd")
        yield* rb.write(input)
        input.fill(0) // the caller reuses its array
        const first = yield* rb.readFrom(0)
        assert.strictEqual(text(first.bytes), "abcd")
        const views = yield* rb.readChunks(0)
        yield* rb.write(bytes("efgh"))
        yield* rb.write(bytes("ijkl"))
        assert.strictEqual(text(first.bytes), "abcd")
        assert.strictEqual(views.chunks.map(text).join(""), "abcd")
        first.bytes.fill(0) // mutating a readFrom copy does not reach the buffer
        assert.strictEqual(text((yield* rb.readFrom(0)).bytes), "ijkl")
      }))

    it.effect("writeAll copies every chunk", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 16 })
        const chunks = [bytes("ab"), bytes("cd")]
        yield* rb.writeAll(chunks)
        chunks[0].fill(0)
        chunks[1].fill(0)
        assert.strictEqual(text((yield* rb.readFrom(0)).bytes), "abcd")
      }))

    it.effect("writeAll accepts any iterable, once", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 16 })
        function* gen() {
          yield bytes("ab")
          yield bytes("cd")
        }
        yield* rb.writeAll(gen())
        yield* rb.writeAll(new Set([bytes("e")]))
        assert.strictEqual(text((yield* rb.readFrom(0)).bytes), "abcde")
      }))
  })

  describe("readChunks", () => {
    it.effect("returns views across segments with a consistent snapshot", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 200_000 })
        const data = new Uint8Array(150_000).map((_, i) => i % 251)
        yield* rb.write(data)
        const all = yield* rb.readChunks(-1)
        assert.strictEqual(all.offset, 0)
        assert.strictEqual(all.next, 150_000)
        assert.isAbove(all.chunks.length, 1)
        const joined = new Uint8Array(150_000)
        let at = 0
        for (const c of all.chunks) {
          joined.set(c, at)
          at += c.length
        }
        assert.deepStrictEqual(joined, data)
        const bounded = yield* ReplayBuffer.readChunks(rb, 1_000, { maxBytes: 10 })
        assert.strictEqual(bounded.offset, 1_000)
        assert.strictEqual(bounded.next, 1_010)
        assert.deepStrictEqual(Array.from(bounded.chunks[0]), Array.from(data.subarray(1_000, 1_010)))
        assert.strictEqual(bounded.total, 150_000)
        assert.strictEqual(bounded.oldest, 0)
        assert.isTrue(Option.isNone(bounded.ended))
      }))

    it.effect("a bad maxBytes is a defect", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 4 })
        const exit = yield* Effect.exit(rb.readChunks(0, { maxBytes: 0 }))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      }))
  })

  describe("end, fail and waiting", () => {
    it.effect("fail keeps the producer's failure for later readers", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 8 })
        const error = new ReplayBufferError.ProducerFailed({ reason: "exit", exitCode: 2 })
        assert.isTrue(yield* ReplayBuffer.fail(rb, error))
        assert.isFalse(yield* rb.end)
        assert.deepStrictEqual(yield* rb.ended, Option.some(Exit.fail(error)))
        assert.strictEqual(failure(yield* Effect.exit(rb.awaitEnd)), error)
        assert.include(error.message, "exit code 2")
        assert.strictEqual(failure(yield* Effect.exit(rb.write(bytes("x"))))._tag, "BufferClosed")
      }))

    it.effect("an end by a defect or an interruption is recorded as a ProducerFailed", () =>
      Effect.gen(function*() {
        const died = yield* ReplayBuffer.make({ capacity: 8 })
        yield* died.endWith(Exit.die(new Error("kaboom")))
        const diedError = failure(yield* Effect.exit(died.awaitEnd))
        assert.strictEqual(diedError._tag, "ProducerFailed")
        assert.strictEqual(diedError.reason, "defect: kaboom")
        const interrupted = yield* ReplayBuffer.make({ capacity: 8 })
        yield* interrupted.endWith(Exit.interrupt(FiberId.none))
        assert.deepStrictEqual(
          yield* interrupted.ended,
          Option.some(Exit.fail(new ReplayBufferError.ProducerFailed({ reason: "interrupted" })))
        )
      }))

    it.effect("awaitData wakes on a write past the offset, and on the end", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 8 })
        yield* rb.write(bytes("ab"))
        yield* rb.awaitData(1) // already there: returns at once
        const waiter = yield* Effect.fork(rb.awaitData(2))
        yield* Effect.yieldNow()
        assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)))
        yield* rb.write(new Uint8Array(0)) // an empty write wakes nobody
        yield* Effect.yieldNow()
        assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)))
        yield* rb.write(bytes("c"))
        yield* Fiber.join(waiter)
        const late = yield* Effect.fork(rb.awaitData(10))
        const ender = yield* Effect.fork(rb.awaitEnd)
        yield* Effect.yieldNow()
        yield* ReplayBuffer.endWith(rb, Exit.void)
        yield* Fiber.join(late)
        yield* Fiber.join(ender)
        yield* rb.awaitData(100) // ended: never waits
      }))

    it.effect("the wake-up behind ReplayCursor.unsafeAwait: once, at once when ready, cancellable", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 8 })
        const calls: Array<string> = []
        const at = (offset: number) => ReplayCursor.make(rb, { from: offset })
        const [a, b, c] = [yield* at(0), yield* at(0), yield* at(0)]
        ReplayCursor.unsafeAwait(a, () => calls.push("a"))
        const cancelB = ReplayCursor.unsafeAwait(b, () => calls.push("b"))
        cancelB()
        yield* rb.write(bytes("xy"))
        ReplayCursor.unsafeNext(c) // reads "xy": c now waits at offset 2
        ReplayCursor.unsafeAwait(c, () => calls.push("c"))
        assert.deepStrictEqual(calls, ["a"]) // "a" once; "b" cancelled; "c" waits for offset 2
        ReplayCursor.unsafeAwait(yield* at(1), () => calls.push("d")) // already there: called synchronously
        assert.deepStrictEqual(calls, ["a", "d"])
        yield* rb.end
        assert.deepStrictEqual(calls, ["a", "d", "c"]) // the end wakes it
      }))

    it.effect("an interrupted waiter is unregistered and a later write still wakes the others", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 8 })
        const fibers = yield* Effect.forEach(
          Array.from({ length: 100 }, (_, i) => i),
          () => Effect.fork(rb.awaitData(0))
        )
        yield* Effect.yieldNow()
        yield* Effect.forEach(fibers.filter((_, i) => i % 2 === 0), Fiber.interrupt)
        yield* rb.write(bytes("x"))
        const results = yield* Effect.forEach(fibers, Fiber.await)
        assert.strictEqual(results.filter(Exit.isInterrupted).length, 50)
        assert.strictEqual(results.filter(Exit.isSuccess).length, 50)
      }))
  })

  describe("module functions and layers", () => {
    it.effect("dual forms agree", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.make({ capacity: 8 })
        yield* ReplayBuffer.write(rb, bytes("ab"))
        yield* pipe(rb, ReplayBuffer.write(bytes("cd")))
        yield* ReplayBuffer.writeAll(rb, [bytes("e")])
        yield* rb.pipe(ReplayBuffer.writeAll([bytes("f")]))
        assert.strictEqual(text((yield* ReplayBuffer.readFrom(rb, 2)).bytes), "cdef")
        assert.strictEqual(text((yield* rb.pipe(ReplayBuffer.readFrom(4))).bytes), "ef")
        assert.strictEqual((yield* rb.pipe(ReplayBuffer.readChunks(1, { maxBytes: 2 }))).next, 3)
        assert.strictEqual((yield* rb.pipe(ReplayBuffer.readChunks(1))).next, 6)
        assert.strictEqual(yield* ReplayBuffer.total(rb), 6)
        assert.strictEqual(yield* ReplayBuffer.oldest(rb), 0)
        yield* rb.pipe(ReplayBuffer.awaitData(0))
        assert.isTrue(yield* ReplayBuffer.end(rb))
        assert.isTrue(Option.isSome(yield* ReplayBuffer.ended(rb)))
        yield* ReplayBuffer.awaitEnd(rb)
        assert.isTrue(ReplayBuffer.isReplayBuffer(rb))
        assert.isFalse(ReplayBuffer.isReplayBuffer({}))
        assert.match(rb.epoch, /^[0-9a-f]{16}$/)
      }))

    it.effect("methods work detached from the service object", () =>
      Effect.gen(function*() {
        const { readFrom, write } = yield* ReplayBuffer.make({ capacity: 8 })
        yield* write(bytes("ok"))
        assert.strictEqual(text((yield* readFrom(0)).bytes), "ok")
      }))

    it.effect("layer provides the service", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.ReplayBuffer
        assert.strictEqual(rb.capacity, 32)
      }).pipe(Effect.provide(ReplayBuffer.layer({ capacity: 32 }))))

    it.effect("layer fails with InvalidCapacity", () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Layer.build(ReplayBuffer.layer({ capacity: 0 })).pipe(Effect.scoped))
        assert.strictEqual(failure(exit)._tag, "InvalidCapacity")
      }))

    it.effect("layerConfig reads the capacity from Config", () =>
      Effect.gen(function*() {
        const rb = yield* ReplayBuffer.ReplayBuffer
        assert.strictEqual(rb.capacity, 4096)
      }).pipe(
        Effect.provide(
          ReplayBuffer.layerConfig({ capacity: Config.integer("SCROLLBACK_CAPACITY") }).pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ SCROLLBACK_CAPACITY: 4096 })))
          )
        )
      ))

    it.effect("errors are tagged, decodable and readable", () =>
      Effect.gen(function*() {
        const errors = [
          new ReplayBufferError.InvalidCapacity({ capacity: 0 }),
          new ReplayBufferError.InvalidOffset({ offset: 1.5 }),
          new ReplayBufferError.BufferClosed({ total: 3 }),
          new ReplayBufferError.OffsetOverflow({ total: 1, length: 2 }),
          new ReplayBufferError.OffsetEvicted({ requested: 1, oldest: 5 }),
          new ReplayBufferError.ProducerFailed({ reason: "killed" })
        ]
        for (const error of errors) {
          assert.isTrue(ReplayBufferError.isReplayBufferError(error))
          assert.isTrue(error instanceof Error)
          assert.isAbove(error.message.length, 10)
        }
        assert.isFalse(ReplayBufferError.isReplayBufferError({ _tag: "InvalidOffset" }))
        assert.include(errors[4].message, "oldest retained offset is 5")
      }))
  })
})
