import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import type { OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as Metrics from "@scrollback/core/ReplayMetrics"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as ReplayHttpError from "@scrollback/platform/ReplayHttpError"
import * as ReplayInteractive from "@scrollback/platform/ReplayInteractive"
import * as ReplayProtocol from "@scrollback/platform/ReplayProtocol"
import * as ReplayTracing from "@scrollback/platform/ReplayTracing"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type { LazyArg } from "effect/Function"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import * as Http from "node:http"
import type * as Net from "node:net"
import type * as Stream from "node:stream"
import * as WS from "ws"
import type * as Api from "../NodeReplayHttp.js"
import { type Format, Hubs, type Member, type Outlet } from "./fanout.js"
import { sseDataText } from "./sseText.js"

/** @internal */
export const DEFAULT_SHUTDOWN_GRACE: Duration.Duration = Duration.seconds(1)

/** @internal */
export const DEFAULT_UPGRADE_TIMEOUT: Duration.Duration = Duration.seconds(5)

type Services = ReplayHttp.ReplayHttp | ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization

const sseFormat: Format = {
  transport: "sse",
  data: ReplayProtocol.sseDataEvents,
  text: sseDataText,
  gap: (epoch, gap) => ReplayProtocol.sseGap(epoch, gap)
}

const wsFormat: Format = {
  transport: "ws",
  data: (_, step) => ReplayProtocol.wsFrame(step.offset, step.chunks, step.next - step.offset),
  gap: (_, gap) => ReplayProtocol.wsMessage({ type: "gap", requested: gap.requested, oldest: gap.oldest })
}

const encodeErrorBody = Schema.encodeSync(Schema.parseJson(ReplayProtocol.ErrorBody))

const bodyOf = (refused: ReplayHttp.Refusal): string =>
  encodeErrorBody({ error: refused.error, message: refused.error.message })

/** The first value of each header, as `HttpServerRequest.headers` has them. */
const headersOf = (request: Http.IncomingMessage): Record<string, string | undefined> => {
  const headers: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    headers[name] = Array.isArray(value) ? value[0] : value
  }
  return headers
}

const queryOf = (url: string): Record<string, string | undefined> => {
  const query: Record<string, string | undefined> = {}
  const at = url.indexOf("?")
  if (at === -1) return query
  for (const [name, value] of new URLSearchParams(url.slice(at + 1))) if (!(name in query)) query[name] = value
  return query
}

/** The key and transport of a streaming endpoint under `prefix`, or `undefined` (the app answers it). */
const streamingTarget = (
  prefix: string,
  url: string
): { readonly key: string; readonly transport: "sse" | "ws" } | undefined => {
  const end = url.indexOf("?")
  const path = end === -1 ? url : url.slice(0, end)
  if (!path.startsWith(prefix + "/")) return undefined
  const parts = path.slice(prefix.length + 1).split("/")
  if (parts.length !== 2 || (parts[1] !== "sse" && parts[1] !== "ws")) return undefined
  let key: string
  try {
    key = decodeURIComponent(parts[0])
  } catch {
    return undefined
  }
  // A malformed key is answered by the app (its 400 names the key).
  return ReplayRegistry.isValidKey(key) ? { key, transport: parts[1] } : undefined
}

/** A streaming connection of the fast path, for keep-alives and shutdown. */
interface Connection {
  keepAlive(): void
  /** Asks the peer to go (SSE: the response ends; WebSocket: close 1001). */
  close(): void
  /** Destroys the socket now. */
  destroy(): void
}

const CLOSE_NORMAL = 1000
const CLOSE_GOING_AWAY = 1001
const CLOSE_POLICY_VIOLATION = 1008
const CLOSE_SLOW_CONSUMER = 4429

const closeReason = (reason: string): string => {
  const bytes = Buffer.from(reason)
  if (bytes.length <= 123) return reason
  return bytes.subarray(0, 120).toString("utf8").replace(/\uFFFD+$/, "") + "..."
}

/** What every session of one server shares (one object, so a session holds one reference to it). */
interface Shared {
  readonly config: ReplayHttp.ResolvedOptions
  readonly graceMillis: number
  readonly connections: Set<Connection>
  /** The Effect `Clock` of the server's scope (a test drives keep-alives and budgets with `TestClock`). */
  readonly now: () => number
  /** Whether connections get a span (`connectionSpans`), and the clock (the same) that times them. */
  readonly spans: boolean
  readonly clock: Clock.Clock
}

