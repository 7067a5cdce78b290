/**
 * Process capture with `@effect/platform`'s `Command`: a child process's
 * stdout and stderr, merged in arrival order, written into a `ReplayBuffer`
 * that ends with the process's exit status.
 *
 * @since 0.1.0
 */
import type * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type { PlatformError } from "@effect/platform/Error"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { InvalidCapacity } from "@scrollback/core/ReplayBufferError"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/process.js"

/**
 * Why a capture can fail: the command could not run or an I/O error
 * (`PlatformError`); a writer lease could not be taken (`WriterBusy`: another
 * producer holds the buffer or a tee; `BufferClosed`: it had already ended;
 * `StorageUnavailable`); or a write was refused (`BufferClosed` when someone
 * ended the buffer meanwhile, `OffsetOverflow`, `LeaseLost`,
 * `StorageUnavailable`).
 *
 * @since 0.1.0
 * @category models
 */
export type CaptureError = PlatformError | ReplayBuffer.AcquireError | ReplayBuffer.WriterError

/**
 * @since 0.1.0
 * @category models
 */
export interface CaptureOptions {
  /**
   * Default `true`: end the buffer with the process. Exit code 0 ends it
   * normally; a non-zero code fails it with
   * `ProducerFailed { reason: "exited with code N", exitCode: N }`; a
   * process killed by a signal, a command that cannot be started, an I/O
   * error or an interruption fail it with a `ProducerFailed` whose `reason`
   * says so (`"interrupted"` for an interruption) and no `exitCode`.
   *
   * With `false` the buffer is left open in every case (several commands
   * into one log); the exit code or the error still reaches the caller.
   */
  readonly end?: boolean | undefined
  /**
   * Also write the process's stdout, alone, into this buffer (a tee: the
   * main buffer still gets both streams merged). Ended like the main buffer.
   * Default: none.
   */
  readonly stdout?: ReplayBuffer.ReplayBuffer | undefined
  /**
   * Also write the process's stderr, alone, into this buffer, e.g. to show
   * errors separately. Ended like the main buffer. Default: none.
   */
  readonly stderr?: ReplayBuffer.ReplayBuffer | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions extends ReplayBuffer.Options {
  /** As {@link CaptureOptions.stdout}. */
  readonly stdout?: ReplayBuffer.ReplayBuffer | undefined
  /** As {@link CaptureOptions.stderr}. */
  readonly stderr?: ReplayBuffer.ReplayBuffer | undefined
}

/**
 * Runs `command` and writes its stdout and stderr into `buffer`, merged in
 * the order their chunks arrive. Each chunk read from a pipe is one atomic
 * write (a line printed in one `write(2)` by the child is never split by the
 * other stream's bytes); ordering between the two pipes is the order the
 * parent read them in, so it follows the child's order whenever the child
 * waits in between. Both outputs are always piped, whatever the command says.
 *
 * Returns the exit code once the process has exited AND both pipes have
 * closed (a background grandchild that keeps a pipe open keeps the capture
 * going), then ends the buffer as {@link CaptureOptions.end} describes. A
 * command that cannot be started fails with its `PlatformError` and, with
 * `end: true`, fails the buffer too, so followers never hang.
 *
 * The process lives in a scope of its own: when the capture is interrupted
 * the process (its whole process group) gets SIGTERM and is waited for,
 * then the buffer is failed with reason `"interrupted"`. If the buffer (or a
 * tee buffer) is ended by someone else meanwhile, the next write fails with
 * `BufferClosed`: the process is killed the same way and `capture` fails with
 * that error (the other end stands). The child's stdin
 * is whatever the command says (a pipe by default, never written to unless
 * you set one with `Command.stdin` or `Command.feed`).
 *
 * Bounds: nothing is queued per capture beyond one chunk per pipe in flight
 * (at most what Node buffers for a pipe, 64 KiB by default); the writes
 * never wait for followers, so a slow follower never slows the child.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/platform"
 * import { NodeContext } from "@effect/platform-node"
 * import { ReplayBuffer } from "@scrollback/core"
 * import { ReplayProcess, ReplayStream } from "@scrollback/platform"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make({ capacity: 64 * 1024 })
 *   const output = yield* ReplayStream.follow(buffer).pipe(Stream.decodeText(), Stream.mkString, Effect.fork)
 *   const code = yield* ReplayProcess.capture(Command.make("sh", "-c", "echo out; echo err >&2"), buffer)
 *   console.log(code, yield* output) // 0 "out\nerr\n" (or "err\nout\n")
 * }).pipe(Effect.provide(NodeContext.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const capture: {
  (
    buffer: ReplayBuffer.ReplayBuffer,
    options?: CaptureOptions
  ): (command: Command.Command) => Effect.Effect<
    CommandExecutor.ExitCode,
    CaptureError,
    CommandExecutor.CommandExecutor
  >
  (
    command: Command.Command,
    buffer: ReplayBuffer.ReplayBuffer,
    options?: CaptureOptions
  ): Effect.Effect<
    CommandExecutor.ExitCode,
    CaptureError,
    CommandExecutor.CommandExecutor
  >
} = internal.capture

/**
 * Like {@link capture}, for a process you started yourself with
 * `Command.start` — to write to its stdin, send it signals or read its pid.
 * The process belongs to your scope: interrupting this capture fails the
 * buffer (reason `"interrupted"`, with `end: true`) but does not kill the
 * process; closing the scope you started it in does.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/platform"
 * import { ReplayBuffer } from "@scrollback/core"
 * import { ReplayProcess } from "@scrollback/platform"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make()
 *   const process = yield* Command.start(Command.make("cat"))
 *   const capturing = yield* Effect.fork(ReplayProcess.captureProcess(process, buffer))
 *   yield* Stream.make("typed\n").pipe(Stream.encodeText, Stream.run(process.stdin))
 *   return yield* capturing // 0, and the buffer holds "typed\n"
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const captureProcess: {
  (
    buffer: ReplayBuffer.ReplayBuffer,
    options?: CaptureOptions
  ): (
    process: CommandExecutor.Process
  ) => Effect.Effect<CommandExecutor.ExitCode, CaptureError>
  (
    process: CommandExecutor.Process,
    buffer: ReplayBuffer.ReplayBuffer,
    options?: CaptureOptions
  ): Effect.Effect<CommandExecutor.ExitCode, CaptureError>
} = internal.captureProcess

/**
 * Makes a buffer (`capacity` default 1 MiB), starts {@link capture} into it
 * in a fiber forked into the current scope, and returns the buffer at once:
 * follow it, serve it, or wait for `buffer.awaitEnd`. The exit status is in
 * how the buffer ends. Closing the scope kills the process if it is still
 * running and fails the buffer with reason `"interrupted"`.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/platform"
 * import { NodeContext } from "@effect/platform-node"
 * import { ReplayProcess, ReplayStream } from "@scrollback/platform"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayProcess.run(Command.make("ls", "-l"), { capacity: 256 * 1024 })
 *   return yield* ReplayStream.follow(buffer).pipe(Stream.decodeText(), Stream.mkString)
 * }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: (
  command: Command.Command,
  options?: RunOptions
) => Effect.Effect<
  ReplayBuffer.ReplayBuffer,
  InvalidCapacity | ReplayBuffer.AcquireError,
  CommandExecutor.CommandExecutor | Scope.Scope
> = internal.run
