/**
 * Interactive WebSocket sessions: the extension point through which a key
 * whose buffer holds a terminal's output gets a screen that survives
 * eviction, and accepts input from a browser. The transports stay generic:
 * a service in the context (such as `@scrollback/terminal`'s
 * `TerminalControl`) is asked about each WebSocket opened with
 * `?terminal=1`, and decides where its bytes start (a keyframe instead of a
 * gap), what it is told (the `ReplayProtocol.WsTerminalMessage`s) and what
 * becomes of the messages it sends (`ReplayProtocol.WsClientMessage`s).
 *
 * Served by `@scrollback/platform-node`'s `NodeReplayHttp` (its fan-out
 * server looks the service up when it starts; without one, or for a
 * connection without `?terminal=1`, nothing changes: a client message closes
 * the connection with `1008`). The portable path of `ReplayHttp.routes`
 * does not consult it: there, every WebSocket is a plain follower.
 *
 * Costs are the interactive sessions' own: a plain follower carries one
 * field more (`undefined`).
 *
 * @since 0.1.0
 */
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as internal from "./internal/interactive.js"
import type * as ReplayHttp from "./ReplayHttp.js"
import type * as ReplayProtocol from "./ReplayProtocol.js"

/**
 * A WebSocket connection that asked for an interactive session and passed
 * every check of a read (`ReplayHttp.prepareRead`: origin, host,
 * authorization, lookup, position, connection slot): the read's request,
 * its decoded query, and the buffer it reads.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenRequest extends ReplayHttp.ReadRequest {
  readonly buffer: ReplayBuffer.ReplayBuffer
  readonly decoded: ReplayProtocol.ReadQuery
}

/**
 * How the server talks to one client of a session: text messages, and a
 * close (with a WebSocket close code and a reason of at most 123 bytes).
 * Both do nothing once the connection is closed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Peer {
  readonly send: (message: ReplayProtocol.WsTerminalMessage) => void
  readonly close: (code: number, reason: string) => void
}

/**
 * One interactive connection, as the service sees it. The server calls its
 * methods from its callbacks, synchronously and in order:
 *
 * 1. `start(peer)` once, after the hello and before any byte: send the
 *    session's first messages (the `terminal` message) now;
 * 2. `receive(message)` for each client message, decoded, in the order they
 *    arrived (messages that do not decode close the connection first);
 * 3. `resync(gap)` when the connection fell behind eviction while following:
 *    send what replaces the gap (a `terminal` message with a snapshot) and
 *    return the offset to continue from (at or after `gap.oldest`), or
 *    `undefined` for today's `gap` message;
 * 4. `close()` exactly once, whatever ends the connection (the client left,
 *    a protocol error, the end of the buffer, server shutdown, a handshake
 *    that never completed — then without `start`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  /**
   * Where the bytes start instead of the read's own start: an offset whose
   * bytes are retained (a keyframe's, say), or one below `oldest` for a
   * visible gap; `undefined` keeps the read's start.
   */
  readonly from: number | undefined
  readonly start: (peer: Peer) => void
  readonly receive: (message: ReplayProtocol.WsClientMessage) => void
  readonly resync: (gap: ReplayProtocol.Gap) => number | undefined
  readonly close: () => void
}

/**
 * The service: asked once per WebSocket connection with `?terminal=1`,
 * before the upgrade. `undefined`: the key has no interactive session (the
 * connection is a plain follower).
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayInteractive {
  readonly open: (request: OpenRequest) => Effect.Effect<Session | undefined>
}

/**
 * The service tag. Optional: a server without it has no interactive
 * sessions.
 *
 * @since 0.1.0
 * @category tags
 */
export const ReplayInteractive: Context.Tag<ReplayInteractive, ReplayInteractive> = internal.tag
