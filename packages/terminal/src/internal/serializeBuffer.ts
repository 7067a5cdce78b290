/**
 * Serializes the lines of an xterm.js buffer as the escape sequences that
 * print them again, with their colours, attributes and wrapped-line flags.
 *
 * Adapted from `StringSerializeHandler` in `@xterm/addon-serialize` 0.14.0
 * (addons/addon-serialize/src/SerializeAddon.ts of xterm.js, built from the
 * same commit as `@xterm/headless` 6.0.0; MIT licence, © 2019 the xterm.js
 * authors). The cell loop, the wrapped-line handling and the cursor
 * placement are the addon's; the changes, each found by comparing a
 * terminal with one rebuilt from its serialization:
 *
 * 1. Colours keep their mode: a 256-colour index below 16 (`38;5;1`) stays
 *    one, instead of becoming the 16-colour form (`31`), which xterm.js draws
 *    differently in bold (bright).
 * 2. Underline styles (`4:3` curly, …) and underline colours (`58;…`) are
 *    written; the addon wrote every underline as a plain one.
 * 3. The blank a wide character leaves at the end of a line when it does
 *    not fit (xterm fills it with the pen at that moment; after a reflow it
 *    is a plain blank) is made the same way: the character that starts the
 *    next row is printed in the blank's attributes, then again in its own.
 *    The addon wrote the blank as a default one. A blank whose foreground
 *    attributes show (inverse, underline, strikethrough, overline) anywhere
 *    else (moved by a character deletion, say) cannot be made by any escape
 *    sequence and is written as a space with those attributes: it looks the
 *    same, but copies as a space and counts as text if a later resize
 *    rewraps the line.
 * 4. The background of the blanks of each line is tracked as xterm makes
 *    it: default for the screen's own lines, and, for a line a scroll
 *    creates, the pen that printed the scroll (the next row's first
 *    character's for a natural wrap). The addon started one line late and
 *    did not know the wrap's pen, so it forced every wrap between different
 *    backgrounds with dashes, which (3) then could not always avoid.
 * 5. Trailing rows of coloured blanks (a screen erased in a coloured pen)
 *    are written; the addon left them out as empty.
 * 6. A wrapped line after an entirely blank one: the addon moved the cursor
 *    by "0" columns, which moves one, and left a dash behind.
 * 7. A wrapped row that starts with a blank is continued by force (the
 *    addon's condition let it through as a natural wrap, an operator
 *    precedence slip, and wrote the row shifted onto the line above).
 * 8. The dash printed to force a wrap is erased with the next line's
 *    background, not the current pen's.
 * 9. The scrollback starts at the beginning of a logical line (see below).
 * 10. A pen with the underline flag but no underline style (what DECRC
 *     leaves after the extended attributes were reset) is made by DECRC too.
 * 11. It does not append the terminal's current pen (the snapshot sets it).
 *
 * @internal
 */
import type { IBuffer, IBufferCell, Terminal } from "@xterm/headless"

/** The cell methods beyond the public typings (xterm's `CellData`). */
interface Cell extends IBufferCell {
  hasExtendedAttrs(): number
  getUnderlineStyle(): number
  isUnderlineColorDefault(): boolean
  isUnderlineColorRGB(): boolean
  getUnderlineColor(): number
}

const CM_P16 = 0x1000000

const equalFg = (a: Cell, b: Cell): boolean =>
  a.getFgColorMode() === b.getFgColorMode() && a.getFgColor() === b.getFgColor()

const equalBg = (a: Cell, b: Cell): boolean =>
  a.getBgColorMode() === b.getBgColorMode() && a.getBgColor() === b.getBgColor()

const underlineStyle = (cell: Cell): number =>
  cell.isUnderline() ? (cell.hasExtendedAttrs() ? cell.getUnderlineStyle() : 1) : 0

const underlineColor = (cell: Cell): string =>
  cell.hasExtendedAttrs() && !cell.isUnderlineColorDefault()
    ? `${cell.isUnderlineColorRGB() ? "rgb" : "p"}${cell.getUnderlineColor()}`
    : ""

const FG_UNDERLINE = 0x10000000

