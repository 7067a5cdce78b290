import { assert, describe, it } from "@effect/vitest"
import { Contract } from "@scrollback/contract-kit"
import { ReplayBuffer, ReplayCursor, ReplayReplica } from "@scrollback/core"
import { Cause, Effect, Exit, Option } from "effect"
import { layerRemote, makeRemote } from "./util/remoteEngine.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: Uint8Array) => new TextDecoder().decode(data)
const tagOf = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit) ? "Success" : (Option.getOrThrow(Cause.failureOption(exit.cause)) as { _tag: string })._tag

// The whole engine contract, against replicas fed by a log of record kept apart from them.
Contract.contract("a replica of a remote log", layerRemote)

describe("ReplayReplica", () => {
  it.scoped("starts at the given offset, with the given epoch; writes go to the engine, then read locally", () =>
    Effect.gen(function*() {
      const { log, replica } = yield* makeRemote(8, 1000)
      const buffer = replica.buffer
      assert.strictEqual(buffer.epoch, "0123456789abcdef")
      assert.deepStrictEqual([yield* buffer.total, yield* buffer.oldest], [1000, 1000])
      yield* buffer.write(bytes("hello"))
      assert.strictEqual(log.total, 1005, "the log of record took the write")
      const read = yield* buffer.readFrom(0)
      assert.deepStrictEqual([read.offset, text(read.bytes)], [1000, "hello"])
    }))

  it.scoped("unsafeApply is idempotent: re-applied and overlapping ranges add only what is new", () =>
    Effect.gen(function*() {
      const { replica } = yield* makeRemote(64)
      replica.unsafeApply(0, [bytes("abc")])
      replica.unsafeApply(0, [bytes("abc")])
      replica.unsafeApply(1, [bytes("bc"), bytes("de")])
      replica.unsafeApply(2, [bytes("c")])
      assert.strictEqual(text((yield* replica.buffer.readFrom(0)).bytes), "abcde")
    }))

  it.scoped("a range past the replica's total jumps: its followers see a gap or OffsetEvicted, never a skip", () =>
    Effect.gen(function*() {
      const { replica } = yield* makeRemote(64)
      replica.unsafeApply(0, [bytes("ab")])
      const clamp = yield* ReplayCursor.make(replica.buffer, { from: 0, onEvicted: "clamp" })
      const fail = yield* ReplayCursor.make(replica.buffer, { from: 0, onEvicted: "fail" })
      ReplayCursor.unsafeNext(clamp)
      ReplayCursor.unsafeNext(fail)
      replica.unsafeApply(10, [bytes("xyz")])
      assert.deepStrictEqual([yield* replica.buffer.oldest, yield* replica.buffer.total], [10, 13])
      assert.deepStrictEqual(ReplayCursor.unsafeNext(clamp), { _tag: "Gap", requested: 2, oldest: 10 })
      const evicted = ReplayCursor.unsafeNext(fail)
      assert.strictEqual(evicted._tag === "Done" && tagOf(evicted.exit), "OffsetEvicted")
    }))

  it.scoped("the engine's end is the replica's; later bytes are ignored", () =>
    Effect.gen(function*() {
      const { log, replica } = yield* makeRemote(64)
      yield* replica.buffer.write(bytes("a"))
      assert.isTrue(yield* replica.buffer.end)
      assert.isTrue(log.ended !== undefined && Exit.isSuccess(log.ended))
      replica.unsafeApply(1, [bytes("b")])
      assert.strictEqual(text((yield* replica.buffer.readFrom(0)).bytes), "a")
      assert.isFalse(replica.unsafeApplyEnd(Exit.void), "the first end wins")
    }))

  it.scoped("StorageUnavailable from the engine reaches writes, ends and leases, and changes nothing", () =>
    Effect.gen(function*() {
      const { log, replica } = yield* makeRemote(64)
      const buffer = replica.buffer
      log.down = true
      assert.strictEqual(tagOf(yield* Effect.exit(buffer.write(bytes("x")))), "StorageUnavailable")
      assert.strictEqual(tagOf(yield* Effect.exit(buffer.writeAll([bytes("x")]))), "StorageUnavailable")
      assert.strictEqual(tagOf(yield* Effect.exit(buffer.end)), "StorageUnavailable")
      assert.strictEqual(tagOf(yield* Effect.exit(Effect.scoped(buffer.acquireWriter()))), "StorageUnavailable")
      assert.deepStrictEqual([yield* buffer.total, Option.isNone(yield* buffer.ended)], [0, true])
      log.down = false
      yield* ReplayBuffer.withWriter(buffer, (writer) => writer.write(bytes("back")))
      assert.strictEqual(text((yield* buffer.readFrom(0)).bytes), "back")
    }))

  it.effect("bad options: a capacity or start that is not a safe integer", () =>
    Effect.gen(function*() {
      const engine: ReplayReplica.ReplicaEngine = {
        writeAll: () => Effect.void,
        end: () => Effect.succeed(true),
        acquireWriter: () => Effect.succeed({})
      }
      const made = (capacity: number, start: number) =>
        Effect.exit(ReplayReplica.make({ capacity, start, epoch: "e", engine }))
      assert.strictEqual(tagOf(yield* made(0, 0)), "InvalidCapacity")
      assert.strictEqual(tagOf(yield* made(8, -1)), "InvalidOffset")
      assert.strictEqual(tagOf(yield* made(8, 1.5)), "InvalidOffset")
      assert.strictEqual(tagOf(yield* made(8, 2 ** 53)), "InvalidOffset")
    }))
})
