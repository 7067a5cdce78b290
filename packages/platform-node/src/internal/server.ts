import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as ReplayHttpError from "@scrollback/platform/ReplayHttpError"
import * as ReplayProtocol from "@scrollback/platform/ReplayProtocol"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { LazyArg } from "effect/Function"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
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
  data: (epoch, step) => {
    const events = ReplayProtocol.sseDataEvents(epoch, step)
    return events.length === 1 ? events[0] : Buffer.concat(events)
  },
  gap: (epoch, gap) => ReplayProtocol.sseGap(epoch, gap)
}

const wsFormat: Format = {
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

/**
 * A token bucket for what a WebSocket client sends: `burst` bytes at once,
 * refilled at `rate` per second of `now` (the Effect `Clock` of the server's
 * scope, so a test can drive it with `TestClock`).
 */
class InboundBudget {
  private tokens: number
  private at: number
  constructor(private readonly rate: number, private readonly burst: number, private readonly now: () => number) {
    this.tokens = burst
    this.at = now()
  }
  take(bytes: number): boolean {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, now - this.at) * this.rate / 1000)
    this.at = now
    this.tokens -= bytes
    return this.tokens >= 0
  }
}

/** A streaming connection of the fast path, for keep-alives and shutdown. */
interface Connection {
  readonly keepAlive: () => void
  /** Asks the peer to go (SSE: the response ends; WebSocket: close 1001). */
  readonly close: () => void
  /** Destroys the socket now. */
  readonly destroy: () => void
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

