import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpServer from "@effect/platform/HttpServer"
import { assert, describe, it } from "@effect/vitest"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as ReplayClient from "@scrollback/platform/ReplayClient"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import { Context, Effect, FastCheck as fc, Fiber, Layer, Schedule, Stream } from "effect"
import * as http from "node:http"
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

/** A real server (registry + ReplayHttp + NodeHttpServer) on 127.0.0.1, port 0. */
const startServer = Effect.gen(function*() {
  const context = yield* Layer.build(
    ReplayHttp.layer().pipe(
      Layer.provideMerge(ReplayRegistry.layer()),
      Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { port: 0, host: "127.0.0.1" }))
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") return yield* Effect.die("expected a TCP address")
  return { port: address.port, registry: Context.get(context, ReplayRegistry.ReplayRegistry) }
})

/**
 * The plan: the first connections are cut within their first 2,000 bytes (in the headers, the hello or the
 * first event), so every run has at least that many drops; later ones after a log-uniform number of bytes in
 * [40 B, 160 KiB]: most cuts land early, some let big replay events (up to 64 KiB of base64) through.
 */
const EARLY_CUTS = 5
const MIN_CUT = 40
const MAX_CUT = 160 * 1024
const plan = (index: number, random: () => number): FaultProxy.Fault => ({
  _tag: "Cut",
  afterBytes: index < EARLY_CUTS
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

describe("ReplayClient properties", () => {
  it.live.prop(
    "through a proxy that cuts connections at random bytes, the client delivers exactly the written log",
    [Case],
    ([c]) =>
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
        const proxy = yield* FaultProxy.make({
          target: { port: server.port },
          seed: c.seed,
          plan
        })

        const before = Math.min(c.writtenBeforeStart, chunks.length)
        yield* Effect.forEach(chunks.slice(0, before), (chunk) => buffer.write(chunk), { discard: true })
        const follower = yield* ReplayClient.follow(proxy.url("/scrollback/log"), {
          // Every attempt may be cut before it makes progress: allow long runs of them, quickly.
          schedule: Schedule.spaced("1 millis").pipe(Schedule.intersect(Schedule.recurs(200))),
          idleTimeout: "10 seconds"
        }).pipe(
          Stream.runCollect,
          Effect.map(concat),
          Effect.provide(c.client === "fetch" ? FetchHttpClient.layer : NodeHttpClient.layer),
          Effect.fork
        )
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
        // Every cut but possibly the last fell before the end event, so the client reconnected at least
        // `cuts - 1` times: a run without drops cannot pass.
        assert.isAtLeast(stats.cuts, EARLY_CUTS, `only ${stats.cuts} cuts in ${stats.connections} connections`)
        assert.isAtLeast(stats.connections, EARLY_CUTS + 1)
      }).pipe(Effect.scoped),
    { timeout: 60_000, fastCheck: { numRuns: 24, seed: 20_251_124, endOnFailure: true } }
  )
})
