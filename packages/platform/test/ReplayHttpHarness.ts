/**
 * Test harness for the HTTP transports: a real server on 127.0.0.1, and raw
 * clients (Node `http` for GET/SSE, Node `net` for a hand-rolled WebSocket
 * client that can stop reading) so the tests see the exact bytes on the wire.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ReplayBuffer } from "@scrollback/core"
import { ReplayRegistry } from "@scrollback/core"
import { ReplayHttp } from "@scrollback/platform"
import { Context, Deferred, Effect, Either, Encoding, FastCheck, Layer, Queue, type Scope } from "effect"
import * as crypto from "node:crypto"
import * as Http from "node:http"
import * as Net from "node:net"
import { makeSseParser, type SseEvent } from "../src/internal/sse.js"
import { concat as concatBytes } from "./util/bytes.js"

export { concatBytes }

export interface TestServer {
  readonly port: number
  readonly base: string
  readonly registry: ReplayRegistry.ReplayRegistry
  readonly create: (key: string, capacity?: number) => Effect.Effect<ReplayBuffer.ReplayBuffer>
}

/**
 * A real server in the current scope. `wrap` sees the app (e.g. to observe
 * when a WebSocket session ends); `authorization` is provided to every request.
 *
 * The app is served from a layer built on top of the server's layer, so that
 * on shutdown the handlers (and their WebSocket sessions) are interrupted
 * before the server's WebSocketServer, which platform-node creates lazily in
 * the server's scope and whose close waits for every client to go.
 */
export const serve = (options?: {
  readonly http?: ReplayHttp.Options
  readonly authorization?: ReplayHttp.Authorization
  readonly wrap?: (
    app: HttpApp.Default<never, ReplayRegistry.ReplayRegistry | Scope.Scope>
  ) => HttpApp.Default<never, ReplayRegistry.ReplayRegistry | Scope.Scope>
}): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* Effect.orDie(ReplayRegistry.make())
    const base = ReplayHttp.httpApp(options?.http)
    const app = options?.wrap ? options.wrap(base) : base
    const withRegistry = Effect.provideService(app, ReplayRegistry.ReplayRegistry, registry)
    const provided = options?.authorization
      ? Effect.provideService(withRegistry, ReplayHttp.Authorization, options.authorization)
      : withRegistry
    const context = yield* Layer.build(
      HttpServer.serve(provided).pipe(
        Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
      )
    ).pipe(Effect.orDie)
    const server = Context.get(context, HttpServer.HttpServer)
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    return {
      port,
      base: `http://127.0.0.1:${port}`,
      registry,
      create: (key, capacity) => Effect.orDie(registry.create(key, capacity === undefined ? undefined : { capacity }))
    }
  })

// -----------------------------------------------------------------------------
// plain HTTP
// -----------------------------------------------------------------------------

export interface HttpResult {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: Uint8Array
}

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

export const json = (result: HttpResult): any => JSON.parse(new TextDecoder().decode(result.body))

// -----------------------------------------------------------------------------
// SSE
// -----------------------------------------------------------------------------

export type SseItem =
  | { readonly _tag: "Event"; readonly event: SseEvent }
  | { readonly _tag: "Comment"; readonly text: string }
  | { readonly _tag: "Closed" }

