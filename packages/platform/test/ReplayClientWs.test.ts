/**
 * `ReplayClient.followWs` / `framesWs` against real servers on 127.0.0.1:
 * `ReplayHttp` (the portable path, `Portable.serve` of
 * `@scrollback/http-test-kit`), and a scripted WebSocket server for what an
 * honest server never sends.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Socket from "@effect/platform/Socket"
import { assert, describe, it } from "@effect/vitest"
import { OffsetAhead, OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as ReplayRegistryError from "@scrollback/core/ReplayRegistryError"
import { Portable } from "@scrollback/http-test-kit"
import * as ReplayClient from "@scrollback/platform/ReplayClient"
import * as ReplayClientError from "@scrollback/platform/ReplayClientError"
import * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as ReplayHttpError from "@scrollback/platform/ReplayHttpError"
import * as ReplayProtocol from "@scrollback/platform/ReplayProtocol"
import type * as ReplayStream from "@scrollback/platform/ReplayStream"
import { Cause, Chunk, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Schedule, Scope, Stream } from "effect"
import * as http from "node:http"
import { concat } from "./util/bytes.js"
import * as FaultProxy from "./util/faultProxy.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (s: string) => encoder.encode(s)

/** The client's services: node:http for `/info`, the `ws` library's WebSocket. */
const Client = Layer.merge(NodeHttpClient.layer, NodeSocket.layerWebSocketConstructor)

const quick = (retries: number) => Schedule.spaced("5 millis").pipe(Schedule.intersect(Schedule.recurs(retries)))

const collect = <E, R>(stream: Stream.Stream<Uint8Array, E, R>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => concat(chunks))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a failure, got a success")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return assert.fail(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

const assertSameBytes = (actual: Uint8Array, expected: Uint8Array) => {
  const n = Math.min(actual.length, expected.length)
  let i = 0
  while (i < n && actual[i] === expected[i]) i++
  if (i === n && actual.length === expected.length) return
  assert.fail(`bytes differ at ${i}: got ${actual.length} bytes, expected ${expected.length}`)
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

/** A WebSocketConstructor that also reports the size of every message the client's sockets receive. */
const observed = (onMessage: (bytes: number) => void) =>
  Layer.effect(
    Socket.WebSocketConstructor,
    Effect.map(Socket.WebSocketConstructor, (make) => (url: string, protocols?: string | Array<string>) => {
      const ws = make(url, protocols)
      ws.addEventListener("message", (event: MessageEvent) => {
        const data: unknown = event.data
        onMessage(
          typeof data === "string"
            ? data.length
            : data instanceof ArrayBuffer
            ? data.byteLength
            : (data as Uint8Array).length
        )
      })
      return ws
    })
  ).pipe(Layer.provide(NodeSocket.layerWebSocketConstructor))

/** `ReplayHttp.serve()` on a given port (`Portable.serve` always picks port 0). */
const servePort = (port: number) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      ReplayHttp.serve().pipe(
        Layer.provide(ReplayHttp.layerAllowAll),
        Layer.provideMerge(ReplayRegistry.layer()),
        Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { port, host: "127.0.0.1" }))
      )
    ).pipe(Effect.orDie)
    const registry = Context.get(context, ReplayRegistry.ReplayRegistry)
    return {
      port,
      base: `http://127.0.0.1:${port}`,
      registry,
      create: (key: string) => Effect.orDie(registry.create(key))
    }
  })

type WsAction =
  | { readonly _tag: "Text"; readonly message: ReplayProtocol.WsServerMessage | string }
  | { readonly _tag: "Binary"; readonly offset: number; readonly bytes: string }
  | { readonly _tag: "Close"; readonly code: number; readonly reason?: string | undefined }
  | { readonly _tag: "Raw"; readonly bytes: Uint8Array }

