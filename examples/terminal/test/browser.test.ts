/**
 * The demo page in a real browser: Debian's chromium driven by playwright-core, against the demo
 * server running in this process on 127.0.0.1, with a deterministic producer (test/fixtures/lines.mjs)
 * that the test holds and releases at chosen lines, so no step depends on timing.
 *
 * If /usr/bin/chromium is missing, these tests fail (they never skip): `apt-get install -y chromium`.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import type { Terminal } from "@xterm/xterm"
import { Effect, Exit, Option, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import * as DemoServer from "../src/DemoServer.js"

const CHROMIUM = "/usr/bin/chromium"
const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "lines.mjs")
/** How long any one condition may take to become true before the test fails. */
const WAIT_MS = 20_000

interface PageState {
  readonly epoch: string | null
  readonly next: number | null
  readonly connections: number
  readonly bytes: number
  readonly gaps: ReadonlyArray<{ readonly requested: number; readonly oldest: number }>
  readonly end: { readonly status: string; readonly reason?: string; readonly exitCode?: number } | null
  readonly anomalies: ReadonlyArray<unknown>
  readonly status: string
}

declare global {
  interface Window {
    term: Terminal
    scrollbackDemo: { readonly state: PageState }
    /** Installed by the test: the terminal's logical lines (wrapped rows joined), right-trimmed. */
    readScreen: () => Array<string>
  }
}

/** What the terminal shows for lines `from..to` of the fixture. */
const expectedLines = (from: number, to: number): Array<string> => {
  const lines: Array<string> = []
  for (let i = from; i <= to; i++) {
    const id = String(i).padStart(3, "0")
    lines.push(`✓ line ${id} done — 日本語 → 🎉`)
    if (i % 10 === 0) lines.push(`  long ${id} ${"abcdefghij".repeat(25)}`)
  }
  return lines
}

/** Runs in the page: xterm's buffer as text, one string per logical line. */
const installReadScreen = () => {
  window.readScreen = () => {
    const buffer = window.term.buffer.active
    const lines: Array<string> = []
    for (let y = 0; y < buffer.length; y++) {
      const line = buffer.getLine(y)
      if (line === undefined) continue
      const text = line.translateToString(false)
      if (line.isWrapped && lines.length > 0) lines[lines.length - 1] += text
      else lines.push(text)
    }
    const trimmed = lines.map((line) => line.trimEnd())
    while (trimmed.length > 0 && trimmed[trimmed.length - 1] === "") trimmed.pop()
    return trimmed
  }
}

const browser = Effect.acquireRelease(
  Effect.tryPromise(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install it with apt-get install -y chromium`)
    }
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-chromium-"))
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 720 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic"
      ]
    })
    await context.addInitScript(installReadScreen)
    return { context, userDataDir }
  }),
  ({ context, userDataDir }) =>
    Effect.promise(async () => {
      await context.close()
      fs.rmSync(userDataDir, { recursive: true, force: true })
    })
)

/** A directory for the producer's gates, removed with the scope. */
const gateDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-gates-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Waits until the producer is held before `line`. */
const awaitHeld = (dir: string, line: number) =>
  Effect.promise(async () => {
    const deadline = Date.now() + WAIT_MS
    while (!fs.existsSync(path.join(dir, `waiting-${line}`))) {
      if (Date.now() > deadline) throw new Error(`the producer never reached line ${line}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })

const release = (dir: string, line: number) => Effect.sync(() => fs.writeFileSync(path.join(dir, `go-${line}`), ""))

const readScreen = (page: Page) => Effect.promise(() => page.evaluate(() => window.readScreen()))
const readState = (page: Page) => Effect.promise(() => page.evaluate(() => window.scrollbackDemo.state))

/** Polls the page until `predicate(arg)` holds in it (or fails the test after WAIT_MS). */
const waitInPage = <A>(page: Page, predicate: (arg: A) => boolean, arg: A, what: string) =>
  Effect.tryPromise({
    try: () => page.waitForFunction(predicate as (arg: unknown) => boolean, arg, { timeout: WAIT_MS, polling: 50 }),
    catch: (cause) => new Error(`waiting for ${what}: ${String(cause)}`)
  })

