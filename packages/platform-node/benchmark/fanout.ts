/**
 * The fan-out measurement shared by `sse.ts` and `ws.ts`: many followers of
 * one log written at a steady rate by a producer inside the server child.
 * Every follower must receive every byte (offset continuity, then length and
 * CRC-32 against the server's log, or the run throws); the output is, per
 * server, the delivery latency percentiles over every (write, follower)
 * pair, the server's CPU per delivered write and its memory per follower,
 * then a comparison line with the ratios against the baseline and the
 * reference and whether the targets are met.
 *
 * Each server runs in its own child process (`server.ts`), one at a time,
 * with the same producer, rate and clients. The child reports its CPU
 * (`process.cpuUsage()` from the first write until every follower has the
 * end; above 100 % means GC helper threads) and its memory after full
 * collections, before the followers connect (after a warm-up, so compiled
 * code is not counted) and with all of them connected and idle. The producer
 * stamps each write with `CLOCK_MONOTONIC` (one clock for every process of
 * the machine), which the clients read back; how late its timer fired (a
 * starved event loop) is reported too.
 *
 * A server that cannot keep up does not lose bytes: its followers lag and
 * each message carries several writes, so `eventsPerFollower` falls below
 * `writes`. `serverCpuUsPerDeliveredWrite` divides by writes × followers
 * either way.
 */
import { report } from "@scrollback/bench-kit"
import * as Http from "node:http"
import type { Connection, Protocol } from "./clients.js"
import { durableStreamsSse, Samples, scrollbackSse, scrollbackWs, Tracker } from "./clients.js"
import type { Latency, ServerKind } from "./shared.js"
import {
  checkFdLimit,
  CONNECT_CONCURRENCY,
  connectAll,
  Gate,
  KEY,
  latencyOf,
  memoryLine,
  nowMs,
  PREFIX_BYTES,
  ratio,
  round,
  runMain,
  ServerChild,
  Settings,
  sleep,
  WARMUP_KEY,
  WARMUP_WRITES,
  withTimeout
} from "./shared.js"

/** A server and the protocol its followers speak. `id` is what `--servers` names. */
export interface Subject {
  readonly id: string
  readonly name: string
  readonly server: ServerKind
  readonly protocol: Protocol
}

/** The servers of one transport: ours, the baseline the targets are multiples of, and a reference to be below. */
export interface Subjects {
  readonly subject: Subject
  readonly baseline: Subject
  readonly reference?: Subject
}

/** SSE: scrollback (`ReplayHttp`), a hand-written `node:http` fan-out, the Durable Streams reference server. */
export const SSE_SUBJECTS: Subjects = {
  subject: { id: "scrollback", name: "scrollback", server: "scrollback", protocol: scrollbackSse },
  baseline: { id: "raw", name: "raw node:http", server: "raw-sse", protocol: scrollbackSse },
  reference: {
    id: "durable-streams",
    name: "@durable-streams/server 0.3.7",
    server: "durable-streams",
    protocol: durableStreamsSse
  }
}

/** WebSocket: scrollback (`ReplayHttp`) and a hand-written `ws` fan-out with the same wire format. */
export const WS_SUBJECTS: Subjects = {
  subject: { id: "scrollback", name: "scrollback", server: "scrollback", protocol: scrollbackWs },
  baseline: { id: "raw", name: "raw ws", server: "raw-ws", protocol: scrollbackWs }
}

/** The subjects in run order, filtered by `--servers` (ids). */
export const chosenSubjects = (settings: Settings, subjects: Subjects): ReadonlyArray<Subject> => {
  const all = [subjects.subject, subjects.baseline, ...(subjects.reference === undefined ? [] : [subjects.reference])]
  const ids = settings.list("servers", all.map((s) => s.id), all.map((s) => s.id))
  return all.filter((s) => ids.includes(s.id))
}

const WARMUP_CLIENTS = 20
const CHILD_READY_TIMEOUT_MS = 30_000
const DRAIN_TIMEOUT_MS = 60_000

/** The ready child's address, as the protocols take it. */
export interface Ready {
  readonly port: number
  /** `undefined`: the server has no epoch (Durable Streams). */
  readonly epoch: string | undefined
}

