/**
 * The demo server: runs a command, keeps its output in a registry buffer,
 * and serves the browser terminal page plus the scrollback HTTP endpoints
 * (SSE, WebSocket, plain GET / long-poll, info) on 127.0.0.1.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import type { BufferNotFound } from "@scrollback/core/ReplayRegistryError"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as ReplayProcess from "@scrollback/platform/ReplayProcess"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

/**
 * The default port: 7681.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PORT = 7681

/**
 * The default buffer key: `"terminal"`.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_KEY = "terminal"

/**
 * The default capacity of the buffer: 1 MiB (1,048,576 bytes).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CAPACITY = 1_048_576

/**
 * The built-in producer's default pause after each write: 120 ms.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_INTERVAL_MS = 120

/**
 * The URL prefix of the scrollback endpoints: `/scrollback`.
 *
 * @since 0.1.0
 * @category constants
 */
export const PREFIX = "/scrollback"

/**
 * What produces the output: the built-in producer (`src/producer.ts`, run by
 * Node with tsx) or any command, run without a shell; or, in the cluster mode
 * (`src/cluster.ts`), `Elsewhere`: another instance runs the producer and this
 * one only serves the buffer (`registry.get(key)`; nothing runs here).
 *
 * @since 0.1.0
 * @category models
 */
export type Producer =
  | {
    readonly _tag: "BuiltIn"
    /** Pause after each write. Default {@link DEFAULT_INTERVAL_MS}. */
    readonly intervalMs?: number | undefined
    /** Tasks before the producer exits; 0 = forever. Default 0. */
    readonly tasks?: number | undefined
    /** The producer's exit code when done. Default 0. */
    readonly exitCode?: number | undefined
  }
  | { readonly _tag: "Command"; readonly command: string; readonly args: ReadonlyArray<string> }
  // cluster mode: the buffer is written by another instance's producer.
  | { readonly _tag: "Elsewhere"; readonly commandLine: string }

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Port on 127.0.0.1; 0 picks a free port. Default {@link DEFAULT_PORT}. */
  readonly port?: number | undefined
  /** The buffer's key. Default {@link DEFAULT_KEY}. */
  readonly key?: string | undefined
  /** Bytes the buffer retains. Default {@link DEFAULT_CAPACITY}. */
  readonly capacity?: number | undefined
  /** Default: the built-in producer with its defaults. */
  readonly producer?: Producer | undefined
  /** Options of the scrollback endpoints (the prefix is always {@link PREFIX}). */
  readonly http?: Omit<ReplayHttp.Options, "prefix"> | undefined
  /**
   * cluster mode: the registry to create (or, with an `Elsewhere` producer, get) the buffer in and
   * serve, such as a `RedisRegistry` shared by several instances. Default: a new in-memory registry
   * that keeps ended buffers.
   */
  readonly registry?: ReplayRegistry.ReplayRegistry | undefined
}

/**
 * A running demo. The server, the producer and the buffer live as long as
 * the scope `make` ran in.
 *
 * @since 0.1.0
 * @category models
 */
export interface DemoServer {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string
  readonly port: number
  readonly key: string
  readonly buffer: ReplayBuffer.ReplayBuffer
  /** What the page shows as the command. */
  readonly commandLine: string
  /**
   * Completes with the producer's exit code once it exited (fails if it could not start); never, on
   * an instance whose producer runs `Elsewhere`.
   */
  readonly exitCode: Effect.Effect<number, string>
  /**
   * Destroys every open connection (SSE streams included), as a network cut
   * would: browsers see the stream break and reconnect by themselves.
   */
  readonly dropConnections: Effect.Effect<void>
}

const here = Path.dirname(fileURLToPath(import.meta.url))
const publicDir = Path.join(here, "..", "public")
const require = createRequire(import.meta.url)
const xtermDir = Path.dirname(require.resolve("@xterm/xterm/package.json"))

/** The files the page needs: a fixed list, so no request can name another file. */
const staticFiles: ReadonlyArray<{ readonly route: `/${string}`; readonly file: string; readonly type: string }> = [
  { route: "/", file: Path.join(publicDir, "index.html"), type: "text/html; charset=utf-8" },
  { route: "/app.mjs", file: Path.join(publicDir, "app.mjs"), type: "text/javascript; charset=utf-8" },
  { route: "/style.css", file: Path.join(publicDir, "style.css"), type: "text/css; charset=utf-8" },
  // xterm.js, served from node_modules by this server: no CDN.
  { route: "/vendor/xterm/xterm.mjs", file: Path.join(xtermDir, "lib", "xterm.mjs"), type: "text/javascript" },
  { route: "/vendor/xterm/xterm.css", file: Path.join(xtermDir, "css", "xterm.css"), type: "text/css" }
]

const noCache = { "cache-control": "no-cache" }

