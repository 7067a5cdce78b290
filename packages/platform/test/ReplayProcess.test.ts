import { Command } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer, ReplayBufferError } from "@scrollback/core"
import { ReplayMetrics } from "@scrollback/core"
import { ReplayProcess, ReplayStream } from "@scrollback/platform"
import { Deferred, Effect, Exit, Fiber, Metric, Option, Scope, Stream } from "effect"
import * as fs from "node:fs"
import { awaitTotal, endedWith, producerFailure } from "./util/bytes.js"

const decoder = new TextDecoder()
const text = (s: string) => new TextEncoder().encode(s)

const sh = (script: string) => Command.make("sh", "-c", script)

const contents = (buffer: ReplayBuffer.ReplayBuffer) => Effect.map(buffer.readFrom(0), (r) => decoder.decode(r.bytes))

/** Waits for the first line in the buffer. */
const firstLine = (buffer: ReplayBuffer.ReplayBuffer) =>
  ReplayStream.follow(buffer).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.runHead,
    Effect.map(Option.getOrThrow)
  )

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    assert.strictEqual((error as NodeJS.ErrnoException).code, "ESRCH")
    return false
  }
}

/**
 * The states (`R`, `S`, `Z`, …) of the processes in a process group, from `/proc` (Linux). A killed grandchild
 * may linger a moment as a zombie (`Z`) until init reaps it: dead, but still listed.
 */
const groupStates = (pgid: number): Array<string> => {
  const states: Array<string> = []
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
    } catch {
      continue // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces, so parse after the last ")".
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (Number(pgrp) === pgid) states.push(state)
  }
  return states
}

/** Polls `states` until it is empty (the last value after 10 s: a bound, not a timing). */
const untilEmpty = (states: () => Array<string>): Effect.Effect<Array<string>> =>
  Effect.gen(function*() {
    const deadline = Date.now() + 10_000
    let current = states()
    while (current.length > 0 && Date.now() < deadline) {
      yield* Effect.sleep("20 millis")
      current = states()
    }
    return current
  })

const seqOutput = (n: number): string => {
  let out = ""
  for (let i = 1; i <= n; i++) out += `${i}\n`
  return out
}