/**
 * Replays the warm-up log to a few throwaway clients, twice, so the server's
 * code paths are compiled before anything is measured.
 */
const warmUp = async (protocol: Protocol, ready: Ready): Promise<void> => {
  for (let round = 0; round < 2; round++) {
    const ends = new Gate(WARMUP_CLIENTS)
    const connections: Array<Connection> = []
    await withTimeout(
      connectAll(WARMUP_CLIENTS, WARMUP_CLIENTS, () =>
        protocol.connect({
          port: ready.port,
          epoch: undefined,
          key: WARMUP_KEY,
          agent: false,
          tracker: new Tracker({ onEnd: () => ends.tick() }),
          onError: (error) => ends.fail(error)
        }), connections).then(() => ends.done),
      CHILD_READY_TIMEOUT_MS,
      "the warm-up clients"
    )
    for (const { tracker } of connections) {
      if (tracker.cursor - tracker.start !== WARMUP_WRITES * 1024) throw new Error("a warm-up client missed bytes")
    }
  }
  await sleep(200) // lets the server close the warm-up sockets
}

/** A server child, warmed up, and the followers connected to it. */
export interface Session {
  readonly child: ServerChild
  readonly connections: Array<Connection>
  /** Opens `count` followers of `KEY`, each feeding a `Tracker`; resolves (with the ms it took) once each started. */
  readonly open: (options: {
    readonly count: number
    readonly tracker: () => Tracker
    readonly onError: (error: Error) => void
    readonly timeoutMs: number
  }) => Promise<number>
}

/** Starts `subject`'s server child (admitting `followers`), warms it up, runs `body`, then closes everything. */
export const withSession = async <A>(
  subject: Subject,
  followers: number,
  cpuProf: string | undefined,
  body: (session: Session) => Promise<A>
): Promise<A> => {
  const child = ServerChild.start({ kind: subject.server, followers }, cpuProf)
  // A keep-alive agent without a socket limit, for thousands of concurrent streams.
  const agent = new Http.Agent({ keepAlive: true, maxSockets: Infinity })
  const connections: Array<Connection> = []
  try {
    const message = await child.expect("ready", CHILD_READY_TIMEOUT_MS)
    const ready: Ready = { port: message.port, epoch: message.epoch === "" ? undefined : message.epoch }
    await warmUp(subject.protocol, ready)
    return await body({
      child,
      connections,
      open: async (options) => {
        const start = nowMs()
        await withTimeout(
          connectAll(options.count, CONNECT_CONCURRENCY, () =>
            subject.protocol.connect({
              port: ready.port,
              epoch: ready.epoch,
              key: KEY,
              agent,
              tracker: options.tracker(),
              onError: options.onError
            }), connections),
          options.timeoutMs,
          `connecting ${options.count} followers`
        )
        return nowMs() - start
      }
    })
  } finally {
    for (const connection of connections) connection.close()
    agent.destroy()
    await child.close()
  }
}

// -----------------------------------------------------------------------------
// one run: one server, one workload
// -----------------------------------------------------------------------------

export interface Workload {
  readonly followers: number
  readonly rate: number
  readonly seconds: number
  readonly bytesPerWrite: number
}

export interface RunResult {
  readonly name: string
  readonly cpuUsPerDeliveredWrite: number
  readonly eventsPerFollower: number
  readonly memPerFollower: { readonly rss: number; readonly heap: number }
  readonly latencyMs: Latency
}

