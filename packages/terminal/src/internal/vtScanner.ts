/**
 * A byte scanner that follows the state of xterm.js's input parser without
 * doing any of its work: the UTF-8 decoder and the VT500 state machine of
 * `@xterm/headless` 6.0.0, so that the keyframe engine knows, for any byte
 * offset, whether the terminal is between sequences there (a snapshot can
 * only describe a terminal whose parser is at rest).
 *
 * The transition table is xterm.js's `VT500_TRANSITION_TABLE`
 * (src/common/parser/EscapeSequenceParser.ts, MIT licence, © the xterm.js
 * authors), rebuilt here from the same rules; the UTF-8 decoding follows
 * `Utf8ToUtf32.decode` (src/common/input/TextDecoder.ts) for input that is
 * not split inside a code point, which is the only input the engine gives
 * xterm. A test checks both against xterm's own parser state.
 *
 * @internal
 */

const enum State {
  GROUND = 0,
  ESCAPE = 1,
  ESCAPE_INTERMEDIATE = 2,
  CSI_ENTRY = 3,
  CSI_PARAM = 4,
  CSI_INTERMEDIATE = 5,
  CSI_IGNORE = 6,
  SOS_PM_APC_STRING = 7,
  OSC_STRING = 8,
  DCS_ENTRY = 9,
  DCS_PARAM = 10,
  DCS_IGNORE = 11,
  DCS_INTERMEDIATE = 12,
  DCS_PASSTHROUGH = 13
}

const enum Action {
  IGNORE = 0,
  ERROR = 1,
  PRINT = 2,
  EXECUTE = 3,
  OSC_START = 4,
  OSC_PUT = 5,
  OSC_END = 6,
  CSI_DISPATCH = 7,
  PARAM = 8,
  COLLECT = 9,
  ESC_DISPATCH = 10,
  CLEAR = 11,
  DCS_HOOK = 12,
  DCS_PUT = 13,
  DCS_UNHOOK = 14
}

const NON_ASCII_PRINTABLE = 0xa0

