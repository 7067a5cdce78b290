/**
 * @scrollback/redis over HTTP across server instances: two instance processes
 * (test/util/httpInstance.ts: `NodeReplayHttp.serve` over a `RedisRegistry`)
 * on one redis-server started here, and one in-memory instance (core's
 * registry) as the single-machine baseline. The producer writes through
 * instance A (its commands come over the child's stdin); the clients (raw
 * SSE over `node:http`) are in this process, so one clock times both ends.
 * Prints JSON lines; every figure has its baseline from the same run.
 *
 * - Latency from `write` on A to delivery on an SSE follower on B, beside the
 *   same write's delivery to a follower on A (paired: the same writes), and
 *   beside a follower of the in-memory instance (its own writes, interleaved
 *   rounds). One write in flight at a time: latency, not queueing.
 * - Resume after a drop: an SSE reader dropped at the middle of a 256 KiB
 *   buffer reconnects with `Last-Event-ID`; time to the first data byte on B
 *   (cold: B does not hold the buffer yet and loads it from Redis; warm: it
 *   does), beside the same resume on A, and on the in-memory instance.
 *
 *   pnpm --filter @scrollback/redis bench:http   (BENCH_QUICK=1 for a short run)
 */
import { report } from "@scrollback/bench-kit"
import { Effect, Exit, Scope } from "effect"
import { Redis } from "ioredis"
import * as Http from "node:http"
import * as os from "node:os"
import * as Cluster from "../test/util/cluster.js"
import * as RedisServer from "../test/util/redisServer.js"

const QUICK = process.env.BENCH_QUICK === "1"
const PREFIX = "/scrollback"
const WRITE_BYTES = 1024
const LATENCY_ROUNDS = QUICK ? 4 : 10
const WRITES_PER_ROUND = QUICK ? 25 : 50
const RESUME_KEYS = QUICK ? 8 : 30
const RESUME_BYTES = 256 * 1024

const now = () => performance.now()

const percentile = (samples: ReadonlyArray<number>, p: number): number => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

const round3 = (x: number) => Math.round(x * 1000) / 1000

const summary = (name: string, samples: ReadonlyArray<number>) => ({
  name,
  samples: samples.length,
  p50Ms: round3(percentile(samples, 50)),
  p99Ms: round3(percentile(samples, 99)),
  meanMs: round3(samples.reduce((a, b) => a + b, 0) / samples.length)
})

/**
 * A live SSE follower: the end offset of the last data event it read, and a
 * wait for an offset. One connection, kept open.
 */
const follower = (url: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly reached: (offset: number) => Promise<number>; readonly close: () => void }>((resume) => {
      let offset = 0
      let pending = ""
      const waiters: Array<{ readonly offset: number; readonly done: (at: number) => void }> = []
      const request = Http.get(url, { agent: false }, (response) => {
        response.setEncoding("latin1")
        response.on("data", (chunk: string) => {
          const at = now()
          pending += chunk
          let end: number
          while ((end = pending.indexOf("\n\n")) !== -1) {
            const event = pending.slice(0, end)
            pending = pending.slice(end + 2)
            if (event.includes("\nevent: ") || event.startsWith("event: ")) continue
            const id = /^id: [^:\n]+:(\d+)$/m.exec(event)
            if (id !== null) offset = Number(id[1])
          }
          for (let i = waiters.length - 1; i >= 0; i--) {
            if (offset >= waiters[i].offset) {
              waiters[i].done(at)
              waiters.splice(i, 1)
            }
          }
        })
        resume(Effect.succeed({
          reached: (target) =>
            new Promise<number>((done) => {
              if (offset >= target) return done(now())
              waiters.push({ offset: target, done })
            }),
          close: () => request.destroy()
        }))
      })
      request.on("error", (error) => resume(Effect.die(error)))
    }),
    ({ close }) => Effect.sync(close)
  )

/** A resume with `Last-Event-ID`: milliseconds until the first byte of the first data event. */
const resumeTtfb = (url: string, lastEventId: string) =>
  Effect.async<number>((resume) => {
    const started = now()
    let text = ""
    let done = false
    const request = Http.get(url, { agent: false, headers: { "last-event-id": lastEventId } }, (response) => {
      if (response.statusCode !== 200) {
        resume(Effect.dieMessage(`resume ${url}: status ${response.statusCode}`))
        return
      }
      response.setEncoding("latin1")
      response.on("data", (chunk: string) => {
        if (done) return
        text += chunk
        // The first data event's line has begun: an id line followed by "data: ", with no event line.
        if (/(^|\n)\nid: [^\n]+\ndata: ./.test(text)) {
          done = true
          const took = now() - started
          request.destroy()
          resume(Effect.succeed(took))
        }
      })
    })
    request.on("error", (error) => {
      if (!done) resume(Effect.die(error))
    })
  })

