import * as NodePty from "@lydell/node-pty"
import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as Api from "../ReplayPty.js"
import type { InvalidPtySize } from "../ReplayPtyError.js"
import { PtyExited, PtyInputOverflow, PtyOutputTaken, PtySpawnError } from "../ReplayPtyError.js"
import { DEFAULT_COLS, DEFAULT_ROWS, invalidSize, isValidSize } from "./size.js"

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@scrollback/terminal/ReplayPty") as Api.TypeId

/** @internal */
export { DEFAULT_COLS, DEFAULT_ROWS, MAX_COLS, MAX_ROWS } from "./size.js"
/** @internal */
export const DEFAULT_NAME = "xterm-256color"
/** @internal */
export const DEFAULT_MAX_INPUT_BYTES = 1_048_576
/** @internal */
export const DEFAULT_MAX_PENDING_OUTPUT_BYTES = 1_048_576
/** @internal */
export const DEFAULT_KILL_GRACE: Duration.Duration = Duration.seconds(2)

/** Retry delays while the process does not read its input: 1 ms doubling up to this. */
const MAX_INPUT_RETRY_MS = 64

// ---------------------------------------------------------------------------
// What this module needs from @lydell/node-pty 1.1.0 beyond its typings
// ---------------------------------------------------------------------------

/**
 * The parts of node-pty's `UnixTerminal` used here that its typings do not
 * declare. Checked at spawn (`Unsupported` otherwise):
 *
 * - `fd`: the master side of the terminal. Input is written to it with
 *   `fs.writeSync` after making it non-blocking, NOT with node-pty's
 *   `write`: libuv treats a pty master as a stream with blocking writes, so
 *   a write larger than what the kernel holds for a process that is not
 *   reading (~64 KiB in raw mode) blocks the whole event loop until the
 *   process reads (measured: a 70 KB write to `stty raw; sleep 30` froze
 *   Node for the 30 s).
 * - `_socket`: the `tty.ReadStream` over that fd, to set it non-blocking
 *   (`_handle.setBlocking(false)`) and to know when it was closed
 *   (`destroyed`), after which the fd number must not be written to.
 * - `ptsName`: the slave device (`/dev/pts/N`). The parent holds it open
 *   while the process runs: on Linux, node-pty loses the tail of a process's
 *   output when the slave hangs up at the exit (the master's read fails
 *   with EIO while bytes remain; measured: 9 runs in 30 of `seq 1 2000`
 *   lost output; microsoft/node-pty#85, #726). With the slave held, the
 *   master never hangs up; node-pty then closes its side 200 ms after the
 *   exit, and just before that (`_socket.destroy`, wrapped) the slave is
 *   closed and what the process wrote is read synchronously until the
 *   kernel reports the hang-up, which it does only once it has handed over
 *   every byte. Measured: 0 runs in 30 lost output.
 * - `on("error")`: a listener, so that node-pty does not rethrow a read
 *   error it does not expect as an uncaught exception.
 */
interface UnixTerminalInternals {
  readonly fd: number
  readonly ptsName: string
  readonly _socket: {
    readonly destroyed: boolean
    readonly _handle: { readonly setBlocking: (blocking: boolean) => number } | null
    destroy(error?: Error): unknown
  }
  on(event: "error", listener: (error: unknown) => void): void
}

const hasInternals = (u: unknown): u is UnixTerminalInternals => {
  const t = u as Partial<UnixTerminalInternals> | undefined
  return typeof t === "object" && t !== null && typeof t.fd === "number" && typeof t.ptsName === "string" &&
    typeof t.on === "function" &&
    typeof t._socket === "object" && t._socket !== null && typeof t._socket.destroy === "function" &&
    typeof t._socket._handle?.setBlocking === "function"
}

const signalNames: ReadonlyMap<number, string> = new Map(
  Object.entries(os.constants.signals).map(([name, number]) => [number, name])
)

// ---------------------------------------------------------------------------
// Validation before forking: node-pty reports a command it cannot exec only
// as exit code 1 and a message on the terminal, so the usual causes are
// checked first and reported as typed errors.
// ---------------------------------------------------------------------------

