/**
 * SSE fan-out on loopback: many `node:http` SSE followers of one buffer
 * written at a steady rate. Every follower must receive every byte (a
 * length, offset-continuity and CRC-32 check against the server's log, or
 * the run throws); the output is the delivery latency percentiles over every
 * (write, follower) pair and the server's CPU and memory per follower.
 *
 *   node --expose-gc --import tsx benchmark/sse.ts                 # from packages/platform
 *   node --expose-gc --import tsx benchmark/sse.ts --followers 200 --rate 100 --seconds 5
 *   node --expose-gc --import tsx benchmark/sse.ts --servers scrollback,raw
 *   node --expose-gc --import tsx benchmark/sse.ts --servers scrollback --cpu-prof /tmp/prof
 *
 * Defaults: 1,000 followers, 20 writes/s of 1 KiB for 10 s (200 writes,
 * 200 KiB of log, 200 MiB delivered in all: 20,000 deliveries/s). The rate
 * is chosen so that on the 2-core machine the baseline server and the
 * clients stay well below saturation (about 35 % and 40 % of a core); at
 * 200 writes/s the client process alone needs more than a core and the
 * baseline's latency is then the clients'.
 *
 * Each server runs in its own child process (`sseServer.ts`), ours first,
 * then the baseline: a minimal hand-written `node:http` fan-out (a `Set` of
 * responses, each write base64-encoded once and `res.write`n to every
 * client), with the same producer, rate and clients. The child reports its CPU
 * (`process.cpuUsage()` from the first write until every follower has the
 * end event; above 100 % means GC helper threads) and its memory after full
 * collections, before the followers connect (after a warm-up, so compiled
 * code is not counted) and with all of them connected and idle. The producer
 * lives in the child and stamps each write with `CLOCK_MONOTONIC` (one clock
 * for every process of the machine), which the clients read back; how late
 * its timer fired (a starved event loop) is reported too.
 *
 * A server that cannot keep up does not lose bytes: its followers lag and
 * each read carries several writes, so `eventsPerFollower` falls below
 * `writes`; `serverCpuUsPerEvent` is then the fairer cost figure.
 *
 * Clients and server share the machine's cores (2 here): the clients are
 * kept lean (byte-level SSE parsing, native base64 and CRC-32, the timestamp
 * read from the first bytes), and the client process's own CPU is reported
 * so a saturated client shows. Prints one JSON line per server, then a
 * comparison line (subject / baseline) per other server when the baseline ran.
 */
import { report } from "@scrollback/bench-kit"
import { type ChildProcess, fork } from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import type { FromServer, Memory, ServerKind, ToServer } from "./sseShared.js"
import { KEY, nowMs, PREFIX_BYTES, readStamp, SERVER_KINDS, serverLabel, updateHash, WARMUP_KEY } from "./sseShared.js"

// -----------------------------------------------------------------------------
// options and bounds
// -----------------------------------------------------------------------------

interface Options {
  readonly followers: number
  readonly rate: number
  readonly seconds: number
  readonly bytesPerWrite: number
  readonly servers: ReadonlyArray<ServerKind>
  readonly cpuProf: string | undefined
}

