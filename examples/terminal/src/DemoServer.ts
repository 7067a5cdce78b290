/**
 * The demo server: runs a command in a pseudo-terminal, keeps its output in a
 * registry buffer with keyframes, and serves the browser terminal page plus
 * the scrollback endpoints (SSE, WebSocket, plain GET / long-poll, info) with
 * `NodeReplayHttp`. The page types into the terminal over the WebSocket
 * (`TerminalControl`): one controlling tab at a time, the others watch.
 *
 * Safe by default: it listens on 127.0.0.1, reading and typing need the
 * random access token it prints (in the URL once; the page keeps it in an
 * HttpOnly cookie), `share` lets anyone who can reach it watch without the
 * token (typing still needs it), and every endpoint refuses a `Host` that is
 * not an IP literal, `localhost` or allowed (`allowedHosts`, against DNS
 * rebinding), and a browser `Origin` that is not the page's own.
 *
 * @since 0.1.0
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import type { ServeError } from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import type { BufferNotFound } from "@scrollback/core/ReplayRegistryError"
import * as NodeReplayHttp from "@scrollback/platform-node/NodeReplayHttp"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import type { InvalidHttpOptions } from "@scrollback/platform/ReplayHttpError"
import * as ReplayInteractive from "@scrollback/platform/ReplayInteractive"
import * as ReplayPty from "@scrollback/terminal/ReplayPty"
import type { PtySpawnError } from "@scrollback/terminal/ReplayPtyError"
import * as TerminalControl from "@scrollback/terminal/TerminalControl"
import * as TerminalKeyframes from "@scrollback/terminal/TerminalKeyframes"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Http from "node:http"
import { createRequire } from "node:module"
import type * as Net from "node:net"
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
 * The default address to listen on: `127.0.0.1` (this machine only).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_HOST = "127.0.0.1"

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
 * The terminal's size until a controlling page sets its own: 100 × 30.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_COLS = 100

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_ROWS = 30

/**
 * Lines of scrollback the keyframes carry: 1,000 (the page keeps 5,000).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SCROLLBACK = 1000

/**
 * The URL prefix of the scrollback endpoints: `/scrollback`.
 *
 * @since 0.1.0
 * @category constants
 */
export const PREFIX = "/scrollback"

/**
 * The cookie the page keeps the access token in (`ReplayHttp.DEFAULT_TOKEN_COOKIE`).
 *
 * @since 0.1.0
 * @category constants
 */
export const TOKEN_COOKIE: string = ReplayHttp.DEFAULT_TOKEN_COOKIE

/**
 * What runs in the terminal: the built-in producer (`src/producer.ts`, run by
 * Node with tsx) or any command (no shell: `bash` for a shell).
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
  // cluster mode (`src/cluster.ts`): another instance runs the command and writes the buffer; this one
  // only serves it (watching; typing goes to the instance that runs the terminal).
  | { readonly _tag: "Elsewhere"; readonly commandLine: string }

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Port; 0 picks a free port. Default {@link DEFAULT_PORT}. */
  readonly port?: number | undefined
  /** Address to listen on. Default {@link DEFAULT_HOST}. */
  readonly host?: string | undefined
  /** The buffer's key. Default {@link DEFAULT_KEY}. */
  readonly key?: string | undefined
  /** Bytes the buffer retains. Default {@link DEFAULT_CAPACITY}. */
  readonly capacity?: number | undefined
  /** Default: the built-in producer with its defaults. */
  readonly producer?: Producer | undefined
  /** The access token. Default: 32 random hexadecimal digits, new at every start. */
  readonly token?: string | undefined
  /** Anyone who can reach the server may watch without the token (typing still needs it). Default `false`. */
  readonly share?: boolean | undefined
  /** `Host` names to answer to besides IP literals and `localhost` (`ReplayHttp.AllowedHosts`). Default none. */
  readonly allowedHosts?: ReplayHttp.AllowedHosts | undefined
  /** The terminal's size until a controlling page sets its own. Default {@link DEFAULT_COLS} × {@link DEFAULT_ROWS}. */
  readonly cols?: number | undefined
  readonly rows?: number | undefined
  /** Options of the keyframes (the Unicode version is always `"11"`, as the page's). */
  readonly keyframes?: Omit<TerminalKeyframes.Options, "cols" | "rows" | "unicodeVersion"> | undefined
  /** Other options of the scrollback endpoints. */
  readonly http?: Omit<ReplayHttp.Options, "prefix" | "allowedHosts" | "allowedOrigins"> | undefined
  /**
   * cluster mode: the registry to create (or, with an `Elsewhere` producer, get) the buffer in and
   * serve, such as a `RedisRegistry` shared by several instances. Default: a new in-memory registry
   * that keeps ended buffers.
   */
  readonly registry?: ReplayRegistry.ReplayRegistry | undefined
}

