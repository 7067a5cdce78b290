/**
 * Snapshots of a headless xterm.js terminal as one string of escape
 * sequences that, written into a fresh terminal of the same size, rebuilds
 * the same terminal: both screens, the scrollback, the cursor, the pen,
 * the modes, the character sets, the tab stops, the scroll regions and the
 * saved cursors. The cells are written by `serializeBuffer` (adapted from
 * `@xterm/addon-serialize`); everything else is read from xterm's internals
 * and written after them.
 *
 * `verify` writes a snapshot into a scratch terminal and compares the two
 * terminals, state by state, cell by cell: a snapshot that does not rebuild
 * the terminal exactly is not used (see the README for the known cases).
 *
 * Everything here is written against `@xterm/headless` 6.0.0; `supported`
 * checks the shapes at startup.
 *
 * @internal
 */
import type { IBuffer, IBufferCell, Terminal } from "@xterm/headless"
import { serializeBuffer, showsForeground } from "./serializeBuffer.js"

// ---------------------------------------------------------------------------
// The internals read
// ---------------------------------------------------------------------------

interface AttributeData {
  fg: number
  bg: number
  extended: { underlineStyle: number; underlineColor: number; urlId: number }
  isBold(): number
  isDim(): number
  isItalic(): number
  isUnderline(): number
  isBlink(): number
  isInverse(): number
  isInvisible(): number
  isStrikethrough(): number
  isOverline(): number
  isProtected(): number
  hasExtendedAttrs(): number
  getUnderlineStyle(): number
  getUnderlineColor(): number
  getUnderlineColorMode(): number
}

type Charset = object | undefined

interface BufferInternals {
  x: number
  y: number
  ybase: number
  scrollTop: number
  scrollBottom: number
  tabs: Record<number, boolean | undefined>
  savedX: number
  savedY: number
  savedCurAttrData: AttributeData
  savedCharset: Charset
  lines: { readonly length: number }
}

interface CoreInternals {
  readonly cols: number
  readonly rows: number
  readonly _bufferService: {
    readonly buffers: {
      readonly normal: BufferInternals
      readonly alt: BufferInternals
      readonly active: BufferInternals
    }
  }
  readonly _inputHandler: {
    readonly _curAttrData: AttributeData
    selectCharset(collectAndFlag: string): boolean
  }
  readonly coreService: {
    readonly isCursorHidden: boolean
    readonly modes: { readonly insertMode: boolean }
    readonly decPrivateModes: {
      readonly applicationCursorKeys: boolean
      readonly applicationKeypad: boolean
      readonly bracketedPasteMode: boolean
      readonly cursorBlink: boolean | undefined
      readonly cursorStyle: "block" | "underline" | "bar" | undefined
      readonly origin: boolean
      readonly reverseWraparound: boolean
      readonly sendFocus: boolean
      readonly synchronizedOutput: boolean
      readonly wraparound: boolean
    }
  }
  readonly coreMouseService: { readonly activeProtocol: string; readonly activeEncoding: string }
  readonly _charsetService: {
    readonly charset: Charset
    readonly glevel: number
    readonly _charsets: ReadonlyArray<Charset>
  }
  readonly optionsService: { readonly rawOptions: { readonly convertEol: boolean; readonly cursorBlink: boolean } }
}

const core = (term: Terminal): CoreInternals => (term as unknown as { readonly _core: CoreInternals })._core

/** The flags of the character sets xterm knows (`CHARSETS` in src/common/data/Charsets.ts). */
const CHARSET_FLAGS = ["0", "A", "B", "4", "C", "5", "R", "Q", "K", "Y", "E", "6", "Z", "H", "7", "="]

let charsetFlags: Map<object, string> | undefined

