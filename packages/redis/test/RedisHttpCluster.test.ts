/**
 * Server instances in separate processes over one Redis, over HTTP: each
 * instance (test/util/httpInstance.ts) serves `NodeReplayHttp.serve` over a
 * `RedisRegistry` on 127.0.0.1; the producer writes through instance A's
 * registry (its commands come over the child's stdin); followers are real
 * HTTP clients in this process (`ReplayClient` over SSE and WebSocket, raw
 * sockets, chromium). A real redis-server, real processes, real sockets:
 * every child and redis-server is killed when its test's scope closes.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { assert, describe, it } from "@effect/vitest"
import { ReplayClient } from "@scrollback/platform"
import type * as ReplayClientError from "@scrollback/platform/ReplayClientError"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Option, Schedule, Stream } from "effect"
import * as AlternatingProxy from "./util/alternatingProxy.js"
import * as Browser from "./util/browser.js"
import { concat, pattern } from "./util/bytes.js"
import * as Cluster from "./util/cluster.js"
import * as Raw from "./util/rawClients.js"
import * as RedisServer from "./util/redisServer.js"

/** The client's services: node:http for SSE and `/info`, the `ws` library's WebSocket. */
const Client = Layer.merge(NodeHttpClient.layer, NodeSocket.layerWebSocketConstructor)

const PREFIX = "/scrollback"

/** Reports the first index where two byte arrays differ (or their lengths). */
const assertSameBytes = (actual: Uint8Array, expected: Uint8Array, what: string) => {
  const n = Math.min(actual.length, expected.length)
  let i = 0
  while (i < n && actual[i] === expected[i]) i++
  if (i === n && actual.length === expected.length) return
  assert.fail(`${what}: bytes differ at ${i}: got ${actual.length} bytes, expected ${expected.length}`)
}

const tagOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "Success"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return (failure.value as { readonly _tag: string })._tag
  return Cause.isInterruptedOnly(exit.cause) ? "Interrupted" : Cause.pretty(exit.cause)
}

/**
 * A follower through `ReplayClient` (SSE or WebSocket) from offset 0: collects
 * its bytes; `reached(n)` completes once it has `n` of them (and fails if the
 * stream ended first).
 */
const clientFollower = (
  url: string,
  transport: "sse" | "ws",
  options: { readonly schedule?: Schedule.Schedule<unknown, ReplayClientError.Disconnected> } = {}
) =>
  Effect.gen(function*() {
    const parts: Array<Uint8Array> = []
    let seen = 0
    let finished: string | undefined = undefined
    const waiters = new Set<{ readonly bytes: number; readonly done: Deferred.Deferred<void, Error> }>()
    const wake = () => {
      for (const waiter of waiters) {
        if (seen >= waiter.bytes) Deferred.unsafeDone(waiter.done, Exit.void)
        else if (finished !== undefined) {
          Deferred.unsafeDone(waiter.done, Exit.fail(new Error(`${transport} follower ended at ${seen}: ${finished}`)))
        }
      }
    }
    const clientOptions = { from: 0, ...(options.schedule !== undefined ? { schedule: options.schedule } : {}) }
    const stream = transport === "sse"
      ? ReplayClient.follow(url, clientOptions)
      : ReplayClient.followWs(url, clientOptions)
    const fiber = yield* stream.pipe(
      Stream.runForEach((chunk) =>
        Effect.sync(() => {
          parts.push(chunk)
          seen += chunk.length
          wake()
        })
      ),
      Effect.exit,
      Effect.tap((exit) =>
        Effect.sync(() => {
          finished = tagOf(exit)
          wake()
        })
      ),
      Effect.map((exit) => ({ exit, bytes: concat(parts) })),
      Effect.provide(Client),
      Effect.fork
    )
    const reached = (bytes: number) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<void, Error>()
        const waiter = { bytes, done }
        waiters.add(waiter)
        wake()
        yield* Deferred.await(done).pipe(Effect.ensuring(Effect.sync(() => waiters.delete(waiter))))
      })
    return { reached, fiber, transport }
  })