const hasNul = (s: string) => s.includes("\u0000")

const isExecutableFile = (file: string): "ok" | "NotFound" | "NotExecutable" => {
  let stat: fs.Stats
  try {
    stat = fs.statSync(file)
  } catch {
    return "NotFound"
  }
  if (!stat.isFile()) return "NotExecutable"
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return "ok"
  } catch {
    return "NotExecutable"
  }
}

/** Resolves `file` the way `execvp(3)` will in the child, with the child's `PATH`. */
const resolveExecutable = (
  file: string,
  cwd: string,
  env: Readonly<Record<string, string | undefined>>
): { readonly _tag: "ok" } | { readonly _tag: "NotFound" | "NotExecutable"; readonly detail: string } => {
  if (file.includes("/")) {
    const result = isExecutableFile(path.resolve(cwd, file))
    return result === "ok"
      ? { _tag: "ok" }
      : { _tag: result, detail: result === "NotFound" ? "no such file" : "not an executable regular file" }
  }
  const searchPath = env.PATH ?? "/usr/local/bin:/usr/bin:/bin"
  let sawNotExecutable = false
  for (const dir of searchPath.split(":")) {
    const result = isExecutableFile(path.resolve(cwd, dir === "" ? "." : dir, file))
    if (result === "ok") return { _tag: "ok" }
    if (result === "NotExecutable") sawNotExecutable = true
  }
  return sawNotExecutable
    ? { _tag: "NotExecutable", detail: "found on PATH, but not an executable regular file" }
    : { _tag: "NotFound", detail: `not found on PATH (${searchPath})` }
}

interface Validated {
  readonly cols: number
  readonly rows: number
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly name: string
  readonly maxInputBytes: number
  readonly maxPendingOutputBytes: number
  readonly killGrace: Duration.Duration
}

const validate = (
  file: string,
  args: ReadonlyArray<string>,
  options: Api.SpawnOptions | undefined
): Validated | PtySpawnError => {
  const fail = (reason: PtySpawnError["reason"], detail: string) =>
    new PtySpawnError({ file: String(file), reason, detail })
  if (typeof file !== "string" || file.length === 0 || hasNul(file)) {
    return fail("InvalidOptions", "the file must be a non-empty string without NUL bytes")
  }
  if (!Array.isArray(args) || args.some((arg) => typeof arg !== "string" || hasNul(arg))) {
    return fail("InvalidOptions", "every argument must be a string without NUL bytes")
  }
  const cols = options?.cols ?? DEFAULT_COLS
  const rows = options?.rows ?? DEFAULT_ROWS
  if (!isValidSize(cols, rows)) return fail("InvalidOptions", invalidSize(cols, rows).message)
  const name = options?.name ?? DEFAULT_NAME
  if (typeof name !== "string" || name.length === 0 || hasNul(name)) {
    return fail("InvalidOptions", "the terminal name must be a non-empty string without NUL bytes")
  }
  const env = options?.env ?? process.env
  if (typeof env !== "object" || env === null) return fail("InvalidOptions", "env must be an object")
  for (const [key, value] of Object.entries(env)) {
    if (hasNul(key) || key.includes("=") || (value !== undefined && (typeof value !== "string" || hasNul(value)))) {
      return fail("InvalidOptions", `the environment variable ${JSON.stringify(key)} is not a string without NUL bytes`)
    }
  }
  const maxInputBytes = options?.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES
  const maxPendingOutputBytes = options?.maxPendingOutputBytes ?? DEFAULT_MAX_PENDING_OUTPUT_BYTES
  if (!Number.isSafeInteger(maxInputBytes) || maxInputBytes < 1) {
    return fail("InvalidOptions", `maxInputBytes must be a positive safe integer, got ${maxInputBytes}`)
  }
  if (!Number.isSafeInteger(maxPendingOutputBytes) || maxPendingOutputBytes < 1) {
    return fail("InvalidOptions", `maxPendingOutputBytes must be a positive safe integer, got ${maxPendingOutputBytes}`)
  }
  const killGrace = Duration.decodeUnknown(options?.killGrace ?? DEFAULT_KILL_GRACE)
  if (Option.isNone(killGrace) || !Duration.isFinite(killGrace.value)) {
    return fail("InvalidOptions", "killGrace must be a finite duration")
  }
  const cwd = options?.cwd ?? process.cwd()
  if (typeof cwd !== "string" || hasNul(cwd)) return fail("InvalidCwd", "the working directory must be a string")
  try {
    if (!fs.statSync(cwd).isDirectory()) return fail("InvalidCwd", `${cwd} is not a directory`)
  } catch {
    return fail("InvalidCwd", `${cwd} does not exist`)
  }
  const resolved = resolveExecutable(file, cwd, env)
  if (resolved._tag !== "ok") return fail(resolved._tag, resolved.detail)
  return { cols, rows, cwd, env, name, maxInputBytes, maxPendingOutputBytes, killGrace: killGrace.value }
}

