/**
 * A real server for the interactive tests: `NodeReplayHttp` on 127.0.0.1 (port 0) with `TerminalControl`,
 * a terminal (a real PTY and its keyframes) registered under a key, and WebSocket clients (`ws`) that record
 * everything they receive.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as NodeReplayHttp from "@scrollback/platform-node/NodeReplayHttp"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as ReplayProtocol from "@scrollback/platform/ReplayProtocol"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import WebSocket from "ws"
import * as ReplayPty from "../src/ReplayPty.js"
import * as TerminalControl from "../src/TerminalControl.js"
import * as TerminalKeyframes from "../src/TerminalKeyframes.js"

/** How long any one condition may take before the test fails (never a pass/fail by timing). */
export const WAIT_MS = 30_000

export const TOKEN = "test-token-0123456789"

export interface TerminalServer {
  readonly port: number
  readonly registry: ReplayRegistry.ReplayRegistry
  readonly control: TerminalControl.TerminalControl
  /** Scope of the whole server: closing it shuts the server down. */
  readonly scope: Scope.CloseableScope
}

export interface ServeOptions {
  readonly http?: ReplayHttp.Options | undefined
  /** Whether reading needs the token too (default: anyone may watch, the token is needed to type). */
  readonly readNeedsToken?: boolean | undefined
  readonly autoControl?: boolean | undefined
}

/** The server, in a scope of its own (closed with the test's scope, or earlier by the test). */
export const serve = (options?: ServeOptions): Effect.Effect<TerminalServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.acquireRelease(Scope.make(), (scope, exit) => Scope.close(scope, exit))
    const token = Redacted.make(TOKEN)
    const registry = yield* Scope.extend(Effect.orDie(ReplayRegistry.make()), scope)
    const context = yield* Layer.buildWithScope(
      NodeReplayHttp.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }).pipe(
        Layer.provideMerge(ReplayHttp.layer(options?.http)),
        Layer.provideMerge(
          TerminalControl.layer({ authorizeInput: ReplayHttp.accessToken(token), autoControl: options?.autoControl })
        ),
        Layer.provide(options?.readNeedsToken === true ? ReplayHttp.layerAccessToken(token) : ReplayHttp.layerAllowAll),
        Layer.provide(Layer.succeed(ReplayRegistry.ReplayRegistry, registry))
      ),
      scope
    ).pipe(Effect.orDie)
    const server = Context.get(context, HttpServer.HttpServer)
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    return { port, registry, control: Context.get(context, TerminalControl.TerminalControl), scope }
  })

export interface Term {
  readonly buffer: ReplayBuffer.ReplayBuffer
  readonly keyframes: TerminalKeyframes.TerminalKeyframes
  readonly pty: ReplayPty.Pty
}

/** A shell (`sh`, prompt `$ `) in a PTY, its keyframes, registered under `key`. */
export const shell = (
  server: TerminalServer,
  key: string,
  options?: {
    readonly capacity?: number
    readonly file?: string
    readonly args?: ReadonlyArray<string>
    readonly cols?: number
    readonly rows?: number
    readonly keyframes?: TerminalKeyframes.Options
    readonly env?: Record<string, string>
  }
): Effect.Effect<Term, never, Scope.Scope> =>
  Effect.gen(function*() {
    const cols = options?.cols ?? 80
    const rows = options?.rows ?? 24
    const buffer = yield* Effect.orDie(server.registry.create(key, { capacity: options?.capacity ?? 1024 * 1024 }))
    const keyframes = yield* Effect.orDie(TerminalKeyframes.make(buffer, { cols, rows, ...options?.keyframes }))
    const pty = yield* Effect.orDie(
      ReplayPty.run(buffer, options?.file ?? "sh", options?.args ?? [], {
        cols,
        rows,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", PS1: "$ ", LANG: "C.UTF-8", ...options?.env }
      })
    )
    yield* Effect.orDie(server.control.register(key, { keyframes, pty }))
    return { buffer, keyframes, pty }
  })

export type Received =
  | { readonly kind: "text"; readonly json: any }
  | { readonly kind: "binary"; readonly offset: number; readonly bytes: Uint8Array }

/** A WebSocket client that records every message; `waitFor` finds the first after a mark. */
export class Client {
  readonly messages: Array<Received> = []
  closed: { readonly code: number; readonly reason: string } | undefined = undefined
  /** The HTTP status of a refused upgrade, and its body. */
  refused: { readonly status: number; readonly body: string } | undefined = undefined
  private readonly listeners = new Set<() => void>()
  private readonly decoder = new TextDecoder()

