/**
 * The typed errors of `TerminalKeyframes`. A size out of bounds is
 * `ReplayPtyError.InvalidPtySize` (the same bounds as a PTY's).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * An option of `TerminalKeyframes.make` is out of its bounds (`name` says
 * which, `reason` how), or the installed `@xterm/headless` /
 * `@xterm/addon-serialize` are not the versions this module reads the
 * internals of (`name: "xterm"`).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidKeyframesOptions
  extends Schema.TaggedError<InvalidKeyframesOptions>("@scrollback/terminal/InvalidKeyframesOptions")(
    "InvalidKeyframesOptions",
    { name: Schema.String, reason: Schema.String }
  )
{
  /** @since 0.1.0 */
  override get message(): string {
    return `invalid keyframes option ${this.name}: ${this.reason}`
  }
}
