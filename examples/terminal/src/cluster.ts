/**
 * `pnpm demo:cluster [flags] [-- command args...]`: the terminal demo on
 * several server processes over one Redis (`--redis URL --instances N`). It
 * starts one process per instance (`src/clusterInstance.ts`: the first runs
 * the producer, every one serves the page and the endpoints), prints their
 * URLs, and keeps them running until Ctrl-C, which stops them all (SIGTERM,
 * then SIGKILL after 5 seconds). If one of them exits, the others are
 * stopped too and it exits with code 1; bad flags exit with code 2.
 *
 * @since 0.1.0
 */
import * as CliCommand from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as Crypto from "node:crypto"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as ClusterMode from "./ClusterMode.js"

const here = Path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const STOP_GRACE_MS = 5000

/** An instance that could not start or stopped on its own. */
class InstanceFailed extends Data.TaggedError("InstanceFailed")<{ readonly index: number; readonly reason: string }> {
  override get message(): string {
    return `instance ${this.index + 1} ${this.reason}`
  }
}

interface Running {
  readonly index: number
  readonly url: string
  readonly commandLine: string
  /** Fails when the process exits (it never should by itself). */
  readonly exited: Effect.Effect<never, InstanceFailed>
  /** Completes with the producer's exit (instance 1 only). */
  readonly producer: Effect.Effect<string>
}

const exitedPromise = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

/** Stops a child: SIGTERM (its finalizers stop its producer), SIGKILL if it is still there after the grace. */
const stop = (child: ChildProcess) =>
  Effect.promise(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS)
    await exitedPromise(child)
    clearTimeout(timer)
  })

/** Starts one instance's process in the scope, and waits until it serves (or fails). */
const start = (config: ClusterMode.InstanceConfig): Effect.Effect<Running, InstanceFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const ready = yield* Deferred.make<{ readonly url: string; readonly commandLine: string }, InstanceFailed>()
    const exited = yield* Deferred.make<never, InstanceFailed>()
    const producer = yield* Deferred.make<string>()
    const fail = (reason: string) => new InstanceFailed({ index: config.index, reason })
    const tsx = pathToFileURL(require.resolve("tsx")).href
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", tsx, Path.join(here, "clusterInstance.ts")], {
          env: { ...process.env, [ClusterMode.INSTANCE_ENV]: JSON.stringify(config) },
          stdio: ["pipe", "pipe", "inherit"]
        })
      ),
      stop
    )
    let pending = ""
    child.stdout!.setEncoding("utf8")
    child.stdout!.on("data", (data: string) => {
      pending += data
      let at: number
      while ((at = pending.indexOf("\n")) !== -1) {
        const line = pending.slice(0, at)
        pending = pending.slice(at + 1)
        let message: Record<string, any>
        try {
          message = JSON.parse(line)
        } catch {
          process.stdout.write(`[instance ${config.index + 1}] ${line}\n`)
          continue
        }
        if (message.ready !== undefined) Deferred.unsafeDone(ready, Effect.succeed(message.ready))
        else if (message.failed !== undefined) {
          Deferred.unsafeDone(ready, Effect.fail(fail(`could not start: ${message.failed}`)))
        } else if (message.producerExited !== undefined) {
          Deferred.unsafeDone(producer, Effect.succeed(`the producer exited with code ${message.producerExited}`))
        } else if (message.producerFailed !== undefined) {
          Deferred.unsafeDone(producer, Effect.succeed(`the producer could not run: ${message.producerFailed}`))
        }
      }
    })
    child.stdin!.on("error", () => {})
    child.once("exit", (code, signal) => {
      const error = fail(`exited (${signal ?? `code ${code}`})`)
      Deferred.unsafeDone(ready, Effect.fail(error))
      Deferred.unsafeDone(exited, Effect.fail(error))
    })
    const { commandLine, url } = yield* Deferred.await(ready)
    return { index: config.index, url, commandLine, exited: Deferred.await(exited), producer: Deferred.await(producer) }
  })

const supervise = (options: ClusterMode.ClusterOptions) =>
  Effect.gen(function*() {
    // The first instance creates the buffer and runs the producer; the others join it once it exists.
    // One access token for all: the cookie a page gets from one instance lets it resume on any other.
    const token = Crypto.randomBytes(16).toString("hex")
    const first = yield* start(ClusterMode.instanceConfig(options, 0, "", token))
    const others = yield* Effect.forEach(
      Array.from({ length: options.instances - 1 }, (_, i) => i + 1),
      (index) => start(ClusterMode.instanceConfig(options, index, first.commandLine, token)),
      { concurrency: "unbounded" }
    )
    const all = [first, ...others]
    yield* Console.log(
      `scrollback demo (cluster): ${all.length} instance(s) over ${options.redis}, buffer "${options.key}"`
    )
    for (const instance of all) {
      yield* Console.log(
        `  instance ${instance.index + 1}: ${instance.url}${
          instance.index === 0 ? `  (runs: ${first.commandLine})` : ""
        }`
      )
    }
    yield* Console.log(
      "  open any of them, or several: each serves the same buffer from Redis, and a reload resumes on any. Ctrl-C stops all."
    )
    yield* first.producer.pipe(
      Effect.flatMap((message) => Console.log(`${message}; the pages keep showing its output. Ctrl-C stops.`)),
      Effect.forkScoped
    )
    // Runs until Ctrl-C, or until an instance exits (then the others are stopped, and the demo exits with 1).
    return yield* Effect.raceAll(all.map((instance) => instance.exited))
  }).pipe(Effect.scoped)

const args = ClusterMode.splitArgs(process.argv.slice(2))

const cli = CliCommand.run(
  ClusterMode.command((parsed): Effect.Effect<void, ClusterMode.InvalidFlag | InstanceFailed> => {
    const options = ClusterMode.validate(parsed, args.command)
    return Either.isLeft(options) ? Effect.fail(options.left) : supervise(options.right)
  }),
  { name: "scrollback demo (cluster)", version: "0.0.0" }
)

const program = cli([process.argv[0], process.argv[1], ...args.flags]).pipe(
  Effect.catchTags({
    InvalidFlag: (invalid) =>
      Console.error(`scrollback demo: ${invalid.message}\n\n${ClusterMode.usage}\nFlags: pnpm demo:cluster --help`)
        .pipe(
          Effect.zipRight(Effect.sync(() => process.exitCode = 2))
        ),
    InstanceFailed: (failed) =>
      Console.error(`scrollback demo: ${failed.message}`).pipe(Effect.zipRight(Effect.sync(() => process.exitCode = 1)))
  }),
  // @effect/cli has printed what was wrong with the flags.
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => process.exitCode = 2)),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program)
