/**
 * `pnpm demo [flags] [-- command args...]`: starts the demo server and keeps
 * it running until Ctrl-C (which stops the terminal's process too). Flags are
 * parsed with `@effect/cli` (`pnpm demo --help`).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { isValidKey } from "@scrollback/core/ReplayRegistry"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as DemoServer from "./DemoServer.js"

const integer = (name: string, min: number, max: number, fallback: number, description: string) =>
  Options.integer(name).pipe(
    Options.filterMap(
      (n) => n >= min && n <= max ? Option.some(n) : Option.none(),
      `--${name} must be an integer from ${min} to ${max}`
    ),
    Options.withDefault(fallback),
    Options.withDescription(description)
  )

const port = integer("port", 0, 65535, DemoServer.DEFAULT_PORT, "port to listen on (0: any free port)")
const host = Options.text("host").pipe(
  Options.withDefault(DemoServer.DEFAULT_HOST),
  Options.withDescription("address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface)")
)
const key = Options.text("key").pipe(
  Options.filterMap(
    (k) => isValidKey(k) ? Option.some(k) : Option.none(),
    "--key must be 1..128 characters of [A-Za-z0-9._~-]"
  ),
  Options.withDefault(DemoServer.DEFAULT_KEY),
  Options.withDescription("the buffer's key in URLs")
)
const capacity = integer(
  "capacity",
  4096,
  Number.MAX_SAFE_INTEGER,
  DemoServer.DEFAULT_CAPACITY,
  "bytes the buffer retains (older bytes are evicted; the keyframes keep the screen)"
)
const interval = Options.integer("interval").pipe(
  Options.filterMap((n) => n >= 0 && n <= 3_600_000 ? Option.some(n) : Option.none(), "--interval must be 0..3600000"),
  Options.optional,
  Options.withDescription(`built-in producer: pause after each write in ms (default ${DemoServer.DEFAULT_INTERVAL_MS})`)
)
const tasks = Options.integer("tasks").pipe(
  Options.filterMap((n) => n >= 0 ? Option.some(n) : Option.none(), "--tasks must be a non-negative integer"),
  Options.optional,
  Options.withDescription("built-in producer: tasks before it exits (default 0: forever)")
)
const share = Options.boolean("share").pipe(
  Options.withDescription("read-only sharing: anyone who can reach the server may watch without the token")
)
const allowHost = Options.text("allow-host").pipe(
  Options.repeated,
  Options.withDescription(
    "a Host name to answer to besides IP addresses and localhost (\"box.lan\", \".example.com\" for a domain)"
  )
)
const command = Args.text({ name: "command" }).pipe(
  Args.repeated,
  Args.withDescription("the command to run in the terminal instead of the built-in producer (no shell: `bash`)")
)

/** The access token: `SCROLLBACK_DEMO_TOKEN` if set (not a flag: flags are visible to other users), else random. */
const tokenConfig = Config.option(Config.string("SCROLLBACK_DEMO_TOKEN"))

