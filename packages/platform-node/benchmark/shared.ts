/**
 * What the HTTP benchmarks (`sse.ts`, `ws.ts`, `idle.ts`, `sseReplay.ts`)
 * and their server child (`server.ts`) share: the payload format (a
 * timestamp prefix the client reads back for latency), the clock, the
 * running hash, the IPC messages, the settings (flags and `BENCH_*`
 * environment variables), the server child handle and small helpers.
 */
import { type ChildProcess, fork } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Zlib from "node:zlib"

// -----------------------------------------------------------------------------
// the servers
// -----------------------------------------------------------------------------

/**
 * What a server child runs:
 * - `scrollback`: `ReplayHttp` (SSE and WebSocket) over a `ReplayRegistry`;
 * - `raw-sse`: a hand-written `node:http` SSE fan-out with scrollback's wire format;
 * - `raw-ws`: a hand-written `ws` fan-out with scrollback's WebSocket wire format;
 * - `durable-streams`: `@durable-streams/server`'s `DurableStreamTestServer` (in memory);
 * - `replay`: scrollback and a raw `node:http` handler side by side, each serving a full 1 MiB log.
 */
export type ServerKind = "scrollback" | "raw-sse" | "raw-ws" | "durable-streams" | "replay"

export const SERVER_KINDS: ReadonlyArray<ServerKind> = ["scrollback", "raw-sse", "raw-ws", "durable-streams", "replay"]

export interface ServerConfig {
  readonly kind: ServerKind
  /** The most followers of one key the run connects (scrollback's connection limits are raised to admit them). */
  readonly followers: number
}

/** The key the followers read: a `ReplayRegistry` key, a raw server's path segment, a Durable Streams path segment. */
export const KEY = "bench"

/** A key whose ended log is replayed to a few throwaway clients to warm the server's code paths (JIT) before measuring. */
export const WARMUP_KEY = "warmup"

/** The warm-up log: 64 writes of 1 KiB. */
export const WARMUP_WRITES = 64

/** Where the Durable Streams server keeps the streams: `/streams/{key}`. */
export const DURABLE_STREAMS_PREFIX = "/streams"

/**
 * Every write starts with this many ASCII bytes: the write time in
 * milliseconds ({@link nowMs}, 3 decimals), right-aligned in spaces, then `|`.
 */
export const PREFIX_BYTES = 24

/**
 * Milliseconds on `CLOCK_MONOTONIC` (`process.hrtime`), which is one clock for
 * every process of the machine, so a time written by the server child and
 * read by the client process needs no skew correction.
 */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6

/**
 * Write number `seq` of `size` bytes, stamped now: the timestamp prefix, then
 * bytes that cycle through all 256 values (NUL, CR, LF, invalid UTF-8, …) so
 * every transport is checked byte for byte.
 */
export const makePayload = (seq: number, size: number): Uint8Array => {
  const out = new Uint8Array(size)
  const stamp = nowMs().toFixed(3).padStart(PREFIX_BYTES - 1, " ") + "|"
  for (let i = 0; i < PREFIX_BYTES; i++) out[i] = stamp.charCodeAt(i)
  for (let i = PREFIX_BYTES; i < size; i++) out[i] = (seq * 31 + i * 7) & 0xff
  return out
}

/** Reads the timestamp of a prefix (`PREFIX_BYTES` bytes from `at`), without making a string. */
export const readStamp = (bytes: Uint8Array, at: number): number => {
  let i = at
  const end = at + PREFIX_BYTES - 1
  while (i < end && bytes[i] === 32) i++
  let whole = 0
  let digits = 0
  for (; i < end && bytes[i] >= 48 && bytes[i] <= 57; i++, digits++) whole = whole * 10 + bytes[i] - 48
  let fraction = 0
  let scale = 1
  if (bytes[i] === 46) {
    for (i++; i < end && bytes[i] >= 48 && bytes[i] <= 57; i++) {
      fraction = fraction * 10 + bytes[i] - 48
      scale *= 10
    }
  }
  if (digits === 0 || i !== end || bytes[end] !== 124) {
    throw new Error(
      `malformed timestamp prefix ${JSON.stringify(Buffer.from(bytes.subarray(at, end + 1)).toString("latin1"))}`
    )
  }
  return whole + fraction / scale
}