/**
 * How a connection's follower ended, as far as its span goes: the cursor's
 * `Done` exit (ended, failed, evicted) or what the server did to it; nothing
 * yet means the client went away.
 */
type Outcome = Exit.Exit<void, OffsetEvicted | ProducerFailed> | ReplayTracing.FollowerEnd | undefined

/**
 * A connection's span and what ending it needs, made only with
 * `connectionSpans`: without them a session holds one `undefined` field more.
 */
class Trace {
  outcome: Outcome = undefined
  gaps = 0
  constructor(readonly span: Tracer.Span, readonly epoch: string) {}

  /** The first of the outcomes wins (an end, then the close it causes). */
  record(outcome: Exclude<Outcome, undefined>): void {
    this.outcome ??= outcome
  }

  gap(clock: Clock.Clock, gap: ReplayCursor.Gap): void {
    this.gaps++
    ReplayTracing.unsafeGap(this.span, clock, gap)
  }

  /** The connection closed: the span ends, once, where the member stood. */
  end(clock: Clock.Clock, member: Member | undefined): void {
    const { epoch, gaps, outcome, span } = this
    const position = member?.position
    if (outcome === undefined || typeof outcome === "string") {
      ReplayTracing.unsafeEnd(span, clock, outcome ?? "client-gone", epoch, position, gaps, Exit.void)
    } else {
      ReplayTracing.unsafeEnd(span, clock, ReplayTracing.endOf(outcome), epoch, position, gaps, outcome)
    }
  }
}

/**
 * The session of an idle follower is what thousands of them cost, so each
 * connection is one object (its outlet and its keep-alive/shutdown handle)
 * with methods on the prototype, found from its socket through a symbol by
 * listeners shared by every connection: no closure per connection.
 */
const session = Symbol("scrollback/session")

/** An SSE response served by the fan-out. */
class SseSession implements Outlet, Connection {
  lastWrite: number
  member: Member | undefined = undefined
  /** Whether the response may still be written to: not once it was ended (a write after `end` throws). */
  open = true
  constructor(
    readonly shared: Shared,
    readonly response: Http.ServerResponse,
    readonly epoch: string,
    readonly release: () => void,
    readonly trace: Trace | undefined
  ) {
    this.lastWrite = shared.now()
  }

  write(message: Uint8Array | string): boolean {
    const response = this.response
    if (!this.open || response.destroyed) return false
    this.lastWrite = this.shared.now()
    // A string is the format's text (ASCII): as latin1 its byte length is its length, and Node copies it as is.
    const ok = typeof message === "string" ? response.write(message, "latin1") : response.write(message)
    // Flow control keeps the backlog near the socket's high-water mark; a single message past the bound ends it.
    if (response.writableLength > this.shared.config.maxBacklogBytes && this.stop()) {
      Metrics.unsafeSlowConsumer("sse")
      this.trace?.record("slow-consumer")
      response.destroy()
    }
    return ok
  }

  gap(gap: ReplayCursor.Gap): void {
    this.trace?.gap(this.shared.clock, gap)
  }

  /**
   * Nothing more is written: the member leaves its hub and the slot is free.
   * `false` if it had stopped already. (The member stays for the span's end.)
   */
  stop(): boolean {
    if (!this.open) return false
    this.open = false
    this.member?.close()
    this.release()
    return true
  }

  onDrain(resume: () => void): void {
    this.response.once("drain", resume)
  }

  finish(exit: Exit.Exit<void, OffsetEvicted | ProducerFailed>, position: number): void {
    if (!this.stop()) return
    this.trace?.record(exit)
    // Only a producer's failure is an end; an eviction under "fail" just closes (the client gets 410 next).
    if (Exit.isSuccess(exit)) {
      this.response.end(ReplayProtocol.sseEnd(this.epoch, position, { status: "ended" }))
      return
    }
    const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    if (error !== undefined && error._tag === "ProducerFailed") {
      this.response.end(ReplayProtocol.sseEnd(this.epoch, position, ReplayProtocol.endOf(Exit.fail(error))))
      return
    }
    this.response.end()
  }

