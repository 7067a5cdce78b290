/**
 * The typed errors of `TerminalControl`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A terminal is already registered under this key (in this
 * `TerminalControl`): unregister it first (close the scope it was registered
 * in).
 *
 * @since 0.1.0
 * @category errors
 */
export class TerminalAlreadyRegistered extends Schema.TaggedError<TerminalAlreadyRegistered>(
  "@scrollback/terminal/TerminalAlreadyRegistered"
)("TerminalAlreadyRegistered", { key: Schema.String }) {
  /** @since 0.1.0 */
  override get message(): string {
    return `a terminal is already registered under the key ${JSON.stringify(this.key)}`
  }
}
