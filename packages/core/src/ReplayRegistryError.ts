/**
 * The typed errors of `ReplayRegistry`. Each is a `Schema.TaggedError`, so it
 * can cross the wire and be decoded on the other side.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * No buffer is held under `key` (it was never created, was removed, or was
 * removed after it ended and stayed idle).
 *
 * @since 0.1.0
 * @category errors
 */
export class BufferNotFound extends Schema.TaggedError<BufferNotFound>("@scrollback/core/BufferNotFound")(
  "BufferNotFound",
  { key: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no buffer is held under the key ${JSON.stringify(this.key)}`
  }
}

/**
 * A buffer is already held under `key`.
 *
 * @since 0.1.0
 * @category errors
 */
export class BufferExists extends Schema.TaggedError<BufferExists>("@scrollback/core/BufferExists")(
  "BufferExists",
  { key: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `a buffer is already held under the key ${JSON.stringify(this.key)}`
  }
}

/**
 * Creating the buffer would pass a limit: `"buffers"` (`maxBuffers`, the
 * `limit`) or `"bytes"` (`maxTotalBytes`, the `limit`; `requested` is the
 * capacity that did not fit). Nothing was created.
 *
 * @since 0.1.0
 * @category errors
 */
export class RegistryFull extends Schema.TaggedError<RegistryFull>("@scrollback/core/RegistryFull")(
  "RegistryFull",
  {
    reason: Schema.Literal("buffers", "bytes"),
    limit: Schema.Number,
    requested: Schema.optional(Schema.Number)
  }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return this.reason === "buffers"
      ? `the registry is full: it already holds maxBuffers = ${this.limit} buffers`
      : `the registry is full: a buffer of ${
        this.requested ?? "?"
      } bytes would take the capacities held past maxTotalBytes = ${this.limit} bytes`
  }
}

/**
 * The key cannot be used: keys appear in URLs, so they are 1 to 128
 * characters of `[A-Za-z0-9._~-]`, other than `"."` and `".."`. `reason`
 * says which rule it broke.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidKey extends Schema.TaggedError<InvalidKey>("@scrollback/core/InvalidKey")(
  "InvalidKey",
  { key: Schema.String, reason: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `invalid buffer key ${JSON.stringify(this.key)}: ${this.reason}`
  }
}

/**
 * An option given to `make` / `layer` / `layerConfig` is out of range.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRegistryOptions
  extends Schema.TaggedError<InvalidRegistryOptions>("@scrollback/core/InvalidRegistryOptions")(
    "InvalidRegistryOptions",
    { option: Schema.String, value: Schema.Unknown, reason: Schema.String }
  )
{
  /** @since 0.1.0 */
  override get message(): string {
    return `invalid ReplayRegistry option ${this.option} = ${String(this.value)}: ${this.reason}`
  }
}
