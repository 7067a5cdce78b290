import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as ReplayHttpError from "@scrollback/platform/ReplayHttpError"
import * as ReplayProtocol from "@scrollback/platform/ReplayProtocol"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { LazyArg } from "effect/Function"
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
  return /^[A-Za-z0-9._~-]{1,128}$/.test(key) && key !== "." && key !== ".." ? { key, transport: parts[1] } : undefined
}

/** A token bucket for what a WebSocket client sends: `burst` bytes at once, refilled at `rate` per second. */
class InboundBudget {
  private tokens: number
  private at = Date.now()
  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst
  }
  take(bytes: number): boolean {
    const now = Date.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.at) * this.rate / 1000)
    this.at = now
    this.tokens -= bytes
    return this.tokens >= 0
  }
}

/** A streaming connection of the fast path, for keep-alives and shutdown. */
interface Connection {
  readonly keepAlive: (now: number) => void
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
          if (gone || response.destroyed || shuttingDown) return plan.release()
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
      let lastWrite = Date.now()
      response.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        "x-accel-buffering": "no"
      })
      const write = (message: Uint8Array | string): boolean => {
        lastWrite = Date.now()
        const ok = response.write(message)
        // Flow control keeps the backlog near the socket's high-water mark; a single message past the bound ends it.
        if (response.writableLength > config.maxBacklogBytes) response.destroy()
        return ok
      }
      const outlet: Outlet = {
        write,
        onDrain: (resume) => response.once("drain", resume),
        finish: (exit, position) => {
          // Only a producer's failure is an end; an eviction under "fail" just closes (the client gets 410 next).
          if (Exit.isSuccess(exit)) return response.end(ReplayProtocol.sseEnd(epoch, position, { status: "ended" }))
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          if (error !== undefined && error._tag === "ProducerFailed") {
            return response.end(ReplayProtocol.sseEnd(epoch, position, ReplayProtocol.endOf(Exit.fail(error))))
          }
          response.end()
        }
      }
      write(ReplayProtocol.sseHello(plan.hello, config.sseRetryMillis))
      let member: Member | undefined = undefined
      const connection: Connection = {
        keepAlive: (now) => {
          if (now - lastWrite >= config.keepAliveMillis) write(ReplayProtocol.ssePing)
        },
        close: () => response.end(),
        destroy: () => response.destroy()
      }
      connections.add(connection)
      response.once("close", () => {
        connections.delete(connection)
        member?.close()
        plan.release()
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
      if (shuttingDown) return refuseSocket(socket, { error: new ReplayHttpError.ShuttingDown(), headers: RETRY })
      let gone = false
      socket.once("close", () => {
        gone = true
      })
      run(ReplayHttp.prepareRead(readOf(request, "ws", key)), {
        onExit: (exit) => {
          if (Exit.isFailure(exit)) {
            const refused = exit.cause._tag === "Fail" ? exit.cause.error : undefined
            return refused !== undefined ? refuseSocket(socket, refused) : socket.destroy()
          }
          const plan = exit.value
          // A client that already left (or half-closed) gets no handshake: its slot is freed at once.
          if (gone || socket.destroyed || !socket.writable || socket.readableEnded || shuttingDown) {
            plan.release()
            return socket.destroy()
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
            serveWs(client, socket, plan)
          })
        }
      })
    }

    const serveWs = (client: WS.WebSocket, socket: Stream.Duplex, plan: ReplayHttp.ReadPlan): void => {
      let alive = true
      let member: Member | undefined = undefined
      const budget = new InboundBudget(config.wsInboundBytesPerSecond, config.wsInboundBurstBytes)
      const drop = (code: number, reason: string) => {
        client.close(code, closeReason(reason))
        setTimeout(() => socket.destroy(), graceMillis).unref()
      }
      const connection: Connection = {
        keepAlive: () => {
          // A peer that did not answer the last ping is gone: its connection is destroyed.
          if (!alive) return client.terminate()
          alive = false
          client.ping()
        },
        close: () => client.close(CLOSE_GOING_AWAY, "server shutdown"),
        destroy: () => client.terminate()
      }
      connections.add(connection)
      client.on("close", () => {
        connections.delete(connection)
        member?.close()
        plan.release()
      })
      client.on("error", noop)
      client.on("pong", () => {
        alive = true
      })
      client.on("message", () => drop(CLOSE_POLICY_VIOLATION, "clients send no messages"))
      // Every byte the client sends counts, pings included: a budget per time, refilled as it goes.
      socket.on("data", (chunk: Buffer) => {
        alive = true
        if (!budget.take(chunk.length)) drop(CLOSE_POLICY_VIOLATION, "inbound rate exceeded")
      })
      client.send(ReplayProtocol.wsMessage({ type: "hello", ...plan.hello }))
      if (plan.refused !== undefined) {
        return client.close(ReplayProtocol.closeCodeOf(plan.refused.error), closeReason(plan.refused.error.message))
      }
      const outlet: Outlet = {
        write: (message) => {
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
      }
      member = wsHubs.attach(plan.buffer, outlet, plan.cursor)
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

const RETRY = { "retry-after": "1" } as const

const noop = () => {}
