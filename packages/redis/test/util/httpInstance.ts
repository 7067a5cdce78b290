/**
 * A server instance in its own process, for the cluster tests and the HTTP
 * benchmark: `NodeReplayHttp.serve` (or, with `INSTANCE_SERVER=portable`,
 * `ReplayHttp.serve` on `NodeHttpServer`) over a `RedisRegistry`
 * (`SCROLLBACK_REDIS_*` from the environment; `INSTANCE_ENGINE=memory`: an
 * in-memory `ReplayRegistry`, a baseline) on 127.0.0.1, a free port.
 *
 * It prints `{"listening":PORT}` once it listens, then answers one JSON
 * command per line on stdin with one JSON line on stdout
 * (`{"id":…,"ok":true,…}` or `{"id":…,"ok":false,"error":"Tag: message"}`):
 *
 * - `create {key, capacity}`: creates the buffer and takes its writer lease
 *   (held, and refreshed, until `end` or the process dies);
 * - `write {key, size}`: writes `pattern(total, size)` through the lease (the
 *   bytes are a function of their offset: tests know what was written);
 * - `produce {key, writes, size, intervalMs}`: that many such writes, one
 *   every `intervalMs`; answered when all are in;
 * - `end {key}`: ends the buffer through the lease.
 *
 * `INSTANCE_PAGE=1` adds `GET /page`, a page for chromium (its EventSource
 * on the same origin). The process exits when its stdin closes, so it never
 * outlives the test that started it (which also kills it in a finalizer).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { ReplayRegistry } from "@scrollback/core"
import type { ReplayBuffer } from "@scrollback/core"
import { ReplayHttp } from "@scrollback/platform"
import { NodeReplayHttp } from "@scrollback/platform-node"
import { Cause, Effect, Exit, Layer, Option, Runtime, Scope } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as Readline from "node:readline"
import { RedisRegistry } from "../../src/index.js"
import { pattern } from "./bytes.js"

const engine = process.env.INSTANCE_ENGINE ?? "redis"
const serverKind = process.env.INSTANCE_SERVER ?? "node"
const withPage = process.env.INSTANCE_PAGE === "1"
const sseRetryMs = Number(process.env.INSTANCE_SSE_RETRY_MS ?? "1000")

export const PREFIX = "/scrollback"

const httpOptions: ReplayHttp.Options = {
  prefix: PREFIX,
  sseRetry: sseRetryMs,
  list: true,
  maxConnections: 20_000,
  maxConnectionsPerBuffer: 5_000,
  maxBacklogBytes: 8 << 20
}

/** The test page: a stock EventSource, every event checked to start where the last one ended. */
const page = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>cluster</title></head>
<body><script>
const key = new URLSearchParams(location.search).get("key")
const state = { epoch: null, next: null, hellos: 0, errors: 0, end: null, anomalies: [], parts: [] }
window.cluster = state
const es = new EventSource("${PREFIX}/" + key + "/sse")
const parseId = (id) => { const at = id.lastIndexOf(":"); return { epoch: id.slice(0, at), offset: Number(id.slice(at + 1)) } }
es.addEventListener("hello", (event) => {
  const hello = JSON.parse(event.data)
  state.hellos++
  if (state.epoch === null) { state.epoch = hello.epoch; state.next = hello.offset }
  else if (hello.epoch !== state.epoch || hello.offset !== state.next) state.anomalies.push({ kind: "hello", hello, next: state.next })
})
es.addEventListener("message", (event) => {
  const bytes = atob(event.data)
  const id = parseId(event.lastEventId)
  const offset = id.offset - bytes.length
  if (id.epoch !== state.epoch || offset !== state.next) state.anomalies.push({ kind: "data", offset, next: state.next })
  else { state.parts.push(event.data); state.next = id.offset }
})
es.addEventListener("gap", (event) => state.anomalies.push({ kind: "gap", data: event.data }))
es.addEventListener("end", (event) => { state.end = JSON.parse(event.data); es.close() })
es.addEventListener("error", async () => {
  state.errors++
  if (es.readyState !== EventSource.CLOSED || state.end !== null) return
  // The browser gave up: a 204 means the end event was lost with a cut after every byte was read.
  const info = await (await fetch("${PREFIX}/" + key + "/info")).json()
  if (info.ended !== false && info.total === state.next) state.end = { status: info.ended, via: "info" }
  else state.anomalies.push({ kind: "closed", info, next: state.next })
})
</script></body></html>`

const Page = HttpLayerRouter.add(
  "GET",
  "/page",
  Effect.succeed(
    HttpServerResponse.text(page, {
      contentType: "text/html; charset=utf-8",
      // One request per connection: the page's socket is never reused for an EventSource reconnect.
      headers: { connection: "close", "cache-control": "no-store" }
    })
  )
)

const server = Http.createServer()
const listen = { port: 0, host: "127.0.0.1" }

const Served = serverKind === "portable"
  ? ReplayHttp.serve(httpOptions).pipe(
    Layer.provide(NodeHttpServer.layer(() => server, listen))
  )
  : withPage
  ? HttpLayerRouter.serve(Layer.mergeAll(ReplayHttp.routes, Page), { disableLogger: true }).pipe(
    Layer.provide(NodeReplayHttp.layer(() => server, listen)),
    Layer.provideMerge(ReplayHttp.layer(httpOptions))
  )
  : NodeReplayHttp.serve(() => server, listen, httpOptions)

const Registry: Layer.Layer<ReplayRegistry.ReplayRegistry, unknown> = engine === "memory"
  ? ReplayRegistry.layer()
  : RedisRegistry.layerRegistryConfig()

interface Held {
  readonly buffer: ReplayBuffer.ReplayBuffer
  readonly writer: ReplayBuffer.Writer
  readonly scope: Scope.CloseableScope
  total: number
}

interface Command {
  readonly id: number
  readonly op: "create" | "write" | "produce" | "end"
  readonly key: string
  readonly capacity?: number
  readonly size?: number
  readonly writes?: number
  readonly intervalMs?: number
}

const reply = (message: Record<string, unknown>) => process.stdout.write(JSON.stringify(message) + "\n")

const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const failure = Option.getOrUndefined(Cause.failureOption(cause))
  if (failure !== undefined && typeof failure === "object" && failure !== null && "_tag" in failure) {
    return `${String(failure._tag)}: ${String((failure as { readonly message?: unknown }).message ?? "")}`
  }
  return Cause.pretty(cause)
}

const main = Effect.gen(function*() {
  const registry = yield* ReplayRegistry.ReplayRegistry
  const held = new Map<string, Held>()
  const heldOf = (key: string) =>
    Effect.suspend(() => {
      const h = held.get(key)
      return h === undefined ? Effect.dieMessage(`no buffer ${key} created here`) : Effect.succeed(h)
    })
  const writeOne = (h: Held, size: number) =>
    Effect.suspend(() => {
      const bytes = pattern(h.total, size)
      h.total += size
      return h.writer.write(bytes)
    })

  const run = (command: Command): Effect.Effect<Record<string, unknown>, unknown> => {
    switch (command.op) {
      case "create":
        return Effect.gen(function*() {
          const buffer = yield* registry.create(command.key, { capacity: command.capacity ?? 1 << 20 })
          const scope = yield* Scope.make()
          const writer = yield* Scope.extend(buffer.acquireWriter(), scope)
          held.set(command.key, { buffer, writer, scope, total: 0 })
          return { epoch: buffer.epoch }
        })
      case "write":
        return Effect.gen(function*() {
          const h = yield* heldOf(command.key)
          yield* writeOne(h, command.size ?? 64)
          return { total: h.total }
        })
      case "produce":
        return Effect.gen(function*() {
          const h = yield* heldOf(command.key)
          for (let i = 0; i < (command.writes ?? 1); i++) {
            yield* writeOne(h, command.size ?? 64)
            if (command.intervalMs !== undefined && command.intervalMs > 0) yield* Effect.sleep(command.intervalMs)
          }
          return { total: h.total }
        })
      case "end":
        return Effect.gen(function*() {
          const h = yield* heldOf(command.key)
          yield* h.writer.end
          yield* Scope.close(h.scope, Exit.void)
          return { total: h.total }
        })
    }
  }

  const lines = Readline.createInterface({ input: process.stdin })
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())
  lines.on("line", (line) => {
    const command = JSON.parse(line) as Command
    runFork(
      Effect.exit(run(command)).pipe(
        Effect.map((exit) =>
          reply(
            Exit.isSuccess(exit)
              ? { id: command.id, ok: true, ...exit.value }
              : { id: command.id, ok: false, error: describeFailure(exit.cause) }
          )
        )
      )
    )
  })
  lines.on("close", () => process.exit(0))
  reply({ listening: (server.address() as Net.AddressInfo).port })
})

// The commands start once the server listens (`Served` is built first), over the same registry.
const Main = Layer.scopedDiscard(main).pipe(
  Layer.provide(Served),
  Layer.provide(Layer.merge(Registry, ReplayHttp.layerAllowAll))
)

Effect.runPromise(Layer.launch(Main)).catch((error) => {
  process.stderr.write(`instance failed: ${String(error)}\n`)
  process.exit(1)
})
