/**
 * `src/main.ts` as a user runs it: a real child process (Node + tsx), real HTTP on 127.0.0.1,
 * real producer processes, and a real SIGINT.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import WebSocket from "ws"

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
const fixture = path.join(root, "test", "fixtures", "lines.mjs")
const WAIT_MS = 30_000

interface Demo {
  readonly child: ChildProcess
  readonly output: { stdout: string; stderr: string }
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `node --import tsx src/main.ts ...args`; killed with the scope if still running. */
const spawnDemo = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Demo => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"]
      })
      const output = { stdout: "", stderr: "" }
      child.stdout!.on("data", (chunk) => output.stdout += String(chunk))
      child.stderr!.on("data", (chunk) => output.stderr += String(chunk))
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on("exit", (code, signal) => resolve({ code, signal }))
      )
      return { child, output, exited }
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

/** Polls `check` every 20 ms until it returns a value, failing after WAIT_MS with `what`. */
const poll = <A>(what: string, check: () => A | undefined | Promise<A | undefined>) =>
  Effect.promise(async () => {
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      const value = await check()
      if (value !== undefined) return value
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })

const awaitUrl = (demo: Demo) =>
  poll("the URL line", () => {
    if (demo.child.exitCode !== null) throw new Error(`the demo exited: ${demo.output.stderr}`)
    const match = /^scrollback demo: (http:\/\/127\.0\.0\.1:\d+\/)\?token=([0-9a-f]{32})$/m.exec(demo.output.stdout)
    return match === null ? undefined : { url: match[1], token: match[2] }
  })

const awaitExit = (demo: Demo) =>
  Effect.promise(() =>
    Promise.race([
      demo.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the demo did not exit")), WAIT_MS))
    ])
  )

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const get = (url: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, { headers, redirect: "manual" })
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      headers: response.headers,
      body: await response.text()
    }
  })

/** A raw HTTP request (fetch cannot set `Host`): status and body. */
const raw = (url: string, headers: Record<string, string>) =>
  Effect.promise(() =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const { hostname, pathname, port, search } = new URL(url)
      const request = http.request({ host: hostname, port: Number(port), path: pathname + search, headers }, (res) => {
        let body = ""
        res.on("data", (chunk) => body += String(chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
      })
      request.on("error", reject)
      request.end()
    })
  )

/** Opens a WebSocket (the `ws` client): the first messages, or the refused handshake's status and body. */
const openWs = (url: string, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    new Promise<{ status: number; body: string; messages: Array<any>; socket: WebSocket | undefined }>((resolve) => {
      const socket = new WebSocket(url.replace(/^http/, "ws"), { headers })
      const messages: Array<any> = []
      socket.on("unexpected-response", (_request, response) => {
        let body = ""
        response.on("data", (chunk: Buffer) => body += String(chunk))
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body, messages, socket: undefined }))
      })
      socket.on("error", () => {})
      socket.on("message", (data: Buffer, isBinary: boolean) => {
        if (!isBinary) messages.push(JSON.parse(String(data)))
        if (messages.some((m) => m.type === "control")) resolve({ status: 101, body: "", messages, socket })
      })
    })
  )

