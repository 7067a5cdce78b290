/**
 * The server child of the HTTP benchmarks (forked through `ServerChild` in
 * `shared.ts`):
 *
 *   node --expose-gc --import tsx benchmark/server.ts '{"kind":"raw-sse","followers":1000}'
 *
 * - `scrollback`: `ReplayHttp` through `startScrollback` (`scrollbackServer.ts`),
 *   one `ReplayRegistry` buffer written by the producer; SSE and WebSocket.
 * - `raw-sse`: the SSE baseline, a minimal `node:http` fan-out: a `Set` of
 *   responses; each write is base64-encoded once into one event and
 *   `res.write`n to every client. Scrollback's wire format (retry, hello,
 *   data events with `id: EPOCH:NEXT`, end); a new client gets the events
 *   written so far (the log is empty when the fan-out followers connect),
 *   no keep-alive pings, no limits, no backpressure handling.
 * - `raw-ws`: the WebSocket baseline, the same with the `ws` package: each
 *   write is framed once (8-byte big-endian offset, then the bytes) and
 *   `ws.send` to every client; a text hello and end, close 1000.
 * - `durable-streams`: `DurableStreamTestServer` of `@durable-streams/server`
 *   (in-memory store, default options), streams created with `PUT` as
 *   `application/octet-stream`; the producer appends through the server's own
 *   store (`server.store.append`, what its `POST` handler calls, without the
 *   HTTP request around it, as the other servers are written in process) and
 *   ends the log with `server.store.closeStream` (what `POST` with
 *   `Stream-Closed: true` calls).
 * - `replay`: a full 1 MiB scrollback buffer (ended) and, on another port, a
 *   raw `node:http` handler that base64-encodes and writes the same 1 MiB, in
 *   the same events, to every request.
 *
 * Every kind runs the same producer (a steady schedule of stamped writes)
 * and reports over IPC its memory (after full collections), the CPU it spent
 * from the start of production to `stop`, its event-loop delay, and the
 * hash of the log.
 */
import type { ReplayBuffer } from "@scrollback/core"
import { Effect } from "effect"
import * as Http from "node:http"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { WebSocketServer } from "ws"
import type { WebSocket } from "ws"
import { startScrollback } from "./scrollbackServer.js"
import type { FromServer, LogInfo, Memory, ServerConfig, ToServer } from "./shared.js"
import {
  DURABLE_STREAMS_PREFIX,
  KEY,
  makePayload,
  nowMs,
  percentile,
  SERVER_KINDS,
  updateHash,
  WARMUP_KEY,
  WARMUP_WRITES
} from "./shared.js"