const EPOCH = "00000000000000aa"
const hello = (offset: number, epoch = EPOCH): WsAction => ({
  _tag: "Text",
  message: { type: "hello", epoch, offset, oldest: 0, total: offset }
})
const binary = (offset: number, bytes: string): WsAction => ({ _tag: "Binary", offset, bytes })
const end: WsAction = { _tag: "Text", message: { type: "end", status: "ended" } }
const close = (code: number, reason?: string): WsAction => ({ _tag: "Close", code, reason })

/**
 * A WebSocket server on 127.0.0.1 whose n-th connection plays `scripts[n]`
 * (the last one repeats) and then waits for the client to go. It records
 * each request's URL.
 */
const scriptedWs = (scripts: ReadonlyArray<ReadonlyArray<WsAction>>) =>
  Effect.gen(function*() {
    const requests: Array<string> = []
    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      requests.push(request.url)
      const script = scripts[Math.min(requests.length, scripts.length) - 1]
      const socket = yield* request.upgrade
      const write = yield* socket.writer
      const play = Effect.forEach(script, (action) => {
        switch (action._tag) {
          case "Text":
            return write(
              typeof action.message === "string" ? action.message : ReplayProtocol.wsMessage(action.message)
            )
          case "Binary": {
            const bytes = text(action.bytes)
            return write(ReplayProtocol.wsFrame(action.offset, [bytes], bytes.length))
          }
          case "Close":
            return write(new Socket.CloseEvent(action.code, action.reason))
          case "Raw":
            return write(action.bytes)
        }
      }, { discard: true })
      yield* socket.runRaw(() => {}, { onOpen: Effect.ignore(play) }).pipe(Effect.ignore)
      return HttpServerResponse.empty()
    }).pipe(Effect.scoped, Effect.orDie)
    const context = yield* Layer.build(
      HttpServer.serve(app).pipe(
        Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { port: 0, host: "127.0.0.1" }))
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "TcpAddress" ? address.port : 0
    return { url: `http://127.0.0.1:${port}/scrollback/k`, requests }
  })