/** The underline flag as stored (`isUnderline` also answers for an underline style in the extended attributes). */
const rawUnderline = (cell: Cell): number => (cell as unknown as { readonly fg: number }).fg & FG_UNDERLINE

/**
 * The flag set but the style "none": what a pen becomes when DECRC restores an underlined pen's colours
 * and flags over extended attributes reset since (xterm restores only those two words). Only DECRC makes it.
 */
const hiddenUnderline = (cell: Cell): boolean =>
  rawUnderline(cell) !== 0 && cell.hasExtendedAttrs() !== 0 && cell.getUnderlineStyle() === 0

const equalFlags = (a: Cell, b: Cell): boolean =>
  a.isInverse() === b.isInverse() && a.isBold() === b.isBold() && underlineStyle(a) === underlineStyle(b) &&
  rawUnderline(a) === rawUnderline(b) &&
  a.isOverline() === b.isOverline() && a.isBlink() === b.isBlink() && a.isInvisible() === b.isInvisible() &&
  a.isItalic() === b.isItalic() && a.isDim() === b.isDim() && a.isStrikethrough() === b.isStrikethrough() &&
  underlineColor(a) === underlineColor(b)

/**
 * A blank cell whose foreground attributes can be seen.
 *
 * @internal
 */
export const showsForeground = (cell: IBufferCell): boolean =>
  cell.isInverse() !== 0 || cell.isUnderline() !== 0 || cell.isStrikethrough() !== 0 || cell.isOverline() !== 0

/** Whether a blank cell looks like a blank written in `pen`'s attributes (what a wrapping wide character leaves). */
const blankLooksLike = (blank: Cell, pen: Cell): boolean => {
  if (!equalBg(blank, pen)) return false
  if (!showsForeground(pen)) return !showsForeground(blank)
  return showsForeground(blank) && equalFg(blank, pen) && equalFlags(blank, pen)
}

/** `CSI 0 ; … m` for all of a cell's colours and flags, with a plain underline if its flag is set. */
const fullSgr = (cell: Cell): string => {
  const params: Array<number> = [0]
  if (!cell.isFgDefault()) params.push(...colorParams(cell, true))
  if (!cell.isBgDefault()) params.push(...colorParams(cell, false))
  if (cell.isBold()) params.push(1)
  if (cell.isDim()) params.push(2)
  if (cell.isItalic()) params.push(3)
  if (rawUnderline(cell)) params.push(4)
  if (cell.isBlink()) params.push(5)
  if (cell.isInverse()) params.push(7)
  if (cell.isInvisible()) params.push(8)
  if (cell.isStrikethrough()) params.push(9)
  if (cell.isOverline()) params.push(53)
  return `\u001b[${params.join(";")}m`
}

const colorParams = (cell: Cell, fg: boolean): Array<number> => {
  const color = fg ? cell.getFgColor() : cell.getBgColor()
  const rgb = fg ? cell.isFgRGB() : cell.isBgRGB()
  const palette = fg ? cell.isFgPalette() : cell.isBgPalette()
  const base = fg ? 30 : 40
  if (rgb) return [fg ? 38 : 48, 2, (color >>> 16) & 0xff, (color >>> 8) & 0xff, color & 0xff]
  if (palette) {
    const mode = fg ? cell.getFgColorMode() : cell.getBgColorMode()
    if (mode === CM_P16 && color < 16) return [color & 8 ? base + 60 + (color & 7) : base + (color & 7)]
    return [fg ? 38 : 48, 5, color]
  }
  return [fg ? 39 : 49]
}

