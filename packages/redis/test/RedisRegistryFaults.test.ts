import { assert, describe, it } from "@effect/vitest"
import type { ReplayBuffer } from "@scrollback/core"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import { ReplayStream } from "@scrollback/platform"
import { Cause, Effect, Exit, Fiber, Option, Schedule, Stream } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { RedisRegistry } from "../src/index.js"
import { concat, equalBytes } from "./util/bytes.js"
import * as Proxy from "./util/proxy.js"
import * as RedisServer from "./util/redisServer.js"

const tagOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "Success"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return (failure.value as { readonly _tag: string })._tag
  return Cause.isInterruptedOnly(exit.cause) ? "Interrupted" : "Defect"
}

const follower = (buffer: ReplayBuffer.ReplayBuffer, options?: ReplayStream.FollowOptions) =>
  Effect.fork(Effect.gen(function*() {
    const got: Array<Uint8Array> = []
    const exit = yield* Effect.exit(
      Stream.runForEach(ReplayStream.follow(buffer, options), (chunk) => Effect.sync(() => got.push(chunk)))
    )
    return { exit, bytes: concat(got) }
  }))

/** Write `i`: its index and a body, so a log can be parsed back into writes. */
const record = (i: number): Uint8Array => {
  const body = 20 + (i * 37) % 500
  const out = new Uint8Array(8 + body)
  new DataView(out.buffer).setUint32(0, i)
  new DataView(out.buffer).setUint32(4, body)
  for (let j = 0; j < body; j++) out[8 + j] = (i + j) & 0xff
  return out
}

const parse = (bytes: Uint8Array): Array<number> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Array<number> = []
  for (let at = 0; at < bytes.length;) {
    const i = view.getUint32(at)
    const body = view.getUint32(at + 4)
    assert.isTrue(equalBytes(bytes.subarray(at, at + 8 + body), record(i)), `record ${i} at ${at} is intact`)
    out.push(i)
    at += 8 + body
  }
  return out
}

/**
 * A producer "instance" in a child process (test/util/producer.ts): it takes
 * the writer lease of `key` and writes until it is killed.
 */
const spawnProducer = (url: string, key: string, leaseMs: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly kill9: Effect.Effect<void>; readonly epoch: string }>((resume) => {
      const script = fileURLToPath(new URL("./util/producer.ts", import.meta.url))
      const child = spawn(process.execPath, ["--import", "tsx", script, key], {
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        env: { ...process.env, SCROLLBACK_REDIS_URL: url, SCROLLBACK_REDIS_LEASE_MS: String(leaseMs) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      let err = ""
      child.stderr!.on("data", (d) => (err += d))
      child.stdout!.on("data", (d) => {
        out += d
        const ready = /ready ([0-9a-f]{16})/.exec(out)
        if (ready !== null) {
          resume(Effect.succeed({
            epoch: ready[1],
            kill9: Effect.async<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done(Effect.void)
              child.once("exit", () => done(Effect.void))
              child.kill("SIGKILL")
            })
          }))
        }
      })
      child.once("exit", (code) => resume(Effect.dieMessage(`the producer exited (${code}): ${err}`)))
      return Effect.sync(() => child.kill("SIGKILL"))
    }),
    ({ kill9 }) => kill9
  )

