/**
 * Plain HTTP clients: `request` (Node's `http`, for well-formed requests) and
 * `rawRequest` (bytes on a TCP socket, for anything — malformed heads,
 * hostile headers, upgrades — with the answer parsed by hand), plus the
 * polling and timing helpers the suites share.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Net from "node:net"

export interface HttpResult {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: Uint8Array
}

/** A whole request with Node's client (no agent: a connection of its own). Fails the test on a socket error. */
export const request = (
  url: string,
  options?: { readonly headers?: Record<string, string>; readonly method?: string }
): Effect.Effect<HttpResult> =>
  Effect.async<HttpResult>((resume) => {
    const req = Http.request(
      url,
      { method: options?.method ?? "GET", headers: options?.headers, agent: false },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () =>
          resume(Effect.succeed({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: new Uint8Array(Buffer.concat(chunks))
          })))
        res.on("error", (error) => resume(Effect.die(error)))
      }
    )
    req.on("error", (error) => resume(Effect.die(error)))
    req.end()
    return Effect.sync(() => req.destroy())
  })

/**
 * Whether a request to `url` is answered with `status`; a connection reset
 * is `false`. For polling a server that begins to shut down: a connection
 * it accepted just then has no request parsed yet, and is closed with the
 * idle ones.
 */
export const answersWith = (url: string, status: number): Effect.Effect<boolean> =>
  Effect.map(request(url), (answer) => answer.status === status).pipe(
    Effect.catchAllDefect(() => Effect.succeed(false))
  )

/** The status of a response as soon as its head arrives (the connection is then dropped): for streaming answers. */
export const status = (url: string, headers?: Record<string, string>): Effect.Effect<number> =>
  Effect.async<number>((resume) => {
    const req = Http.request(url, { headers, agent: false }, (res) => {
      resume(Effect.succeed(res.statusCode ?? 0))
      req.destroy()
    })
    req.on("error", (error) => resume(Effect.die(error)))
    req.end()
    return Effect.sync(() => req.destroy())
  })

/** The JSON body of a result. */
export const json = (result: { readonly body: Uint8Array }): any => JSON.parse(new TextDecoder().decode(result.body))

// -----------------------------------------------------------------------------
// raw requests
// -----------------------------------------------------------------------------

/** What a server answered to raw bytes. */
export interface RawAnswer {
  /** The status code; 0 when the connection closed before a status line. */
  readonly status: number
  /** Header names lowercased; a repeated header's values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  /** The body (decoded from chunked), as UTF-8 text, as far as it was received. */
  readonly body: string
  /** `101`, or a `text/event-stream` answer: the connection stays open and was dropped after the head. */
  readonly streaming: boolean
  /** Nothing came back (or the body never completed) within the bound. */
  readonly timedOut: boolean
}

const parseHead = (head: string): { status: number; headers: Record<string, string> } => {
  const lines = head.split("\r\n")
  const status = Number(lines[0].split(" ")[1])
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":")
    if (colon === -1) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value
  }
  return { status: Number.isFinite(status) ? status : 0, headers }
}

/** Decodes a chunked body as far as it goes; `done` once the last chunk was seen. */
const dechunk = (raw: Buffer): { body: Buffer; done: boolean } => {
  const parts: Array<Buffer> = []
  let pos = 0
  while (true) {
    const end = raw.indexOf("\r\n", pos)
    if (end === -1) return { body: Buffer.concat(parts), done: false }
    const size = parseInt(raw.subarray(pos, end).toString("latin1"), 16)
    if (!Number.isFinite(size)) return { body: Buffer.concat(parts), done: true }
    if (size === 0) return { body: Buffer.concat(parts), done: true }
    if (raw.length < end + 2 + size + 2) {
      parts.push(raw.subarray(end + 2, Math.min(raw.length, end + 2 + size)))
      return { body: Buffer.concat(parts), done: false }
    }
    parts.push(raw.subarray(end + 2, end + 2 + size))
    pos = end + 2 + size + 2
  }
}

/**
 * Writes `head` (and nothing else) on a new TCP connection and reads the
 * answer: done at a `101` or a `text/event-stream` head (then dropped), at the
 * end of a `Content-Length` or chunked body, or when the server closes the
 * connection; `timedOut` after `bound` (default 10 s). The socket is
 * destroyed with the scope.
 */