export interface SseConnection {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  /** The raw text received so far. */
  readonly raw: () => string
  readonly next: Effect.Effect<SseItem>
  /** Resolves when the response has ended (the server closed it). */
  readonly closed: Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

/** Opens an SSE request; closed with the scope. A non-200 answer has its body in `raw()`. */
export const sse = (
  url: string,
  headers?: Record<string, string>
): Effect.Effect<SseConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const items = yield* Queue.unbounded<SseItem>()
    const ended = yield* Deferred.make<void>()
    let raw = ""
    const parser = makeSseParser({ onComment: (text) => Queue.unsafeOffer(items, { _tag: "Comment", text }) })
    const decoder = new TextDecoder()
    const { req, res } = yield* Effect.acquireRelease(
      Effect.async<{ req: Http.ClientRequest; res: Http.IncomingMessage }>((resume) => {
        const req = Http.request(url, { headers: { accept: "text/event-stream", ...headers }, agent: false }, (res) => {
          resume(Effect.succeed({ req, res }))
        })
        req.on("error", (error) => resume(Effect.die(error)))
        req.end()
      }),
      ({ req }) => Effect.sync(() => req.destroy())
    )
    res.on("data", (chunk: Buffer) => {
      const text = decoder.decode(chunk, { stream: true })
      raw += text
      for (const event of parser.feed(text)) Queue.unsafeOffer(items, { _tag: "Event", event })
    })
    const onEnd = () => {
      Queue.unsafeOffer(items, { _tag: "Closed" })
      Deferred.unsafeDone(ended, Effect.void)
    }
    res.on("end", onEnd)
    res.on("close", onEnd)
    return {
      status: res.statusCode ?? 0,
      headers: res.headers,
      raw: () => raw,
      next: Queue.take(items),
      closed: Deferred.await(ended),
      close: Effect.sync(() => req.destroy())
    }
  })

/** The next event (skipping comments); fails the test if the connection closes first. */
export const nextEvent = (conn: SseConnection): Effect.Effect<SseEvent> =>
  Effect.gen(function*() {
    while (true) {
      const item = yield* conn.next
      if (item._tag === "Event") return item.event
      if (item._tag === "Closed") return yield* Effect.dieMessage("the SSE connection closed")
    }
  })

export const decodeBase64 = (data: string): Uint8Array =>
  Either.getOrThrowWith(Encoding.decodeBase64(data), (error) => new Error(String(error)))

export interface SseCollected {
  readonly hello: SseEvent
  readonly events: ReadonlyArray<SseEvent>
  readonly bytes: Uint8Array
  readonly end: SseEvent | undefined
}

/**
 * Reads a whole SSE response: the hello, every event until `end` or the
 * close, and the bytes of the data events joined. Checks that each data
 * event continues the previous one (its offset = NEXT − length).
 */
export const collectSse = (conn: SseConnection): Effect.Effect<SseCollected> =>
  Effect.gen(function*() {
    const hello = yield* nextEvent(conn)
    if (hello.event !== "hello") return yield* Effect.dieMessage(`expected hello, got ${JSON.stringify(hello)}`)
    const helloData = JSON.parse(hello.data)
    let cursor: number = helloData.offset
    const events: Array<SseEvent> = []
    const parts: Array<Uint8Array> = []
    let end: SseEvent | undefined
    while (true) {
      const item = yield* conn.next
      if (item._tag === "Closed") break
      if (item._tag === "Comment") continue
      const event = item.event
      events.push(event)
      if (event.event === "end") {
        end = event
        break
      }
      if (event.event === "gap") {
        cursor = JSON.parse(event.data).oldest
        continue
      }
      const bytes = decodeBase64(event.data)
      const next = Number(event.id!.split(":")[1])
      if (next - bytes.length !== cursor) {
        return yield* Effect.dieMessage(`event at ${next - bytes.length} does not continue ${cursor}`)
      }
      cursor = next
      parts.push(bytes)
    }
    return { hello, events, bytes: concatBytes(parts), end }
  })

/** Random writes, each split at a random point, and how many of the pieces go in before a client connects. */
export const splitWritesArb: [
  FastCheck.Arbitrary<Array<Uint8Array>>,
  FastCheck.Arbitrary<number>,
  FastCheck.Arbitrary<Array<number>>
] = [
  FastCheck.array(FastCheck.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 25 }),
  FastCheck.integer({ min: 0, max: 25 }),
  FastCheck.array(FastCheck.integer({ min: 0, max: 300 }), { maxLength: 25 })
]

/** Splits each write at its random point into two writes (split points past the end keep it whole). */
export const splitPieces = (writes: ReadonlyArray<Uint8Array>, splits: ReadonlyArray<number>): Array<Uint8Array> =>
  writes.flatMap((write, i) => {
    const at = Math.min(splits[i] ?? 0, write.length)
    return [write.subarray(0, at), write.subarray(at)]
  })