/** Maps xterm's charset tables (shared by every terminal in the process) back to their designation flags. */
const charsetFlag = (TerminalClass: new(options: object) => Terminal, charset: Charset): string | undefined => {
  if (charset === undefined) return "B"
  if (charsetFlags === undefined) {
    const scratch = new TerminalClass({ cols: 10, rows: 2, allowProposedApi: true })
    const internals = core(scratch)
    const map = new Map<object, string>()
    for (const flag of CHARSET_FLAGS) {
      internals._inputHandler.selectCharset("(" + flag)
      const table = internals._charsetService._charsets[0]
      if (table !== undefined && !map.has(table)) map.set(table, flag)
    }
    scratch.dispose()
    charsetFlags = map
  }
  return charsetFlags.get(charset)
}

/**
 * Whether the terminal has the internals this module reads.
 *
 * @internal
 */
export const supported = (term: Terminal): boolean => {
  const c = core(term) as Partial<CoreInternals> | undefined
  return typeof c === "object" && c !== null &&
    typeof c._bufferService?.buffers?.normal?.savedCurAttrData === "object" &&
    typeof c._inputHandler?._curAttrData?.isBold === "function" &&
    typeof c._inputHandler?.selectCharset === "function" &&
    typeof c.coreService?.decPrivateModes === "object" &&
    typeof c.coreMouseService?.activeEncoding === "string" &&
    Array.isArray(c._charsetService?._charsets)
}

// ---------------------------------------------------------------------------
// Writing state as escape sequences
// ---------------------------------------------------------------------------

const CSI = "\x1b["
const CM_MASK = 0x3000000
const CM_P16 = 0x1000000
const CM_P256 = 0x2000000
const CM_RGB = 0x3000000

const color = (value: number, base: number, extended: number): Array<number> => {
  const mode = value & CM_MASK
  const index = value & 0xff
  switch (mode) {
    case CM_P16:
      return index < 8 ? [base + index] : [base + 60 + index - 8]
    case CM_P256:
      return [extended, 5, index]
    case CM_RGB:
      return [extended, 2, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]
    default:
      return []
  }
}

