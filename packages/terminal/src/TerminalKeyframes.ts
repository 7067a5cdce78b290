/**
 * A screen that survives eviction. A headless terminal (`@xterm/headless`)
 * follows a `ReplayBuffer` of terminal output and keeps **keyframes**: the
 * whole terminal state at chosen offsets, serialized as escape sequences. A
 * client that starts (or resumes) at an offset that was evicted gets the
 * newest retained keyframe instead of a gap: it resets its terminal, writes
 * the snapshot, then the bytes from the keyframe's offset, and shows exactly
 * the screen a terminal fed the whole log would show (text, colours and
 * attributes, cursor, alternate screen, modes, character sets, tab stops,
 * scroll regions, saved cursors, and up to `scrollback` lines above).
 *
 * - The writer never waits for the engine: it is one more follower of the
 *   buffer. If it falls so far behind that bytes it had not parsed are
 *   evicted, it says so (`stats.gaps`), drops its keyframes, resets its
 *   terminal and continues from `oldest` **untrusted**: no keyframe is taken
 *   until the output contains a full reset (`ESC c`, as `reset` and `tput
 *   reset` print), after which the screen is exact again. Meanwhile
 *   consumers get today's `Gap`.
 * - Every keyframe is verified before it is kept (`verify`): the snapshot is
 *   written into a scratch terminal and the two are compared state by state,
 *   cell by cell. A state a snapshot cannot carry gives no keyframe there,
 *   never a wrong one.
 *
 * | bound / default       | value                                   | what it bounds |
 * |-----------------------|-----------------------------------------|----------------|
 * | `cols` × `rows`       | 80 × 24; 1..2,048 × 1..1,024            | the initial size (`resize` records changes at offsets) |
 * | `scrollback`          | 1,000 lines (0..100,000)                | lines above the screen kept by the headless terminal and put in a keyframe |
 * | `interval`            | max(4,096, capacity / 4) bytes          | bytes between keyframes |
 * | `maxKeyframes`        | 8                                       | keyframes kept (older ones, and those before `oldest`, are dropped) |
 * | `maxKeyframeBytes`    | 16 MiB (UTF-16: 2 bytes per character)  | all keyframes' snapshots together |
 * | `maxSizeChanges`      | 1,024                                   | recorded size changes (those before `oldest` are dropped first) |
 * | `maxChunkBytes`       | 64 KiB                                  | bytes handed to the headless terminal and not yet parsed |
 * | `unicodeVersion`      | `"6"` (or `"11"`)                       | character widths, as the clients' (`@xterm/addon-unicode11`) |
 *
 * Memory per engine: the headless terminal, about `(scrollback + rows) ×
 * cols × 12` bytes per screen (≈ 1 MB at 1,000 lines × 80 columns), plus the
 * keyframes (at most `maxKeyframeBytes`), plus one chunk in flight. The
 * bytes not yet parsed stay in the buffer (bounded by its capacity), never
 * in a queue of the engine's.
 *
 * @since 0.1.0
 */
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { InvalidOffset, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/keyframes.js"
import type { InvalidPtySize } from "./ReplayPtyError.js"
import type { InvalidKeyframesOptions } from "./TerminalKeyframesError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Default `scrollback`: 1,000 lines.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_SCROLLBACK: number = internal.DEFAULT_SCROLLBACK

/**
 * Default `maxKeyframes`: 8.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_KEYFRAMES: number = internal.DEFAULT_MAX_KEYFRAMES

/**
 * Default `maxKeyframeBytes`: 16 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_KEYFRAME_BYTES: number = internal.DEFAULT_MAX_KEYFRAME_BYTES

/**
 * Default `maxSizeChanges`: 1,024.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_SIZE_CHANGES: number = internal.DEFAULT_MAX_SIZE_CHANGES

/**
 * Default `maxChunkBytes`: 64 KiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_CHUNK_BYTES: number = internal.DEFAULT_MAX_CHUNK_BYTES

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The terminal's size when the buffer starts. Default 80. */
  readonly cols?: number | undefined
  /** Default 24. */
  readonly rows?: number | undefined
  /** Scrollback lines kept and put in a keyframe. Default {@link DEFAULT_SCROLLBACK}. */
  readonly scrollback?: number | undefined
  /** Bytes between keyframes. Default `max(4096, floor(capacity / 4))`. */
  readonly interval?: number | undefined
  /** Default {@link DEFAULT_MAX_KEYFRAMES}. */
  readonly maxKeyframes?: number | undefined
  /** Default {@link DEFAULT_MAX_KEYFRAME_BYTES}. */
  readonly maxKeyframeBytes?: number | undefined
  /** Default {@link DEFAULT_MAX_SIZE_CHANGES}. */
  readonly maxSizeChanges?: number | undefined
  /** Default {@link DEFAULT_MAX_CHUNK_BYTES}. */
  readonly maxChunkBytes?: number | undefined
  /** Verify each keyframe in a scratch terminal before keeping it. Default `true`. */
  readonly verify?: boolean | undefined
  /**
   * The Unicode version of character widths: `"6"` (xterm.js's default) or
   * `"11"` (`@xterm/addon-unicode11`: emoji and other wide characters take two
   * cells). Every client must use the same one: it changes where the cursor
   * goes. Default `"6"`.
   */
  readonly unicodeVersion?: UnicodeVersion | undefined
}