const table: Uint8Array = (() => {
  const t = new Uint8Array(4095)
  const add = (code: number, state: State, action: Action, next: State) => {
    t[state << 8 | code] = action << 4 | next
  }
  const addMany = (codes: ReadonlyArray<number>, state: State, action: Action, next: State) => {
    for (const code of codes) add(code, state, action, next)
  }
  const r = (start: number, end: number): Array<number> => {
    const out: Array<number> = []
    for (let i = start; i < end; i++) out.push(i)
    return out
  }
  const PRINTABLES = r(0x20, 0x7f)
  const EXECUTABLES = [...r(0x00, 0x18), 0x19, ...r(0x1c, 0x20)]
  t.fill(Action.ERROR << 4 | State.GROUND)
  addMany(PRINTABLES, State.GROUND, Action.PRINT, State.GROUND)
  for (let state = State.GROUND; state <= State.DCS_PASSTHROUGH; state++) {
    addMany([0x18, 0x1a, 0x99, 0x9a], state, Action.EXECUTE, State.GROUND)
    addMany(r(0x80, 0x90), state, Action.EXECUTE, State.GROUND)
    addMany(r(0x90, 0x98), state, Action.EXECUTE, State.GROUND)
    add(0x9c, state, Action.IGNORE, State.GROUND)
    add(0x1b, state, Action.CLEAR, State.ESCAPE)
    add(0x9d, state, Action.OSC_START, State.OSC_STRING)
    addMany([0x98, 0x9e, 0x9f], state, Action.IGNORE, State.SOS_PM_APC_STRING)
    add(0x9b, state, Action.CLEAR, State.CSI_ENTRY)
    add(0x90, state, Action.CLEAR, State.DCS_ENTRY)
  }
  addMany(EXECUTABLES, State.GROUND, Action.EXECUTE, State.GROUND)
  addMany(EXECUTABLES, State.ESCAPE, Action.EXECUTE, State.ESCAPE)
  add(0x7f, State.ESCAPE, Action.IGNORE, State.ESCAPE)
  addMany(EXECUTABLES, State.OSC_STRING, Action.IGNORE, State.OSC_STRING)
  addMany(EXECUTABLES, State.CSI_ENTRY, Action.EXECUTE, State.CSI_ENTRY)
  add(0x7f, State.CSI_ENTRY, Action.IGNORE, State.CSI_ENTRY)
  addMany(EXECUTABLES, State.CSI_PARAM, Action.EXECUTE, State.CSI_PARAM)
  add(0x7f, State.CSI_PARAM, Action.IGNORE, State.CSI_PARAM)
  addMany(EXECUTABLES, State.CSI_IGNORE, Action.EXECUTE, State.CSI_IGNORE)
  addMany(EXECUTABLES, State.CSI_INTERMEDIATE, Action.EXECUTE, State.CSI_INTERMEDIATE)
  add(0x7f, State.CSI_INTERMEDIATE, Action.IGNORE, State.CSI_INTERMEDIATE)
  addMany(EXECUTABLES, State.ESCAPE_INTERMEDIATE, Action.EXECUTE, State.ESCAPE_INTERMEDIATE)
  add(0x7f, State.ESCAPE_INTERMEDIATE, Action.IGNORE, State.ESCAPE_INTERMEDIATE)
  add(0x5d, State.ESCAPE, Action.OSC_START, State.OSC_STRING)
  addMany(PRINTABLES, State.OSC_STRING, Action.OSC_PUT, State.OSC_STRING)
  add(0x7f, State.OSC_STRING, Action.OSC_PUT, State.OSC_STRING)
  addMany([0x9c, 0x1b, 0x18, 0x1a, 0x07], State.OSC_STRING, Action.OSC_END, State.GROUND)
  addMany(r(0x1c, 0x20), State.OSC_STRING, Action.IGNORE, State.OSC_STRING)
  addMany([0x58, 0x5e, 0x5f], State.ESCAPE, Action.IGNORE, State.SOS_PM_APC_STRING)
  addMany(PRINTABLES, State.SOS_PM_APC_STRING, Action.IGNORE, State.SOS_PM_APC_STRING)
  addMany(EXECUTABLES, State.SOS_PM_APC_STRING, Action.IGNORE, State.SOS_PM_APC_STRING)
  add(0x9c, State.SOS_PM_APC_STRING, Action.IGNORE, State.GROUND)
  add(0x7f, State.SOS_PM_APC_STRING, Action.IGNORE, State.SOS_PM_APC_STRING)
  add(0x5b, State.ESCAPE, Action.CLEAR, State.CSI_ENTRY)
  addMany(r(0x40, 0x7f), State.CSI_ENTRY, Action.CSI_DISPATCH, State.GROUND)
  addMany(r(0x30, 0x3c), State.CSI_ENTRY, Action.PARAM, State.CSI_PARAM)
  addMany([0x3c, 0x3d, 0x3e, 0x3f], State.CSI_ENTRY, Action.COLLECT, State.CSI_PARAM)
  addMany(r(0x30, 0x3c), State.CSI_PARAM, Action.PARAM, State.CSI_PARAM)
  addMany(r(0x40, 0x7f), State.CSI_PARAM, Action.CSI_DISPATCH, State.GROUND)
  addMany([0x3c, 0x3d, 0x3e, 0x3f], State.CSI_PARAM, Action.IGNORE, State.CSI_IGNORE)
  addMany(r(0x20, 0x40), State.CSI_IGNORE, Action.IGNORE, State.CSI_IGNORE)
  add(0x7f, State.CSI_IGNORE, Action.IGNORE, State.CSI_IGNORE)
  addMany(r(0x40, 0x7f), State.CSI_IGNORE, Action.IGNORE, State.GROUND)
  addMany(r(0x20, 0x30), State.CSI_ENTRY, Action.COLLECT, State.CSI_INTERMEDIATE)
  addMany(r(0x20, 0x30), State.CSI_INTERMEDIATE, Action.COLLECT, State.CSI_INTERMEDIATE)
  addMany(r(0x30, 0x40), State.CSI_INTERMEDIATE, Action.IGNORE, State.CSI_IGNORE)
  addMany(r(0x40, 0x7f), State.CSI_INTERMEDIATE, Action.CSI_DISPATCH, State.GROUND)
  addMany(r(0x20, 0x30), State.CSI_PARAM, Action.COLLECT, State.CSI_INTERMEDIATE)
  addMany(r(0x20, 0x30), State.ESCAPE, Action.COLLECT, State.ESCAPE_INTERMEDIATE)
  addMany(r(0x20, 0x30), State.ESCAPE_INTERMEDIATE, Action.COLLECT, State.ESCAPE_INTERMEDIATE)
  addMany(r(0x30, 0x7f), State.ESCAPE_INTERMEDIATE, Action.ESC_DISPATCH, State.GROUND)
  addMany(r(0x30, 0x50), State.ESCAPE, Action.ESC_DISPATCH, State.GROUND)
  addMany(r(0x51, 0x58), State.ESCAPE, Action.ESC_DISPATCH, State.GROUND)
  addMany([0x59, 0x5a, 0x5c], State.ESCAPE, Action.ESC_DISPATCH, State.GROUND)
  addMany(r(0x60, 0x7f), State.ESCAPE, Action.ESC_DISPATCH, State.GROUND)
  add(0x50, State.ESCAPE, Action.CLEAR, State.DCS_ENTRY)
  addMany(EXECUTABLES, State.DCS_ENTRY, Action.IGNORE, State.DCS_ENTRY)
  add(0x7f, State.DCS_ENTRY, Action.IGNORE, State.DCS_ENTRY)
  addMany(r(0x1c, 0x20), State.DCS_ENTRY, Action.IGNORE, State.DCS_ENTRY)
  addMany(r(0x20, 0x30), State.DCS_ENTRY, Action.COLLECT, State.DCS_INTERMEDIATE)
  addMany(r(0x30, 0x3c), State.DCS_ENTRY, Action.PARAM, State.DCS_PARAM)
  addMany([0x3c, 0x3d, 0x3e, 0x3f], State.DCS_ENTRY, Action.COLLECT, State.DCS_PARAM)
  addMany(EXECUTABLES, State.DCS_IGNORE, Action.IGNORE, State.DCS_IGNORE)
  addMany(r(0x20, 0x80), State.DCS_IGNORE, Action.IGNORE, State.DCS_IGNORE)
  addMany(r(0x1c, 0x20), State.DCS_IGNORE, Action.IGNORE, State.DCS_IGNORE)
  addMany(EXECUTABLES, State.DCS_PARAM, Action.IGNORE, State.DCS_PARAM)
  add(0x7f, State.DCS_PARAM, Action.IGNORE, State.DCS_PARAM)
  addMany(r(0x1c, 0x20), State.DCS_PARAM, Action.IGNORE, State.DCS_PARAM)
  addMany(r(0x30, 0x3c), State.DCS_PARAM, Action.PARAM, State.DCS_PARAM)
  addMany([0x3c, 0x3d, 0x3e, 0x3f], State.DCS_PARAM, Action.IGNORE, State.DCS_IGNORE)
  addMany(r(0x20, 0x30), State.DCS_PARAM, Action.COLLECT, State.DCS_INTERMEDIATE)
  addMany(EXECUTABLES, State.DCS_INTERMEDIATE, Action.IGNORE, State.DCS_INTERMEDIATE)
  add(0x7f, State.DCS_INTERMEDIATE, Action.IGNORE, State.DCS_INTERMEDIATE)
  addMany(r(0x1c, 0x20), State.DCS_INTERMEDIATE, Action.IGNORE, State.DCS_INTERMEDIATE)
  addMany(r(0x20, 0x30), State.DCS_INTERMEDIATE, Action.COLLECT, State.DCS_INTERMEDIATE)
  addMany(r(0x30, 0x40), State.DCS_INTERMEDIATE, Action.IGNORE, State.DCS_IGNORE)
  addMany(r(0x40, 0x7f), State.DCS_INTERMEDIATE, Action.DCS_HOOK, State.DCS_PASSTHROUGH)
  addMany(r(0x40, 0x7f), State.DCS_PARAM, Action.DCS_HOOK, State.DCS_PASSTHROUGH)
  addMany(r(0x40, 0x7f), State.DCS_ENTRY, Action.DCS_HOOK, State.DCS_PASSTHROUGH)
  addMany(EXECUTABLES, State.DCS_PASSTHROUGH, Action.DCS_PUT, State.DCS_PASSTHROUGH)
  addMany(PRINTABLES, State.DCS_PASSTHROUGH, Action.DCS_PUT, State.DCS_PASSTHROUGH)
  add(0x7f, State.DCS_PASSTHROUGH, Action.IGNORE, State.DCS_PASSTHROUGH)
  addMany([0x1b, 0x9c, 0x18, 0x1a], State.DCS_PASSTHROUGH, Action.DCS_UNHOOK, State.GROUND)
  add(NON_ASCII_PRINTABLE, State.GROUND, Action.PRINT, State.GROUND)
  add(NON_ASCII_PRINTABLE, State.OSC_STRING, Action.OSC_PUT, State.OSC_STRING)
  add(NON_ASCII_PRINTABLE, State.CSI_IGNORE, Action.IGNORE, State.CSI_IGNORE)
  add(NON_ASCII_PRINTABLE, State.DCS_IGNORE, Action.IGNORE, State.DCS_IGNORE)
  add(NON_ASCII_PRINTABLE, State.DCS_PASSTHROUGH, Action.DCS_PUT, State.DCS_PASSTHROUGH)
  return t
})()

