/**
 * Hostile requests on raw sockets: methods, paths (percent-encodings, dot
 * segments, very long ones), queries (offsets, epochs, policies, limits,
 * waits, repeats), headers (malformed `Last-Event-ID`, `Origin`, every
 * WebSocket handshake variant, huge and invalid ones) and HTTP versions. A
 * server must answer each (or close it) within a bound, never with a `5xx`
 * but the documented `503`s, with a JSON error whose `_tag` fits its status
 * — only a request Node's own parser rejects may get Node's bare answer —
 * and must serve normally afterwards. `differential` sends the same requests
 * to two servers and compares their statuses and tags.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ReplayHttpError from "@scrollback/platform/ReplayHttpError"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import { bytes, concat, equal, pattern } from "./bytes.js"
import { eventually, type RawAnswer, rawRequest } from "./http.js"
import type { Serve, ServeOptions, TestServer } from "./server.js"
import { collectSse, sse } from "./sse.js"
import { collectWs, stockWs } from "./ws.js"

/** A part of a request, and whether it makes the request malformed at the HTTP level (Node's parser refuses it). */
interface Part<A> {
  readonly value: A
  readonly malformed: boolean
}

const ok = <A>(value: A): Part<A> => ({ value, malformed: false })
const bad = <A>(value: A): Part<A> => ({ value, malformed: true })

/** What varies with the server: its port, prefix and the epoch of the buffers. */
export interface Context {
  readonly port: number
  readonly prefix: string
  readonly epoch: string
}

type Render = (context: Context) => string

/** A generated request: its rendering, and whether Node's parser may refuse it. */
export interface HostileRequest {
  readonly method: string
  readonly render: Render
  readonly malformed: boolean
  readonly describe: Render
}

const otherEpoch = (epoch: string) => epoch === "0123456789abcdef" ? "fedcba9876543210" : "0123456789abcdef"

const methodArb: fc.Arbitrary<Part<string>> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(ok("GET")) },
  {
    weight: 4,
    arbitrary: fc.constantFrom("HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "PROPFIND", "M-SEARCH")
      .map(ok)
  },
  { weight: 1, arbitrary: fc.constantFrom("get", "G ET", "GET\t", "XYZZY", "G".repeat(300), "").map(bad) }
)

const prefixArb: fc.Arbitrary<Part<Render>> = fc.oneof(
  { weight: 10, arbitrary: fc.constant(ok((c: Context) => c.prefix)) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      (c: Context) => c.prefix.toUpperCase(),
      (c: Context) => `/${c.prefix}`,
      (c: Context) => `${c.prefix}/`,
      (c: Context) => c.prefix.replace("b", "%62"),
      (c: Context) => `${c.prefix}/..`,
      (c: Context) => `${c.prefix}/.`,
      () => "",
      () => "/other",
      () => "/%2e%2e"
    ).map(ok)
  },
  { weight: 1, arbitrary: fc.constantFrom(() => "/scroll back", () => "/scrollbäck", () => "/a\u0000b").map(bad) }
)

const keyArb: fc.Arbitrary<Part<string>> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("k", "e").map(ok) },
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      "missing",
      "%6B",
      "%256B",
      "..",
      "%2e%2e",
      ".",
      "%2E",
      "a%2Fb",
      "k%00",
      "%ZZ",
      "%",
      "k%",
      "A".repeat(128),
      "A".repeat(129),
      "%C3%BC",
      "k;x",
      "k,y",
      "k@x",
      "k~-._",
      "k%20",
      "k+",
      "",
      "k:1",
      "%FF",
      "K".repeat(3000)
    ).map(ok)
  },
  { weight: 1, arbitrary: fc.constantFrom("k y", "ké", "k\u007f", "k\u0001").map(bad) }
)

const tailArb: fc.Arbitrary<Part<string>> = fc.constantFrom(
  "",
  "/",
  "/sse",
  "/sse",
  "/sse",
  "/ws",
  "/ws",
  "/info",
  "/info",
  "/sse/",
  "/SSE",
  "/%73se",
  "/sse/extra",
  "/./sse",
  "/../k/sse",
  "/ws/",
  "/info/x",
  "//sse",
  "/sse?",
  "/sse#frag"
).map(ok)

