import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpServer from "@effect/platform/HttpServer"
import { assert, describe, it } from "@effect/vitest"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { OffsetAhead, OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as ReplayRegistryError from "@scrollback/core/ReplayRegistryError"
import * as ReplayClient from "@scrollback/platform/ReplayClient"
import * as ReplayClientError from "@scrollback/platform/ReplayClientError"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as ReplayHttpError from "@scrollback/platform/ReplayHttpError"
import type * as ReplayStream from "@scrollback/platform/ReplayStream"
import {
  Cause,
  Chunk,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Schedule,
  Scope,
  Stream,
  TestClock
} from "effect"
import * as http from "node:http"
import * as net from "node:net"
import { concat } from "./util/bytes.js"
import * as FaultProxy from "./util/faultProxy.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (s: string) => encoder.encode(s)

interface TestServer {
  readonly port: number
  readonly registry: ReplayRegistry.ReplayRegistry
  readonly url: (key: string) => string
  /** Stops listening and destroys every open connection, as a crash would (buffers are not ended). */
  readonly crash: Effect.Effect<void>
}

/** A real server (registry + ReplayHttp + NodeHttpServer) on 127.0.0.1, living as long as the scope. */
const startServer = (
  port = 0,
  authorization: Layer.Layer<ReplayHttp.Authorization> = ReplayHttp.layerAllowAll
): Effect.Effect<TestServer, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    let node: http.Server | undefined
    const context = yield* Layer.build(
      ReplayHttp.serve({ keepAlive: "200 millis", list: true }).pipe(
        Layer.provide(authorization),
        Layer.provideMerge(ReplayRegistry.layer()),
        Layer.provideMerge(NodeHttpServer.layer(() => {
          node = http.createServer()
          return node
        }, { port, host: "127.0.0.1" }))
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.die("expected a TCP address")
    return {
      port: address.port,
      registry: Context.get(context, ReplayRegistry.ReplayRegistry),
      url: (key: string) => `http://127.0.0.1:${address.port}/scrollback/${key}`,
      crash: Effect.sync(() => {
        node?.close()
        node?.closeAllConnections()
      })
    }
  })

/** A short reconnect schedule for tests: every 5 ms, at most `retries` retries without progress. */
const quick = (retries: number) => Schedule.spaced("5 millis").pipe(Schedule.intersect(Schedule.recurs(retries)))

/** Equal bytes, reported by the first difference (a plain deepStrictEqual of big arrays is unreadable). */
const assertSameBytes = (actual: Uint8Array, expected: Uint8Array) => {
  const n = Math.min(actual.length, expected.length)
  let i = 0
  while (i < n && actual[i] === expected[i]) i++
  if (i === n && actual.length === expected.length) return
  assert.fail(
    `bytes differ at ${i}: got ${actual.length} bytes (${actual[i]}), expected ${expected.length} bytes (${
      expected[i]
    })`
  )
}

const collect = <E, R>(stream: Stream.Stream<Uint8Array, E, R>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => concat(chunks))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a failure, got a success")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return assert.fail(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/** Completes `deferred` once the stream has emitted at least `bytes` bytes. */
const signalAfter = <E, R>(
  stream: Stream.Stream<Uint8Array, E, R>,
  bytes: number,
  deferred: Deferred.Deferred<void>
) => {
  let seen = 0
  return Stream.tap(stream, (chunk) => {
    seen += chunk.length
    return seen >= bytes ? Deferred.succeed(deferred, undefined) : Effect.void
  })
}

const writeAll = (buffer: ReplayBuffer.ReplayBuffer, chunks: ReadonlyArray<Uint8Array>) =>
  Effect.forEach(chunks, (chunk) => buffer.write(chunk), { discard: true })

type Script = (response: http.ServerResponse) => void

/**
 * A misbehaving server on 127.0.0.1: the n-th request is answered by `scripts[n]` (the last one repeats). It
 * records each request's URL and `Last-Event-ID`.
 */
const scriptedServer = (scripts: ReadonlyArray<Script>) =>
  Effect.gen(function*() {
    const requests: Array<{ readonly url: string; readonly lastEventId: string | undefined }> = []
    const server = http.createServer((request, response) => {
      const header = request.headers["last-event-id"]
      requests.push({ url: request.url ?? "", lastEventId: typeof header === "string" ? header : undefined })
      scripts[Math.min(requests.length, scripts.length) - 1](response)
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const port = (server.address() as net.AddressInfo).port
    return { url: `http://127.0.0.1:${port}/scrollback/k`, requests }
  })

const EPOCH = "00000000000000aa"

/** An SSE response made of these raw event blocks, then ended, destroyed (a drop) or left open. */
const sse =
  (blocks: ReadonlyArray<string>, options?: { readonly close?: "end" | "destroy" | "open" }): Script => (response) => {
    response.writeHead(200, { "content-type": "text/event-stream" })
    const close = options?.close ?? "end"
    response.write(blocks.join(""), () => {
      if (close === "end") response.end()
      else if (close === "destroy") response.destroy()
    })
  }

const hello = (offset: number, epoch = EPOCH) =>
  `event: hello\nid: ${epoch}:${offset}\ndata: {"epoch":"${epoch}","offset":${offset},"oldest":0,"total":${offset}}\n\n`
const data = (next: number, bytes: string, epoch = EPOCH) =>
  `id: ${epoch}:${next}\ndata: ${Buffer.from(bytes).toString("base64")}\n\n`
const end = (total: number) => `event: end\nid: ${EPOCH}:${total}\ndata: {"status":"ended"}\n\n`

const status = (code: number, body = ""): Script => (response) => {
  response.writeHead(code, { "content-type": "application/json" })
  response.end(body)
}

/** What a flooding script wrote, and whether it got to write all of it (`finished`) before the client left. */
interface Flood {
  written: number
  finished: boolean
}

const FLOOD_CAP = 64 * 1024 * 1024

/**
 * A response that sends `prefix`, then `unit` repeated (in 64 KiB writes, honouring backpressure) until
 * `FLOOD_CAP` bytes — far past every client limit — or until the client closes the connection.
 */
const flood = (state: Flood, code: number, contentType: string, prefix: string, unit: string): Script => (response) => {
  response.writeHead(code, { "content-type": contentType })
  const block = Buffer.from(unit.repeat(Math.ceil(65536 / unit.length)))
  let closed = false
  response.on("close", () => {
    closed = true
  })
  const pump = (): void => {
    while (!closed) {
      if (state.written >= FLOOD_CAP) {
        state.finished = true
        response.end()
        return
      }
      state.written += block.length
      if (!response.write(block)) {
        response.once("drain", pump)
        return
      }
    }
  }
  response.write(prefix)
  pump()
}

describe("ReplayClient", () => {
  it.scopedLive("replays then follows, and completes after the end event", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const buffer = yield* server.registry.create("k")
      yield* buffer.write(text("hello "))
      const started = yield* Deferred.make<void>()
      const follower = yield* ReplayClient.follow(server.url("k")).pipe(
        (stream) => signalAfter(stream, 6, started),
        collect,
        Effect.fork
      )
      yield* Deferred.await(started)
      yield* buffer.write(text("world"))
      yield* buffer.end
      assert.strictEqual(decoder.decode(yield* Fiber.join(follower)), "hello world")

      // A follower arriving after the end replays what is retained and completes.
      const late = yield* collect(ReplayClient.follow(server.url("k"), { from: 3 }))
      assert.strictEqual(decoder.decode(late), "lo world")
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive("frames carry contiguous offsets; from a number and from \"live\"", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const buffer = yield* server.registry.create("k")
      yield* writeAll(buffer, [text("abc"), text("defg")])
      const fromTwo = yield* ReplayClient.frames(server.url("k"), { from: 2 }).pipe(Stream.runCollect, Effect.fork)
      const started = yield* Deferred.make<void>()
      const live = yield* ReplayClient.frames(server.url("k"), { from: "live" }).pipe(
        Stream.tap(() => Deferred.succeed(started, undefined)),
        Stream.runCollect,
        Effect.fork
      )
      // The producer keeps writing until the live follower has seen something, then ends.
      yield* buffer.write(text("x")).pipe(
        Effect.zipRight(Effect.sleep("5 millis")),
        Effect.zipRight(Deferred.isDone(started)),
        Effect.repeat({ until: (done) => done })
      )
      yield* buffer.end
      const total = yield* buffer.total
      const liveFrames = Chunk.toReadonlyArray(yield* Fiber.join(live)) as ReadonlyArray<ReplayStream.Data>
      const twoFrames = Chunk.toReadonlyArray(yield* Fiber.join(fromTwo)) as ReadonlyArray<ReplayStream.Data>
      // "live" starts at the total /info gave: after "abcdefg", somewhere in the x's, and runs to the end.
      assert.isAtLeast(liveFrames[0].offset, 7)
      const liveBytes = decoder.decode(concat(liveFrames.map((f) => f.bytes)))
      assert.strictEqual(liveBytes, "x".repeat(total - liveFrames[0].offset))
      assert.strictEqual(decoder.decode(concat(twoFrames.map((f) => f.bytes))), "cdefg" + "x".repeat(total - 7))
      for (const frames of [twoFrames, liveFrames]) {
        let offset = frames[0].offset
        for (const frame of frames) {
          assert.strictEqual(frame._tag, "Data")
          assert.strictEqual(frame.offset, offset)
          offset += frame.bytes.length
        }
        assert.strictEqual(offset, total)
      }
      assert.strictEqual(twoFrames[0].offset, 2)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive("interrupting the stream closes its connection (fetch and node:http)", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const buffer = yield* server.registry.create("k")
      yield* buffer.write(text("first"))
      const proxy = yield* FaultProxy.make({ target: { port: server.port }, seed: 3, plan: () => ({ _tag: "Pass" }) })
      for (const client of [FetchHttpClient.layer, NodeHttpClient.layer]) {
        const first = yield* ReplayClient.follow(proxy.url("/scrollback/k")).pipe(
          Stream.take(1),
          collect,
          Effect.provide(client)
        )
        assert.strictEqual(decoder.decode(first), "first")
        // The buffer has not ended, so only the client's abort can close the connection.
        yield* proxy.whenIdle.pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "still open" }))
      }
      assert.isAtLeast(proxy.stats().connections, 2)
    }))

  it.scopedLive("a failed producer fails the stream with ProducerFailed and its exit code", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const buffer = yield* server.registry.create("k")
      yield* buffer.write(text("oops"))
      const started = yield* Deferred.make<void>()
      const follower = yield* ReplayClient.follow(server.url("k")).pipe(
        (stream) => signalAfter(stream, 4, started),
        Stream.runCollect,
        Effect.exit,
        Effect.fork
      )
      yield* Deferred.await(started)
      yield* buffer.fail(new ProducerFailed({ reason: "exited with code 3", exitCode: 3 }))
      const error = failureOf(yield* Fiber.join(follower))
      assert.instanceOf(error, ProducerFailed)
      assert.strictEqual(error.exitCode, 3)
      assert.strictEqual(error.reason, "exited with code 3")
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive("from a saved position: resumes exactly there; past the total → OffsetAhead (409)", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const buffer = yield* server.registry.create("k")
      yield* buffer.write(text("0123456789"))
      yield* buffer.end
      const rest = yield* collect(ReplayClient.follow(server.url("k"), { from: { epoch: buffer.epoch, offset: 4 } }))
      assert.strictEqual(decoder.decode(rest), "456789")

      const ahead = failureOf(
        yield* Effect.exit(collect(ReplayClient.follow(server.url("k"), { from: { epoch: buffer.epoch, offset: 12 } })))
      )
      assert.instanceOf(ahead, OffsetAhead)
      assert.deepStrictEqual({ requested: ahead.requested, total: ahead.total }, { requested: 12, total: 10 })

      // A position that is not one, or that contradicts `epoch`, is refused before any request.
      for (
        const options of [
          { from: { epoch: "nope", offset: 1 } },
          { from: { epoch: buffer.epoch, offset: -1 } },
          { from: { epoch: buffer.epoch, offset: 1 }, epoch: "0123456789abcdef" }
        ]
      ) {
        const invalid = failureOf(yield* Effect.exit(collect(ReplayClient.follow("http://127.0.0.1:1/x", options))))
        assert.strictEqual(invalid._tag, "InvalidOffset")
      }
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive("at the end of an ended buffer (204), the client asks /info how it ended", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const ok = yield* server.registry.create("ok")
      yield* ok.write(text("done"))
      yield* ok.end
      const bad = yield* server.registry.create("bad")
      yield* bad.write(text("done"))
      yield* bad.fail(new ProducerFailed({ reason: "killed", exitCode: 137 }))

      assert.strictEqual((yield* collect(ReplayClient.follow(server.url("ok"), { from: "live" }))).length, 0)
      assert.strictEqual((yield* collect(ReplayClient.follow(server.url("ok"), { from: 4 }))).length, 0)
      const error = failureOf(yield* Effect.exit(collect(ReplayClient.follow(server.url("bad"), { from: 4 }))))
      assert.instanceOf(error, ProducerFailed)
      assert.strictEqual(error.exitCode, 137)
      assert.strictEqual(error.reason, "killed")
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  describe("eviction", () => {
    it.scopedLive("resuming at an evicted offset: fail → OffsetEvicted (410)", () =>
      Effect.gen(function*() {
        const server = yield* startServer()
        const buffer = yield* server.registry.create("k", { capacity: 16 })
        yield* buffer.write(new Uint8Array(40).fill(1))
        const error = failureOf(yield* Effect.exit(collect(ReplayClient.follow(server.url("k"), { from: 0 }))))
        assert.instanceOf(error, OffsetEvicted)
        assert.deepStrictEqual({ requested: error.requested, oldest: error.oldest }, { requested: 0, oldest: 24 })
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    it.scopedLive("resuming at an evicted offset: clamp → a Gap frame, then the rest", () =>
      Effect.gen(function*() {
        const server = yield* startServer()
        const buffer = yield* server.registry.create("k", { capacity: 16 })
        const log = Uint8Array.from({ length: 40 }, (_, i) => i)
        yield* buffer.write(log)
        yield* buffer.end
        const frames = Chunk.toReadonlyArray(
          yield* Stream.runCollect(ReplayClient.frames(server.url("k"), { from: 5, onEvicted: "clamp" }))
        )
        assert.deepStrictEqual(frames[0], { _tag: "Gap", requested: 5, oldest: 24 })
        const data = frames.slice(1) as ReadonlyArray<ReplayStream.Data>
        assert.strictEqual(data[0].offset, 24)
        assertSameBytes(concat(data.map((f) => f.bytes)), log.subarray(24))

        // frames honours onGap too: it runs before the bytes after the gap are emitted.
        const seen: Array<string> = []
        yield* ReplayClient.frames(server.url("k"), {
          from: 5,
          onEvicted: "clamp",
          onGap: (gap) => Effect.sync(() => seen.push(`onGap ${gap.requested}..${gap.oldest}`))
        }).pipe(Stream.runForEach((frame) => Effect.sync(() => seen.push(frame._tag))))
        assert.deepStrictEqual(seen.slice(0, 3), ["onGap 5..24", "Gap", "Data"])

        // The bytes variant reports the gap to onGap.
        const gaps: Array<ReplayStream.Gap> = []
        const bytes = yield* collect(ReplayClient.follow(server.url("k"), {
          from: 0,
          onEvicted: "clamp",
          onGap: (gap) => Effect.sync(() => gaps.push(gap))
        }))
        assert.deepStrictEqual(gaps, [{ _tag: "Gap", requested: 0, oldest: 24 }])
        assertSameBytes(bytes, log.subarray(24))
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    it.scopedLive("evicted while disconnected: the reconnect gets 410 (fail) or a gap (clamp)", () =>
      Effect.gen(function*() {
        const server = yield* startServer()
        const run = (policy: ReplayStream.OnEvicted) =>
          Effect.scoped(Effect.gen(function*() {
            const key = `k-${policy}`
            const buffer = yield* server.registry.create(key, { capacity: 16 })
            const proxy = yield* FaultProxy.make({
              target: { port: server.port },
              seed: 1,
              plan: () => ({ _tag: "Pass" })
            })
            yield* buffer.write(text("0123456789"))
            const started = yield* Deferred.make<void>()
            const follower = yield* ReplayClient.frames(proxy.url(`/scrollback/${key}`), {
              onEvicted: policy,
              schedule: quick(20)
            }).pipe(
              Stream.tap(() => Deferred.succeed(started, undefined)),
              Stream.runCollect,
              Effect.exit,
              Effect.fork
            )
            yield* Deferred.await(started)
            // Stall the connection so nothing more reaches the client, overwrite the buffer, then cut.
            yield* proxy.stallAll
            yield* buffer.write(Uint8Array.from({ length: 30 }, (_, i) => 100 + i))
            yield* buffer.end
            yield* proxy.cutAll
            return { exit: yield* Fiber.join(follower), proxy }
          }))

        const failed = yield* run("fail")
        const error = failureOf(failed.exit)
        assert.instanceOf(error, OffsetEvicted)
        assert.deepStrictEqual({ requested: error.requested, oldest: error.oldest }, { requested: 10, oldest: 24 })

        const clamped = yield* run("clamp")
        assert.isTrue(Exit.isSuccess(clamped.exit))
        if (Exit.isSuccess(clamped.exit)) {
          const frames = Chunk.toReadonlyArray(clamped.exit.value)
          const gapAt = frames.findIndex((f) => f._tag === "Gap")
          assert.deepStrictEqual(frames[gapAt], { _tag: "Gap", requested: 10, oldest: 24 })
          const before = frames.slice(0, gapAt) as ReadonlyArray<ReplayStream.Data>
          const after = frames.slice(gapAt + 1) as ReadonlyArray<ReplayStream.Data>
          assert.strictEqual(decoder.decode(concat(before.map((f) => f.bytes))), "0123456789")
          assert.deepStrictEqual(
            Array.from(concat(after.map((f) => f.bytes))),
            Array.from({ length: 16 }, (_, i) => 114 + i)
          )
        }
      }).pipe(Effect.provide(FetchHttpClient.layer)))
  })

  it.scopedLive("a restarted server (new epoch, same port and key) fails the client with EpochChanged", () =>
    Effect.gen(function*() {
      const firstScope = yield* Scope.make()
      const first = yield* startServer().pipe(Scope.extend(firstScope))
      const buffer = yield* first.registry.create("k")
      yield* buffer.write(text("first incarnation"))
      const started = yield* Deferred.make<void>()
      const follower = yield* ReplayClient.follow(first.url("k"), { schedule: quick(400) }).pipe(
        (stream) => signalAfter(stream, 17, started),
        Stream.runCollect,
        Effect.exit,
        Effect.fork
      )
      yield* Deferred.await(started)
      // Crash: connections are destroyed (no end event), the server goes away, and comes back on the same port.
      yield* first.crash
      yield* Scope.close(firstScope, Exit.void)
      const second = yield* startServer(first.port)
      const reborn = yield* second.registry.create("k")
      yield* reborn.write(text("second incarnation"))

      const error = failureOf(yield* Fiber.join(follower))
      assert.instanceOf(error, ReplayClientError.EpochChanged)
      assert.deepStrictEqual({ expected: error.expected, actual: error.actual }, {
        expected: buffer.epoch,
        actual: reborn.epoch
      })
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  describe("errors", () => {
    it.scopedLive("404 → BufferNotFound; a different expected epoch → EpochChanged; 401 → HttpStatusError", () =>
      Effect.gen(function*() {
        const server = yield* startServer()
        const buffer = yield* server.registry.create("k")

        const missing = failureOf(yield* Effect.exit(collect(ReplayClient.follow(server.url("nope")))))
        assert.instanceOf(missing, ReplayRegistryError.BufferNotFound)
        assert.strictEqual(missing.key, "nope")

        const stale = failureOf(
          yield* Effect.exit(collect(ReplayClient.follow(server.url("k"), { epoch: "0123456789abcdef" })))
        )
        assert.instanceOf(stale, ReplayClientError.EpochChanged)
        assert.deepStrictEqual({ expected: stale.expected, actual: stale.actual }, {
          expected: "0123456789abcdef",
          actual: buffer.epoch
        })

        const locked = yield* startServer(
          0,
          ReplayHttp.layerAuthorization(() => Effect.fail(new ReplayHttpError.Denied({ status: 401, message: "no" })))
        )
        const denied = failureOf(yield* Effect.exit(collect(ReplayClient.follow(locked.url("k")))))
        assert.instanceOf(denied, ReplayClientError.HttpStatusError)
        assert.strictEqual(denied.status, 401)
        assert.include(denied.body, "Denied")
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    it.live("a non-integer `from` fails with InvalidOffset before any request", () =>
      Effect.gen(function*() {
        const error = failureOf(yield* Effect.exit(collect(ReplayClient.follow("http://127.0.0.1:1/x", { from: 1.5 }))))
        assert.strictEqual(error._tag, "InvalidOffset")
      }).pipe(Effect.provide(FetchHttpClient.layer)))
  })

  describe("protocol", () => {
    it.scopedLive("resumes with Last-Event-ID after a drop, and retries 503 and 429", () =>
      Effect.gen(function*() {
        const server = yield* scriptedServer([
          sse([hello(0), data(3, "abc")], { close: "destroy" }),
          status(503, "{}"),
          status(429, "{}"),
          sse([hello(3), data(5, "de"), end(5)])
        ])
        const bytes = yield* collect(ReplayClient.follow(server.url, { schedule: quick(5) }))
        assert.strictEqual(decoder.decode(bytes), "abcde")
        assert.deepStrictEqual(server.requests, [
          { url: "/scrollback/k/sse?onEvicted=fail", lastEventId: undefined },
          { url: "/scrollback/k/sse?onEvicted=fail", lastEventId: `${EPOCH}:3` },
          { url: "/scrollback/k/sse?onEvicted=fail", lastEventId: `${EPOCH}:3` },
          { url: "/scrollback/k/sse?onEvicted=fail", lastEventId: `${EPOCH}:3` }
        ])
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    it.scopedLive("the first request carries offset, epoch and onEvicted", () =>
      Effect.gen(function*() {
        const server = yield* scriptedServer([sse([hello(7), data(8, "h"), end(8)])])
        const bytes = yield* collect(ReplayClient.follow(server.url, { from: 7, epoch: EPOCH, onEvicted: "clamp" }))
        assert.strictEqual(decoder.decode(bytes), "h")
        assert.deepStrictEqual(server.requests, [
          { url: `/scrollback/k/sse?offset=7&epoch=${EPOCH}&onEvicted=clamp`, lastEventId: undefined }
        ])
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    const protocolCases: ReadonlyArray<readonly [string, ReadonlyArray<Script>, string]> = [
      ["bytes that do not continue the log", [sse([hello(0), data(3, "abc"), data(9, "xyz")])], "do not continue"],
      ["bytes that overlap the log", [sse([hello(0), data(3, "abc"), data(4, "cd")])], "do not continue"],
      ["an event before the hello", [sse([data(3, "abc")])], "before the hello"],
      ["malformed base64", [sse([hello(0), `id: ${EPOCH}:3\ndata: !!!!\n\n`])], "base64"],
      ["a malformed id", [sse([hello(0), `id: ${EPOCH}-3\ndata: YWJj\n\n`])], "malformed id"],
      ["an end before the last byte", [sse([hello(0), data(3, "abc"), end(5)])], "the end is at 5"],
      ["a resume at another offset", [
        sse([hello(0), data(3, "abc")], { close: "destroy" }),
        sse([hello(1), data(3, "bc")])
      ], "resumed at 3"],
      ["a response that is not SSE", [status(200, "{}")], "text/event-stream"]
    ]
    for (const [name, scripts, reason] of protocolCases) {
      it.scopedLive(`ProtocolError: ${name}`, () =>
        Effect.gen(function*() {
          const server = yield* scriptedServer(scripts)
          const error = failureOf(yield* Effect.exit(collect(ReplayClient.follow(server.url, { schedule: quick(3) }))))
          assert.instanceOf(error, ReplayClientError.ProtocolError)
          assert.include(error.reason, reason)
        }).pipe(Effect.provide(FetchHttpClient.layer)))
    }

    it.scopedLive("a hello with another epoch on a resume → EpochChanged, never a splice", () =>
      Effect.gen(function*() {
        const server = yield* scriptedServer([
          sse([hello(0), data(3, "abc")], { close: "destroy" }),
          sse([hello(3, "00000000000000bb"), data(6, "def", "00000000000000bb")])
        ])
        const received: Array<string> = []
        const error = failureOf(
          yield* Effect.exit(
            ReplayClient.follow(server.url, { schedule: quick(3) }).pipe(
              Stream.runForEach((bytes) => Effect.sync(() => received.push(decoder.decode(bytes))))
            )
          )
        )
        assert.instanceOf(error, ReplayClientError.EpochChanged)
        assert.deepStrictEqual({ expected: error.expected, actual: error.actual }, {
          expected: EPOCH,
          actual: "00000000000000bb"
        })
        assert.deepStrictEqual(received, ["abc"])
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    it.scopedLive("a response that ends without the end event is a drop: no progress → ConnectionFailed", () =>
      Effect.gen(function*() {
        // Accepts, says hello, and ends the response: the hello alone is not progress.
        const server = yield* scriptedServer([sse([hello(0)])])
        const error = failureOf(yield* Effect.exit(collect(ReplayClient.follow(server.url, { schedule: quick(3) }))))
        assert.instanceOf(error, ReplayClientError.ConnectionFailed)
        assert.strictEqual(error.attempts, 4)
        assert.strictEqual(error.cause.reason, "EndOfStream")
        assert.strictEqual(server.requests.length, 4)
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    it.scopedLive("a keep-alive after the hello counts as progress (a live but quiet connection)", () =>
      Effect.gen(function*() {
        // Four connections say hello, send a keep-alive comment and drop, with 1 retry allowed in a row.
        const scripts: Array<Script> = Array.from(
          { length: 4 },
          () => sse([hello(0), ": ping\n\n"], { close: "destroy" })
        )
        scripts.push(sse([hello(0), end(0)]))
        const server = yield* scriptedServer(scripts)
        const bytes = yield* collect(ReplayClient.follow(server.url, { schedule: quick(1) }))
        assert.strictEqual(bytes.length, 0)
        assert.strictEqual(server.requests.length, 5)
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    it.scopedLive("progress resets the schedule: more drops than retries still succeed", () =>
      Effect.gen(function*() {
        // Each connection delivers one byte and drops: 6 drops with 1 retry allowed in a row.
        const log = "abcdef"
        const scripts: Array<Script> = Array.from(
          { length: log.length },
          (_, i) => sse([hello(i), data(i + 1, log[i])], { close: "destroy" })
        )
        scripts.push(sse([hello(6), end(6)]))
        const server = yield* scriptedServer(scripts)
        const bytes = yield* collect(ReplayClient.follow(server.url, { schedule: quick(1) }))
        assert.strictEqual(decoder.decode(bytes), log)
        assert.strictEqual(server.requests.length, 7)
      }).pipe(Effect.provide(FetchHttpClient.layer)))
  })

  describe("bounds: a flooding server cannot grow the client's memory", () => {
    const floods: ReadonlyArray<readonly [string, string, string]> = [
      ["one endless line", hello(0) + "data: ", "A"],
      ["data lines without the blank line that ends the event", hello(0), "data: QUFB\n"]
    ]
    for (const [name, prefix, unit] of floods) {
      it.scopedLive(`${name} → ProtocolError once maxEventBytes (1 MiB) is passed`, () =>
        Effect.gen(function*() {
          const state: Flood = { written: 0, finished: false }
          const server = yield* scriptedServer([flood(state, 200, "text/event-stream", prefix, unit)])
          const error = failureOf(yield* Effect.exit(collect(ReplayClient.follow(server.url, { schedule: quick(3) }))))
          assert.instanceOf(error, ReplayClientError.ProtocolError)
          assert.include(error.reason, `exceeds maxEventBytes (${ReplayClient.DEFAULT_MAX_EVENT_BYTES})`)
          // The client gave up at the limit (plus what sat in socket buffers), long before the server's 64 MiB.
          assert.isFalse(state.finished)
          assert.isBelow(state.written, FLOOD_CAP / 2)
          assert.strictEqual(server.requests.length, 1)
        }).pipe(Effect.provide(FetchHttpClient.layer)))
    }

    it.scopedLive("a smaller maxEventBytes applies; events before the overflow are still delivered", () =>
      Effect.gen(function*() {
        const state: Flood = { written: 0, finished: false }
        const server = yield* scriptedServer([
          flood(state, 200, "text/event-stream", hello(0) + data(3, "abc") + "data: ", "A")
        ])
        const received: Array<string> = []
        const error = failureOf(
          yield* Effect.exit(
            ReplayClient.follow(server.url, { schedule: quick(3), maxEventBytes: 1000 }).pipe(
              Stream.runForEach((bytes) => Effect.sync(() => received.push(decoder.decode(bytes))))
            )
          )
        )
        assert.instanceOf(error, ReplayClientError.ProtocolError)
        assert.include(error.reason, "exceeds maxEventBytes (1000)")
        assert.deepStrictEqual(received, ["abc"])
        assert.isFalse(state.finished)
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    it.scopedLive("a huge error body: HttpStatusError keeps its first 4 KiB and the rest is not read", () =>
      Effect.gen(function*() {
        const state: Flood = { written: 0, finished: false }
        const server = yield* scriptedServer([flood(state, 400, "application/json", "", "x")])
        const error = failureOf(yield* Effect.exit(collect(ReplayClient.follow(server.url, { schedule: quick(3) }))))
        assert.instanceOf(error, ReplayClientError.HttpStatusError)
        assert.strictEqual(error.status, 400)
        assert.strictEqual(error.body, "x".repeat(4096))
        assert.isFalse(state.finished)
        assert.isBelow(state.written, FLOOD_CAP / 2)
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    it.scopedLive("a huge /info body (from: \"live\") → ProtocolError after 64 KiB", () =>
      Effect.gen(function*() {
        const state: Flood = { written: 0, finished: false }
        const server = yield* scriptedServer([flood(state, 200, "application/json", "{\"epoch\":\"", "a")])
        const error = failureOf(
          yield* Effect.exit(collect(ReplayClient.follow(server.url, { from: "live", schedule: quick(3) })))
        )
        assert.instanceOf(error, ReplayClientError.ProtocolError)
        assert.include(error.reason, "/info body is larger than 65536 bytes")
        assert.isFalse(state.finished)
        assert.isBelow(state.written, FLOOD_CAP / 2)
        assert.deepStrictEqual(server.requests.map((request) => request.url), ["/scrollback/k/info"])
      }).pipe(Effect.provide(FetchHttpClient.layer)))
  })

  describe("reconnects", () => {
    it.scopedLive("with the server down, retries per schedule and fails with ConnectionFailed", () =>
      Effect.gen(function*() {
        // A listener that accepts and destroys every connection counts the attempts.
        let accepted = 0
        const sink = net.createServer((socket) => {
          accepted++
          socket.destroy()
        })
        yield* Effect.acquireRelease(
          Effect.async<void>((resume) => {
            sink.listen(0, "127.0.0.1", () => resume(Effect.void))
          }),
          () =>
            Effect.async<void>((resume) => {
              if (!sink.listening) return resume(Effect.void)
              sink.close(() => resume(Effect.void))
            })
        )
        const port = (sink.address() as net.AddressInfo).port
        const start = Date.now()
        const error = failureOf(
          yield* Effect.exit(collect(ReplayClient.follow(`http://127.0.0.1:${port}/scrollback/k`, {
            schedule: Schedule.spaced("30 millis").pipe(Schedule.intersect(Schedule.recurs(4)))
          })))
        )
        const elapsed = Date.now() - start
        assert.instanceOf(error, ReplayClientError.ConnectionFailed)
        assert.strictEqual(error.attempts, 5)
        assert.strictEqual(error.cause.reason, "Transport")
        assert.strictEqual(accepted, 5)
        assert.isAtLeast(elapsed, 4 * 30)

        // Nothing listening at all (connection refused).
        sink.close()
        const refused = failureOf(
          yield* Effect.exit(
            collect(ReplayClient.follow(`http://127.0.0.1:${port}/scrollback/k`, { schedule: quick(2) }))
          )
        )
        assert.instanceOf(refused, ReplayClientError.ConnectionFailed)
        assert.strictEqual(refused.attempts, 3)
      }).pipe(Effect.provide(FetchHttpClient.layer)))

    it.effect("the default schedule: ×2 from 100 ms, jittered, capped at 5 s, 10 retries", () =>
      Effect.gen(function*() {
        const input = new ReplayClientError.Disconnected({ reason: "EndOfStream" })
        // The delays it would wait (the last output is the "done" step's).
        const delays = Chunk.toReadonlyArray(
          yield* Schedule.run(Schedule.delays(ReplayClient.defaultSchedule), 0, Array.from({ length: 20 }, () => input))
        ).slice(0, ReplayClient.DEFAULT_MAX_RETRIES).map(Duration.toMillis)
        delays.forEach((delay, i) => {
          const nominal = 100 * 2 ** i
          assert.isAtLeast(delay, Math.min(nominal * 0.8, 5000))
          assert.isAtMost(delay, Math.min(nominal * 1.2, 5000))
        })
        assert.strictEqual(delays[9], 5000)

        // How many retries it allows, driven on the TestClock.
        const driver = yield* Schedule.driver(ReplayClient.defaultSchedule)
        let retries = 0
        const fiber = yield* driver.next(input).pipe(
          Effect.zipRight(Effect.sync(() => retries++)),
          Effect.forever,
          Effect.option,
          Effect.fork
        )
        yield* TestClock.adjust("10 minutes")
        yield* Fiber.join(fiber)
        assert.strictEqual(retries, ReplayClient.DEFAULT_MAX_RETRIES)
      }))

    it.scopedLive("a stalled connection is dropped after idleTimeout and the client resumes", () =>
      Effect.gen(function*() {
        const server = yield* startServer()
        const buffer = yield* server.registry.create("k")
        const log = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff)
        yield* buffer.write(log)
        yield* buffer.end
        // The first connection stalls right after the response's first bytes; the others pass.
        const proxy = yield* FaultProxy.make({
          target: { port: server.port },
          seed: 2,
          plan: (index) => index === 0 ? { _tag: "Stall", afterBytes: 1 } : { _tag: "Pass" }
        })
        const bytes = yield* collect(ReplayClient.follow(proxy.url("/scrollback/k"), {
          idleTimeout: "300 millis",
          schedule: quick(3)
        }))
        assertSameBytes(bytes, log)
        assert.strictEqual(proxy.stats().stalls, 1)
        // node:http opens exactly one connection per attempt (undici's fetch may open a spare one).
        assert.strictEqual(proxy.stats().connections, 2)
      }).pipe(Effect.provide(NodeHttpClient.layer)))
  })
})