/** What a scan stopped at. */
export const enum Stop {
  /** The end of the range. */
  End = 0,
  /** A position where the terminal is at rest (see {@link VtScanner.atRest}). */
  Rest = 1
}

/**
 * The parser state of a terminal fed the bytes scanned so far.
 *
 * @internal
 */
export class VtScanner {
  /** The VT parser state (xterm's `ParserState`). */
  state: number = State.GROUND
  /** UTF-8 continuation bytes still expected (0: between code points). */
  private need = 0
  private codepoint = 0
  private length = 0
  /**
   * The last parser action was a print: xterm then keeps the printed
   * character's properties (`precedingJoinState`) for REP (`CSI b`) and for
   * joining a following combining character, which a snapshot cannot carry.
   */
  joinPending = false
  /** ESC c (RIS, a full reset) was seen since this flag was last cleared. */
  sawReset = false
  /** The collected intermediate / prefix bytes of the current sequence (as xterm's `_collect`). */
  private collect = 0
  /**
   * The index, in the array of the last `scan`, of the lead byte of the
   * incomplete UTF-8 sequence the scan ended in; -1 if that sequence started
   * in an earlier scan (or there is none).
   */
  leadIndex = -1

  /** Between UTF-8 code points: xterm's decoder holds no partial sequence here. */
  get codepointBoundary(): boolean {
    return this.need === 0
  }

