/**
 * Run a command in a pseudo-terminal (`@lydell/node-pty`, prebuilt, no
 * compiler): programs see a terminal (`tty` answers a device, `ls` colours,
 * `top`, `less` and shells work), their output can go into a `ReplayBuffer`,
 * input can be typed, and the terminal can be resized.
 *
 * | bound / default            | value                      | what happens at the bound                                  |
 * |----------------------------|----------------------------|------------------------------------------------------------|
 * | size                       | 80 × 24                    |                                                            |
 * | `cols` / `rows`            | 1..2,048 / 1..1,024        | `InvalidPtySize` (resize), `PtySpawnError` (spawn)         |
 * | `maxInputBytes`            | 1,048,576 (1 MiB)          | input the process has not read yet; a write past it fails `PtyInputOverflow` |
 * | `maxPendingOutputBytes`    | 1,048,576 (1 MiB)          | output not yet consumed; the terminal is paused (the process blocks on its writes) until it is |
 * | `killGrace`                | 2 seconds                  | after SIGHUP, then SIGKILL; then `killGrace` + 1 s at most |
 * | `name` (`TERM`)            | `xterm-256color`           |                                                            |
 *
 * Linux and macOS (node-pty's prebuilt binaries for x64 and arm64); not Windows.
 *
 * @since 0.1.0
 */
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/pty.js"
import type { InvalidPtySize, PtyExited, PtyInputOverflow, PtyOutputTaken, PtySpawnError } from "./ReplayPtyError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The default size: 80 columns.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_COLS: number = internal.DEFAULT_COLS

/**
 * The default size: 24 rows.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_ROWS: number = internal.DEFAULT_ROWS

/**
 * The widest terminal accepted: 2,048 columns.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_COLS: number = internal.MAX_COLS

/**
 * The tallest terminal accepted: 1,024 rows.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ROWS: number = internal.MAX_ROWS

/**
 * The default terminal name, `TERM`: `"xterm-256color"` (what xterm.js emulates).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_NAME: string = internal.DEFAULT_NAME

/**
 * The default bound on input waiting for the process to read it: 1 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_INPUT_BYTES: number = internal.DEFAULT_MAX_INPUT_BYTES

/**
 * The default bound on output read from the terminal and not yet consumed: 1 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_PENDING_OUTPUT_BYTES: number = internal.DEFAULT_MAX_PENDING_OUTPUT_BYTES

/**
 * The default time a process has to exit after SIGHUP before SIGKILL: 2 seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_KILL_GRACE: Duration.Duration = internal.DEFAULT_KILL_GRACE

/**
 * @since 0.1.0
 * @category models
 */
export interface SpawnOptions {
  /** Columns, an integer in 1..{@link MAX_COLS}. Default {@link DEFAULT_COLS}. */
  readonly cols?: number | undefined
  /** Rows, an integer in 1..{@link MAX_ROWS}. Default {@link DEFAULT_ROWS}. */
  readonly rows?: number | undefined
  /** The working directory. Default `process.cwd()`. */
  readonly cwd?: string | undefined
  /**
   * The environment. Default `process.env` without the variables that would
   * mislead the program about its terminal (`TMUX`, `COLUMNS`, `LINES`, …).
   * `TERM` is always set to `name`. `PATH` from here is used to find `file`.
   */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** `TERM`. Default {@link DEFAULT_NAME}. */
  readonly name?: string | undefined
  /** Default {@link DEFAULT_MAX_INPUT_BYTES}. */
  readonly maxInputBytes?: number | undefined
  /** Default {@link DEFAULT_MAX_PENDING_OUTPUT_BYTES}. */
  readonly maxPendingOutputBytes?: number | undefined
  /** Default {@link DEFAULT_KILL_GRACE}. */
  readonly killGrace?: Duration.DurationInput | undefined
}

/**
 * How the process ended: `signal` is the name of the signal that killed it
 * (`"SIGHUP"`, `"SIGKILL"`, …), `undefined` when it exited by itself with
 * `exitCode`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PtyExit {
  readonly exitCode: number
  readonly signal: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Size {
  readonly cols: number
  readonly rows: number
}

/**
 * A process running in a pseudo-terminal.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pty extends Pipeable {
  readonly [TypeId]: TypeId
  readonly pid: number
  /** The current size. */
  readonly size: Effect.Effect<Size>
  /**
   * Sends input (keys, pasted text) to the process, as if typed: a string is
   * encoded as UTF-8. What the kernel does not take at once waits in a
   * bounded queue (`maxInputBytes`) and is written as the process reads; the
   * caller may reuse its array when this returns. Fails `PtyExited` after
   * the process exited, `PtyInputOverflow` when the queue is full (nothing of
   * this write is queued then).
   */
  readonly write: (data: string | Uint8Array) => Effect.Effect<void, PtyExited | PtyInputOverflow>
  /**
   * Resizes the terminal (the process gets `SIGWINCH`). Fails
   * `InvalidPtySize` for a size that is not integers within
   * 1..{@link MAX_COLS} × 1..{@link MAX_ROWS}, `PtyExited` after the exit.
   */
  readonly resize: (cols: number, rows: number) => Effect.Effect<void, PtyExited | InvalidPtySize>
  /**
   * The terminal's output, as it arrives: each element is a chunk read from
   * the terminal, and each emitted `Chunk` holds what arrived in one
   * event-loop turn. It ends when the process has exited and its output was
   * read. One consumer at a time (a second fails `PtyOutputTaken`); a
   * consumer that stops leaves the rest to the next one. While more than
   * `maxPendingOutputBytes` wait, the terminal is not read, so the process
   * blocks on its writes: at most that bound plus one read wait (plus, at
   * the exit, what the kernel still held, about 64 KiB at most).
   */
  readonly output: Stream.Stream<Uint8Array, PtyOutputTaken>
  /**
   * Waits for the process to exit. Resolves about 200 ms after the exit:
   * node-pty gives the terminal that long to deliver the last output.
   */
  readonly exit: Effect.Effect<PtyExit>
  /**
   * Ends the process: SIGHUP to its process group (the terminal hung up),
   * then SIGKILL if it has not exited after `killGrace`. Waits for the exit,
   * at most `killGrace` + 1 s after SIGKILL. Done automatically when the
   * scope the PTY was spawned in closes.
   */
  readonly kill: Effect.Effect<PtyExit>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CaptureOptions {
  /**
   * Default `true`: end the buffer with the process. Exit code 0 ends it
   * normally; a non-zero code fails it with
   * `ProducerFailed { reason: "exited with code N", exitCode: N }`; a
   * signal with `ProducerFailed { reason: "killed by SIGHUP" }` (no exit
   * code); an interruption with reason `"interrupted"`.
   */
  readonly end?: boolean | undefined
}