/** Waits until the terminal shows exactly `lines` (the last one complete). */
const awaitScreen = (page: Page, lines: ReadonlyArray<string>, what: string) =>
  waitInPage(
    page,
    (expected: ReadonlyArray<string>) => {
      const screen = window.readScreen()
      return screen.length === expected.length && screen[screen.length - 1] === expected[expected.length - 1]
    },
    lines,
    what
  ).pipe(
    Effect.zipRight(readScreen(page)),
    Effect.map((screen) => assert.deepStrictEqual(screen, [...lines], what))
  )

const openPage = (context: BrowserContext, url: string) =>
  Effect.promise(async () => {
    const page = context.pages()[0] ?? await context.newPage()
    /** The `Last-Event-ID` header of each SSE request, in order (`undefined` when absent). */
    const sseRequests: Array<Promise<string | undefined>> = []
    /** SSE requests that failed at the network level (e.g. offline). */
    const sseFailures = { count: 0 }
    const isSse = (url: string) => new URL(url).pathname.endsWith("/sse")
    page.on("request", (request) => {
      if (isSse(request.url())) sseRequests.push(request.allHeaders().then((headers) => headers["last-event-id"]))
    })
    page.on("requestfailed", (request) => {
      if (isSse(request.url())) sseFailures.count++
    })
    await page.goto(url)
    return { page, sseRequests, sseFailures }
  })

const startDemo = (options: {
  readonly count: number
  readonly exitCode: number
  readonly holds: ReadonlyArray<number>
  readonly gates: string
  readonly capacity?: number
  readonly port?: number
}) =>
  DemoServer.make({
    port: options.port ?? 0,
    capacity: options.capacity,
    producer: {
      _tag: "Command",
      command: process.execPath,
      args: [fixture, String(options.count), "2", String(options.exitCode), options.gates, ...options.holds.map(String)]
    }
  })

