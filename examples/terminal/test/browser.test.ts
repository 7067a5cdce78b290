/**
 * The demo page in a real browser: Debian's chromium driven by playwright-core, against the demo server
 * running in this process (real PTYs, real sockets on 127.0.0.1). Producers are deterministic and held by
 * the test (gate files, or bytes written to the PTY), so no step depends on timing; every wait is for a
 * condition, bounded by WAIT_MS only to fail.
 *
 * If /usr/bin/chromium is missing, these tests fail (they never skip): `apt-get install -y chromium`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ReplayStream from "@scrollback/platform/ReplayStream"
import type * as Unicode11 from "@xterm/addon-unicode11"
import type * as XtermHeadless from "@xterm/headless"
import type { Terminal } from "@xterm/xterm"
import { Effect, Exit, Option, Scope, Stream } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import * as DemoServer from "../src/DemoServer.js"
import { makeChunks } from "./fixtures/screenLog.mjs"

const CHROMIUM = "/usr/bin/chromium"
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures")
/** How long any one condition may take to become true before the test fails. */
const WAIT_MS = 30_000

interface PageState {
  readonly epoch: string | null
  readonly next: number | null
  readonly role: "controller" | "viewer" | null
  readonly canControl: boolean
  readonly controlled: boolean
  readonly connections: number
  readonly terminals: number
  readonly snapshots: number
  readonly sent: number
  readonly gaps: ReadonlyArray<{ readonly requested: number; readonly oldest: number }>
  readonly rejected: ReadonlyArray<{ readonly request: string; readonly reason: string }>
  readonly closes: ReadonlyArray<number>
  readonly end: { readonly status: string; readonly reason?: string; readonly exitCode?: number } | null
  readonly anomalies: ReadonlyArray<unknown>
  readonly status: string
}

interface Extracted {
  readonly cols: number
  readonly rows: number
  readonly type: string
  readonly cursor: readonly [number, number]
  readonly modes: string
  readonly screen: ReadonlyArray<string>
  readonly normal: ReadonlyArray<string>
}

declare global {
  interface Window {
    term: Terminal
    scrollbackDemo: { readonly state: PageState; readonly dropAndResume: () => void }
    /** Installed by the test: the terminal's logical lines (wrapped rows joined), right-trimmed. */
    readScreen: () => Array<string>
    /** Installed by the test: every cell of the screen and of the last lines of the normal buffer. */
    extractScreen: (term: unknown, tail: number) => Extracted
  }
}

/**
 * What a terminal shows, cell by cell: characters, widths, colours (with their modes) and attributes of
 * the active screen, the cursor, the modes, and the last `tail` lines of the normal buffer. A blank cell is
 * what it looks like: its background (and its foreground attributes when they show). Runs in the page (on
 * xterm.js) and in Node (on @xterm/headless): the same API.
 */
