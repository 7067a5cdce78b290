import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { InvalidCapacity } from "@scrollback/core/ReplayBufferError"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Api from "../ReplayProcess.js"
import * as sink from "./sink.js"

type CaptureError = Api.CaptureError

/** The writers of the leases a capture holds: the main buffer's, and the tees'. */
interface Writers {
  readonly main: ReplayBuffer.Writer
  readonly stdout: ReplayBuffer.Writer | undefined
  readonly stderr: ReplayBuffer.Writer | undefined
}

/** Takes the writer lease of the buffer and of each tee, in the current scope; fails at once if one is busy. */
const acquireWriters = (
  buffer: ReplayBuffer.ReplayBuffer,
  options: Api.RunOptions | Api.CaptureOptions | undefined
): Effect.Effect<Writers, ReplayBuffer.AcquireError, Scope.Scope> =>
  Effect.all({
    main: buffer.acquireWriter(),
    stdout: options?.stdout === undefined ? Effect.succeed(undefined) : options.stdout.acquireWriter(),
    stderr: options?.stderr === undefined ? Effect.succeed(undefined) : options.stderr.acquireWriter()
  })

const tee = <E>(
  stream: Stream.Stream<Uint8Array, E>,
  target: ReplayBuffer.Writer | undefined
): Stream.Stream<Uint8Array, E | ReplayBuffer.WriterError> =>
  target === undefined
    ? stream
    : Stream.mapChunksEffect(
      stream,
      (chunk: Chunk.Chunk<Uint8Array>) => Effect.as(sink.writeChunk(target, chunk), chunk)
    )

/** Drains stdout and stderr (merged in arrival order) into the buffer, then waits for the exit code. */
const drain = (
  process: CommandExecutor.Process,
  writers: Writers
): Effect.Effect<CommandExecutor.ExitCode, CaptureError> =>
  Stream.merge(tee(process.stdout, writers.stdout), tee(process.stderr, writers.stderr)).pipe(
    Stream.run(sink.make(writers.main)),
    Effect.zipRight(process.exitCode)
  )

const processExit = <E>(exit: Exit.Exit<CommandExecutor.ExitCode, E>): Exit.Exit<void, ProducerFailed> => {
  if (Exit.isFailure(exit)) return sink.endExit(exit)
  const code = exit.value
  return code === 0 ? Exit.void : Exit.fail(new ProducerFailed({ reason: `exited with code ${code}`, exitCode: code }))
}

/** Runs `effect`, then (unless `end: false`) ends every buffer through its writer the way the process ended. */
const ending = <R>(
  writers: Writers,
  options: Api.CaptureOptions | undefined,
  effect: Effect.Effect<CommandExecutor.ExitCode, CaptureError, R>
): Effect.Effect<CommandExecutor.ExitCode, CaptureError, R> => {
  if (options?.end === false) return effect
  const tees = [writers.stdout, writers.stderr].filter((writer) => writer !== undefined)
  // The main buffer is ended by `endingWith` (which reports a failure to end it); the tees alongside it.
  return sink.endingWith(
    writers.main,
    Effect.onExit(effect, (exit) => Effect.forEach(tees, (writer) => Effect.ignore(writer.endWith(processExit(exit))))),
    processExit
  )
}

/** The span of a capture: the command (when known) and the buffer's epoch. */
const spanned =
  (name: string, buffer: ReplayBuffer.ReplayBuffer, command: Command.Command | undefined) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withSpan(effect, name, {
      attributes: command === undefined
        ? { "scrollback.epoch": buffer.epoch }
        : { "scrollback.epoch": buffer.epoch, "scrollback.command": commandName(command) },
      captureStackTrace: false
    })

/** The program a command runs (the first of a piped chain): its arguments may hold secrets, so they are left out. */
const commandName = (command: Command.Command): string =>
  command._tag === "StandardCommand" ? command.command : commandName(command.left)

/** Both output streams must be pipes, whatever the command asked for, or there is nothing to capture. */
const piped = (command: Command.Command): Command.Command => Command.stderr(Command.stdout(command, "pipe"), "pipe")

const captureWith = (
  command: Command.Command,
  writers: Writers,
  options: Api.CaptureOptions | undefined
): Effect.Effect<CommandExecutor.ExitCode, CaptureError, CommandExecutor.CommandExecutor> =>
  ending(
    writers,
    options,
    Command.start(piped(command)).pipe(
      Effect.flatMap((process) => drain(process, writers)),
      Effect.scoped
    )
  )

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
    Effect.scoped(Effect.flatMap(acquireWriters(buffer, options), (writers) => captureWith(command, writers, options)))
      .pipe(spanned("ReplayProcess.capture", buffer, command))
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
  (process, buffer, options) =>
    Effect.scoped(
      Effect.flatMap(acquireWriters(buffer, options), (writers) => ending(writers, options, drain(process, writers)))
    ).pipe(spanned("ReplayProcess.captureProcess", buffer, undefined))
)

/** @internal */
export const run = (
  command: Command.Command,
  options?: Api.RunOptions
): Effect.Effect<
  ReplayBuffer.ReplayBuffer,
  InvalidCapacity | ReplayBuffer.AcquireError,
  CommandExecutor.CommandExecutor | Scope.Scope
> =>
  Effect.gen(function*() {
    const buffer = yield* ReplayBuffer.make({ capacity: options?.capacity })
    // The leases are taken before the buffer is returned, so no other producer can slip in first.
    const writers = yield* acquireWriters(buffer, options)
    // The capture runs in the background: its span is the run's, from the start to the process's end.
    yield* Effect.forkScoped(Effect.exit(
      captureWith(command, writers, options).pipe(
        spanned("ReplayProcess.run", buffer, command)
      )
    ))
    return buffer
  })