/**
 * The Unicode version of character widths in a terminal: `"6"` (xterm.js's
 * default) or `"11"` (`@xterm/addon-unicode11`).
 *
 * @since 0.1.0
 * @category models
 */
export type UnicodeVersion = "6" | "11"

/**
 * @since 0.1.0
 * @category models
 */
export interface Size {
  readonly cols: number
  readonly rows: number
}

/**
 * The terminal was resized before the byte at `offset`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SizeChange extends Size {
  readonly offset: number
}

/**
 * The terminal's state after the bytes before `offset` (and the size
 * changes at or before it): resize a terminal to `cols` × `rows`, write
 * `snapshot` (it starts with a full reset, `ESC c`), then the bytes from
 * `offset`. `scrollbackLines` lines of scrollback are included.
 *
 * @since 0.1.0
 * @category models
 */
export interface Keyframe {
  readonly offset: number
  readonly cols: number
  readonly rows: number
  readonly snapshot: string
  readonly scrollbackLines: number
}

/**
 * Where a client that asks for `requested` starts:
 *
 * - `Replay`: the bytes from `offset` are retained: replay them (at `size`).
 * - `Keyframe`: they were evicted, and a keyframe is retained: write it,
 *   then the bytes from its offset.
 * - `Gap`: they were evicted and there is no keyframe (the engine is
 *   resynchronising, or has not taken one yet): today's gap, from `oldest`.
 *
 * `resizes` are the size changes after the start, to apply before the byte
 * at each one's offset.
 *
 * @since 0.1.0
 * @category models
 */
export type Resume =
  | {
    readonly _tag: "Replay"
    readonly offset: number
    readonly size: Size
    readonly resizes: ReadonlyArray<SizeChange>
  }
  | { readonly _tag: "Keyframe"; readonly keyframe: Keyframe; readonly resizes: ReadonlyArray<SizeChange> }
  | {
    readonly _tag: "Gap"
    readonly requested: number
    readonly oldest: number
    readonly size: Size
    readonly resizes: ReadonlyArray<SizeChange>
  }

/**
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Bytes consumed by the headless terminal (parsed, or the start of an incomplete UTF-8 sequence). */
  readonly position: number
  /** `false` after a gap, until a full reset was parsed: no keyframes meanwhile. */
  readonly trusted: boolean
  /** The engine has stopped (the buffer ended and everything was parsed, or the scope closed). */
  readonly stopped: boolean
  /** The headless terminal's current size. */
  readonly size: Size
  /** Keyframes held, and their snapshots' size (UTF-16, 2 bytes a character). */
  readonly keyframes: number
  readonly keyframeBytes: number
  /** Keyframes taken; attempts given up (a state a snapshot cannot carry, or one over the byte bound); keyframes dropped. */
  readonly taken: number
  readonly rejected: number
  readonly dropped: number
  /** Times the engine fell behind eviction; full resets that made it trusted again. */
  readonly gaps: number
  readonly resets: number
}

/**
 * A terminal-aware frame, for transports:
 *
 * - `Snapshot`: reset the terminal, resize it to `cols` × `rows`, write
 *   `snapshot`; the next `Data` starts at `offset`.
 * - `Resize`: resize the terminal before the byte at `offset`.
 * - `Data`, `Gap`: as `ReplayStream.Frame`.
 *
 * @since 0.1.0
 * @category models
 */
export type TerminalFrame =
  | {
    readonly _tag: "Snapshot"
    readonly offset: number
    readonly cols: number
    readonly rows: number
    readonly snapshot: string
  }
  | { readonly _tag: "Resize"; readonly offset: number; readonly cols: number; readonly rows: number }
  | { readonly _tag: "Data"; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly _tag: "Gap"; readonly requested: number; readonly oldest: number }

/**
 * @since 0.1.0
 * @category models
 */
export interface FollowOptions {
  /**
   * Where to start: an offset (default 0, the start of the log: a keyframe
   * when it was evicted), `"oldest"` (whatever is retained: usually a screen
   * drawn from the middle), or `"live"`.
   */
  readonly from?: number | "oldest" | "live" | undefined
  /** The most bytes one pull reads. Default 256 KiB (`ReplayStream.DEFAULT_MAX_CHUNK_BYTES`). */
  readonly maxChunkBytes?: number | undefined
}