const extractScreen = (term: any, tail: number): Extracted => {
  const cellOf = (line: any, x: number): string => {
    const cell = line?.getCell(x)
    if (cell === undefined) return "-"
    const showsForeground = cell.isInverse() || cell.isUnderline() || cell.isStrikethrough() || cell.isOverline()
    if (cell.getChars() === "" && !showsForeground) {
      return `_${cell.getWidth()}:${cell.getBgColorMode()}:${cell.getBgColor()}`
    }
    return [
      cell.getChars() === "" ? " " : cell.getChars(),
      cell.getWidth(),
      cell.getFgColorMode(),
      cell.getFgColor(),
      cell.getBgColorMode(),
      cell.getBgColor(),
      cell.isBold(),
      cell.isDim(),
      cell.isItalic(),
      cell.isUnderline(),
      cell.isBlink(),
      cell.isInverse(),
      cell.isInvisible(),
      cell.isStrikethrough(),
      cell.isOverline()
    ].map((v) => typeof v === "number" && !Number.isInteger(v) ? String(v) : v === 0 || v === false ? 0 : v).join(":")
  }
  const rowOf = (buffer: any, y: number): string => {
    const line = buffer.getLine(y)
    const cells: Array<string> = []
    for (let x = 0; x < term.cols; x++) cells.push(cellOf(line, x))
    return `${line?.isWrapped === true ? "W" : "-"}|${cells.join(" ")}`
  }
  const active = term.buffer.active
  const screen: Array<string> = []
  for (let row = 0; row < term.rows; row++) screen.push(rowOf(active, active.baseY + row))
  const normal = term.buffer.normal
  const lines: Array<string> = []
  for (let y = Math.max(0, normal.length - tail); y < normal.length; y++) lines.push(rowOf(normal, y))
  return {
    cols: term.cols,
    rows: term.rows,
    type: active.type,
    cursor: [active.cursorX, active.cursorY],
    modes: JSON.stringify(term.modes),
    screen,
    normal: lines
  }
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

/** A chromium with a fresh profile (so: no cookie, no token), closed with the scope. */
const browser = Effect.acquireRelease(
  Effect.tryPromise(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install it with apt-get install -y chromium`)
    }
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-chromium-"))
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1000, height: 640 },
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
    await context.addInitScript({ content: `window.extractScreen = ${extractScreen.toString()}` })
    return { context, userDataDir }
  }),
  ({ context, userDataDir }) =>
    Effect.promise(async () => {
      await context.close()
      fs.rmSync(userDataDir, { recursive: true, force: true })
    })
)

const readScreen = (page: Page) => Effect.promise(() => page.evaluate(() => window.readScreen()))
const readState = (page: Page) => Effect.promise(() => page.evaluate(() => window.scrollbackDemo.state))

/** Polls the page until `predicate(arg)` holds in it (or fails the test after WAIT_MS). */
const waitInPage = <A>(page: Page, predicate: (arg: A) => boolean, arg: A, what: string) =>
  Effect.tryPromise({
    try: () => page.waitForFunction(predicate as (arg: unknown) => boolean, arg, { timeout: WAIT_MS, polling: 50 }),
    catch: (cause) => new Error(`waiting for ${what}: ${String(cause)}`)
  })

/** Waits until the terminal shows a line equal to `line`. */
const awaitLine = (page: Page, line: string) =>
  waitInPage(
    page,
    (expected: string) => window.readScreen().includes(expected),
    line,
    `the line ${JSON.stringify(line)}`
  )

const openPage = (context: BrowserContext, url: string, reuse = true) =>
  Effect.promise(async () => {
    const page = (reuse ? context.pages()[0] : undefined) ?? await context.newPage()
    await page.goto(url)
    await page.waitForFunction(() => window.scrollbackDemo?.state.connections >= 1, undefined, { timeout: WAIT_MS })
    return page
  })

/** Types into the page's terminal as a user does (focus, keys, Enter). */
const typeLine = (page: Page, text: string) =>
  Effect.promise(async () => {
    await page.click("#terminal")
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")
  })

/** The page's terminal, cell by cell, once xterm parsed everything it was given. */
const extractPage = (page: Page, tail: number) =>
  Effect.promise(() =>
    page.evaluate(async (lines) => {
      await new Promise<void>((resolve) => window.term.write("", resolve))
      return window.extractScreen(window.term, lines)
    }, tail)
  )

const require = createRequire(import.meta.url)

/** A reference @xterm/headless terminal (Unicode 11, as the page and the server's) fed the whole log. */
const referenceOf = (log: Uint8Array, cols: number, rows: number) =>
  Effect.promise(async () => {
    const { Terminal: Headless } = require("@xterm/headless") as typeof XtermHeadless
    const { Unicode11Addon } = require("@xterm/addon-unicode11") as typeof Unicode11
    const term = new Headless({ cols, rows, scrollback: 5000, allowProposedApi: true })
    term.loadAddon(new Unicode11Addon())
    term.unicode.activeVersion = "11"
    // In pieces that never end inside a UTF-8 sequence.
    for (let start = 0; start < log.length;) {
      let end = Math.min(log.length, start + 65536)
      while (end < log.length && end > start && (log[end] & 0xc0) === 0x80) end--
      await new Promise<void>((resolve) => term.write(log.subarray(start, end), resolve))
      start = end
    }
    return term
  })

const assertSameScreen = (page: Extracted, reference: Extracted, what: string) => {
  assert.deepStrictEqual(
    { cols: page.cols, rows: page.rows, type: page.type, cursor: page.cursor, modes: page.modes },
    {
      cols: reference.cols,
      rows: reference.rows,
      type: reference.type,
      cursor: reference.cursor,
      modes: reference.modes
    },
    what
  )
  for (let row = 0; row < reference.rows; row++) {
    assert.strictEqual(page.screen[row], reference.screen[row], `${what}: screen row ${row}`)
  }
  assert.strictEqual(page.normal.length, reference.normal.length, `${what}: normal buffer lines`)
  for (let i = 0; i < reference.normal.length; i++) {
    assert.strictEqual(
      page.normal[i],
      reference.normal[i],
      `${what}: normal buffer line ${i - reference.normal.length}`
    )
  }
}

// --- producers held by the test -----------------------------------------------------------------------

/** A directory for the lines producer's gates, removed with the scope. */
const gateDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-gates-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Waits until the lines producer is held before `line`. */
const awaitHeld = (dir: string, line: number) =>
  Effect.promise(async () => {
    const deadline = Date.now() + WAIT_MS
    while (!fs.existsSync(path.join(dir, `waiting-${line}`))) {
      if (Date.now() > deadline) throw new Error(`the producer never reached line ${line}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })

const release = (dir: string, line: number) => Effect.sync(() => fs.writeFileSync(path.join(dir, `go-${line}`), ""))

/** What the terminal shows for lines `from..to` of the lines producer. */
const expectedLines = (from: number, to: number): Array<string> => {
  const lines: Array<string> = []
  for (let i = from; i <= to; i++) {
    const id = String(i).padStart(3, "0")
    lines.push(`✓ line ${id} done — 日本語 → 🎉`)
    if (i % 10 === 0) lines.push(`  long ${id} ${"abcdefghij".repeat(25)}`)
  }
  return lines
}

/** Waits until the terminal shows exactly `lines`. */
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

const linesDemo = (options: {
  readonly count: number
  readonly exitCode: number
  readonly holds: ReadonlyArray<number>
  readonly gates: string
  readonly port?: number
}) =>
  DemoServer.make({
    port: options.port ?? 0,
    producer: {
      _tag: "Command",
      command: process.execPath,
      args: [
        path.join(fixtures, "lines.mjs"),
        String(options.count),
        "2",
        String(options.exitCode),
        options.gates,
        ...options.holds.map(String)
      ]
    }
  })

describe("the demo page in chromium", () => {
  it.scopedLive(
    "typing shows the echo in this page and a second one; the viewer cannot type; take-over moves control",
    () =>
      Effect.gen(function*() {
        const { context } = yield* browser
        const demo = yield* DemoServer.make({
          port: 0,
          producer: { _tag: "Command", command: "bash", args: ["--norc", "--noprofile"] }
        })
        // The URL with the token: the page gets its cookie, and control (nobody has it yet).
        const first = yield* openPage(context, demo.url)
        assert.strictEqual(new URL(first.url()).search, "", "the token left the address bar")
        yield* waitInPage(first, () => window.scrollbackDemo.state.role === "controller", undefined, "control")
        yield* typeLine(first, "echo hel''lo")
        yield* awaitLine(first, "hello")

        // A second tab (the same cookie): it watches, live, at the controller's size.
        const second = yield* openPage(context, demo.baseUrl, false)
        yield* waitInPage(second, () => window.scrollbackDemo.state.role === "viewer", undefined, "a viewer")
        const viewer = yield* readState(second)
        assert.isTrue(viewer.canControl)
        assert.isTrue(viewer.controlled)
        yield* awaitLine(second, "hello")

        // The viewer types: nothing is sent. The controller's next line shows in both, the viewer's nowhere.
        yield* typeLine(second, "echo no''pe")
        yield* typeLine(first, "echo do''ne")
        yield* awaitLine(first, "done")
        yield* awaitLine(second, "done")
        assert.strictEqual((yield* readState(second)).sent, 0, "the viewer sent nothing")
        assert.notInclude((yield* readScreen(first)).join("\n"), "nope")
        assert.notInclude((yield* readScreen(second)).join("\n"), "nope")

        // Take-over: the second tab controls, the first watches.
        yield* Effect.promise(() => second.click("#control"))
        yield* waitInPage(second, () => window.scrollbackDemo.state.role === "controller", undefined, "control moved")
        yield* waitInPage(first, () => window.scrollbackDemo.state.role === "viewer", undefined, "the first watches")
        const sentBefore = (yield* readState(first)).sent
        yield* typeLine(first, "echo sta''le")
        yield* typeLine(second, "echo mo''ved")
        yield* awaitLine(first, "moved")
        yield* awaitLine(second, "moved")
        assert.strictEqual((yield* readState(first)).sent, sentBefore)
        assert.notInclude((yield* readScreen(second)).join("\n"), "stale")
        // Both show the terminal at the controller's size, which is the PTY's.
        const size = yield* demo.pty!.size
        yield* waitInPage(
          first,
          (s: { cols: number; rows: number }) => window.term.cols === s.cols && window.term.rows === s.rows,
          yield* Effect.promise(() => second.evaluate(() => ({ cols: window.term.cols, rows: window.term.rows }))),
          "the viewer at the controller's size"
        )
        assert.deepStrictEqual(
          yield* Effect.promise(() => second.evaluate(() => ({ cols: window.term.cols, rows: window.term.rows }))),
          size
        )

        // A full-screen program in the page: less on the alternate screen, then q.
        yield* typeLine(second, "seq 1 500 | less")
        yield* waitInPage(second, () => window.term.buffer.active.type === "alternate", undefined, "less on screen")
        yield* waitInPage(first, () => window.term.buffer.active.type === "alternate", undefined, "less, watched")
        yield* waitInPage(first, () => window.readScreen().includes("3"), undefined, "less's first page")
        yield* Effect.promise(() => second.keyboard.press("q"))
        yield* waitInPage(second, () => window.term.buffer.active.type === "normal", undefined, "less quit")
        yield* waitInPage(first, () => window.term.buffer.active.type === "normal", undefined, "less quit, watched")

        // The controller reloads: the same screen, and it keeps control.
        const before = yield* readScreen(second)
        yield* Effect.promise(() => second.reload())
        yield* waitInPage(
          second,
          () => window.scrollbackDemo.state.role === "controller",
          undefined,
          "control after reload"
        )
        yield* awaitLine(second, "moved")
        assert.deepStrictEqual(yield* readScreen(second), before)
        for (const page of [first, second]) {
          const state = yield* readState(page)
          assert.deepStrictEqual(state.anomalies, [])
          assert.deepStrictEqual(state.gaps, [])
        }
      }),
    240_000
  )

  it.scopedLive(
    "2 MiB of colour and a full-screen program through 16 KiB: a new page, a reload and a page back online show the reference screen",
    () =>
      Effect.gen(function*() {
        const { context } = yield* browser
        const cols = 90
        const rows = 28
        const plan = { seed: 7, scrolled: 2 * 1024 * 1024, more: 96 * 1024, cols, rows, chunk: 8 * 1024 }
        const { chunks, drawn } = makeChunks(plan)
        const ends: Array<number> = []
        for (const chunk of chunks) ends.push((ends.at(-1) ?? 0) + chunk.length)
        const demo = yield* DemoServer.make({
          port: 0,
          capacity: 16 * 1024,
          cols,
          rows,
          share: true,
          keyframes: { scrollback: 200 },
          producer: {
            _tag: "Command",
            command: process.execPath,
            args: [path.join(fixtures, "screen.mjs"), JSON.stringify(plan)]
          }
        })
        // Every byte the buffer held, in order (it fails, failing the test, if it ever fell behind eviction).
        const log = { parts: [] as Array<Uint8Array>, length: 0 }
        yield* ReplayStream.follow(demo.buffer, { from: 0 }).pipe(
          Stream.runForEach((bytes) =>
            Effect.sync(() => {
              log.parts.push(bytes.slice())
              log.length += bytes.length
            })
          ),
          Effect.forkScoped
        )
        const collected = (offset: number) =>
          Effect.promise(async () => {
            const deadline = Date.now() + WAIT_MS
            while (log.length < offset) {
              if (Date.now() > deadline) throw new Error(`the log reached ${log.length} of ${offset}`)
              await new Promise((resolve) => setTimeout(resolve, 5))
            }
          })
        /** Lets the producer print chunks up to `last`, each once the engine and the log read the one before. */
        let released = 0
        const printUpTo = (last: number) =>
          Effect.gen(function*() {
            for (; released <= last; released++) {
              if (released > 0) yield* demo.pty!.write("n")
              const end = ends[released]
              for (let total = yield* demo.buffer.total; total < end; total = yield* demo.buffer.total) {
                yield* demo.buffer.awaitData(total)
              }
              assert.strictEqual(yield* demo.buffer.total, end, "the PTY passes the bytes as they are")
              yield* demo.keyframes.awaitPosition(end)
              yield* collected(end)
            }
          })
        const whole = () => {
          const all = new Uint8Array(log.length)
          let at = 0
          for (const part of log.parts) {
            all.set(part, at)
            at += part.length
          }
          return all
        }
        const TAIL = rows + 150
        const compare = (page: Page, what: string) =>
          Effect.gen(function*() {
            const total = yield* demo.buffer.total
            yield* waitInPage(page, (t: number) => window.scrollbackDemo.state.next === t, total, `${what}: every byte`)
            const reference = yield* referenceOf(whole(), cols, rows)
            assertSameScreen(yield* extractPage(page, TAIL), extractScreen(reference, TAIL), what)
            reference.dispose()
            const state = yield* readState(page)
            assert.deepStrictEqual(state.anomalies, [], what)
            assert.deepStrictEqual(state.gaps, [], `${what}: no gap`)
            return state
          })

        yield* printUpTo(drawn)
        assert.isAbove(yield* demo.buffer.oldest, 2 * 1024 * 1024 - 16 * 1024, "the start was evicted")
        assert.isTrue((yield* demo.keyframes.stats).trusted)

        // A new page (no token: read-only, it never resizes the terminal) gets a snapshot: the reference screen.
        const page = yield* openPage(context, demo.baseUrl)
        const fresh = yield* compare(page, "a new page")
        assert.strictEqual(fresh.role, "viewer")
        assert.isFalse(fresh.canControl)
        assert.strictEqual(fresh.snapshots, 1)

        // A reload: a fresh terminal, the same screen.
        yield* Effect.promise(() => page.reload())
        yield* waitInPage(page, () => window.scrollbackDemo.state.connections >= 1, undefined, "the reload")
        assert.strictEqual((yield* compare(page, "a reloaded page")).snapshots, 1)

        // Offline while the program redraws six times the capacity: back online, the page resumes from its
        // offset, which was evicted: a snapshot again, and the reference screen.
        yield* Effect.promise(() => context.setOffline(true))
        yield* demo.dropConnections
        yield* waitInPage(page, () => window.scrollbackDemo.state.status === "reconnecting", undefined, "offline")
        const offlineAt = (yield* readState(page)).next!
        yield* printUpTo(chunks.length - 1)
        assert.isAbove(yield* demo.buffer.oldest, offlineAt, "what the page missed was evicted")
        yield* Effect.promise(() => context.setOffline(false))
        const back = yield* compare(page, "a page back online")
        assert.isAtLeast(back.connections, 2)
        assert.strictEqual(back.snapshots, 2)
        yield* Effect.promise(() => page.screenshot({ path: path.join(os.tmpdir(), "scrollback-demo-keyframes.png") }))
      }),
    240_000
  )

  it.scopedLive(
    "resumes after a cut, offline and a reload: every line exactly once, then the end",
    () =>
      Effect.gen(function*() {
        const { context } = yield* browser
        const gates = yield* gateDir
        const demo = yield* linesDemo({ count: 60, exitCode: 0, holds: [20, 40], gates })

        yield* awaitHeld(gates, 20)
        const page = yield* openPage(context, demo.url)
        yield* awaitScreen(page, expectedLines(1, 19), "the replay of lines 1..19")

        // Every connection cut: the page resumes at its offset, and live lines 20..39 arrive once.
        yield* demo.dropConnections
        yield* waitInPage(page, () => window.scrollbackDemo.state.connections >= 2, undefined, "a reconnection")
        yield* release(gates, 20)
        yield* awaitHeld(gates, 40)
        yield* awaitScreen(page, expectedLines(1, 39), "lines 1..39 after the cut")

        // Offline, cut, lines printed meanwhile; back online they arrive, once.
        yield* Effect.promise(() => context.setOffline(true))
        yield* demo.dropConnections
        yield* waitInPage(page, () => window.scrollbackDemo.state.status === "reconnecting", undefined, "offline")
        yield* release(gates, 40)
        assert.strictEqual(yield* demo.exitCode, 0)
        yield* Effect.promise(() => context.setOffline(false))
        yield* awaitScreen(page, expectedLines(1, 60), "every line once after coming back online")
        yield* waitInPage(page, () => window.scrollbackDemo.state.end !== null, undefined, "the end")
        const state = yield* readState(page)
        assert.deepStrictEqual(state.end, { type: "end", status: "ended" } as unknown, "the end")
        assert.strictEqual(state.status, "ended")
        assert.deepStrictEqual(state.anomalies, [])
        assert.deepStrictEqual(state.gaps, [])
        assert.strictEqual(state.next, yield* demo.buffer.total)

        // A reload: the same lines, and the end.
        yield* Effect.promise(() => page.reload())
        yield* waitInPage(page, () => window.scrollbackDemo.state.end !== null, undefined, "the end after the reload")
        yield* awaitScreen(page, expectedLines(1, 60), "every line once after the reload")
        const notice = yield* Effect.promise(() => page.locator(".notice.end").innerText())
        assert.include(notice, "exited (code 0)")
      }),
    240_000
  )

  it.scopedLive(
    "starts over when the server comes back with another run (a new epoch), never splicing two runs",
    () =>
      Effect.gen(function*() {
        const { context } = yield* browser
        const gates = yield* gateDir
        const scopeA = yield* Scope.make()
        const first = yield* linesDemo({ count: 30, exitCode: 0, holds: [10], gates }).pipe(Scope.extend(scopeA))
        yield* awaitHeld(gates, 10)
        const page = yield* openPage(context, first.url)
        yield* awaitScreen(page, expectedLines(1, 9), "the first run's lines 1..9")

        // Cut off while the first run's server goes away and another (same token) takes its port.
        yield* Effect.promise(() => context.setOffline(true))
        yield* first.dropConnections
        yield* waitInPage(page, () => window.scrollbackDemo.state.status === "reconnecting", undefined, "offline")
        yield* Scope.close(scopeA, Exit.void)
        const second = yield* DemoServer.make({
          port: first.port,
          token: first.token,
          producer: {
            _tag: "Command",
            command: process.execPath,
            args: [path.join(fixtures, "lines.mjs"), "3", "2", "0", gates]
          }
        })
        assert.notStrictEqual(second.buffer.epoch, first.buffer.epoch)
        assert.strictEqual(yield* second.exitCode, 0)
        yield* Effect.promise(() => context.setOffline(false))

        // The resume position has the old epoch → 4409 → the page starts over with the new run.
        yield* waitInPage(page, () => window.scrollbackDemo.state.end !== null, undefined, "the second run's end")
        yield* awaitScreen(page, expectedLines(1, 3), "the second run alone")
        const state = yield* readState(page)
        assert.strictEqual(state.epoch, second.buffer.epoch)
        assert.include(state.closes, 4409)
        assert.deepStrictEqual(state.anomalies, [])
        const notice = yield* Effect.promise(() => page.locator(".notice.info").innerText())
        assert.include(notice, "The server restarted")
        assert.isTrue(Option.isSome(yield* second.buffer.ended))
      }),
    240_000
  )
})