const paramArb: fc.Arbitrary<Part<Render>> = fc.oneof(
  fc.constantFrom(
    "offset=0",
    "offset=5",
    "offset=150",
    "offset=190",
    "offset=200",
    "offset=-5",
    "offset=99999999999999999999",
    "offset=1e3",
    "offset=1.5",
    "offset=abc",
    "offset=",
    "offset=0x10",
    "offset=%2B5",
    "offset=%31%32",
    "offset=9007199254740993",
    "onEvicted=clamp",
    "onEvicted=fail",
    "offset=5&onEvicted=fail",
    "offset=140&onEvicted=fail",
    "onEvicted=CLAMP",
    "onEvicted=",
    "limit=1",
    "limit=10",
    "limit=0",
    "limit=8388608",
    "limit=8388609",
    "limit=abc",
    "limit=-1",
    "wait=0",
    "wait=5",
    "wait=-1",
    "wait=abc",
    "wait=99999999999",
    "wait=1.5",
    "epoch=",
    "epoch=ABCDEF0123456789",
    "epoch=0123",
    "epoch=zzzzzzzzzzzzzzzz",
    "a=b",
    "=",
    "&&",
    "%ZZ=1",
    "offset"
  ).map((param) => ok((_: Context) => param)),
  fc.constantFrom(
    (c: Context) => `epoch=${c.epoch}`,
    (c: Context) => `epoch=${otherEpoch(c.epoch)}`
  ).map(ok)
)

/** Parameters that are long (still within Node's 16 KiB head) or too long. */
const heavyParamArb: fc.Arbitrary<Part<Render>> = fc.oneof(
  fc.constant(ok((_: Context) => `x=${"y".repeat(4000)}`)),
  fc.constant(bad((_: Context) => `x=${"y".repeat(20_000)}`))
)

type Header = Part<(c: Context) => ReadonlyArray<[string, string]>>

const h = (name: string, value: string | ((c: Context) => string)): Header =>
  ok((c: Context) => [[name, typeof value === "string" ? value : value(c)]])

