/**
 * The server child of the SSE fan-out benchmark (forked by `sse.ts`):
 *
 *   node --expose-gc --import tsx benchmark/sseServer.ts <scrollback|raw> <followers>
 *
 * - `scrollback`: `ReplayHttp.layer()` on `NodeHttpServer.layer` (default
 *   options, besides `maxConnectionsPerBuffer` when more than 1,000 followers
 *   are asked for), one `ReplayRegistry` buffer written by the producer.
 * - `raw`: the baseline, a minimal `node:http` SSE fan-out: a `Set` of
 *   responses; each write is base64-encoded once into one event and
 *   `res.write`n to every client. Same wire format (retry, hello, data
 *   events with `id: EPOCH:NEXT`, end), no replay, no keep-alive pings, no
 *   limits, no backpressure handling.
 *
 * Both run the same producer (a steady schedule of stamped writes) and
 * report over IPC their memory (after full collections), the CPU they spent
 * from the start of production to `stop`, their event-loop delay, and the
 * hash of the log.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ReplayBuffer } from "@scrollback/core"
import { ReplayRegistry } from "@scrollback/core"
import { ReplayHttp } from "@scrollback/platform"
import { Context, Effect, Layer, Scope } from "effect"
import * as Http from "node:http"
import { monitorEventLoopDelay } from "node:perf_hooks"
import type { FromServer, Memory, ServerKind, ToServer } from "./sseShared.js"
import { KEY, makePayload, nowMs, SERVER_KINDS, updateHash, WARMUP_KEY } from "./sseShared.js"

const kind = process.argv[2] as ServerKind
const followers = Number(process.argv[3])
if (!SERVER_KINDS.includes(kind) || !Number.isSafeInteger(followers) || followers < 1) {
  throw new Error(`usage: sseServer.ts <scrollback|raw> <followers>, got ${process.argv.slice(2).join(" ")}`)
}

const send = (message: FromServer): void => {
  process.send!(message)
}

process.on("uncaughtException", (error) => {
  send({ type: "error", message: String(error?.stack ?? error) })
  process.exit(1)
})
// The parent went away: do not linger.
process.on("disconnect", () => process.exit(0))

/** Memory after full collections, twice apart so freed pages have time to leave the RSS. */
const memory = async (): Promise<Memory> => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run the server child with node --expose-gc")
  for (let i = 0; i < 4; i++) gc()
  await new Promise((resolve) => setTimeout(resolve, 250))
  for (let i = 0; i < 4; i++) gc()
  const usage = process.memoryUsage()
  return { rss: usage.rss, heapUsed: usage.heapUsed }
}

/** What differs between the two servers: how a write reaches the followers, and how the log ends. */
interface Target {
  readonly port: number
  readonly epoch: string
  readonly write: (bytes: Uint8Array) => void
  readonly end: () => void
}

const WARMUP_BYTES = 64 * 1024

const warmupBytes = (): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < WARMUP_BYTES / 1024; i++) out.push(makePayload(i, 1024))
  return out
}

// -----------------------------------------------------------------------------
// scrollback
// -----------------------------------------------------------------------------

