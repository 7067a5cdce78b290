import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer } from "@scrollback/core"
import { ReplayStream } from "@scrollback/platform"
import { ReplayPty, ReplayPtyError } from "@scrollback/terminal"
import { Deferred, Effect, Exit, Fiber, Option, Schedule, Scope, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { contents, endedWith, groupMembers, isAlive, producerFailure, waitForText } from "./util.js"

const sh = (script: string) => ["-c", script] as const

const makeBuffer = (capacity = 1024 * 1024) => Effect.orDie(ReplayBuffer.make({ capacity }))

/** Runs `sh -c script` in a PTY writing into a fresh buffer. */
const runSh = (script: string, options?: ReplayPty.SpawnOptions) =>
  Effect.gen(function*() {
    const buffer = yield* makeBuffer()
    const pty = yield* Effect.orDie(ReplayPty.run(buffer, "sh", sh(script), options))
    return { buffer, pty }
  })

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-pty-"))

describe("ReplayPty", () => {
  describe("a real terminal", () => {
    it.scopedLive("the process sees a terminal on stdin, stdout and stderr", () =>
      Effect.gen(function*() {
        const { buffer, pty } = yield* runSh(
          "tty; test -t 0 && test -t 1 && test -t 2 && echo all-ttys; echo TERM=$TERM"
        )
        const exit = yield* pty.exit
        assert.deepStrictEqual(exit, { exitCode: 0, signal: undefined })
        yield* buffer.awaitEnd
        const text = yield* contents(buffer)
        assert.match(text, /^\/dev\/pts\/\d+\r\n/)
        assert.include(text, "all-ttys\r\n")
        assert.include(text, "TERM=xterm-256color\r\n")
      }))

    it.scopedLive("tput cols and lines follow the size: at spawn and after a resize", () =>
      Effect.gen(function*() {
        const { buffer, pty } = yield* runSh(
          "echo size=$(tput cols)x$(tput lines); read x; echo size=$(tput cols)x$(tput lines)",
          { cols: 100, rows: 30 }
        )
        yield* waitForText(buffer, /size=100x30\r\n/)
        yield* pty.resize(132, 43)
        assert.deepStrictEqual(yield* pty.size, { cols: 132, rows: 43 })
        yield* pty.write("\r")
        yield* waitForText(buffer, /size=132x43\r\n/)
        assert.strictEqual((yield* pty.exit).exitCode, 0)
      }))

    it.scopedLive("input is delivered as typed; the terminal echoes it", () =>
      Effect.gen(function*() {
        const { buffer, pty } = yield* runSh("read a; read b; echo \"[$a|$b]\"")
        yield* pty.write("héllo\r")
        yield* pty.write(new TextEncoder().encode("wörld ✓\r"))
        assert.strictEqual((yield* pty.exit).exitCode, 0)
        const text = yield* waitForText(buffer, /\[héllo\|wörld ✓\]\r\n/)
        assert.include(text, "héllo\r\n", "echoed by the terminal")
      }))

    it.scopedLive("a full-screen program (less) draws on the alternate screen and exits cleanly on q", () =>
      Effect.gen(function*() {
        const dir = tempDir()
        const file = path.join(dir, "lines.txt")
        fs.writeFileSync(file, Array.from({ length: 200 }, (_, i) => `line ${i + 1}`).join("\n") + "\n")
        const buffer = yield* makeBuffer()
        const pty = yield* Effect.orDie(
          ReplayPty.run(buffer, "less", [file], { cols: 80, rows: 24, env: { PATH: process.env.PATH, LESS: "" } })
        )
        // The first screen: lines 1..23 and the prompt.
        yield* waitForText(buffer, /line 23/)
        yield* pty.write(" ") // next page
        yield* waitForText(buffer, /line 46/)
        yield* pty.write("q")
        assert.deepStrictEqual(yield* pty.exit, { exitCode: 0, signal: undefined })
        yield* buffer.awaitEnd
        const text = yield* contents(buffer)
        assert.include(text, "\x1b[?1049h", "entered the alternate screen")
        assert.include(text, "\x1b[?1049l", "left the alternate screen")
        fs.rmSync(dir, { recursive: true })
      }))

    it.scopedLive("bytes pass through exactly (no output processing in raw mode)", () =>
      Effect.gen(function*() {
        const dir = tempDir()
        const file = path.join(dir, "bytes.bin")
        const bytes = new Uint8Array(70_000).map((_, i) => (i * 31 + 7) & 0xff)
        fs.writeFileSync(file, bytes)
        const { buffer, pty } = yield* runSh(`stty raw -echo -opost; printf START; cat '${file}'`)
        assert.strictEqual((yield* pty.exit).exitCode, 0)
        yield* buffer.awaitEnd
        const { bytes: all } = yield* Effect.orDie(buffer.readFrom(0))
        const start = new TextDecoder("latin1").decode(all).indexOf("START") + "START".length
        assert.isAbove(start, 4)
        assert.deepStrictEqual(all.subarray(start), bytes)
        fs.rmSync(dir, { recursive: true })
      }))
  })

  describe("the end of the buffer", () => {
    it.scopedLive("exit 0 ends the buffer; followers get every byte and complete", () =>
      Effect.gen(function*() {
        const buffer = yield* makeBuffer()
        const follower = yield* ReplayStream.follow(buffer).pipe(Stream.decodeText(), Stream.mkString, Effect.fork)
        yield* Effect.orDie(ReplayPty.run(buffer, "sh", sh("seq 1 2000")))
        const text = yield* Fiber.join(follower)
        const expected = Array.from({ length: 2000 }, (_, i) => `${i + 1}\r\n`).join("")
        assert.strictEqual(text, expected)
        assert.deepStrictEqual(yield* endedWith(buffer), Exit.void)
      }))

    it.scopedLive("a non-zero exit fails the buffer with ProducerFailed { exitCode }", () =>
      Effect.gen(function*() {
        const { buffer, pty } = yield* runSh("echo failing; exit 3")
        assert.deepStrictEqual(yield* pty.exit, { exitCode: 3, signal: undefined })
        yield* Effect.exit(buffer.awaitEnd)
        const failed = producerFailure(yield* endedWith(buffer))
        assert.strictEqual(failed.exitCode, 3)
        assert.strictEqual(failed.reason, "exited with code 3")
        assert.strictEqual(yield* contents(buffer), "failing\r\n")
      }))

    it.scopedLive("a signal fails the buffer with the signal in the reason", () =>
      Effect.gen(function*() {
        const { buffer, pty } = yield* runSh("echo before; kill -TERM $$; echo after")
        assert.deepStrictEqual(yield* pty.exit, { exitCode: 0, signal: "SIGTERM" })
        yield* Effect.exit(buffer.awaitEnd)
        const failed = producerFailure(yield* endedWith(buffer))
        assert.strictEqual(failed.reason, "killed by SIGTERM")
        assert.isUndefined(failed.exitCode)
        assert.strictEqual(yield* contents(buffer), "before\r\n")
      }))

    it.live("closing the scope kills the process and ends the buffer with SIGHUP, keeping its output", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const buffer = yield* makeBuffer()
        const pty = yield* Effect.orDie(ReplayPty.run(buffer, "sh", sh("echo started; exec sleep 1000"))).pipe(
          Scope.extend(scope)
        )
        yield* waitForText(buffer, /started\r\n/)
        assert.isTrue(isAlive(pty.pid))
        yield* Scope.close(scope, Exit.void)
        assert.isFalse(isAlive(pty.pid), "gone once the scope is closed")
        const failed = producerFailure(yield* endedWith(buffer))
        assert.strictEqual(failed.reason, "killed by SIGHUP")
        assert.strictEqual(yield* contents(buffer), "started\r\n")
      }))

    it.scopedLive("a buffer ended by someone else: the process is killed, the other end stands", () =>
      Effect.gen(function*() {
        const { buffer, pty } = yield* runSh("while :; do echo tick; sleep 0.01; done")
        yield* waitForText(buffer, /tick/)
        yield* buffer.end
        const exit = yield* pty.exit
        assert.strictEqual(exit.signal, "SIGHUP")
        assert.isFalse(isAlive(pty.pid))
        assert.deepStrictEqual(yield* endedWith(buffer), Exit.void)
      }))

    it.scopedLive("a second producer on a captured buffer is refused WriterBusy before it writes", () =>
      Effect.gen(function*() {
        const { buffer } = yield* runSh("echo first; sleep 5")
        yield* waitForText(buffer, /first/)
        const other = yield* Effect.orDie(ReplayPty.spawn("sh", sh("echo second")))
        const refused = yield* Effect.flip(ReplayPty.capture(other, buffer))
        assert.strictEqual(refused._tag, "WriterBusy")
        assert.isTrue(Option.isNone(yield* buffer.ended))
        assert.strictEqual(yield* contents(buffer), "first\r\n")
      }))

    it.scopedLive("capture with end: false leaves the buffer open for the next command", () =>
      Effect.gen(function*() {
        const buffer = yield* makeBuffer()
        for (const [script, code] of [["echo one", 0], ["echo two; exit 5", 5]] as const) {
          const pty = yield* Effect.orDie(ReplayPty.spawn("sh", sh(script)))
          const exit = yield* Effect.orDie(ReplayPty.capture(pty, buffer, { end: false }))
          assert.strictEqual(exit.exitCode, code)
        }
        assert.isTrue(Option.isNone(yield* buffer.ended))
        assert.strictEqual(yield* contents(buffer), "one\r\ntwo\r\n")
      }))
  })

  describe("killing", () => {
    it.live("the scope's end sends SIGHUP to the whole process group", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const pty = yield* Effect.orDie(ReplayPty.spawn("sh", sh("sleep 1000 & sleep 1000 & wait"))).pipe(
          Scope.extend(scope)
        )
        // Wait until the shell has started both children (the group has three members).
        const output = yield* pty.output.pipe(Stream.runDrain, Effect.fork)
        yield* Effect.repeat(Effect.sync(() => groupMembers(pty.pid).length), {
          until: (n) => n === 3,
          schedule: Schedule.spaced("10 millis")
        }).pipe(Effect.timeout("10 seconds"), Effect.orDie)
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(groupMembers(pty.pid), [])
        assert.strictEqual((yield* pty.exit).signal, "SIGHUP")
        yield* Fiber.join(output)
      }))

    it.live("a process that ignores SIGHUP gets SIGKILL after the grace", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const buffer = yield* makeBuffer()
        const pty = yield* Effect.orDie(
          ReplayPty.run(buffer, "sh", sh("trap '' HUP; echo ready; while :; do sleep 1; done"), {
            killGrace: "200 millis"
          })
        ).pipe(Scope.extend(scope))
        yield* waitForText(buffer, /ready/)
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(yield* pty.exit, { exitCode: 0, signal: "SIGKILL" })
        assert.deepStrictEqual(groupMembers(pty.pid), [])
        assert.strictEqual(producerFailure(yield* endedWith(buffer)).reason, "killed by SIGKILL")
      }))

    it.scopedLive("kill on an exited process returns its exit", () =>
      Effect.gen(function*() {
        const pty = yield* Effect.orDie(ReplayPty.spawn("sh", sh("exit 7")))
        yield* pty.output.pipe(Stream.runDrain)
        assert.deepStrictEqual(yield* pty.kill, { exitCode: 7, signal: undefined })
      }))
  })

  describe("typed errors", () => {
    it.scoped("a command that cannot start", () =>
      Effect.gen(function*() {
        const dir = tempDir()
        const plain = path.join(dir, "plain.txt")
        fs.writeFileSync(plain, "not a program")
        const cases: Array<
          [string, Array<string>, ReplayPty.SpawnOptions | undefined, ReplayPtyError.PtySpawnErrorReason]
        > = [
          ["/nonexistent/scrollback-no-such-command", [], undefined, "NotFound"],
          ["scrollback-no-such-command", [], undefined, "NotFound"],
          ["sh", [], { env: { PATH: dir } }, "NotFound"],
          [plain, [], undefined, "NotExecutable"],
          [dir, [], undefined, "NotExecutable"],
          ["sh", [], { cwd: path.join(dir, "missing") }, "InvalidCwd"],
          ["sh", [], { cwd: plain }, "InvalidCwd"],
          ["sh", ["a\u0000b"], undefined, "InvalidOptions"],
          ["", [], undefined, "InvalidOptions"],
          ["sh", [], { cols: 0 }, "InvalidOptions"],
          ["sh", [], { rows: 1.5 }, "InvalidOptions"],
          ["sh", [], { cols: ReplayPty.MAX_COLS + 1 }, "InvalidOptions"],
          ["sh", [], { env: { A: "x\u0000y" } }, "InvalidOptions"],
          ["sh", [], { maxInputBytes: 0 }, "InvalidOptions"],
          ["sh", [], { killGrace: Infinity }, "InvalidOptions"]
        ]
        for (const [file, args, options, reason] of cases) {
          const error = yield* Effect.flip(ReplayPty.spawn(file, args, options))
          assert.instanceOf(error, ReplayPtyError.PtySpawnError)
          assert.strictEqual(error.reason, reason, `${file} ${JSON.stringify(options)}`)
          assert.include(error.message, reason)
        }
        // A relative path is resolved against cwd, and PATH from env is used.
        fs.copyFileSync("/bin/true", path.join(dir, "my-true"))
        fs.chmodSync(path.join(dir, "my-true"), 0o755)
        const viaPath = yield* Effect.orDie(ReplayPty.spawn("my-true", [], { env: { PATH: dir } }))
        const viaCwd = yield* Effect.orDie(ReplayPty.spawn("./my-true", [], { cwd: dir }))
        yield* Stream.runDrain(viaPath.output)
        yield* Stream.runDrain(viaCwd.output)
        assert.strictEqual((yield* viaPath.exit).exitCode, 0)
        assert.strictEqual((yield* viaCwd.exit).exitCode, 0)
        fs.rmSync(dir, { recursive: true })
      }))

    it.scopedLive("input and resize after the exit fail PtyExited", () =>
      Effect.gen(function*() {
        const pty = yield* Effect.orDie(ReplayPty.spawn("sh", sh("exit 0")))
        yield* Stream.runDrain(pty.output)
        yield* pty.exit
        const write = yield* Effect.flip(pty.write("too late\r"))
        assert.instanceOf(write, ReplayPtyError.PtyExited)
        assert.strictEqual(write.operation, "write")
        assert.strictEqual(write.pid, pty.pid)
        const resize = yield* Effect.flip(pty.resize(100, 40))
        assert.instanceOf(resize, ReplayPtyError.PtyExited)
        assert.strictEqual(resize.operation, "resize")
      }))

    it.scopedLive("a bad size fails InvalidPtySize and changes nothing", () =>
      Effect.gen(function*() {
        const pty = yield* Effect.orDie(ReplayPty.spawn("sh", sh("read x"), { cols: 90, rows: 20 }))
        const bad: Array<[number, number]> = [
          [0, 24],
          [80, 0],
          [-1, 24],
          [80.5, 24],
          [NaN, 24],
          [80, Infinity],
          [ReplayPty.MAX_COLS + 1, 24],
          [80, ReplayPty.MAX_ROWS + 1]
        ]
        for (const [cols, rows] of bad) {
          const error = yield* Effect.flip(pty.resize(cols, rows))
          assert.instanceOf(error, ReplayPtyError.InvalidPtySize)
          assert.strictEqual(error.maxCols, ReplayPty.MAX_COLS)
          assert.strictEqual(error.maxRows, ReplayPty.MAX_ROWS)
        }
        assert.deepStrictEqual(yield* pty.size, { cols: 90, rows: 20 })
        yield* pty.resize(ReplayPty.MAX_COLS, ReplayPty.MAX_ROWS)
        yield* pty.resize(1, 1)
        yield* pty.write("\r")
        yield* Stream.runDrain(pty.output)
        assert.strictEqual((yield* pty.exit).exitCode, 0)
      }))

    it.scopedLive("the output has one consumer at a time", () =>
      Effect.gen(function*() {
        const pty = yield* Effect.orDie(ReplayPty.spawn("sh", sh("echo one; read x; echo two")))
        const started = yield* Deferred.make<void>()
        const first = yield* pty.output.pipe(
          Stream.tap(() => Deferred.succeed(started, void 0)),
          Stream.decodeText(),
          Stream.mkString,
          Effect.fork
        )
        yield* Deferred.await(started)
        const second = yield* Effect.flip(Stream.runDrain(pty.output))
        assert.instanceOf(second, ReplayPtyError.PtyOutputTaken)
        yield* pty.write("\r")
        assert.include(yield* Fiber.join(first), "two\r\n")
      }))
  })

  describe("bounds", () => {
    it.scopedLive("input the process does not read waits in the bounded queue, without blocking, then arrives", () =>
      Effect.gen(function*() {
        const size = 200_000
        // Raw mode: the kernel holds ~64 KiB of unread input; the rest must wait in our queue. The process
        // reads nothing until it has printed "ready" and slept, then counts what it reads.
        const { buffer, pty } = yield* runSh(
          `stty raw -echo; echo ready; sleep 0.3; head -c ${size} | wc -c`,
          { maxInputBytes: 256 * 1024 }
        )
        yield* waitForText(buffer, /ready/)
        const block = new Uint8Array(10_000).fill(0x61)
        for (let i = 0; i < size / block.length; i++) yield* pty.write(block)
        // Writing returned at once (the event loop was not blocked); now the process reads it all.
        const text = yield* waitForText(buffer, /\d+\s*$/)
        assert.match(text, new RegExp(`\\b${size}\\b`))
        assert.strictEqual((yield* pty.exit).exitCode, 0)
      }))

    it.scopedLive("a write past maxInputBytes fails PtyInputOverflow and queues nothing of it", () =>
      Effect.gen(function*() {
        const maxInputBytes = 16 * 1024
        const { buffer, pty } = yield* runSh("stty raw -echo; echo ready; exec sleep 1000", { maxInputBytes })
        yield* waitForText(buffer, /ready/)
        // The kernel takes a first part; keep writing 1 KiB until the queue is full.
        const block = new Uint8Array(1024).fill(0x62)
        let accepted = 0
        let overflow: ReplayPtyError.PtyInputOverflow | undefined
        while (overflow === undefined && accepted < 1024 * 1024) {
          const result = yield* Effect.either(pty.write(block))
          if (result._tag === "Right") accepted += block.length
          else if (result.left._tag === "PtyInputOverflow") overflow = result.left
          else assert.fail(`unexpected ${result.left._tag}`)
        }
        assert.isDefined(overflow)
        assert.strictEqual(overflow!.maxInputBytes, maxInputBytes)
        assert.strictEqual(overflow!.length, block.length)
        assert.isAtMost(overflow!.pending + overflow!.length, maxInputBytes + block.length)
        assert.isAbove(overflow!.pending + overflow!.length, maxInputBytes)
        // A smaller write that fits is still accepted.
        const room = maxInputBytes - overflow!.pending
        if (room > 0) yield* pty.write(new Uint8Array(room).fill(0x63))
        const again = yield* Effect.flip(pty.write(new Uint8Array(1)))
        assert.instanceOf(again, ReplayPtyError.PtyInputOverflow)
      }))

    it.live("unconsumed output pauses the terminal: the process blocks, then every byte arrives", () =>
      Effect.gen(function*() {
        const size = 3_000_000
        const pty = yield* Effect.orDie(
          ReplayPty.spawn("sh", sh(`head -c ${size} /dev/zero | tr '\\000' a`), { maxPendingOutputBytes: 64 * 1024 })
        )
        // Nobody consumes the output: 64 KiB may wait in memory and a few KiB in the kernel, so the process
        // cannot finish however long it runs.
        const exited = yield* Effect.fork(pty.exit)
        yield* Effect.sleep("500 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(exited)), "the process is blocked on its output")
        let total = 0
        let biggest = 0
        yield* pty.output.pipe(Stream.runForEachChunk((chunk) =>
          Effect.sync(() => {
            let n = 0
            for (const c of chunk) n += c.length
            total += n
            biggest = Math.max(biggest, n)
          })
        ))
        assert.strictEqual(total, size)
        assert.isAtMost(biggest, 64 * 1024 + 64 * 1024, "a batch is at most the bound plus one read")
        assert.strictEqual((yield* Fiber.join(exited)).exitCode, 0)
      }).pipe(Effect.scoped))
  })
})