  keepAlive(): void {
    if (!this.open) return
    const silent = this.shared.now() - this.lastWrite
    if (this.response.writableNeedDrain) {
      // Nothing drained for two keep-alive periods: the peer is gone or stalled; it resumes by offset if not.
      if (silent >= 2 * this.shared.config.keepAliveMillis && this.stop()) this.response.destroy()
      // A response that is not draining gains nothing from a ping: its backlog would only grow.
      return
    }
    if (silent >= this.shared.config.keepAliveMillis) this.write(ReplayProtocol.ssePing)
  }

  close(): void {
    if (!this.stop()) return
    this.trace?.record("shutdown")
    this.response.end()
  }

  destroy(): void {
    this.response.destroy()
  }

  /** The response closed (ended, or the client went away): the slot is free and the member leaves its hub. */
  closed(): void {
    this.shared.connections.delete(this)
    this.stop()
    this.trace?.end(this.shared.clock, this.member)
    this.member = undefined
  }
}

function onSseClose(this: Http.ServerResponse & { [session]?: SseSession | undefined }): void {
  this[session]?.closed()
  this[session] = undefined
}

/** A WebSocket served by the fan-out. */
class WsSession implements Outlet, Connection {
  member: Member | undefined = undefined
  /** When a message was last sent: after `keepAlive` of silence, a `{"type":"ping"}` message. */
  lastSent: number
  /** The interactive session (`?terminal=1` on a key that has one); `undefined` for a plain follower. */
  interactive: ReplayInteractive.Session | undefined = undefined
  /** Whether the peer sent or read anything (a pong, any byte, a drain) since the last ping. */
  alive = true
  /** Whether data may still be sent: not once the session is ending. */
  open = true
  /** The inbound budget, a token bucket: `wsInboundBurstBytes` at once, refilled at `wsInboundBytesPerSecond`. */
  tokens: number
  tokensAt: number
  constructor(
    readonly shared: Shared,
    readonly client: WS.WebSocket,
    readonly socket: Stream.Duplex,
    readonly release: () => void,
    readonly trace: Trace | undefined
  ) {
    this.tokens = shared.config.wsInboundBurstBytes
    this.tokensAt = this.lastSent = shared.now()
  }

  write(message: Uint8Array | string): boolean {
    if (!this.open) return false
    const socket = this.socket
    this.lastSent = this.shared.now()
    this.client.send(message)
    if (socket.writableLength > this.shared.config.maxBacklogBytes) {
      Metrics.unsafeSlowConsumer("ws")
      this.trace?.record("slow-consumer")
      this.drop(CLOSE_SLOW_CONSUMER, `slow consumer: ${socket.writableLength} unsent bytes`)
      return false
    }
    return !socket.writableNeedDrain
  }

  onDrain(resume: () => void): void {
    this.socket.once("drain", resume)
  }

  gap(gap: ReplayCursor.Gap): void {
    this.trace?.gap(this.shared.clock, gap)
  }

  finish(exit: Exit.Exit<void, OffsetEvicted | ProducerFailed>, _position: number): void {
    if (!this.open) return
    this.trace?.record(exit)
    const client = this.client
    if (Exit.isSuccess(exit)) {
      client.send(ReplayProtocol.wsMessage({ type: "end", status: "ended" }))
      return this.end(CLOSE_NORMAL, "end")
    }
    const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    if (error !== undefined && error._tag === "ProducerFailed") {
      client.send(ReplayProtocol.wsMessage({ type: "end", ...ReplayProtocol.endOf(Exit.fail(error)) }))
      return this.end(CLOSE_NORMAL, "end")
    }
    if (error !== undefined) return this.end(ReplayProtocol.closeCodeOf(error), error.message)
    this.end(CLOSE_NORMAL, "end")
  }

  keepAlive(): void {
    // A peer that did not answer the last ping (and read nothing meanwhile) is gone: its connection is destroyed.
    if (!this.alive) return this.client.terminate()
    this.alive = false
    this.client.ping()
    // A browser cannot see protocol pings: a message tells the client the connection is alive.
    if (
      this.shared.now() - this.lastSent >= this.shared.config.keepAliveMillis && this.member !== undefined &&
      !this.member.closed
    ) {
      this.write(ReplayProtocol.wsPing)
    }
  }

  close(): void {
    if (this.open) this.trace?.record("shutdown")
    this.drop(CLOSE_GOING_AWAY, "server shutdown")
  }