export const rawRequest = (
  port: number,
  head: string | Uint8Array,
  options?: {
    readonly bound?: Duration.DurationInput
    readonly halfClose?: boolean
    /** The request is a HEAD: the answer has no body, whatever its headers say. */
    readonly head?: boolean
  }
): Effect.Effect<RawAnswer, never, Scope.Scope> =>
  Effect.flatMap(
    Effect.acquireRelease(
      Effect.sync(() => Net.connect({ port, host: "127.0.0.1" })),
      (socket) => Effect.sync(() => socket.destroy())
    ),
    (socket) =>
      Effect.async<RawAnswer>((resume) => {
        let answer = Buffer.alloc(0)
        let done = false
        const finish = (result: RawAnswer) => {
          if (done) return
          done = true
          clearTimeout(timer)
          resume(Effect.succeed(result))
        }
        const parse = (closed: boolean, timedOut: boolean): RawAnswer | undefined => {
          const end = answer.indexOf("\r\n\r\n")
          if (end === -1) {
            return closed || timedOut
              ? { status: 0, headers: {}, body: answer.toString("utf8"), streaming: false, timedOut }
              : undefined
          }
          const { headers, status } = parseHead(answer.subarray(0, end).toString("latin1"))
          const raw = answer.subarray(end + 4)
          const streaming = status === 101 ||
            (status === 200 && (headers["content-type"] ?? "").startsWith("text/event-stream"))
          if (streaming) return { status, headers, body: "", streaming: true, timedOut: false }
          if (status === 204 || status === 304 || options?.head === true) {
            return { status, headers, body: "", streaming: false, timedOut: false }
          }
          if ((headers["transfer-encoding"] ?? "").toLowerCase().includes("chunked")) {
            const { body, done } = dechunk(raw)
            return done || closed || timedOut
              ? { status, headers, body: body.toString("utf8"), streaming: false, timedOut: !done && !closed }
              : undefined
          }
          const length = headers["content-length"]
          if (length !== undefined) {
            const complete = raw.length >= Number(length)
            return complete || closed || timedOut
              ? { status, headers, body: raw.toString("utf8"), streaming: false, timedOut: !complete && !closed }
              : undefined
          }
          return closed || timedOut
            ? { status, headers, body: raw.toString("utf8"), streaming: false, timedOut: !closed }
            : undefined
        }
        const timer = setTimeout(() => {
          const parsed = parse(false, true)
          finish(parsed ?? { status: 0, headers: {}, body: "", streaming: false, timedOut: true })
        }, Duration.toMillis(Duration.decode(options?.bound ?? "10 seconds")))
        socket.on("data", (chunk: Buffer) => {
          answer = Buffer.concat([answer, chunk])
          const parsed = parse(false, false)
          if (parsed !== undefined) finish(parsed)
        })
        socket.on("error", () => {})
        socket.on("close", () => {
          const parsed = parse(true, false)
          finish(parsed ?? { status: 0, headers: {}, body: "", streaming: false, timedOut: false })
        })
        socket.write(head)
        if (options?.halfClose) socket.end()
        return Effect.sync(() => clearTimeout(timer))
      })
  )

/** A request head: `GET path HTTP/1.1`, `Host`, the given headers, the blank line. */
export const requestHead = (port: number, path: string, headers: Record<string, string>, method = "GET"): string =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
  Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("") + "\r\n"

/** A valid `Sec-WebSocket-Key` (the RFC's sample nonce). */
export const GOOD_KEY = "dGhlIHNhbXBsZSBub25jZQ=="

/** The headers of a valid WebSocket handshake. */
export const upgradeHeaders: Readonly<Record<string, string>> = {
  Connection: "Upgrade",
  Upgrade: "websocket",
  "Sec-WebSocket-Version": "13",
  "Sec-WebSocket-Key": GOOD_KEY
}

// -----------------------------------------------------------------------------
// waiting
// -----------------------------------------------------------------------------

/**
 * Runs `check` every `interval` (default 20 ms, on the wall clock) until it
 * answers `true`; dies with `message` if `bound` (default 15 s) passes first.
 * For effects of the server that tests cannot await directly (a slot freed
 * when a connection closed), with a bound far above what they take.
 */
export const eventually = <E, R>(
  check: Effect.Effect<boolean, E, R>,
  options?: {
    readonly bound?: Duration.DurationInput
    readonly interval?: Duration.DurationInput
    readonly message?: string
  }
): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const bound = Duration.toMillis(Duration.decode(options?.bound ?? "15 seconds"))
    const interval = Duration.decode(options?.interval ?? "20 millis")
    const deadline = Date.now() + bound
    while (true) {
      if (yield* check) return
      if (Date.now() > deadline) {
        return yield* Effect.dieMessage(`${options?.message ?? "condition"}: not reached within ${bound} ms`)
      }
      yield* Effect.sleep(interval)
    }
  })

/**
 * Closes a scope in the background and waits for it at most `bound`: `true`
 * if it closed. (A close that hangs is left running: the test fails, and its
 * clients' scopes end the hang.)
 */
export const closesWithin = (scope: Scope.CloseableScope, bound: Duration.DurationInput): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const closing = yield* Effect.forkDaemon(Scope.close(scope, Exit.void))
    const done = yield* Fiber.join(closing).pipe(Effect.timeout(bound), Effect.option)
    return Option.isSome(done)
  })
