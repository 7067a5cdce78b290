// @ts-check
/**
 * The demo page: a terminal in xterm.js on a scrollback WebSocket interactive session
 * (`GET {prefix}/{key}/ws?terminal=1`, see @scrollback/platform's README).
 *
 * - On load the page asks for the log from offset 0: it gets the bytes when they are retained, or a
 *   keyframe (a `terminal` message with a snapshot of the screen) and the bytes after it, so a new tab or a
 *   reload shows the same screen as a terminal that saw everything.
 * - After a drop it resumes at the offset it reached (`?offset=&epoch=`): the bytes it missed, or a
 *   snapshot if they were evicted meanwhile. Nothing is shown twice; every frame must continue the last one
 *   (`state.anomalies` records any that does not, and must stay empty).
 * - One tab controls the terminal (types, and sizes it to its window with the fit addon); the others watch
 *   at the controller's size. A tab that may type (it has the access token) takes control when nobody has
 *   it, or with "take control"; a reload keeps it (sessionStorage).
 * - The terminal's size only ever changes in-band, at the offsets the server gives: keyframes need the
 *   page's terminal to parse exactly as the server's headless one. So xterm's defaults for parsing
 *   (`convertEol: false`), the Unicode version the server says (11, with the unicode11 addon), bytes
 *   written in pieces that never end inside a UTF-8 sequence, and resizes between two writes.
 *
 * `window.term` is the xterm `Terminal`, `window.scrollbackDemo` the page's state (for tests).
 */
import { FitAddon } from "@xterm/addon-fit"
import { Unicode11Addon } from "@xterm/addon-unicode11"
import { Terminal } from "@xterm/xterm"

/**
 * @typedef {{ prefix: string, key: string, command: string, share: boolean }} DemoConfig
 * @typedef {{ requested: number, oldest: number }} GapInfo
 * @typedef {{ status: "ended" | "failed", reason?: string, exitCode?: number }} EndInfo
 * @typedef {{ kind: string, expected: number | null, got: number }} Anomaly
 * @typedef {{ offset: number, cols: number, rows: number }} SizeChange
 */

/** The longest backoff between two reconnects, in ms. */
const MAX_BACKOFF_MS = 30_000
/** Lines above the screen: at least what a keyframe carries (1,000 on the server). */
const SCROLLBACK_LINES = 5000
/** UTF-16 units of input per message: at most 3 bytes each in UTF-8, under the server's 4 KiB a message. */
const INPUT_PIECE = 1000
/** The largest paste sent (the server's inbound budget is 64 KiB at once, then 16 KiB/s). */
const MAX_PASTE = 32 * 1024
/** sessionStorage: this tab had control (a reload takes it back). */
const CONTROL_KEY = "scrollback-demo-control"

/** @type {DemoConfig} */
const config = await fetch("/demo.json").then((response) => response.json())
const base = `${config.prefix}/${encodeURIComponent(config.key)}`

const state = {
  /** @type {string | null} the buffer's epoch */
  epoch: null,
  /** @type {number | null} the offset just past the last byte written to the terminal */
  next: null,
  /** @type {"controller" | "viewer" | null} */
  role: null,
  canControl: false,
  controlled: false,
  /** hello messages: one per (re)connection */
  connections: 0,
  /** terminal messages, and those with a snapshot */
  terminals: 0,
  snapshots: 0,
  /** bytes written to the terminal */
  bytes: 0,
  /** input messages sent */
  sent: 0,
  /** @type {Array<GapInfo>} */
  gaps: [],
  /** @type {Array<{ request: string, reason: string, message: string }>} */
  rejected: [],
  /** @type {Array<number>} close codes of the connections */
  closes: [],
  /** @type {EndInfo | null} */
  end: null,
  /** @type {Array<Anomaly>} frames that did not continue the last one: must stay empty */
  anomalies: [],
  /** @type {string} */
  status: "connecting"
}

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id))
const terminalElement = $("terminal")
const noticesElement = $("notices")
const statusElement = $("status")
const statusText = $("status-text")
const positionElement = $("position")
const roleElement = $("role")
const controlButton = /** @type {HTMLButtonElement} */ ($("control"))
const reconnectButton = /** @type {HTMLButtonElement} */ ($("reconnect"))
$("command").textContent = config.command
document.title = `scrollback · ${config.command}`

