/**
 * The demo's cluster mode: the same terminal demo on several server
 * processes over one Redis. `pnpm demo:cluster` (`src/cluster.ts`) starts
 * one process per instance (`src/clusterInstance.ts`); each serves the page
 * and the endpoints over a `RedisRegistry`, the first one also runs the
 * producer. The page can be pointed at any of them, and a reload or a
 * reconnect may land on another: the same epoch, the same offsets, the same
 * end.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as RedisRegistry from "@scrollback/redis/RedisRegistry"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as DemoServer from "./DemoServer.js"

/**
 * The default Redis: `redis://127.0.0.1:6379`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_REDIS = "redis://127.0.0.1:6379"

/**
 * The default number of server processes: 2.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_INSTANCES = 2

/**
 * The most server processes the demo starts: 16.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_INSTANCES = 16

/**
 * The environment variable that carries an instance's {@link InstanceConfig}
 * (JSON) from the supervisor to the instance's process.
 *
 * @since 0.1.0
 * @category constants
 */
export const INSTANCE_ENV = "SCROLLBACK_CLUSTER_INSTANCE"

/**
 * What the supervisor runs, from its flags.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterOptions {
  readonly redis: string
  readonly instances: number
  /** Instance `i` (from 0) listens on `port + i`; 0: each on a free port. */
  readonly port: number
  readonly key: string
  readonly capacity: number
  readonly producer: Extract<DemoServer.Producer, { readonly _tag: "BuiltIn" | "Command" }>
}

/**
 * What one instance's process is told to do.
 *
 * @since 0.1.0
 * @category models
 */
export interface InstanceConfig {
  /** 0 runs the producer; the others serve its buffer. */
  readonly index: number
  readonly redis: string
  readonly port: number
  readonly key: string
  readonly capacity: number
  readonly producer: DemoServer.Producer
  /** The access token, the same on every instance (the supervisor makes it), so one cookie works on all. */
  readonly token: string
}

/**
 * A flag that is out of range or malformed (the demo exits with code 2).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidFlag extends Data.TaggedError("InvalidFlag")<{ readonly reason: string }> {
  /** @since 0.1.0 */
  override get message(): string {
    return this.reason
  }
}

/**
 * The flags of `pnpm demo:cluster`, as an `@effect/cli` command whose handler
 * gets them (the producer's command, after `--`, is split off before: see
 * {@link splitArgs}).
 *
 * @since 0.1.0
 * @category cli
 */
export const flags = {
  redis: Options.text("redis").pipe(
    Options.withDefault(DEFAULT_REDIS),
    Options.withDescription("the Redis every instance uses (redis:// or rediss:// URL)")
  ),
  instances: Options.integer("instances").pipe(
    Options.withDefault(DEFAULT_INSTANCES),
    Options.withDescription(`server processes, 1..${MAX_INSTANCES}; the first runs the producer`)
  ),
  port: Options.integer("port").pipe(
    Options.withDefault(DemoServer.DEFAULT_PORT),
    Options.withDescription("instance i (from 0) listens on 127.0.0.1:PORT+i; 0: each on a free port")
  ),
  key: Options.text("key").pipe(
    Options.withDefault(DemoServer.DEFAULT_KEY),
    Options.withDescription("the buffer's key in URLs (1..128 of [A-Za-z0-9._~-])")
  ),
  capacity: Options.integer("capacity").pipe(
    Options.withDefault(DemoServer.DEFAULT_CAPACITY),
    Options.withDescription("bytes the buffer retains")
  ),
  interval: Options.integer("interval").pipe(
    Options.optional,
    Options.withDescription(
      `built-in producer: pause after each write in ms (default ${DemoServer.DEFAULT_INTERVAL_MS})`
    )
  ),
  tasks: Options.integer("tasks").pipe(
    Options.optional,
    Options.withDescription("built-in producer: tasks before it exits (default 0: forever)")
  )
}

/**
 * The arguments after the script name, split into flags and the producer's
 * command (everything after the first `--`). A leading `--` followed by a
 * flag is what `pnpm demo:cluster -- --redis …` passes on: it is dropped.
 *
 * @since 0.1.0
 * @category cli
 */
export const splitArgs = (
  input: ReadonlyArray<string>
): { readonly flags: ReadonlyArray<string>; readonly command: ReadonlyArray<string> | undefined } => {
  const argv = input[0] === "--" && input[1]?.startsWith("-") === true ? input.slice(1) : input
  const separator = argv.indexOf("--")
  return separator === -1
    ? { flags: argv, command: undefined }
    : { flags: argv.slice(0, separator), command: argv.slice(separator + 1) }
}

type Parsed = Command.Command.ParseConfig<typeof flags>

/**
 * Checks the parsed flags and the command: the options of the supervisor, or
 * the flag that is wrong.
 *
 * @since 0.1.0
 * @category cli
 */
