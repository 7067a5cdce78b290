/**
 * `src/main.ts` as a user runs it: a real child process (Node + tsx), real HTTP on 127.0.0.1,
 * real producer processes, and a real SIGINT.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

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
    return /^scrollback demo: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(demo.output.stdout)?.[1]
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

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

describe("pnpm demo", () => {
  it.scopedLive(
    "prints its URL, serves the page, xterm and the endpoints, and Ctrl-C stops the producer with open streams",
    () =>
      Effect.gen(function*() {
        const demo = yield* spawnDemo(["--port", "0", "--interval", "20", "--capacity", "65536"])
        const url = yield* awaitUrl(demo)

        const page = yield* get(url)
        assert.strictEqual(page.status, 200)
        assert.strictEqual(page.type, "text/html; charset=utf-8")
        assert.include(page.body, "<div id=\"terminal\"></div>")
        assert.include(page.body, "\"@xterm/xterm\": \"/vendor/xterm/xterm.mjs\"")
        const xterm = yield* get(`${url}vendor/xterm/xterm.mjs`)
        assert.strictEqual(xterm.status, 200)
        assert.strictEqual(xterm.type, "text/javascript")
        assert.include(xterm.body, "as Terminal}")
        assert.strictEqual((yield* get(`${url}vendor/xterm/xterm.css`)).type, "text/css")
        assert.strictEqual((yield* get(`${url}app.mjs`)).type, "text/javascript; charset=utf-8")
        assert.strictEqual((yield* get(`${url}vendor/xterm/package.json`)).status, 404)
        assert.strictEqual((yield* get(`${url}../package.json`)).status, 404)
        const config = JSON.parse((yield* get(`${url}demo.json`)).body)
        assert.deepStrictEqual(config, {
          prefix: "/scrollback",
          key: "terminal",
          command: "producer.ts --interval 20 --tasks 0 --exit-code 0"
        })
        const info = JSON.parse((yield* get(`${url}scrollback/terminal/info`)).body)
        assert.strictEqual(info.capacity, 65536)
        assert.isFalse(info.ended)

        // The built-in producer's first line carries its pid: a long-poll waits for it.
        const first = yield* get(`${url}scrollback/terminal?offset=0&wait=10000`)
        const pid = Number(/\(pid (\d+),/.exec(first.body)?.[1])
        assert.isTrue(Number.isSafeInteger(pid) && isAlive(pid), first.body)

        // An SSE stream stays open across Ctrl-C: the demo must still exit, and take the producer with it.
        const sse = yield* Effect.promise(async () => {
          const response = await fetch(`${url}scrollback/terminal/sse`)
          const reader = response.body!.getReader()
          await reader.read()
          return reader
        })
        // So does an open WebSocket session (a raw upgrade: Node 20 has no WebSocket client).
        const ws = yield* Effect.promise(() =>
          new Promise<net.Socket>((resolve, reject) => {
            const { hostname, port } = new URL(url)
            const socket = net.connect(Number(port), hostname, () => {
              socket.write(
                "GET /scrollback/terminal/ws HTTP/1.1\r\n" +
                  `Host: ${hostname}:${port}\r\n` +
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
              )
            })
            let head = ""
            socket.on("data", (chunk) => {
              head += chunk.toString("latin1")
              if (head.includes("\r\n\r\n")) {
                if (head.startsWith("HTTP/1.1 101")) resolve(socket)
                else reject(new Error(head))
              }
            })
            socket.on("error", reject)
          })
        )
        demo.child.kill("SIGINT")
        const exit = yield* awaitExit(demo)
        assert.deepStrictEqual(exit, { code: 0, signal: null })
        assert.isFalse(isAlive(pid), "the producer was stopped")
        yield* Effect.promise(() => sse.cancel().catch(() => undefined))
        ws.destroy()
      })
  )

  it.scopedLive("runs the command after --, and reports its exit code", () =>
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
      const url = yield* awaitUrl(demo)
      yield* poll("the exit line", () => demo.output.stdout.includes("producer exited with code 5") || undefined)
      const info = JSON.parse((yield* get(`${url}scrollback/job-1/info`)).body)
      assert.strictEqual(info.key, "job-1")
      assert.notStrictEqual(info.ended, false)
      const body = (yield* get(`${url}scrollback/job-1?offset=0`)).body
      assert.include(body, "line 003 done — 日本語 → 🎉\n")
      const config = JSON.parse((yield* get(`${url}demo.json`)).body)
      assert.strictEqual(config.command, `${process.execPath} ${fixture} 3 1 5 ${gates}`)
      demo.child.kill("SIGINT")
      assert.deepStrictEqual(yield* awaitExit(demo), { code: 0, signal: null })
    }))

  it.scopedLive("refuses bad flags with exit code 2, and a taken port with exit code 1", () =>
    Effect.gen(function*() {
      const bad = yield* spawnDemo(["--port", "http"])
      assert.deepStrictEqual(yield* awaitExit(bad), { code: 2, signal: null })
      assert.include(bad.output.stderr, "--port must be an integer from 0 to 65535")
      assert.include(bad.output.stderr, "Usage: pnpm demo")

      const help = yield* spawnDemo(["--help"])
      assert.deepStrictEqual(yield* awaitExit(help), { code: 0, signal: null })
      assert.include(help.output.stdout, "Usage: pnpm demo")

      const first = yield* spawnDemo(["--port", "0", "--interval", "1000"])
      const port = /:(\d+)\/$/.exec(yield* awaitUrl(first))![1]
      const second = yield* spawnDemo(["--port", port])
      assert.deepStrictEqual(yield* awaitExit(second), { code: 1, signal: null })
      assert.include(second.output.stderr, `cannot listen on 127.0.0.1:${port}`)
      first.child.kill("SIGINT")
      assert.deepStrictEqual(yield* awaitExit(first), { code: 0, signal: null })
    }))
})