const term = new Terminal({
  // Everything that changes how bytes are parsed stays xterm's default, as in the server's headless terminal.
  allowProposedApi: true,
  scrollback: SCROLLBACK_LINES,
  disableStdin: true,
  cursorBlink: true,
  fontFamily: "ui-monospace, \"DejaVu Sans Mono\", \"Noto Sans Mono\", monospace",
  fontSize: 13,
  theme: { background: "#0f1117", foreground: "#d7dae0" }
})
const fit = new FitAddon()
term.loadAddon(fit)
term.loadAddon(new Unicode11Addon())
term.unicode.activeVersion = "11"
term.open(terminalElement)

// --- notices and status -------------------------------------------------------------------------

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

const showRole = () => {
  const role = state.role
  roleElement.className = `role ${role ?? "none"}`
  roleElement.textContent = role === "controller"
    ? "you control this terminal"
    : !state.canControl
    ? "watching (read-only)"
    : state.controlled
    ? "watching: another tab controls it"
    : "watching: nobody controls it"
  controlButton.hidden = !state.canControl || state.end !== null
  controlButton.textContent = role === "controller" ? "release" : "take control"
  term.options.disableStdin = role !== "controller"
}

// --- the terminal: bytes, snapshots and sizes in order ----------------------------------------------

/** The bytes of an incomplete UTF-8 sequence at the end of the last frame, held back. */
let carry = new Uint8Array(0)
/** @type {Array<SizeChange>} size changes ahead of the bytes written, in offset order */
let pendingSizes = []

/** Resizes between two writes: after what was written so far is parsed, before what comes next. */
const resizeInBand = (/** @type {number} */ cols, /** @type {number} */ rows) => {
  term.write("", () => {
    if (term.cols !== cols || term.rows !== rows) term.resize(cols, rows)
  })
}

/** Writes bytes, never ending a write inside a UTF-8 sequence (xterm drops some characters split that way). */
const writeBytes = (/** @type {Uint8Array} */ bytes) => {
  let data = bytes
  if (carry.length > 0) {
    data = new Uint8Array(carry.length + bytes.length)
    data.set(carry, 0)
    data.set(bytes, carry.length)
  }
  let end = data.length
  for (let j = data.length - 1; j >= Math.max(0, data.length - 3); j--) {
    const b = data[j]
    if ((b & 0xc0) === 0x80) continue
    const need = (b & 0xe0) === 0xc0 ? 2 : (b & 0xf0) === 0xe0 ? 3 : (b & 0xf8) === 0xf0 ? 4 : 1
    if (data.length - j < need) end = j
    break
  }
  carry = data.slice(end)
  if (end > 0) term.write(data.subarray(0, end))
}

/** The bytes of a frame at `offset`, split at the size changes that fall inside them. */
const writeFrame = (/** @type {number} */ offset, /** @type {Uint8Array} */ bytes) => {
  let at = offset
  let rest = bytes
  while (pendingSizes.length > 0 && pendingSizes[0].offset < at + rest.length) {
    const change = /** @type {SizeChange} */ (pendingSizes.shift())
    const cut = Math.max(0, change.offset - at)
    writeBytes(rest.subarray(0, cut))
    resizeInBand(change.cols, change.rows)
    rest = rest.subarray(cut)
    at += cut
  }
  writeBytes(rest)
}

// --- the connection ---------------------------------------------------------------------------------

/** @type {WebSocket | null} */
let socket = null
let failures = 0
/** @type {ReturnType<typeof setTimeout> | undefined} */
let retryTimer