/** `CSI 0 ; … m` for a pen. */
const sgr = (attr: AttributeData, withExtended: boolean): string => {
  const params: Array<number | string> = [0]
  params.push(...color(attr.fg, 30, 38), ...color(attr.bg, 40, 48))
  if (attr.isBold()) params.push(1)
  if (attr.isDim()) params.push(2)
  if (attr.isItalic()) params.push(3)
  if (attr.isUnderline()) {
    const style = withExtended && attr.hasExtendedAttrs() ? attr.getUnderlineStyle() : 1
    params.push(style <= 1 ? 4 : `4:${style}`)
  }
  if (attr.isBlink()) params.push(5)
  if (attr.isInverse()) params.push(7)
  if (attr.isInvisible()) params.push(8)
  if (attr.isStrikethrough()) params.push(9)
  if (attr.isOverline()) params.push(53)
  const underlineColor = attr.extended.underlineColor
  if (withExtended && attr.hasExtendedAttrs() && ~underlineColor && (underlineColor & CM_MASK) !== 0) {
    const value = underlineColor
    if ((underlineColor & CM_MASK) === CM_RGB) {
      params.push(58, 2, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
    } else {
      params.push(58, 5, value & 0xff)
    }
  }
  return `${CSI}${params.join(";")}m`
}

const cup = (row: number, col: number) => `${CSI}${row + 1};${col + 1}H`

const defaultTabs = (tabs: Record<number, boolean | undefined>, cols: number): boolean => {
  for (let i = 0; i < cols; i++) {
    if (Boolean(tabs[i]) !== (i % 8 === 0)) return false
  }
  return true
}

const tabStops = (buffer: BufferInternals, cols: number): string => {
  if (defaultTabs(buffer.tabs, cols)) return ""
  let out = `${CSI}3g`
  for (let i = 0; i < cols; i++) if (buffer.tabs[i]) out += `${CSI}${i + 1}G\x1bH`
  return out
}

const scrollRegion = (buffer: BufferInternals, rows: number): string =>
  buffer.scrollTop === 0 && buffer.scrollBottom === rows - 1
    ? ""
    : `${CSI}${buffer.scrollTop + 1};${buffer.scrollBottom + 1}r`

const designate = (flag: string, g: number) => `\x1b${"()*+"[g]}${flag}`

/**
 * The saved cursor of a buffer: `place` puts the cursor there, then `pen` and `charset` set what DECSC
 * (or DECSET 1049) saves with it. `undefined` if it cannot be written.
 */
const savedCursor = (
  TerminalClass: new(options: object) => Terminal,
  buffer: BufferInternals,
  lines: IBuffer,
  cols: number,
  rows: number
): { readonly place: string; readonly pen: string; readonly charset: string } | undefined => {
  const flag = charsetFlag(TerminalClass, buffer.savedCharset)
  if (flag === undefined) return undefined
  // A cursor saved below the screen (the terminal shrank since) is saved at the bottom row: DECRC puts
  // it there in both terminals (it restricts the cursor to the screen), until the terminal grows again.
  const row = Math.min(Math.max(buffer.savedY - buffer.ybase, 0), rows - 1)
  let place = cup(row, buffer.savedX)
  if (buffer.savedX >= cols) {
    // Saved while waiting to wrap past the last column: print the row's last character again, as it is,
    // which leaves the cursor waiting there too. (Not possible when that cell is blank.)
    const line = lines.getLine(lines.baseY + row)
    const last = line?.getCell(cols - 1) as (IBufferCell & AttributeData) | undefined
    if (line === undefined || last === undefined) return undefined
    const cell = last.getWidth() === 0 ? line.getCell(cols - 2) as (IBufferCell & AttributeData) | undefined : last
    if (cell === undefined || cell.getChars() === "") return undefined
    place = cup(row, cols - cell.getWidth()) + sgr(cell, true) + cell.getChars()
  }
  return { place, pen: sgr(buffer.savedCurAttrData, false), charset: designate(flag, 0) + "\x0f" }
}

const modes = (term: Terminal): string => {
  const c = core(term)
  const dec = c.coreService.decPrivateModes
  let out = ""
  if (dec.applicationCursorKeys) out += `${CSI}?1h`
  if (dec.applicationKeypad) out += `${CSI}?66h`
  if (dec.bracketedPasteMode) out += `${CSI}?2004h`
  if (c.coreService.modes.insertMode) out += `${CSI}4h`
  if (c.optionsService.rawOptions.convertEol) out += `${CSI}20h`
  if (dec.reverseWraparound) out += `${CSI}?45h`
  if (dec.sendFocus) out += `${CSI}?1004h`
  if (!dec.wraparound) out += `${CSI}?7l`
  if (dec.synchronizedOutput) out += `${CSI}?2026h`
  if (c.optionsService.rawOptions.cursorBlink) out += `${CSI}?12h`
  switch (c.coreMouseService.activeProtocol) {
    case "X10":
      out += `${CSI}?9h`
      break
    case "VT200":
      out += `${CSI}?1000h`
      break
    case "DRAG":
      out += `${CSI}?1002h`
      break
    case "ANY":
      out += `${CSI}?1003h`
      break
  }
  if (c.coreMouseService.activeEncoding === "SGR") out += `${CSI}?1006h`
  if (c.coreMouseService.activeEncoding === "SGR_PIXELS") out += `${CSI}?1016h`
  if (dec.cursorStyle !== undefined) {
    const base = dec.cursorStyle === "block" ? 1 : dec.cursorStyle === "underline" ? 3 : 5
    out += `${CSI}${dec.cursorBlink === true ? base : base + 1} q`
  }
  if (c.coreService.isCursorHidden) out += `${CSI}?25l`
  // Last of the modes: DECOM homes the cursor, which is placed after this.
  if (dec.origin) out += `${CSI}?6h`
  return out
}

/**
 * The snapshot of `term` with at most `scrollback` lines of scrollback, or
 * `undefined` when its state cannot be written (the cursor waits to wrap
 * past the last column, a saved cursor does over a blank, a character set
 * is not one xterm can designate, the active character set is not the
 * designated one, or the pen has the underline flag without a style).
 *
 * @internal
 */
export const serialize = (
  TerminalClass: new(options: object) => Terminal,
  term: Terminal,
  scrollback: number
): { readonly snapshot: string; readonly scrollbackLines: number } | undefined => {
  const c = core(term)
  const { cols, rows } = c
  const { active, alt, normal } = c._bufferService.buffers
  const inAlt = active === alt
  if (active.x >= cols) return undefined
  const charsets = c._charsetService
  if (charsets.charset !== charsets._charsets[charsets.glevel]) return undefined
  // The pen DECRC leaves when it restores an underlined pen over reset extended attributes (the underline
  // flag without a style): only DECRC makes it, which would take the saved cursor. Wait for the next SGR.
  const pen = c._inputHandler._curAttrData
  if ((pen.fg & 0x10000000) !== 0 && pen.hasExtendedAttrs() !== 0 && pen.extended.underlineStyle === 0) return undefined
  const flags: Array<string> = []
  for (let g = 0; g < 4; g++) {
    const flag = charsetFlag(TerminalClass, charsets._charsets[g])
    if (flag === undefined) return undefined
    flags.push(flag)
  }

  // A full reset first: the snapshot does not depend on what the receiving terminal showed before.
  let out = "\x1bc"
  const normalLines = serializeBuffer(term, term.buffer.normal, scrollback)
  out += normalLines.text
  out += tabStops(normal, cols) + scrollRegion(normal, rows)
  if (inAlt) {
    // DECSET 1049 saves the cursor of the normal screen (restored when the program leaves the
    // alternate screen): place it, with its pen and charset, where the program's 1049 saved it.
    const saved = savedCursor(TerminalClass, normal, term.buffer.normal, cols, rows)
    if (saved === undefined) return undefined
    out += saved.place + saved.pen + saved.charset + `${CSI}?1049h`
    // 1049 erased the alternate screen with the saved pen's background: erase it with the default, and
    // print the alternate screen in the default character set.
    out += `${CSI}0m${CSI}H${CSI}2J\x1b(B\x0f`
    out += serializeBuffer(term, term.buffer.alternate, undefined).text
    out += tabStops(alt, cols) + scrollRegion(alt, rows)
    // Always written: the cells may have used DECSC themselves (see serializeBuffer).
    const altSaved = savedCursor(TerminalClass, alt, term.buffer.alternate, cols, rows)
    if (altSaved === undefined) return undefined
    out += altSaved.place + altSaved.pen + altSaved.charset + "\x1b7"
  } else {
    const saved = savedCursor(TerminalClass, normal, term.buffer.normal, cols, rows)
    if (saved === undefined) return undefined
    out += saved.place + saved.pen + saved.charset + "\x1b7"
  }
  for (let g = 0; g < 4; g++) out += designate(flags[g], g)
  out += charsets.glevel === 0 ? "\x0f" : charsets.glevel === 1 ? "\x0e" : charsets.glevel === 2 ? "\x1bn" : "\x1bo"
  out += modes(term)
  const dec = c.coreService.decPrivateModes
  if (dec.origin) {
    if (active.y < active.scrollTop || active.y > active.scrollBottom) return undefined
    out += cup(active.y - active.scrollTop, active.x)
  } else {
    out += cup(active.y, active.x)
  }
  // Ends with a control sequence, so the receiving parser has no character to repeat or join.
  out += sgr(c._inputHandler._curAttrData, true)
  return { snapshot: out, scrollbackLines: normalLines.scrollbackLines }
}

// ---------------------------------------------------------------------------
// Comparing two terminals
// ---------------------------------------------------------------------------

/** @internal */
export interface CellInternals extends IBufferCell {
  getUnderlineStyle(): number
  getUnderlineColor(): number
  getUnderlineColorMode(): number
  hasExtendedAttrs(): number
  isProtected(): number
}

const sameAttributes = (a: CellInternals, b: CellInternals): boolean =>
  a.getFgColorMode() === b.getFgColorMode() && a.getFgColor() === b.getFgColor() &&
  a.getBgColorMode() === b.getBgColorMode() && a.getBgColor() === b.getBgColor() &&
  a.isBold() === b.isBold() && a.isDim() === b.isDim() && a.isItalic() === b.isItalic() &&
  a.isUnderline() === b.isUnderline() && a.isBlink() === b.isBlink() && a.isInverse() === b.isInverse() &&
  a.isInvisible() === b.isInvisible() && a.isStrikethrough() === b.isStrikethrough() &&
  a.isOverline() === b.isOverline() && a.isProtected() === b.isProtected() &&
  (a.isUnderline() === 0 || (a.getUnderlineStyle() === b.getUnderlineStyle() &&
    a.getUnderlineColor() === b.getUnderlineColor() && a.getUnderlineColorMode() === b.getUnderlineColorMode()))

/**
 * Whether two cells look the same. A blank cell shows only its background,
 * unless its foreground attributes show (inverse, underline, strikethrough,
 * overline): then it looks like a space with the same attributes, which is
 * how it is written (no escape sequence makes such a blank).
 *
 * @internal
 */
export const sameCell = (a: CellInternals, b: CellInternals): boolean => {
  if (a.getWidth() !== b.getWidth()) return false
  const charsA = a.getChars()
  const charsB = b.getChars()
  const blankA = charsA === "" && !showsForeground(a)
  const blankB = charsB === "" && !showsForeground(b)
  if (blankA || blankB) {
    return blankA && blankB && a.getBgColorMode() === b.getBgColorMode() && a.getBgColor() === b.getBgColor()
  }
  return (charsA === charsB || (charsA || " ") === (charsB || " ")) && sameAttributes(a, b)
}

const describeCell = (c: CellInternals): string =>
  JSON.stringify([c.getChars(), c.getWidth(), c.getFgColorMode(), c.getFgColor(), c.getBgColorMode(), c.getBgColor()]) +
  [c.isBold(), c.isDim(), c.isItalic(), c.isUnderline(), c.isBlink(), c.isInverse(), c.isInvisible()].map(Boolean).map(
    Number
  ).join("")

const CM_MASK_ALL = 0x3000000
/** A colour word with only what its mode uses (xterm leaves stale bits of an earlier RGB colour). */
const colorValue = (word: number): number => {
  const mode = word & CM_MASK_ALL
  return mode === CM_RGB ? word & 0x3ffffff : mode === 0 ? 0 : word & (CM_MASK_ALL | 0xff)
}
const FLAG_MASK = 0xfc000000

const sameAttr = (a: AttributeData, b: AttributeData): boolean =>
  colorValue(a.fg) === colorValue(b.fg) && colorValue(a.bg) === colorValue(b.bg) &&
  (a.fg & FLAG_MASK) === (b.fg & FLAG_MASK) && (a.bg & FLAG_MASK) === (b.bg & FLAG_MASK) &&
  (a.hasExtendedAttrs() === 0 ||
    (a.extended.underlineStyle === b.extended.underlineStyle &&
      a.extended.underlineColor === b.extended.underlineColor && a.extended.urlId === b.extended.urlId))

interface LineInternals {
  readonly _line?: {
    readonly _data?: Uint32Array
    readonly _combined?: Record<number, string>
    readonly _extendedAttrs?: Record<number, { readonly ext: number; readonly urlId: number } | undefined>
  }
}

/** A fast path: the two lines hold the very same cell data (then they are the same; otherwise compare cell by cell). */
const identicalData = (a: unknown, b: unknown, cols: number): boolean => {
  const la = (a as LineInternals)._line
  const lb = (b as LineInternals)._line
  const da = la?._data
  const db = lb?._data
  if (da === undefined || db === undefined || da.length < cols * 3 || db.length < cols * 3) return false
  // Per cell: the content word, then the foreground and background words, compared as xterm uses them
  // (a palette colour may keep stale bits of an earlier RGB colour).
  for (let i = 0; i < cols * 3; i += 3) {
    if (da[i] !== db[i]) return false
    const fa = da[i + 1]
    const fb = db[i + 1]
    if (fa !== fb && (colorValue(fa) !== colorValue(fb) || (fa & FLAG_MASK) !== (fb & FLAG_MASK))) return false
    const ba = da[i + 2]
    const bb = db[i + 2]
    if (ba !== bb && (colorValue(ba) !== colorValue(bb) || (ba & FLAG_MASK) !== (bb & FLAG_MASK))) return false
  }
  const ca = la!._combined ?? {}
  const cb = lb!._combined ?? {}
  for (const key in ca) if (Number(key) < cols && ca[key] !== cb[key]) return false
  for (const key in cb) if (Number(key) < cols && ca[key] !== cb[key]) return false
  const ea = la!._extendedAttrs ?? {}
  const eb = lb!._extendedAttrs ?? {}
  for (const key in ea) {
    if (Number(key) < cols && (ea[key]?.ext !== eb[key]?.ext || ea[key]?.urlId !== eb[key]?.urlId)) return false
  }
  for (const key in eb) {
    if (Number(key) < cols && (ea[key]?.ext !== eb[key]?.ext || ea[key]?.urlId !== eb[key]?.urlId)) return false
  }
  return true
}

/** Compares the last `count` lines of two public buffers, cell by cell; a description of the first difference. */
const diffLines = (
  a: IBuffer,
  b: IBuffer,
  count: number,
  cols: number,
  name: string,
  firstWrapped: boolean
): string | undefined => {
  const cellA = a.getNullCell() as CellInternals
  const cellB = b.getNullCell() as CellInternals
  for (let i = 1; i <= count; i++) {
    const lineA = a.getLine(a.length - i)
    const lineB = b.getLine(b.length - i)
    if (lineA === undefined || lineB === undefined) return `${name}: line -${i} missing`
    // The top row of the alternate screen may continue a row that scrolled off it: no snapshot can mark it.
    const ignoreWrap = !firstWrapped && b.length - i === 0
    if (lineA.isWrapped !== lineB.isWrapped && !ignoreWrap) return `${name}: line -${i} wrapped ${lineA.isWrapped}`
    if (identicalData(lineA, lineB, cols)) continue
    for (let x = 0; x < cols; x++) {
      lineA.getCell(x, cellA)
      lineB.getCell(x, cellB)
      if (!sameCell(cellA, cellB)) {
        return `${name}: line -${i} column ${x}: ${describeCell(cellA)} vs ${describeCell(cellB)}`
      }
    }
  }
  return undefined
}

const savedRow = (buffer: BufferInternals, rows: number) =>
  Math.min(Math.max(buffer.savedY - buffer.ybase, 0), rows - 1)

const diffBufferState = (
  a: BufferInternals,
  b: BufferInternals,
  cols: number,
  rows: number,
  name: string
): string | undefined => {
  if (a.x !== b.x || a.y !== b.y) return `${name}: cursor ${a.x},${a.y} vs ${b.x},${b.y}`
  if (a.scrollTop !== b.scrollTop || a.scrollBottom !== b.scrollBottom) return `${name}: scroll region`
  for (let i = 0; i < cols; i++) if (Boolean(a.tabs[i]) !== Boolean(b.tabs[i])) return `${name}: tab stop ${i}`
  if (
    a.savedX !== b.savedX || savedRow(a, rows) !== savedRow(b, rows) ||
    colorValue(a.savedCurAttrData.fg) !== colorValue(b.savedCurAttrData.fg) ||
    colorValue(a.savedCurAttrData.bg) !== colorValue(b.savedCurAttrData.bg) ||
    (a.savedCurAttrData.fg & FLAG_MASK) !== (b.savedCurAttrData.fg & FLAG_MASK) ||
    (a.savedCurAttrData.bg & FLAG_MASK) !== (b.savedCurAttrData.bg & FLAG_MASK) ||
    a.savedCharset !== b.savedCharset
  ) {
    return `${name}: saved cursor ${a.savedX},${a.savedY - a.ybase} vs ${b.savedX},${b.savedY - b.ybase}`
  }
  return undefined
}

/**
 * The first difference between a terminal and one rebuilt from its snapshot
 * (`undefined` when they are the same): everything a later byte could
 * reveal. The scrollback is compared over the lines the replica has.
 *
 * @internal
 */
export const diff = (reference: Terminal, replica: Terminal): string | undefined => {
  const a = core(reference)
  const b = core(replica)
  if (a.cols !== b.cols || a.rows !== b.rows) return "size"
  const cols = a.cols
  const bufA = a._bufferService.buffers
  const bufB = b._bufferService.buffers
  const inAlt = bufA.active === bufA.alt
  if (inAlt !== (bufB.active === bufB.alt)) return "active buffer"
  const modesA = JSON.stringify(a.coreService.decPrivateModes)
  if (modesA !== JSON.stringify(b.coreService.decPrivateModes)) return "DEC private modes"
  if (a.coreService.modes.insertMode !== b.coreService.modes.insertMode) return "insert mode"
  if (a.coreService.isCursorHidden !== b.coreService.isCursorHidden) return "cursor visibility"
  if (
    a.coreMouseService.activeProtocol !== b.coreMouseService.activeProtocol ||
    a.coreMouseService.activeEncoding !== b.coreMouseService.activeEncoding
  ) return "mouse mode"
  if (
    a.optionsService.rawOptions.convertEol !== b.optionsService.rawOptions.convertEol ||
    a.optionsService.rawOptions.cursorBlink !== b.optionsService.rawOptions.cursorBlink
  ) return "options"
  const csA = a._charsetService
  const csB = b._charsetService
  if (csA.glevel !== csB.glevel || csA.charset !== csB.charset) return "charset"
  for (let g = 0; g < 4; g++) if (csA._charsets[g] !== csB._charsets[g]) return `charset G${g}`
  if (!sameAttr(a._inputHandler._curAttrData, b._inputHandler._curAttrData)) {
    const pa = a._inputHandler._curAttrData
    const pb = b._inputHandler._curAttrData
    return `pen ${pa.fg.toString(16)}/${pa.bg.toString(16)}/${JSON.stringify(pa.extended)} vs ${pb.fg.toString(16)}/${
      pb.bg.toString(16)
    }/${JSON.stringify(pb.extended)}`
  }
  const normalState = inAlt
    // The normal screen's cursor is replaced when the alternate screen is left; its saved cursor is what counts.
    ? diffBufferState({ ...bufA.normal, x: 0, y: 0 }, { ...bufB.normal, x: 0, y: 0 }, cols, a.rows, "normal")
    : diffBufferState(bufA.normal, bufB.normal, cols, a.rows, "normal")
  if (normalState !== undefined) return normalState
  const normalLines = Math.min(bufA.normal.lines.length, bufB.normal.lines.length)
  if (bufB.normal.lines.length > bufA.normal.lines.length) return "normal: more lines"
  const lines = diffLines(reference.buffer.normal, replica.buffer.normal, normalLines, cols, "normal", true)
  if (lines !== undefined) return lines
  if (inAlt) {
    const altState = diffBufferState(bufA.alt, bufB.alt, cols, a.rows, "alternate")
    if (altState !== undefined) return altState
    return diffLines(reference.buffer.alternate, replica.buffer.alternate, a.rows, cols, "alternate", false)
  }
  return undefined
}
