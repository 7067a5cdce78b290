// @ts-check
/**
 * The demo page: shows a scrollback buffer in xterm.js, replaying then following it over SSE
 * (protocol v1: `GET {prefix}/{key}/sse`).
 *
 * - On load the page starts a fresh terminal and replays from the oldest retained offset, so a
 *   reload rebuilds the screen and shows the output exactly once.
 * - On a network drop the stock `EventSource` reconnects by itself with `Last-Event-ID`
 *   (`EPOCH:NEXT`), and the server resumes just after the last event the page received.
 * - When the browser gives up (an HTTP error: 409, 429, 503, …) the page asks `/info` and resumes
 *   with `?offset=&epoch=` with a bounded backoff, or starts over when the producer restarted.
 * - `gap` events (bytes evicted before the page read them) and the `end` event are shown as
 *   notices above the terminal and as a dim line inside it.
 *
 * The page exposes `window.term` (the xterm `Terminal`) and `window.scrollbackDemo` (its state)
 * for tests and curious users.
 */
import { Terminal } from "@xterm/xterm"

/**
 * @typedef {{ prefix: string, key: string, command: string }} DemoConfig
 * @typedef {{ requested: number, oldest: number }} GapInfo
 * @typedef {{ status: "ended" | "failed", reason?: string, exitCode?: number }} EndInfo
 * @typedef {{ kind: "duplicate" | "skip" | "epoch", expected: number, got: number }} Anomaly
 */

/** The longest backoff between two recovery attempts, in ms. */
const MAX_BACKOFF_MS = 30_000
/**
 * Lines the terminal keeps above the screen: 20,000 (xterm holds about 12 bytes per cell, so at
 * most ~30 MB at 130 columns). Older lines scroll out of the page even if the buffer holds them.
 */
const SCROLLBACK_LINES = 20_000

/** @type {DemoConfig} */
const config = await fetch("/demo.json").then((response) => response.json())
const base = `${config.prefix}/${encodeURIComponent(config.key)}`

const state = {
  /** @type {string | null} the buffer's epoch (changes when the producer restarts) */
  epoch: null,
  /** @type {number | null} the first offset shown in this terminal */
  start: null,
  /** @type {number | null} the offset just past the last byte written to the terminal */
  next: null,
  /** `hello` events seen: one per (re)connection */
  connections: 0,
  /** bytes written to the terminal */
  bytes: 0,
  /** @type {Array<GapInfo>} */
  gaps: [],
  /** @type {EndInfo | null} */
  end: null,
  /** @type {Array<Anomaly>} offsets that did not line up: must stay empty */
  anomalies: [],
  /** @type {string} */
  status: "connecting"
}

const terminalElement = /** @type {HTMLElement} */ (document.getElementById("terminal"))
const noticesElement = /** @type {HTMLElement} */ (document.getElementById("notices"))
const statusElement = /** @type {HTMLElement} */ (document.getElementById("status"))
const statusText = /** @type {HTMLElement} */ (document.getElementById("status-text"))
const positionElement = /** @type {HTMLElement} */ (document.getElementById("position"))
const commandElement = /** @type {HTMLElement} */ (document.getElementById("command"))
const reconnectButton = /** @type {HTMLButtonElement} */ (document.getElementById("reconnect"))

commandElement.textContent = config.command
document.title = `scrollback · ${config.command}`

const term = new Terminal({
  // The producer writes to a pipe, not a PTY: nobody turns "\n" into "\r\n" on the way.
  convertEol: true,
  disableStdin: true,
  scrollback: SCROLLBACK_LINES,
  cursorInactiveStyle: "none",
  cursorStyle: "bar",
  fontFamily: "ui-monospace, \"DejaVu Sans Mono\", \"Noto Sans Mono\", monospace",
  fontSize: 13,
  theme: { background: "#0f1117", foreground: "#d7dae0" }
})
term.open(terminalElement)

