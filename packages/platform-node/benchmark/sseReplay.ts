/**
 * Server CPU to replay a full 1 MiB buffer to a new SSE connection, against
 * a raw `node:http` handler that base64-encodes and writes the same 1 MiB.
 *
 *   node --expose-gc --import tsx benchmark/sseReplay.ts                 # from packages/platform
 *   BENCH_QUICK=1 node --expose-gc --import tsx benchmark/sseReplay.ts
 *   node --expose-gc --import tsx benchmark/sseReplay.ts --rounds 20 --requests 40
 *
 * One server child (`server.ts replay`) holds both: scrollback (`ReplayHttp`)
 * with a 1 MiB buffer that is full (1.25 MiB written in 4 KiB writes) and
 * ended, and on another port a raw handler that holds the same retained
 * 1 MiB and, for every request, writes the same hello, the same bytes
 * base64-encoded in the same 48 KiB events, and the same end. Each request
 * is a new connection (`GET …/sse?offset=OLDEST`, no keep-alive) read to
 * its end and checked (offsets, length, CRC-32). The child's CPU (user +
 * system, `process.cpuUsage()`) is read before and after a batch of
 * `--requests` sequential requests to one side; batches alternate sides
 * over `--rounds` rounds, and each side's figure is the median per request.
 * Target: scrollback ≤ 1.5× the raw handler. About 15 s at the defaults.
 */
import { report } from "@scrollback/bench-kit"
import { scrollbackSse, Tracker } from "./clients.js"
import type { LogInfo } from "./shared.js"
import { Gate, KEY, median, nowMs, round, runMain, ServerChild, Settings, withTimeout } from "./shared.js"

const settings = new Settings(process.argv.slice(2))
const ROUNDS = settings.int("rounds", settings.quick ? 3 : 10, 1, 1000)
const REQUESTS = settings.int("requests", settings.quick ? 5 : 20, 1, 10_000)
const WARMUP_REQUESTS = settings.quick ? 10 : 50
const TARGET = 1.5

interface Side {
  readonly name: string
  readonly port: number
  readonly cpuUs: Array<number>
  readonly wallMs: Array<number>
}

/** One replay on a new connection, read to its end and checked. */
const replayOnce = async (side: Side, epoch: string, log: LogInfo): Promise<void> => {
  const end = new Gate(1)
  const connection = await scrollbackSse.connect({
    port: side.port,
    epoch,
    key: KEY,
    offset: log.oldest,
    agent: false,
    tracker: new Tracker({ onEnd: () => end.tick() }),
    onError: (error) => end.fail(error)
  })
  await withTimeout(end.done, 30_000, `${side.name}: the replay's end`)
  const { tracker } = connection
  if (tracker.start !== log.oldest) throw new Error(`${side.name}: the replay started at ${tracker.start}`)
  tracker.verify(log.total, log.hash)
}

runMain("sse replay", 300_000, async () => {
  const child = ServerChild.start({ kind: "replay", followers: 16 })
  try {
    const ready = await child.expect("ready", 30_000)
    if (ready.replay === undefined) throw new Error("the replay child did not say where its raw handler is")
    const { log, rawPort } = ready.replay
    const scrollback: Side = { name: "scrollback", port: ready.port, cpuUs: [], wallMs: [] }
    const raw: Side = { name: "raw node:http handler (base64 + write)", port: rawPort, cpuUs: [], wallMs: [] }
    const batch = async (side: Side, requests: number) => {
      const cpu = (await child.ask({ type: "cpu" }, "cpu")).cpuUs
      const start = nowMs()
      for (let i = 0; i < requests; i++) await replayOnce(side, ready.epoch, log)
      const wall = nowMs() - start
      side.cpuUs.push(((await child.ask({ type: "cpu" }, "cpu")).cpuUs - cpu) / requests)
      side.wallMs.push(wall / requests)
    }
    // Warm both paths (JIT), then forget the warm-up figures.
    for (const side of [scrollback, raw]) {
      await batch(side, WARMUP_REQUESTS)
      side.cpuUs.length = side.wallMs.length = 0
    }
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate the order so neither side always runs on a warmer or a more GC-laden heap.
      for (const side of i % 2 === 0 ? [scrollback, raw] : [raw, scrollback]) await batch(side, REQUESTS)
    }
    const line = (side: Side) => ({
      name: side.name,
      serverCpuUsPerReplay: round(median(side.cpuUs), 1),
      clientWallMsPerReplay: round(median(side.wallMs)),
      samples: side.cpuUs.map((us) => Math.round(us))
    })
    const subject = median(scrollback.cpuUs)
    const baseline = median(raw.cpuUs)
    report({
      bench: "sse-replay-1mib-cpu",
      subject: line(scrollback),
      baseline: line(raw),
      replayedBytes: log.total - log.oldest,
      cpuRatio: round(subject / baseline),
      target: `subject serverCpuUsPerReplay ≤ ${TARGET}× baseline`,
      meetsTarget: subject <= TARGET * baseline,
      rounds: ROUNDS,
      requestsPerRound: REQUESTS,
      note: "each replay is a new connection, read to its end and checked byte for byte; CPU is the server child's"
    })
  } finally {
    await child.close()
  }
})