// ---------------------------------------------------------------------------
// The output port: chunks from node-pty's data events, handed to one
// consumer in batches of what arrived in one event-loop turn.
// ---------------------------------------------------------------------------

class OutputPort {
  private chunks: Array<Uint8Array> = []
  private bytes = 0
  private paused = false
  private ended = false
  private waiter: (() => void) | undefined = undefined
  private wakeScheduled = false
  taken = false

  constructor(
    private readonly highWater: number,
    private readonly pause: () => void,
    private readonly resume: () => void
  ) {}

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.bytes += chunk.length
    if (!this.paused && this.bytes >= this.highWater) {
      // The consumer is behind: stop reading the terminal, so the kernel's
      // buffer fills and the process blocks on its writes.
      this.paused = true
      this.pause()
    }
    this.scheduleWake()
  }

  end(): void {
    this.ended = true
    this.scheduleWake()
  }

  /** Wakes the waiting consumer after the current event-loop turn, so it takes everything that turn delivered. */
  private scheduleWake(): void {
    if (this.waiter === undefined || this.wakeScheduled) return
    this.wakeScheduled = true
    setImmediate(() => {
      this.wakeScheduled = false
      const waiter = this.waiter
      this.waiter = undefined
      waiter?.()
    })
  }

  /** Everything waiting, `"end"` once the process has exited and everything was taken, or `undefined` (wait). */
  private takeNow(): Array<Uint8Array> | "end" | undefined {
    if (this.chunks.length > 0) {
      const batch = this.chunks
      this.chunks = []
      this.bytes = 0
      if (this.paused) {
        this.paused = false
        this.resume()
      }
      return batch
    }
    return this.ended ? "end" : undefined
  }

  readonly take: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<never>> = Effect.async((resume) => {
    const now = this.takeNow()
    if (now === "end") return resume(Effect.fail(Option.none()))
    if (now !== undefined) return resume(Effect.succeed(Chunk.unsafeFromArray(now)))
    this.waiter = () => {
      const later = this.takeNow()
      if (later === "end") resume(Effect.fail(Option.none()))
      else if (later !== undefined) resume(Effect.succeed(Chunk.unsafeFromArray(later)))
    }
    return Effect.sync(() => {
      this.waiter = undefined
    })
  })
}

// ---------------------------------------------------------------------------
// The input queue: bytes written to the non-blocking master fd; what the
// kernel does not take at once waits here (bounded) and is retried.
// ---------------------------------------------------------------------------

class InputQueue {
  private queue: Array<Uint8Array> = []
  pending = 0
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private delay = 1
  closed = false

  constructor(
    private readonly fd: number,
    private readonly isOpen: () => boolean,
    readonly maxBytes: number
  ) {}

  /** Writes what the kernel takes now; returns the number of bytes written, or -1 if the terminal is closed. */
  private writeNow(bytes: Uint8Array): number {
    if (!this.isOpen()) {
      this.close()
      return -1
    }
    try {
      return fs.writeSync(this.fd, bytes)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EAGAIN") return 0
      // EIO/EBADF: the terminal is gone.
      this.close()
      return -1
    }
  }

