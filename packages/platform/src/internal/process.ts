import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type { PlatformError } from "@effect/platform/Error"
import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { BufferClosed, InvalidCapacity, OffsetOverflow } from "@scrollback/core/ReplayBufferError"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Api from "../ReplayProcess.js"
import * as sink from "./sink.js"

type CaptureError = PlatformError | BufferClosed | OffsetOverflow

const tee = <E>(
  stream: Stream.Stream<Uint8Array, E>,
  target: ReplayBuffer.ReplayBuffer | undefined
): Stream.Stream<Uint8Array, E | BufferClosed | OffsetOverflow> =>
  target === undefined
    ? stream
    : Stream.mapChunksEffect(
      stream,
      (chunk: Chunk.Chunk<Uint8Array>) => Effect.as(sink.writeChunk(target, chunk), chunk)
    )

/** Drains stdout and stderr (merged in arrival order) into the buffer, then waits for the exit code. */
const drain = (
  process: CommandExecutor.Process,
  buffer: ReplayBuffer.ReplayBuffer,
  options: Api.CaptureOptions | undefined
): Effect.Effect<CommandExecutor.ExitCode, CaptureError> =>
  Stream.merge(tee(process.stdout, options?.stdout), tee(process.stderr, options?.stderr)).pipe(
    Stream.run(sink.make(buffer)),
    Effect.zipRight(process.exitCode)
  )

const processExit = <E>(exit: Exit.Exit<CommandExecutor.ExitCode, E>): Exit.Exit<void, ProducerFailed> => {
  if (Exit.isFailure(exit)) return sink.endExit(exit)
  const code = exit.value
  return code === 0 ? Exit.void : Exit.fail(new ProducerFailed({ reason: `exited with code ${code}`, exitCode: code }))
}

const endAll = (
  buffer: ReplayBuffer.ReplayBuffer,
  options: Api.CaptureOptions | undefined
) =>
<E>(exit: Exit.Exit<CommandExecutor.ExitCode, E>): Effect.Effect<void> => {
  const result = processExit(exit)
  const targets = [buffer]
  if (options?.stdout !== undefined) targets.push(options.stdout)
  if (options?.stderr !== undefined) targets.push(options.stderr)
  return Effect.forEach(targets, (target) => target.endWith(result), { discard: true })
}

const ending = (
  buffer: ReplayBuffer.ReplayBuffer,
  options: Api.CaptureOptions | undefined
) =>
<R>(
  effect: Effect.Effect<CommandExecutor.ExitCode, CaptureError, R>
): Effect.Effect<CommandExecutor.ExitCode, CaptureError, R> =>
  options?.end === false ? effect : Effect.onExit(effect, endAll(buffer, options))

/** Both output streams must be pipes, whatever the command asked for, or there is nothing to capture. */
const piped = (command: Command.Command): Command.Command => Command.stderr(Command.stdout(command, "pipe"), "pipe")

/** @internal */
export const capture = dual<
  (
    buffer: ReplayBuffer.ReplayBuffer,
    options?: Api.CaptureOptions
  ) => (command: Command.Command) => Effect.Effect<
    CommandExecutor.ExitCode,
    CaptureError,
    CommandExecutor.CommandExecutor
  >,
  (
    command: Command.Command,
    buffer: ReplayBuffer.ReplayBuffer,
    options?: Api.CaptureOptions
  ) => Effect.Effect<CommandExecutor.ExitCode, CaptureError, CommandExecutor.CommandExecutor>
>(
  (args) => Command.isCommand(args[0]),
  (command, buffer, options) =>
    Command.start(piped(command)).pipe(
      Effect.flatMap((process) => drain(process, buffer, options)),
      Effect.scoped,
      ending(buffer, options)
    )
)

/** @internal */
export const captureProcess = dual<
  (
    buffer: ReplayBuffer.ReplayBuffer,
    options?: Api.CaptureOptions
  ) => (process: CommandExecutor.Process) => Effect.Effect<CommandExecutor.ExitCode, CaptureError>,
  (
    process: CommandExecutor.Process,
    buffer: ReplayBuffer.ReplayBuffer,
    options?: Api.CaptureOptions
  ) => Effect.Effect<CommandExecutor.ExitCode, CaptureError>
>(
  (args) => !ReplayBuffer.isReplayBuffer(args[0]),
  (process, buffer, options) => ending(buffer, options)(drain(process, buffer, options))
)

/** @internal */
export const run = (
  command: Command.Command,
  options?: Api.RunOptions
): Effect.Effect<ReplayBuffer.ReplayBuffer, InvalidCapacity, CommandExecutor.CommandExecutor | Scope.Scope> =>
  Effect.flatMap(ReplayBuffer.make({ capacity: options?.capacity }), (buffer) =>
    Effect.as(
      Effect.forkScoped(Effect.exit(capture(command, buffer, { stdout: options?.stdout, stderr: options?.stderr }))),
      buffer
    ))