const headerArb: fc.Arbitrary<Header> = fc.oneof(
  // Last-Event-ID: resume positions of this buffer and others, and malformed ones.
  fc.constantFrom(
    h("Last-Event-ID", (c) => `${c.epoch}:0`),
    h("Last-Event-ID", (c) => `${c.epoch}:150`),
    h("Last-Event-ID", (c) => `${c.epoch}:200`),
    h("Last-Event-ID", (c) => `${c.epoch}:201`),
    h("Last-Event-ID", (c) => `${c.epoch}:-1`),
    h("Last-Event-ID", (c) => `${c.epoch}:1.5`),
    h("Last-Event-ID", (c) => `${otherEpoch(c.epoch)}:5`),
    h("Last-Event-ID", "x:5"),
    h("Last-Event-ID", "abc"),
    h("Last-Event-ID", ":"),
    h("Last-Event-ID", ""),
    h("Last-Event-ID", "Ö:1"),
    ok((c: Context) => [["Last-Event-ID", `${c.epoch}:1`], ["Last-Event-ID", `${c.epoch}:2`]])
  ),
  // Origin.
  fc.constantFrom(
    h("Origin", (c) => `http://127.0.0.1:${c.port}`),
    h("Origin", "https://evil.example"),
    h("Origin", "null"),
    h("Origin", ""),
    h("Origin", "not a url"),
    h("Origin", (c) => `http://127.0.0.1:${c.port}/path`)
  ),
  // The WebSocket handshake, whole and in pieces.
  fc.constantFrom(
    ok((_: Context): ReadonlyArray<[string, string]> => [
      ["Connection", "Upgrade"],
      ["Upgrade", "websocket"],
      ["Sec-WebSocket-Version", "13"],
      ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="]
    ]),
    ok((_: Context): ReadonlyArray<[string, string]> => [
      ["Connection", "keep-alive, Upgrade"],
      ["Upgrade", "WebSocket"],
      ["Sec-WebSocket-Version", "8"],
      ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="]
    ]),
    h("Connection", "Upgrade"),
    h("Connection", "close"),
    h("Upgrade", "websocket"),
    h("Upgrade", "h2c"),
    h("Upgrade", "websocket, foo"),
    h("Sec-WebSocket-Key", "short"),
    h("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    h("Sec-WebSocket-Version", "12"),
    h("Sec-WebSocket-Version", "13"),
    h("Sec-WebSocket-Protocol", "a b"),
    h("Sec-WebSocket-Protocol", "chat"),
    h("Sec-WebSocket-Extensions", "permessage-deflate; garbage=")
  ),
  // Everything else.
  fc.constantFrom(
    h("Accept", "text/event-stream"),
    h("Authorization", "Bearer nothing"),
    h("X-Deny", "yes"),
    h("Cookie", "a=b"),
    ok((_: Context) => Array.from({ length: 100 }, (_, i) => [`x-h${i}`, "v"] as [string, string])),
    bad((_: Context) => [["Bad Name", "x"]]),
    bad((_: Context) => [["X-Ctl", "a\u0001b"]]),
    bad((_: Context) => [["Transfer-Encoding", "chunked"], ["Content-Length", "3"]])
  )
)

/** Headers that are long (within the 16 KiB head) or too long. */
const heavyHeaderArb: fc.Arbitrary<Header> = fc.constantFrom(
  h("Last-Event-ID", `${"1".repeat(5000)}`),
  h("X-Long", "v".repeat(8000)),
  bad((_: Context) => [["X-Huge", "v".repeat(20_000)]])
)

const handshake: Header = ok((_: Context): ReadonlyArray<[string, string]> => [
  ["Connection", "Upgrade"],
  ["Upgrade", "websocket"],
  ["Sec-WebSocket-Version", "13"],
  ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="]
])

interface Shape {
  readonly method: Part<string>
  readonly prefix: Part<Render>
  readonly key: Part<string>
  readonly tail: Part<string>
  readonly params: ReadonlyArray<Part<Render>>
  readonly headers: ReadonlyArray<Header>
  readonly version: Part<string>
  readonly host: boolean
  readonly body: string | undefined
}

/** Mostly well-formed requests to the real endpoints (so every answer is reached), with a few mutations. */
const nearValidArb: fc.Arbitrary<Shape> = fc.record({
  method: fc.oneof({ weight: 10, arbitrary: fc.constant(ok("GET")) }, { weight: 1, arbitrary: methodArb }),
  prefix: fc.constant(ok((c: Context) => c.prefix)),
  key: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom("k", "e").map(ok) },
    { weight: 1, arbitrary: fc.constantFrom("missing", "%6B", "bad%20key", "..").map(ok) }
  ),
  tail: fc.constantFrom("", "/sse", "/ws", "/info").map(ok),
  params: fc.array(paramArb, { maxLength: 3 }),
  headers: fc.array(headerArb, { maxLength: 2 }),
  version: fc.constant(ok("HTTP/1.1")),
  host: fc.constant(true),
  body: fc.constant(undefined)
}).chain((shape) =>
  // A WebSocket endpoint gets a whole handshake most of the time.
  shape.tail.value === "/ws"
    ? fc.boolean().map((whole) => whole ? { ...shape, headers: [handshake, ...shape.headers] } : shape)
    : fc.constant(shape)
)