/** The running hash of the log (CRC-32, native): `hash(a ++ b) = update(update(0, a), b)`. */
export const updateHash = (hash: number, bytes: Uint8Array): number => Zlib.crc32(bytes, hash)

// -----------------------------------------------------------------------------
// IPC
// -----------------------------------------------------------------------------

export interface Memory {
  readonly rss: number
  readonly heapUsed: number
}

/** A log as the server wrote it: where it starts, its length and the CRC-32 of its retained bytes. */
export interface LogInfo {
  readonly oldest: number
  readonly total: number
  readonly hash: number
}

/** Parent → child. */
export type ToServer =
  | { readonly type: "measure" }
  /** Write `writes` stamped writes at once (before any follower connects), answered by `prefilled`. */
  | { readonly type: "prefill"; readonly writes: number; readonly bytesPerWrite: number }
  | { readonly type: "produce"; readonly writes: number; readonly bytesPerWrite: number; readonly rate: number }
  | { readonly type: "stop" }
  /** The child's CPU (user + system) so far, answered by `cpu`. */
  | { readonly type: "cpu" }
  /** Exit normally (so `--cpu-prof` writes its profile). */
  | { readonly type: "exit" }

/** Child → parent. */
export type FromServer =
  | {
    readonly type: "ready"
    readonly port: number
    readonly epoch: string
    /** `replay` only: the raw handler's port and the log both serve. */
    readonly replay?: { readonly rawPort: number; readonly log: LogInfo }
  }
  | { readonly type: "memory"; readonly memory: Memory }
  | { readonly type: "prefilled"; readonly log: LogInfo }
  | {
    readonly type: "produced"
    readonly total: number
    readonly hash: number
    /** How late the producer's timer fired against the steady schedule (ms): p99 and max. */
    readonly lateMs: { readonly p99: number; readonly max: number }
  }
  | {
    readonly type: "stopped"
    /** CPU (user + system) from the start of production to `stop`. */
    readonly cpuMs: number
    readonly wallMs: number
    readonly maxRss: number
    /** The server's event-loop delay over the same window (ms). */
    readonly loopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number }
  }
  | { readonly type: "cpu"; readonly cpuUs: number }
  | { readonly type: "error"; readonly message: string }

// -----------------------------------------------------------------------------
// settings: `--name value` flags, then `BENCH_NAME` environment variables
// -----------------------------------------------------------------------------

/** `BENCH_QUICK=1` (or `--quick 1`): small counts and short windows, to check that everything runs. */
export class Settings {
  private readonly flags = new Map<string, string>()
  readonly quick: boolean