  offer(bytes: Uint8Array): "ok" | "closed" {
    if (this.closed) return "closed"
    if (this.queue.length === 0) {
      const written = this.writeNow(bytes)
      if (written < 0) return "closed"
      if (written === bytes.length) return "ok"
      bytes = bytes.subarray(written)
    }
    // The caller may reuse its array: keep a copy of what is left.
    this.queue.push(bytes.slice())
    this.pending += bytes.length
    this.schedule()
    return "ok"
  }

  private schedule(): void {
    if (this.timer !== undefined || this.closed) return
    this.timer = setTimeout(() => this.flush(), this.delay)
    this.timer.unref()
  }

  private flush(): void {
    this.timer = undefined
    let progressed = false
    while (this.queue.length > 0) {
      const head = this.queue[0]
      const written = this.writeNow(head)
      if (written < 0) return
      if (written > 0) progressed = true
      this.pending -= written
      if (written === head.length) {
        this.queue.shift()
      } else {
        this.queue[0] = head.subarray(written)
        break
      }
    }
    if (this.queue.length === 0) {
      this.delay = 1
      return
    }
    this.delay = progressed ? 1 : Math.min(this.delay * 2, MAX_INPUT_RETRY_MS)
    this.schedule()
  }

  close(): void {
    this.closed = true
    this.queue = []
    this.pending = 0
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}

// ---------------------------------------------------------------------------
// Holding the slave open, and the drain at the end (see UnixTerminalInternals)
// ---------------------------------------------------------------------------

const DRAIN_CHUNK = 64 * 1024

const holdSlave = (unix: UnixTerminalInternals, push: (chunk: Uint8Array) => void): void => {
  let slave: number | undefined
  try {
    slave = fs.openSync(unix.ptsName, fs.constants.O_RDWR | fs.constants.O_NOCTTY)
  } catch {
    // The process already exited and the terminal is gone: node-pty's behaviour, nothing to hold.
    return
  }
  const socket = unix._socket
  const destroy = socket.destroy
  socket.destroy = function(this: typeof socket, error?: Error) {
    if (slave !== undefined) {
      fs.closeSync(slave)
      slave = undefined
      // The slave is closed: the master reads what is left, then EIO (or EAGAIN while a
      // background process still holds the slave: then what it writes later is not waited for).
      const scratch = new Uint8Array(DRAIN_CHUNK)
      for (;;) {
        let n: number
        try {
          n = fs.readSync(unix.fd, scratch)
        } catch {
          break
        }
        if (n <= 0) break
        push(scratch.slice(0, n))
      }
    }
    return destroy.call(this, error)
  }
}

// ---------------------------------------------------------------------------
// The Pty
// ---------------------------------------------------------------------------

const textEncoder = new TextEncoder()

class PtyImpl implements Api.Pty {
  readonly [TypeId]: Api.TypeId = TypeId
  readonly pid: number
  readonly output: Stream.Stream<Uint8Array, PtyOutputTaken>
  readonly exit: Effect.Effect<Api.PtyExit>
  readonly kill: Effect.Effect<Api.PtyExit>
  private cols: number
  private rows: number
  private exited: Api.PtyExit | undefined = undefined
  private readonly exitSignal = Deferred.unsafeMake<Api.PtyExit>(FiberId.none)

  constructor(
    private readonly terminal: NodePty.IPty & UnixTerminalInternals,
    private readonly input: InputQueue,
    private readonly port: OutputPort,
    killGrace: Duration.Duration,
    cols: number,
    rows: number
  ) {
    this.pid = terminal.pid
    this.cols = cols
    this.rows = rows
    this.exit = Deferred.await(this.exitSignal)
    this.output = Stream.suspend(() => {
      if (port.taken) return Stream.fail(new PtyOutputTaken({ pid: this.pid }))
      port.taken = true
      return Stream.repeatEffectChunkOption(port.take).pipe(
        Stream.ensuring(Effect.sync(() => {
          port.taken = false
        }))
      )
    })
    this.kill = Effect.suspend(() => {
      if (this.exited !== undefined) return Effect.succeed(this.exited)
      this.signalGroup("SIGHUP")
      // Interruptible: this runs in finalizers, where a timeout could not otherwise stop the wait.
      const awaitExit = Effect.interruptible(this.exit)
      return awaitExit.pipe(
        Effect.timeout(killGrace),
        Effect.catchTag("TimeoutException", () => {
          this.signalGroup("SIGKILL")
          return awaitExit.pipe(
            // node-pty reports an exit ~200 ms after it happened (see holdSlave): give it a second more.
            Effect.timeout(Duration.sum(killGrace, Duration.seconds(1))),
            Effect.catchTag("TimeoutException", () =>
              // SIGKILL cannot be ignored; this is a process stuck in the kernel. Close our side and give up.
              Effect.sync(() => {
                this.terminal._socket.destroy()
                return this.markExited({ exitCode: -1, signal: "SIGKILL" })
              }))
          )
        })
      )
    })
  }