  destroy(): void {
    this.client.terminate()
  }

  /**
   * Nothing more is sent: the member leaves its hub and the slot is free.
   * `false` if it had stopped already. (The member stays for the span's end.)
   */
  stop(): boolean {
    if (!this.open) return false
    this.open = false
    this.member?.close()
    this.release()
    return true
  }

  /** The session's end: the close frame after everything sent (`ws` destroys a peer that never answers it). */
  end(code: number, reason: string): void {
    if (this.stop()) this.client.close(code, closeReason(reason))
  }

  /** Closes with `code`; a peer that does not finish the closing handshake within the grace is destroyed. */
  drop(code: number, reason: string): void {
    if (!this.stop()) return
    this.client.close(code, closeReason(reason))
    const socket = this.socket
    setTimeout(() => socket.destroy(), this.shared.graceMillis).unref()
  }

  /** Every byte the client sends counts, pings included: a budget per time, refilled as it goes. */
  received(bytes: number): void {
    this.alive = true
    const now = this.shared.now()
    const config = this.shared.config
    this.tokens = Math.min(
      config.wsInboundBurstBytes,
      this.tokens + Math.max(0, now - this.tokensAt) * config.wsInboundBytesPerSecond / 1000
    )
    this.tokensAt = now
    this.tokens -= bytes
    if (this.tokens < 0) this.drop(CLOSE_POLICY_VIOLATION, "inbound rate exceeded")
  }

  /** Keyframes: an interactive session that fell behind eviction continues from a snapshot, if it has one. */
  resync(gap: ReplayCursor.Gap): number | undefined {
    return this.interactive?.resync({ requested: gap.requested, oldest: gap.oldest })
  }

  /** A message from the client: only interactive sessions take any, as text `WsClientMessage`s. */
  message(data: WS.RawData, isBinary: boolean): void {
    const interactive = this.interactive
    if (interactive === undefined) return this.drop(CLOSE_POLICY_VIOLATION, "clients send no messages")
    // Closing already (a violation, the inbound budget): what was still parsed is not taken.
    if (this.client.readyState !== WS.WebSocket.OPEN) return
    if (isBinary) return this.drop(ReplayProtocol.CLOSE_UNSUPPORTED_DATA, "client messages are text")
    const text = Buffer.isBuffer(data)
      ? data.toString("utf8")
      : Array.isArray(data)
      ? Buffer.concat(data).toString("utf8")
      : Buffer.from(data).toString("utf8")
    const decoded = ReplayProtocol.decodeWsClientMessage(text)
    if (Either.isLeft(decoded)) {
      return this.drop(ReplayProtocol.CLOSE_INVALID_PAYLOAD, "malformed message: expected a WsClientMessage (JSON)")
    }
    interactive.receive(decoded.right)
  }

  closed(): void {
    this.shared.connections.delete(this)
    this.stop()
    this.trace?.end(this.shared.clock, this.member)
    this.member = undefined
  }
}

/** How an interactive session talks to its client (one per interactive connection only). */
class WsPeer implements ReplayInteractive.Peer {
  constructor(readonly connection: WsSession) {}
  send(message: ReplayProtocol.WsTerminalMessage): void {
    if (this.connection.client.readyState === WS.WebSocket.OPEN) {
      this.connection.write(ReplayProtocol.wsTerminalMessage(message))
    }
  }
  close(code: number, reason: string): void {
    this.connection.drop(code, reason)
  }
}

type WithSession<A> = A & { [session]?: WsSession | undefined }

function onWsClose(this: WithSession<WS.WebSocket>): void {
  this[session]?.closed()
  this[session] = undefined
}

function onWsPong(this: WithSession<WS.WebSocket>): void {
  const current = this[session]
  if (current !== undefined) current.alive = true
}

function onWsMessage(this: WithSession<WS.WebSocket>, data: WS.RawData, isBinary: boolean): void {
  this[session]?.message(data, isBinary)
}

function onWsData(this: WithSession<Stream.Duplex>, chunk: Buffer): void {
  this[session]?.received(chunk.length)
}

/** The kernel took bytes off a full socket: the peer is reading (its pong may be queued behind them). */
function onWsDrain(this: WithSession<Stream.Duplex>): void {
  const current = this[session]
  if (current !== undefined) current.alive = true
}