/** What the test page (httpInstance.ts, `GET /page`) records. */
interface PageState {
  readonly epoch: string | null
  readonly next: number | null
  readonly hellos: number
  readonly errors: number
  readonly end: { readonly status: string } | null
  readonly anomalies: ReadonlyArray<unknown>
  readonly parts: ReadonlyArray<string>
}

declare global {
  interface Window {
    cluster: PageState
  }
}

/** How long a condition in the page may take before the test fails. */
const PAGE_WAIT_MS = 120_000

describe("RedisRegistry over HTTP, instances in separate processes", () => {
  it.scopedLive(
    "a producer on A, 100 followers over A and B (SSE and WebSocket): every follower byte-exact",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const [a, b] = yield* Effect.all([
          Cluster.spawnInstance({ redisUrl: redis.url, name: "A" }),
          Cluster.spawnInstance({ redisUrl: redis.url, name: "B" })
        ], { concurrency: 2 })
        yield* a.command({ op: "create", key: "fan", capacity: 8 << 20 })
        yield* a.command({ op: "write", key: "fan", size: 100 })
        const followers = yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => i), (i) =>
          clientFollower(
            (i % 2 === 0 ? a : b).url(`${PREFIX}/fan`),
            i % 4 < 2 ? "sse" : "ws"
          ))
        // Every follower is connected and has the first write: the rest arrives live.
        yield* Effect.forEach(followers, (f) => f.reached(100), { discard: true })
        yield* a.command({ op: "produce", key: "fan", writes: 200, size: 777 })
        // Larger than one stream entry and one SSE event (64 KiB): split and joined again.
        yield* a.command({ op: "produce", key: "fan", writes: 5, size: 150_000 })
        const { total } = yield* a.command({ op: "end", key: "fan" })
        const expected = pattern(0, total!)
        assert.strictEqual(total, 100 + 200 * 777 + 5 * 150_000)
        for (const [i, f] of followers.entries()) {
          const { bytes, exit } = yield* Fiber.join(f.fiber)
          assert.strictEqual(tagOf(exit), "Success", `follower ${i} (${f.transport}) completed`)
          assertSameBytes(bytes, expected, `follower ${i} (${f.transport} on ${i % 2 === 0 ? "A" : "B"})`)
        }
      }),
    120_000
  )

  it.scopedLive(
    "a ReplayClient (SSE, WebSocket) and a chromium EventSource alternating between A and B across ≥ 200 forced drops each: exactly the written bytes",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const instance = (name: string) =>
          Cluster.spawnInstance({ redisUrl: redis.url, name, page: true, sseRetryMs: 5 })
        const [a, b] = yield* Effect.all([instance("A"), instance("B")], { concurrency: 2 })
        yield* a.command({ op: "create", key: "drops", capacity: 16 << 20 })
        // A load balancer in front of A and B for each client: every new connection goes to the other instance.
        // A streaming connection is cut at a random byte (mid-event, mid-frame, mid-chunk) once it carried more
        // than its headers, hello and one batch (so every connection makes progress), or by `cutAll` after every
        // other batch.
        const streaming = /^GET \/scrollback\/drops\/(sse|ws)[ ?]/
        const balancer = (seed: number) =>
          AlternatingProxy.make({
            targets: [a.port, b.port],
            seed,
            countRequests: streaming,
            // Headers and hello: about 400 bytes on SSE, 210 on WebSocket; a batch: 1,374 and 1,012 bytes at most.
            cutAfter: (_, random, line) =>
              !streaming.test(line)
                ? undefined
                : line.includes("/ws")
                ? 1300 + Math.floor(random() * 1300)
                : 1800 + Math.floor(random() * 1600)
          })
        const [forSse, forWs, forPage] = yield* Effect.all([balancer(1), balancer(2), balancer(3)])
        // Each drop is progress (bytes arrived), which resets the client's schedule: retry at once, many times.
        const schedule = Schedule.spaced("5 millis").pipe(Schedule.intersect(Schedule.recurs(100)))
        const sse = yield* clientFollower(forSse.url(`${PREFIX}/drops`), "sse", { schedule })
        const ws = yield* clientFollower(forWs.url(`${PREFIX}/drops`), "ws", { schedule })
        const context = yield* Browser.make
        const page = yield* Effect.promise(() => context.newPage())
        yield* Effect.promise(() => page.goto(forPage.url("/page?key=drops")))
        const pageReached = (total: number) =>
          Effect.promise(() =>
            page.waitForFunction(
              (total) =>
                window.cluster.next !== null && window.cluster.next >= total || window.cluster.anomalies.length > 0,
              total,
              { timeout: PAGE_WAIT_MS, polling: 10 }
            )
          )

        // Batches of 4 writes (1,000 bytes) on A; after each, every client has it all (so a resume is never more
        // than one batch behind), and after every other one every connection is dropped. Until each client went
        // through at least 200 drops.
        const proxies = [forSse, forWs, forPage]
        let rounds = 0
        const enough = () => proxies.every((p) => p.stats().cuts >= 200 && p.stats().plannedCuts >= 50)
        while (!enough()) {
          assert.isBelow(rounds++, 800, `drops so far: ${JSON.stringify(proxies.map((p) => p.stats()))}`)
          const { total } = yield* a.command({ op: "produce", key: "drops", writes: 4, size: 250 })
          yield* Effect.all([sse.reached(total!), ws.reached(total!), pageReached(total!)], { concurrency: 3 })
          if (rounds % 2 === 0) yield* Effect.forEach(proxies, (p) => p.cutAll, { discard: true })
        }
        const { total } = yield* a.command({ op: "end", key: "drops" })
        const expected = pattern(0, total!)

        for (const f of [sse, ws]) {
          const { bytes, exit } = yield* Fiber.join(f.fiber)
          assert.strictEqual(tagOf(exit), "Success", `the ${f.transport} client completed`)
          assertSameBytes(bytes, expected, `ReplayClient over ${f.transport}`)
        }
        yield* Effect.promise(() =>
          page.waitForFunction(() => window.cluster.end !== null || window.cluster.anomalies.length > 0, undefined, {
            timeout: PAGE_WAIT_MS,
            polling: 100
          })
        )
        const state = yield* Effect.promise(() => page.evaluate(() => window.cluster))
        assert.deepStrictEqual(state.anomalies, [])
        assert.strictEqual(state.end?.status, "ended")
        assertSameBytes(
          new Uint8Array(Buffer.concat(state.parts.map((part) => Buffer.from(part, "base64")))),
          expected,
          "the chromium EventSource page"
        )
        // Every client went through ≥ 200 drops, and both instances served a good share of its reconnects.
        for (const [name, proxy] of [["SSE", forSse], ["WebSocket", forWs], ["page", forPage]] as const) {
          const stats = proxy.stats()
          assert.isAtLeast(stats.cuts, 200, `${name}: drops`)
          assert.isAtLeast(stats.plannedCuts, 50, `${name}: drops at a random byte`)
          for (const [i, target] of stats.perTarget.entries()) {
            assert.isAtLeast(target.requests, 50, `${name}: streaming requests served by ${i === 0 ? "A" : "B"}`)
          }
        }
        assert.isAtLeast(state.hellos, 200, "the page connected after each drop")
      }),
    240_000
  )

  it.scopedLive(
    "2 instances × 500 followers (SSE and WebSocket) use 4 Redis client connections (CLIENT LIST)",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const [a, b] = yield* Effect.all([
          Cluster.spawnInstance({ redisUrl: redis.url, name: "A" }),
          Cluster.spawnInstance({ redisUrl: redis.url, name: "B" })
        ], { concurrency: 2 })
        yield* a.command({ op: "create", key: "many", capacity: 1 << 16 })
        yield* a.command({ op: "write", key: "many", size: 100 })
        const followers = yield* Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), (i) => {
          const instance = i % 2 === 0 ? a : b
          return i % 4 < 2
            ? Raw.sse(instance.url(`${PREFIX}/many/sse`))
            : Raw.ws(instance.url(`${PREFIX}/many/ws`).replace("http:", "ws:"))
        })
        yield* Effect.forEach(followers, (f) => f.firstData, { discard: true, concurrency: "unbounded" })
        // Every follower is connected and has read the first write: the instances' connections to Redis, only.
        const list = String(yield* redis.command("CLIENT", "LIST")).trim().split("\n")
        const clients = list.filter((line) => !line.includes("cmd=client|list"))
        assert.strictEqual(clients.length, 4, clients.join("\n"))
        assert.strictEqual(clients.filter((line) => line.includes("ssub=1")).length, 2, "one subscriber per instance")
        yield* a.command({ op: "write", key: "many", size: 100 })
        yield* a.command({ op: "end", key: "many" })
        for (const [i, f] of followers.entries()) {
          const ended = yield* f.ended
          assert.include(ended, i % 4 < 2 ? "event: end" : `"type":"end"`, `follower ${i} got the end`)
          assert.include(ended, `"status":"ended"`)
        }
      }),
    180_000
  )

  it.scopedLive(
    "kill -9 of the producer's instance: followers on the other instance end 'producer lost' within the lease",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const leaseMs = 2000
        // A long safety poll: the end must come from the lease's expiry, not from a poll.
        const env = { SCROLLBACK_REDIS_LEASE_MS: String(leaseMs), SCROLLBACK_REDIS_SAFETY_POLL_MS: "60000" }
        const [a, b] = yield* Effect.all([
          Cluster.spawnInstance({ redisUrl: redis.url, name: "A", env }),
          Cluster.spawnInstance({ redisUrl: redis.url, name: "B", env })
        ], { concurrency: 2 })
        yield* a.command({ op: "create", key: "job", capacity: 1 << 20 })
        yield* a.command({ op: "produce", key: "job", writes: 10, size: 100 })
        const url = b.url(`${PREFIX}/job`)
        const clients = [yield* clientFollower(url, "sse"), yield* clientFollower(url, "ws")]
        const raw = [yield* Raw.sse(`${url}/sse`), yield* Raw.ws(`${url.replace("http:", "ws:")}/ws`)]
        yield* Effect.forEach(clients, (c) => c.reached(1000), { discard: true })
        yield* Effect.forEach(raw, (r) => r.firstData, { discard: true })

        const killedAt = Date.now()
        yield* a.kill9
        for (const c of clients) {
          const { bytes, exit } = yield* Fiber.join(c.fiber)
          assert.strictEqual(tagOf(exit), "ProducerFailed", `ReplayClient over ${c.transport}`)
          if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "producer lost")
          assertSameBytes(bytes, pattern(0, 1000), `ReplayClient over ${c.transport}`)
        }
        const [sseBody, wsTexts] = [yield* raw[0].ended, yield* raw[1].ended]
        const took = Date.now() - killedAt
        assert.match(
          sseBody,
          /\n\nid: [0-9a-f]{16}:1000\nevent: end\ndata: \{"status":"failed","reason":"producer lost"\}\n\n$/
        )
        assert.include(wsTexts, `{"type":"end","status":"failed","reason":"producer lost"}`)
        // The lease lapses at most leaseMs after the kill; generous slack for a busy machine (the safety poll is 60 s).
        assert.isBelow(took, leaseMs + 8000, `ended ${took} ms after the kill`)
        // A follower that comes later on B gets the bytes, then the same end.
        const late = yield* Raw.get(`${url}/sse`)
        assert.strictEqual(late.status, 200)
        assert.include(late.body, `"reason":"producer lost"`)
      }),
    120_000
  )

  it.scopedLive(
    "Redis unreachable: reads get 503 + Retry-After + StorageUnavailable (Node server and portable routes); recovery when Redis returns",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make({ persistence: "aof" })
        const env = { SCROLLBACK_REDIS_COMMAND_TIMEOUT_MS: "1000", SCROLLBACK_REDIS_SAFETY_POLL_MS: "200" }
        const [a, b, c] = yield* Effect.all([
          Cluster.spawnInstance({ redisUrl: redis.url, name: "A", env }),
          Cluster.spawnInstance({ redisUrl: redis.url, name: "B (NodeReplayHttp)", env }),
          Cluster.spawnInstance({ redisUrl: redis.url, name: "C (ReplayHttp.serve)", env, server: "portable" })
        ], { concurrency: 3 })
        yield* a.command({ op: "create", key: "down", capacity: 1 << 20 })
        yield* a.command({ op: "write", key: "down", size: 100 })
        // Followers on B and C, connected before the outage: they wait through it.
        const followers = [
          yield* clientFollower(b.url(`${PREFIX}/down`), "sse"),
          yield* clientFollower(c.url(`${PREFIX}/down`), "ws")
        ]
        yield* Effect.forEach(followers, (f) => f.reached(100), { discard: true })

        yield* redis.kill9
        const assertUnavailable = (response: Raw.RawResponse, what: string) => {
          assert.strictEqual(response.status, 503, `${what}: ${response.body}`)
          assert.strictEqual(response.headers["retry-after"], "1", what)
          assert.match(String(response.headers["content-type"]), /^application\/json/, what)
          const body = JSON.parse(response.body)
          assert.strictEqual(body.error._tag, "StorageUnavailable", what)
          assert.include(body.message, "the storage is unavailable", what)
        }
        for (const [name, instance] of [["B", b], ["C", c]] as const) {
          // A buffer the instance holds (its replica cannot be checked against Redis), and one it does not.
          for (const key of ["down", "other"]) {
            const base = instance.url(`${PREFIX}/${key}`)
            assertUnavailable(yield* Raw.get(`${base}/sse`), `${name} ${key} SSE`)
            assertUnavailable(
              yield* Raw.get(`${base}/sse`, { "last-event-id": "0000000000000000:0" }),
              `${name} ${key} SSE resume`
            )
            assertUnavailable(
              yield* Raw.refusedUpgrade(`${base.replace("http:", "ws:")}/ws`),
              `${name} ${key} WebSocket`
            )
            assertUnavailable(yield* Raw.get(`${base}?offset=0`), `${name} ${key} GET`)
            assertUnavailable(yield* Raw.get(`${base}/info`), `${name} ${key} info`)
          }
        }
        for (const f of followers) assert.isNull(Option.getOrNull(yield* Fiber.poll(f.fiber)), "followers wait")

        yield* redis.start({ persistence: "aof" })
        // Recovery: every instance answers again once its connections are back.
        for (const instance of [a, b, c]) {
          yield* Raw.get(instance.url(`${PREFIX}/down/info`)).pipe(
            Effect.filterOrFail((r) => r.status === 200, (r) => new Error(`status ${r.status}`)),
            Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("60 seconds")))
          )
        }
        yield* a.command({ op: "write", key: "down", size: 100 }).pipe(
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("60 seconds")))
        )
        yield* a.command({ op: "end", key: "down" })
        const expected = pattern(0, 200)
        for (const f of followers) {
          const { bytes, exit } = yield* Fiber.join(f.fiber)
          assert.strictEqual(tagOf(exit), "Success", `the ${f.transport} follower completed`)
          assertSameBytes(bytes, expected, `the ${f.transport} follower through the outage`)
        }
        for (const instance of [b, c]) {
          const late = yield* clientFollower(instance.url(`${PREFIX}/down`), "sse")
          const { bytes, exit } = yield* Fiber.join(late.fiber)
          assert.strictEqual(tagOf(exit), "Success")
          assertSameBytes(bytes, expected, `a new follower on ${instance.name}`)
        }
      }),
    180_000
  )

  it.scopedLive(
    "list (GET {prefix}) shows the buffers this instance holds, not the cluster's",
    () =>
      Effect.gen(function*() {
        const redis = yield* RedisServer.make()
        const [a, b] = yield* Effect.all([
          Cluster.spawnInstance({ redisUrl: redis.url, name: "A" }),
          Cluster.spawnInstance({ redisUrl: redis.url, name: "B" })
        ], { concurrency: 2 })
        yield* a.command({ op: "create", key: "listed", capacity: 4096 })
        yield* a.command({ op: "write", key: "listed", size: 10 })
        const keys = (instance: Cluster.Instance) =>
          Effect.map(Raw.get(instance.url(PREFIX)), (r) => {
            assert.strictEqual(r.status, 200, r.body)
            return (JSON.parse(r.body).buffers as ReadonlyArray<{ readonly key: string }>).map((entry) => entry.key)
          })
        assert.deepStrictEqual(yield* keys(a), ["listed"])
        assert.deepStrictEqual(yield* keys(b), [], "B holds no replica yet")
        assert.strictEqual((yield* Raw.get(b.url(`${PREFIX}/listed/info`))).status, 200)
        assert.deepStrictEqual(yield* keys(b), ["listed"], "a read on B opened its replica")
      }),
    120_000
  )
})