const main = Effect.gen(function*() {
  const redis = yield* RedisServer.make()
  const [a, b, memory] = yield* Effect.all([
    Cluster.spawnInstance({ redisUrl: redis.url, name: "A" }),
    Cluster.spawnInstance({ redisUrl: redis.url, name: "B" }),
    Cluster.spawnInstance({ engine: "memory", name: "in-memory" })
  ], { concurrency: 3 })

  // --- latency: write on A → delivery on B, on A, and on the in-memory instance ------------------
  yield* a.command({ op: "create", key: "latency", capacity: 8 << 20 })
  yield* memory.command({ op: "create", key: "latency", capacity: 8 << 20 })
  const onA = yield* follower(a.url(`${PREFIX}/latency/sse`))
  const onB = yield* follower(b.url(`${PREFIX}/latency/sse`))
  const onMemory = yield* follower(memory.url(`${PREFIX}/latency/sse`))
  const toB: Array<number> = []
  const toA: Array<number> = []
  const inMemory: Array<number> = []
  const acks: Array<number> = []
  const oneWrite = (
    instance: Cluster.Instance,
    followers: ReadonlyArray<{ reached: (o: number) => Promise<number> }>
  ) =>
    Effect.gen(function*() {
      const started = now()
      const reply = yield* instance.command({ op: "write", key: "latency", size: WRITE_BYTES })
      if (instance === a) acks.push(now() - started)
      const at = yield* Effect.promise(() => Promise.all(followers.map((f) => f.reached(reply.total!))))
      return at.map((t) => t - started)
    })
  // Warm-up: scripts loaded, JIT, connections.
  for (let i = 0; i < 20; i++) {
    yield* oneWrite(a, [onA, onB])
    yield* oneWrite(memory, [onMemory])
  }
  acks.length = 0
  for (let round = 0; round < LATENCY_ROUNDS; round++) {
    for (let i = 0; i < WRITES_PER_ROUND; i++) {
      const [ta, tb] = yield* oneWrite(a, [onA, onB])
      toA.push(ta)
      toB.push(tb)
    }
    for (let i = 0; i < WRITES_PER_ROUND; i++) inMemory.push((yield* oneWrite(memory, [onMemory]))[0])
  }
  // Context: one Redis round trip from this process (a PING), in the same run.
  const client = yield* Effect.acquireRelease(
    Effect.sync(() => new Redis(redis.url)),
    (client) => Effect.promise(() => client.quit())
  )
  const pings: Array<number> = []
  for (let i = 0; i < LATENCY_ROUNDS * WRITES_PER_ROUND; i++) {
    const started = now()
    yield* Effect.promise(() => client.ping())
    pings.push(now() - started)
  }
  const latencyB = summary("write on A (Redis) → SSE follower on B", toB)
  const latencyA = summary("the same writes → SSE follower on A", toA)
  const latencyMemory = summary("write → SSE follower, one in-memory instance", inMemory)
  report({
    bench:
      `latency of a ${WRITE_BYTES} B write to an SSE follower, one write in flight (includes the command's stdin hop)`,
    subject: latencyB,
    baselines: [latencyA, latencyMemory],
    writeAcknowledgedOnA: summary("the write command answered by A (the bytes are in Redis)", acks),
    redisRoundTrip: summary("PING from the benchmark's process (context)", pings),
    loadAverage: os.loadavg().map(round3),
    p50RatioToA: round3(latencyB.p50Ms / latencyA.p50Ms),
    p99RatioToA: round3(latencyB.p99Ms / latencyA.p99Ms),
    p50RatioToMemory: round3(latencyB.p50Ms / latencyMemory.p50Ms),
    p99RatioToMemory: round3(latencyB.p99Ms / latencyMemory.p99Ms)
  })

  // --- resume after a drop: time to the first data byte --------------------------------------------
  const ttfb = {
    bCold: [] as Array<number>,
    bWarm: [] as Array<number>,
    a: [] as Array<number>,
    memory: [] as Array<number>
  }
  for (let k = 0; k < RESUME_KEYS + 2; k++) {
    const key = `resume-${k}`
    for (const instance of [a, memory]) {
      yield* instance.command({ op: "create", key, capacity: 1 << 20 })
      yield* instance.command({ op: "produce", key, writes: RESUME_BYTES / 4096, size: 4096 })
    }
    // The reader read up to the middle on A (its last event id), then dropped.
    const info = (instance: Cluster.Instance) =>
      Effect.promise(() =>
        fetch(instance.url(`${PREFIX}/${key}/info`)).then((r) => r.json() as Promise<{ epoch: string }>)
      )
    const middle = RESUME_BYTES / 2
    const idOnA = `${(yield* info(a)).epoch}:${middle}`
    const idOnMemory = `${(yield* info(memory)).epoch}:${middle}`
    const sse = (instance: Cluster.Instance) => instance.url(`${PREFIX}/${key}/sse`)
    // B has never opened this key: the first resume there loads it from Redis (cold), the second does not.
    const cold = yield* resumeTtfb(sse(b), idOnA)
    const warm = yield* resumeTtfb(sse(b), idOnA)
    const onAResume = yield* resumeTtfb(sse(a), idOnA)
    const onMemoryResume = yield* resumeTtfb(sse(memory), idOnMemory)
    if (k < 2) continue // warm-up
    ttfb.bCold.push(cold)
    ttfb.bWarm.push(warm)
    ttfb.a.push(onAResume)
    ttfb.memory.push(onMemoryResume)
  }
  const cold = summary("resume on B, which did not hold the buffer (loads it from Redis)", ttfb.bCold)
  const warm = summary("resume on B, which holds the buffer (catches up with Redis first)", ttfb.bWarm)
  const sameA = summary("resume on A (the producer's instance)", ttfb.a)
  const mem = summary("resume on one in-memory instance", ttfb.memory)
  report({
    bench:
      `resume after a drop at the middle of a ${RESUME_BYTES} B buffer: time to the first data byte (new connection)`,
    subjects: [cold, warm],
    baselines: [sameA, mem],
    coldP50RatioToA: round3(cold.p50Ms / sameA.p50Ms),
    warmP50RatioToA: round3(warm.p50Ms / sameA.p50Ms),
    warmP99RatioToA: round3(warm.p99Ms / sameA.p99Ms),
    p50RatioAToMemory: round3(sameA.p50Ms / mem.p50Ms)
  })
})

const scope = Effect.runSync(Scope.make())
Effect.runPromise(main.pipe(Scope.extend(scope), Effect.ensuring(Scope.close(scope, Exit.void)))).catch((e) => {
  console.error(e)
  process.exit(1)
})