describe("pnpm demo", () => {
  it.scopedLive(
    "prints its URL with a token; the page, xterm and its addons; Ctrl-C stops the process with open streams",
    () =>
      Effect.gen(function*() {
        const demo = yield* spawnDemo(["--port", "0", "--interval", "20", "--capacity", "65536"])
        const { token, url } = yield* awaitUrl(demo)
        const bearer = { authorization: `Bearer ${token}` }

        // The token in the URL once: a cookie (HttpOnly, SameSite=Strict), and the address bar drops it.
        const withToken = yield* get(`${url}?token=${token}`)
        assert.strictEqual(withToken.status, 303)
        assert.strictEqual(withToken.headers.get("location"), "/")
        const cookie = withToken.headers.get("set-cookie") ?? ""
        assert.match(cookie, new RegExp(`^scrollback_token=${token}; HttpOnly; SameSite=Strict; Path=/$`))
        const page = yield* get(url, { cookie: `scrollback_token=${token}` })
        assert.strictEqual(page.status, 200)
        assert.strictEqual(page.type, "text/html; charset=utf-8")
        assert.include(page.body, "<div id=\"terminal\"></div>")
        assert.include(page.body, "\"@xterm/addon-fit\": \"/vendor/xterm/addon-fit.mjs\"")
        // Without the token (and without --share): no page, no endpoint.
        assert.strictEqual((yield* get(url)).status, 401)
        assert.strictEqual((yield* get(`${url}?token=${"0".repeat(32)}`)).status, 401)
        const refused = yield* get(`${url}scrollback/terminal/info`)
        assert.strictEqual(refused.status, 401)
        assert.deepStrictEqual(JSON.parse(refused.body).error, {
          _tag: "Denied",
          status: 401,
          message: "a valid access token is required"
        })

        const xterm = yield* get(`${url}vendor/xterm/xterm.mjs`)
        assert.strictEqual(xterm.status, 200)
        assert.strictEqual(xterm.type, "text/javascript")
        assert.include(xterm.body, "as Terminal}")
        assert.include((yield* get(`${url}vendor/xterm/addon-fit.mjs`)).body, "FitAddon")
        assert.include((yield* get(`${url}vendor/xterm/addon-unicode11.mjs`)).body, "Unicode11Addon")
        assert.strictEqual((yield* get(`${url}vendor/xterm/xterm.css`)).type, "text/css")
        assert.strictEqual((yield* get(`${url}app.mjs`)).type, "text/javascript; charset=utf-8")
        assert.strictEqual((yield* get(`${url}vendor/xterm/package.json`)).status, 404)
        assert.strictEqual((yield* get(`${url}../package.json`)).status, 404)
        const config = JSON.parse((yield* get(`${url}demo.json`)).body)
        assert.deepStrictEqual(config, {
          prefix: "/scrollback",
          key: "terminal",
          command: "producer.ts --interval 20 --tasks 0 --exit-code 0",
          share: false
        })
        const info = JSON.parse((yield* get(`${url}scrollback/terminal/info`, bearer)).body)
        assert.strictEqual(info.capacity, 65536)
        assert.isFalse(info.ended)

        // The built-in producer's first line carries its pid: a long-poll waits for it.
        const first = yield* get(`${url}scrollback/terminal?offset=0&wait=10000`, bearer)
        const pid = Number(/\(pid (\d+),/.exec(first.body)?.[1])
        assert.isTrue(Number.isSafeInteger(pid) && isAlive(pid), first.body)

        // An SSE stream and a terminal WebSocket stay open across Ctrl-C: the demo still exits, and the
        // process with it.
        const sse = yield* Effect.promise(async () => {
          const response = await fetch(`${url}scrollback/terminal/sse`, { headers: bearer })
          const reader = response.body!.getReader()
          await reader.read()
          return reader
        })
        const ws = yield* openWs(`${url}scrollback/terminal/ws?terminal=1`, bearer)
        assert.strictEqual(ws.status, 101)
        assert.deepStrictEqual(ws.messages.at(-1), {
          type: "control",
          role: "controller",
          canControl: true,
          controlled: true
        })
        demo.child.kill("SIGINT")
        const exit = yield* awaitExit(demo)
        assert.deepStrictEqual(exit, { code: 0, signal: null })
        assert.isFalse(isAlive(pid), "the process was stopped")
        yield* Effect.promise(() => sse.cancel().catch(() => undefined))
        ws.socket?.terminate()
      }),
    180_000
  )

  it.scopedLive(
    "safe by default: 127.0.0.1 only; other Hosts and Origins are refused on every endpoint (403, JSON)",
    () =>
      Effect.gen(function*() {
        const demo = yield* spawnDemo(["--port", "0", "--interval", "1000"])
        const { token, url } = yield* awaitUrl(demo)
        const { port } = new URL(url)
        const cookie = `scrollback_token=${token}`
        // Listening on the loopback only: another address of this machine refuses the connection.
        const external = Object.values(os.networkInterfaces()).flat().find((a) => a?.family === "IPv4" && !a.internal)
        if (external !== undefined) {
          const refused = yield* Effect.promise(() =>
            new Promise<string>((resolve) => {
              const socket = net.connect(Number(port), external.address)
              socket.on("connect", () => {
                socket.destroy()
                resolve("connected")
              })
              socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"))
            })
          )
          assert.strictEqual(refused, "ECONNREFUSED")
        }
        // DNS rebinding: a page on another name that resolves here sends its own Host.
        for (
          const path of ["", "demo.json", "app.mjs", "scrollback/terminal/info", "scrollback/terminal/sse", "nope"]
        ) {
          const answer = yield* raw(`${url}${path}`, { host: `evil.example:${port}`, cookie })
          assert.strictEqual(answer.status, 403, path)
          const body = JSON.parse(answer.body)
          assert.deepStrictEqual(body.error, { _tag: "HostNotAllowed", host: `evil.example:${port}` }, path)
        }
        assert.strictEqual((yield* raw(url, { host: `localhost:${port}`, cookie })).status, 200)
        const rebound = yield* raw(`${url}scrollback/terminal/ws?terminal=1`, {
          host: `evil.example:${port}`,
          cookie,
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="
        })
        assert.strictEqual(rebound.status, 403, "the WebSocket too")
        assert.strictEqual(JSON.parse(rebound.body).error._tag, "HostNotAllowed")
        // Another site's page: its Origin is refused, HTTP and WebSocket alike.
        const origin = { origin: "http://evil.example", cookie }
        for (const path of ["scrollback/terminal/info", "scrollback/terminal/sse", "demo.json"]) {
          const answer = yield* raw(`${url}${path}`, origin)
          assert.strictEqual(answer.status, 403, path)
          assert.strictEqual(JSON.parse(answer.body).error._tag, "OriginNotAllowed", path)
        }
        const ws = yield* openWs(`${url}scrollback/terminal/ws?terminal=1`, origin)
        assert.strictEqual(ws.status, 403)
        assert.deepStrictEqual(JSON.parse(ws.body).error, { _tag: "OriginNotAllowed", origin: "http://evil.example" })
        const sameOrigin = yield* openWs(`${url}scrollback/terminal/ws?terminal=1`, {
          origin: url.slice(0, -1),
          cookie
        })
        assert.strictEqual(sameOrigin.status, 101)
        sameOrigin.socket?.terminate()
        // Without the token, the WebSocket is refused before the upgrade.
        const anonymous = yield* openWs(`${url}scrollback/terminal/ws?terminal=1`)
        assert.strictEqual(anonymous.status, 401)
        demo.child.kill("SIGINT")
        assert.deepStrictEqual(yield* awaitExit(demo), { code: 0, signal: null })
      }),
    180_000
  )

  it.scopedLive("--share: anyone may watch without the token; typing still needs it", () =>
    Effect.gen(function*() {
      const demo = yield* spawnDemo(["--port", "0", "--interval", "1000", "--share"])
      const { token, url } = yield* awaitUrl(demo)
      yield* poll("the sharing line", () => demo.output.stdout.includes("shared read-only") || undefined)
      assert.strictEqual((yield* get(url)).status, 200)
      assert.strictEqual((yield* get(`${url}scrollback/terminal/info`)).status, 200)
      const watcher = yield* openWs(`${url}scrollback/terminal/ws?terminal=1&takeover=1`)
      assert.deepStrictEqual(watcher.messages.at(-1), {
        type: "control",
        role: "viewer",
        canControl: false,
        controlled: false
      })
      const typist = yield* openWs(`${url}scrollback/terminal/ws?terminal=1`, { cookie: `scrollback_token=${token}` })
      assert.strictEqual(typist.messages.at(-1).role, "controller")
      watcher.socket?.terminate()
      typist.socket?.terminate()
      demo.child.kill("SIGINT")
      assert.deepStrictEqual(yield* awaitExit(demo), { code: 0, signal: null })
    }), 180_000)

  it.scopedLive("runs the command after --, in a terminal, and reports its exit code", () =>
    Effect.gen(function*() {
      const gates = fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-gates-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(gates, { recursive: true, force: true })))
      const demo = yield* spawnDemo([
        "--port",
        "0",
        "--key",
        "job-1",
        "--",
        process.execPath,
        fixture,
        "3",
        "1",
        "5",
        gates
      ])
      const { token, url } = yield* awaitUrl(demo)
      const bearer = { authorization: `Bearer ${token}` }
      yield* poll("the exit line", () => demo.output.stdout.includes("the process exited with code 5") || undefined)
      const info = JSON.parse((yield* get(`${url}scrollback/job-1/info`, bearer)).body)
      assert.strictEqual(info.key, "job-1")
      assert.deepStrictEqual([info.ended, info.exitCode], ["failed", 5])
      const body = (yield* get(`${url}scrollback/job-1?offset=0`, bearer)).body
      // A terminal: the line discipline turns "\n" into "\r\n".
      assert.include(body, "line 003 done — 日本語 → 🎉\r\n")
      const config = JSON.parse((yield* get(`${url}demo.json`)).body)
      assert.strictEqual(config.command, `${process.execPath} ${fixture} 3 1 5 ${gates}`)
      demo.child.kill("SIGINT")
      assert.deepStrictEqual(yield* awaitExit(demo), { code: 0, signal: null })
    }), 180_000)

  it.scopedLive("refuses bad flags with exit code 2, and a taken port with exit code 1", () =>
    Effect.gen(function*() {
      const bad = yield* spawnDemo(["--port", "http"])
      assert.deepStrictEqual(yield* awaitExit(bad), { code: 2, signal: null })
      assert.include(bad.output.stdout + bad.output.stderr, "'http' is not a integer")

      const range = yield* spawnDemo(["--port", "70000"])
      assert.deepStrictEqual(yield* awaitExit(range), { code: 2, signal: null })
      assert.include(range.output.stdout + range.output.stderr, "--port must be an integer from 0 to 65535")

      const unknown = yield* spawnDemo(["--nope"])
      assert.deepStrictEqual(yield* awaitExit(unknown), { code: 2, signal: null })
      assert.include(unknown.output.stderr, "unknown flag --nope")

      const both = yield* spawnDemo(["--interval", "5", "--", "ls"])
      assert.deepStrictEqual(yield* awaitExit(both), { code: 2, signal: null })
      assert.include(both.output.stderr, "--interval and --tasks apply to the built-in producer")

      const help = yield* spawnDemo(["--help"])
      assert.deepStrictEqual(yield* awaitExit(help), { code: 0, signal: null })
      assert.include(help.output.stdout, "--allow-host")

      const missing = yield* spawnDemo(["--port", "0", "--", "no-such-command-here"])
      assert.deepStrictEqual(yield* awaitExit(missing), { code: 1, signal: null })
      assert.include(missing.output.stderr, "no-such-command-here")

      const first = yield* spawnDemo(["--port", "0", "--interval", "1000"])
      const port = /:(\d+)\/$/.exec((yield* awaitUrl(first)).url)![1]
      const second = yield* spawnDemo(["--port", port])
      assert.deepStrictEqual(yield* awaitExit(second), { code: 1, signal: null })
      assert.include(second.output.stderr, `cannot listen on 127.0.0.1:${port}`)
      first.child.kill("SIGINT")
      assert.deepStrictEqual(yield* awaitExit(first), { code: 0, signal: null })
    }), 180_000)

  it.scopedLive(
    "`pnpm demo -- sh -c …` (pnpm drops the --): the command keeps its own flags",
    () =>
      Effect.gen(function*() {
        const demo = yield* spawnDemo(["--port", "0", "sh", "-c", "echo from-sh; exit 4"])
        yield* awaitUrl(demo)
        yield* poll("the exit line", () => demo.output.stdout.includes("the process exited with code 4") || undefined)
        demo.child.kill("SIGINT")
        assert.deepStrictEqual(yield* awaitExit(demo), { code: 0, signal: null })
      }),
    180_000
  )
})