  /**
   * The terminal is at rest: the parser is in GROUND, no UTF-8 sequence is
   * pending, and the last action was not a print. A snapshot taken here and
   * the bytes after it reproduce the terminal exactly.
   */
  get atRest(): boolean {
    return this.need === 0 && this.state === State.GROUND && !this.joinPending
  }

  reset(): void {
    this.state = State.GROUND
    this.need = 0
    this.codepoint = 0
    this.length = 0
    this.joinPending = false
    this.collect = 0
  }

  /**
   * Scans `bytes[from, to)`. With `stopAtRest`, stops after the first byte
   * after which the terminal is at rest and returns the index just past it
   * (`Stop.Rest` in `stop`); otherwise (or if there is none) scans to `to`.
   */
  scan(bytes: Uint8Array, from: number, to: number, stopAtRest: boolean): number {
    this.leadIndex = -1
    for (let i = from; i < to; i++) {
      const b = bytes[i]
      if (this.need > 0) {
        if ((b & 0xc0) === 0x80) {
          this.codepoint = this.codepoint << 6 | (b & 0x3f)
          if (--this.need > 0) continue
          const cp = this.codepoint
          const valid = this.length === 2
            ? cp >= 0x80
            : this.length === 3
            ? !(cp < 0x0800 || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0xfeff)
            : !(cp < 0x010000 || cp > 0x10ffff)
          if (valid) this.step(cp)
          if (stopAtRest && this.atRest) return i + 1
          continue
        }
        // A wrong continuation: the partial sequence is dropped and this byte starts anew.
        this.need = 0
      }
      if (b < 0x80) {
        this.step(b)
        if (stopAtRest && this.atRest) return i + 1
      } else if ((b & 0xe0) === 0xc0) {
        this.need = 1
        this.length = 2
        this.codepoint = b & 0x1f
        this.leadIndex = i
      } else if ((b & 0xf0) === 0xe0) {
        this.need = 2
        this.length = 3
        this.codepoint = b & 0x0f
        this.leadIndex = i
      } else if ((b & 0xf8) === 0xf0) {
        this.need = 3
        this.length = 4
        this.codepoint = b & 0x07
        this.leadIndex = i
      } else {
        // An illegal byte: skipped (it does not change the parser; only a print changes `joinPending`).
        if (stopAtRest && this.atRest) return i + 1
      }
    }
    return to
  }

  /** One code point through the VT500 state machine. */
  private step(code: number): void {
    const transition = table[this.state << 8 | (code < 0xa0 ? code : NON_ASCII_PRINTABLE)]
    let next = transition & 15
    switch (transition >> 4) {
      case Action.PRINT:
        this.joinPending = true
        break
      case Action.EXECUTE:
      case Action.CSI_DISPATCH:
        this.joinPending = false
        break
      case Action.ESC_DISPATCH:
        this.joinPending = false
        if (this.collect === 0 && code === 0x63) this.sawReset = true
        break
      case Action.OSC_END:
      case Action.DCS_UNHOOK:
        this.joinPending = false
        if (code === 0x1b) next |= State.ESCAPE
        this.collect = 0
        break
      case Action.CLEAR:
        this.collect = 0
        break
      case Action.COLLECT:
        this.collect = (this.collect << 8 | code) >>> 0
        break
      default:
        break
    }
    this.state = next
  }
}
