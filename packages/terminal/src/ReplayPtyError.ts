/**
 * The typed errors of `ReplayPty`: a command that cannot start, input or a
 * resize after the process has exited, a terminal size out of bounds, input
 * that would overflow the bounded input queue, and a second consumer of a
 * PTY's output. Each is a `Schema.TaggedError` with a readable `message`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Why a command could not be started in a pseudo-terminal:
 *
 * - `"NotFound"`: no such file, or no executable of that name on `PATH`;
 * - `"NotExecutable"`: the file exists but is not an executable regular file;
 * - `"InvalidCwd"`: the working directory does not exist or is not a directory;
 * - `"InvalidOptions"`: an argument, an environment variable or the terminal
 *   name is not a string without NUL bytes, or the size is out of bounds;
 * - `"Unsupported"`: the platform or the `@lydell/node-pty` build is not the
 *   one this module was written against (see the README);
 * - `"ForkFailed"`: the system refused to create the terminal or the process
 *   (e.g. too many open files).
 *
 * @since 0.1.0
 * @category models
 */
export type PtySpawnErrorReason =
  | "NotFound"
  | "NotExecutable"
  | "InvalidCwd"
  | "InvalidOptions"
  | "Unsupported"
  | "ForkFailed"

/**
 * The command could not be started. Nothing was left running.
 *
 * @since 0.1.0
 * @category errors
 */
export class PtySpawnError extends Schema.TaggedError<PtySpawnError>("@scrollback/terminal/PtySpawnError")(
  "PtySpawnError",
  {
    file: Schema.String,
    reason: Schema.Literal("NotFound", "NotExecutable", "InvalidCwd", "InvalidOptions", "Unsupported", "ForkFailed"),
    detail: Schema.String
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `cannot start ${JSON.stringify(this.file)} in a pseudo-terminal (${this.reason}): ${this.detail}`
  }
}

/**
 * Input or a resize reached a PTY whose process has exited (or whose
 * terminal was closed, e.g. by the scope ending).
 *
 * @since 0.1.0
 * @category errors
 */
export class PtyExited extends Schema.TaggedError<PtyExited>("@scrollback/terminal/PtyExited")(
  "PtyExited",
  {
    pid: Schema.Number,
    operation: Schema.Literal("write", "resize")
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `cannot ${this.operation}: the process ${this.pid} has exited and its terminal is closed`
  }
}

/**
 * A terminal size that is not a pair of integers within the bounds
 * (`1 ≤ cols ≤ maxCols`, `1 ≤ rows ≤ maxRows`).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPtySize extends Schema.TaggedError<InvalidPtySize>("@scrollback/terminal/InvalidPtySize")(
  "InvalidPtySize",
  {
    cols: Schema.Unknown,
    rows: Schema.Unknown,
    maxCols: Schema.Number,
    maxRows: Schema.Number
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `a terminal size must be integers 1..${this.maxCols} columns by 1..${this.maxRows} rows, got ${
      String(this.cols)
    }x${String(this.rows)}`
  }
}

/**
 * A write would take the input waiting for the process past the bound: the
 * process is not reading its terminal (e.g. it is stopped, or busy), and
 * `maxInputBytes` are already queued. Nothing of this write was queued.
 *
 * @since 0.1.0
 * @category errors
 */
export class PtyInputOverflow extends Schema.TaggedError<PtyInputOverflow>("@scrollback/terminal/PtyInputOverflow")(
  "PtyInputOverflow",
  {
    pending: Schema.Number,
    length: Schema.Number,
    maxInputBytes: Schema.Number
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.pending} bytes of input are waiting for the process to read them; writing ${this.length} more ` +
      `would pass the bound of ${this.maxInputBytes}`
  }
}

/**
 * A PTY's output has one consumer at a time (it is not a replay buffer: the
 * bytes are handed over once); a second concurrent consumer fails with this.
 * Use `ReplayPty.run` to write the output into a `ReplayBuffer` that any
 * number of followers can read.
 *
 * @since 0.1.0
 * @category errors
 */
export class PtyOutputTaken extends Schema.TaggedError<PtyOutputTaken>("@scrollback/terminal/PtyOutputTaken")(
  "PtyOutputTaken",
  { pid: Schema.Number }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the output of the process ${this.pid} is already being consumed`
  }
}

/**
 * Every error `ReplayPty` can raise.
 *
 * @since 0.1.0
 * @category models
 */
export type ReplayPtyError = PtySpawnError | PtyExited | InvalidPtySize | PtyInputOverflow | PtyOutputTaken
