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
 * | `killGrace`                | 2 seconds                  | after SIGHUP, then SIGKILL; then as long again at most     |
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