const parseOptions = (argv: ReadonlyArray<string>): Options => {
  const values = new Map<string, string>()
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`)
    values.set(argv[i].slice(2), argv[i + 1])
  }
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = values.get(name)
    const value = raw === undefined ? fallback : Number(raw)
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new Error(`--${name} must be an integer in [${min}, ${max}], got ${raw}`)
    }
    return value
  }
  const servers = (values.get("servers") ?? "scrollback,raw").split(",") as Array<ServerKind>
  if (servers.length === 0 || servers.some((kind) => !SERVER_KINDS.includes(kind))) {
    throw new Error(`--servers takes a comma-separated list of ${SERVER_KINDS.join(", ")}`)
  }
  return {
    followers: int("followers", 1000, 1, 10_000),
    rate: int("rate", 20, 1, 10_000),
    seconds: int("seconds", 10, 1, 30),
    bytesPerWrite: int("bytes", 1024, PREFIX_BYTES, 48 * 1024),
    servers,
    cpuProf: values.get("cpu-prof")
  }
}

const options = parseOptions(process.argv.slice(2))
const WRITES = options.rate * options.seconds
/** One latency sample per (write, follower): bounded so the samples fit in memory (8 bytes each). */
const MAX_SAMPLES = 50_000_000
if (WRITES * options.followers > MAX_SAMPLES) {
  throw new Error(`rate × seconds × followers must be at most ${MAX_SAMPLES}, got ${WRITES * options.followers}`)
}

/** Followers connecting at once (the listen backlog is finite; a refused SYN would cost a 1 s retransmit). */
const CONNECT_CONCURRENCY = 50
const WARMUP_CLIENTS = 20
const CHILD_READY_TIMEOUT_MS = 30_000
const CONNECT_TIMEOUT_MS = 30_000
const DRAIN_TIMEOUT_MS = 30_000
/** The whole run, both servers: a hard stop well under two minutes. */
const RUN_TIMEOUT_MS = 115_000

const here = Path.dirname(fileURLToPath(import.meta.url))

/** Each follower holds a socket here and the server child holds the other end: check the soft fd limit. */
const checkFdLimit = (): number | undefined => {
  let text: string
  try {
    text = Fs.readFileSync("/proc/self/limits", "utf8")
  } catch {
    return undefined // not Linux: let connect errors speak
  }
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(text)
  if (match === null || match[1] === "unlimited") return undefined
  const limit = Number(match[1])
  if (limit < options.followers + 200) {
    throw new Error(
      `the open-file limit (ulimit -n) is ${limit}: ${options.followers} followers need at least ` +
        `${options.followers + 200}; raise it (ulimit -n ${options.followers * 2 + 1024}) or lower --followers`
    )
  }
  return limit
}

// -----------------------------------------------------------------------------
// the server child
// -----------------------------------------------------------------------------

const children = new Set<ChildProcess>()

const killChildren = () => {
  for (const child of children) child.kill("SIGKILL")
  children.clear()
}
process.on("exit", killChildren)

class ServerChild {
  private readonly inbox: Array<FromServer> = []
  private waiter: { readonly type: FromServer["type"]; readonly resolve: (message: FromServer) => void } | undefined
  private failure: Error | undefined
  private onFailure: ((error: Error) => void) | undefined

  constructor(readonly kind: ServerKind, readonly process: ChildProcess) {
    process.on("message", (message: FromServer) => {
      if (message.type === "error") return this.fail(new Error(`server child (${kind}) failed: ${message.message}`))
      if (this.waiter !== undefined && this.waiter.type === message.type) {
        const waiter = this.waiter
        this.waiter = undefined
        waiter.resolve(message)
      } else this.inbox.push(message)
    })
    process.on("exit", (code, signal) => {
      children.delete(process)
      this.fail(new Error(`server child (${kind}) exited (code ${code}, signal ${signal})`))
    })
  }

  static start(kind: ServerKind): ServerChild {
    const execArgv = ["--expose-gc", "--import", "tsx"]
    if (options.cpuProf !== undefined) execArgv.push("--cpu-prof", `--cpu-prof-dir=${options.cpuProf}`)
    const child = fork(Path.join(here, "sseServer.ts"), [kind, String(options.followers)], {
      execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    children.add(child)
    return new ServerChild(kind, child)
  }

  private fail(error: Error) {
    if (this.failure !== undefined) return
    this.failure = error
    this.onFailure?.(error)
  }

  send(message: ToServer): void {
    this.process.send(message)
  }

  /** The next message of `type` (earlier ones of other types are kept), or a rejection on failure or timeout. */
  expect<T extends FromServer["type"]>(type: T, timeoutMs: number): Promise<Extract<FromServer, { type: T }>> {
    return new Promise((resolve, reject) => {
      const index = this.inbox.findIndex((message) => message.type === type)
      if (index !== -1) return resolve(this.inbox.splice(index, 1)[0] as Extract<FromServer, { type: T }>)
      if (this.failure !== undefined) return reject(this.failure)
      const timer = setTimeout(() => reject(new Error(`timed out waiting for "${type}" from ${this.kind}`)), timeoutMs)
      this.onFailure = (error) => {
        clearTimeout(timer)
        reject(error)
      }
      this.waiter = {
        type,
        resolve: (message) => {
          clearTimeout(timer)
          this.onFailure = undefined
          resolve(message as Extract<FromServer, { type: T }>)
        }
      }
    })
  }

  /** Asks the child to exit normally (writing its CPU profile if asked), then kills it if it lingers. */
  async close(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return
    this.failure ??= new Error("closed")
    const exited = new Promise<void>((resolve) => this.process.once("exit", () => resolve()))
    this.send({ type: "exit" })
    const timer = setTimeout(() => this.process.kill("SIGKILL"), 5_000)
    await exited
    clearTimeout(timer)
  }
}

// -----------------------------------------------------------------------------
// the followers: lean, byte-level SSE parsing
// -----------------------------------------------------------------------------

/** Resolves when `count` reaches `target`; rejects on the first failure. */
class Gate {
  count = 0
  private resolve!: () => void
  private reject!: (error: Error) => void
  readonly done: Promise<void>
  constructor(readonly target: number) {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.done.catch(() => {}) // awaited later; a failure before that is not "unhandled"
    if (target === 0) this.resolve()
  }
  tick() {
    if (++this.count === this.target) this.resolve()
  }
  fail(error: Error) {
    this.reject(error)
  }
}

const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

/** Latency samples (ms) of every (write, follower) pair, filled by the followers of the current run. */
class Samples {
  readonly values: Float64Array
  count = 0
  constructor(capacity: number) {
    this.values = new Float64Array(capacity)
  }
  add(value: number) {
    if (this.count === this.values.length) throw new Error("more deliveries than writes × followers")
    this.values[this.count++] = value
  }
}

/** One decode buffer for every follower: each event is decoded, hashed and read before the next is parsed. */
let scratch = Buffer.alloc(256 * 1024)

const DATA = Buffer.from("data: ")
const ID = Buffer.from("id: ")
const EVENT = Buffer.from("event: ")
const RETRY = Buffer.from("retry: ")

const hasPrefix = (buffer: Buffer, at: number, prefix: Buffer): boolean => {
  for (let i = 0; i < prefix.length; i++) if (buffer[at + i] !== prefix[i]) return false
  return true
}

/** A decimal integer from bytes, or -1 when malformed. */
const parseDecimal = (buffer: Buffer, start: number, end: number): number => {
  if (start === end) return -1
  let value = 0
  for (let i = start; i < end; i++) {
    const digit = buffer[i] - 48
    if (digit < 0 || digit > 9) return -1
    value = value * 10 + digit
  }
  return value
}

class Follower {
  /** The next offset this follower expects; -1 before the hello. */
  cursor = -1
  hash = 0
  events = 0
  ended = false
  endTotal = -1
  private pending: Buffer | undefined
  private readonly prefix = Buffer.alloc(PREFIX_BYTES)
  private stamp = 0

  constructor(
    readonly epoch: string | undefined,
    readonly bytesPerWrite: number,
    readonly samples: Samples | undefined,
    readonly onHello: () => void,
    readonly onEnd: () => void
  ) {}

  feed(chunk: Buffer, now: number): void {
    const data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk])
    this.pending = undefined
    let pos = 0
    while (true) {
      const end = data.indexOf("\n\n", pos, "latin1")
      if (end === -1) break
      this.block(data, pos, end, now)
      pos = end + 2
    }
    if (pos < data.length) this.pending = data.subarray(pos)
  }

  /** One event block: the lines in `[start, end)`. */
  private block(data: Buffer, start: number, end: number, now: number): void {
    let type: string | undefined = undefined
    let idStart = -1
    let idEnd = -1
    let dataStart = -1
    let dataEnd = -1
    let line = start
    while (line < end) {
      let lineEnd = data.indexOf(10, line)
      if (lineEnd === -1 || lineEnd > end) lineEnd = end
      const first = data[line]
      if (first === 58) {
        // a comment (": ping")
      } else if (first === 100 && hasPrefix(data, line, DATA)) {
        if (dataStart !== -1) throw new Error("unexpected multi-line data")
        dataStart = line + DATA.length
        dataEnd = lineEnd
      } else if (first === 105 && hasPrefix(data, line, ID)) {
        idStart = line + ID.length
        idEnd = lineEnd
      } else if (first === 101 && hasPrefix(data, line, EVENT)) {
        type = data.toString("latin1", line + EVENT.length, lineEnd)
      } else if (!(first === 114 && hasPrefix(data, line, RETRY))) {
        throw new Error(`unexpected SSE line ${JSON.stringify(data.toString("latin1", line, lineEnd))}`)
      }
      line = lineEnd + 1
    }
    if (dataStart === -1) return // a comment-only block
    if (idStart === -1) throw new Error("an event without an id")
    const colon = data.indexOf(58, idStart)
    if (colon === -1 || colon >= idEnd) throw new Error("an id without EPOCH:OFFSET")
    const id = parseDecimal(data, colon + 1, idEnd)
    if (id < 0) throw new Error(`a malformed id ${data.toString("latin1", idStart, idEnd)}`)
    if (this.epoch !== undefined && data.toString("latin1", idStart, colon) !== this.epoch) {
      throw new Error(`an id from another epoch: ${data.toString("latin1", idStart, idEnd)}`)
    }

    if (type === undefined) return this.bytes(data, dataStart, dataEnd, id, now)
    const json = JSON.parse(data.toString("utf8", dataStart, dataEnd))
    if (type === "hello") {
      if (this.cursor !== -1) throw new Error("a second hello")
      if (this.epoch !== undefined && json.epoch !== this.epoch) throw new Error(`hello epoch ${json.epoch}`)
      if (json.offset !== id) throw new Error(`hello offset ${json.offset} and id ${id} differ`)
      this.cursor = json.offset
      this.onHello()
    } else if (type === "end") {
      if (json.status !== "ended") throw new Error(`end status ${json.status}`)
      if (id !== this.cursor) throw new Error(`end at ${id} after ${this.cursor} bytes`)
      this.ended = true
      this.endTotal = id
      this.onEnd()
    } else {
      // A gap cannot happen (the buffer holds the whole log): it would mean lost bytes.
      throw new Error(`unexpected ${type} event ${JSON.stringify(json)}`)
    }
  }

  /** A data event: decode, check it continues the log, hash, and time every write it completes. */
  private bytes(data: Buffer, start: number, end: number, next: number, now: number): void {
    if (this.cursor < 0) throw new Error("bytes before the hello")
    const maxDecoded = Math.ceil((end - start) * 3 / 4)
    if (maxDecoded > scratch.length) scratch = Buffer.alloc(maxDecoded * 2)
    const length = scratch.write(data.toString("latin1", start, end), 0, "base64")
    const offset = this.cursor
    if (next - length !== offset) throw new Error(`an event at ${next - length} does not continue ${offset}`)
    this.hash = updateHash(this.hash, scratch.subarray(0, length))
    this.events++
    // Walk the writes this event touches: read each one's stamp, time each one it completes.
    const size = this.bytesPerWrite
    let pos = offset
    while (pos < next) {
      const base = pos - (pos % size)
      const within = pos - base
      if (within < PREFIX_BYTES) {
        const take = Math.min(PREFIX_BYTES - within, next - pos)
        scratch.copy(this.prefix, within, pos - offset, pos - offset + take)
        pos += take
        if (within + take === PREFIX_BYTES) this.stamp = readStamp(this.prefix, 0)
        continue
      }
      const writeEnd = base + size
      if (writeEnd <= next) {
        this.samples?.add(now - this.stamp)
        pos = writeEnd
      } else {
        pos = next
      }
    }
    this.cursor = next
  }
}

interface Connection {
  readonly follower: Follower
  readonly request: Http.ClientRequest
}

/** Opens an SSE request; resolves with the connection once the hello is in. */
const connect = (
  port: number,
  key: string,
  agent: Http.Agent | false,
  makeFollower: (onHello: () => void) => Follower,
  onError: (error: Error) => void
): Promise<Connection> =>
  new Promise((resolve, reject) => {
    let follower: Follower | undefined = undefined
    let settled = false
    const fail = (error: Error) => {
      if (!settled) {
        settled = true
        reject(error)
      } else onError(error)
    }
    const request = Http.get(
      { host: "127.0.0.1", port, path: `/scrollback/${key}/sse`, agent, headers: { accept: "text/event-stream" } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume()
          return fail(new Error(`SSE answered ${res.statusCode}`))
        }
        const f = makeFollower(() => {
          settled = true
          resolve({ follower: f, request })
        })
        follower = f
        res.on("data", (chunk: Buffer) => {
          try {
            f.feed(chunk, nowMs())
          } catch (error) {
            request.destroy()
            fail(error as Error)
          }
        })
        res.on("close", () => {
          if (!f.ended) fail(new Error(`an SSE response closed before its end event, at ${f.cursor}`))
        })
      }
    )
    request.on("error", (error) => fail(follower === undefined ? error : new Error(`follower: ${error.message}`)))
  })

// -----------------------------------------------------------------------------
// one run against one server
// -----------------------------------------------------------------------------

const percentile = (sorted: Float64Array, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits

interface RunResult {
  readonly kind: ServerKind
  readonly server: string
  readonly cpuMs: number
  readonly cpuUsPerEvent: number
  readonly eventsPerFollower: number
  readonly memPerFollower: { readonly rss: number; readonly heap: number }
  readonly latencyMs: {
    readonly p50: number
    readonly p90: number
    readonly p99: number
    readonly p999: number
    readonly max: number
  }
}

const run = async (kind: ServerKind): Promise<RunResult> => {
  const { followers, rate, bytesPerWrite } = options
  const child = ServerChild.start(kind)
  const agent = new Http.Agent({ keepAlive: true, maxSockets: Infinity })
  const connections: Array<Connection> = []
  try {
    const { port, epoch } = await child.expect("ready", CHILD_READY_TIMEOUT_MS)

    // Warm the server's code paths (JIT) so "before" does not count compiled code as per-follower memory.
    for (let round = 0; round < 2; round++) {
      const ends = new Gate(WARMUP_CLIENTS)
      await withTimeout(
        Promise.all(Array.from({ length: WARMUP_CLIENTS }, () =>
          connect(
            port,
            WARMUP_KEY,
            false,
            (onHello) => new Follower(undefined, 1024, undefined, onHello, () => ends.tick()),
            (error) => ends.fail(error)
          ))).then(() => ends.done),
        CONNECT_TIMEOUT_MS,
        "the warm-up clients"
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 200)) // lets the server close the warm-up sockets
    const before = (await (child.send({ type: "measure" }), child.expect("memory", 10_000))).memory

    // Connect every follower and wait for each one's hello.
    const samples = new Samples(followers * WRITES)
    const ends = new Gate(followers)
    const onError = (error: Error) => ends.fail(error)
    const connectStart = nowMs()
    let next = 0
    const worker = async () => {
      while (next < followers) {
        next++
        connections.push(
          await connect(
            port,
            KEY,
            agent,
            (onHello) => new Follower(epoch, bytesPerWrite, samples, onHello, () => ends.tick()),
            onError
          )
        )
      }
    }
    await withTimeout(
      Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, followers) }, worker)),
      CONNECT_TIMEOUT_MS,
      `connecting ${followers} followers`
    )
    const connectMs = nowMs() - connectStart
    const connected = (await (child.send({ type: "measure" }), child.expect("memory", 10_000))).memory

    // Produce, and wait until every follower has the end event.
    const clientCpu = process.cpuUsage()
    const clientStart = nowMs()
    child.send({ type: "produce", writes: WRITES, bytesPerWrite, rate })
    const produced = await child.expect("produced", options.seconds * 1000 + DRAIN_TIMEOUT_MS)
    await withTimeout(ends.done, DRAIN_TIMEOUT_MS, "every follower's end event")
    const clientWallMs = nowMs() - clientStart
    const clientCpuUsage = process.cpuUsage(clientCpu)
    child.send({ type: "stop" })
    const stopped = await child.expect("stopped", 10_000)

    // Every follower received exactly every byte, in order.
    for (const { follower } of connections) {
      if (!follower.ended || follower.cursor !== produced.total || follower.hash !== produced.hash) {
        throw new Error(
          `a follower got ${follower.cursor} bytes (hash ${follower.hash}, ended ${follower.ended}); ` +
            `the log is ${produced.total} bytes (hash ${produced.hash})`
        )
      }
    }
    if (samples.count !== followers * WRITES) {
      throw new Error(`${samples.count} deliveries timed, expected ${followers * WRITES}`)
    }
    const sorted = samples.values.sort()
    const latencyMs = {
      p50: round(percentile(sorted, 0.5)),
      p90: round(percentile(sorted, 0.9)),
      p99: round(percentile(sorted, 0.99)),
      p999: round(percentile(sorted, 0.999)),
      max: round(sorted[sorted.length - 1])
    }
    const seconds = stopped.wallMs / 1000
    const memPerFollower = {
      rss: Math.round((connected.rss - before.rss) / followers),
      heap: Math.round((connected.heapUsed - before.heapUsed) / followers)
    }
    let events = 0
    for (const { follower } of connections) events += follower.events
    const cpuUsPerEvent = stopped.cpuMs * 1000 / events
    report({
      bench: "sse-fanout",
      server: serverLabel(kind),
      followers,
      writes: WRITES,
      bytesPerWrite,
      rate,
      deliveredBytes: produced.total * followers,
      allReceivedEverything: true,
      latencyMs,
      serverCpuMs: round(stopped.cpuMs, 1),
      serverCpuPct: round(stopped.cpuMs / stopped.wallMs * 100, 1),
      serverCpuMsPerFollowerPerSec: round(stopped.cpuMs / followers / seconds),
      serverCpuUsPerEvent: round(cpuUsPerEvent, 2),
      serverMemPerFollowerBytes: memPerFollower,
      serverMemBytes: { before: mem(before), connected: mem(connected), maxRss: stopped.maxRss },
      serverEventLoopDelayMs: {
        p50: round(stopped.loopDelayMs.p50),
        p99: round(stopped.loopDelayMs.p99),
        max: round(stopped.loopDelayMs.max)
      },
      producerLateMs: { p99: round(produced.lateMs.p99), max: round(produced.lateMs.max) },
      eventsPerFollower: Math.round(events / followers),
      windowMs: Math.round(stopped.wallMs),
      connectMs: Math.round(connectMs),
      clientCpuPct: round((clientCpuUsage.user + clientCpuUsage.system) / 1000 / clientWallMs * 100, 1),
      note: "server child and client process share the machine's cores; CPU % is of one core"
    })
    return {
      kind,
      server: serverLabel(kind),
      cpuMs: stopped.cpuMs,
      cpuUsPerEvent,
      eventsPerFollower: events / followers,
      memPerFollower,
      latencyMs
    }
  } finally {
    for (const { request } of connections) request.destroy()
    agent.destroy()
    await child.close()
  }
}

const mem = (memory: Memory) => ({ rss: memory.rss, heapUsed: memory.heapUsed })

const ratio = (a: number, b: number) => b === 0 ? null : round(a / b)

const main = async () => {
  const fdLimit = checkFdLimit()
  const guard = setTimeout(() => {
    process.stderr.write(`sse benchmark: over ${RUN_TIMEOUT_MS} ms, giving up\n`)
    killChildren()
    process.exit(1)
  }, RUN_TIMEOUT_MS)
  guard.unref()
  const results: Array<RunResult> = []
  for (const kind of options.servers) results.push(await run(kind))
  const raw = results.find((result) => result.kind === "raw")
  if (raw === undefined) return
  for (const subject of results) {
    if (subject === raw) continue
    report({
      bench: "sse-fanout-compare",
      subject: subject.server,
      baseline: raw.server,
      followers: options.followers,
      rate: options.rate,
      fdLimit,
      // Both servers deliver the same bytes to the same followers: total CPU compares the cost of the same work.
      cpuRatio: ratio(subject.cpuMs, raw.cpuMs),
      // Per SSE event sent (a lagging server sends fewer, bigger events).
      cpuPerEventRatio: ratio(subject.cpuUsPerEvent, raw.cpuUsPerEvent),
      eventsPerFollower: {
        subject: Math.round(subject.eventsPerFollower),
        baseline: Math.round(raw.eventsPerFollower)
      },
      memPerFollowerRatio: {
        // The baseline's RSS growth (a few KB per follower) is within the RSS noise: no ratio when it is not positive.
        rss: raw.memPerFollower.rss > 0 ? ratio(subject.memPerFollower.rss, raw.memPerFollower.rss) : null,
        heap: ratio(subject.memPerFollower.heap, raw.memPerFollower.heap)
      },
      p50LatencyRatio: ratio(subject.latencyMs.p50, raw.latencyMs.p50),
      p99LatencyRatio: ratio(subject.latencyMs.p99, raw.latencyMs.p99),
      note: "ratios are subject / baseline (lower is better); all servers ran in this invocation, one at a time"
    })
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`sse benchmark failed: ${error?.stack ?? error}\n`)
    killChildren()
    process.exit(1)
  }
)