describe("ReplayProcess", () => {
  describe("capture", () => {
    it.live("merges stdout and stderr; tees each stream into its own buffer; exit 0 ends the buffer", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        const stdout = yield* ReplayBuffer.make({ capacity: 1024 })
        const stderr = yield* ReplayBuffer.make({ capacity: 1024 })
        const code = yield* ReplayProcess.capture(
          sh("printf a; printf b >&2; sleep 0.05; printf c"),
          buffer,
          { stdout, stderr }
        )
        assert.strictEqual(code, 0)
        const all = yield* contents(buffer)
        assert.strictEqual([...all].sort().join(""), "abc")
        // Same pipe: a is before c whatever the timing.
        assert.isBelow(all.indexOf("a"), all.indexOf("c"))
        assert.strictEqual(yield* contents(stdout), "ac")
        assert.strictEqual(yield* contents(stderr), "b")
        for (const b of [buffer, stdout, stderr]) assert.deepStrictEqual(yield* endedWith(b), Exit.void)
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("keeps the arrival order across the two pipes when the child waits in between", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        const go1 = yield* Deferred.make<void>()
        const go2 = yield* Deferred.make<void>()
        const newline = (go: Deferred.Deferred<void>) => Stream.fromEffect(Effect.as(Deferred.await(go), text("\n")))
        // The child writes 1 (stdout) and 2 (stderr), waits until the parent has both, writes 3 to stdout,
        // waits again, then writes 4 to stderr: the buffer must read {1,2} 3 4.
        const command = sh("printf 1; printf 2 >&2; read x; printf 3; read y; printf 4 >&2").pipe(
          Command.stdin(Stream.concat(newline(go1), newline(go2)))
        )
        const capturing = yield* Effect.fork(ReplayProcess.capture(command, buffer))
        yield* awaitTotal(buffer, 2)
        yield* Deferred.succeed(go1, void 0)
        yield* awaitTotal(buffer, 3)
        yield* Deferred.succeed(go2, void 0)
        assert.strictEqual(yield* Fiber.join(capturing), 0)
        const all = yield* contents(buffer)
        assert.include(["1234", "2134"], all)
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("a non-zero exit fails followers with ProducerFailed { exitCode }", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        const follower = yield* ReplayStream.follow(buffer).pipe(Stream.runCollect, Effect.exit, Effect.fork)
        const code = yield* sh("printf 'some output'; exit 3").pipe(ReplayProcess.capture(buffer))
        assert.strictEqual(code, 3)
        const failed = producerFailure(yield* Fiber.join(follower))
        assert.strictEqual(failed.exitCode, 3)
        assert.strictEqual(failed.reason, "exited with code 3")
        assert.strictEqual(producerFailure(yield* endedWith(buffer)).exitCode, 3)
        assert.strictEqual(yield* contents(buffer), "some output")
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("output larger than the capacity: total counts every byte, the tail is retained, metrics agree", () =>
      Effect.gen(function*() {
        const capacity = 64 * 1024
        const expected = seqOutput(300_000)
        const written0 = (yield* Metric.value(ReplayMetrics.bytesWritten)).count
        const evicted0 = (yield* Metric.value(ReplayMetrics.bytesEvicted)).count
        const buffer = yield* ReplayBuffer.make({ capacity })
        assert.strictEqual(yield* ReplayProcess.capture(Command.make("seq", "1", "300000"), buffer), 0)
        assert.strictEqual(yield* buffer.total, expected.length)
        const { bytes, offset } = yield* buffer.readFrom(0)
        assert.strictEqual(offset, expected.length - capacity)
        assert.strictEqual(decoder.decode(bytes), expected.slice(expected.length - capacity))
        assert.strictEqual((yield* Metric.value(ReplayMetrics.bytesWritten)).count - written0, expected.length)
        assert.strictEqual((yield* Metric.value(ReplayMetrics.bytesEvicted)).count - evicted0, offset)
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("a follower started before the process receives exactly its output", () =>
      Effect.gen(function*() {
        const expected = seqOutput(50_000)
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 * 1024 })
        const follower = yield* ReplayStream.follow(buffer).pipe(Stream.decodeText(), Stream.mkString, Effect.fork)
        assert.strictEqual(yield* ReplayProcess.capture(Command.make("seq", "1", "50000"), buffer), 0)
        assert.strictEqual(yield* Fiber.join(follower), expected)
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("a command that does not exist: typed failure, and the buffer is failed", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        const follower = yield* ReplayStream.follow(buffer).pipe(Stream.runCollect, Effect.exit, Effect.fork)
        const error = yield* ReplayProcess.capture(Command.make("/nonexistent/scrollback-no-such-command"), buffer)
          .pipe(
            Effect.flip
          )
        assert.strictEqual(error._tag, "SystemError")
        assert.strictEqual(error._tag === "SystemError" ? error.reason : undefined, "NotFound")
        const failed = producerFailure(yield* endedWith(buffer))
        assert.strictEqual(failed.reason, error.message)
        assert.isUndefined(failed.exitCode)
        assert.deepStrictEqual(producerFailure(yield* Fiber.join(follower)), failed)
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("interrupting the capture kills the process and fails the buffer with \"interrupted\"", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        const capturing = yield* Effect.fork(ReplayProcess.capture(sh("echo $$; exec sleep 30"), buffer))
        const pid = Number(yield* firstLine(buffer))
        assert.isTrue(isAlive(pid))
        yield* Fiber.interrupt(capturing)
        assert.isFalse(isAlive(pid), "the process is gone once the interruption returns")
        assert.strictEqual(producerFailure(yield* endedWith(buffer)).reason, "interrupted")
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("a buffer ended by someone else: BufferClosed, the process is killed, the other end stands", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        const capturing = yield* Effect.fork(
          ReplayProcess.capture(sh("echo $$; while :; do echo tick; sleep 0.01; done"), buffer)
        )
        const pid = Number(yield* firstLine(buffer))
        yield* buffer.end
        const error = yield* Effect.flip(Fiber.join(capturing))
        assert.instanceOf(error, ReplayBufferError.BufferClosed)
        assert.isFalse(isAlive(pid))
        assert.deepStrictEqual(yield* endedWith(buffer), Exit.void)
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("a second capture into a buffer being captured fails WriterBusy at once; the first runs on", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 4096 })
        const tee = yield* ReplayBuffer.make({ capacity: 4096 })
        const first = yield* Effect.fork(
          ReplayProcess.capture(sh("echo first; read line; echo done"), buffer, { stdout: tee })
        )
        assert.strictEqual(yield* firstLine(buffer), "first")
        // The buffer itself, and a buffer used as the first capture's tee, are both held.
        const onBuffer = yield* Effect.flip(ReplayProcess.capture(sh("echo second"), buffer))
        assert.instanceOf(onBuffer, ReplayBufferError.WriterBusy)
        const onTee = yield* Effect.flip(ReplayProcess.capture(sh("echo second"), yield* ReplayBuffer.make(), {
          stdout: tee
        }))
        assert.instanceOf(onTee, ReplayBufferError.WriterBusy)
        assert.strictEqual(yield* contents(buffer), "first\n")
        assert.isTrue(Option.isNone(yield* buffer.ended))
        yield* Fiber.interrupt(first)
        assert.strictEqual(producerFailure(yield* endedWith(buffer)).reason, "interrupted")
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("end: false captures several commands into one open buffer", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        assert.strictEqual(yield* ReplayProcess.capture(sh("echo step 1"), buffer, { end: false }), 0)
        assert.strictEqual(yield* ReplayProcess.capture(sh("echo step 2; exit 4"), buffer, { end: false }), 4)
        const error = yield* ReplayProcess.capture(Command.make("/nonexistent/x"), buffer, { end: false }).pipe(
          Effect.flip
        )
        assert.strictEqual(error._tag, "SystemError")
        assert.isTrue(Option.isNone(yield* buffer.ended))
        assert.strictEqual(yield* contents(buffer), "step 1\nstep 2\n")
      }).pipe(Effect.provide(NodeContext.layer)))
  })

  describe("captureProcess", () => {
    it.live("captures a process started with Command.start; stdin is the caller's", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        const child = yield* Command.start(Command.make("cat"))
        const capturing = yield* Effect.fork(ReplayProcess.captureProcess(child, buffer))
        yield* Stream.make(text("typed\n")).pipe(Stream.run(child.stdin))
        assert.strictEqual(yield* Fiber.join(capturing), 0)
        assert.strictEqual(yield* contents(buffer), "typed\n")
        assert.deepStrictEqual(yield* endedWith(buffer), Exit.void)
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

    it.live("closing the scope kills the process group; the buffer fails with the signal", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const buffer = yield* ReplayBuffer.make({ capacity: 1024 })
        const child = yield* Command.start(sh("sleep 30")).pipe(Scope.extend(scope))
        const capturing = yield* Effect.fork(ReplayProcess.captureProcess(child, buffer))
        assert.isTrue(isAlive(child.pid))
        assert.isNotEmpty(groupStates(child.pid).filter((state) => state !== "Z"), "the child runs in its own group")
        yield* Scope.close(scope, Exit.void)
        assert.isFalse(isAlive(child.pid), "the shell is gone")
        // The signal reaches the whole group at once, but only the shell is waited for: another member may
        // still be exiting for a moment (state R) on a busy machine.
        const running = yield* untilEmpty(() => groupStates(child.pid).filter((state) => state !== "Z"))
        assert.deepStrictEqual(running, [], "nothing in its process group is still running")
        const exit = yield* Fiber.await(capturing)
        assert.isTrue(Exit.isFailure(exit))
        const failed = producerFailure(yield* endedWith(buffer))
        assert.include(failed.reason, "SIGTERM")
        assert.isUndefined(failed.exitCode)
      }).pipe(Effect.provide(NodeContext.layer)))
  })

  describe("run", () => {
    it.live("returns the buffer at once; it ends with the process", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayProcess.run(sh("printf hi; exit 2"), { capacity: 4096 })
        assert.strictEqual(buffer.capacity, 4096)
        const failed = yield* Effect.flip(buffer.awaitEnd)
        assert.strictEqual(failed.exitCode, 2)
        assert.strictEqual(yield* contents(buffer), "hi")
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

    it.live("closing the scope kills a running process and fails the buffer with \"interrupted\"", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const buffer = yield* ReplayProcess.run(sh("echo $$; exec sleep 30")).pipe(Scope.extend(scope))
        assert.strictEqual(buffer.capacity, ReplayBuffer.DEFAULT_CAPACITY)
        const pid = Number(yield* firstLine(buffer))
        assert.isTrue(isAlive(pid))
        yield* Scope.close(scope, Exit.void)
        assert.isFalse(isAlive(pid))
        assert.strictEqual(producerFailure(yield* endedWith(buffer)).reason, "interrupted")
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("the process holds the buffer's writer lease from the start: nobody else writes into it", () =>
      Effect.gen(function*() {
        const buffer = yield* ReplayProcess.run(sh("read line; echo out"))
        assert.instanceOf(yield* Effect.flip(buffer.write(text("intruder"))), ReplayBufferError.WriterBusy)
        assert.instanceOf(
          yield* Effect.flip(Effect.scoped(buffer.acquireWriter())),
          ReplayBufferError.WriterBusy
        )
        assert.strictEqual(yield* contents(buffer), "")
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

    it.live("an invalid capacity fails with InvalidCapacity and starts nothing", () =>
      Effect.gen(function*() {
        const error = yield* ReplayProcess.run(sh("echo never"), { capacity: 0 }).pipe(Effect.flip)
        assert.instanceOf(error, ReplayBufferError.InvalidCapacity)
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))
  })
})