const demo = Command.make(
  "demo",
  { port, host, key, capacity, interval, tasks, share, allowHost, command },
  (flags) =>
    Effect.gen(function*() {
      if (flags.command.length > 0 && (Option.isSome(flags.interval) || Option.isSome(flags.tasks))) {
        yield* Console.error("scrollback demo: --interval and --tasks apply to the built-in producer, not to a command")
        process.exitCode = 2
        return
      }
      const token = yield* tokenConfig
      const server = yield* DemoServer.make({
        port: flags.port,
        host: flags.host,
        key: flags.key,
        capacity: flags.capacity,
        share: flags.share,
        allowedHosts: flags.allowHost,
        token: Option.getOrUndefined(token),
        producer: flags.command.length > 0
          ? { _tag: "Command", command: flags.command[0], args: flags.command.slice(1) }
          : {
            _tag: "BuiltIn",
            intervalMs: Option.getOrElse(flags.interval, () => DemoServer.DEFAULT_INTERVAL_MS),
            tasks: Option.getOrElse(flags.tasks, () => 0)
          }
      })
      yield* Console.log(`scrollback demo: ${server.url}`)
      yield* Console.log(`  running in a terminal: ${server.commandLine}`)
      yield* Console.log(
        `  buffer "${server.key}" (${server.buffer.capacity} bytes, with keyframes of the screen), endpoints under ${
          server.baseUrl.slice(0, -1)
        }${DemoServer.PREFIX}/${server.key}/`
      )
      yield* Console.log(
        server.share
          ? `  shared read-only: anyone who can reach ${server.baseUrl} may watch; typing needs the URL above`
          : "  the URL above carries the access token: reading and typing need it. Do not share it."
      )
      yield* Console.log(
        "  type in the page; open it twice to watch from a second tab; reload or cut the network: the screen comes back. Ctrl-C stops."
      )
      yield* server.exitCode.pipe(
        Effect.matchEffect({
          onSuccess: (code) =>
            Console.log(`the process exited with code ${code}; the page keeps its screen. Ctrl-C stops.`),
          onFailure: (reason) => Console.log(`the process was ${reason}; the page keeps its screen. Ctrl-C stops.`)
        })
      )
      return yield* Effect.never
    }).pipe(
      Effect.catchTags({
        ServeError: (error) =>
          Console.error(
            `scrollback demo: cannot listen on ${flags.host}:${flags.port}: ${String(error.cause)} (try --port 0)`
          )
            .pipe(Effect.zipRight(Effect.sync(() => process.exitCode = 1))),
        PtySpawnError: (error) =>
          Console.error(`scrollback demo: ${error.message}`).pipe(
            Effect.zipRight(Effect.sync(() => process.exitCode = 1))
          ),
        InvalidHttpOptions: (error) =>
          Console.error(`scrollback demo: ${error.message}`).pipe(
            Effect.zipRight(Effect.sync(() => process.exitCode = 2))
          )
      }),
      Effect.scoped
    )
).pipe(Command.withDescription(
  "Runs a command in a terminal (a PTY), keeps its output in a scrollback replay buffer with keyframes of the " +
    "screen, and serves a page that shows it in a browser terminal you can type into. Without a command, runs " +
    "the built-in producer (a fake build)."
))

const VALUE_FLAGS = new Set(["--port", "--host", "--key", "--capacity", "--interval", "--tasks", "--allow-host"])
const BOOLEAN_FLAGS = new Set(["--share", "--help", "-h", "--version", "--wizard"])

/**
 * `pnpm demo -- sh -c '…'` reaches us without its `--` (pnpm drops it): everything from the first word that
 * is not a flag (or a flag's value) on is the command, so `-c` is the command's, not ours. A word that looks
 * like a flag but is none of ours is an error (not a command named `--nope`).
 */
const separateCommand = (argv: ReadonlyArray<string>): Array<string> | string => {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === "--") return [...argv]
    if (arg.startsWith("-")) {
      const name = arg.split("=")[0]
      if (VALUE_FLAGS.has(name)) {
        if (!arg.includes("=")) i++
      } else if (!BOOLEAN_FLAGS.has(name) && !name.startsWith("--completions") && !name.startsWith("--log-level")) {
        return `unknown flag ${arg} (pnpm demo --help)`
      }
      continue
    }
    return [...argv.slice(0, i), "--", ...argv.slice(i)]
  }
  return [...argv]
}

const cli = Command.run(demo, { name: "scrollback demo", version: "0.1.0" })

const argv = separateCommand(process.argv.slice(2))

Effect.suspend(() =>
  typeof argv === "string"
    ? Console.error(`scrollback demo: ${argv}`).pipe(Effect.zipRight(Effect.sync(() => process.exitCode = 2)))
    : cli([...process.argv.slice(0, 2), ...argv]).pipe(
      // A bad flag value: @effect/cli has printed what was wrong; exit code 2, as usual for usage errors.
      Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => process.exitCode = 2))
    )
).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
