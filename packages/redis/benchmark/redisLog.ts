/**
 * @scrollback/redis benchmarks, against a redis-server started here (Debian's
 * 7.0.15 from scripts/setup.sh). Prints JSON lines.
 *
 * - write throughput through the group-committed appender (many writes in
 *   flight at once), beside raw `XADD` pipelined by ioredis on the same server,
 *   and two append calls in flight beside one (the pipelining's own gain);
 * - Redis memory (`MEMORY USAGE`) of a full buffer written in 64 B and 4 KiB
 *   writes, beside the naive layout (one stream entry per write).
 *
 *   pnpm --filter @scrollback/redis bench
 */
import { compare, report } from "@scrollback/bench-kit"
import { Effect, Scope } from "effect"
import { Exit } from "effect"
import type { Redis } from "ioredis"
import { RedisLog, RedisStore } from "../src/index.js"
import * as RedisServer from "../test/util/redisServer.js"

const IN_FLIGHT = 1024
const CAPACITY = 1 << 20

const main = Effect.gen(function*() {
  const server = yield* RedisServer.make()
  const store = yield* RedisStore.make({ url: server.url })
  const oneAtATime = yield* RedisStore.make({ url: server.url, maxAppendsInFlight: 1 })
  const client: Redis = store.client
  let keyIndex = 0

  for (const size of [4096, 64]) {
    const chunk = new Uint8Array(size).map((_, i) => i & 0xff)
    const buffer = Buffer.from(chunk)
    const log = yield* RedisLog.create(store, `w${size}`, { capacity: 8 << 20 })
    const single = yield* RedisLog.create(oneAtATime, `s${size}`, { capacity: 8 << 20 })
    const rawKey = `raw:${size}`
    let rawTotal = 0
    // Warm up every path (script load, JIT, connection buffers) so calibration measures the steady state.
    yield* Effect.forEach(Array.from({ length: 2000 }), () => log.write(chunk), { concurrency: 256, discard: true })
    yield* Effect.forEach(Array.from({ length: 2000 }), () => single.write(chunk), { concurrency: 256, discard: true })
    yield* Effect.promise(() =>
      Promise.all(
        Array.from({ length: 2000 }, () => client.xadd(`${rawKey}:warm`, "MAXLEN", "~", "2048", "*", "d", buffer))
      )
    )
    // IN_FLIGHT lanes, each writing until n writes are done: the same shape as the raw baseline.
    const lanes = (target: RedisLog.RedisLog) => (n: number) => {
      let next = 0
      const lane = Effect.whileLoop({
        while: () => next < n,
        body: () => {
          next++
          return target.write(chunk)
        },
        step: () => {}
      })
      return Effect.runPromise(
        Effect.all(Array.from({ length: IN_FLIGHT }, () => lane), { concurrency: "unbounded", discard: true })
          .pipe(Effect.orDie)
      )
    }
    yield* Effect.promise(() =>
      compare({
        bench: `write ${size} B chunks, ${IN_FLIGHT} writes in flight: two append calls in flight vs one`,
        subject: { name: "RedisLog.write, maxAppendsInFlight 2 (the default)", run: lanes(log) },
        baseline: { name: "RedisLog.write, maxAppendsInFlight 1", run: lanes(single) },
        bytesPerOp: size,
        rounds: 5,
        roundMs: 1500
      })
    )
    yield* Effect.promise(() =>
      compare({
        bench: `write ${size} B chunks, ${IN_FLIGHT} writes in flight`,
        subject: { name: "RedisLog.write (group commit, two script calls in flight)", run: lanes(log) },
        baseline: {
          name: "raw XADD <end>-0 d <chunk>, auto-pipelined by ioredis",
          run: async (n) => {
            let next = 0
            const lane = async () => {
              while (next < n) {
                next++
                rawTotal += size
                await client.xadd(rawKey, "MAXLEN", "~", "2048", `${rawTotal}-0`, "d", buffer)
              }
            }
            await Promise.all(Array.from({ length: IN_FLIGHT }, lane))
          }
        },
        bytesPerOp: size,
        minSpeedRatio: 0.5,
        // Rounds long enough that the in-flight window is filled for most of each round.
        rounds: 5,
        roundMs: 1500
      })
    )
  }

  // Memory: a 1 MiB buffer written three times over, one write at a time (nothing to coalesce in a batch).
  for (const size of [64, 4096]) {
    const key = `mem${size}-${keyIndex++}`
    const log = yield* RedisLog.create(store, key, { capacity: CAPACITY })
    const chunk = new Uint8Array(size).fill(97)
    const writes = Math.ceil((3 * CAPACITY) / size)
    for (let i = 0; i < writes; i++) yield* log.write(chunk)
    const keys = { log: `sb:{${key}}:log`, tail: `sb:{${key}}:tail`, meta: `sb:{${key}}:meta` }
    const usage = (k: string) =>
      Effect.promise(async () => Number((await client.call("MEMORY", "USAGE", k, "SAMPLES", "0")) ?? 0))
    const stream = yield* usage(keys.log)
    const tail = yield* usage(keys.tail)
    const meta = yield* usage(keys.meta)
    // The naive layout: one entry per write, trimmed to the capacity with XTRIM MINID.
    const naiveKey = `naive:${size}`
    const payload = Buffer.from(chunk)
    yield* Effect.promise(async () => {
      let total = 0
      for (let i = 0; i < writes; i += 512) {
        const pipeline = client.pipeline()
        for (let j = i; j < Math.min(writes, i + 512); j++) {
          total += size
          pipeline.xadd(naiveKey, `${total}-0`, "d", payload)
          pipeline.xtrim(naiveKey, "MINID", `${Math.max(0, total - CAPACITY) + 1}-0`)
        }
        await pipeline.exec()
      }
    })
    const naive = yield* usage(naiveKey)
    report({
      bench: `Redis memory of a full ${CAPACITY} B buffer written in ${size} B writes`,
      entryBytes: log.entryBytes,
      streamBytes: stream,
      tailBytes: tail,
      metaBytes: meta,
      ratioToCapacity: Math.round(((stream + tail + meta) / CAPACITY) * 1000) / 1000,
      naiveOneEntryPerWrite: { streamBytes: naive, ratioToCapacity: Math.round((naive / CAPACITY) * 1000) / 1000 },
      target: "ratioToCapacity <= 1.2",
      meetsTarget: (stream + tail + meta) / CAPACITY <= 1.2
    })
    yield* log.end(Exit.void)
  }
})

const scope = Effect.runSync(Scope.make())
Effect.runPromise(main.pipe(Scope.extend(scope), Effect.ensuring(Scope.close(scope, Exit.void)))).catch((e) => {
  console.error(e)
  process.exit(1)
})