/**
 * A running demo. The server, the terminal and the buffer live as long as
 * the scope `make` ran in.
 *
 * @since 0.1.0
 * @category models
 */
export interface DemoServer {
  /** `http://HOST:PORT/?token=TOKEN`: the page, which sets the token's cookie and drops it from the address bar. */
  readonly url: string
  /** `http://HOST:PORT/` */
  readonly baseUrl: string
  readonly port: number
  readonly key: string
  readonly token: string
  readonly share: boolean
  readonly buffer: ReplayBuffer.ReplayBuffer
  readonly keyframes: TerminalKeyframes.TerminalKeyframes
  /** The terminal's process; `undefined` on an instance whose producer runs `Elsewhere` (cluster mode). */
  readonly pty: ReplayPty.Pty | undefined
  readonly control: TerminalControl.TerminalControl
  /** What the page shows as the command. */
  readonly commandLine: string
  /**
   * Completes with the process's exit code once it exited (fails with the signal that killed it); never,
   * on an instance whose producer runs `Elsewhere`.
   */
  readonly exitCode: Effect.Effect<number, string>
  /**
   * Destroys every open connection (streams included), as a network cut
   * would: browsers see the stream break and reconnect by themselves.
   */
  readonly dropConnections: Effect.Effect<void>
}

const here = Path.dirname(fileURLToPath(import.meta.url))
const publicDir = Path.join(here, "..", "public")
const require = createRequire(import.meta.url)
const packageDir = (name: string) => Path.dirname(require.resolve(`${name}/package.json`))

/** The files the page needs: a fixed list, so no request can name another file. */
const staticFiles: ReadonlyArray<{ readonly route: `/${string}`; readonly file: string; readonly type: string }> = [
  { route: "/app.mjs", file: Path.join(publicDir, "app.mjs"), type: "text/javascript; charset=utf-8" },
  { route: "/style.css", file: Path.join(publicDir, "style.css"), type: "text/css; charset=utf-8" },
  // xterm.js and its addons, served from node_modules by this server: no CDN.
  {
    route: "/vendor/xterm/xterm.mjs",
    file: Path.join(packageDir("@xterm/xterm"), "lib", "xterm.mjs"),
    type: "text/javascript"
  },
  {
    route: "/vendor/xterm/xterm.css",
    file: Path.join(packageDir("@xterm/xterm"), "css", "xterm.css"),
    type: "text/css"
  },
  {
    route: "/vendor/xterm/addon-fit.mjs",
    file: Path.join(packageDir("@xterm/addon-fit"), "lib", "addon-fit.mjs"),
    type: "text/javascript"
  },
  {
    route: "/vendor/xterm/addon-unicode11.mjs",
    file: Path.join(packageDir("@xterm/addon-unicode11"), "lib", "addon-unicode11.mjs"),
    type: "text/javascript"
  }
]

const NO_CACHE = { "cache-control": "no-cache" }
const NO_STORE = { "cache-control": "no-store" }

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
    file: process.execPath,
    args: ["--import", tsx, Path.join(here, "producer.ts"), ...args],
    commandLine: `producer.ts ${args.join(" ")}`
  }
}

