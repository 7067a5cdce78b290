import * as Sse from "@effect/experimental/Sse"
import { assert, describe, it } from "@effect/vitest"
import { ReplayBufferError, ReplayRegistryError } from "@scrollback/core"
import { ReplayHttpError, ReplayProtocol } from "@scrollback/platform"
import { Effect, Either, Exit, FastCheck as fc, Schema } from "effect"
import { base64Length, makeSseParser, writeBase64 } from "../src/internal/sse.js"

const epochArb = fc.stringMatching(/^[0-9a-f]{16}$/)
const offsetArb = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })

describe("ReplayProtocol", () => {
  it.prop("positions round-trip through EPOCH:OFFSET", [epochArb, offsetArb], ([epoch, offset]) => {
    const text = ReplayProtocol.formatPosition({ epoch, offset })
    assert.deepStrictEqual(Either.getOrThrow(ReplayProtocol.parsePosition(text)), { epoch, offset })
  })

  it.effect("malformed positions are refused", () =>
    Effect.sync(() => {
      for (
        const text of [
          "",
          "x",
          "x:5",
          "0123456789abcdef",
          "0123456789abcdef:",
          "0123456789abcdef:-1",
          "0123456789abcdef:01",
          "0123456789abcdef:1e3",
          "0123456789ABCDEF:5",
          "0123456789abcdef:9007199254740992",
          "0123456789abcdef:5:6"
        ]
      ) {
        assert.isTrue(Either.isLeft(ReplayProtocol.parsePosition(text)), text)
      }
    }))

  it.effect("queries: decimal integers only, onEvicted defaults to clamp", () =>
    Effect.gen(function*() {
      const decode = Schema.decodeUnknownEither(ReplayProtocol.GetQuery)
      assert.deepStrictEqual(Either.getOrThrow(decode({ offset: "-5", limit: "10" })), {
        offset: -5,
        limit: 10,
        onEvicted: "clamp"
      })
      for (
        const bad of [
          { offset: "1e3" },
          { offset: " 1" },
          { offset: "0x10" },
          { limit: "0" },
          { wait: "-1" },
          {
            onEvicted: "skip"
          },
          { epoch: "ABC" },
          { offset: "99999999999999999999" }
        ]
      ) {
        assert.isTrue(Either.isLeft(decode(bad)), JSON.stringify(bad))
      }
    }))

  it.effect("every wire error round-trips through the error body, with its status", () =>
    Effect.gen(function*() {
      const errors: Array<[ReplayProtocol.WireError, number]> = [
        [new ReplayHttpError.BadRequest({ name: "offset", reason: "not an integer" }), 400],
        [new ReplayHttpError.Denied({ status: 401, message: "no token" }), 401],
        [new ReplayHttpError.OriginNotAllowed({ origin: "https://evil.example" }), 403],
        [new ReplayHttpError.NotFound({ path: "/x" }), 404],
        [new ReplayHttpError.MethodNotAllowed({ method: "POST" }), 405],
        [new ReplayHttpError.LimitTooLarge({ limit: 9, max: 8 }), 413],
        [new ReplayHttpError.TooManyConnections({ scope: "buffer", limit: 3 }), 429],
        [new ReplayHttpError.TooManyConnections({ scope: "server", limit: 3 }), 503],
        [new ReplayRegistryError.BufferNotFound({ key: "k" }), 404],
        [new ReplayRegistryError.InvalidKey({ key: "..", reason: "dots" }), 400],
        [new ReplayBufferError.EpochMismatch({ expected: "a", actual: "b" }), 409],
        [new ReplayBufferError.OffsetAhead({ requested: 9, total: 4 }), 409],
        [new ReplayBufferError.OffsetEvicted({ requested: 1, oldest: 4 }), 410],
        [new ReplayBufferError.StorageUnavailable({ reason: "down" }), 503]
      ]
      const codec = Schema.parseJson(ReplayProtocol.ErrorBody)
      for (const [error, status] of errors) {
        const json = Schema.encodeSync(codec)({ error, message: error.message })
        const decoded = Schema.decodeUnknownSync(codec)(json)
        assert.deepStrictEqual(decoded.error, error)
        assert.strictEqual(decoded.message, error.message)
        assert.strictEqual(ReplayProtocol.statusOf(error), status)
        assert.strictEqual(ReplayProtocol.closeCodeOf(error), 4000 + status)
      }
    }))

  it.prop(
    "a WebSocket frame carries its offset exactly, past 2^32 too",
    [offsetArb, fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 4 })],
    ([offset, views]) => {
      const length = views.reduce((n, v) => n + v.length, 0)
      const read = ReplayProtocol.readWsFrame(ReplayProtocol.wsFrame(offset, views, length))
      assert.strictEqual(read?.offset, offset)
      assert.deepStrictEqual(Array.from(read!.bytes), views.flatMap((v) => Array.from(v)))
    }
  )

  it.prop(
    "base64 across views, with the runtime's encoder and with the loop, is the base64 of their concatenation",
    [fc.array(fc.tuple(fc.nat({ max: 1200 }), fc.nat({ max: 5 }), fc.integer()), { maxLength: 6 }), fc.nat({ max: 7 })],
    ([parts, at]) => {
      // Views at odd offsets into larger arrays, as the buffer's segments hand them out; every byte differs
      // from its neighbours, so a misplaced run cannot encode the same.
      const views = parts.map(([length, skip, seed]) => {
        const host = new Uint8Array(skip + length + 3).map((_, i) => (Math.imul(i + seed, 2654435761) >>> 24) & 0xff)
        return host.subarray(skip, skip + length)
      })
      const length = views.reduce((n, v) => n + v.length, 0)
      const expected = Buffer.concat(views).toString("base64")
      for (const runtime of [undefined, Buffer]) {
        const out = new Uint8Array(at + base64Length(length) + 5).fill(33)
        const end = writeBase64(views, out.subarray(at), 0, runtime)
        assert.strictEqual(end, expected.length)
        assert.strictEqual(new TextDecoder().decode(out.subarray(at, at + end)), expected)
        assert.isTrue(out.subarray(0, at).every((b) => b === 33) && out.subarray(at + end).every((b) => b === 33))
      }
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "a data step becomes events of at most 48 KiB whose ids and bytes add up to the step",
    [epochArb, fc.integer({ min: 0, max: 1e12 }), fc.array(fc.nat({ max: 70_000 }), { minLength: 1, maxLength: 5 })],
    ([epoch, offset, lengths]) => {
      let seed = offset % 251
      const chunks = lengths.map((length) => new Uint8Array(length).map(() => (seed = (seed * 31 + 7) % 256)))
      const total = lengths.reduce((n, l) => n + l, 0)
      const bytes = ReplayProtocol.sseDataEvents(epoch, {
        _tag: "Data",
        offset,
        next: offset + total,
        chunks,
        total: offset + total
      })
      const events = makeSseParser().feed(new TextDecoder().decode(bytes))
      let position = offset
      const received: Array<Buffer> = []
      for (const event of events) {
        const data = Buffer.from(event.data, "base64")
        assert.isTrue(data.length > 0 && data.length <= ReplayProtocol.MAX_EVENT_BYTES)
        position += data.length
        assert.strictEqual(event.id, `${epoch}:${position}`)
        received.push(data)
      }
      assert.strictEqual(position, offset + total)
      assert.isTrue(Buffer.concat(received).equals(Buffer.concat(chunks)))
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "SSE data and control events parse back to their ids and payloads",
    [epochArb, fc.integer({ min: 0, max: 1e12 }), fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 })],
    ([epoch, offset, views]) => {
      const length = views.reduce((n, v) => n + v.length, 0)
      const parser = makeSseParser()
      const hello = { epoch, offset, oldest: 0, total: offset + length }
      const text = new TextDecoder().decode(
        new Uint8Array([
          ...ReplayProtocol.sseHello(hello, 1000),
          ...ReplayProtocol.sseData(epoch, offset + length, views, length),
          ...ReplayProtocol.sseEnd(epoch, offset + length, { status: "failed", reason: "x", exitCode: 2 })
        ])
      )
      const events = parser.feed(text)
      assert.strictEqual(events.length, 3)
      assert.deepStrictEqual(Schema.decodeUnknownSync(Schema.parseJson(ReplayProtocol.Hello))(events[0].data), hello)
      assert.strictEqual(events[0].retry, 1000)
      assert.strictEqual(events[1].id, `${epoch}:${offset + length}`)
      assert.deepStrictEqual(
        Array.from(Buffer.from(events[1].data, "base64")),
        views.flatMap((v) => Array.from(v))
      )
      assert.strictEqual(events[2].event, "end")
      assert.deepStrictEqual(JSON.parse(events[2].data), { status: "failed", reason: "x", exitCode: 2 })
    }
  )

  it.prop(
    "the SSE hello's and end's JSON are the schema's encoding, byte for byte; an invalid hello is refused by the schema",
    [epochArb, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.nat(), fc.nat()],
    ([epoch, offset, oldest, total]) => {
      const hello = { epoch, offset, oldest, total }
      const event = "retry: 1000\n" + Sse.encoder.write({
        _tag: "Event",
        event: "hello",
        id: `${epoch}:${offset}`,
        data: Schema.encodeSync(Schema.parseJson(ReplayProtocol.Hello))(hello)
      })
      assert.strictEqual(new TextDecoder().decode(ReplayProtocol.sseHello(hello, 1000)), event)
      assert.strictEqual(
        new TextDecoder().decode(ReplayProtocol.sseEnd(epoch, total, { status: "ended" })),
        Sse.encoder.write({
          _tag: "Event",
          event: "end",
          id: `${epoch}:${total}`,
          data: Schema.encodeSync(Schema.parseJson(ReplayProtocol.End))({ status: "ended" })
        })
      )
      assert.throws(() => ReplayProtocol.sseHello({ ...hello, total: -1 - total }, 1000))
      assert.throws(() => ReplayProtocol.sseHello({ ...hello, oldest: oldest + 0.5 }, 1000))
    }
  )

  it.effect("the end message of an Exit", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(ReplayProtocol.endOf(Exit.void), { status: "ended" })
      assert.deepStrictEqual(
        ReplayProtocol.endOf(Exit.fail(new ReplayBufferError.ProducerFailed({ reason: "boom", exitCode: 3 }))),
        { status: "failed", reason: "boom", exitCode: 3 }
      )
    }))

  describe("interactive sessions", () => {
    it.effect("client messages: the four types decode; anything else is refused", () =>
      Effect.sync(() => {
        const good: ReadonlyArray<ReplayProtocol.WsClientMessage> = [
          { type: "input", data: "ls -la\r" },
          { type: "input", data: "" },
          { type: "resize", cols: 1, rows: 1 },
          { type: "resize", cols: 2048, rows: 1024 },
          { type: "takeover" },
          { type: "release" }
        ]
        for (const message of good) {
          assert.deepStrictEqual(
            Either.getOrThrow(ReplayProtocol.decodeWsClientMessage(JSON.stringify(message))),
            message
          )
        }
        // Extra fields are dropped, not passed on.
        assert.deepStrictEqual(
          Either.getOrThrow(ReplayProtocol.decodeWsClientMessage("{\"type\":\"takeover\",\"key\":\"other\"}")),
          { type: "takeover" }
        )
        for (
          const text of [
            "",
            "{",
            "null",
            "[]",
            "\"input\"",
            "{}",
            "{\"type\":\"INPUT\",\"data\":\"x\"}",
            "{\"type\":\"input\"}",
            "{\"type\":\"input\",\"data\":5}",
            "{\"type\":\"resize\",\"cols\":0,\"rows\":10}",
            "{\"type\":\"resize\",\"cols\":2049,\"rows\":10}",
            "{\"type\":\"resize\",\"cols\":80,\"rows\":1025}",
            "{\"type\":\"resize\",\"cols\":80.5,\"rows\":24}",
            "{\"type\":\"resize\",\"cols\":\"80\",\"rows\":24}",
            "{\"type\":\"shutdown\"}"
          ]
        ) {
          assert.isTrue(Either.isLeft(ReplayProtocol.decodeWsClientMessage(text)), text)
        }
      }))

    it.effect("terminal messages encode as the documented JSON", () =>
      Effect.sync(() => {
        assert.strictEqual(
          ReplayProtocol.wsTerminalMessage({ type: "terminal", offset: 7, cols: 80, rows: 24, unicode: "11" }),
          "{\"type\":\"terminal\",\"offset\":7,\"cols\":80,\"rows\":24,\"unicode\":\"11\"}"
        )
        assert.strictEqual(
          ReplayProtocol.wsTerminalMessage({ type: "resize", offset: 9, cols: 100, rows: 30 }),
          "{\"type\":\"resize\",\"offset\":9,\"cols\":100,\"rows\":30}"
        )
        assert.deepStrictEqual(
          JSON.parse(ReplayProtocol.wsTerminalMessage({
            type: "rejected",
            request: "input",
            reason: "NotController",
            message: "another client controls the terminal"
          })),
          {
            type: "rejected",
            request: "input",
            reason: "NotController",
            message: "another client controls the terminal"
          }
        )
        assert.strictEqual(ReplayProtocol.statusOf(new ReplayHttpError.HostNotAllowed({ host: "x" })), 403)
        assert.deepStrictEqual(Schema.decodeSync(ReplayProtocol.ReadQuery)({ terminal: "1", takeover: "0" }), {
          onEvicted: "clamp",
          terminal: true,
          takeover: false
        })
        assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(ReplayProtocol.ReadQuery)({ terminal: "yes" })))
      }))
  })
})