/** Waits until at least one SSE request failed at the network level. */
const awaitSseFailure = (failures: { readonly count: number }) =>
  Effect.promise(async () => {
    const deadline = Date.now() + WAIT_MS
    while (failures.count === 0) {
      if (Date.now() > deadline) throw new Error("no SSE request failed while offline")
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })

describe("the demo page in chromium", () => {
  it.scopedLive("replays, follows, resumes after a cut, offline and a reload: every line exactly once", () =>
    Effect.gen(function*() {
      const { context } = yield* browser
      const gates = yield* gateDir
      const demo = yield* startDemo({ count: 80, exitCode: 0, holds: [20, 40, 60], gates })

      // 1. Load the page while the producer is held before line 20: it replays lines 1..19.
      yield* awaitHeld(gates, 20)
      const { page, sseFailures, sseRequests } = yield* openPage(context, demo.url)
      yield* awaitScreen(page, expectedLines(1, 19), "the replay of lines 1..19")
      assert.strictEqual((yield* readState(page)).connections, 1)

      // 2. Cut every connection: the stock EventSource reconnects by itself with Last-Event-ID,
      //    and live lines 20..39 arrive once.
      const before = yield* readState(page)
      yield* demo.dropConnections
      yield* waitInPage(page, () => window.scrollbackDemo.state.connections >= 2, undefined, "a reconnection")
      yield* release(gates, 20)
      yield* awaitHeld(gates, 40)
      yield* awaitScreen(page, expectedLines(1, 39), "lines 1..39 after the cut")
      const lastEventIds = yield* Effect.promise(() => Promise.all(sseRequests))
      assert.deepStrictEqual(lastEventIds, [undefined, `${before.epoch}:${before.next}`])

      // 3. Go offline, cut, let the producer print lines 40..59 meanwhile, come back online once
      //    a reconnection attempt has failed (so the browser really was cut off).
      yield* Effect.promise(() => context.setOffline(true))
      yield* demo.dropConnections
      yield* release(gates, 40)
      yield* awaitHeld(gates, 60)
      yield* awaitSseFailure(sseFailures)
      assert.strictEqual((yield* readState(page)).status, "reconnecting")
      assert.deepStrictEqual(yield* readScreen(page), expectedLines(1, 39), "nothing arrives while offline")
      yield* Effect.promise(() => context.setOffline(false))
      yield* awaitScreen(page, expectedLines(1, 59), "lines 1..59 after coming back online")
      const online = yield* readState(page)
      assert.isAtLeast(online.connections, 3)
      assert.deepStrictEqual(online.anomalies, [])
      assert.deepStrictEqual(online.gaps, [])
      assert.isNull(online.end)
      assert.isTrue(Option.isNone(yield* demo.buffer.ended), "the producer is still running")

      // 4. Reload: a fresh terminal replays from the oldest offset, then follows lines 60..80 live.
      yield* Effect.promise(() => page.reload())
      yield* awaitScreen(page, expectedLines(1, 59), "the replay after the reload")
      assert.strictEqual((yield* readState(page)).connections, 1)
      yield* release(gates, 60)
      assert.strictEqual(yield* demo.exitCode, 0)
      const all = [...expectedLines(1, 80), "── process finished (exit code 0) ──"]
      yield* awaitScreen(page, all, "every line once, then the end")
      const final = yield* readState(page)
      assert.deepStrictEqual(final.end, { status: "ended" })
      assert.strictEqual(final.status, "ended")
      assert.deepStrictEqual(final.anomalies, [])
      assert.strictEqual(final.next, yield* demo.buffer.total)
      const notice = yield* Effect.promise(() => page.locator(".notice.end").innerText())
      assert.include(notice, "finished (exit code 0)")
      yield* Effect.promise(() => page.screenshot({ path: "/tmp/demo.png" }))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("shows a gap when the bytes it missed were evicted, and a failed exit", () =>
    Effect.gen(function*() {
      const { context } = yield* browser
      const gates = yield* gateDir
      // 2 KiB: lines 1..9 fit; lines 10..80 (about 6 KB) evict them.
      const demo = yield* startDemo({ count: 80, exitCode: 3, holds: [10], gates, capacity: 2048 })

      yield* awaitHeld(gates, 10)
      const { page } = yield* openPage(context, demo.url)
      yield* awaitScreen(page, expectedLines(1, 9), "lines 1..9")
      const before = yield* readState(page)
      const requested = before.next
      assert.isNotNull(requested)

      // Offline while the producer writes three times the capacity and exits with code 3.
      yield* Effect.promise(() => context.setOffline(true))
      yield* demo.dropConnections
      yield* waitInPage(page, () => window.scrollbackDemo.state.status === "reconnecting", undefined, "offline")
      yield* release(gates, 10)
      assert.strictEqual(yield* demo.exitCode, 3)
      const oldest = yield* demo.buffer.oldest
      assert.isAbove(oldest, requested)
      yield* Effect.promise(() => context.setOffline(false))

      yield* waitInPage(page, () => window.scrollbackDemo.state.end !== null, undefined, "the end after the gap")
      const state = yield* readState(page)
      assert.deepStrictEqual(state.gaps, [{ requested, oldest }])
      assert.deepStrictEqual(state.end, { status: "failed", reason: "exited with code 3", exitCode: 3 })
      assert.strictEqual(state.status, "failed")
      assert.deepStrictEqual(state.anomalies, [])
      const lost = (oldest - requested).toLocaleString("en")
      const gapNotice = yield* Effect.promise(() => page.locator(".notice.gap").innerText())
      assert.include(gapNotice, `${lost} bytes were lost`)
      const failedNotice = yield* Effect.promise(() => page.locator(".notice.failed").innerText())
      assert.include(failedNotice, "exited with code 3")

      // The screen: lines 1..9, the gap line, the retained tail (from wherever it starts), the end line.
      const screen = yield* readScreen(page)
      assert.deepStrictEqual(screen.slice(0, 10), [
        ...expectedLines(1, 9),
        `── ${lost} bytes lost here (evicted before they were read) ──`
      ])
      assert.deepStrictEqual(screen.slice(-3), [...expectedLines(80, 80), "── process failed (exit code 3) ──"])
      yield* Effect.promise(() => page.screenshot({ path: "/tmp/demo-gap.png" }))

      // A reload replays what is retained, says that the start is gone, and shows the end.
      yield* Effect.promise(() => page.reload())
      yield* waitInPage(page, () => window.scrollbackDemo.state.end !== null, undefined, "the end after the reload")
      const reloaded = yield* readScreen(page)
      assert.strictEqual(
        reloaded[0],
        `── the first ${oldest.toLocaleString("en")} bytes are no longer retained; showing what is ──`
      )
      assert.deepStrictEqual(reloaded.slice(-3), [...expectedLines(80, 80), "── process failed (exit code 3) ──"])
      assert.deepStrictEqual((yield* readState(page)).gaps, [])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("starts over when the server comes back with another run (a new epoch), never splicing two runs", () =>
    Effect.gen(function*() {
      const { context } = yield* browser
      const gates = yield* gateDir
      const scopeA = yield* Scope.make()
      const first = yield* startDemo({ count: 30, exitCode: 0, holds: [10], gates }).pipe(Scope.extend(scopeA))
      yield* awaitHeld(gates, 10)
      const { page, sseFailures } = yield* openPage(context, first.url)
      yield* awaitScreen(page, expectedLines(1, 9), "the first run's lines 1..9")

      // The page is cut off while the first run's server goes away and another takes its port.
      yield* Effect.promise(() => context.setOffline(true))
      yield* first.dropConnections
      yield* awaitSseFailure(sseFailures)
      yield* Scope.close(scopeA, Exit.void)
      const second = yield* startDemo({ count: 3, exitCode: 0, holds: [], gates, port: first.port })
      assert.notStrictEqual(second.buffer.epoch, first.buffer.epoch)
      assert.strictEqual(yield* second.exitCode, 0)
      yield* Effect.promise(() => context.setOffline(false))

      // EventSource resumes with the old epoch → 409 → the page asks /info, sees the new epoch, starts over.
      yield* awaitScreen(page, [...expectedLines(1, 3), "── process finished (exit code 0) ──"], "the second run alone")
      const state = yield* readState(page)
      assert.strictEqual(state.epoch, second.buffer.epoch)
      assert.deepStrictEqual(state.anomalies, [])
      const notice = yield* Effect.promise(() => page.locator(".notice.info").innerText())
      assert.include(notice, "The producer restarted")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("shows the end when the end event was lost with the connection (the server answers 204)", () =>
    Effect.gen(function*() {
      const { context } = yield* browser
      const gates = yield* gateDir
      const demo = yield* startDemo({ count: 5, exitCode: 0, holds: [6], gates })
      yield* awaitHeld(gates, 6)
      const { page, sseFailures, sseRequests } = yield* openPage(context, demo.url)
      yield* awaitScreen(page, expectedLines(1, 5), "lines 1..5")

      // Cut off with every byte shown; the producer exits meanwhile.
      yield* Effect.promise(() => context.setOffline(true))
      yield* demo.dropConnections
      yield* awaitSseFailure(sseFailures)
      yield* release(gates, 6)
      assert.strictEqual(yield* demo.exitCode, 0)
      yield* Effect.promise(() => context.setOffline(false))

      yield* awaitScreen(page, [...expectedLines(1, 5), "── process finished (exit code 0) ──"], "the end")
      const state = yield* readState(page)
      assert.strictEqual(state.connections, 1, "the resume got no stream, only 204")
      assert.strictEqual(state.status, "ended")
      const lastEventIds = yield* Effect.promise(() => Promise.all(sseRequests))
      assert.include(lastEventIds, `${demo.buffer.epoch}:${yield* demo.buffer.total}`)
    }).pipe(Effect.provide(NodeContext.layer)))
})