/**
 * Starts `file` with `args` in a new pseudo-terminal. `file` is looked up on
 * `PATH` (the one in `options.env`, else this process's) unless it contains a
 * `/`. The process is the leader of a new session and process group, with
 * the terminal as its controlling terminal, stdin, stdout and stderr.
 *
 * A command that cannot start fails with `PtySpawnError` (not found, not
 * executable, bad working directory, bad options) before anything is forked.
 *
 * The process is killed ({@link Pty.kill}: SIGHUP, then SIGKILL after
 * `killGrace`) when the scope closes.
 *
 * @example
 * ```ts
 * import { ReplayPty } from "@scrollback/terminal"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const pty = yield* ReplayPty.spawn("sh", ["-c", "tty; tput cols"], { cols: 100 })
 *   const output = yield* pty.output.pipe(Stream.decodeText(), Stream.mkString)
 *   console.log(output) // "/dev/pts/3\r\n100\r\n"
 *   console.log(yield* pty.exit) // { exitCode: 0, signal: undefined }
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const spawn: (
  file: string,
  args: ReadonlyArray<string>,
  options?: SpawnOptions
) => Effect.Effect<Pty, PtySpawnError, Scope.Scope> = internal.spawn

/**
 * Writes a PTY's output into `buffer` until the process exits, one
 * `writeAll` per batch (what arrived in one event-loop turn), and returns how
 * it exited; with `end: true` (the default) ends the buffer as
 * {@link CaptureOptions.end} says. Never waits for the buffer's followers.
 *
 * It holds the buffer's writer lease for its whole run: if another producer
 * holds it, it fails with `WriterBusy` before it writes anything, and no
 * one else writes or ends the buffer while it runs.
 *
 * It does not kill the process if it fails (e.g. `BufferClosed`: the buffer
 * had already ended): the process belongs to the scope it was spawned in.
 *
 * @since 0.1.0
 * @category combinators
 */
export const capture: (
  pty: Pty,
  buffer: ReplayBuffer.ReplayBuffer,
  options?: CaptureOptions
) => Effect.Effect<PtyExit, CaptureError> = internal.capture

/**
 * Why a capture can fail: the output was already taken, the writer lease
 * was refused (`BufferClosed`, `WriterBusy`, `StorageUnavailable`) or lost,
 * or a write was refused.
 *
 * @since 0.1.0
 * @category models
 */
export type CaptureError = PtyOutputTaken | ReplayBuffer.AcquireError | ReplayBuffer.WriterError

/**
 * Spawns `file` in a pseudo-terminal and captures its output into `buffer`
 * in a fiber of the current scope; returns the PTY at once, to type into and
 * resize. The buffer ends with the process (exit 0: ended; non-zero:
 * `ProducerFailed { exitCode }`; a signal: `ProducerFailed { reason: "killed
 * by SIG…" }`).
 *
 * When the scope closes, the process is killed first (SIGHUP, then SIGKILL)
 * and the capture writes its last output and ends the buffer with the signal.
 * If the capture fails (someone else ended the buffer), the process is killed.
 *
 * @example
 * ```ts
 * import { ReplayBuffer } from "@scrollback/core"
 * import { ReplayStream } from "@scrollback/platform"
 * import { ReplayPty } from "@scrollback/terminal"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make({ capacity: 1024 * 1024 })
 *   const pty = yield* ReplayPty.run(buffer, "sh", ["-c", "read line; echo got $line"])
 *   yield* pty.write("hello\r")
 *   // Any number of followers, from any offset, while it runs and after it ended.
 *   return yield* ReplayStream.follow(buffer, { from: 0 }).pipe(Stream.decodeText(), Stream.mkString)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (
  buffer: ReplayBuffer.ReplayBuffer,
  file: string,
  args: ReadonlyArray<string>,
  options?: SpawnOptions
) => Effect.Effect<Pty, PtySpawnError, Scope.Scope> = internal.run

/**
 * How a PTY's exit ends a buffer: exit 0 → success; a non-zero code →
 * `ProducerFailed { exitCode }`; a signal → `ProducerFailed` with the signal
 * in its reason.
 *
 * @since 0.1.0
 * @category conversions
 */
export const exitToBuffer: (exit: PtyExit) => Exit.Exit<void, ProducerFailed> = internal.exitToBuffer