// -----------------------------------------------------------------------------
// a raw WebSocket client over `net`
// -----------------------------------------------------------------------------

export type WsMessage =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Binary"; readonly bytes: Uint8Array }
  | { readonly _tag: "Close"; readonly code: number; readonly reason: string }
  | { readonly _tag: "SocketClosed" }

export interface WsConnection {
  /** The status line's code: 101 when upgraded. */
  readonly status: number
  readonly headers: Record<string, string>
  /** The HTTP body when not upgraded. */
  readonly body: Effect.Effect<string>
  readonly next: Effect.Effect<WsMessage>
  /** Stops reading from the socket (the kernel buffers fill, then the server's). */
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
  /** Sends a masked text frame. */
  readonly sendText: (text: string) => Effect.Effect<void>
  /** Writes raw bytes to the socket (e.g. a partial frame). */
  readonly sendRaw: (bytes: Uint8Array) => Effect.Effect<void>
  readonly destroy: Effect.Effect<void>
}

const maskedFrame = (opcode: number, payload: Uint8Array): Buffer => {
  const mask = crypto.randomBytes(4)
  const length = payload.length
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10
  const out = Buffer.alloc(head + 4 + length)
  out[0] = 0x80 | opcode
  if (length < 126) out[1] = 0x80 | length
  else if (length < 65536) {
    out[1] = 0x80 | 126
    out.writeUInt16BE(length, 2)
  } else {
    out[1] = 0x80 | 127
    out.writeBigUInt64BE(BigInt(length), 2)
  }
  mask.copy(out, head)
  for (let i = 0; i < length; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3]
  return out
}

