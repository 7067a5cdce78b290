import { InvalidPtySize } from "../ReplayPtyError.js"

/** @internal */
export const DEFAULT_COLS = 80
/** @internal */
export const DEFAULT_ROWS = 24
/** @internal */
export const MAX_COLS = 2048
/** @internal */
export const MAX_ROWS = 1024

/** @internal */
export const isValidSize = (cols: unknown, rows: unknown): boolean =>
  Number.isInteger(cols) && Number.isInteger(rows) && (cols as number) >= 1 && (rows as number) >= 1 &&
  (cols as number) <= MAX_COLS && (rows as number) <= MAX_ROWS

/** @internal */
export const invalidSize = (cols: unknown, rows: unknown): InvalidPtySize =>
  new InvalidPtySize({ cols, rows, maxCols: MAX_COLS, maxRows: MAX_ROWS })