/** A positive finite duration in milliseconds, or `InvalidHttpOptions` naming the option. */
const positiveMillis = (
  option: string,
  value: Duration.DurationInput | undefined,
  fallback: Duration.Duration
): Effect.Effect<number, ReplayHttpError.InvalidHttpOptions> => {
  const duration = value === undefined ? Option.some(fallback) : Duration.decodeUnknown(value)
  const millis = Option.isSome(duration) ? Duration.toMillis(duration.value) : NaN
  return millis > 0 && Number.isFinite(millis)
    ? Effect.succeed(Math.ceil(millis))
    : Effect.fail(
      new ReplayHttpError.InvalidHttpOptions({ option, value, reason: "must be a positive finite duration" })
    )
}

/** @internal */
export const make = (
  evaluate: LazyArg<Http.Server>,
  listen: Net.ListenOptions,
  options?: Api.Options
): Effect.Effect<HttpServer.HttpServer, ServeError | ReplayHttpError.InvalidHttpOptions, Scope.Scope | Services> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<Services>()
    const run = Runtime.runCallback(runtime)
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    const http = yield* ReplayHttp.ReplayHttp
    const interactive = Option.getOrUndefined(yield* Effect.serviceOption(ReplayInteractive.ReplayInteractive))
    const config = http.options
    const graceMillis = yield* positiveMillis("shutdownGrace", options?.shutdownGrace, DEFAULT_SHUTDOWN_GRACE)
    const upgradeTimeoutMillis = yield* positiveMillis(
      "upgradeTimeout",
      options?.upgradeTimeout,
      DEFAULT_UPGRADE_TIMEOUT
    )
    /** The streaming connections being served, for keep-alives and shutdown. */
    const connections = new Set<Connection>()
    /** WebSocket requests between the upgrade event and their session (upgraded sockets are not the HTTP server's). */
    const pending = new Set<Stream.Duplex>()
    // One listener for all of them: a closure made in `ws` would keep its whole context (the request, its head)
    // alive for as long as the socket lives — about 1.7 KB per idle WebSocket follower.
    const forgetPending = function(this: Stream.Duplex) {
      pending.delete(this)
    }
    const spans = options?.connectionSpans ?? (yield* ReplayTracing.isTracing)
    const shared: Shared = { config, graceMillis, connections, now, spans, clock }

    /** The checks of a read, then (with `connectionSpans`) the connection's span, unless it will not follow. */
    const prepare = (read: ReplayHttp.ReadRequest): Effect.Effect<Prepared, ReplayHttp.Refusal, Services> => {
      const planned = read.transport === "ws" ? prepareWs(read) : Effect.map(ReplayHttp.prepareRead(read), plainPlan)
      if (!spans) return planned
      return Effect.flatMap(planned, (prepared): Effect.Effect<Prepared> =>
        prepared.plan.atEnd
          ? Effect.succeed(prepared)
          : Effect.map(
            ReplayTracing.startFollower({
              name: read.transport === "ws" ? "ReplayHttp.ws" : "ReplayHttp.sse",
              transport: read.transport === "ws" ? "ws" : "sse",
              cursor: prepared.plan.cursor,
              key: read.key,
              from: ReplayTracing.requestedFrom(read)
            }),
            (span) => ({ ...prepared, span })
          ))
    }

    /** A connection that left before it was served: its span ends at once (the slot is released by the caller). */
    const abandon = ({ plan, span }: Prepared): void => {
      if (span !== undefined) {
        ReplayTracing.unsafeEnd(span, clock, "client-gone", plan.hello.epoch, plan.cursor.start, 0, Exit.void)
      }
    }
    // A message carries at most a quarter of maxBacklogBytes of data: with flow control (nothing more is written
    // to a connection whose socket is past its high-water mark) Node then holds less than the bound for it.
    const maxChunkBytes = Math.max(
      1,
      Math.min(ReplayCursor.DEFAULT_MAX_CHUNK_BYTES, Math.floor(config.maxBacklogBytes / 4))
    )
    const sseHubs = new Hubs(sseFormat, maxChunkBytes)
    const wsHubs = new Hubs(wsFormat, maxChunkBytes)
    let shuttingDown = false
    const wss = new WS.WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: config.wsMaxMessageBytes
    })

    const readOf = (
      request: Http.IncomingMessage,
      transport: "sse" | "ws",
      key: string
    ): ReplayHttp.ReadRequest => ({
      transport,
      key,
      query: queryOf(request.url ?? "/"),
      headers: headersOf(request),
      method: request.method ?? "GET",
      url: request.url ?? "/",
      remoteAddress: request.socket.remoteAddress
    })

    // --- SSE -----------------------------------------------------------------------

    const refuseResponse = (response: Http.ServerResponse, refused: ReplayHttp.Refusal): void => {
      if (response.headersSent || response.destroyed) return
      const body = bodyOf(refused)
      response.writeHead(ReplayProtocol.statusOf(refused.error), {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        "cache-control": "no-store",
        ...refused.headers
      })
      response.end(body)
    }

    const sse = (request: Http.IncomingMessage, response: Http.ServerResponse, key: string): void => {
      run(prepare(readOf(request, "sse", key)), {
        onExit: (exit) => {
          if (Exit.isFailure(exit)) {
            const refused = exit.cause._tag === "Fail" ? exit.cause.error : undefined
            if (refused !== undefined) return refuseResponse(response, refused)
            if (!response.headersSent && !response.destroyed) response.destroy()
            return
          }
          const { plan, span } = exit.value
          // A client that already left gets nothing: its slot is freed at once.
          if (response.destroyed || response.socket === null || response.socket.destroyed) {
            abandon(exit.value)
            return plan.release()
          }
          if (shuttingDown) {
            // Checked while the hook ran: refused like a request that came after the shutdown began.
            abandon(exit.value)
            plan.release()
            return refuseResponse(response, shuttingDownRefusal)
          }
          if (plan.atEnd) {
            response.writeHead(204, { "cache-control": "no-store" })
            return response.end()
          }
          serveSse(response, plan, span)
        }
      })
    }

    const serveSse = (
      response: Http.ServerResponse & { [session]?: SseSession | undefined },
      plan: ReplayHttp.ReadPlan,
      span: Tracer.Span | undefined
    ) => {
      response.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        "x-accel-buffering": "no"
      })
      const trace = span === undefined ? undefined : new Trace(span, plan.hello.epoch)
      const connection = new SseSession(shared, response, plan.hello.epoch, plan.release, trace)
      connection.write(ReplayProtocol.sseHello(plan.hello, config.sseRetryMillis))
      connections.add(connection)
      response[session] = connection
      response.on("close", onSseClose)
      connection.member = sseHubs.attach(plan.buffer, connection, plan.cursor)
    }

    // --- WebSocket -------------------------------------------------------------------

    const refuseSocket = (socket: Stream.Duplex, refused: ReplayHttp.Refusal): void => {
      if (socket.destroyed) return
      const status = ReplayProtocol.statusOf(refused.error)
      const body = bodyOf(refused)
      const head = [
        `HTTP/1.1 ${status} ${Http.STATUS_CODES[status] ?? ""}`,
        "connection: close",
        "content-type: application/json",
        `content-length: ${Buffer.byteLength(body)}`,
        "cache-control: no-store",
        ...Object.entries(refused.headers).map(([name, value]) => `${name}: ${value}`)
      ].join("\r\n")
      socket.end(`${head}\r\n\r\n${body}`)
      setTimeout(() => socket.destroy(), graceMillis).unref()
    }

    /**
     * A read that asked for an interactive session (`?terminal=1`): the service decides where its bytes start
     * (a keyframe's offset instead of a gap); the slot is released if this fails.
     */
    const openSession = (
      service: ReplayInteractive.ReplayInteractive,
      read: ReplayHttp.ReadRequest,
      plan: ReplayHttp.ReadPlan
    ): Effect.Effect<Prepared> => {
      let opened: ReplayInteractive.Session | undefined
      return Effect.gen(function*() {
        const decoded = decodeReadQuery(read.query)
        if (Either.isLeft(decoded)) return { plan, session: undefined }
        const session = yield* service.open({ ...read, buffer: plan.buffer, decoded: decoded.right })
        opened = session
        if (session === undefined || session.from === undefined) return { plan, session }
        const made = yield* Effect.either(
          ReplayCursor.make(plan.buffer, { from: session.from, onEvicted: plan.cursor.onEvicted })
        )
        if (Either.isLeft(made)) return { plan, session }
        const cursor = made.right
        const hello = { epoch: plan.buffer.epoch, offset: cursor.start, oldest: cursor.oldest, total: cursor.total }
        return { plan: { ...plan, cursor, hello }, session }
      }).pipe(Effect.onExit((exit) =>
        Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => {
          plan.release()
          opened?.close()
        })
      ))
    }

    const prepareWs = (read: ReplayHttp.ReadRequest): Effect.Effect<Prepared, ReplayHttp.Refusal, Services> => {
      const prepared = ReplayHttp.prepareRead(read)
      if (interactive === undefined || read.query["terminal"] !== "1") return Effect.map(prepared, plainPlan)
      return Effect.flatMap(
        prepared,
        (plan) => plan.refused !== undefined ? Effect.succeed(plainPlan(plan)) : openSession(interactive, read, plan)
      )
    }

    const ws = (request: Http.IncomingMessage, socket: Stream.Duplex, head: Buffer, key: string): void => {
      pending.add(socket)
      socket.on("close", forgetPending)
      run(prepare(readOf(request, "ws", key)), {
        onExit: (exit) => {
          if (Exit.isFailure(exit)) {
            pending.delete(socket)
            const refused = exit.cause._tag === "Fail" ? exit.cause.error : undefined
            return refused !== undefined ? refuseSocket(socket, refused) : socket.destroy()
          }
          const { plan, session: interactiveSession, span } = exit.value
          // The slot, and the interactive session (closed exactly once, whatever path the connection takes).
          const release = interactiveSession === undefined ? plan.release : releaseBoth(plan, interactiveSession)
          // A client that already left (or half-closed) gets no handshake: its slot is freed at once.
          if (socket.destroyed || !socket.writable || socket.readableEnded) {
            pending.delete(socket)
            abandon(exit.value)
            release()
            return socket.destroy()
          }
          if (shuttingDown) {
            pending.delete(socket)
            abandon(exit.value)
            release()
            return refuseSocket(socket, shuttingDownRefusal)
          }
          // `ws` never calls back for a client that went away during the handshake: the close frees the slot.
          const abandoned = () => {
            clearTimeout(timer)
            abandon(exit.value)
            release()
          }
          const timer = setTimeout(() => socket.destroy(), upgradeTimeoutMillis)
          socket.once("close", abandoned)
          wss.handleUpgrade(request, socket, head, (client) => {
            clearTimeout(timer)
            pending.delete(socket)
            socket.removeListener("close", forgetPending)
            socket.removeListener("close", abandoned)
            serveWs(client, socket, plan, release, interactiveSession, span)
          })
        }
      })
    }

    const serveWs = (
      client: WithSession<WS.WebSocket>,
      socket: WithSession<Stream.Duplex>,
      plan: ReplayHttp.ReadPlan,
      release: () => void,
      interactiveSession: ReplayInteractive.Session | undefined,
      span: Tracer.Span | undefined
    ) => {
      const trace = span === undefined ? undefined : new Trace(span, plan.hello.epoch)
      const connection = new WsSession(shared, client, socket, release, trace)
      connections.add(connection)
      client[session] = connection
      socket[session] = connection
      client.on("close", onWsClose)
      client.on("error", noop)
      client.on("pong", onWsPong)
      client.on("message", onWsMessage)
      socket.on("data", onWsData)
      socket.on("drain", onWsDrain)
      if (shuttingDown) return connection.drop(CLOSE_GOING_AWAY, "server shutdown")
      // A refusal known after the upgrade is the close alone, as on the portable path: its hello would describe a
      // cursor that reads nothing.
      if (plan.refused !== undefined) {
        trace?.record("refused")
        return connection.end(ReplayProtocol.closeCodeOf(plan.refused.error), plan.refused.error.message)
      }
      client.send(ReplayProtocol.wsMessage({ type: "hello", ...plan.hello }))
      if (interactiveSession !== undefined) {
        connection.interactive = interactiveSession
        // Its first messages (the screen at its start), before any byte.
        interactiveSession.start(new WsPeer(connection))
      }
      connection.member = wsHubs.attach(plan.buffer, connection, plan.cursor)
    }

    // --- the server ------------------------------------------------------------------

    const server = evaluate()
    // The streaming endpoints are served here, before the app sees them: no fiber per connection.
    const emit = server.emit
    server.emit = function(this: Http.Server, event: string | symbol, ...args: Array<any>): boolean {
      // Node takes its error listener off a socket it hands to `upgrade` listeners: a peer that goes away while
      // anyone (this server, the app's own upgrade handling) writes to it would be an uncaught EPIPE.
      if (event === "upgrade") (args[1] as Stream.Duplex).on("error", noop)
      if (shuttingDown && (event === "request" || event === "upgrade")) {
        // The app's handlers are gone (its layer closed first): every request is refused until the server closes.
        if (event === "request") {
          const response = args[1] as Http.ServerResponse
          response.shouldKeepAlive = false
          refuseResponse(response, shuttingDownRefusal)
        } else {
          const socket = args[1] as Stream.Duplex
          refuseSocket(socket, shuttingDownRefusal)
        }
        return true
      }
      if (event === "request") {
        const [request, response] = args as [Http.IncomingMessage, Http.ServerResponse]
        const target = request.method === "GET" ? streamingTarget(config.prefix, request.url ?? "/") : undefined
        if (target?.transport === "sse") {
          sse(request, response, target.key)
          return true
        }
      } else if (event === "upgrade") {
        const [request, socket, head] = args as [Http.IncomingMessage, Stream.Duplex, Buffer]
        const target = request.method === "GET" ? streamingTarget(config.prefix, request.url ?? "/") : undefined
        if (target?.transport === "ws") {
          ws(request, socket, head, target.key)
          return true
        }
      }
      return Reflect.apply(emit, this, [event, ...args]) as boolean
    } as typeof server.emit
    // Node emits `upgrade` only to a server with a listener (otherwise a WebSocket handshake is a plain request
    // no one answers). This one answers the handshakes no other listener takes: 404.
    server.on("upgrade", function(this: Http.Server, request: Http.IncomingMessage, socket: Stream.Duplex) {
      if (this.listenerCount("upgrade") > 1) return
      const path = (request.url ?? "/").split("?")[0]
      refuseSocket(socket, { error: new ReplayHttpError.NotFound({ path }), headers: {} })
    })

    const ticker = setInterval(() => {
      for (const connection of connections) connection.keepAlive()
    }, Math.max(10, Math.floor(config.keepAliveMillis / 2)))
    ticker.unref()

    const httpServer = yield* NodeHttpServer.make(() => server, listen)

    // Runs before the server closes (finalizers run last-added first): streaming connections are asked to go,
    // and whatever is still open after the grace is destroyed, so the server's close always completes.
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        shuttingDown = true
        clearInterval(ticker)
        // Idle keep-alive connections first: once a response is ended Node counts its connection as idle, and
        // would destroy it with its unsent bytes instead of giving it the grace.
        server.closeIdleConnections()
        for (const connection of Array.from(connections)) connection.close()
        const deadline = Date.now() + graceMillis
        const check = () => {
          if ((connections.size === 0 && pending.size === 0) || Date.now() >= deadline) {
            for (const connection of Array.from(connections)) connection.destroy()
            for (const socket of Array.from(pending)) socket.destroy()
            server.closeAllConnections()
            wss.close()
            return resume(Effect.void)
          }
          setTimeout(check, 10)
        }
        check()
      })
    )
    return httpServer
  })

const RETRY = { "retry-after": "1" } as const

const shuttingDownRefusal: ReplayHttp.Refusal = { error: new ReplayHttpError.ShuttingDown(), headers: RETRY }

/** A read that passed its checks, its interactive session if it has one, and its span (with `connectionSpans`). */
interface Prepared {
  readonly plan: ReplayHttp.ReadPlan
  readonly session: ReplayInteractive.Session | undefined
  readonly span?: Tracer.Span | undefined
}

const plainPlan = (plan: ReplayHttp.ReadPlan): Prepared => ({ plan, session: undefined })

const decodeReadQuery = Schema.decodeUnknownEither(ReplayProtocol.ReadQuery)

/** Releases the slot and closes the session, once. */
const releaseBoth = (plan: ReplayHttp.ReadPlan, interactiveSession: ReplayInteractive.Session) => {
  let done = false
  return () => {
    if (done) return
    done = true
    plan.release()
    interactiveSession.close()
  }
}

const noop = () => {}