describe("RedisRegistry under faults", () => {
  it.scopedLive("kill -9 of the producer's process: every follower elsewhere ends 'producer lost' within the lease", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const leaseMs = 1500
      // A long safety poll: the reaping below must come from the lease's own expiry, not from a poll.
      const b = yield* RedisRegistry.make({ url: server.url, safetyPollMs: 60_000 })
      const producer = yield* spawnProducer(server.url, "job", leaseMs)
      const buffer = yield* b.get("job")
      assert.strictEqual(buffer.epoch, producer.epoch)
      const f = yield* follower(buffer, { from: 0 })
      yield* Effect.sleep("200 millis")
      const killedAt = Date.now()
      yield* producer.kill9
      const { bytes, exit } = yield* Fiber.join(f).pipe(Effect.timeout("30 seconds"))
      const took = Date.now() - killedAt
      assert.deepStrictEqual(exit, Exit.fail(new ProducerFailed({ reason: "producer lost" })))
      // The lease lapses at most leaseMs after the kill; the tail wakes up for it (slack for a busy machine).
      assert.isBelow(took, leaseMs + 3000, `ended ${took} ms after the kill`)
      const lines = new TextDecoder().decode(bytes).split("\n").filter((l) => l !== "")
      assert.isAbove(lines.length, 1)
      lines.forEach((line, i) => assert.strictEqual(line, `line ${i}`))
      // The buffer stays readable and ended on every instance; the first end was the reaper's.
      assert.strictEqual(tagOf(yield* Effect.exit(buffer.write(new Uint8Array([1])))), "BufferClosed")
    }))

  it.scopedLive("CLIENT KILL of every connection mid-stream: writes succeed or fail StorageUnavailable; none lost or doubled", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const a = yield* RedisRegistry.make({ url: server.url, commandTimeoutMs: 2000 })
      const b = yield* RedisRegistry.make({ url: server.url, safetyPollMs: 200 })
      const bufferA = yield* a.create("kill", { capacity: 8 << 20 })
      const onB = yield* follower(yield* b.get("kill"))
      const onA = yield* follower(bufferA)
      const outcomes: Array<string> = []
      const writer = yield* Effect.forEach(
        Array.from({ length: 600 }, (_, i) => i),
        (i) =>
          bufferA.write(record(i)).pipe(
            Effect.as("ok"),
            Effect.catchTag("StorageUnavailable", () => Effect.succeed("unavailable")),
            Effect.tap((o) => Effect.sync(() => outcomes.push(o))),
            Effect.zipRight(i % 10 === 0 ? Effect.sleep("2 millis") : Effect.void)
          ),
        { discard: true }
      ).pipe(Effect.fork)
      let kills = 0
      while (kills < 6 && Option.isNone(yield* Fiber.poll(writer))) {
        yield* Effect.sleep("40 millis")
        const killed = Number(yield* server.command("CLIENT", "KILL", "TYPE", "normal")) +
          Number(yield* server.command("CLIENT", "KILL", "TYPE", "pubsub"))
        if (killed > 0) kills++
      }
      yield* Fiber.join(writer)
      assert.isAtLeast(kills, 1)
      // Recovered: writes and ends go through again.
      yield* bufferA.write(record(600)).pipe(Effect.retry({ times: 50, schedule: Schedule.spaced("50 millis") }))
      outcomes.push("ok")
      yield* bufferA.end
      const [a1, b1] = [yield* Fiber.join(onA), yield* Fiber.join(onB)]
      const written = parse(a1.bytes)
      for (let k = 1; k < written.length; k++) assert.isAbove(written[k], written[k - 1], "in order, never twice")
      const present = new Set(written)
      outcomes.forEach((o, i) => {
        if (o === "ok") assert.isTrue(present.has(i), `acknowledged write ${i} is there`)
      })
      assert.deepStrictEqual([a1.exit, b1.exit], [Exit.void, Exit.void])
      assert.isTrue(equalBytes(b1.bytes, a1.bytes), "the other instance's follower got exactly the same bytes")
    }))

  it.scopedLive("a reply lost after Redis ran the append: re-sent, answered from the dedup record, written once", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const proxy = yield* Proxy.make(() => server.port)
      const a = yield* RedisRegistry.make({ url: proxy.url })
      const b = yield* RedisRegistry.make({ url: server.url })
      const bufferA = yield* a.create("lost-reply", { capacity: 4096 })
      yield* bufferA.write(new TextEncoder().encode("before "))
      // Let A's own tail settle, so the next reply on A's command connection (connection 0) is the append's.
      yield* Effect.sleep("200 millis")
      const lost = yield* Effect.fork(proxy.loseNextReply(0))
      yield* bufferA.write(new TextEncoder().encode("once "))
      const dropped = yield* Fiber.join(lost)
      // The reply Redis sent, never delivered: the append ran (bytes 7 to 12) before the connection dropped.
      assert.match(dropped, /^\*4\r\n\$2\r\nOK\r\n:7\r\n:12\r\n/)
      assert.isAtLeast(proxy.connections, 3, "A reconnected")
      yield* bufferA.write(new TextEncoder().encode("after"))
      const bufferB = yield* b.get("lost-reply")
      for (const buffer of [bufferA, bufferB]) {
        assert.strictEqual(new TextDecoder().decode((yield* buffer.readFrom(0)).bytes), "before once after")
      }
    }))

  it.scopedLive("Redis down: writes and gets fail StorageUnavailable, followers wait; back with its AOF: same log", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make({ persistence: "aof" })
      const options = { commandTimeoutMs: 1000, safetyPollMs: 200 }
      const a = yield* RedisRegistry.make({ ...options, url: server.url })
      const b = yield* RedisRegistry.make({ ...options, url: server.url })
      const bufferA = yield* a.create("down", { capacity: 4096 })
      yield* bufferA.write(new TextEncoder().encode("one "))
      const bufferB = yield* b.get("down")
      const onB = yield* follower(bufferB)
      yield* server.kill9
      const started = Date.now()
      assert.strictEqual(tagOf(yield* Effect.exit(bufferA.write(new TextEncoder().encode("x")))), "StorageUnavailable")
      // A read that cannot be answered is refused (HTTP: 503 + Retry-After), held or not.
      assert.strictEqual(tagOf(yield* Effect.exit(b.get("down"))), "StorageUnavailable")
      assert.strictEqual(tagOf(yield* Effect.exit(b.get("other"))), "StorageUnavailable")
      assert.strictEqual(tagOf(yield* Effect.exit(bufferA.end)), "StorageUnavailable")
      assert.isBelow(Date.now() - started, 4 * 1000 + 5000, "each bounded by the command timeout")
      assert.isNull(Option.getOrNull(yield* Fiber.poll(onB)), "the follower waits")
      yield* server.start({ persistence: "aof" })
      const retry = { times: 100, schedule: Schedule.spaced("50 millis") }
      yield* bufferA.write(new TextEncoder().encode("two")).pipe(Effect.retry(retry))
      assert.strictEqual((yield* b.get("down").pipe(Effect.retry(retry))).epoch, bufferA.epoch)
      yield* bufferA.end
      const { bytes, exit } = yield* Fiber.join(onB)
      assert.deepStrictEqual(exit, Exit.void)
      // "x" was refused before it reached Redis (the connection was down): the log is exactly what was acknowledged.
      assert.strictEqual(new TextDecoder().decode(bytes), "one two")
    }))

  it.scopedLive("Redis restarted without persistence: followers end, get answers 404, a new buffer has a new epoch", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.make()
      const options = { commandTimeoutMs: 1000, safetyPollMs: 100 }
      const a = yield* RedisRegistry.make({ ...options, url: server.url })
      const b = yield* RedisRegistry.make({ ...options, url: server.url })
      const bufferA = yield* a.create("amnesia", { capacity: 4096 })
      yield* bufferA.write(new TextEncoder().encode("before the crash"))
      const bufferB = yield* b.get("amnesia")
      const followers = yield* Effect.all([follower(bufferA), follower(bufferB)])
      yield* server.kill9
      yield* server.start()
      for (const f of followers) {
        const { bytes, exit } = yield* Fiber.join(f).pipe(Effect.timeout("30 seconds"))
        assert.strictEqual(new TextDecoder().decode(bytes), "before the crash")
        assert.strictEqual(tagOf(exit), "ProducerFailed")
        assert.include(String(Cause.squash(Exit.isFailure(exit) ? exit.cause : Cause.empty)), "log of record was lost")
      }
      const notFound = {
        times: 100,
        schedule: Schedule.spaced("50 millis"),
        while: (e: { readonly _tag: string }) => e._tag === "StorageUnavailable"
      }
      assert.strictEqual(tagOf(yield* Effect.exit(a.get("amnesia").pipe(Effect.retry(notFound)))), "BufferNotFound")
      assert.strictEqual(tagOf(yield* Effect.exit(b.get("amnesia").pipe(Effect.retry(notFound)))), "BufferNotFound")
      assert.strictEqual(tagOf(yield* Effect.exit(bufferA.write(new TextEncoder().encode("x")))), "BufferClosed")
      // A new incarnation under the key: another epoch, so a resume with the old one is refused (409), never spliced.
      const again = yield* a.create("amnesia", { capacity: 4096 })
      assert.notStrictEqual(again.epoch, bufferA.epoch)
      const onB = yield* b.get("amnesia")
      assert.strictEqual(onB.epoch, again.epoch)
      const refused = yield* Effect.flip(
        Stream.runDrain(ReplayStream.follow(onB, { from: { epoch: bufferA.epoch, offset: 5 } }))
      )
      assert.strictEqual(refused._tag, "EpochMismatch")
    }))
})