  pipe() {
    return pipeArguments(this, arguments)
  }

  /** Records the exit (the first one wins), ends the output and wakes whoever waits for the exit. */
  markExited(exit: Api.PtyExit): Api.PtyExit {
    if (this.exited !== undefined) return this.exited
    this.exited = exit
    this.input.close()
    // node-pty emits the exit after the terminal's last data (it waits for the read side to close).
    this.port.end()
    Deferred.unsafeDone(this.exitSignal, Exit.succeed(exit))
    return exit
  }

  private signalGroup(signal: NodeJS.Signals): void {
    // forkpty(3) makes the child a session and process group leader: signal the whole group.
    try {
      process.kill(-this.pid, signal)
    } catch {
      try {
        process.kill(this.pid, signal)
      } catch {
        // already gone
      }
    }
  }

  get size(): Effect.Effect<Api.Size> {
    return Effect.sync(() => ({ cols: this.cols, rows: this.rows }))
  }

  private isClosed(): boolean {
    return this.exited !== undefined || this.input.closed || this.terminal._socket.destroyed
  }

  readonly write = (data: string | Uint8Array): Effect.Effect<void, PtyExited | PtyInputOverflow> =>
    Effect.suspend((): Effect.Effect<void, PtyExited | PtyInputOverflow> => {
      if (this.isClosed()) return Effect.fail(new PtyExited({ pid: this.pid, operation: "write" }))
      const bytes = typeof data === "string" ? textEncoder.encode(data) : data
      if (bytes.length === 0) return Effect.void
      if (this.input.pending + bytes.length > this.input.maxBytes) {
        return Effect.fail(
          new PtyInputOverflow({
            pending: this.input.pending,
            length: bytes.length,
            maxInputBytes: this.input.maxBytes
          })
        )
      }
      return this.input.offer(bytes) === "ok"
        ? Effect.void
        : Effect.fail(new PtyExited({ pid: this.pid, operation: "write" }))
    })

