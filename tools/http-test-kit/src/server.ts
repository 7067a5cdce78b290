/** What a suite needs from a server under test, and the function that makes one. */
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import type * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** A server listening on 127.0.0.1 (port 0), serving a registry of its own. */
export interface TestServer {
  readonly port: number
  /** `http://127.0.0.1:PORT` */
  readonly base: string
  /** The endpoints' prefix (`ReplayHttp.Options.prefix`, default `/scrollback`). */
  readonly prefix: string
  readonly registry: ReplayRegistry.ReplayRegistry
  /** Creates a buffer in the registry (capacity default 1 MiB). */
  readonly create: (key: string, capacity?: number) => Effect.Effect<ReplayBuffer.ReplayBuffer>
  /** The TCP connections the server holds (Node's `getConnections`: open sockets, upgraded ones included). */
  readonly connections: Effect.Effect<number>
}

export interface ServeOptions {
  /** The transports' options; a `serve` turns the list endpoint on (`list: true`) unless these say otherwise. */
  readonly http?: ReplayHttp.Options | undefined
  /** Default: every request allowed. */
  readonly authorization?: ReplayHttp.Authorization | undefined
}

/**
 * Serves `ReplayHttp` in the current scope (closing the scope shuts the
 * server down). Every suite takes one: the portable path, NodeReplayHttp, …
 */
export type Serve = (options?: ServeOptions) => Effect.Effect<TestServer, never, Scope.Scope>
