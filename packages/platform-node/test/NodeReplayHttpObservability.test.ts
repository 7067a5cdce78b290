/**
 * The fan-out server's metrics and connection spans, on real servers
 * (127.0.0.1, port 0) with real SSE and WebSocket clients.
 */
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import { assert, describe, it } from "@effect/vitest"
import { ReplayMetrics, ReplayRegistry } from "@scrollback/core"
import type { ReplayBuffer } from "@scrollback/core"
import { Tracing } from "@scrollback/http-test-kit"
import { ReplayHttp } from "@scrollback/platform"
import { NodeReplayHttp } from "@scrollback/platform-node"
import { Context, Effect, Exit, Layer, Metric, Queue, Scope } from "effect"
import * as Http from "node:http"
import WebSocket from "ws"

interface Server {
  readonly port: number
  readonly base: string
  readonly registry: ReplayRegistry.ReplayRegistry
  /** Closes the server (its shutdown: connections asked to go, then destroyed after the grace). */
  readonly shutdown: Effect.Effect<void>
}

/** A NodeReplayHttp server with the portable routes for the rest, in a scope of its own (`shutdown` closes it). */
const start = (options: {
  readonly http?: ReplayHttp.Options
  readonly node?: NodeReplayHttp.Options
  readonly recorder?: Tracing.Recorder
}): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const build = Layer.buildWithScope(
      HttpLayerRouter.serve(ReplayHttp.routes, { disableLogger: true, disableListenLog: true }).pipe(
        Layer.provideMerge(NodeReplayHttp.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }, {
          shutdownGrace: "200 millis",
          ...options.node
        } as NodeReplayHttp.Options)),
        Layer.provideMerge(ReplayHttp.layer(options.http)),
        Layer.provideMerge(ReplayRegistry.layer()),
        Layer.provide(ReplayHttp.layerAllowAll)
      ),
      scope
    )
    const context = yield* Effect.orDie(options.recorder ? Effect.withTracer(build, options.recorder.tracer) : build)
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "TcpAddress" ? address.port : 0
    return {
      port,
      base: `http://127.0.0.1:${port}`,
      registry: Context.get(context, ReplayRegistry.ReplayRegistry),
      shutdown: Scope.close(scope, Exit.void)
    }
  })

const bytes = (n: number, seed = 0) => new Uint8Array(n).map((_, i) => (i * 7 + seed) & 0xff)

/** Waits until `condition` holds, sleeping between checks: a generous bound on "eventually". */
const eventually = (what: string, condition: Effect.Effect<boolean> | (() => boolean)) =>
  Effect.gen(function*() {
    const check = typeof condition === "function" ? Effect.sync(condition) : condition
    for (let i = 0; i < 2000; i++) {
      if (yield* check) return
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.dieMessage(`timed out waiting until ${what}`)
  })

// --- clients -------------------------------------------------------------------------------------------------------

interface SseClient {
  readonly status: number
  /** Lines received, as they came. */
  readonly text: () => string
  readonly closed: () => boolean
  readonly pause: Effect.Effect<void>
  readonly destroy: Effect.Effect<void>
}

const sseClient = (url: string, headers?: Record<string, string>): Effect.Effect<SseClient, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ request: Http.ClientRequest; response: Http.IncomingMessage }>((resume) => {
      const request = Http.get(
        url,
        { headers: { accept: "text/event-stream", ...headers }, agent: false },
        (response) => resume(Effect.succeed({ request, response }))
      )
      request.on("error", (error) => resume(Effect.die(error)))
    }),
    ({ request }) => Effect.sync(() => request.destroy())
  ).pipe(Effect.map(({ request, response }) => {
    let text = ""
    let closed = false
    response.setEncoding("utf8")
    response.on("data", (chunk: string) => {
      text += chunk
    })
    response.on("close", () => {
      closed = true
    })
    response.on("error", () => {})
    return {
      status: response.statusCode ?? 0,
      text: () => text,
      closed: () => closed,
      pause: Effect.sync(() => response.pause()),
      destroy: Effect.sync(() => request.destroy())
    }
  }))

interface WsClient {
  readonly messages: Queue.Queue<string | Uint8Array>
  readonly socket: WebSocket
  readonly closed: () => { readonly code: number; readonly reason: string } | undefined
}