export const validate = (
  parsed: Parsed,
  command: ReadonlyArray<string> | undefined
): Either.Either<ClusterOptions, InvalidFlag> => {
  const invalid = (reason: string) => Either.left(new InvalidFlag({ reason }))
  let url: URL
  try {
    url = new URL(parsed.redis)
  } catch {
    return invalid(`--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(parsed.redis)}`)
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    return invalid(`--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(parsed.redis)}`)
  }
  if (parsed.instances < 1 || parsed.instances > MAX_INSTANCES) {
    return invalid(`--instances must be from 1 to ${MAX_INSTANCES}, got ${parsed.instances}`)
  }
  if (parsed.port < 0 || (parsed.port !== 0 && parsed.port + parsed.instances - 1 > 65535)) {
    return invalid(`--port must be 0, or leave room for ${parsed.instances} ports up to 65535, got ${parsed.port}`)
  }
  if (!ReplayRegistry.isValidKey(parsed.key)) {
    return invalid(`--key must be 1..128 characters of [A-Za-z0-9._~-], got ${JSON.stringify(parsed.key)}`)
  }
  if (parsed.capacity < 1) return invalid(`--capacity must be at least 1, got ${parsed.capacity}`)
  const interval = Option.getOrUndefined(parsed.interval)
  const tasks = Option.getOrUndefined(parsed.tasks)
  if (interval !== undefined && (interval < 0 || interval > 3_600_000)) {
    return invalid(`--interval must be from 0 to 3600000, got ${interval}`)
  }
  if (tasks !== undefined && tasks < 0) return invalid(`--tasks must be at least 0, got ${tasks}`)
  if (command !== undefined && command.length === 0) return invalid("a command is expected after --")
  if (command !== undefined && (interval !== undefined || tasks !== undefined)) {
    return invalid("--interval and --tasks apply to the built-in producer, not to a command")
  }
  return Either.right({
    redis: parsed.redis,
    instances: parsed.instances,
    port: parsed.port,
    key: parsed.key,
    capacity: parsed.capacity,
    producer: command === undefined
      ? { _tag: "BuiltIn", intervalMs: interval, tasks: tasks ?? 0 }
      : { _tag: "Command", command: command[0], args: command.slice(1) }
  })
}

/**
 * The configuration of instance `index`: the first runs the producer, the
 * others serve the buffer it writes (`commandLine` is what the first one
 * reported). Every instance gets the same access `token`.
 *
 * @since 0.1.0
 * @category models
 */
export const instanceConfig = (
  options: ClusterOptions,
  index: number,
  commandLine: string,
  token: string
): InstanceConfig => ({
  index,
  token,
  redis: options.redis,
  port: options.port === 0 ? 0 : options.port + index,
  key: options.key,
  capacity: options.capacity,
  producer: index === 0 ? options.producer : { _tag: "Elsewhere", commandLine }
})

/**
 * One instance: a `RedisRegistry` (its two connections to Redis) and the demo
 * server over it. The first instance removes what a previous run left under
 * the key (so a restart is a new epoch, as in the single-process demo), then
 * creates the buffer and runs the producer; the others get the buffer from
 * Redis and serve it. Ended buffers are kept (idle timeout: infinite) so the
 * page can still show them.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as ClusterMode from "./ClusterMode.js"
 *
 * const program = ClusterMode.instance({
 *   index: 0,
 *   redis: "redis://127.0.0.1:6379",
 *   port: 0,
 *   key: "terminal",
 *   capacity: 1 << 20,
 *   producer: { _tag: "BuiltIn" },
 *   token: "0123456789abcdef0123456789abcdef"
 * }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const instance = (config: InstanceConfig) =>
  Effect.gen(function*() {
    const registry = yield* RedisRegistry.make({ url: config.redis, idleTimeout: Duration.infinity })
    if (config.index === 0) yield* Effect.catchTag(registry.remove(config.key), "BufferNotFound", () => Effect.void)
    return yield* DemoServer.make({
      registry,
      port: config.port,
      key: config.key,
      capacity: config.capacity,
      producer: config.producer,
      token: config.token
    })
  })

/**
 * @since 0.1.0
 * @category cli
 */
export const usage = `Usage: pnpm demo:cluster [flags] [-- command [args...]]

The terminal demo on several server processes over one Redis: the first
instance runs the command (or the built-in producer) into a buffer whose log
is in Redis; every instance serves the page and the endpoints from its own
replica. Point the page at any of them; a reload or a reconnect may land on
another one and resumes exactly.
`

/**
 * The `@effect/cli` command (its handler is the supervisor's).
 *
 * @since 0.1.0
 * @category cli
 */
export const command = <R, E>(
  handler: (parsed: Parsed) => Effect.Effect<void, E, R>
) => Command.make("demo:cluster", flags, handler).pipe(Command.withDescription(usage))