describe("ReplayClient over WebSocket", () => {
  it.scopedLive("replays then follows, and completes after the end message", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const buffer = yield* server.create("k")
      yield* buffer.write(text("hello "))
      const started = yield* Deferred.make<void>()
      const follower = yield* ReplayClient.followWs(`${server.base}/scrollback/k`).pipe(
        (stream) => signalAfter(stream, 6, started),
        collect,
        Effect.fork
      )
      yield* Deferred.await(started)
      yield* buffer.write(text("world"))
      yield* buffer.end
      assert.strictEqual(decoder.decode(yield* Fiber.join(follower)), "hello world")

      // A follower arriving after the end replays what is retained and completes; one at the end completes at once.
      assert.strictEqual(
        decoder.decode(yield* collect(ReplayClient.followWs(`${server.base}/scrollback/k`, { from: 3 }))),
        "lo world"
      )
      assert.strictEqual(
        (yield* collect(ReplayClient.followWs(`${server.base}/scrollback/k`, { from: "live" }))).length,
        0
      )
    }).pipe(Effect.provide(Client)))

  it.scopedLive("frames carry contiguous offsets; from a number, from \"live\" and from a saved position", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const buffer = yield* server.create("k")
      yield* buffer.write(text("abcdefg"))
      const url = `${server.base}/scrollback/k`
      const fromTwo = yield* ReplayClient.framesWs(url, { from: 2 }).pipe(Stream.runCollect, Effect.fork)
      const fromPosition = yield* ReplayClient.framesWs(url, { from: { epoch: buffer.epoch, offset: 4 } }).pipe(
        Stream.runCollect,
        Effect.fork
      )
      const started = yield* Deferred.make<void>()
      const live = yield* ReplayClient.framesWs(url, { from: "live" }).pipe(
        Stream.tap(() => Deferred.succeed(started, undefined)),
        Stream.runCollect,
        Effect.fork
      )
      // The producer writes until the live follower has seen something, then ends.
      yield* buffer.write(text("x")).pipe(
        Effect.zipRight(Effect.sleep("5 millis")),
        Effect.zipRight(Deferred.isDone(started)),
        Effect.repeat({ until: (done) => done })
      )
      yield* buffer.end
      const total = yield* buffer.total
      const all = (yield* buffer.readChunks(0, { maxBytes: 1 << 20 }).pipe(Effect.orDie)).chunks
      const log = concat(all)
      for (
        const [fiber, start] of [[fromTwo, 2], [fromPosition, 4], [live, undefined]] as const
      ) {
        const frames = Chunk.toReadonlyArray(yield* Fiber.join(fiber)) as ReadonlyArray<ReplayStream.Data>
        if (start === undefined) assert.isAtLeast(frames[0].offset, 7)
        else assert.strictEqual(frames[0].offset, start)
        let offset = frames[0].offset
        for (const frame of frames) {
          assert.strictEqual(frame._tag, "Data")
          assert.strictEqual(frame.offset, offset)
          assertSameBytes(frame.bytes, log.subarray(offset, offset + frame.bytes.length))
          offset += frame.bytes.length
        }
        assert.strictEqual(offset, total)
      }
    }).pipe(Effect.provide(Client)))

  it.scopedLive("a failed producer fails the stream with ProducerFailed and its exit code, live or at the end", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const buffer = yield* server.create("k")
      yield* buffer.write(text("oops"))
      const started = yield* Deferred.make<void>()
      const follower = yield* ReplayClient.followWs(`${server.base}/scrollback/k`).pipe(
        (stream) => signalAfter(stream, 4, started),
        Stream.runCollect,
        Effect.exit,
        Effect.fork
      )
      yield* Deferred.await(started)
      yield* buffer.fail(new ProducerFailed({ reason: "exited with code 3", exitCode: 3 }))
      const exits: ReadonlyArray<Exit.Exit<unknown, ReplayClientError.ReplayClientError>> = [
        yield* Fiber.join(follower),
        yield* Effect.exit(collect(ReplayClient.followWs(`${server.base}/scrollback/k`, { from: 4 })))
      ]
      for (const exit of exits) {
        const error = failureOf(exit)
        assert.instanceOf(error, ProducerFailed)
        assert.deepStrictEqual({ reason: error.reason, exitCode: error.exitCode }, {
          reason: "exited with code 3",
          exitCode: 3
        })
      }
    }).pipe(Effect.provide(Client)))

  it.scopedLive("a refused upgrade is explained by /info: BufferNotFound, HttpStatusError (401)", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const missing = failureOf(
        yield* Effect.exit(collect(ReplayClient.followWs(`${server.base}/scrollback/nope`, { schedule: quick(3) })))
      )
      assert.instanceOf(missing, ReplayRegistryError.BufferNotFound)
      assert.strictEqual(missing.key, "nope")

      const locked = yield* Portable.serve({
        authorization: { authorize: () => Effect.fail(new ReplayHttpError.Denied({ status: 401, message: "no" })) }
      })
      yield* locked.create("k")
      const denied = failureOf(
        yield* Effect.exit(collect(ReplayClient.followWs(`${locked.base}/scrollback/k`, { schedule: quick(3) })))
      )
      assert.instanceOf(denied, ReplayClientError.HttpStatusError)
      assert.strictEqual(denied.status, 401)
      assert.strictEqual(denied.url, `${locked.base}/scrollback/k/info`)
      assert.include(denied.body, "Denied")
    }).pipe(Effect.provide(Client)))

  it.scopedLive("4410 at the start: fail → OffsetEvicted; clamp → a Gap frame, onGap, then the rest", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const buffer = yield* server.create("k", 16)
      const log = Uint8Array.from({ length: 40 }, (_, i) => i)
      yield* buffer.write(log)
      yield* buffer.end
      const url = `${server.base}/scrollback/k`

      const error = failureOf(yield* Effect.exit(collect(ReplayClient.followWs(url, { from: 0 }))))
      assert.instanceOf(error, OffsetEvicted)
      assert.deepStrictEqual({ requested: error.requested, oldest: error.oldest }, { requested: 0, oldest: 24 })

      // framesWs honours onGap too: it runs before the bytes after the gap.
      const seen: Array<string> = []
      const frames = Chunk.toReadonlyArray(
        yield* ReplayClient.framesWs(url, {
          from: 5,
          onEvicted: "clamp",
          onGap: (gap) => Effect.sync(() => seen.push(`gap ${gap.requested}..${gap.oldest}`))
        }).pipe(
          Stream.tap((frame) => Effect.sync(() => seen.push(frame._tag))),
          Stream.runCollect
        )
      )
      assert.deepStrictEqual(frames[0], { _tag: "Gap", requested: 5, oldest: 24 })
      assert.deepStrictEqual(seen.slice(0, 3), ["gap 5..24", "Gap", "Data"])
      assertSameBytes(
        concat((frames.slice(1) as ReadonlyArray<ReplayStream.Data>).map((f) => f.bytes)),
        log.subarray(24)
      )
    }).pipe(Effect.provide(Client)))

  it.scopedLive("evicted while disconnected: the resume gets 4410 (fail → OffsetEvicted) or a gap (clamp)", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const run = (policy: ReplayStream.OnEvicted) =>
        Effect.scoped(Effect.gen(function*() {
          const key = `k-${policy}`
          const buffer = yield* server.create(key, 16)
          const proxy = yield* FaultProxy.make({
            target: { port: server.port },
            seed: 1,
            plan: () => ({ _tag: "Pass" })
          })
          yield* buffer.write(text("0123456789"))
          const started = yield* Deferred.make<void>()
          const follower = yield* ReplayClient.framesWs(proxy.url(`/scrollback/${key}`), {
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
          return yield* Fiber.join(follower)
        }))

      const error = failureOf(yield* run("fail"))
      assert.instanceOf(error, OffsetEvicted)
      assert.deepStrictEqual({ requested: error.requested, oldest: error.oldest }, { requested: 10, oldest: 24 })

      const clamped = yield* run("clamp")
      assert.isTrue(Exit.isSuccess(clamped))
      if (Exit.isSuccess(clamped)) {
        const frames = Chunk.toReadonlyArray(clamped.value)
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
    }).pipe(Effect.provide(Client)))

  it.scopedLive("4409: a restarted server (new epoch, same port) → EpochChanged; a position past the total → OffsetAhead", () =>
    Effect.gen(function*() {
      const firstScope = yield* Scope.make()
      const first = yield* Portable.serve().pipe(Scope.extend(firstScope))
      const buffer = yield* first.create("k")
      yield* buffer.write(text("first incarnation"))
      const url = `${first.base}/scrollback/k`

      // Past the total, same epoch: the server refuses it (4409); /info says it is ahead.
      const ahead = failureOf(
        yield* Effect.exit(collect(ReplayClient.followWs(url, { from: { epoch: buffer.epoch, offset: 20 } })))
      )
      assert.instanceOf(ahead, OffsetAhead)
      assert.deepStrictEqual({ requested: ahead.requested, total: ahead.total }, { requested: 20, total: 17 })

      const started = yield* Deferred.make<void>()
      const follower = yield* ReplayClient.followWs(url, { schedule: quick(400) }).pipe(
        (stream) => signalAfter(stream, 17, started),
        Stream.runCollect,
        Effect.exit,
        Effect.fork
      )
      yield* Deferred.await(started)
      // Shut down (the session closes with 1001), and come back on the same port with a new incarnation.
      yield* Scope.close(firstScope, Exit.void)
      const second = yield* servePort(first.port)
      const reborn = yield* second.create("k")
      yield* reborn.write(text("second incarnation"))

      const error = failureOf(yield* Fiber.join(follower))
      assert.instanceOf(error, ReplayClientError.EpochChanged)
      assert.deepStrictEqual({ expected: error.expected, actual: error.actual }, {
        expected: buffer.epoch,
        actual: reborn.epoch
      })
    }).pipe(Effect.provide(Client)))

  it.scopedLive("a consumer slower than the socket: dropped past maxBufferedBytes, resumed, each byte once", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const buffer = yield* server.create("k", 1024 * 1024)
      const first = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff)
      yield* buffer.write(first)
      let received = 0
      const enough = yield* Deferred.make<void>()
      const LIVE = 80
      const layer = observed((bytes) => {
        received += bytes
        if (received > LIVE * 4096) Deferred.unsafeDone(enough, Exit.void)
      })
      const inputs: Array<ReplayClientError.Disconnected> = []
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      let blocked = false
      const follower = yield* ReplayClient.followWs(`${server.base}/scrollback/k`, {
        maxBufferedBytes: 64 * 1024,
        schedule: quick(5).pipe(
          Schedule.tapInput((input: ReplayClientError.Disconnected) => Effect.sync(() => inputs.push(input)))
        )
      }).pipe(
        // The consumer stops at its first chunk until the socket has received far more than the bound.
        Stream.mapChunksEffect((chunk) => {
          if (blocked) return Effect.succeed(chunk)
          blocked = true
          return Deferred.succeed(started, undefined).pipe(Effect.zipRight(Deferred.await(release)), Effect.as(chunk))
        }),
        collect,
        Effect.provide(Layer.merge(NodeHttpClient.layer, layer)),
        Effect.fork
      )
      yield* Deferred.await(started)
      const live = Array.from({ length: LIVE }, (_, n) => Uint8Array.from({ length: 4096 }, (_, i) => (n + i) & 0xff))
      yield* Effect.forEach(live, (chunk) => buffer.write(chunk), { discard: true })
      yield* Deferred.await(enough)
      yield* Deferred.succeed(release, undefined)
      yield* buffer.end
      assertSameBytes(yield* Fiber.join(follower), concat([first, ...live]))
      assert.isTrue(inputs.some((input) => input.reason === "SlowConsumer"), JSON.stringify(inputs))
    }))

  it.scopedLive("a connection gone silent is dropped after idleTimeout and resumed; a quiet one lives on pings", () =>
    Effect.gen(function*() {
      // The server pings after 100 ms of silence: a healthy connection is never idle for the client's 3 s.
      const server = yield* Portable.serve({ http: { keepAlive: "100 millis" } })
      const buffer = yield* server.create("k")
      const first = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff)
      yield* buffer.write(first)
      // The first connection stalls right after its first bytes (nothing more reaches the client, no close).
      const proxy = yield* FaultProxy.make({
        target: { port: server.port },
        seed: 4,
        plan: (index) => index === 0 ? { _tag: "Stall", afterBytes: 1 } : { _tag: "Pass" }
      })
      const inputs: Array<ReplayClientError.Disconnected> = []
      const received = yield* Deferred.make<void>()
      const follower = yield* ReplayClient.followWs(proxy.url("/scrollback/k"), {
        idleTimeout: "3 seconds",
        schedule: quick(3).pipe(
          Schedule.tapInput((input: ReplayClientError.Disconnected) => Effect.sync(() => inputs.push(input)))
        )
      }).pipe((stream) => signalAfter(stream, first.length, received), collect, Effect.fork)
      yield* Deferred.await(received)
      // Longer than the idle timeout with nothing written: only the server's pings keep the connection.
      yield* Effect.sleep("4 seconds")
      const last = text("after the quiet")
      yield* buffer.write(last)
      yield* buffer.end
      assertSameBytes(yield* Fiber.join(follower), concat([first, last]))
      assert.deepStrictEqual(inputs.map((input) => input.reason), ["IdleTimeout"])
      assert.strictEqual(proxy.stats().stalls, 1)
      assert.strictEqual(proxy.stats().connections, 2)
    }).pipe(Effect.provide(Client)))

  it.scopedLive("interrupting the stream closes its WebSocket", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const buffer = yield* server.create("k")
      yield* buffer.write(text("first"))
      const proxy = yield* FaultProxy.make({ target: { port: server.port }, seed: 3, plan: () => ({ _tag: "Pass" }) })
      for (const client of [NodeHttpClient.layer, FetchHttpClient.layer]) {
        const bytes = yield* ReplayClient.followWs(proxy.url("/scrollback/k")).pipe(
          Stream.take(1),
          collect,
          Effect.provide(Layer.merge(client, NodeSocket.layerWebSocketConstructor))
        )
        assert.strictEqual(decoder.decode(bytes), "first")
        // The buffer has not ended, so only the client's close can end the connection.
        yield* proxy.whenIdle.pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "still open" }))
      }
      assert.strictEqual(proxy.stats().connections, 2)
    }))

  describe("protocol", () => {
    it.scopedLive("resumes with ?offset=&epoch= after 4429 and 1001 closes", () =>
      Effect.gen(function*() {
        const server = yield* scriptedWs([
          [hello(0), binary(0, "abc"), close(4429, "slow consumer")],
          [hello(3), binary(3, "d"), close(1001, "server shutdown")],
          [hello(4), binary(4, "e"), end]
        ])
        const bytes = yield* collect(ReplayClient.followWs(server.url, { schedule: quick(3) }))
        assert.strictEqual(decoder.decode(bytes), "abcde")
        assert.deepStrictEqual(server.requests, [
          "/scrollback/k/ws?onEvicted=fail",
          `/scrollback/k/ws?offset=3&epoch=${EPOCH}&onEvicted=fail`,
          `/scrollback/k/ws?offset=4&epoch=${EPOCH}&onEvicted=fail`
        ])
      }).pipe(Effect.provide(Client)))

    const cases: ReadonlyArray<readonly [string, ReadonlyArray<WsAction>, string]> = [
      ["bytes that do not continue the log", [hello(0), binary(0, "abc"), binary(5, "x")], "do not continue"],
      ["bytes before the hello", [binary(0, "abc")], "before the hello"],
      [
        "a binary message without its offset",
        [hello(0), { _tag: "Raw", bytes: Uint8Array.of(1, 2, 3) }],
        "8-byte offset"
      ],
      [
        "a text message that is not the protocol's",
        [hello(0), { _tag: "Text", message: "{\"type\":\"pong\"}" }],
        "malformed message"
      ],
      ["a close 1008", [hello(0), close(1008, "clients send no messages")], "1008"]
    ]
    for (const [name, script, reason] of cases) {
      it.scopedLive(`ProtocolError: ${name}`, () =>
        Effect.gen(function*() {
          const server = yield* scriptedWs([script])
          const error = failureOf(
            yield* Effect.exit(collect(ReplayClient.followWs(server.url, { schedule: quick(3) })))
          )
          assert.instanceOf(error, ReplayClientError.ProtocolError)
          assert.include(error.reason, reason)
        }).pipe(Effect.provide(Client)))
    }

    it.scopedLive("a close 4400 → HttpStatusError; a hello that closes at once is no progress → ConnectionFailed", () =>
      Effect.gen(function*() {
        const bad = yield* scriptedWs([[close(4400, "bad offset: not a number")]])
        const error = failureOf(yield* Effect.exit(collect(ReplayClient.followWs(bad.url, { schedule: quick(3) }))))
        assert.instanceOf(error, ReplayClientError.HttpStatusError)
        assert.deepStrictEqual({ status: error.status, body: error.body }, {
          status: 400,
          body: "bad offset: not a number"
        })

        const flaky = yield* scriptedWs([[hello(0), close(1000, "bye")]])
        const failed = failureOf(yield* Effect.exit(collect(ReplayClient.followWs(flaky.url, { schedule: quick(3) }))))
        assert.instanceOf(failed, ReplayClientError.ConnectionFailed)
        assert.strictEqual(failed.attempts, 4)
        assert.deepStrictEqual({ reason: failed.cause.reason, code: failed.cause.code }, {
          reason: "EndOfStream",
          code: 1000
        })
        assert.strictEqual(flaky.requests.length, 4)
      }).pipe(Effect.provide(Client)))
  })
})
