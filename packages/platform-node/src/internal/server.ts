import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import type { OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as Metrics from "@scrollback/core/ReplayMetrics"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as ReplayHttpError from "@scrollback/platform/ReplayHttpError"
import * as ReplayProtocol from "@scrollback/platform/ReplayProtocol"
import * as ReplayTracing from "@scrollback/platform/ReplayTracing"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { LazyArg } from "effect/Function"
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

/** @internal */
export const DEFAULT_SHUTDOWN_GRACE: Duration.Duration = Duration.seconds(1)

/** @internal */
export const DEFAULT_UPGRADE_TIMEOUT: Duration.Duration = Duration.seconds(5)

type Services = ReplayHttp.ReplayHttp | ReplayRegistry.ReplayRegistry | ReplayHttp.Authorization

const sseFormat: Format = {
  transport: "sse",
  data: ReplayProtocol.sseDataEvents,
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
  return /^[A-Za-z0-9._~-]{1,128}$/.test(key) && key !== "." && key !== ".." ? { key, transport: parts[1] } : undefined
}

/** A streaming connection of the fast path, for keep-alives and shutdown. */
interface Connection {
  keepAlive(now: number): void
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
  /** Whether connections get a span (`connectionSpans`), and the clock that times them. */
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
  lastWrite = Date.now()
  member: Member | undefined = undefined
  constructor(
    readonly shared: Shared,
    readonly response: Http.ServerResponse,
    readonly epoch: string,
    readonly release: () => void,
    readonly trace: Trace | undefined
  ) {}

  write(message: Uint8Array | string): boolean {
    this.lastWrite = Date.now()
    const response = this.response
    const ok = response.write(message)
    // Flow control keeps the backlog near the socket's high-water mark; a single message past the bound ends it.
    if (response.writableLength > this.shared.config.maxBacklogBytes) {
      Metrics.unsafeSlowConsumer("sse")
      this.trace?.record("slow-consumer")
      response.destroy()
    }
    return ok
  }

  gap(gap: ReplayCursor.Gap): void {
    this.trace?.gap(this.shared.clock, gap)
  }

  onDrain(resume: () => void): void {
    this.response.once("drain", resume)
  }

  finish(exit: Exit.Exit<void, OffsetEvicted | ProducerFailed>, position: number): void {
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

  keepAlive(now: number): void {
    if (now - this.lastWrite >= this.shared.config.keepAliveMillis) this.write(ReplayProtocol.ssePing)
  }

  close(): void {
    this.trace?.record("shutdown")
    this.response.end()
  }

  destroy(): void {
    this.response.destroy()
  }

  /** The response closed (ended, or the client went away): the slot is free and the member leaves its hub. */
  closed(): void {
    this.shared.connections.delete(this)
    this.member?.close()
    this.trace?.end(this.shared.clock, this.member)
    this.member = undefined
    this.release()
  }
}

function onSseClose(this: Http.ServerResponse & { [session]?: SseSession | undefined }): void {
  this[session]?.closed()
  this[session] = undefined
}

/** A WebSocket served by the fan-out. */
class WsSession implements Outlet, Connection {
  member: Member | undefined = undefined
  /** Whether the peer sent anything (a pong, or any byte) since the last ping. */
  alive = true
  /** The inbound budget, a token bucket: `wsInboundBurstBytes` at once, refilled at `wsInboundBytesPerSecond`. */
  tokens: number
  tokensAt = Date.now()
  constructor(
    readonly shared: Shared,
    readonly client: WS.WebSocket,
    readonly socket: Stream.Duplex,
    readonly release: () => void,
    readonly trace: Trace | undefined
  ) {
    this.tokens = shared.config.wsInboundBurstBytes
  }

  write(message: Uint8Array | string): boolean {
    const socket = this.socket
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
    this.trace?.record(exit)
    const client = this.client
    if (Exit.isSuccess(exit)) {
      client.send(ReplayProtocol.wsMessage({ type: "end", status: "ended" }))
      return client.close(CLOSE_NORMAL, "end")
    }
    const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    if (error !== undefined && error._tag === "ProducerFailed") {
      client.send(ReplayProtocol.wsMessage({ type: "end", ...ReplayProtocol.endOf(Exit.fail(error)) }))
      return client.close(CLOSE_NORMAL, "end")
    }
    if (error !== undefined) return client.close(ReplayProtocol.closeCodeOf(error), closeReason(error.message))
    client.close(CLOSE_NORMAL, "end")
  }

  keepAlive(_now: number): void {
    // A peer that did not answer the last ping is gone: its connection is destroyed.
    if (!this.alive) return this.client.terminate()
    this.alive = false
    this.client.ping()
  }

  close(): void {
    this.trace?.record("shutdown")
    this.client.close(CLOSE_GOING_AWAY, "server shutdown")
  }

  destroy(): void {
    this.client.terminate()
  }

  /** Closes with `code`, and destroys the socket if the peer has not closed it within the grace. */
  drop(code: number, reason: string): void {
    this.client.close(code, closeReason(reason))
    const socket = this.socket
    setTimeout(() => socket.destroy(), this.shared.graceMillis).unref()
  }

  /** Every byte the client sends counts, pings included: a budget per time, refilled as it goes. */
  received(bytes: number): void {
    this.alive = true
    const now = Date.now()
    const config = this.shared.config
    this.tokens = Math.min(
      config.wsInboundBurstBytes,
      this.tokens + (now - this.tokensAt) * config.wsInboundBytesPerSecond / 1000
    )
    this.tokensAt = now
    this.tokens -= bytes
    if (this.tokens < 0) this.drop(CLOSE_POLICY_VIOLATION, "inbound rate exceeded")
  }

  closed(): void {
    this.shared.connections.delete(this)
    this.member?.close()
    this.trace?.end(this.shared.clock, this.member)
    this.member = undefined
    this.release()
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

function onWsMessage(this: WithSession<WS.WebSocket>): void {
  this[session]?.drop(CLOSE_POLICY_VIOLATION, "clients send no messages")
}

function onWsData(this: WithSession<Stream.Duplex>, chunk: Buffer): void {
  this[session]?.received(chunk.length)
}

/** @internal */
export const make = (
  evaluate: LazyArg<Http.Server>,
  listen: Net.ListenOptions,
  options?: Api.Options
): Effect.Effect<HttpServer.HttpServer, ServeError, Scope.Scope | Services> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<Services>()
    const run = Runtime.runCallback(runtime)
    const http = yield* ReplayHttp.ReplayHttp
    const config = http.options
    const graceMillis = Duration.toMillis(options?.shutdownGrace ?? DEFAULT_SHUTDOWN_GRACE)
    const upgradeTimeoutMillis = Duration.toMillis(options?.upgradeTimeout ?? DEFAULT_UPGRADE_TIMEOUT)
    const connections = new Set<Connection>()
    const spans = options?.connectionSpans ?? (yield* ReplayTracing.isTracing)
    const clock = yield* Effect.clock
    const shared: Shared = { config, graceMillis, connections, spans, clock }

    /** The checks of a read, then (with `connectionSpans`) the connection's span, unless it will not follow. */
    const prepare = (read: ReplayHttp.ReadRequest): Effect.Effect<Prepared, ReplayHttp.Refusal, Services> => {
      const planned = ReplayHttp.prepareRead(read)
      if (!spans) return Effect.map(planned, (plan) => ({ plan, span: undefined }))
      return Effect.flatMap(planned, (plan): Effect.Effect<Prepared> =>
        plan.atEnd
          ? Effect.succeed({ plan, span: undefined })
          : Effect.map(
            ReplayTracing.startFollower({
              name: read.transport === "ws" ? "ReplayHttp.ws" : "ReplayHttp.sse",
              transport: read.transport === "ws" ? "ws" : "sse",
              cursor: plan.cursor,
              key: read.key,
              from: ReplayTracing.requestedFrom(read)
            }),
            (span) => ({ plan, span })
          ))
    }

    /** A connection that left before it was served: its span ends at once (the slot is released by the caller). */
    const abandon = ({ plan, span }: Prepared): void => {
      if (span !== undefined) {
        ReplayTracing.unsafeEnd(span, clock, "client-gone", plan.hello.epoch, plan.cursor.start, 0, Exit.void)
      }
    }
    const sseHubs = new Hubs(sseFormat)
    const wsHubs = new Hubs(wsFormat)
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
      if (shuttingDown) return refuseResponse(response, { error: new ReplayHttpError.ShuttingDown(), headers: RETRY })
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
          if (response.destroyed || response.socket === null || response.socket.destroyed || shuttingDown) {
            abandon(exit.value)
            return plan.release()
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

    const ws = (request: Http.IncomingMessage, socket: Stream.Duplex, head: Buffer, key: string): void => {
      socket.on("error", noop)
      if (shuttingDown) return refuseSocket(socket, { error: new ReplayHttpError.ShuttingDown(), headers: RETRY })
      run(prepare(readOf(request, "ws", key)), {
        onExit: (exit) => {
          if (Exit.isFailure(exit)) {
            const refused = exit.cause._tag === "Fail" ? exit.cause.error : undefined
            return refused !== undefined ? refuseSocket(socket, refused) : socket.destroy()
          }
          const { plan, span } = exit.value
          // A client that already left (or half-closed) gets no handshake: its slot is freed at once.
          if (socket.destroyed || !socket.writable || socket.readableEnded || shuttingDown) {
            abandon(exit.value)
            plan.release()
            return socket.destroy()
          }
          // `ws` never calls back for a client that went away during the handshake: the close frees the slot.
          const abandoned = () => {
            clearTimeout(timer)
            abandon(exit.value)
            plan.release()
          }
          const timer = setTimeout(() => socket.destroy(), upgradeTimeoutMillis)
          socket.once("close", abandoned)
          wss.handleUpgrade(request, socket, head, (client) => {
            clearTimeout(timer)
            socket.removeListener("close", abandoned)
            serveWs(client, socket, plan, span)
          })
        }
      })
    }

    const serveWs = (
      client: WithSession<WS.WebSocket>,
      socket: WithSession<Stream.Duplex>,
      plan: ReplayHttp.ReadPlan,
      span: Tracer.Span | undefined
    ) => {
      const trace = span === undefined ? undefined : new Trace(span, plan.hello.epoch)
      const connection = new WsSession(shared, client, socket, plan.release, trace)
      connections.add(connection)
      client[session] = connection
      socket[session] = connection
      client.on("close", onWsClose)
      client.on("error", noop)
      client.on("pong", onWsPong)
      client.on("message", onWsMessage)
      socket.on("data", onWsData)
      client.send(ReplayProtocol.wsMessage({ type: "hello", ...plan.hello }))
      if (plan.refused !== undefined) {
        trace?.record("refused")
        return client.close(ReplayProtocol.closeCodeOf(plan.refused.error), closeReason(plan.refused.error.message))
      }
      connection.member = wsHubs.attach(plan.buffer, connection, plan.cursor)
    }

    // --- the server ------------------------------------------------------------------

    const server = evaluate()
    // The streaming endpoints are served here, before the app sees them: no fiber per connection.
    const emit = server.emit
    server.emit = function(this: Http.Server, event: string | symbol, ...args: Array<any>): boolean {
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
      socket.on("error", noop)
      const path = (request.url ?? "/").split("?")[0]
      refuseSocket(socket, { error: new ReplayHttpError.NotFound({ path }), headers: {} })
    })

    const ticker = setInterval(() => {
      const now = Date.now()
      for (const connection of connections) connection.keepAlive(now)
    }, Math.max(10, Math.floor(config.keepAliveMillis / 2)))
    ticker.unref()

    const httpServer = yield* NodeHttpServer.make(() => server, listen)

    // Runs before the server closes (finalizers run last-added first): streaming connections are asked to go,
    // and whatever is still open after the grace is destroyed, so the server's close always completes.
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        shuttingDown = true
        clearInterval(ticker)
        for (const connection of connections) connection.close()
        server.closeIdleConnections()
        const deadline = Date.now() + graceMillis
        const check = () => {
          if (connections.size === 0 || Date.now() >= deadline) {
            for (const connection of connections) connection.destroy()
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

/** A read that passed its checks, and its span (with `connectionSpans`). */
interface Prepared {
  readonly plan: ReplayHttp.ReadPlan
  readonly span: Tracer.Span | undefined
}

const RETRY = { "retry-after": "1" } as const

const noop = () => {}