const quote = (arg: string) => /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`

/** The environment of the terminal: this one's, with `TERM` set by the PTY and a UTF-8 locale. */
const terminalEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value
  if (env.LANG === undefined || env.LANG === "" || env.LANG === "C" || env.LANG === "POSIX") env.LANG = "C.UTF-8"
  env.COLORTERM = "truecolor"
  return env
}

const PAGE_403 = `<!doctype html><meta charset="utf-8"><title>scrollback demo</title>
<p>This page needs the access token: open the URL the demo printed when it started (<code>…/?token=…</code>).</p>`

/**
 * Starts the demo: a registry with one buffer, the command in a PTY writing
 * into it, keyframes of its screen, and an HTTP server serving the page and
 * the endpoints.
 *
 * @example
 * ```ts
 * import { Console, Effect } from "effect"
 * import * as DemoServer from "./DemoServer.js"
 *
 * const program = Effect.gen(function*() {
 *   const demo = yield* DemoServer.make({ port: 0, producer: { _tag: "Command", command: "bash", args: [] } })
 *   yield* Console.log(`scrollback demo: ${demo.url}`)
 *   return yield* Effect.never
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  DemoServer,
  ServeError | InvalidHttpOptions | ReplayRegistry.CreateError | BufferNotFound | PtySpawnError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const key = options.key ?? DEFAULT_KEY
    const host = options.host ?? DEFAULT_HOST
    const share = options.share ?? false
    const token = options.token ?? Crypto.randomBytes(16).toString("hex")
    const secret = Redacted.make(token)
    const cols = options.cols ?? DEFAULT_COLS
    const rows = options.rows ?? DEFAULT_ROWS

    // The page's files, read once up front: a missing file fails the start, not a request.
    const files = staticFiles.map(({ file, route, type }) => ({ route, type, body: Fs.readFileSync(file) }))
    const index = Fs.readFileSync(Path.join(publicDir, "index.html"))

    // The demo keeps its buffer after the process ends, so the page can still show it.
    const registry = options.registry ??
      (yield* ReplayRegistry.make({ idleTimeout: Duration.infinity }).pipe(Effect.orDie))
    const producer = options.producer ?? { _tag: "BuiltIn" }
    const buffer = producer._tag === "Elsewhere" // cluster mode: another instance created it
      ? yield* registry.get(key)
      : yield* registry.create(key, { capacity: options.capacity ?? DEFAULT_CAPACITY })
    const keyframes = yield* TerminalKeyframes.make(buffer, {
      cols,
      rows,
      scrollback: DEFAULT_SCROLLBACK,
      ...options.keyframes,
      unicodeVersion: "11"
    }).pipe(Effect.orDie)

    const { args, commandLine, file } = producer._tag === "BuiltIn"
      ? builtInCommand(producer)
      : producer._tag === "Elsewhere"
      ? { args: [], commandLine: producer.commandLine, file: undefined }
      : {
        file: producer.command,
        args: producer.args,
        commandLine: [producer.command, ...producer.args].map(quote).join(" ")
      }

    const httpOptions: ReplayHttp.Options = {
      ...options.http,
      prefix: PREFIX,
      allowedHosts: options.allowedHosts ?? [],
      // Only the page itself: no other site's page may use these endpoints from a browser.
      allowedOrigins: "same-origin"
    }
    // Resolved here too, for the checks of the page's own routes.
    const http = yield* ReplayHttp.make(httpOptions)

    const config = JSON.stringify({ prefix: PREFIX, key, command: commandLine, share })
    /** The page's own routes: the same Host and Origin checks as the endpoints, the token for the page. */
    const guarded = (
      handler: (request: HttpServerRequest.HttpServerRequest) => HttpServerResponse.HttpServerResponse
    ) =>
    (request: HttpServerRequest.HttpServerRequest) =>
      Effect.sync(() => {
        const refused = ReplayHttp.checkRequest(http.options, request.headers)
        return refused !== undefined ? ReplayHttp.refusalResponse(refused) : handler(request)
      })
    const hasToken = (request: HttpServerRequest.HttpServerRequest) =>
      ReplayHttp.tokenMatches(secret, { headers: request.headers, url: request.url })
    const Pages = Layer.mergeAll(
      HttpLayerRouter.add(
        "GET",
        "/",
        guarded((request) => {
          const query = request.url.includes("?") ? new URLSearchParams(request.url.split("?")[1]) : undefined
          if (query?.has("token") === true) {
            // The token in the URL once: it becomes an HttpOnly cookie, and the address bar drops it.
            if (!hasToken(request)) {
              return HttpServerResponse.text(PAGE_403, { status: 401, contentType: "text/html", headers: NO_STORE })
            }
            return HttpServerResponse.empty({
              status: 303,
              headers: {
                location: "/",
                "set-cookie": `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
                ...NO_STORE
              }
            })
          }
          if (!share && !hasToken(request)) {
            return HttpServerResponse.text(PAGE_403, { status: 401, contentType: "text/html", headers: NO_STORE })
          }
          return HttpServerResponse.uint8Array(index, { contentType: "text/html; charset=utf-8", headers: NO_STORE })
        })
      ),
      HttpLayerRouter.add(
        "GET",
        "/demo.json",
        guarded(() => HttpServerResponse.text(config, { contentType: "application/json", headers: NO_STORE }))
      ),
      // Any other path: 404, after the same checks (a refused Host learns nothing, not even what is missing).
      HttpLayerRouter.add(
        "*",
        "/*",
        guarded(() => HttpServerResponse.text("not found", { status: 404, headers: NO_STORE }))
      ),
      ...files.map(({ body, route, type }) =>
        HttpLayerRouter.add(
          "GET",
          route,
          guarded(() => HttpServerResponse.uint8Array(body, { contentType: type, headers: NO_CACHE }))
        )
      )
    )

    // Who controls the terminal: typing needs the token.
    const control = yield* TerminalControl.make({ authorizeInput: ReplayHttp.accessToken(secret) })

    // Listen first: a taken port fails the start before the process runs.
    const nodeServer = Http.createServer()
    // Every socket, upgraded WebSockets included (the server forgets those), for `dropConnections`.
    const sockets = new Set<Net.Socket>()
    nodeServer.on("connection", (socket: Net.Socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })
    yield* Layer.build(
      NodeReplayHttp.serve(() => nodeServer, { port: options.port ?? DEFAULT_PORT, host }, {
        ...httpOptions,
        routes: Pages
      }).pipe(
        Layer.provide(Layer.succeed(ReplayInteractive.ReplayInteractive, control)),
        Layer.provide(share ? ReplayHttp.layerAllowAll : ReplayHttp.layerAccessToken(secret)),
        Layer.provide(Layer.succeed(ReplayRegistry.ReplayRegistry, registry))
      )
    )
    const address = nodeServer.address()
    const port = typeof address === "object" && address !== null ? address.port : 0

    // The process: killed (its whole process group) when the scope closes.
    // cluster mode: no process on the instances whose producer runs elsewhere (they serve the buffer).
    const pty = file === undefined
      ? undefined
      : yield* ReplayPty.run(buffer, file, args, { cols, rows, env: terminalEnv() })
    yield* control.register(key, pty === undefined ? { keyframes } : { keyframes, pty }).pipe(Effect.orDie)

    const shown = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host
    const baseUrl = `http://${shown}:${port}/`
    return {
      url: `${baseUrl}?token=${token}`,
      baseUrl,
      port,
      key,
      token,
      share,
      buffer,
      keyframes,
      pty,
      control,
      commandLine,
      exitCode: pty === undefined ?
        Effect.never :
        Effect.flatMap(
          pty.exit,
          (exit) => exit.signal === undefined ? Effect.succeed(exit.exitCode) : Effect.fail(`killed by ${exit.signal}`)
        ),
      dropConnections: Effect.sync(() => {
        for (const socket of sockets) {
          socket.destroy()
        }
      })
    }
  })