const wsClient = (url: string): Effect.Effect<WsClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    const messages = yield* Queue.unbounded<string | Uint8Array>()
    let closed: { code: number; reason: string } | undefined
    const socket = yield* Effect.acquireRelease(
      Effect.async<WebSocket>((resume) => {
        const socket = new WebSocket(url)
        socket.binaryType = "nodebuffer"
        socket.on("message", (data: Buffer, isBinary: boolean) =>
          Queue.unsafeOffer(messages, isBinary ? new Uint8Array(data) : data.toString("utf8")))
        socket.on("close", (code: number, reason: Buffer) => {
          closed = { code, reason: reason.toString() }
        })
        socket.on("error", () => {})
        socket.once("open", () =>
          resume(Effect.succeed(socket)))
        socket.once("unexpected-response", (_request, response) =>
          resume(Effect.dieMessage(`status ${response.statusCode}`)))
      }),
      (socket) =>
        Effect.sync(() =>
          socket.terminate()
        )
    )
    return { messages, socket, closed: () => closed }
  })

const textOf = (message: string | Uint8Array): any =>
  typeof message === "string" ? JSON.parse(message) : { binary: message.length }

/** Reads WebSocket messages until one satisfies `predicate`. */
const until = (client: WsClient, predicate: (message: any) => boolean) =>
  Effect.gen(function*() {
    for (;;) {
      const message = textOf(yield* Queue.take(client.messages))
      if (predicate(message)) return message
    }
  })

// --- metrics -------------------------------------------------------------------------------------------------------

const value = <A extends { readonly value: number } | { readonly count: number }>(
  metric: Metric.Metric<any, any, A>,
  tags: Record<string, string>
): Effect.Effect<number> => {
  let tagged = metric
  for (const [key, v] of Object.entries(tags)) tagged = Metric.tagged(tagged, key, v)
  return Effect.map(Metric.value(tagged), (state) => ("value" in state ? state.value : state.count))
}

const followers = (transport: "sse" | "ws") => value(ReplayMetrics.activeFollowers, { transport })
const perKeyFollowers = (key: string) => value(ReplayMetrics.bufferFollowers, { key })

let runs = 0
const uniqueKey = (name: string) => `${name}-${++runs}-${Math.random().toString(36).slice(2, 8)}`

