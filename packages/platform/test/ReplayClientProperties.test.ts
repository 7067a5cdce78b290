import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Portable } from "@scrollback/http-test-kit"
import * as ReplayClient from "@scrollback/platform/ReplayClient"
import { Effect, FastCheck as fc, Fiber, Layer, Schedule, type Scope, Stream, SubscriptionRef } from "effect"
import { concat } from "./util/bytes.js"
import * as FaultProxy from "./util/faultProxy.js"

const encoder = new TextEncoder()

/**
 * Pieces every log contains: terminal text that breaks naive SSE (CR, bare `\r`
 * progress, CRLF, leading spaces, NUL, invalid UTF-8), UTF-8 characters split
 * across writes, and every byte value.
 */
const fixedPieces: ReadonlyArray<Uint8Array> = [
  encoder.encode("  indented\r\nprogress  10%\rprogress 100%\r\n\0nul\n"),
  Uint8Array.of(0xff, 0xfe, 0x80),
  Uint8Array.of(0xc3), // "é" split across two writes
  Uint8Array.of(0xa9, 0x20),
  Uint8Array.of(0xf0, 0x9f), // "😀" split across three writes
  Uint8Array.of(0x98),
  Uint8Array.of(0x80),
  Uint8Array.from({ length: 256 }, (_, i) => i)
]

const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}

/**
 * A real server on 127.0.0.1 (the kit's `Portable.serve`: registry +
 * `ReplayHttp.toHttpApp` + NodeHttpServer, the app wrapped to count the
 * requests in flight), and `idle`: completes once no request is being handled.
 * Every session must end by itself once its connection is cut, shutdown
 * included (a WebSocket session interrupted while its connection closed used
 * to wait for ever on its close `1001`; `idle` would hang).
 */
const startServer = Effect.gen(function*() {
  const active = yield* SubscriptionRef.make(0)
  const server = yield* Portable.serve({
    wrap: (app) =>
      Effect.acquireUseRelease(
        SubscriptionRef.update(active, (n) => n + 1),
        () => app,
        () => SubscriptionRef.update(active, (n) => n - 1)
      )
  })
  const idle = active.changes.pipe(Stream.takeUntil((n) => n === 0), Stream.runDrain)
  return { ...server, idle }
})

/**
 * The plan: the first connections are cut within their first 2,000 bytes (in the headers, the hello or the
 * first event), so every run has at least that many drops; later ones after a log-uniform number of bytes in
 * [40 B, 160 KiB]: most cuts land early, some let big replay events (up to 64 KiB of base64) through.
 */
const MIN_CUT = 40
const MAX_CUT = 160 * 1024
const planWith = (early: number) => (index: number, random: () => number): FaultProxy.Fault => ({
  _tag: "Cut",
  afterBytes: index < early
    ? Math.floor(MIN_CUT + random() * 2000)
    : Math.floor(Math.exp(Math.log(MIN_CUT) + random() * (Math.log(MAX_CUT) - Math.log(MIN_CUT))))
})

/** A write bigger than one SSE event (48 KiB of bytes): the server splits it. */
const BIG_WRITE = 100_000

const Case = fc.record({
  // Chunk sizes; their bytes come from `seed` (fast-check's byte arrays are biased to be tiny).
  sizes: fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 20, maxLength: 50 }),
  bigAt: fc.nat(),
  fixedAt: fc.array(fc.nat(), { minLength: fixedPieces.length, maxLength: fixedPieces.length }),
  writtenBeforeStart: fc.nat({ max: 50 }),
  pauseEvery: fc.integer({ min: 1, max: 8 }),
  seed: fc.integer(),
  client: fc.constantFrom("fetch", "node:http")
})

type Case = typeof Case extends fc.Arbitrary<infer A> ? A : never

/**
 * Writes a random log into a real server while a client follows it through
 * the cutting proxy, and checks that the client delivered exactly the log.
 * `early` connections are cut within their first 2,000 bytes (in the
 * headers or the upgrade, the hello or the first message), so every run has
 * at least that many drops.
 */