const startScrollback = async (): Promise<Target> => {
  const capacity = 64 * 1024 * 1024 // holds the whole log: a lagging follower never gets a gap
  const layer = ReplayHttp.layer(
    // The defaults (1,000 per buffer) admit the default 1,000 followers; the warm-up reads another key.
    followers > ReplayHttp.DEFAULT_MAX_CONNECTIONS_PER_BUFFER ? { maxConnectionsPerBuffer: followers } : undefined
  ).pipe(
    Layer.provideMerge(ReplayRegistry.layer({ defaultCapacity: capacity })),
    Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
  )
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  const registry = Context.get(context, ReplayRegistry.ReplayRegistry)
  const server = Context.get(context, HttpServer.HttpServer)
  if (server.address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  const warmup = await Effect.runPromise(registry.create(WARMUP_KEY, { capacity: WARMUP_BYTES }))
  await Effect.runPromise(Effect.zipRight(warmup.writeAll(warmupBytes()), warmup.end))
  const buffer: ReplayBuffer.ReplayBuffer = await Effect.runPromise(registry.create(KEY))
  return {
    port: server.address.port,
    epoch: buffer.epoch,
    write: (bytes) => Effect.runSync(buffer.write(bytes)),
    end: () => {
      Effect.runSync(buffer.end)
    }
  }
}

// -----------------------------------------------------------------------------
// raw node:http
// -----------------------------------------------------------------------------

const startRaw = async (): Promise<Target> => {
  const epoch = "0123456789abcdef"
  const clients = new Set<Http.ServerResponse>()
  let total = 0
  const event = (id: number, data: string, type?: string) =>
    Buffer.from(`${type === undefined ? "" : `event: ${type}\n`}id: ${epoch}:${id}\ndata: ${data}\n\n`, "latin1")
  const open = (res: Http.ServerResponse, offset: number, totalNow: number) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" })
    res.write(`retry: 1000\n`)
    res.write(event(offset, JSON.stringify({ epoch, offset, oldest: 0, total: totalNow }), "hello"))
  }
  const endEvent = (at: number) => event(at, JSON.stringify({ status: "ended" }), "end")

  const server = Http.createServer((req, res) => {
    if (req.url === `/scrollback/${WARMUP_KEY}/sse`) {
      open(res, 0, WARMUP_BYTES)
      let next = 0
      for (const bytes of warmupBytes()) {
        next += bytes.length
        res.write(event(next, Buffer.from(bytes).toString("base64")))
      }
      res.end(endEvent(next))
      return
    }
    if (req.url !== `/scrollback/${KEY}/sse`) {
      res.writeHead(404).end()
      return
    }
    open(res, total, total)
    clients.add(res)
    res.on("close", () => clients.delete(res))
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("expected a TCP address")
  return {
    port: address.port,
    epoch,
    write: (bytes) => {
      total += bytes.length
      const frame = event(total, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"))
      for (const res of clients) res.write(frame)
    },
    end: () => {
      const frame = endEvent(total)
      for (const res of clients) res.end(frame)
    }
  }
}

// -----------------------------------------------------------------------------
// the producer and the IPC loop
// -----------------------------------------------------------------------------

const percentile = (sorted: ArrayLike<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]

const main = async () => {
  const target = kind === "scrollback" ? await startScrollback() : await startRaw()
  const loopDelay = monitorEventLoopDelay({ resolution: 5 })
  let cpuStart = process.cpuUsage()
  let wallStart = 0

  const produce = (writes: number, bytesPerWrite: number, rate: number) => {
    const period = 1000 / rate
    const late = new Float64Array(writes)
    let seq = 0
    let hash = 0
    let total = 0
    cpuStart = process.cpuUsage()
    wallStart = nowMs()
    loopDelay.reset()
    loopDelay.enable()
    const start = nowMs()
    const tick = () => {
      const now = nowMs()
      // A steady schedule: a late timer catches up with a burst, so the rate holds on average.
      while (seq < writes && start + seq * period <= now) {
        late[seq] = now - (start + seq * period)
        const bytes = makePayload(seq, bytesPerWrite)
        hash = updateHash(hash, bytes)
        total += bytes.length
        target.write(bytes)
        seq++
      }
      if (seq < writes) {
        setTimeout(tick, Math.max(0, start + seq * period - nowMs()))
        return
      }
      target.end()
      late.sort()
      send({
        type: "produced",
        total,
        hash,
        lateMs: { p99: percentile(late, 0.99), max: late[late.length - 1] }
      })
    }
    tick()
  }

  process.on("message", (message: ToServer) => {
    switch (message.type) {
      case "measure":
        memory().then((memory) => send({ type: "memory", memory }))
        break
      case "produce":
        produce(message.writes, message.bytesPerWrite, message.rate)
        break
      case "stop": {
        const cpu = process.cpuUsage(cpuStart)
        loopDelay.disable()
        send({
          type: "stopped",
          cpuMs: (cpu.user + cpu.system) / 1000,
          wallMs: nowMs() - wallStart,
          maxRss: process.resourceUsage().maxRSS * 1024,
          loopDelayMs: {
            p50: loopDelay.percentile(50) / 1e6,
            p99: loopDelay.percentile(99) / 1e6,
            max: loopDelay.max / 1e6
          }
        })
        break
      }
      case "exit":
        process.exit(0)
    }
  })
  send({ type: "ready", port: target.port, epoch: target.epoch })
}

main().catch((error) => {
  send({ type: "error", message: String(error?.stack ?? error) })
  process.exit(1)
})