const diffStyle = (cell: Cell, oldCell: Cell): Array<number | string> => {
  const sgr: Array<number | string> = []
  const fgChanged = !equalFg(cell, oldCell)
  const bgChanged = !equalBg(cell, oldCell)
  const flagsChanged = !equalFlags(cell, oldCell)
  if (!fgChanged && !bgChanged && !flagsChanged) return sgr
  if (cell.isAttributeDefault() && underlineColor(cell) === "") {
    if (!oldCell.isAttributeDefault() || underlineColor(oldCell) !== "") sgr.push(0)
    return sgr
  }
  if (fgChanged) sgr.push(...colorParams(cell, true))
  if (bgChanged) sgr.push(...colorParams(cell, false))
  if (flagsChanged) {
    if (cell.isInverse() !== oldCell.isInverse()) sgr.push(cell.isInverse() ? 7 : 27)
    if (cell.isBold() !== oldCell.isBold() || cell.isDim() !== oldCell.isDim()) {
      // SGR 22 clears both bold and dim: set again whichever stays.
      if ((oldCell.isBold() && !cell.isBold()) || (oldCell.isDim() && !cell.isDim())) sgr.push(22)
      if (cell.isBold()) sgr.push(1)
      if (cell.isDim()) sgr.push(2)
    }
    const style = underlineStyle(cell)
    if (style !== underlineStyle(oldCell) || rawUnderline(cell) !== rawUnderline(oldCell)) {
      sgr.push(style === 0 ? 24 : style === 1 ? 4 : `4:${style}`)
    }
    if (cell.isOverline() !== oldCell.isOverline()) sgr.push(cell.isOverline() ? 53 : 55)
    if (cell.isBlink() !== oldCell.isBlink()) sgr.push(cell.isBlink() ? 5 : 25)
    if (cell.isInvisible() !== oldCell.isInvisible()) sgr.push(cell.isInvisible() ? 8 : 28)
    if (cell.isItalic() !== oldCell.isItalic()) sgr.push(cell.isItalic() ? 3 : 23)
    if (cell.isStrikethrough() !== oldCell.isStrikethrough()) sgr.push(cell.isStrikethrough() ? 9 : 29)
    const color = underlineColor(cell)
    if (color !== underlineColor(oldCell)) {
      if (color === "") sgr.push(59)
      else if (cell.isUnderlineColorRGB()) {
        const value = cell.getUnderlineColor()
        sgr.push(58, 2, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
      } else sgr.push(58, 5, cell.getUnderlineColor())
    }
  }
  return sgr
}

class StringSerializer {
  private rowIndex = 0
  private allRows: Array<string> = []
  private allRowSeparators: Array<string> = []
  private currentRow = ""
  private nullCellCount = 0
  private cursorStyle: Cell
  private cursorStyleRow = 0
  private cursorStyleCol = 0
  private backgroundCell: Cell
  private firstRow = 0
  private lastCursorRow = 0
  private lastCursorCol = 0
  private lastContentCursorRow = 0
  private lastContentCursorCol = 0
  private thisRowLastChar: Cell
  private thisRowLastSecondChar: Cell
  private nextRowFirstChar: Cell

  constructor(private readonly buffer: IBuffer, private readonly terminal: Terminal) {
    this.cursorStyle = buffer.getNullCell() as Cell
    this.backgroundCell = buffer.getNullCell() as Cell
    this.thisRowLastChar = buffer.getNullCell() as Cell
    this.thisRowLastSecondChar = buffer.getNullCell() as Cell
    this.nextRowFirstChar = buffer.getNullCell() as Cell
  }

  private endRow = 0
  /** The next row begins where the cursor waits to wrap (a natural wrap), not at its first column. */
  private wrapsIntoRow = false

  serialize(startRow: number, endRow: number): string {
    this.endRow = endRow
    const cell1 = this.buffer.getNullCell() as Cell
    const cell2 = this.buffer.getNullCell() as Cell
    let oldCell = cell1
    this.allRows = new Array<string>(endRow - startRow)
    this.lastContentCursorRow = startRow
    this.lastCursorRow = startRow
    this.firstRow = startRow
    const cols = this.terminal.cols
    for (let row = startRow; row <= endRow; row++) {
      const line = this.buffer.getLine(row)
      if (line) {
        for (let col = 0; col < cols; col++) {
          const c = line.getCell(col, oldCell === cell1 ? cell2 : cell1) as Cell | undefined
          if (!c) continue
          this.nextCell(c, row, col)
          oldCell = c
        }
      }
      this.rowEnd(row, row === endRow)
    }
    return this.finish()
  }

  private rowEnd(row: number, isLastRow: boolean): void {
    if (this.nullCellCount > 0 && !equalBg(this.cursorStyle, this.backgroundCell)) {
      this.currentRow += `\u001b[${this.nullCellCount}X`
      // Coloured blanks are content too: a row of them is not trimmed as an empty trailing row (the addon
      // dropped such rows at the end of a screen). The erase does not move the cursor.
      this.lastContentCursorRow = this.lastCursorRow
      this.lastContentCursorCol = this.lastCursorCol
    }
    let rowSeparator = ""
    if (!isLastRow) {
      // Once the screen is full, the separator scrolls, and the new line is erased with the background
      // of the pen at that moment (BCE); before, the next line is one of the screen's, blank by default.
      const scrolls = row - this.firstRow >= this.terminal.rows - 1
      const currentLine = this.buffer.getLine(row)!
      const nextLine = this.buffer.getLine(row + 1)!
      if (!nextLine.isWrapped) {
        const last = currentLine.getCell(currentLine.length - 1, this.thisRowLastChar) as Cell
        if (this.nullCellCount === 1 && last.getChars() === "" && showsForeground(last)) {
          // A blank a wide character left, on a line whose continuation was rewritten since: make it the
          // same way (print a wide character in its attributes; it wraps onto the next row), then erase
          // that row as the line feed would have left it (EL at column 0 also clears its wrapped flag).
          const background = scrolls ? this.cursorStyle : (this.buffer.getNullCell() as Cell)
          rowSeparator = StringSerializer.sgrTo(last, this.cursorStyle) + "\u6f22\r" +
            StringSerializer.sgrTo(background, last) + "\u001b[K" + StringSerializer.sgrTo(this.cursorStyle, background)
          this.nextBackground(scrolls, row, "pen")
        } else {
          rowSeparator = "\r\n"
          this.nextBackground(scrolls, row, "pen")
        }
        this.lastCursorRow = row + 1
        this.lastCursorCol = 0
      } else {
        rowSeparator = ""
        const thisRowLastChar = currentLine.getCell(currentLine.length - 1, this.thisRowLastChar) as Cell
        const thisRowLastSecondChar = currentLine.getCell(currentLine.length - 2, this.thisRowLastSecondChar) as Cell
        const nextRowFirstChar = nextLine.getCell(0, this.nextRowFirstChar) as Cell
        const isNextRowFirstCharDoubleWidth = nextRowFirstChar.getWidth() > 1
        let isValid = false
        // Only a character at the start of the next row wraps by being printed. (The addon's condition,
        // `chars && double ? n <= 1 : n <= 0`, also let a row starting with a blank through: the cursor
        // move that writes a blank does not wrap, and the row was written one line too high.)
        if (
          nextRowFirstChar.getChars() !== "" &&
          (isNextRowFirstCharDoubleWidth ? this.nullCellCount <= 1 : this.nullCellCount <= 0)
        ) {
          // (The addon also required equal backgrounds on both sides of the wrap, to keep its tracking of
          // the erased background simple; `nextBackground` tracks the pen that prints the wrap instead.)
          if (thisRowLastChar.getChars() || thisRowLastChar.getWidth() === 0) isValid = true
          if (
            isNextRowFirstCharDoubleWidth &&
            (thisRowLastSecondChar.getChars() || thisRowLastSecondChar.getWidth() === 0)
          ) {
            isValid = true
          }
        }
        if (isValid && this.nullCellCount === 1 && !blankLooksLike(thisRowLastChar, nextRowFirstChar)) {
          // The wide character that does not fit fills the last cell with the pen that prints it: print it
          // in the blank's attributes (a reflow can leave a plain blank there, whatever the character's
          // pen), go back, and print it again in its own.
          const toBlank = diffStyle(thisRowLastChar, this.cursorStyle)
          rowSeparator = (toBlank.length > 0 ? `\u001b[${toBlank.join(";")}m` : "") + nextRowFirstChar.getChars() + "\r"
          currentLine.getCell(currentLine.length - 1, this.cursorStyle)
          this.cursorStyleRow = row
          this.cursorStyleCol = currentLine.length - 1
          this.lastCursorRow = row + 1
          this.lastCursorCol = 0
          this.nextBackground(scrolls, row, "blank")
        } else {
          // A natural wrap scrolls when the next row's first character is printed, in its own pen.
          this.nextBackground(scrolls, row, isValid ? "wrap" : "pen")
        }
        if (!isValid) {
          // Force the wrap: print enough characters to wrap, then erase them.
          rowSeparator = "-".repeat(this.nullCellCount + 1)
          rowSeparator += "\u001b[1D"
          // The dash that wrapped is erased with the background the next line's blanks are assumed to have
          // (the addon erased it with the current pen's, which the next line's first cell may not have).
          const toBackground = diffStyle(this.backgroundCell, this.cursorStyle)
          if (equalBg(this.cursorStyle, this.backgroundCell) || toBackground.length === 0) {
            rowSeparator += "\u001b[1X"
          } else {
            const back = diffStyle(this.cursorStyle, this.backgroundCell)
            rowSeparator += `\u001b[${toBackground.join(";")}m\u001b[1X`
            rowSeparator += back.length > 0 ? `\u001b[${back.join(";")}m` : ""
          }
          if (this.nullCellCount > 0) {
            // Erase the dashes on this row. (The addon also wrote a move of 0 columns when the whole row
            // was blank, which moves one.)
            const content = currentLine.length - this.nullCellCount
            rowSeparator += "\u001b[A"
            if (content > 0) rowSeparator += `\u001b[${content}C`
            rowSeparator += `\u001b[${this.nullCellCount}X`
            if (content > 0) rowSeparator += `\u001b[${content}D`
            rowSeparator += "\u001b[B"
          }
          this.lastContentCursorRow = row + 1
          this.lastContentCursorCol = 0
          this.lastCursorRow = row + 1
          this.lastCursorCol = 0
        }
      }
    }
    this.wrapsIntoRow = !isLastRow && rowSeparator === ""
    this.allRows[this.rowIndex] = this.currentRow
    this.allRowSeparators[this.rowIndex++] = rowSeparator
    this.currentRow = ""
    this.nullCellCount = 0
  }

  private nextCell(cell: Cell, row: number, col: number): void {
    // The second cell of a wide character.
    if (cell.getWidth() === 0) return
    // A blank that shows its foreground attributes is written as a space (see the header), unless it is
    // the one xterm leaves at the end of a line when a wide character wraps: printing that character
    // again (the next row starts with it) leaves the same blank.
    const isEmptyCell = cell.getChars() === "" && (!showsForeground(cell) || this.wideWrapBlank(row, col))
    const sgr = diffStyle(cell, this.cursorStyle)
    const styleChanged = isEmptyCell ? !equalBg(this.cursorStyle, cell) : sgr.length > 0
    if (styleChanged) {
      if (this.nullCellCount > 0) {
        if (!equalBg(this.cursorStyle, this.backgroundCell)) this.currentRow += `\u001b[${this.nullCellCount}X`
        this.currentRow += `\u001b[${this.nullCellCount}C`
        this.nullCellCount = 0
      }
      this.lastContentCursorRow = this.lastCursorRow = row
      this.lastContentCursorCol = this.lastCursorCol = col
      if (hiddenUnderline(cell) && !(col === 0 && this.wrapsIntoRow)) {
        // Made the way xterm made it: an underlined pen saved, reset, restored (DECRC restores the
        // colours and flags, not the extended attributes). Not while the cursor waits to wrap, which
        // DECRC would undo; saved cursors are written after the cells.
        this.currentRow += fullSgr(cell) + "\u001b7\u001b[0m\u001b8"
      } else {
        this.currentRow += `\u001b[${sgr.join(";")}m`
      }
      const line = this.buffer.getLine(row)
      if (line !== undefined) {
        line.getCell(col, this.cursorStyle)
        this.cursorStyleRow = row
        this.cursorStyleCol = col
      }
    }
    if (isEmptyCell) {
      this.nullCellCount += cell.getWidth()
    } else {
      if (this.nullCellCount > 0) {
        if (equalBg(this.cursorStyle, this.backgroundCell)) {
          this.currentRow += `\u001b[${this.nullCellCount}C`
        } else {
          this.currentRow += `\u001b[${this.nullCellCount}X`
          this.currentRow += `\u001b[${this.nullCellCount}C`
        }
        this.nullCellCount = 0
      }
      this.currentRow += cell.getChars() === "" ? " " : cell.getChars()
      this.lastContentCursorRow = this.lastCursorRow = row
      this.lastContentCursorCol = this.lastCursorCol = col + cell.getWidth()
    }
  }

  /**
   * The background of the blanks of the line after `row`, as it comes to be: one of the screen's (the
   * default background), or made by the scroll of the separator, erased in the pen that printed it: the
   * current pen, or the next row's first character's for a natural wrap.
   */
  private nextBackground(scrolls: boolean, row: number, by: "pen" | "wrap" | "blank"): void {
    if (!scrolls) {
      this.backgroundCell = this.buffer.getNullCell() as Cell
    } else if (by === "wrap") {
      this.buffer.getLine(row + 1)?.getCell(0, this.backgroundCell)
    } else if (by === "blank") {
      this.buffer.getLine(row)?.getCell(this.terminal.cols - 1, this.backgroundCell)
    } else {
      this.buffer.getLine(this.cursorStyleRow)?.getCell(this.cursorStyleCol, this.backgroundCell)
    }
  }

  /**
   * The blank with visible foreground attributes at the end of `row` can be made as xterm made it: by a
   * wide character that does not fit (see `rowEnd`). Needs the cursor to reach the last column by
   * printing the cell before it, and a next row to print that character on.
   */
  private wideWrapBlank(row: number, col: number): boolean {
    if (col !== this.terminal.cols - 1 || this.nullCellCount > 0 || row >= this.endRow) return false
    const line = this.buffer.getLine(row)
    const next = this.buffer.getLine(row + 1)
    if (line === undefined || next === undefined) return false
    const secondLast = line.getCell(col - 1, this.thisRowLastSecondChar) as Cell | undefined
    if (secondLast === undefined || (secondLast.getChars() === "" && secondLast.getWidth() !== 0)) return false
    if (!next.isWrapped) return true
    const first = next.getCell(0, this.nextRowFirstChar) as Cell | undefined
    return first !== undefined && first.getWidth() === 2 && first.getChars() !== ""
  }

  /** `CSI … m` from one pen to another ("" when they are the same). */
  private static sgrTo(to: Cell, from: Cell): string {
    const params = diffStyle(to, from)
    return params.length > 0 ? `\u001b[${params.join(";")}m` : ""
  }

  private finish(): string {
    let rowEnd = this.allRows.length
    if (this.buffer.length - this.firstRow <= this.terminal.rows) {
      rowEnd = this.lastContentCursorRow + 1 - this.firstRow
      this.lastCursorCol = this.lastContentCursorCol
      this.lastCursorRow = this.lastContentCursorRow
    }
    let content = ""
    for (let i = 0; i < rowEnd; i++) {
      content += this.allRows[i]
      if (i + 1 < rowEnd) content += this.allRowSeparators[i]
    }
    const realCursorRow = this.buffer.baseY + this.buffer.cursorY
    const realCursorCol = this.buffer.cursorX
    if (realCursorRow !== this.lastCursorRow || realCursorCol !== this.lastCursorCol) {
      const down = realCursorRow - this.lastCursorRow
      if (down > 0) content += `\u001b[${down}B`
      else if (down < 0) content += `\u001b[${-down}A`
      const right = realCursorCol - this.lastCursorCol
      if (right > 0) content += `\u001b[${right}C`
      else if (right < 0) content += `\u001b[${-right}D`
    }
    return content
  }
}

/**
 * The last `scrollback` lines above the screen (all of them when
 * `undefined`) and the screen of `buffer`, with the cursor placed where it
 * is; the pen at the end is unspecified.
 *
 * @internal
 */
export const serializeBuffer = (
  terminal: Terminal,
  buffer: IBuffer,
  scrollback: number | undefined
): { readonly text: string; readonly scrollbackLines: number } => {
  const maxRows = buffer.length
  const rows = scrollback === undefined ? maxRows : Math.max(0, Math.min(scrollback + terminal.rows, maxRows))
  let start = maxRows - rows
  // Start at the beginning of a logical line: a line that continues one left out could not be marked as
  // wrapped, and would reflow differently on a resize. (A change from the addon.)
  const screen = maxRows - terminal.rows
  while (start < screen && buffer.getLine(start)?.isWrapped === true) start++
  return { text: new StringSerializer(buffer, terminal).serialize(start, maxRows - 1), scrollbackLines: screen - start }
}