  constructor(argv: ReadonlyArray<string>) {
    for (let i = 0; i < argv.length; i += 2) {
      if (!argv[i].startsWith("--") || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`)
      this.flags.set(argv[i].slice(2), argv[i + 1])
    }
    this.quick = this.raw("quick") === "1"
  }

  /** `--name` or `BENCH_NAME` (dashes become underscores). */
  raw(name: string): string | undefined {
    return this.flags.get(name) ?? process.env[`BENCH_${name.toUpperCase().replaceAll("-", "_")}`]
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.raw(name)
    const value = raw === undefined ? fallback : Number(raw)
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new Error(`--${name} must be an integer in [${min}, ${max}], got ${raw}`)
    }
    return value
  }

  /** A comma-separated list whose items are all in `allowed`. */
  list<A extends string>(name: string, fallback: ReadonlyArray<A>, allowed: ReadonlyArray<A>): ReadonlyArray<A> {
    const raw = this.raw(name)
    if (raw === undefined) return fallback
    const items = raw.split(",") as Array<A>
    if (items.length === 0 || items.some((item) => !allowed.includes(item))) {
      throw new Error(`--${name} takes a comma-separated list of ${allowed.join(", ")}, got ${raw}`)
    }
    return items
  }
}

/** Each connection holds a socket in this process and one in the server child: check the soft fd limit. */
export const checkFdLimit = (connections: number): number | undefined => {
  let text: string
  try {
    text = Fs.readFileSync("/proc/self/limits", "utf8")
  } catch {
    return undefined // not Linux: let connect errors speak
  }
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(text)
  if (match === null || match[1] === "unlimited") return undefined
  const limit = Number(match[1])
  if (limit < connections + 200) {
    throw new Error(
      `the open-file limit (ulimit -n) is ${limit}: ${connections} connections need at least ` +
        `${connections + 200}; raise it (ulimit -n ${connections * 2 + 1024}) or lower the follower count`
    )
  }
  return limit
}

// -----------------------------------------------------------------------------
// small helpers
// -----------------------------------------------------------------------------

/** Resolves when `count` reaches `target`; rejects on the first failure. */
export class Gate {
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

export const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits

/** `a / b` rounded, or `null` when `b` is not positive or `a` negative (e.g. an RSS growth lost in the noise). */
export const ratio = (a: number, b: number): number | null => b > 0 && a >= 0 ? round(a / b) : null

export const percentile = (sorted: ArrayLike<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export interface Latency {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

/** Percentiles of samples (sorted in place). */
export const latencyOf = (samples: Float64Array): Latency => {
  const sorted = samples.sort()
  return {
    p50: round(percentile(sorted, 0.5)),
    p90: round(percentile(sorted, 0.9)),
    p99: round(percentile(sorted, 0.99)),
    p999: round(percentile(sorted, 0.999)),
    max: round(sorted.length === 0 ? 0 : sorted[sorted.length - 1])
  }
}

/** Opens `count` connections, at most `concurrency` at a time (a refused SYN would cost a 1 s retransmit). */
export const connectAll = async <A>(
  count: number,
  concurrency: number,
  open: (index: number) => Promise<A>,
  into: Array<A>
): Promise<void> => {
  let next = 0
  const worker = async () => {
    while (next < count) into.push(await open(next++))
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
}

/** Followers (or requests) connecting at once. */
export const CONNECT_CONCURRENCY = 50

// -----------------------------------------------------------------------------
// the server child
// -----------------------------------------------------------------------------

const here = Path.dirname(fileURLToPath(import.meta.url))
const children = new Set<ChildProcess>()

const killChildren = () => {
  for (const child of children) child.kill("SIGKILL")
  children.clear()
}
process.on("exit", killChildren)

type Reply<T extends FromServer["type"]> = Extract<FromServer, { type: T }>

/** A server child (`server.ts`) and its IPC: `send` a message, `expect` the next reply of a type. */
export class ServerChild {
  private readonly inbox: Array<FromServer> = []
  private waiter: { readonly type: FromServer["type"]; readonly resolve: (message: FromServer) => void } | undefined
  private failure: Error | undefined
  private onFailure: ((error: Error) => void) | undefined

  private constructor(readonly kind: ServerKind, readonly process: ChildProcess) {
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

  /** Forks `server.ts` under `--expose-gc` (and `--cpu-prof` into `cpuProf` when given). */
  static start(config: ServerConfig, cpuProf?: string): ServerChild {
    const execArgv = ["--expose-gc", "--import", "tsx"]
    if (cpuProf !== undefined) execArgv.push("--cpu-prof", `--cpu-prof-dir=${cpuProf}`)
    const child = fork(Path.join(here, "server.ts"), [JSON.stringify(config)], {
      execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    children.add(child)
    return new ServerChild(config.kind, child)
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
  expect<T extends FromServer["type"]>(type: T, timeoutMs: number): Promise<Reply<T>> {
    return new Promise((resolve, reject) => {
      const index = this.inbox.findIndex((message) => message.type === type)
      if (index !== -1) return resolve(this.inbox.splice(index, 1)[0] as Reply<T>)
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
          resolve(message as Reply<T>)
        }
      }
    })
  }

  /** Sends `message` and waits for the reply of `type`. */
  ask<T extends FromServer["type"]>(message: ToServer, type: T, timeoutMs = 30_000): Promise<Reply<T>> {
    this.send(message)
    return this.expect(type, timeoutMs)
  }

  /** The child's memory after full collections. */
  async memory(): Promise<Memory> {
    return (await this.ask({ type: "measure" }, "memory")).memory
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

/** Runs `main` with a hard stop after `timeoutMs`; exits 0 when it resolves, 1 (killing the children) when not. */
export const runMain = (name: string, timeoutMs: number, main: () => Promise<void>): void => {
  const guard = setTimeout(() => {
    process.stderr.write(`${name} benchmark: over ${timeoutMs} ms, giving up\n`)
    killChildren()
    process.exit(1)
  }, timeoutMs)
  guard.unref()
  main().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`${name} benchmark failed: ${error?.stack ?? error}\n`)
      killChildren()
      process.exit(1)
    }
  )
}

export const memoryLine = (memory: Memory) => ({ rss: memory.rss, heapUsed: memory.heapUsed })