/** Anything: every part drawn from its hostile set, now and then a long or too long one. */
const wildArb: fc.Arbitrary<Shape> = fc.record({
  method: methodArb,
  prefix: prefixArb,
  key: keyArb,
  tail: tailArb,
  params: fc.array(fc.oneof({ weight: 20, arbitrary: paramArb }, { weight: 1, arbitrary: heavyParamArb }), {
    maxLength: 4
  }),
  headers: fc.array(fc.oneof({ weight: 20, arbitrary: headerArb }, { weight: 1, arbitrary: heavyHeaderArb }), {
    maxLength: 4
  }),
  version: fc.oneof(
    { weight: 10, arbitrary: fc.constant(ok("HTTP/1.1")) },
    { weight: 1, arbitrary: fc.constant(ok("HTTP/1.0")) },
    { weight: 1, arbitrary: fc.constantFrom("HTTP/2.0", "HTTP/1.1 x", "HTTP/9").map(bad) }
  ),
  host: fc.oneof({ weight: 20, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  body: fc.oneof({ weight: 10, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant("abc") })
})

/** Requests a server must survive: half near-valid, half wild. */
export const requestArb: fc.Arbitrary<HostileRequest> = fc.oneof(nearValidArb, wildArb).map((r) => {
  const malformed = r.method.malformed || r.prefix.malformed || r.key.malformed || r.tail.malformed ||
    r.params.some((p) => p.malformed) || r.headers.some((p) => p.malformed) || r.version.malformed ||
    // An HTTP/1.1 request without Host is refused by Node's parser.
    (!r.host && r.version.value === "HTTP/1.1")
  const target = (c: Context) => {
    const path = `${r.prefix.value(c)}/${r.key.value}${r.tail.value}`
    const query = r.params.map((p) => p.value(c)).join("&")
    return query === "" ? path : `${path}${path.includes("?") ? "&" : "?"}${query}`
  }
  const render = (c: Context) => {
    const lines = [`${r.method.value} ${target(c)} ${r.version.value}`]
    if (r.host) lines.push(`Host: 127.0.0.1:${c.port}`)
    for (const header of r.headers) for (const [name, value] of header.value(c)) lines.push(`${name}: ${value}`)
    if (r.body !== undefined && !r.headers.some((p) => p.malformed)) lines.push(`Content-Length: ${r.body.length}`)
    return `${lines.join("\r\n")}\r\n\r\n${r.body ?? ""}`
  }
  return {
    method: r.method.value,
    render,
    malformed,
    describe: (c: Context) => {
      const text = render(c)
      return JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}… (${text.length} bytes)` : text)
    }
  }
})

// -----------------------------------------------------------------------------
// the checks
// -----------------------------------------------------------------------------

/** The `_tag`s each status may carry. */
const TAGS: Readonly<Record<number, ReadonlyArray<string>>> = {
  400: ["BadRequest", "InvalidKey"],
  401: ["Denied"],
  403: ["Denied", "OriginNotAllowed"],
  404: ["NotFound", "BufferNotFound"],
  405: ["MethodNotAllowed"],
  409: ["EpochMismatch", "OffsetAhead"],
  410: ["OffsetEvicted"],
  413: ["LimitTooLarge"],
  429: ["TooManyConnections"],
  503: ["TooManyConnections", "ShuttingDown", "StorageUnavailable"]
}

/** An answer as compared between servers: its status and error tag (or what kind of success it is). */
export interface Verdict {
  readonly status: number
  readonly tag: string | undefined
}

/** The problems with one answer (none: it is right), and its verdict. */
export const judge = (request: HostileRequest, answer: RawAnswer): { problems: Array<string>; verdict: Verdict } => {
  const problems: Array<string> = []
  const verdict: Verdict = { status: answer.status, tag: undefined }
  if (answer.timedOut) return { problems: ["neither answered nor closed within the bound"], verdict }
  if (answer.status === 0) {
    // Closed without an answer: only a request Node's parser refuses (or a CONNECT-like one) may be.
    if (!request.malformed) problems.push("closed without an answer")
    return { problems, verdict }
  }
  const json = (answer.headers["content-type"] ?? "").startsWith("application/json")
  if (answer.status >= 400) {
    if (answer.status >= 500 && answer.status !== 503) problems.push(`status ${answer.status}`)
    if (!json || answer.body === "") {
      // Node's own answer to what its parser refuses has no body; HEAD answers have none either.
      if (!request.malformed && request.method !== "HEAD") problems.push(`a ${answer.status} without a JSON body`)
      return { problems, verdict }
    }
    let body: any
    try {
      body = JSON.parse(answer.body)
    } catch {
      return { problems: [...problems, `a body that is not JSON: ${answer.body.slice(0, 100)}`], verdict }
    }
    const tag = body?.error?._tag
    const allowed = TAGS[answer.status] ?? []
    if (!allowed.includes(tag)) problems.push(`status ${answer.status} with _tag ${tag}`)
    if (typeof body?.message !== "string") problems.push("an error without a message")
    if (answer.headers["cache-control"] !== "no-store") problems.push("an error without Cache-Control: no-store")
    if (answer.status === 503 && tag !== "TooManyConnections") problems.push(`503 ${tag}`)
    return { problems, verdict: { status: answer.status, tag } }
  }
  switch (answer.status) {
    case 101:
    case 204:
      return { problems, verdict }
    case 200: {
      const type = answer.headers["content-type"] ?? ""
      if (type.startsWith("text/event-stream")) return { problems, verdict: { status: 200, tag: "sse" } }
      if (type.startsWith("application/octet-stream")) {
        if (answer.headers["scrollback-epoch"] === undefined) problems.push("a GET without its headers")
        return { problems, verdict: { status: 200, tag: "bytes" } }
      }
      if (json) {
        if (request.method !== "HEAD") {
          try {
            JSON.parse(answer.body)
          } catch {
            problems.push("a 200 whose JSON does not parse")
          }
        }
        return { problems, verdict: { status: 200, tag: "json" } }
      }
      problems.push(`a 200 of type ${type}`)
      return { problems, verdict }
    }
    default:
      problems.push(`status ${answer.status}`)
      return { problems, verdict }
  }
}

// -----------------------------------------------------------------------------
// the suite
// -----------------------------------------------------------------------------

/** The server's buffers: `k` (evicted below 136: 200 bytes written, capacity 64) and `e` (ended). */
const setUp = (server: TestServer) =>
  Effect.gen(function*() {
    const k = yield* server.create("k", 64)
    yield* Effect.orDie(k.write(pattern(200)))
    const e = yield* server.create("e", 64)
    yield* Effect.orDie(e.write(pattern(50)))
    yield* Effect.orDie(e.end)
    return { epoch: k.epoch, prefix: server.prefix, port: server.port }
  })

/**
 * Small limits (a leaked slot shows), a short long-poll, a short keep-alive
 * (a stream whose client left unnoticed — an SSE answer on a connection that
 * asked for an upgrade is not read from — finds out at its next write), and
 * an authorization that denies `X-Deny`.
 */
export const fuzzServeOptions: ServeOptions = {
  http: {
    maxConnections: 16,
    maxConnectionsPerBuffer: 8,
    longPollMaxWait: "200 millis",
    keepAlive: "1 second",
    list: true
  },
  authorization: {
    authorize: ({ headers }) =>
      headers["x-deny"] === undefined
        ? Effect.void
        : Effect.fail(new ReplayHttpError.Denied({ status: 403, message: "denied" }))
  }
}

/** Sends one request; its answer (streaming answers are dropped after their head). */
const send = (context: Context, request: HostileRequest) =>
  Effect.scoped(
    rawRequest(context.port, request.render(context), { bound: "10 seconds", head: request.method === "HEAD" })
  )

/** After the fuzz: every slot is free and a normal SSE and WebSocket client get the exact log. */
const servesNormally = (server: TestServer) =>
  Effect.gen(function*() {
    yield* eventually(Effect.map(server.connections, (n) => n === 0), {
      message: "the server let go of every connection"
    })
    // Every slot is free: exactly `maxConnectionsPerBuffer` followers fit on a buffer.
    const perBuffer = fuzzServeOptions.http!.maxConnectionsPerBuffer!
    for (let i = 0; i < perBuffer; i++) {
      const conn = yield* sse(`${server.base}${server.prefix}/k/sse`)
      assert.strictEqual(conn.status, 200, `follower ${i}`)
    }
    assert.strictEqual((yield* sse(`${server.base}${server.prefix}/k/sse`)).status, 429)
    const buffer = yield* server.create("after", 1024 * 1024)
    const payload = concat([bytes("after the fuzz\r\n"), pattern(100_000, 7)])
    const sseClient = yield* sse(`${server.base}${server.prefix}/after/sse`)
    const wsClient = yield* stockWs(`ws://127.0.0.1:${server.port}${server.prefix}/after/ws`)
    assert.deepStrictEqual([sseClient.status, wsClient.status], [200, 101])
    const readers = yield* Effect.fork(Effect.all([collectSse(sseClient), collectWs(wsClient)], { concurrency: 2 }))
    yield* Effect.orDie(buffer.write(payload.subarray(0, 50_000)))
    yield* Effect.orDie(buffer.write(payload.subarray(50_000)))
    yield* Effect.orDie(buffer.end)
    const [sseSeen, wsSeen] = yield* Fiber.join(readers)
    assert.isTrue(equal(sseSeen.bytes, payload), "SSE after the fuzz")
    assert.deepStrictEqual(JSON.parse(sseSeen.end!.data), { status: "ended" })
    assert.isTrue(equal(wsSeen.bytes, payload), "WebSocket after the fuzz")
    assert.strictEqual(wsSeen.close?.code, 1000)
  })

export interface FuzzOptions {
  /** How many requests. Default 1,000. */
  readonly requests?: number | undefined
  readonly seed?: number | undefined
  /** Requests in flight at once. Default 8. */
  readonly concurrency?: number | undefined
}

const DEFAULT_SEED = 0xf0_22

/** The fuzz as a suite: `requests` hostile requests against one server, then a normal session. */
export const fuzzSuite = (serve: Serve, options?: FuzzOptions): void => {
  const count = options?.requests ?? 1_000
  const seed = options?.seed ?? DEFAULT_SEED
  describe("hostile requests", () => {
    it.scopedLive(
      `${count} generated requests (seed ${seed}): answered within a bound, JSON errors, no 5xx`,
      () =>
        Effect.gen(function*() {
          const server = yield* serve(fuzzServeOptions)
          const context = yield* setUp(server)
          const requests = fc.sample(requestArb, { seed, numRuns: count })
          const problems: Array<string> = []
          const statuses = new Map<number, number>()
          yield* Effect.forEach(requests, (request) =>
            Effect.map(send(context, request), (answer) => {
              statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
              for (const problem of judge(request, answer).problems) {
                problems.push(`${problem}: ${request.describe(context)}`)
              }
            }), { concurrency: options?.concurrency ?? 8, discard: true })
          assert.deepStrictEqual(problems.slice(0, 20), [], `${problems.length} problems (seed ${seed})`)
          // The fuzz reached every kind of answer.
          for (const status of [101, 200, 204, 400, 403, 404, 405, 409, 410, 413]) {
            assert.isTrue(statuses.has(status), `no ${status} among ${JSON.stringify(Object.fromEntries(statuses))}`)
          }
          yield* servesNormally(server)
        }),
      300_000
    )
  })
}

/**
 * The same requests to two servers (each with its own buffers, made alike):
 * the same status and error tag from both, but for the limits (429/503),
 * which depend on timing.
 */
export const differentialSuite = (
  name: string,
  serveA: Serve,
  serveB: Serve,
  options?: FuzzOptions
): void => {
  const count = options?.requests ?? 1_000
  const seed = options?.seed ?? DEFAULT_SEED + 1
  describe(name, () => {
    it.scopedLive(
      `${count} generated requests (seed ${seed}) get the same answers from both`,
      () =>
        Effect.gen(function*() {
          const a = yield* serveA(fuzzServeOptions)
          const b = yield* serveB(fuzzServeOptions)
          const contextA = yield* setUp(a)
          const contextB = yield* setUp(b)
          const requests = fc.sample(requestArb, { seed, numRuns: count })
          const differences: Array<string> = []
          yield* Effect.forEach(requests, (request) =>
            Effect.gen(function*() {
              const [answerA, answerB] = yield* Effect.all([send(contextA, request), send(contextB, request)], {
                concurrency: 2
              })
              const verdictA = judge(request, answerA).verdict
              const verdictB = judge(request, answerB).verdict
              const limited = [429, 503].includes(verdictA.status) || [429, 503].includes(verdictB.status)
              if (!limited && (verdictA.status !== verdictB.status || verdictA.tag !== verdictB.tag)) {
                differences.push(
                  `${JSON.stringify(verdictA)} vs ${JSON.stringify(verdictB)}: ${request.describe(contextA)}`
                )
              }
            }), { concurrency: options?.concurrency ?? 4, discard: true })
          assert.deepStrictEqual(differences.slice(0, 20), [], `${differences.length} differences (seed ${seed})`)
        }),
      300_000
    )
  })
}
