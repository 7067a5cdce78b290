import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer, ReplayBufferError } from "@scrollback/core"
import { ReplayMetrics } from "@scrollback/core"
import { ReplaySink, ReplayStream } from "@scrollback/platform"
import { Cause, Chunk, Data, Deferred, Effect, Exit, FastCheck as fc, Fiber, Metric, Option, Stream } from "effect"
import { awaitTotal, concat, endedWith, producerFailure } from "./util/bytes.js"

class Boom extends Data.TaggedError("Boom")<{ readonly message: string }> {}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (s: string) => encoder.encode(s)

/** The real buffer, with every `writeAll` call recorded (batch sizes, in arrays). */
const recording = (buffer: ReplayBuffer.ReplayBuffer) => {
  const batches: Array<number> = []
  const spy: ReplayBuffer.ReplayBuffer = Object.create(buffer, {
    writeAll: {
      value: (chunks: Iterable<Uint8Array>) => {
        batches.push(Array.from(chunks).length)
        return buffer.writeAll(chunks)
      }
    }
  })
  return { spy, batches }
}

const contents = (buffer: ReplayBuffer.ReplayBuffer) => Effect.map(buffer.readFrom(0), (r) => r.bytes)

describe("ReplaySink", () => {
  describe("make", () => {
    const bytesArb = fc.uint8Array({ maxLength: 64 })
    // A stream: a list of chunks, each a non-empty list of arrays (an array may be empty).
    const chunkingArb = fc.array(fc.array(bytesArb, { minLength: 1, maxLength: 6 }), { maxLength: 12 })

    it.effect.prop(
      "random chunkings: the log is the concatenation, and each stream chunk is one atomic batch",
      [chunkingArb, fc.integer({ min: 1, max: 400 }), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 8 })],
      ([chunks, capacity, readerYields]) =>
        Effect.gen(function*() {
          const buffer = yield* ReplayBuffer.make({ capacity })
          const { batches, spy } = recording(buffer)
          const all = concat(chunks.flat())
          // Where each batch ends: a concurrent reader may only ever see these totals.
          const boundaries = new Set<number>([0])
          let at = 0
          for (const chunk of chunks) {
            at += chunk.reduce((n, a) => n + a.length, 0)
            boundaries.add(at)
          }

          const source = Stream.fromChunks(...chunks.map((c) => Chunk.unsafeFromArray(c))).pipe(
            // Give the reader a chance to run between chunks.
            Stream.mapChunksEffect((c) => Effect.as(Effect.yieldNow(), c))
          )
          const seen: Array<number> = []
          const reader = Effect.forEach(readerYields, (n) =>
            Effect.repeatN(Effect.yieldNow(), n).pipe(
              Effect.zipRight(buffer.readChunks(0)),
              Effect.tap((r) => Effect.sync(() => seen.push(r.next)))
            ), { discard: true })

          yield* Effect.all([Stream.run(source, ReplaySink.make(spy)), reader], {
            concurrency: "unbounded",
            discard: true
          })

          assert.deepStrictEqual(batches, chunks.map((c) => c.length))
          assert.strictEqual(yield* buffer.total, all.length)
          const tail = all.subarray(Math.max(0, all.length - capacity))
          assert.deepStrictEqual(yield* contents(buffer), tail)
          for (const next of seen) assert.isTrue(boundaries.has(next), `a read ended at ${next}, inside a batch`)
          assert.isTrue(Option.isNone(yield* buffer.ended), "make never ends the buffer")
        }),
      { fastCheck: { numRuns: 200 } }
    )

    it.effect("fails with BufferClosed when the buffer has ended, and writes nothing", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 16 })
        yield* buffer.end
        const error = yield* Stream.make(text("x")).pipe(Stream.run(ReplaySink.make(buffer)), Effect.flip)
        assert.instanceOf(error, ReplayBufferError.BufferClosed)
        assert.strictEqual(yield* buffer.total, 0)
      }))

    it.effect("updates bytesWritten and bytesEvicted", () =>
      Effect.gen(function*() {
        const written0 = (yield* Metric.value(ReplayMetrics.bytesWritten)).count
        const evicted0 = (yield* Metric.value(ReplayMetrics.bytesEvicted)).count
        const buffer = yield* ReplayBuffer.make({ capacity: 10 })
        // 4 + 5 bytes fit; the 7-byte chunk evicts 6; the 20-byte chunk evicts 20.
        yield* Stream.fromChunks(
          Chunk.make(text("abcd"), text("efghi")),
          Chunk.make(text("jklmnop")),
          Chunk.make(new Uint8Array(20))
        ).pipe(Stream.run(ReplaySink.make(buffer)))
        assert.strictEqual(yield* buffer.total, 36)
        assert.strictEqual(yield* buffer.oldest, 26)
        const written = (yield* Metric.value(ReplayMetrics.bytesWritten)).count - written0
        const evicted = (yield* Metric.value(ReplayMetrics.bytesEvicted)).count - evicted0
        assert.strictEqual(written, 36)
        assert.strictEqual(evicted, 26)
      }))

    it.effect("concurrent sinks on one buffer: the metrics count every byte once", () =>
      Effect.gen(function*() {
        const written0 = (yield* Metric.value(ReplayMetrics.bytesWritten)).count
        const evicted0 = (yield* Metric.value(ReplayMetrics.bytesEvicted)).count
        const buffer = yield* ReplayBuffer.make({ capacity: 10 })
        const producer = (size: number) =>
          Stream.range(1, 50).pipe(
            Stream.map(() => new Uint8Array(size)),
            Stream.mapChunksEffect((c) => Effect.as(Effect.yieldNow(), c)),
            Stream.run(ReplaySink.make(buffer))
          )
        yield* Effect.all([producer(3), producer(7), producer(1)], { concurrency: "unbounded", discard: true })
        assert.strictEqual(yield* buffer.total, 50 * 11)
        assert.strictEqual((yield* Metric.value(ReplayMetrics.bytesWritten)).count - written0, 50 * 11)
        assert.strictEqual((yield* Metric.value(ReplayMetrics.bytesEvicted)).count - evicted0, yield* buffer.oldest)
      }))
  })

  describe("write", () => {
    it.effect("end: true (default): the buffer ends with the stream and followers complete", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 64 })
        const follower = yield* ReplayStream.follow(buffer).pipe(Stream.decodeText(), Stream.mkString, Effect.fork)
        yield* Stream.make("hello ", "world").pipe(Stream.encodeText, ReplaySink.write(buffer))
        assert.strictEqual(yield* Fiber.join(follower), "hello world")
        assert.deepStrictEqual(yield* endedWith(buffer), Exit.void)
      }))

    it.effect("data-first form", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 64 })
        yield* ReplaySink.write(Stream.make(text("ab"), text("c")), buffer)
        assert.strictEqual(decoder.decode(yield* contents(buffer)), "abc")
        assert.isTrue(Exit.isSuccess(yield* endedWith(buffer)))
      }))

    it.effect("end: false leaves the buffer open for the next producer, also when one fails", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 64 })
        yield* Stream.make(text("one;")).pipe(ReplaySink.write(buffer, { end: false }))
        const error = yield* Stream.make(text("two;")).pipe(
          Stream.concat(Stream.fail(new Boom({ message: "second producer broke" }))),
          ReplaySink.write(buffer, { end: false }),
          Effect.flip
        )
        assert.deepStrictEqual(error, new Boom({ message: "second producer broke" }))
        assert.isTrue(Option.isNone(yield* buffer.ended))
        yield* Stream.make(text("three")).pipe(ReplaySink.write(buffer, { end: false }))
        assert.isTrue(Option.isNone(yield* buffer.ended))
        assert.strictEqual(decoder.decode(yield* contents(buffer)), "one;two;three")
      }))

    it.effect("stream failure: the buffer is failed with ProducerFailed and the error is propagated", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 64 })
        const follower = yield* ReplayStream.follow(buffer).pipe(Stream.runCollect, Effect.exit, Effect.fork)
        const error = yield* Stream.make(text("partial")).pipe(
          Stream.concat(Stream.fail(new Boom({ message: "disk on fire" }))),
          ReplaySink.write(buffer),
          Effect.flip
        )
        assert.deepStrictEqual(error, new Boom({ message: "disk on fire" }))
        const ended = producerFailure(yield* endedWith(buffer))
        assert.strictEqual(ended.reason, "disk on fire")
        assert.isUndefined(ended.exitCode)
        assert.strictEqual(decoder.decode(yield* contents(buffer)), "partial")
        assert.strictEqual(producerFailure(yield* Fiber.join(follower)).reason, "disk on fire")
      }))

    it.effect("a ProducerFailed from upstream is passed on as it is, exit code included", () =>
      Effect.gen(function*() {
        const upstream = yield* ReplayBuffer.make({ capacity: 64 })
        const downstream = yield* ReplayBuffer.make({ capacity: 64 })
        yield* upstream.write(text("log"))
        const failed = new ReplayBufferError.ProducerFailed({ reason: "exited with code 3", exitCode: 3 })
        yield* upstream.fail(failed)
        const error = yield* ReplayStream.follow(upstream).pipe(ReplaySink.write(downstream), Effect.flip)
        assert.deepStrictEqual(error, failed)
        assert.strictEqual(producerFailure(yield* endedWith(downstream)).exitCode, 3)
        assert.strictEqual(decoder.decode(yield* contents(downstream)), "log")
      }))

    it.effect("a defect fails the buffer with reason \"defect: …\" and the write dies", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 64 })
        const exit = yield* Stream.make(text("x")).pipe(
          Stream.concat(Stream.die(new Error("bug"))),
          ReplaySink.write(buffer),
          Effect.exit
        )
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause), "the write dies")
        assert.strictEqual(producerFailure(yield* endedWith(buffer)).reason, "defect: bug")
      }))

    it.effect("interruption with end: true fails the buffer with reason \"interrupted\"; followers end", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 64 })
        const follower = yield* ReplayStream.follow(buffer).pipe(Stream.runCollect, Effect.exit, Effect.fork)
        const writer = yield* Stream.make(text("before")).pipe(
          Stream.concat(Stream.never),
          ReplaySink.write(buffer),
          Effect.fork
        )
        yield* awaitTotal(buffer, 6)
        yield* Fiber.interrupt(writer)
        const ended = producerFailure(yield* endedWith(buffer))
        assert.strictEqual(ended.reason, "interrupted")
        assert.strictEqual(producerFailure(yield* Fiber.join(follower)).reason, "interrupted")
        assert.strictEqual(decoder.decode(yield* contents(buffer)), "before")
      }))

    it.effect("interruption with end: false leaves the buffer open", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 64 })
        const started = yield* Deferred.make<void>()
        const writer = yield* Stream.make(text("a")).pipe(
          Stream.concat(Stream.fromEffect(Effect.zipRight(Deferred.succeed(started, void 0), Effect.never))),
          ReplaySink.write(buffer, { end: false }),
          Effect.fork
        )
        yield* Deferred.await(started)
        yield* Fiber.interrupt(writer)
        assert.isTrue(Option.isNone(yield* buffer.ended))
        yield* buffer.write(text("b"))
        assert.strictEqual(decoder.decode(yield* contents(buffer)), "ab")
      }))

    it.effect("a buffer ended by someone else: BufferClosed, and the first end wins", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 64 })
        yield* buffer.end
        const error = yield* Stream.make(text("late")).pipe(ReplaySink.write(buffer), Effect.flip)
        assert.instanceOf(error, ReplayBufferError.BufferClosed)
        assert.deepStrictEqual(yield* endedWith(buffer), Exit.void)
      }))

    it.effect("an empty stream into a buffer that has already ended fails BufferClosed, as the table says", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 64 })
        yield* buffer.fail(new ReplayBufferError.ProducerFailed({ reason: "first" }))
        const error = yield* Stream.empty.pipe(ReplaySink.write(buffer), Effect.flip)
        assert.instanceOf(error, ReplayBufferError.BufferClosed)
        assert.strictEqual(producerFailure(yield* endedWith(buffer)).reason, "first")
      }))

    it.effect("two concurrent writes into one buffer: the second fails WriterBusy at once, before writing or ending", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        const follower = yield* ReplayStream.follow(buffer).pipe(Stream.decodeText(), Stream.mkString, Effect.fork)
        const firstStarted = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        // The first producer writes, then waits with its lease held; it fails at the end, with its own reason.
        const first = yield* Stream.make(text("first:1 ")).pipe(
          Stream.concat(Stream.fromEffect(Deferred.succeed(firstStarted, undefined)).pipe(Stream.drain)),
          Stream.concat(Stream.fromEffect(Deferred.await(release)).pipe(Stream.drain)),
          Stream.concat(Stream.make(text("first:2"))),
          Stream.concat(Stream.fail(new Boom({ message: "first producer failed" }))),
          ReplaySink.write(buffer),
          Effect.fork
        )
        yield* Deferred.await(firstStarted)
        // The second never got the lease: it fails at once, wrote nothing, ended nothing (its stream never ran).
        let ran = false
        const second = yield* Stream.make(text("SECOND")).pipe(
          Stream.tap(() => Effect.sync(() => ran = true)),
          ReplaySink.write(buffer),
          Effect.flip
        )
        assert.instanceOf(second, ReplayBufferError.WriterBusy)
        assert.isFalse(ran)
        assert.isTrue(Option.isNone(yield* buffer.ended), "the second producer did not end the buffer")
        yield* Deferred.succeed(release, undefined)
        assert.instanceOf(yield* Effect.flip(Fiber.join(first)), Boom)
        assert.strictEqual(decoder.decode(yield* contents(buffer)), "first:1 first:2")
        assert.strictEqual(producerFailure(yield* endedWith(buffer)).reason, "first producer failed")
        assert.instanceOf(yield* Effect.flip(Fiber.join(follower)), ReplayBufferError.ProducerFailed)
      }))

    it.effect("wait: true takes the lease after the producer that holds it, never interleaving", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        const release = yield* Deferred.make<void>()
        const first = yield* Stream.make(text("a1 ")).pipe(
          Stream.concat(Stream.fromEffect(Deferred.await(release)).pipe(Stream.drain)),
          Stream.concat(Stream.make(text("a2 "))),
          ReplaySink.write(buffer, { end: false }),
          Effect.fork
        )
        yield* awaitTotal(buffer, 3)
        const second = yield* Stream.make(text("b1 "), text("b2")).pipe(
          ReplaySink.write(buffer, { wait: true }),
          Effect.fork
        )
        yield* Effect.repeatN(Effect.yieldNow(), 20)
        assert.strictEqual(decoder.decode(yield* contents(buffer)), "a1 ")
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(first)
        yield* Fiber.join(second)
        assert.strictEqual(decoder.decode(yield* contents(buffer)), "a1 a2 b1 b2")
        assert.deepStrictEqual(yield* endedWith(buffer), Exit.void)
      }))
  })
})