// --- sizing: fit the terminal to its box (what the fit addon does, without the addon) -----------

/** Scrollbar room on the right of the terminal, in px. */
const SCROLLBAR_PX = 14

const fit = () => {
  // xterm sizes its screen element to exactly cols × rows cells: that gives the cell size.
  const screen = terminalElement.querySelector(".xterm-screen")
  if (screen === null) return
  const cell = screen.getBoundingClientRect()
  const box = terminalElement.getBoundingClientRect()
  if (cell.width === 0 || cell.height === 0 || box.width === 0 || box.height === 0) return
  const cols = Math.max(20, Math.floor((box.width - SCROLLBAR_PX) / (cell.width / term.cols)))
  const rows = Math.max(5, Math.floor(box.height / (cell.height / term.rows)))
  if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows)
}
fit()
new ResizeObserver(() => fit()).observe(terminalElement)

// --- rendering helpers -----------------------------------------------------------------------

/** Whether the last byte written to the terminal ended a line (so a notice needs no newline). */
let atLineStart = true

/** @param {Uint8Array} bytes */
const writeBytes = (bytes) => {
  if (bytes.length === 0) return
  term.write(bytes)
  atLineStart = bytes[bytes.length - 1] === 0x0a
}

/** A dim line inside the terminal, on a line of its own. @param {string} text */
const writeNote = (text) => {
  term.write(`\x1b[0m${atLineStart ? "" : "\r\n"}\x1b[2m── ${text} ──\x1b[0m\r\n`)
  atLineStart = true
}

/** @param {"gap" | "end" | "failed" | "info"} kind @param {string} text */
const notify = (kind, text) => {
  const notice = document.createElement("div")
  notice.className = `notice ${kind}`
  const span = document.createElement("span")
  span.className = "text"
  span.textContent = text
  const close = document.createElement("button")
  close.type = "button"
  close.textContent = "×"
  close.title = "dismiss"
  close.addEventListener("click", () => notice.remove())
  notice.append(span, close)
  noticesElement.append(notice)
  fit()
}

/** @param {string} status @param {string} [text] */
const setStatus = (status, text = status) => {
  state.status = status
  statusElement.className = `status ${status}`
  statusText.textContent = text
}

const formatBytes = new Intl.NumberFormat("en")
const showPosition = () => {
  positionElement.textContent = state.next === null ? "" : `offset ${formatBytes.format(state.next)}`
}