    const shuttingDownRefusal: ReplayHttp.Refusal = { error: new ReplayHttpError.ShuttingDown(), headers: RETRY }

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
      let gone = false
      response.once("close", () => {
        gone = true
      })
      run(ReplayHttp.prepareRead(readOf(request, "sse", key)), {
        onExit: (exit) => {
          if (Exit.isFailure(exit)) {
            const refused = exit.cause._tag === "Fail" ? exit.cause.error : undefined
            if (refused !== undefined) return refuseResponse(response, refused)
            if (!response.headersSent && !response.destroyed) response.destroy()
            return
          }
          const plan = exit.value
          if (gone || response.destroyed) return plan.release()
          if (shuttingDown) {
            // Checked while the hook ran: refused like a request that came after the shutdown began.
            plan.release()
            return refuseResponse(response, shuttingDownRefusal)
          }
          if (plan.atEnd) {
            response.writeHead(204, { "cache-control": "no-store" })
            return response.end()
          }
          serveSse(response, plan)
        }
      })
    }

    const serveSse = (response: Http.ServerResponse, plan: ReplayHttp.ReadPlan): void => {
      const epoch = plan.hello.epoch
      let lastWrite = now()
      /** Whether the response may still be written to: not once it was ended (a write after `end` throws). */
      let open = true
      let member: Member | undefined = undefined
      response.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        "x-accel-buffering": "no"
      })
      const write = (message: Uint8Array | string): boolean => {
        if (!open || response.destroyed) return false
        lastWrite = now()
        const ok = response.write(message)
        // Flow control keeps the backlog near the socket's high-water mark; a single message past the bound ends it.
        if (response.writableLength > config.maxBacklogBytes) stop(() => response.destroy())
        return ok
      }
      /** Nothing more is written: the member leaves its hub, the slot is free, then `then` ends the response. */
      const stop = (then: () => void) => {
        if (!open) return
        open = false
        member?.close()
        plan.release()
        then()
      }
      const outlet: Outlet = {
        write,
        onDrain: (resume) => response.once("drain", resume),
        finish: (exit, position) =>
          stop(() => {
            // Only a producer's failure is an end; an eviction under "fail" just closes (the client gets 410 next).
            if (Exit.isSuccess(exit)) return response.end(ReplayProtocol.sseEnd(epoch, position, { status: "ended" }))
            const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
            if (error !== undefined && error._tag === "ProducerFailed") {
              return response.end(ReplayProtocol.sseEnd(epoch, position, ReplayProtocol.endOf(Exit.fail(error))))
            }
            response.end()
          })
      }
      write(ReplayProtocol.sseHello(plan.hello, config.sseRetryMillis))
      const connection: Connection = {
        keepAlive: () => {
          if (!open) return
          if (response.writableNeedDrain) {
            // Nothing drained for two keep-alive periods: the peer is gone or stalled; it resumes by offset if not.
            if (now() - lastWrite >= 2 * config.keepAliveMillis) stop(() => response.destroy())
            // A response that is not draining gains nothing from a ping: its backlog would only grow.
            return
          }
          if (now() - lastWrite >= config.keepAliveMillis) write(ReplayProtocol.ssePing)
        },
        close: () => stop(() => response.end()),
        destroy: () => response.destroy()
      }
      connections.add(connection)
      response.once("close", () => {
        connections.delete(connection)
        stop(noop)
      })
      member = sseHubs.attach(plan.buffer, outlet, plan.cursor)
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
      let gone = false
      pending.add(socket)
      socket.once("close", () => {
        gone = true
        pending.delete(socket)
      })
      run(ReplayHttp.prepareRead(readOf(request, "ws", key)), {
        onExit: (exit) => {
          if (Exit.isFailure(exit)) {
            pending.delete(socket)
            const refused = exit.cause._tag === "Fail" ? exit.cause.error : undefined
            return refused !== undefined ? refuseSocket(socket, refused) : socket.destroy()
          }
          const plan = exit.value
          // A client that already left (or half-closed) gets no handshake: its slot is freed at once.
          if (gone || socket.destroyed || !socket.writable || socket.readableEnded) {
            pending.delete(socket)
            plan.release()
            return socket.destroy()
          }
          if (shuttingDown) {
            pending.delete(socket)
            plan.release()
            return refuseSocket(socket, shuttingDownRefusal)
          }
          let upgraded = false
          const timer = setTimeout(() => socket.destroy(), upgradeTimeoutMillis)
          // `ws` never calls back for a client that went away during the handshake: the close frees the slot.
          socket.once("close", () => {
            clearTimeout(timer)
            if (!upgraded) plan.release()
          })
          wss.handleUpgrade(request, socket, head, (client) => {
            upgraded = true
            clearTimeout(timer)
            pending.delete(socket)
            serveWs(client, socket, plan)
          })
        }
      })
    }

    const serveWs = (client: WS.WebSocket, socket: Stream.Duplex, plan: ReplayHttp.ReadPlan): void => {
      let alive = true
      /** Whether data may still be sent: not once the session is ending. */
      let open = true
      let member: Member | undefined = undefined
      const budget = new InboundBudget(config.wsInboundBytesPerSecond, config.wsInboundBurstBytes, now)
      /** Nothing more is sent: the member leaves its hub and the slot is free. */
      const stop = () => {
        if (!open) return false
        open = false
        member?.close()
        plan.release()
        return true
      }
      /** The session's end: the close frame after everything sent (`ws` destroys a peer that never answers it). */
      const end = (code: number, reason: string) => {
        if (!stop()) return
        client.close(code, closeReason(reason))
      }
      /** Closes with `code`; a peer that does not finish the closing handshake within the grace is destroyed. */
      const drop = (code: number, reason: string) => {
        if (!stop()) return
        client.close(code, closeReason(reason))
        setTimeout(() => socket.destroy(), graceMillis).unref()
      }
      const connection: Connection = {
        keepAlive: () => {
          // A peer that did not answer the last ping (and read nothing meanwhile) is gone: its connection is destroyed.
          if (!alive) return client.terminate()
          alive = false
          client.ping()
        },
        close: () => drop(CLOSE_GOING_AWAY, "server shutdown"),
        destroy: () => client.terminate()
      }
      connections.add(connection)
      client.on("close", () => {
        connections.delete(connection)
        stop()
      })
      client.on("error", noop)
      client.on("pong", () => {
        alive = true
      })
      // The kernel took bytes off a full socket: the peer is reading (its pong may be queued behind them).
      socket.on("drain", () => {
        alive = true
      })
      client.on("message", () => drop(CLOSE_POLICY_VIOLATION, "clients send no messages"))
      // Every byte the client sends counts, pings included: a budget per time, refilled as it goes.
      socket.on("data", (chunk: Buffer) => {
        alive = true
        if (!budget.take(chunk.length)) drop(CLOSE_POLICY_VIOLATION, "inbound rate exceeded")
      })
      if (shuttingDown) return drop(CLOSE_GOING_AWAY, "server shutdown")
      // A refusal known after the upgrade is the close alone, as on the portable path: its hello would describe a
      // cursor that reads nothing.
      if (plan.refused !== undefined) {
        return end(ReplayProtocol.closeCodeOf(plan.refused.error), plan.refused.error.message)
      }
      client.send(ReplayProtocol.wsMessage({ type: "hello", ...plan.hello }))
      const outlet: Outlet = {
        write: (message) => {
          if (!open) return false
          client.send(message)
          if (socket.writableLength > config.maxBacklogBytes) {
            drop(CLOSE_SLOW_CONSUMER, `slow consumer: ${socket.writableLength} unsent bytes`)
            return false
          }
          return !socket.writableNeedDrain
        },
        onDrain: (resume) => socket.once("drain", resume),
        finish: (exit, _position) => {
          if (Exit.isSuccess(exit)) {
            client.send(ReplayProtocol.wsMessage({ type: "end", status: "ended" }))
            return end(CLOSE_NORMAL, "end")
          }
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          if (error !== undefined && error._tag === "ProducerFailed") {
            client.send(ReplayProtocol.wsMessage({ type: "end", ...ReplayProtocol.endOf(Exit.fail(error)) }))
            return end(CLOSE_NORMAL, "end")
          }
          if (error !== undefined) return end(ReplayProtocol.closeCodeOf(error), error.message)
          end(CLOSE_NORMAL, "end")
        }
      }
      member = wsHubs.attach(plan.buffer, outlet, plan.cursor)
    }

    // --- the server ------------------------------------------------------------------

    const server = evaluate()
    // The streaming endpoints are served here, before the app sees them: no fiber per connection.
    const emit = server.emit
    server.emit = function(this: Http.Server, event: string | symbol, ...args: Array<any>): boolean {
      if (shuttingDown && (event === "request" || event === "upgrade")) {
        // The app's handlers are gone (its layer closed first): every request is refused until the server closes.
        if (event === "request") {
          const response = args[1] as Http.ServerResponse
          response.shouldKeepAlive = false
          refuseResponse(response, shuttingDownRefusal)
        } else {
          const socket = args[1] as Stream.Duplex
          socket.on("error", noop)
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

const noop = () => {}
