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
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Option, Schedule, Stream } from "effect"
import { concat, pattern } from "./util/bytes.js"
import * as Cluster from "./util/cluster.js"
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
 * A follower through `ReplayClient` (SSE or WebSocket): collects its bytes
 * and completes `first` once it has `firstBytes` of them.
 */
const clientFollower = (
  url: string,
  transport: "sse" | "ws",
  options: { readonly firstBytes?: number; readonly schedule?: Schedule.Schedule<unknown, unknown> } = {}
) =>
  Effect.gen(function*() {
    const first = yield* Deferred.make<void>()
    const parts: Array<Uint8Array> = []
    let seen = 0
    const clientOptions = { from: 0, ...(options.schedule !== undefined ? { schedule: options.schedule } : {}) }
    const stream = transport === "sse" ? ReplayClient.follow(url, clientOptions) : ReplayClient.followWs(url, clientOptions)
    const fiber = yield* stream.pipe(
      Stream.runForEach((chunk) =>
        Effect.suspend(() => {
          parts.push(chunk)
          seen += chunk.length
          return seen >= (options.firstBytes ?? 1) ? Deferred.succeed(first, undefined) : Effect.void
        })
      ),
      Effect.exit,
      Effect.map((exit) => ({ exit, bytes: concat(parts) })),
      Effect.provide(Client),
      Effect.fork
    )
    return { first: Deferred.await(first), fiber, transport }
  })

describe("RedisRegistry over HTTP, instances in separate processes", () => {
  it.scopedLive("a producer on A, 100 followers over A and B (SSE and WebSocket): every follower byte-exact", () =>
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
          i % 4 < 2 ? "sse" : "ws",
          { firstBytes: 100 }
        ))
      // Every follower is connected and has the first write: the rest arrives live.
      yield* Effect.forEach(followers, (f) => f.first, { discard: true })
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
    }), 120_000)
})