const send = (/** @type {unknown} */ message) => {
  if (socket !== null && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message))
}

/** The controller sizes the terminal to its window (the fit addon proposes, the server decides). */
let lastProposed = ""
const proposeSize = () => {
  if (state.role !== "controller") return
  const dims = fit.proposeDimensions()
  if (dims === undefined || !Number.isFinite(dims.cols) || !Number.isFinite(dims.rows)) return
  const cols = Math.max(20, Math.min(2048, dims.cols))
  const rows = Math.max(5, Math.min(1024, dims.rows))
  if (`${cols}x${rows}` === lastProposed && cols === term.cols && rows === term.rows) return
  lastProposed = `${cols}x${rows}`
  send({ type: "resize", cols, rows })
}
new ResizeObserver(() => requestAnimationFrame(proposeSize)).observe(terminalElement)

const connect = () => {
  clearTimeout(retryTimer)
  const params = new URLSearchParams({ terminal: "1" })
  if (state.next !== null && state.epoch !== null) {
    params.set("offset", String(state.next))
    params.set("epoch", state.epoch)
  } else {
    params.set("offset", "0")
  }
  if (sessionStorage.getItem(CONTROL_KEY) === "1") params.set("takeover", "1")
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${base}/ws?${params}`
  const ws = new WebSocket(url)
  ws.binaryType = "arraybuffer"
  socket = ws
  ws.onmessage = (event) => {
    if (socket !== ws) return
    if (typeof event.data === "string") onText(JSON.parse(event.data))
    else onBytes(new Uint8Array(event.data))
  }
  ws.onclose = (event) => {
    if (socket !== ws) return
    socket = null
    state.closes.push(event.code)
    onClose(event.code)
  }
}

/** @param {any} message */
const onText = (message) => {
  switch (message.type) {
    case "hello": {
      state.connections++
      failures = 0
      state.epoch = message.epoch
      setStatus("live")
      break
    }
    case "terminal": {
      state.terminals++
      term.unicode.activeVersion = message.unicode
      pendingSizes = []
      if (message.snapshot !== undefined) {
        // The bytes before `offset` were evicted: the screen they drew, then the bytes from there.
        state.snapshots++
        carry = new Uint8Array(0)
        term.write("\x1bc", () => term.resize(message.cols, message.rows))
        term.write(message.snapshot)
        if (state.next !== null && state.next > 0) {
          notify(
            "info",
            `Bytes ${formatBytes.format(state.next)}… were evicted: the screen was restored from a keyframe.`
          )
        }
      } else {
        if (state.next !== null && state.next !== message.offset) {
          state.anomalies.push({ kind: "terminal", expected: state.next, got: message.offset })
        }
        resizeInBand(message.cols, message.rows)
      }
      state.next = message.offset
      showPosition()
      break
    }
    case "resize": {
      if (state.next !== null && message.offset <= state.next) resizeInBand(message.cols, message.rows)
      else pendingSizes.push(message)
      break
    }
    case "control": {
      const was = state.role
      state.role = message.role
      state.canControl = message.canControl
      state.controlled = message.controlled
      if (message.role === "controller") sessionStorage.setItem(CONTROL_KEY, "1")
      else sessionStorage.removeItem(CONTROL_KEY)
      showRole()
      if (message.role === "controller" && was !== "controller") {
        lastProposed = ""
        proposeSize()
        term.focus()
      }
      break
    }
    case "rejected": {
      state.rejected.push({ request: message.request, reason: message.reason, message: message.message })
      if (message.reason !== "NotController") notify("failed", `Refused (${message.request}): ${message.message}`)
      break
    }
    case "gap": {
      /** @type {GapInfo} */
      const gap = { requested: message.requested, oldest: message.oldest }
      state.gaps.push(gap)
      notify(
        "gap",
        `${formatBytes.format(gap.oldest - gap.requested)} bytes were lost: offsets ${gap.requested}–${gap.oldest} ` +
          "were evicted and no keyframe of the screen was kept (the server's terminal fell behind): " +
          "the screen may be incomplete until the program redraws it."
      )
      state.next = gap.oldest
      showPosition()
      break
    }
    case "end": {
      showEnd(message)
      break
    }
  }
}

/** @param {Uint8Array} message */
const onBytes = (message) => {
  const view = new DataView(message.buffer, message.byteOffset, 8)
  const offset = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4)
  let bytes = message.subarray(8)
  if (state.next === null) {
    state.anomalies.push({ kind: "bytes before the terminal message", expected: null, got: offset })
    return
  }
  if (offset < state.next) {
    // Never show a byte twice, even if a server did send it twice.
    state.anomalies.push({ kind: "duplicate", expected: state.next, got: offset })
    bytes = bytes.subarray(Math.min(bytes.length, state.next - offset))
  } else if (offset > state.next) {
    state.anomalies.push({ kind: "skip", expected: state.next, got: offset })
  }
  const at = Math.max(offset, state.next)
  writeFrame(at, bytes)
  state.bytes += bytes.length
  state.next = at + bytes.length
  showPosition()
}

/** @param {EndInfo} end */
const showEnd = (end) => {
  if (state.end !== null) return
  state.end = end
  if (end.status === "failed") {
    const code = end.exitCode === undefined ? "" : ` (exit code ${end.exitCode})`
    setStatus("failed", `exited${code}`)
    notify("failed", `The process ended: ${end.reason ?? `no reason given${code}`}.`)
  } else {
    setStatus("ended", "exited")
    notify("end", "The process exited (code 0). The page keeps its screen.")
  }
  showRole()
}

const onClose = (/** @type {number} */ code) => {
  if (state.end !== null) return
  if (code === 4409) {
    // The position belongs to another run of the server (a new epoch): start over with the new one.
    notify("info", "The server restarted (a new epoch): showing the new run from its start.")
    term.reset()
    carry = new Uint8Array(0)
    pendingSizes = []
    state.epoch = null
    state.next = null
    return connect()
  }
  if (code === 1003 || code === 1007 || code === 1008 || code === 1009) {
    state.anomalies.push({ kind: `closed ${code}`, expected: state.next, got: code })
  }
  setStatus("reconnecting", "reconnecting…")
  const attempt = failures++
  retryTimer = setTimeout(connect, attempt === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt))
}

window.addEventListener("online", () => {
  if (socket === null && state.end === null) connect()
})

// --- input --------------------------------------------------------------------------------------------

/** Sends typed or pasted text in messages of at most INPUT_PIECE units, never splitting a surrogate pair. */
const sendInput = (/** @type {string} */ data) => {
  if (state.role !== "controller") return
  if (data.length > MAX_PASTE) {
    notify("failed", `Not sent: a paste of ${formatBytes.format(data.length)} characters (at most ${MAX_PASTE}).`)
    return
  }
  for (let start = 0; start < data.length;) {
    let end = Math.min(data.length, start + INPUT_PIECE)
    const last = data.charCodeAt(end - 1)
    if (end < data.length && last >= 0xd800 && last <= 0xdbff) end--
    send({ type: "input", data: data.slice(start, end) })
    state.sent++
    start = end
  }
}
term.onData(sendInput)

controlButton.addEventListener("click", () => {
  if (state.role === "controller") {
    sessionStorage.removeItem(CONTROL_KEY)
    send({ type: "release" })
  } else {
    send({ type: "takeover" })
  }
})

/** Drops the connection on purpose and resumes from the last byte received (the header button). */
const dropAndResume = () => {
  if (state.end !== null) return
  const ws = socket
  socket = null
  ws?.close()
  setStatus("reconnecting", "reconnecting…")
  connect()
}
reconnectButton.addEventListener("click", dropAndResume)

showRole()
connect()

Object.assign(window, { term, scrollbackDemo: { state, dropAndResume } })