const run = async (bench: string, subject: Subject, workload: Workload, cpuProf?: string): Promise<RunResult> => {
  const { bytesPerWrite, followers, rate } = workload
  const writes = rate * workload.seconds
  return withSession(subject, followers, cpuProf, async ({ child, connections, open }) => {
    const before = await child.memory()
    const samples = new Samples(followers * writes)
    const ends = new Gate(followers)
    const connectMs = await open({
      count: followers,
      tracker: () => new Tracker({ bytesPerWrite, samples, onEnd: () => ends.tick() }),
      onError: (error) => ends.fail(error),
      timeoutMs: 60_000
    })
    const connected = await child.memory()

    // Produce, and wait until every follower has the end.
    const clientCpu = process.cpuUsage()
    const clientStart = nowMs()
    child.send({ type: "produce", writes, bytesPerWrite, rate })
    const produced = await child.expect("produced", workload.seconds * 1000 + DRAIN_TIMEOUT_MS)
    await withTimeout(ends.done, DRAIN_TIMEOUT_MS, "every follower's end")
    const clientWallMs = nowMs() - clientStart
    const clientCpuUsage = process.cpuUsage(clientCpu)
    const stopped = await child.ask({ type: "stop" }, "stopped")

    // Every follower received exactly every byte, in order.
    for (const { tracker } of connections) tracker.verify(produced.total, produced.hash)
    if (samples.count !== followers * writes) {
      throw new Error(`${samples.count} deliveries timed, expected ${followers * writes}`)
    }
    const latencyMs = latencyOf(samples.values)
    const memPerFollower = {
      rss: Math.round((connected.rss - before.rss) / followers),
      heap: Math.round((connected.heapUsed - before.heapUsed) / followers)
    }
    let events = 0
    for (const { tracker } of connections) events += tracker.events
    const cpuUsPerDeliveredWrite = stopped.cpuMs * 1000 / (writes * followers)
    report({
      bench,
      server: subject.name,
      followers,
      writes,
      bytesPerWrite,
      rate,
      seconds: workload.seconds,
      deliveredBytes: produced.total * followers,
      allReceivedEverything: true,
      latencyMs,
      serverCpuUsPerDeliveredWrite: round(cpuUsPerDeliveredWrite, 2),
      serverCpuUsPerEvent: round(stopped.cpuMs * 1000 / events, 2),
      serverCpuMs: round(stopped.cpuMs, 1),
      serverCpuPct: round(stopped.cpuMs / stopped.wallMs * 100, 1),
      serverMemPerFollowerBytes: memPerFollower,
      serverMemBytes: { before: memoryLine(before), connected: memoryLine(connected), maxRss: stopped.maxRss },
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
      name: subject.name,
      cpuUsPerDeliveredWrite,
      eventsPerFollower: events / followers,
      memPerFollower,
      latencyMs
    }
  })
}

// -----------------------------------------------------------------------------
// the comparison and its targets
// -----------------------------------------------------------------------------

/** The targets: at most these multiples of the baseline, and (when one ran) below the reference. */
export const TARGETS = { cpuPerDeliveredWrite: 1.5, heapPerFollower: 2, p99Latency: 2 } as const

type Metric = keyof typeof TARGETS

const metrics: Record<Metric, (result: RunResult) => number> = {
  cpuPerDeliveredWrite: (result) => result.cpuUsPerDeliveredWrite,
  heapPerFollower: (result) => result.memPerFollower.heap,
  p99Latency: (result) => result.latencyMs.p99
}

const ratios = (a: RunResult, b: RunResult) => ({
  cpuPerDeliveredWrite: ratio(a.cpuUsPerDeliveredWrite, b.cpuUsPerDeliveredWrite),
  heapPerFollower: ratio(a.memPerFollower.heap, b.memPerFollower.heap),
  rssPerFollower: ratio(a.memPerFollower.rss, b.memPerFollower.rss),
  p50Latency: ratio(a.latencyMs.p50, b.latencyMs.p50),
  p99Latency: ratio(a.latencyMs.p99, b.latencyMs.p99),
  p999Latency: ratio(a.latencyMs.p999, b.latencyMs.p999)
})

const compare = (
  bench: string,
  workload: Workload,
  subject: RunResult,
  baseline: RunResult,
  reference: RunResult | undefined
) => {
  // `null`: no verdict (the baseline's figure is not positive, e.g. a heap growth lost in the noise).
  const meets = {} as Record<Metric | "all", boolean | null>
  for (const metric of Object.keys(TARGETS) as Array<Metric>) {
    const vsBaseline = ratio(metrics[metric](subject), metrics[metric](baseline))
    const belowReference = reference === undefined || metrics[metric](subject) < metrics[metric](reference)
    meets[metric] = vsBaseline === null ? null : vsBaseline <= TARGETS[metric] && belowReference
  }
  const verdicts = Object.values(meets)
  meets.all = verdicts.includes(false) ? false : verdicts.includes(null) ? null : true
  const targets = Object.fromEntries(
    (Object.keys(TARGETS) as Array<Metric>).map((metric) => [
      metric,
      `subject ≤ ${TARGETS[metric]}× baseline${reference === undefined ? "" : " and < reference"}`
    ])
  )
  report({
    bench: `${bench}-compare`,
    followers: workload.followers,
    rate: workload.rate,
    seconds: workload.seconds,
    writes: workload.rate * workload.seconds,
    subject: subject.name,
    baseline: baseline.name,
    ...(reference === undefined ? {} : { reference: reference.name }),
    vsBaseline: ratios(subject, baseline),
    ...(reference === undefined ? {} : {
      vsReference: ratios(subject, reference),
      referenceVsBaseline: ratios(reference, baseline)
    }),
    eventsPerFollower: {
      subject: Math.round(subject.eventsPerFollower),
      baseline: Math.round(baseline.eventsPerFollower),
      ...(reference === undefined ? {} : { reference: Math.round(reference.eventsPerFollower) })
    },
    targets,
    meetsTarget: meets,
    note: "ratios are a / b (lower is better); every server ran in this invocation, one at a time, same workload. " +
      "eventsPerFollower below the writes: that server fell behind and sent several writes per event, so its CPU " +
      "per delivered write is lower, and its latency higher, than when it keeps up"
  })
}

// -----------------------------------------------------------------------------
// the entry point of sse.ts and ws.ts
// -----------------------------------------------------------------------------

const parseWorkloads = (text: string): Array<{ followers: number; rate: number }> =>
  text.split(",").map((item) => {
    const match = /^(\d+)x(\d+)$/.exec(item)
    const followers = Number(match?.[1])
    const rate = Number(match?.[2])
    if (match === null || followers < 1 || followers > 10_000 || rate < 1 || rate > 10_000) {
      throw new Error(`--workloads takes FOLLOWERSxRATE items (1..10000 each), got ${item}`)
    }
    return { followers, rate }
  })

/** One latency sample per (write, follower): bounded so the samples fit in memory (8 bytes each). */
const MAX_SAMPLES = 50_000_000

/**
 * Runs every workload against `subject`, `baseline` and (when given)
 * `reference`, in that order, printing a line per run and a comparison line
 * per workload. Settings (flag or `BENCH_*` variable): `--workloads`
 * (`FOLLOWERSxRATE,…`, default `1000x20,200x200`; quick `100x20,50x200`),
 * `--seconds` (10; quick 2), `--bytes` (1024), `--servers` (ids, default
 * all), `--cpu-prof DIR`.
 */
export const fanOutMain = (bench: string, subjects: Subjects): void => {
  const settings = new Settings(process.argv.slice(2))
  const chosen = chosenSubjects(settings, subjects)
  const workloads = parseWorkloads(settings.string("workloads", settings.quick ? "100x20,50x200" : "1000x20,200x200"))
  const seconds = settings.int("seconds", settings.quick ? 2 : 10, 1, 60)
  const bytesPerWrite = settings.int("bytes", 1024, PREFIX_BYTES, 48 * 1024)
  const cpuProf = settings.raw("cpu-prof")
  for (const { followers, rate } of workloads) {
    if (followers * rate * seconds > MAX_SAMPLES) {
      throw new Error(`rate × seconds × followers must be at most ${MAX_SAMPLES}, got ${followers * rate * seconds}`)
    }
  }
  checkFdLimit(Math.max(...workloads.map((w) => w.followers)))
  // A run: the window, the connects, the warm-up, the drain; generously.
  const timeoutMs = workloads.length * chosen.length * (seconds * 1000 + 90_000)
  runMain(bench, timeoutMs, async () => {
    for (const { followers, rate } of workloads) {
      const workload: Workload = { followers, rate, seconds, bytesPerWrite }
      const results = new Map<Subject, RunResult>()
      for (const subject of chosen) results.set(subject, await run(bench, subject, workload, cpuProf))
      const subject = results.get(subjects.subject)
      const baseline = results.get(subjects.baseline)
      if (subject === undefined || baseline === undefined) continue
      compare(bench, workload, subject, baseline, subjects.reference && results.get(subjects.reference))
    }
  })
}