const builtInCommand = (producer: Extract<Producer, { _tag: "BuiltIn" }>) => {
  const args = [
    "--interval",
    String(producer.intervalMs ?? DEFAULT_INTERVAL_MS),
    "--tasks",
    String(producer.tasks ?? 0),
    "--exit-code",
    String(producer.exitCode ?? 0)
  ]
  const tsx = pathToFileURL(require.resolve("tsx")).href
  return {
    command: Command.make(process.execPath, "--import", tsx, Path.join(here, "producer.ts"), ...args),
    commandLine: `producer.ts ${args.join(" ")}`
  }
}

const quote = (arg: string) => /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`

/**
 * Starts the demo: a registry with one buffer, the producer writing into it,
 * and an HTTP server on 127.0.0.1 serving the page and the endpoints.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { Console, Effect } from "effect"
 * import * as DemoServer from "./DemoServer.js"
 *
 * const program = Effect.gen(function*() {
 *   const demo = yield* DemoServer.make({ port: 0 })
 *   yield* Console.log(`scrollback demo: ${demo.url}`)
 *   return yield* Effect.never
 * }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  DemoServer,
  ServeError | ReplayRegistry.CreateError | BufferNotFound,
  Scope.Scope | CommandExecutor.CommandExecutor | FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const key = options.key ?? DEFAULT_KEY
    const fs = yield* FileSystem.FileSystem

    // The page's files, read once up front: a missing file fails the start, not a request.
    const pages = yield* Effect.forEach(staticFiles, ({ file, route, type }) =>
      fs.readFile(file).pipe(
        Effect.orDie,
        Effect.map((body) =>
          HttpRouter.makeRoute(
            "GET",
            route,
            Effect.succeed(HttpServerResponse.uint8Array(body, { contentType: type, headers: noCache }))
          )
        )
      ))

    // The demo keeps its buffer after the producer ends, so the page can still show it.
    const registry = options.registry ??
      (yield* ReplayRegistry.make({ idleTimeout: Duration.infinity }).pipe(Effect.orDie))
    const producer = options.producer ?? { _tag: "BuiltIn" }
    const buffer = producer._tag === "Elsewhere" // cluster mode: another instance created it
      ? yield* registry.get(key)
      : yield* registry.create(key, { capacity: options.capacity ?? DEFAULT_CAPACITY })

    const { command, commandLine } = producer._tag === "BuiltIn"
      ? builtInCommand(producer)
      : producer._tag === "Elsewhere"
      ? { command: undefined, commandLine: producer.commandLine }
      : {
        command: Command.make(producer.command, ...producer.args),
        commandLine: [producer.command, ...producer.args].map(quote).join(" ")
      }

    const config = { prefix: PREFIX, key, command: commandLine }
    // The demo listens on 127.0.0.1 only: whoever can reach it may watch.
    const http = yield* Effect.orDie(ReplayHttp.make({ ...options.http, prefix: PREFIX }))
    const replay = yield* ReplayHttp.toHttpApp.pipe(
      Effect.provideService(ReplayHttp.ReplayHttp, http),
      Effect.provideService(ReplayRegistry.ReplayRegistry, registry),
      Effect.provideService(ReplayHttp.Authorization, { authorize: () => Effect.void })
    )
    const app = HttpRouter.fromIterable([
      ...pages,
      HttpRouter.makeRoute("GET", "/demo.json", Effect.succeed(HttpServerResponse.unsafeJson(config)))
    ]).pipe(HttpRouter.mountApp(PREFIX, replay, { includePrefix: true }))

    // Listen first: a taken port fails the start before the producer runs. Served through layers so
    // the handlers (open SSE and WebSocket sessions) are interrupted before the server closes:
    // platform-node's WebSocket server, made at the first upgrade, waits for its clients to leave.
    const nodeServer = Http.createServer()
    const served = yield* Layer.build(
      HttpServer.serve(app).pipe(
        Layer.provideMerge(
          NodeHttpServer.layer(() => nodeServer, { port: options.port ?? DEFAULT_PORT, host: "127.0.0.1" })
        )
      )
    )
    const server = Context.get(served, HttpServer.HttpServer)
    // Closing a Node server waits for every connection to end, and an SSE stream never ends by
    // itself: stop listening, then drop them all.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        nodeServer.close()
        nodeServer.closeAllConnections()
      })
    )
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0

    // The producer: killed (its whole process group) when the scope closes.
    const exitCode = yield* Deferred.make<number, string>()
    if (command !== undefined) { // cluster mode: no producer on the other instances
      yield* ReplayProcess.capture(command, buffer).pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Exit.isSuccess(exit)
            ? Deferred.succeed(exitCode, exit.value)
            : Deferred.fail(exitCode, Cause.pretty(exit.cause))
        ),
        Effect.forkScoped
      )
    }

    return {
      url: `http://127.0.0.1:${port}/`,
      port,
      key,
      buffer,
      commandLine,
      exitCode: Deferred.await(exitCode),
      dropConnections: Effect.sync(() => nodeServer.closeAllConnections())
    }
  })