/** @param {string} base64 */
const decodeBase64 = (base64) => {
  const binary = atob(base64)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/** `EPOCH:OFFSET` → its parts. @param {string} id */
const parseId = (id) => {
  const colon = id.lastIndexOf(":")
  return { epoch: id.slice(0, colon), offset: Number(id.slice(colon + 1)) }
}

// --- the connection --------------------------------------------------------------------------

/** @type {EventSource | null} */
let source = null
let failures = 0

/** @param {string} query */
const connect = (query = "") => {
  source?.close()
  const es = new EventSource(`${base}/sse${query}`)
  source = es
  es.addEventListener("hello", (event) => {
    const hello = JSON.parse(event.data)
    state.connections++
    failures = 0
    setStatus("live")
    if (state.epoch === null) {
      state.epoch = hello.epoch
      state.start = hello.offset
      state.next = hello.offset
      if (hello.offset > 0) {
        writeNote(`the first ${formatBytes.format(hello.offset)} bytes are no longer retained; showing what is`)
      }
    } else if (hello.epoch !== state.epoch) {
      state.anomalies.push({ kind: "epoch", expected: state.next ?? 0, got: hello.offset })
    }
    showPosition()
  })
  es.addEventListener("message", (event) => {
    if (state.next === null) return
    let bytes = decodeBase64(event.data)
    const next = parseId(event.lastEventId).offset
    const offset = next - bytes.length
    if (offset < state.next) {
      // Never show a byte twice, even if a server did send it twice.
      state.anomalies.push({ kind: "duplicate", expected: state.next, got: offset })
      bytes = bytes.subarray(Math.min(bytes.length, state.next - offset))
    } else if (offset > state.next) {
      state.anomalies.push({ kind: "skip", expected: state.next, got: offset })
    }
    writeBytes(bytes)
    state.bytes += bytes.length
    state.next = Math.max(state.next, next)
    showPosition()
  })
  es.addEventListener("gap", (event) => {
    /** @type {GapInfo} */
    const gap = JSON.parse(event.data)
    state.gaps.push(gap)
    const lost = formatBytes.format(gap.oldest - gap.requested)
    notify(
      "gap",
      `${lost} bytes were lost: offsets ${gap.requested}–${gap.oldest} were evicted from the buffer before this page read them.`
    )
    writeNote(`${lost} bytes lost here (evicted before they were read)`)
    state.next = gap.oldest
    showPosition()
  })
  es.addEventListener("end", (event) => {
    /** @type {EndInfo} */
    const end = JSON.parse(event.data)
    es.close()
    showEnd(end)
  })
  es.addEventListener("error", () => {
    if (source !== es || state.end !== null) return
    if (es.readyState === EventSource.CONNECTING) {
      // A network drop: the browser reconnects by itself, sending Last-Event-ID.
      setStatus("reconnecting", "reconnecting…")
    } else {
      // An HTTP error (the browser does not retry those): find out why, then resume.
      void recover()
    }
  })
}

/** @param {EndInfo} end */
const showEnd = (end) => {
  if (state.end !== null) return
  state.end = end
  if (end.status === "failed") {
    const code = end.exitCode === undefined ? "" : ` (exit code ${end.exitCode})`
    setStatus("failed", `failed${code}`)
    notify("failed", `The command failed: ${end.reason ?? `no reason given${code}`}.`)
    writeNote(`process failed${code}`)
  } else {
    setStatus("ended", "finished")
    notify("end", "The command finished (exit code 0). This page shows all of its output that is still retained.")
    writeNote("process finished (exit code 0)")
  }
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Finds out why the server refused the stream, then resumes, with a bounded exponential backoff. */
const recover = async () => {
  setStatus("reconnecting", "reconnecting…")
  for (;;) {
    const attempt = failures++
    if (attempt > 0) await sleep(Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt))
    if (state.end !== null) return
    /** @type {Response} */
    let response
    try {
      response = await fetch(`${base}/info`)
    } catch {
      continue
    }
    if (response.status === 404) setStatus("gone", "not found")
    if (!response.ok) continue
    const info = await response.json()
    if (state.epoch !== null && info.epoch !== state.epoch) {
      notify("info", "The producer restarted (a new epoch): showing the new run from its start.")
      term.reset()
      atLineStart = true
      state.epoch = null
      state.start = null
      state.next = null
      return connect()
    }
    if (state.next === null) return connect()
    if (info.ended !== false && state.next >= info.total) {
      // Everything was shown but the end event was lost with the connection (the server says 204).
      /** @type {EndInfo} */
      const end = info.ended === "failed" ? { status: "failed", reason: info.reason } : { status: "ended" }
      if (typeof info.exitCode === "number") end.exitCode = info.exitCode
      return showEnd(end)
    }
    return connect(`?offset=${state.next}&epoch=${encodeURIComponent(state.epoch ?? "")}`)
  }
}

/** Drops the connection on purpose and resumes from the last byte received (the header button). */
const dropAndResume = () => {
  if (state.end !== null || state.next === null) return
  source?.close()
  setStatus("reconnecting", "reconnecting…")
  connect(`?offset=${state.next}&epoch=${encodeURIComponent(state.epoch ?? "")}`)
}
reconnectButton.addEventListener("click", dropAndResume)

connect()

Object.assign(window, { term, scrollbackDemo: { state, dropAndResume } })