/** Connects and upgrades; closed (destroyed) with the scope. Replies to a close frame like a browser. */
export const ws = (
  port: number,
  path: string,
  headers?: Record<string, string>
): Effect.Effect<WsConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const messages = yield* Queue.unbounded<WsMessage>()
    const headDone = yield* Deferred.make<{ status: number; headers: Record<string, string> }>()
    const bodyDone = yield* Deferred.make<string>()
    const socket = yield* Effect.acquireRelease(
      Effect.sync(() => Net.connect({ port, host: "127.0.0.1" })),
      (socket) => Effect.sync(() => socket.destroy())
    )
    const key = crypto.randomBytes(16).toString("base64")
    const extra = Object.entries(headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join("")
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n${extra}\r\n`
    )
    let buffered = Buffer.alloc(0)
    let upgraded: boolean | undefined = undefined
    let httpBody = ""
    let fragments: Array<Buffer> = []
    let fragmentOpcode = 0
    let closeSent = false

    const parseFrames = () => {
      while (true) {
        if (buffered.length < 2) return
        const fin = (buffered[0] & 0x80) !== 0
        const opcode = buffered[0] & 0x0f
        let length = buffered[1] & 0x7f
        let pos = 2
        if (length === 126) {
          if (buffered.length < 4) return
          length = buffered.readUInt16BE(2)
          pos = 4
        } else if (length === 127) {
          if (buffered.length < 10) return
          length = Number(buffered.readBigUInt64BE(2))
          pos = 10
        }
        if (buffered.length < pos + length) return
        const payload = buffered.subarray(pos, pos + length)
        buffered = buffered.subarray(pos + length)
        if (opcode === 0x8) {
          const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005
          const reason = payload.length > 2 ? payload.subarray(2).toString("utf8") : ""
          Queue.unsafeOffer(messages, { _tag: "Close", code, reason })
          if (!closeSent) {
            closeSent = true
            const reply = Buffer.alloc(2)
            reply.writeUInt16BE(code === 1005 ? 1000 : code, 0)
            socket.write(maskedFrame(0x8, reply))
          }
          continue
        }
        if (opcode === 0x9 || opcode === 0xa) continue
        if (opcode !== 0) {
          fragmentOpcode = opcode
          fragments = []
        }
        fragments.push(Buffer.from(payload))
        if (!fin) continue
        const data = Buffer.concat(fragments)
        fragments = []
        if (fragmentOpcode === 0x1) Queue.unsafeOffer(messages, { _tag: "Text", text: data.toString("utf8") })
        else Queue.unsafeOffer(messages, { _tag: "Binary", bytes: new Uint8Array(data) })
      }
    }

    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (upgraded === undefined) {
        const end = buffered.indexOf("\r\n\r\n")
        if (end === -1) return
        const lines = buffered.subarray(0, end).toString("latin1").split("\r\n")
        buffered = buffered.subarray(end + 4)
        const status = Number(lines[0].split(" ")[1])
        const head: Record<string, string> = {}
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":")
          head[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
        }
        upgraded = status === 101
        Deferred.unsafeDone(headDone, Effect.succeed({ status, headers: head }))
      }
      if (upgraded) parseFrames()
      else {
        httpBody += buffered.toString("utf8")
        buffered = Buffer.alloc(0)
      }
    })
    const onClose = () => {
      Queue.unsafeOffer(messages, { _tag: "SocketClosed" })
      Deferred.unsafeDone(bodyDone, Effect.sync(() => httpBody))
      Deferred.unsafeDone(headDone, Effect.succeed({ status: 0, headers: {} }))
    }
    socket.on("close", onClose)
    socket.on("end", () => {
      if (!upgraded) Deferred.unsafeDone(bodyDone, Effect.sync(() => httpBody))
    })
    socket.on("error", () => {})

    const head = yield* Deferred.await(headDone)
    return {
      status: head.status,
      headers: head.headers,
      body: Deferred.await(bodyDone),
      next: Queue.take(messages),
      pause: Effect.sync(() => {
        socket.pause()
      }),
      resume: Effect.sync(() => {
        socket.resume()
      }),
      sendText: (text) => Effect.sync(() => socket.write(maskedFrame(0x1, new TextEncoder().encode(text)))),
      sendRaw: (bytes) => Effect.sync(() => socket.write(bytes)),
      destroy: Effect.sync(() => socket.destroy())
    }
  })

/** The 8-byte big-endian offset of a binary message, and its bytes. */
export const binaryOffset = (message: Uint8Array): { offset: number; bytes: Uint8Array } => {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength)
  return { offset: view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4), bytes: message.subarray(8) }
}

export interface WsCollected {
  readonly hello: any
  readonly bytes: Uint8Array
  readonly texts: ReadonlyArray<any>
  readonly close: { readonly code: number; readonly reason: string } | undefined
}

/** Reads a session to its close: the hello, binary frames (checked contiguous), text messages, the close. */
export const collectWs = (conn: WsConnection): Effect.Effect<WsCollected> =>
  Effect.gen(function*() {
    const first = yield* conn.next
    if (first._tag !== "Text") return yield* Effect.dieMessage(`expected a hello, got ${JSON.stringify(first)}`)
    const hello = JSON.parse(first.text)
    let cursor: number = hello.offset
    const parts: Array<Uint8Array> = []
    const texts: Array<any> = []
    while (true) {
      const message = yield* conn.next
      if (message._tag === "Binary") {
        const frame = binaryOffset(message.bytes)
        if (frame.offset !== cursor) {
          return yield* Effect.dieMessage(`frame at ${frame.offset} does not continue ${cursor}`)
        }
        cursor += frame.bytes.length
        parts.push(frame.bytes)
      } else if (message._tag === "Text") {
        const parsed = JSON.parse(message.text)
        texts.push(parsed)
        if (parsed.type === "gap") cursor = parsed.oldest
      } else if (message._tag === "Close") {
        return { hello, bytes: concatBytes(parts), texts, close: { code: message.code, reason: message.reason } }
      } else {
        return { hello, bytes: concatBytes(parts), texts, close: undefined }
      }
    }
  })

export const enc = new TextEncoder()
export const bytes = (text: string): Uint8Array => enc.encode(text)
