/**
 * `pnpm demo:cluster` as a user runs it (`src/cluster.ts`): a real child process that starts two
 * instance processes over a real redis-server started here, real HTTP on 127.0.0.1, the page in
 * Debian's chromium, and a real SIGINT. The supervisor (and with it every instance and the
 * producer) is killed when the test's scope closes, also on failure.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import * as RedisServer from "./util/redisServer.js"

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
const WAIT_MS = 60_000
const CHROMIUM = "/usr/bin/chromium"

interface Demo {
  readonly child: ChildProcess
  readonly output: { stdout: string; stderr: string }
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `node --import tsx src/cluster.ts ...args`; stopped with the scope if still running. */
const spawnCluster = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Demo => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/cluster.ts", ...args], {
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
    // SIGINT first, so the supervisor stops its instances (which stop the producer); SIGKILL if it hangs.
    ({ child, exited }) =>
      Effect.promise(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill("SIGINT")
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000)
        await exited
        clearTimeout(timer)
      })
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

const fetchBytes = (url: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, { headers })
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      bytes: new Uint8Array(await response.arrayBuffer())
    }
  })

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const refused = (url: string) =>
  Effect.promise(() =>
    new Promise<boolean>((resolve) => {
      const { hostname, port } = new URL(url)
      const socket = net.connect(Number(port), hostname)
      socket.once("connect", () => {
        socket.destroy()
        resolve(false)
      })
      socket.once("error", () => resolve(true))
    })
  )

/** Reads an SSE response until `enough(text)` holds, then cancels it; the text read. */
const readSse = (url: string, headers: Record<string, string>, enough: (text: string) => boolean) =>
  Effect.promise(async () => {
    const response = await fetch(url, { headers })
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let body = ""
    while (!enough(body)) {
      const { done, value } = await reader.read()
      if (done) break
      body += decoder.decode(value, { stream: true })
    }
    await reader.cancel().catch(() => undefined)
    return body
  })

