/** Headless terminals for the tests: feeding them, and comparing what they show. */
import type * as XtermHeadless from "@xterm/headless"
import type { Terminal as TerminalType } from "@xterm/headless"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)
export const { Terminal } = require("@xterm/headless") as typeof XtermHeadless

export const makeTerminal = (cols: number, rows: number, scrollback = 1000): TerminalType =>
  new Terminal({ cols, rows, scrollback, allowProposedApi: true, logLevel: "off" })

const write = (term: TerminalType, data: string | Uint8Array) =>
  new Promise<void>((resolve) => term.write(data, resolve))

/**
 * Writes bytes as a careful client would: in pieces of at most 64 KiB that never end inside a UTF-8
 * sequence (xterm.js drops some characters split that way).
 */
export const feed = async (term: TerminalType, bytes: Uint8Array): Promise<void> => {
  let start = 0
  while (start < bytes.length) {
    let end = Math.min(start + 65536, bytes.length)
    if (end < bytes.length) {
      while (end > start && (bytes[end] & 0xc0) === 0x80) end--
    }
    await write(term, bytes.subarray(start, end))
    start = end
  }
}

export const writeString = (term: TerminalType, data: string) => write(term, data)

/** Cursor hidden (DECTCEM) is not in the public API. */
const cursorHidden = (term: TerminalType): boolean =>
  (term as unknown as { _core: { coreService: { isCursorHidden: boolean } } })._core.coreService.isCursorHidden

/**
 * A cell as it looks. A blank cell shows only its background, unless its foreground attributes show
 * (inverse, underline, strikethrough, overline): then it looks like a space with its attributes (xterm
 * makes such blanks when a wide character does not fit at the end of a line; no escape sequence can,
 * so a snapshot writes a space).
 */
const cellText = (term: TerminalType, buffer: "active" | "normal", y: number, x: number): string => {
  const line = term.buffer[buffer].getLine(y)
  const cell = line?.getCell(x)
  if (cell === undefined) return "<none>"
  const showsForeground = cell.isInverse() || cell.isUnderline() || cell.isStrikethrough() || cell.isOverline()
  if (cell.getChars() === "" && !showsForeground) {
    return JSON.stringify({ blank: cell.getWidth(), bm: cell.getBgColorMode(), b: cell.getBgColor() })
  }
  return JSON.stringify({
    c: cell.getChars() === "" ? " " : cell.getChars(),
    w: cell.getWidth(),
    fm: cell.getFgColorMode(),
    f: cell.getFgColor(),
    bm: cell.getBgColorMode(),
    b: cell.getBgColor(),
    a: [
      cell.isBold(),
      cell.isDim(),
      cell.isItalic(),
      cell.isUnderline(),
      cell.isBlink(),
      cell.isInverse(),
      cell.isInvisible(),
      cell.isStrikethrough(),
      cell.isOverline()
    ].map((flag) => flag ? 1 : 0).join("")
  })
}

/**
 * The differences between what two terminals show, through the public API (cell by cell: characters,
 * widths, colours, attributes; the cursor; which screen is active; the modes) and the cursor's
 * visibility. The scrollback is compared over the last `scrollbackLines` lines above the screen.
 */
export const differences = (
  reference: TerminalType,
  replica: TerminalType,
  scrollbackLines: number,
  max = 5
): Array<string> => {
  const out: Array<string> = []
  const add = (s: string) => {
    if (out.length < max) out.push(s)
  }
  if (reference.cols !== replica.cols || reference.rows !== replica.rows) {
    add(`size ${reference.cols}x${reference.rows} vs ${replica.cols}x${replica.rows}`)
    return out
  }
  const a = reference.buffer.active
  const b = replica.buffer.active
  if (a.type !== b.type) add(`active buffer ${a.type} vs ${b.type}`)
  if (a.cursorX !== b.cursorX || a.cursorY !== b.cursorY) {
    add(`cursor ${a.cursorX},${a.cursorY} vs ${b.cursorX},${b.cursorY}`)
  }
  if (JSON.stringify(reference.modes) !== JSON.stringify(replica.modes)) {
    add(`modes ${JSON.stringify(reference.modes)} vs ${JSON.stringify(replica.modes)}`)
  }
  if (cursorHidden(reference) !== cursorHidden(replica)) add("cursor visibility")
  // The screen of the active buffer.
  for (let row = 0; row < reference.rows; row++) {
    for (let x = 0; x < reference.cols; x++) {
      const ca = cellText(reference, "active", a.baseY + row, x)
      const cb = cellText(replica, "active", b.baseY + row, x)
      if (ca !== cb) add(`screen row ${row} col ${x}: ${ca} vs ${cb}`)
    }
  }
  // The scrollback of the normal buffer, aligned at the bottom of the screen.
  const na = reference.buffer.normal
  const nb = replica.buffer.normal
  const lines = Math.min(scrollbackLines, na.length - reference.rows, nb.length - replica.rows)
  for (let i = 1; i <= lines; i++) {
    const ya = na.length - reference.rows - i
    const yb = nb.length - replica.rows - i
    if (na.getLine(ya)?.isWrapped !== nb.getLine(yb)?.isWrapped) add(`scrollback line -${i} wrapped`)
    for (let x = 0; x < reference.cols; x++) {
      const ca = cellText(reference, "normal", ya, x)
      const cb = cellText(replica, "normal", yb, x)
      if (ca !== cb) add(`scrollback line -${i} col ${x}: ${ca} vs ${cb}`)
    }
  }
  return out
}

/** The text of the active screen, for messages. */
export const screenText = (term: TerminalType): string => {
  const lines: Array<string> = []
  const buffer = term.buffer.active
  for (let row = 0; row < term.rows; row++) {
    lines.push(buffer.getLine(buffer.baseY + row)?.translateToString(true) ?? "")
  }
  return lines.join("\n")
}

/**
 * Feeds a terminal with bytes that arrive in pieces, holding back an incomplete UTF-8 sequence at the
 * end of a piece until the next one (as a careful client does).
 */
export class Feeder {
  private carry = new Uint8Array(0)
  constructor(readonly term: TerminalType) {}

  async push(bytes: Uint8Array): Promise<void> {
    let data = bytes
    if (this.carry.length > 0) {
      data = new Uint8Array(this.carry.length + bytes.length)
      data.set(this.carry, 0)
      data.set(bytes, this.carry.length)
    }
    // Keep back a trailing sequence that is not complete.
    let end = data.length
    for (let j = data.length - 1; j >= Math.max(0, data.length - 3); j--) {
      const b = data[j]
      if ((b & 0xc0) === 0x80) continue
      const need = (b & 0xe0) === 0xc0 ? 2 : (b & 0xf0) === 0xe0 ? 3 : (b & 0xf8) === 0xf0 ? 4 : 1
      if (data.length - j < need) end = j
      break
    }
    this.carry = data.slice(end)
    await feed(this.term, data.subarray(0, end))
  }

  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows)
  }
}
