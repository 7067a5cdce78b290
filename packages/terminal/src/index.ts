/**
 * Run a command in a pseudo-terminal (`@lydell/node-pty`, prebuilt, no
 * compiler): programs see a terminal (`tty` answers a device, `ls` colours,
 * `top`, `less` and shells work), their output can go into a `ReplayBuffer`,
 * input can be typed, and the terminal can be resized.
 *
 * | bound / default            | value                      | what happens at the bound                                  |
 * |----------------------------|----------------------------|------------------------------------------------------------|
 * | size                       | 80 × 24                    |                                                            |
 * | `cols` / `rows`            | 1..2,048 / 1..1,024        | `InvalidPtySize` (resize), `PtySpawnError` (spawn)         |
 * | `maxInputBytes`            | 1,048,576 (1 MiB)          | input the process has not read yet; a write past it fails `PtyInputOverflow` |
 * | `maxPendingOutputBytes`    | 1,048,576 (1 MiB)          | output not yet consumed; the terminal is paused (the process blocks on its writes) until it is |
 * | `killGrace`                | 2 seconds                  | after SIGHUP, then SIGKILL; then `killGrace` + 1 s at most |
 * | `name` (`TERM`)            | `xterm-256color`           |                                                            |
 *
 * Linux and macOS (node-pty's prebuilt binaries for x64 and arm64); not Windows.
 *
 * @since 0.1.0
 */
export * as ReplayPty from "./ReplayPty.js"

/**
 * The typed errors of `ReplayPty`: a command that cannot start, input or a
 * resize after the process has exited, a terminal size out of bounds, input
 * that would overflow the bounded input queue, and a second consumer of a
 * PTY's output. Each is a `Schema.TaggedError` with a readable `message`.
 *
 * @since 0.1.0
 */
export * as ReplayPtyError from "./ReplayPtyError.js"

/**
 * A terminal over the network: keystrokes and resizes from browsers reach
 * the PTY over the WebSocket endpoint, one controlling client at a time,
 * and every client sees the screen from its start — a keyframe snapshot
 * instead of a gap when the bytes it needs were evicted.
 *
 * `TerminalControl` implements `@scrollback/platform`'s `ReplayInteractive`
 * hook: provide its layer to `@scrollback/platform-node`'s `NodeReplayHttp`
 * server, and `register` each terminal (its `TerminalKeyframes`, and its
 * `ReplayPty` for input) under the key of its buffer. A WebSocket opened with
 * `?terminal=1` on that key is then an interactive session
 * (`ReplayProtocol.WsTerminalMessage` / `WsClientMessage`):
 *
 * - **Where it starts**: `?offset=` (default 0, the start of the log). Bytes
 *   that are retained are replayed; evicted ones are replaced by the newest
 *   keyframe (a `terminal` message with its `snapshot`); with no keyframe, a
 *   visible `gap`. A session that falls behind eviction while following
 *   continues from a keyframe too.
 * - **Size**: the `terminal` message gives the size at the start; each
 *   resize is a `resize` message with the offset it applies at.
 * - **Control**: one controlling client at a time holds the terminal's
 *   controller lease (a one-permit `Semaphore`, held in a scope of the
 *   session's own, released when its connection closes, whatever closes it).
 *   A client that may type (`authorizeInput`) takes control when nobody has
 *   it (`autoControl`), or from whoever has it with `?takeover=1` or a
 *   `takeover` message; `release` gives it up. Every other client is a
 *   viewer: its `input` and `resize` messages are refused with a `rejected`
 *   message. Everyone is told who controls with `control` messages.
 * - **Bounds**: each message is at most `wsMaxMessageBytes` and each client
 *   sends at most `wsInboundBytesPerSecond` (the server's, `1009`/`1008`);
 *   at most `maxPendingMessages` (64) of a client's messages wait to be
 *   processed (more: `1008`); input waits in the PTY's bounded queue
 *   (`PtyInputOverflow` → `rejected` with `Overflow`). A session's input only
 *   ever goes to the PTY of the key it was opened on.
 *
 * @since 0.1.0
 */
export * as TerminalControl from "./TerminalControl.js"

/**
 * The typed errors of `TerminalControl`.
 *
 * @since 0.1.0
 */
export * as TerminalControlError from "./TerminalControlError.js"

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
export * as TerminalKeyframes from "./TerminalKeyframes.js"

/**
 * The typed errors of `TerminalKeyframes`. A size out of bounds is
 * `ReplayPtyError.InvalidPtySize` (the same bounds as a PTY's).
 *
 * @since 0.1.0
 */
export * as TerminalKeyframesError from "./TerminalKeyframesError.js"