describe("pnpm demo:cluster", () => {
  it.scopedLive(
    "two instances over one Redis: the page and the endpoints on both, a resume across them, Ctrl-C stops all",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make
        const demo = yield* spawnCluster(["--redis", redis, "--instances", "2", "--port", "0", "--interval", "20"])
        const found = yield* poll("both instances' URLs", () => {
          if (demo.child.exitCode !== null) throw new Error(`the demo exited: ${demo.output.stderr}`)
          const found = [
            ...demo.output.stdout.matchAll(/^ {2}instance (\d): (http:\/\/127\.0\.0\.1:\d+\/)\?token=([0-9a-f]{32})/gm)
          ]
          return found.length === 2 ? found : undefined
        })
        const urls = found.map((m) => m[2])
        // One token for every instance: a page's cookie from one lets it resume on another.
        const token = found[0][3]
        assert.strictEqual(found[1][3], token)
        const get = (url: string, headers: Record<string, string> = {}) =>
          fetchBytes(url, { authorization: `Bearer ${token}`, ...headers })
        assert.strictEqual((yield* fetchBytes(`${urls[1]}scrollback/terminal/info`)).status, 401)
        assert.include(demo.output.stdout, `2 instance(s) over ${redis}, buffer "terminal"`)
        const [first, second] = urls
        assert.notStrictEqual(first, second)

        // The page and its configuration on both instances.
        for (const url of urls) {
          const page = yield* get(url)
          assert.strictEqual(page.status, 200)
          assert.strictEqual(page.type, "text/html; charset=utf-8")
          const config = JSON.parse(text((yield* get(`${url}demo.json`)).bytes))
          assert.strictEqual(config.prefix, "/scrollback")
          assert.strictEqual(config.key, "terminal")
          // Instance 2 runs no producer, and shows the command instance 1 runs.
          assert.strictEqual(config.command, "producer.ts --interval 20 --tasks 0 --exit-code 0")
        }

        // The producer runs on instance 1; instance 2 serves its output: the same epoch, the same bytes.
        const firstLine = text((yield* get(`${second}scrollback/terminal?offset=0&wait=20000`)).bytes)
        const pid = Number(/\(pid (\d+),/.exec(firstLine)?.[1])
        assert.isTrue(Number.isSafeInteger(pid) && isAlive(pid), firstLine)
        const info = JSON.parse(text((yield* get(`${first}scrollback/terminal/info`)).bytes))
        const infoOnSecond = JSON.parse(text((yield* get(`${second}scrollback/terminal/info`)).bytes))
        assert.strictEqual(infoOnSecond.epoch, info.epoch)
        // Instance 2 catches up with Redis before it answers: it has at least what instance 1 had.
        const range = `offset=0&limit=${info.total}`
        const onFirst = (yield* get(`${first}scrollback/terminal?${range}`)).bytes
        const onSecond = (yield* get(`${second}scrollback/terminal?${range}`)).bytes
        assert.strictEqual(onFirst.length, info.total)
        assert.deepStrictEqual(onSecond, onFirst)

        // A reader drops on instance 1 and resumes on instance 2 with Last-Event-ID: it continues exactly there.
        const before = yield* readSse(`${first}scrollback/terminal/sse`, { authorization: `Bearer ${token}` }, (body) =>
          /\n\nid: [^\n]+\ndata: [^\n]*\n\n/.test(body))
        const lastId = [...before.matchAll(/^id: (\S+)$/gm)].at(-1)![1]
        const resumed = yield* readSse(
          `${second}scrollback/terminal/sse`,
          { "last-event-id": lastId, authorization: `Bearer ${token}` },
          (body) =>
            body.includes("event: hello")
        )
        const [epoch, offset] = lastId.split(":")
        assert.strictEqual(epoch, info.epoch)
        assert.include(resumed, `"epoch":"${epoch}","offset":${offset},`)

        // The page, pointed at instance 2, shows the producer's output live.
        const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-chromium-"))
        const context = yield* Effect.acquireRelease(
          Effect.promise(() =>
            chromium.launchPersistentContext(userDataDir, {
              executablePath: CHROMIUM,
              headless: true,
              args: [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync"
              ]
            })
          ),
          (context) =>
            Effect.promise(async () => {
              await context.close().catch(() =>
                undefined
              )
              fs.rmSync(userDataDir, { recursive: true, force: true })
            })
        )
        const page = yield* Effect.promise(() => context.newPage())
        yield* Effect.promise(() => page.goto(`${second}?token=${token}`))
        const shown = yield* Effect.promise(() =>
          page.waitForFunction(
            (min) => {
              const state = (window as unknown as {
                scrollbackDemo: { state: { bytes: number; epoch: string | null; anomalies: Array<unknown> } }
              }).scrollbackDemo.state
              return state.bytes > min || state.anomalies.length > 0 ? { ...state } : false
            },
            info.total,
            { timeout: WAIT_MS, polling: 50 }
          ).then((handle) => handle.jsonValue())
        )
        assert.notStrictEqual(shown, false)
        if (shown === false) return
        assert.deepStrictEqual(shown.anomalies, [])
        assert.strictEqual(shown.epoch, info.epoch)

        // Ctrl-C: the supervisor stops every instance, and the first one stops the producer.
        demo.child.kill("SIGINT")
        yield* Effect.promise(() => demo.exited)
        for (const url of urls) assert.isTrue(yield* refused(url), `${url} is closed`)
        yield* poll("the producer to stop", () => isAlive(pid) ? undefined : true)
      }),
    180_000
  )

  it.scopedLive(
    "bad flags exit with code 2; an unreachable Redis exits with code 1 and says so",
    () =>
      Effect.gen(function*() {
        const bad = yield* spawnCluster(["--instances", "0"])
        assert.deepStrictEqual(yield* Effect.promise(() => bad.exited), { code: 2, signal: null })
        assert.include(bad.output.stderr, "--instances must be from 1 to 16, got 0")
        const unknown = yield* spawnCluster(["--replicas", "2"])
        assert.deepStrictEqual(yield* Effect.promise(() => unknown.exited), { code: 2, signal: null })
        const noRedis = yield* spawnCluster(["--redis", "redis://127.0.0.1:1", "--port", "0"])
        assert.deepStrictEqual(yield* Effect.promise(() => noRedis.exited), { code: 1, signal: null })
        assert.include(noRedis.output.stderr, "instance 1 could not start: the storage is unavailable")
      }),
    120_000
  )
})