/**
 * The keyframe engine of one buffer.
 *
 * @since 0.1.0
 * @category models
 */
export interface TerminalKeyframes extends Pipeable {
  readonly [TypeId]: TypeId
  readonly buffer: ReplayBuffer.ReplayBuffer
  /** The Unicode version of character widths (the `unicodeVersion` option): clients must use the same. */
  readonly unicodeVersion: UnicodeVersion
  /** Lines of scrollback kept and put in a keyframe: a client's terminal needs at least this many. */
  readonly scrollback: number
  /**
   * Records that the terminal (the PTY producing the output) was resized
   * now: the change applies before the next byte written to the buffer
   * (its offset is the buffer's `total`). Call it with the PTY's resize.
   * Returns the change as recorded (its offset), to tell clients.
   */
  readonly resize: (cols: number, rows: number) => Effect.Effect<SizeChange, InvalidPtySize>
  /** Where a client asking for `requested` starts (see {@link Resume}). Fails `InvalidOffset` for a non-integer. */
  readonly keyframeFor: (requested: number) => Effect.Effect<Resume, InvalidOffset>
  /** The keyframes held, oldest first. */
  readonly keyframes: Effect.Effect<ReadonlyArray<Keyframe>>
  readonly stats: Effect.Effect<Stats>
  /** Waits until the engine has consumed the bytes before `offset` (or has stopped). */
  readonly awaitPosition: (offset: number) => Effect.Effect<void>
}

/**
 * Starts the keyframe engine of `buffer` in the current scope. It follows
 * the buffer from offset 0: start it with the buffer, before anything is
 * evicted (otherwise it starts untrusted, as after a gap). Closing the scope
 * stops it and frees the headless terminal.
 *
 * Fails `InvalidKeyframesOptions` for an option out of bounds,
 * `InvalidPtySize` for a bad size.
 *
 * @example
 * ```ts
 * import { ReplayBuffer } from "@scrollback/core"
 * import { ReplayPty, TerminalKeyframes } from "@scrollback/terminal"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make({ capacity: 256 * 1024 })
 *   const keyframes = yield* TerminalKeyframes.make(buffer, { cols: 100, rows: 30 })
 *   const pty = yield* ReplayPty.run(buffer, "top", [], { cols: 100, rows: 30 })
 *   // ... later, a client that asks for offset 0 after it was evicted:
 *   const resume = yield* keyframes.keyframeFor(0)
 *   if (resume._tag === "Keyframe") {
 *     // reset, resize to resume.keyframe.cols x rows, write resume.keyframe.snapshot,
 *     // then the bytes from resume.keyframe.offset
 *   }
 *   // resize both together
 *   yield* pty.resize(120, 40)
 *   yield* keyframes.resize(120, 40)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  buffer: ReplayBuffer.ReplayBuffer,
  options?: Options
) => Effect.Effect<TerminalKeyframes, InvalidKeyframesOptions | InvalidPtySize, Scope.Scope> = internal.make

/**
 * The terminal-aware follower: like `ReplayStream.frames`, but a client
 * that starts at an evicted offset, or falls behind eviction while
 * following, gets a `Snapshot` frame (the newest retained keyframe) and the
 * bytes after it instead of a gap, and size changes come as `Resize` frames
 * at their offsets. A `Gap` frame only when there is no keyframe. The stream
 * ends when the buffer ends and fails with its `ProducerFailed`.
 *
 * The first frame is a `Snapshot`, or a `Resize` giving the size at the
 * start (after a `Gap` frame when there was no keyframe).
 *
 * @example
 * ```ts
 * import { ReplayBuffer } from "@scrollback/core"
 * import { TerminalKeyframes } from "@scrollback/terminal"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const buffer = yield* ReplayBuffer.make({ capacity: 64 * 1024 })
 *   const keyframes = yield* TerminalKeyframes.make(buffer)
 *   yield* TerminalKeyframes.follow(keyframes, { from: 0 }).pipe(
 *     Stream.runForEach((frame) =>
 *       Effect.sync(() => {
 *         switch (frame._tag) {
 *           case "Snapshot": // terminal.reset(); terminal.resize(frame.cols, frame.rows); terminal.write(frame.snapshot)
 *           case "Resize": // terminal.resize(frame.cols, frame.rows)
 *           case "Data": // terminal.write(frame.bytes)
 *           case "Gap": // show that bytes are missing
 *         }
 *       })
 *     ),
 *     Effect.fork
 *   )
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const follow: (
  keyframes: TerminalKeyframes,
  options?: FollowOptions
) => Stream.Stream<TerminalFrame, InvalidOffset | ProducerFailed> = internal.follow