  constructor(readonly socket: WebSocket) {
    socket.binaryType = "nodebuffer"
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const frame = ReplayProtocol.readWsFrame(new Uint8Array(data))!
        this.messages.push({ kind: "binary", offset: frame.offset, bytes: new Uint8Array(frame.bytes) })
      } else {
        this.messages.push({ kind: "text", json: JSON.parse(data.toString("utf8")) })
      }
      this.notify()
    })
    socket.on("unexpected-response", (_request, response) => {
      let body = ""
      response.on("data", (chunk: Buffer) => body += chunk.toString("utf8"))
      response.on("end", () => {
        this.refused = { status: response.statusCode ?? 0, body }
        this.notify()
      })
    })
    socket.on("close", (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString("utf8") }
      this.notify()
    })
    socket.on("error", () => {})
  }

  private notify(): void {
    for (const listener of this.listeners) listener()
  }

  /** Resolves when `predicate` holds (checked on every message and close), or fails after WAIT_MS. */
  until<A>(predicate: () => A | undefined, what: string): Effect.Effect<A> {
    return Effect.async<A>((resume) => {
      const check = () => {
        const value = predicate()
        if (value !== undefined) {
          cleanup()
          resume(Effect.succeed(value))
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        resume(Effect.dieMessage(`waited ${WAIT_MS} ms for ${what}; got ${this.describe()}`))
      }, WAIT_MS)
      const cleanup = () => {
        clearTimeout(timer)
        this.listeners.delete(check)
      }
      this.listeners.add(check)
      check()
      return Effect.sync(cleanup)
    })
  }

  describe(): string {
    const texts = this.messages.filter((m) => m.kind === "text").map((m) => JSON.stringify(m.json).slice(0, 200))
    return `${texts.join(" ")} | output ${JSON.stringify(this.output().slice(-300))} | closed ${
      JSON.stringify(this.closed)
    } | refused ${JSON.stringify(this.refused)}`
  }

  /** The first text message of this `type` (and matching `where`), waiting for it. */
  text(type: string, where: (json: any) => boolean = () => true): Effect.Effect<any> {
    return this.until(
      () =>
        this.messages.find((m) => m.kind === "text" && m.json.type === type && where(m.json))?.kind === "text"
          ? (this.messages.find((m) => m.kind === "text" && m.json.type === type && where(m.json)) as any).json
          : undefined,
      `a ${type} message`
    )
  }

  texts(type: string): Array<any> {
    return this.messages.flatMap((m) => m.kind === "text" && m.json.type === type ? [m.json] : [])
  }

  /** The last `control` message. */
  get control(): any {
    return this.texts("control").at(-1)
  }

  /** The binary bytes received, in order, as text. */
  output(): string {
    const parts: Array<Uint8Array> = []
    for (const m of this.messages) if (m.kind === "binary") parts.push(m.bytes)
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of parts) {
      all.set(p, at)
      at += p.length
    }
    return this.decoder.decode(all)
  }

  /** Waits until the output matches `pattern`. */
  outputMatches(pattern: RegExp): Effect.Effect<string> {
    return this.until(() => pattern.test(this.output()) ? this.output() : undefined, `output matching ${pattern}`)
  }

  awaitClose(): Effect.Effect<{ readonly code: number; readonly reason: string }> {
    return this.until(() => this.closed, "the close")
  }

  send(data: string | Uint8Array): void {
    this.socket.send(data)
  }

  sendJson(message: unknown): void {
    this.socket.send(JSON.stringify(message))
  }
}

/** Opens a WebSocket (waits for the open, a refusal or a close), closed with the scope. */
export const connect = (
  port: number,
  path: string,
  headers?: Record<string, string>
): Effect.Effect<Client, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new Client(new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers }))),
    (client) => Effect.sync(() => client.socket.terminate())
  ).pipe(
    Effect.tap((client) =>
      Effect.async<void>((resume) => {
        const done = () => resume(Effect.void)
        if (client.socket.readyState === WebSocket.OPEN) return done()
        client.socket.once("open", done)
        client.socket.once("close", done)
        const poll = setInterval(() => {
          if (client.refused !== undefined) {
            clearInterval(poll)
            done()
          }
        }, 10)
        return Effect.sync(() => clearInterval(poll))
      })
    )
  )

/** `Authorization` header with the test token. */
export const withToken = { authorization: `Bearer ${TOKEN}` }

/** Waits until the terminal's state satisfies `predicate`, polling (the state changes in other fibers). */
export const awaitState = (
  server: TerminalServer,
  key: string,
  predicate: (state: TerminalControl.State) => boolean,
  what: string
): Effect.Effect<TerminalControl.State> =>
  Effect.gen(function*() {
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      const state = yield* server.control.state(key)
      if (state._tag === "Some" && predicate(state.value)) return state.value
      if (Date.now() > deadline) return yield* Effect.dieMessage(`waited for ${what}: ${JSON.stringify(state)}`)
      yield* Effect.sleep(10)
    }
  })