describe("NodeReplayHttp observability", () => {
  it.scopedLive("fan-out followers count per transport and per key, gaps per transport; /metrics is served by the app routes", () =>
    Effect.gen(function*() {
      const server = yield* start({ http: { metrics: true } })
      const key = uniqueKey("fan")
      const buffer = yield* Effect.orDie(server.registry.create(key, { capacity: 16 }))
      yield* buffer.write(bytes(20)) // 4 evicted
      const sseBefore = yield* followers("sse")
      const wsBefore = yield* followers("ws")
      const wsGaps = yield* value(ReplayMetrics.gaps, { transport: "ws" })

      const sse = yield* sseClient(`${server.base}/scrollback/${key}/sse`)
      assert.strictEqual(sse.status, 200)
      const ws = yield* wsClient(`ws://127.0.0.1:${server.port}/scrollback/${key}/ws?offset=0&onEvicted=clamp`)
      yield* until(ws, (m) => m.type === "gap")
      yield* eventually("both followers attached", Effect.map(perKeyFollowers(key), (n) => n === 2))
      assert.strictEqual(yield* followers("sse"), sseBefore + 1)
      assert.strictEqual(yield* followers("ws"), wsBefore + 1)
      assert.strictEqual((yield* value(ReplayMetrics.gaps, { transport: "ws" })) - wsGaps, 1)

      // The same figures over HTTP: NodeReplayHttp hands /metrics to the app's routes.
      const scrape = yield* Effect.async<string>((resume) => {
        Http.get(`${server.base}/metrics`, (response) => {
          let body = ""
          response.setEncoding("utf8")
          response.on("data", (chunk: string) => {
            body += chunk
          })
          response.on("end", () => resume(Effect.succeed(`${response.statusCode}\n${body}`)))
        }).on("error", (error) => resume(Effect.die(error)))
      })
      assert.isTrue(scrape.startsWith("200\n"), scrape.slice(0, 200))
      assert.include(scrape, `scrollback_buffer_followers{key="${key}"} 2\n`)
      assert.include(scrape, `scrollback_buffer_bytes_written_total{key="${key}"} 20\n`)
      assert.include(scrape, `scrollback_buffer_bytes_evicted_total{key="${key}"} 4\n`)
      assert.include(scrape, `scrollback_followers_active{transport="ws"} ${wsBefore + 1}\n`)

      yield* sse.destroy
      ws.socket.terminate()
      yield* eventually("both followers gone", Effect.map(perKeyFollowers(key), (n) => n === 0))
      assert.strictEqual(yield* followers("sse"), sseBefore)
      assert.strictEqual(yield* followers("ws"), wsBefore)
    }))

  it.scopedLive("connections refused by a limit are counted by transport and limit", () =>
    Effect.gen(function*() {
      const server = yield* start({ http: { maxConnectionsPerBuffer: 1 } })
      const key = uniqueKey("limit")
      yield* Effect.orDie(server.registry.create(key))
      const refused = (transport: "sse" | "ws") =>
        value(ReplayMetrics.connectionsRefused, { transport, limit: "buffer" })
      const sseBefore = yield* refused("sse")
      const wsBefore = yield* refused("ws")
      const first = yield* sseClient(`${server.base}/scrollback/${key}/sse`)
      assert.strictEqual(first.status, 200)
      const second = yield* sseClient(`${server.base}/scrollback/${key}/sse`)
      assert.strictEqual(second.status, 429)
      const ws = yield* Effect.exit(Effect.scoped(wsClient(`ws://127.0.0.1:${server.port}/scrollback/${key}/ws`)))
      assert.isTrue(Exit.isFailure(ws))
      assert.strictEqual((yield* refused("sse")) - sseBefore, 1)
      assert.strictEqual((yield* refused("ws")) - wsBefore, 1)
    }))

  for (const transport of ["sse", "ws"] as const) {
    it.scopedLive(`a ${transport} consumer that stops reading is dropped past maxBacklogBytes, and counted`, () =>
      Effect.gen(function*() {
        const recorder = Tracing.makeRecorder()
        const server = yield* start({ http: { maxBacklogBytes: 1024 }, recorder })
        const key = uniqueKey(`slow-${transport}`)
        const buffer = yield* Effect.orDie(server.registry.create(key, { capacity: 64 * 1024 }))
        const before = yield* value(ReplayMetrics.slowConsumerDrops, { transport })
        if (transport === "sse") {
          const client = yield* sseClient(`${server.base}/scrollback/${key}/sse`)
          yield* eventually("the SSE hello", () => client.text().includes("event: hello"))
          yield* client.pause
        } else {
          const client = yield* wsClient(`ws://127.0.0.1:${server.port}/scrollback/${key}/ws`)
          yield* until(client, (m) => m.type === "hello")
          ;(client.socket as any)._socket.pause()
        }
        // Writes until the kernel's buffers are full and a message stays queued past the bound (at most 256 MiB).
        for (let i = 0; (yield* value(ReplayMetrics.slowConsumerDrops, { transport })) === before; i++) {
          if (i === 65_536) return yield* Effect.dieMessage("the slow consumer was never dropped")
          yield* Effect.orDie(buffer.write(bytes(4096, i)))
          if (i % 16 === 15) yield* Effect.sleep("1 millis")
        }
        assert.strictEqual((yield* value(ReplayMetrics.slowConsumerDrops, { transport })) - before, 1)
        yield* eventually("the span ended", () => recorder.named(`ReplayHttp.${transport}`).every((s) => s.ended))
        const [span] = recorder.named(`ReplayHttp.${transport}`)
        assert.strictEqual(span.attributes.get("scrollback.end"), "slow-consumer")
      }))
  }

  it.scopedLive("connection spans: how each connection ended, where it started; every span ends", () =>
    Effect.gen(function*() {
      const recorder = Tracing.makeRecorder()
      const server = yield* start({ recorder })
      const key = uniqueKey("spans")
      const buffer = yield* Effect.orDie(server.registry.create(key, { capacity: 8 }))
      yield* buffer.write(bytes(12)) // 4 evicted
      const spansOf = (name: string) => recorder.named(name)

      // ended: replays from a resume position, gets the end.
      const done = yield* Effect.orDie(server.registry.create(`${key}-done`))
      yield* done.write(bytes(6))
      const ended = yield* sseClient(`${server.base}/scrollback/${key}-done/sse`, {
        "last-event-id": `${done.epoch}:2`
      })
      yield* eventually("the first connection attached", () => spansOf("ReplayHttp.sse").length === 1)
      yield* done.end
      yield* eventually("the ended connection closed", ended.closed)

      // client-gone: an SSE client that vanishes.
      const gone = yield* sseClient(`${server.base}/scrollback/${key}/sse?offset=8`)
      yield* eventually("the second connection attached", () => spansOf("ReplayHttp.sse").length === 2)
      yield* gone.destroy

      // a gap on a WebSocket, then the server shuts down under it.
      const clamped = yield* wsClient(`ws://127.0.0.1:${server.port}/scrollback/${key}/ws?offset=0&onEvicted=clamp`)
      yield* until(clamped, (m) => m.type === "gap")
      // refused: a WebSocket whose position belongs to another epoch is upgraded, then closed with 4409.
      const refused = yield* wsClient(
        `ws://127.0.0.1:${server.port}/scrollback/${key}/ws?offset=3&epoch=0000000000000000`
      )
      yield* eventually("the refused WebSocket closed", () => refused.closed() !== undefined)
      assert.strictEqual(refused.closed()!.code, 4409)

      yield* eventually("the vanished client's span ended", () => spansOf("ReplayHttp.sse")[1].ended)
      yield* server.shutdown
      assert.strictEqual(clamped.closed()?.code, 1001)

      const all = [...spansOf("ReplayHttp.sse"), ...spansOf("ReplayHttp.ws")]
      assert.strictEqual(all.length, 4)
      for (const span of all) assert.isTrue(span.ended, `${span.name} ended`)
      const end = (span: Tracing.RecordedSpan) => span.attributes.get("scrollback.end")
      const [first, second] = spansOf("ReplayHttp.sse")
      assert.strictEqual(end(first), "ended")
      assert.strictEqual(first.attributes.get("scrollback.from"), `${done.epoch}:2`)
      assert.strictEqual(first.attributes.get("scrollback.start"), `${done.epoch}:2`)
      assert.strictEqual(first.attributes.get("scrollback.position"), `${done.epoch}:6`)
      assert.strictEqual(first.attributes.get("scrollback.key"), `${key}-done`)
      assert.strictEqual(first.kind, "server")
      assert.strictEqual(end(second), "client-gone")
      assert.strictEqual(second.attributes.get("scrollback.from"), "8")
      const [gapped, refusedSpan] = spansOf("ReplayHttp.ws")
      assert.strictEqual(end(gapped), "shutdown")
      assert.strictEqual(gapped.attributes.get("scrollback.gaps"), 1)
      assert.deepStrictEqual(gapped.events, [{
        name: "scrollback.gap",
        attributes: { "scrollback.requested": 0, "scrollback.oldest": 4 }
      }])
      assert.strictEqual(end(refusedSpan), "refused")
      assert.isFalse(refusedSpan.attributes.has("scrollback.position"))
    }))

  it.scopedLive("connectionSpans: false makes none, even with a tracer installed", () =>
    Effect.gen(function*() {
      const recorder = Tracing.makeRecorder()
      const server = yield* start({ recorder, node: { connectionSpans: false } })
      const key = uniqueKey("nospans")
      const buffer: ReplayBuffer.ReplayBuffer = yield* Effect.orDie(server.registry.create(key))
      const client = yield* sseClient(`${server.base}/scrollback/${key}/sse`)
      yield* eventually("the SSE hello", () => client.text().includes("event: hello"))
      yield* buffer.end
      yield* eventually("the connection closed", client.closed)
      assert.strictEqual(recorder.named("ReplayHttp.sse").length, 0)
      // The control plane is still traced (the lookup of the buffer).
      assert.isAbove(recorder.named("ReplayRegistry.get").length, 0)
    }))
})