const exactlyOnce = (
  transport: "sse" | "ws",
  early: number,
  c: Case
): Effect.Effect<void, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    // The log: random chunks, with the fixed pieces inserted (in order) at random places.
    const random = FaultProxy.prng(c.seed ^ 0x5eed)
    const chunks: Array<Uint8Array> = c.sizes.map((size) =>
      Uint8Array.from({ length: size }, () => Math.floor(random() * 256))
    )
    chunks.splice(
      c.bigAt % (chunks.length + 1),
      0,
      Uint8Array.from({ length: BIG_WRITE }, () => Math.floor(random() * 256))
    )
    fixedPieces.forEach((piece, i) => chunks.splice(c.fixedAt[i] % (chunks.length + 1), 0, piece))
    const log = concat(chunks)

    const server = yield* startServer
    const buffer = yield* server.registry.create("log")
    const proxy = yield* FaultProxy.make({ target: { port: server.port }, seed: c.seed, plan: planWith(early) })

    const before = Math.min(c.writtenBeforeStart, chunks.length)
    yield* Effect.forEach(chunks.slice(0, before), (chunk) => buffer.write(chunk), { discard: true })
    const options = {
      // Every attempt may be cut before it makes progress: allow long runs of them, quickly.
      schedule: Schedule.spaced("1 millis").pipe(Schedule.intersect(Schedule.recurs(200))),
      idleTimeout: "10 seconds"
    } as const
    const httpClient = c.client === "fetch" ? FetchHttpClient.layer : NodeHttpClient.layer
    const url = proxy.url("/scrollback/log")
    const follower = yield* (transport === "sse"
      ? ReplayClient.follow(url, options).pipe(Stream.runCollect, Effect.provide(httpClient))
      : ReplayClient.followWs(url, options).pipe(
        Stream.runCollect,
        Effect.provide(Layer.merge(httpClient, NodeSocket.layerWebSocketConstructor))
      )).pipe(Effect.map(concat), Effect.fork)
    // The rest is written while the client follows (and reconnects), with pauses so cuts also land live.
    yield* Effect.forEach(chunks.slice(before), (chunk, i) =>
      buffer.write(chunk).pipe(
        Effect.zipRight(i % c.pauseEvery === 0 ? Effect.sleep("1 millis") : Effect.void)
      ), { discard: true })
    yield* buffer.end

    const received = yield* Fiber.join(follower)
    const at = firstDifference(received, log)
    assert.strictEqual(at, -1, `first difference at byte ${at} of ${log.length} (got ${received.length} bytes)`)
    const stats = proxy.stats()
    // Every cut but possibly the last fell before the end, so the client reconnected at least `cuts - 1`
    // times: a run without drops cannot pass.
    assert.isAtLeast(stats.cuts, early, `only ${stats.cuts} cuts in ${stats.connections} connections`)
    assert.isAtLeast(stats.connections, early + 1)
    // Every session ends once its connection is gone (generous bound: a session whose handshake was cut waits
    // up to 5 s for it).
    yield* proxy.cutAll
    yield* server.idle.pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("a server session did not end") })
    )
  })

describe("ReplayClient properties", () => {
  it.live.prop(
    "SSE: through a proxy that cuts connections at random bytes, the client delivers exactly the written log",
    [Case],
    ([c]) => Effect.scoped(exactlyOnce("sse", 5, c)),
    { timeout: 240_000, fastCheck: { numRuns: 24, seed: 20_251_124, endOnFailure: true } }
  )

  it.live.prop(
    "WebSocket: through a proxy that cuts connections at random bytes, the client delivers exactly the written log",
    [Case],
    ([c]) => Effect.scoped(exactlyOnce("ws", 8, c)),
    { timeout: 240_000, fastCheck: { numRuns: 30, seed: 20_261_124, endOnFailure: true } }
  )
})
