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
import type * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import type { Denied } from "@scrollback/platform/ReplayHttpError"
import type * as ReplayInteractive from "@scrollback/platform/ReplayInteractive"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/control.js"
import type * as ReplayPty from "./ReplayPty.js"
import type { InvalidPtySize, PtyExited } from "./ReplayPtyError.js"
import type { TerminalAlreadyRegistered } from "./TerminalControlError.js"
import type * as TerminalKeyframes from "./TerminalKeyframes.js"

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
 * Default `maxPendingMessages`: 64.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_PENDING_MESSAGES: number = internal.DEFAULT_MAX_PENDING_MESSAGES

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Who may type (and so take control): asked once per interactive session,
   * with the WebSocket request. Required: e.g. `ReplayHttp.accessToken(token)`.
   * A refusal makes the client a viewer.
   */
  readonly authorizeInput: (request: ReplayHttp.AuthorizationRequest) => Effect.Effect<void, Denied>
  /** A client that may type takes control when nobody has it. Default `true`. */
  readonly autoControl?: boolean | undefined
  /** Messages of one client waiting to be processed; more close it with `1008`. Default 64. */
  readonly maxPendingMessages?: number | undefined
}

/**
 * A terminal to serve: its keyframes (whose buffer is the one registered
 * under the key) and, to accept input, its PTY. Resize it through its
 * controlling client or `TerminalControl.resize`, so that clients are told
 * (not with `pty.resize` alone: the keyframes and clients would not know).
 *
 * @since 0.1.0
 * @category models
 */
export interface Terminal {
  readonly keyframes: TerminalKeyframes.TerminalKeyframes
  readonly pty?: ReplayPty.Pty | undefined
}

/**
 * A registered terminal's state: its interactive sessions, whether one
 * controls it, whether its controller lease is held, and its size.
 *
 * @since 0.1.0
 * @category models
 */
export interface State {
  readonly sessions: number
  readonly controlled: boolean
  readonly leaseHeld: boolean
  readonly size: TerminalKeyframes.Size
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TerminalControl extends Pipeable {
  readonly [TypeId]: TypeId
  /**
   * Serves `terminal` under `key` (the key of `terminal.keyframes.buffer` in
   * the registry) until the scope closes; then its controller's lease is
   * released and its clients are told. Fails
   * `TerminalAlreadyRegistered` if the key has one.
   */
  readonly register: (key: string, terminal: Terminal) => Effect.Effect<void, TerminalAlreadyRegistered, Scope.Scope>
  /**
   * Resizes the terminal under `key` as its controlling client would: the
   * PTY (if it has one) and the keyframes together, and every client is told
   * with a `resize` message at the offset it applies at. Nothing happens for
   * a key with no terminal, or the size it has.
   */
  readonly resize: (key: string, cols: number, rows: number) => Effect.Effect<void, InvalidPtySize | PtyExited>
  /** The state of the terminal under `key`, if one is registered. */
  readonly state: (key: string) => Effect.Effect<Option.Option<State>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const TerminalControl: Context.Tag<TerminalControl, TerminalControl> = internal.tag

/**
 * Makes the service (it is also the `ReplayInteractive` hook). Closing the
 * scope releases every lease.
 *
 * @example
 * ```ts
 * import { ReplayHttp } from "@scrollback/platform"
 * import { TerminalControl } from "@scrollback/terminal"
 * import { Effect, Redacted } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const control = yield* TerminalControl.make({ authorizeInput: ReplayHttp.accessToken(Redacted.make("s3cret")) })
 *   return yield* control.state("shell") // Option.none(): nothing registered yet
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<TerminalControl & ReplayInteractive.ReplayInteractive, never, Scope.Scope> = internal.make

/**
 * The service and the `ReplayInteractive` hook it implements, as a layer:
 * provide it to `NodeReplayHttp.serve` (or `.layer`).
 *
 * @example
 * ```ts
 * import { ReplayRegistry } from "@scrollback/core"
 * import { ReplayHttp } from "@scrollback/platform"
 * import { NodeReplayHttp } from "@scrollback/platform-node"
 * import { ReplayPty, TerminalControl, TerminalKeyframes } from "@scrollback/terminal"
 * import { Effect, Layer, Redacted } from "effect"
 * import { createServer } from "node:http"
 *
 * const token = Redacted.make(crypto.randomUUID())
 *
 * const Shell = Layer.scopedDiscard(Effect.gen(function*() {
 *   const registry = yield* ReplayRegistry.ReplayRegistry
 *   const control = yield* TerminalControl.TerminalControl
 *   const buffer = yield* registry.create("shell", { capacity: 1024 * 1024 })
 *   const keyframes = yield* TerminalKeyframes.make(buffer, { cols: 100, rows: 30 })
 *   const pty = yield* ReplayPty.run(buffer, "bash", [], { cols: 100, rows: 30 })
 *   yield* control.register("shell", { keyframes, pty })
 * }))
 *
 * const Main = Layer.mergeAll(
 *   NodeReplayHttp.serve(createServer, { port: 7681, host: "127.0.0.1" }),
 *   Shell
 * ).pipe(
 *   Layer.provide(TerminalControl.layer({ authorizeInput: ReplayHttp.accessToken(token) })),
 *   Layer.provide(ReplayHttp.layerAccessToken(token)),
 *   Layer.provide(ReplayRegistry.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options: Options
) => Layer.Layer<TerminalControl | ReplayInteractive.ReplayInteractive> = internal.layer