  readonly resize = (cols: number, rows: number): Effect.Effect<void, PtyExited | InvalidPtySize> =>
    Effect.suspend((): Effect.Effect<void, PtyExited | InvalidPtySize> => {
      if (!isValidSize(cols, rows)) return Effect.fail(invalidSize(cols, rows))
      if (this.isClosed()) return Effect.fail(new PtyExited({ pid: this.pid, operation: "resize" }))
      try {
        this.terminal.resize(cols, rows)
      } catch {
        return Effect.fail(new PtyExited({ pid: this.pid, operation: "resize" }))
      }
      this.cols = cols
      this.rows = rows
      return Effect.void
    })
}

/** @internal */
export const spawn = (
  file: string,
  args: ReadonlyArray<string>,
  options?: Api.SpawnOptions
): Effect.Effect<Api.Pty, PtySpawnError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const valid = validate(file, args, options)
      if (valid instanceof PtySpawnError) return Effect.fail(valid)
      if (process.platform === "win32") {
        return Effect.fail(new PtySpawnError({ file, reason: "Unsupported", detail: "Windows is not supported" }))
      }
      let terminal: NodePty.IPty
      try {
        terminal = NodePty.spawn(file, [...args], {
          name: valid.name,
          cols: valid.cols,
          rows: valid.rows,
          cwd: valid.cwd,
          env: valid.env,
          // Raw bytes, not strings: the log is bytes, and a decoder here would split nothing but cost a copy.
          encoding: null as unknown as string
        })
      } catch (error) {
        return Effect.fail(new PtySpawnError({ file, reason: "ForkFailed", detail: String(error) }))
      }
      if (!hasInternals(terminal)) {
        try {
          terminal.kill("SIGKILL")
        } catch {
          // nothing to do
        }
        return Effect.fail(
          new PtySpawnError({ file, reason: "Unsupported", detail: "@lydell/node-pty is not the 1.1.0 UnixTerminal" })
        )
      }
      const unix = terminal as NodePty.IPty & UnixTerminalInternals
      unix.on("error", () => {
        // Read errors end the terminal; node-pty handles them (EIO at exit). A listener keeps it from rethrowing.
      })
      unix._socket._handle!.setBlocking(false)
      const port = new OutputPort(valid.maxPendingOutputBytes, () => unix.pause(), () => unix.resume())
      holdSlave(unix, (chunk) => port.push(chunk))
      const input = new InputQueue(unix.fd, () => !unix._socket.destroyed, valid.maxInputBytes)
      const pty = new PtyImpl(unix, input, port, valid.killGrace, valid.cols, valid.rows)
      unix.onData((data: string | Uint8Array) => port.push(typeof data === "string" ? textEncoder.encode(data) : data))
      unix.onExit(({ exitCode, signal }) => {
        pty.markExited({
          exitCode,
          signal: signal === undefined || signal === 0 ? undefined : (signalNames.get(signal) ?? String(signal))
        })
      })
      return Effect.succeed(pty)
    }),
    (pty) => pty.kill
  )

/** @internal */
export const exitToBuffer = (exit: Api.PtyExit): Exit.Exit<void, ProducerFailed> => {
  if (exit.signal !== undefined) return Exit.fail(new ProducerFailed({ reason: `killed by ${exit.signal}` }))
  if (exit.exitCode === 0) return Exit.void
  return Exit.fail(new ProducerFailed({ reason: `exited with code ${exit.exitCode}`, exitCode: exit.exitCode }))
}

const describe = (u: unknown): string => u instanceof Error ? u.message : String(u)

/** @internal */
export const capture = (
  pty: Api.Pty,
  buffer: ReplayBuffer.ReplayBuffer,
  options?: Api.CaptureOptions
): Effect.Effect<Api.PtyExit, Api.CaptureError> =>
  // The writer lease for the whole capture: a second producer is refused (`WriterBusy`), never interleaved.
  ReplayBuffer.withWriter(buffer, (writer) => {
    const drain = pty.output.pipe(
      Stream.runForEachChunk((chunk) => writer.writeAll(Chunk.toReadonlyArray(chunk))),
      Effect.zipRight(pty.exit)
    )
    if (options?.end === false) return drain
    return Effect.onError(
      Effect.tap(drain, (exit) => writer.endWith(exitToBuffer(exit))),
      (cause) =>
        Effect.ignore(writer.endWith(Exit.fail(
          new ProducerFailed({
            reason: Cause.isInterruptedOnly(cause) ? "interrupted" : `capture failed: ${describe(Cause.squash(cause))}`
          })
        )))
    )
  })

/** @internal */
export const run = (
  buffer: ReplayBuffer.ReplayBuffer,
  file: string,
  args: ReadonlyArray<string>,
  options?: Api.SpawnOptions
): Effect.Effect<Api.Pty, PtySpawnError, Scope.Scope> =>
  Effect.gen(function*() {
    const pty = yield* spawn(file, args, options)
    const fiber = yield* Effect.forkScoped(
      capture(pty, buffer).pipe(
        // The buffer was ended by someone else: nothing will read the output any more.
        Effect.onError(() => Effect.asVoid(pty.kill))
      )
    )
    // Runs before the fiber is interrupted: kill first, so the capture ends the buffer with the signal.
    yield* Effect.addFinalizer(() =>
      pty.kill.pipe(
        Effect.zipRight(
          Fiber.await(fiber).pipe(Effect.interruptible, Effect.timeout(Duration.seconds(5)), Effect.ignore)
        )
      )
    )
    return pty
  })