const config = JSON.parse(process.argv[2] ?? "{}") as ServerConfig
if (!SERVER_KINDS.includes(config.kind) || !Number.isSafeInteger(config.followers) || config.followers < 1) {
  throw new Error(`usage: server.ts '{"kind":"${SERVER_KINDS.join("|")}","followers":N}', got ${process.argv[2]}`)
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

/** What differs between the servers: how a write reaches the followers, and how the log ends. */
interface Target {
  readonly port: number
  readonly epoch: string
  readonly write: (bytes: Uint8Array) => void
  readonly end: () => void
  readonly replay?: { readonly rawPort: number; readonly log: LogInfo }
}

const warmupWrites = (): Array<Uint8Array> => Array.from({ length: WARMUP_WRITES }, (_, i) => makePayload(i, 1024))

const listen = async (server: Http.Server): Promise<number> => {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("expected a TCP address")
  return address.port
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

// -----------------------------------------------------------------------------
// scrollback
// -----------------------------------------------------------------------------

const writeSync = (buffer: ReplayBuffer.ReplayBuffer) => (bytes: Uint8Array) => Effect.runSync(buffer.write(bytes))

const startScrollbackTarget = async (): Promise<Target> => {
  // Holds the whole log: a lagging follower never gets a gap.
  const server = await startScrollback({ followers: config.followers, defaultCapacity: 64 * 1024 * 1024 })
  const warmup = await Effect.runPromise(server.registry.create(WARMUP_KEY))
  await Effect.runPromise(Effect.zipRight(warmup.writeAll(warmupWrites()), warmup.end))
  const buffer = await Effect.runPromise(server.registry.create(KEY))
  return {
    port: server.port,
    epoch: buffer.epoch,
    write: writeSync(buffer),
    end: () => {
      Effect.runSync(buffer.end)
    }
  }
}

// -----------------------------------------------------------------------------
// the raw servers: scrollback's wire formats, written by hand
// -----------------------------------------------------------------------------

const RAW_EPOCH = "0123456789abcdef"

/** One SSE event in scrollback's format. */
const sseEvent = (epoch: string, id: number, data: string, type?: string): Buffer =>
  Buffer.from(`${type === undefined ? "" : `event: ${type}\n`}id: ${epoch}:${id}\ndata: ${data}\n\n`, "latin1")

const sseHead = (res: Http.ServerResponse, epoch: string, offset: number, total: number) => {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" })
  res.write(`retry: 1000\n`)
  res.write(sseEvent(epoch, offset, JSON.stringify({ epoch, offset, oldest: offset, total }), "hello"))
}

const sseEnd = (epoch: string, at: number) => sseEvent(epoch, at, JSON.stringify({ status: "ended" }), "end")

/** A WebSocket binary message in scrollback's format: the 8-byte big-endian offset of the first byte, then the bytes. */
const wsFrame = (offset: number, bytes: Uint8Array): Buffer => {
  const frame = Buffer.allocUnsafe(8 + bytes.length)
  frame.writeUInt32BE(Math.floor(offset / 0x1_0000_0000), 0)
  frame.writeUInt32BE(offset >>> 0, 4)
  frame.set(bytes, 8)
  return frame
}

const wsHello = (offset: number, total: number) =>
  JSON.stringify({ type: "hello", epoch: RAW_EPOCH, offset, oldest: 0, total })

const WS_END = JSON.stringify({ type: "end", status: "ended" })

/**
 * The state both raw fan-outs share: the frames written so far (a new client
 * gets them all, then follows), the clients, and the log's length. `frame`
 * turns a write ending at `next` into what is sent.
 */
const rawFanOut = <Client, Frame>(options: {
  readonly frame: (next: number, bytes: Uint8Array) => Frame
  readonly send: (client: Client, frame: Frame) => void
  readonly end: (client: Client, total: number) => void
}) => {
  const clients = new Set<Client>()
  const frames: Array<Frame> = []
  const state = {
    total: 0,
    /** Sends the log so far to a new client and adds it to the fan-out. */
    join: (client: Client) => {
      for (const frame of frames) options.send(client, frame)
      clients.add(client)
    },
    leave: (client: Client) => clients.delete(client),
    write: (bytes: Uint8Array) => {
      state.total += bytes.length
      const frame = options.frame(state.total, bytes)
      frames.push(frame)
      for (const client of clients) options.send(client, frame)
    },
    end: () => {
      for (const client of clients) options.end(client, state.total)
    }
  }
  return state
}

const startRawSse = async (): Promise<Target> => {
  const fanOut = rawFanOut<Http.ServerResponse, Buffer>({
    frame: (next, bytes) => sseEvent(RAW_EPOCH, next, asBuffer(bytes).toString("base64")),
    send: (res, frame) => res.write(frame),
    end: (res, total) => res.end(sseEnd(RAW_EPOCH, total))
  })
  const server = Http.createServer((req, res) => {
    if (req.url === `/scrollback/${WARMUP_KEY}/sse`) {
      sseHead(res, RAW_EPOCH, 0, WARMUP_WRITES * 1024)
      let next = 0
      for (const bytes of warmupWrites()) {
        next += bytes.length
        res.write(sseEvent(RAW_EPOCH, next, asBuffer(bytes).toString("base64")))
      }
      res.end(sseEnd(RAW_EPOCH, next))
      return
    }
    if (req.url !== `/scrollback/${KEY}/sse`) {
      res.writeHead(404).end()
      return
    }
    sseHead(res, RAW_EPOCH, 0, fanOut.total)
    fanOut.join(res)
    res.on("close", () => fanOut.leave(res))
  })
  return { port: await listen(server), epoch: RAW_EPOCH, write: fanOut.write, end: fanOut.end }
}

const startRawWs = async (): Promise<Target> => {
  const fanOut = rawFanOut<WebSocket, Buffer>({
    frame: (next, bytes) => wsFrame(next - bytes.length, bytes),
    send: (ws, frame) => ws.send(frame),
    end: (ws) => {
      ws.send(WS_END)
      ws.close(1000)
    }
  })
  const server = Http.createServer((_, res) => res.writeHead(404).end())
  const wss = new WebSocketServer({ server })
  wss.on("connection", (ws, req) => {
    if (req.url === `/scrollback/${WARMUP_KEY}/ws`) {
      ws.send(wsHello(0, WARMUP_WRITES * 1024))
      let offset = 0
      for (const bytes of warmupWrites()) {
        ws.send(wsFrame(offset, bytes))
        offset += bytes.length
      }
      ws.send(WS_END)
      ws.close(1000)
      return
    }
    if (req.url !== `/scrollback/${KEY}/ws`) {
      ws.close(4404)
      return
    }
    ws.send(wsHello(0, fanOut.total))
    fanOut.join(ws)
    ws.on("close", () => fanOut.leave(ws))
  })
  return { port: await listen(server), epoch: RAW_EPOCH, write: fanOut.write, end: fanOut.end }
}

// -----------------------------------------------------------------------------
// Durable Streams
// -----------------------------------------------------------------------------

const startDurableStreams = async (): Promise<Target> => {
  // Loaded here only, so the other children do not carry its modules.
  const { DurableStreamTestServer } = await import("@durable-streams/server")
  const server = new DurableStreamTestServer({ port: 0, host: "127.0.0.1" })
  await server.start()
  const store = server.store
  for (const key of [WARMUP_KEY, KEY]) {
    const response = await fetch(`${server.url}${DURABLE_STREAMS_PREFIX}/${key}`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" }
    })
    if (response.status !== 201) throw new Error(`PUT ${key} answered ${response.status}`)
  }
  const path = (key: string) => `${DURABLE_STREAMS_PREFIX}/${key}`
  for (const bytes of warmupWrites()) store.append(path(WARMUP_KEY), bytes)
  store.closeStream(path(WARMUP_KEY))
  return {
    port: Number(new URL(server.url).port),
    epoch: "",
    write: (bytes) => {
      store.append(path(KEY), bytes)
    },
    end: () => {
      store.closeStream(path(KEY))
    }
  }
}

// -----------------------------------------------------------------------------
// replay: scrollback and a raw handler serving the same full 1 MiB
// -----------------------------------------------------------------------------

/** The replayed buffer's capacity, full. */
const REPLAY_BYTES = 1 << 20
/** The bytes of one SSE data event, as scrollback's SSE encoder cuts them (48 KiB). */
const REPLAY_EVENT_BYTES = 48 * 1024

const startReplay = async (): Promise<Target> => {
  const server = await startScrollback({ followers: config.followers, defaultCapacity: REPLAY_BYTES })
  // 1.25 MiB in 4 KiB writes into a 1 MiB buffer: it is full and its window has moved on.
  const writes = Array.from({ length: 320 }, (_, i) => makePayload(i, 4096))
  const buffer = await Effect.runPromise(server.registry.create(KEY))
  await Effect.runPromise(Effect.zipRight(buffer.writeAll(writes), buffer.end))
  const log = Buffer.concat(writes)
  const oldest = log.length - REPLAY_BYTES
  const retained = log.subarray(oldest)
  const epoch = buffer.epoch
  const raw = Http.createServer((req, res) => {
    if (req.url?.startsWith(`/scrollback/${KEY}/sse`) !== true) {
      res.writeHead(404).end()
      return
    }
    sseHead(res, epoch, oldest, log.length)
    for (let at = 0; at < retained.length; at += REPLAY_EVENT_BYTES) {
      const bytes = retained.subarray(at, at + REPLAY_EVENT_BYTES)
      res.write(`id: ${epoch}:${oldest + at + bytes.length}\ndata: ${bytes.toString("base64")}\n\n`)
    }
    res.end(sseEnd(epoch, log.length))
  })
  return {
    port: server.port,
    epoch,
    write: () => {
      throw new Error("the replay server takes no writes")
    },
    end: () => {},
    replay: { rawPort: await listen(raw), log: { oldest, total: log.length, hash: updateHash(0, retained) } }
  }
}

// -----------------------------------------------------------------------------
// the producer and the IPC loop
// -----------------------------------------------------------------------------

const start = (): Promise<Target> => {
  switch (config.kind) {
    case "scrollback":
      return startScrollbackTarget()
    case "raw-sse":
      return startRawSse()
    case "raw-ws":
      return startRawWs()
    case "durable-streams":
      return startDurableStreams()
    case "replay":
      return startReplay()
  }
}

const main = async () => {
  const target = await start()
  const loopDelay = monitorEventLoopDelay({ resolution: 5 })
  let cpuStart = process.cpuUsage()
  let wallStart = 0
  let seq = 0
  let hash = 0
  let total = 0

  const write = (bytesPerWrite: number) => {
    const bytes = makePayload(seq++, bytesPerWrite)
    hash = updateHash(hash, bytes)
    total += bytes.length
    target.write(bytes)
  }

  const produce = (writes: number, bytesPerWrite: number, rate: number) => {
    const period = 1000 / rate
    const late = new Float64Array(writes)
    let done = 0
    cpuStart = process.cpuUsage()
    wallStart = nowMs()
    loopDelay.reset()
    loopDelay.enable()
    const start = nowMs()
    const tick = () => {
      const now = nowMs()
      // A steady schedule: a late timer catches up with a burst, so the rate holds on average.
      while (done < writes && start + done * period <= now) {
        late[done] = now - (start + done * period)
        write(bytesPerWrite)
        done++
      }
      if (done < writes) {
        setTimeout(tick, Math.max(0, start + done * period - nowMs()))
        return
      }
      target.end()
      late.sort()
      send({ type: "produced", total, hash, lateMs: { p99: percentile(late, 0.99), max: late[late.length - 1] } })
    }
    tick()
  }

  process.on("message", (message: ToServer) => {
    switch (message.type) {
      case "measure":
        memory().then((memory) => send({ type: "memory", memory }))
        break
      case "prefill":
        for (let i = 0; i < message.writes; i++) write(message.bytesPerWrite)
        send({ type: "prefilled", log: { oldest: 0, total, hash } })
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
      case "cpu": {
        const cpu = process.cpuUsage()
        send({ type: "cpu", cpuUs: cpu.user + cpu.system })
        break
      }
      case "exit":
        process.exit(0)
    }
  })
  send({
    type: "ready",
    port: target.port,
    epoch: target.epoch,
    ...(target.replay === undefined ? {} : { replay: target.replay })
  })
}

main().catch((error) => {
  send({ type: "error", message: String(error?.stack ?? error) })
  process.exit(1)
})
