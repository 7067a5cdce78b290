/**
 * WebSocket clients: a raw one over `net` (hand-rolled framing, so a test
 * sees every frame, can stop reading, send pings, partial frames or too much)
 * and the stock `ws` client (an independent implementation of the protocol),
 * with `collectWs` reading a session to its close.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as Net from "node:net"
import WebSocket from "ws"
import { concat } from "./bytes.js"

export type WsMessage =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Binary"; readonly bytes: Uint8Array }
  | { readonly _tag: "Close"; readonly code: number; readonly reason: string }
  /** A ping from the server (reported only with `pings: "report"`). */
  | { readonly _tag: "Ping"; readonly payload: Uint8Array }
  | { readonly _tag: "Pong"; readonly payload: Uint8Array }
  | { readonly _tag: "SocketClosed" }

export interface WsConnection {
  /** The status line's code: 101 when upgraded (0 when the connection closed without an answer). */
  readonly status: number
  readonly headers: Record<string, string>
  /** The HTTP body when not upgraded. */
  readonly body: Effect.Effect<string>
  /** The next message (after the socket closed: `SocketClosed` again). */
  readonly next: Effect.Effect<WsMessage>
  /** Stops reading from the socket (the kernel buffers fill, then the server's). */
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
  /** Sends a masked text frame. */
  readonly sendText: (text: string) => Effect.Effect<void>
  /** Sends a masked binary frame. */
  readonly sendBinary: (bytes: Uint8Array) => Effect.Effect<void>
  /** Sends a masked ping (at most 125 bytes of payload); its pong arrives as a `Pong` message. */
  readonly sendPing: (payload: Uint8Array) => Effect.Effect<void>
  /** Writes raw bytes to the socket (e.g. a partial frame). */
  readonly sendRaw: (bytes: Uint8Array) => Effect.Effect<void>
  /** How many bytes were received on the socket so far (head and frames). */
  readonly received: () => number
  /** The client's TCP socket. */
  readonly socket: Net.Socket
  readonly destroy: Effect.Effect<void>
}

/** A masked client frame (RFC 6455 section 5.2). */
export const maskedFrame = (opcode: number, payload: Uint8Array, fin = true): Buffer => {
  const mask = crypto.randomBytes(4)
  const length = payload.length
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10
  const out = Buffer.alloc(head + 4 + length)
  out[0] = (fin ? 0x80 : 0) | opcode
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

export interface WsOptions {
  /**
   * What the client does with the server's pings: `"answer"` (default, as a
   * browser: a pong, not reported), `"report"` (queued as `Ping`, not
   * answered), `"ignore"` (neither: a dead peer).
   */
  readonly pings?: "answer" | "report" | "ignore" | undefined
}

/**
 * Connects and upgrades; the socket is destroyed with the scope. Replies to
 * a close frame like a browser. `headers` are added to the handshake's.
 */
export const ws = (
  port: number,
  path: string,
  headers?: Record<string, string>,
  options?: WsOptions
): Effect.Effect<WsConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pings = options?.pings ?? "answer"
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
    let chunks: Array<Buffer> = []
    let chunksLength = 0
    let upgraded: boolean | undefined = undefined
    let httpBody = ""
    let fragments: Array<Buffer> = []
    let fragmentOpcode = 0
    let closeSent = false
    let received = 0
    let socketClosed = false

    const take = (n: number): Buffer | undefined => {
      if (chunksLength < n) return undefined
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
      const out = all.subarray(0, n)
      chunks = all.length > n ? [all.subarray(n)] : []
      chunksLength -= n
      return out
    }
    const peek = (n: number): Buffer | undefined => {
      if (chunksLength < n) return undefined
      if (chunks[0].length < n) chunks = [Buffer.concat(chunks)]
      return chunks[0]
    }

    const parseFrames = () => {
      while (true) {
        const first = peek(2)
        if (first === undefined) return
        const fin = (first[0] & 0x80) !== 0
        const opcode = first[0] & 0x0f
        let length = first[1] & 0x7f
        let pos = 2
        if (length === 126) {
          const extended = peek(4)
          if (extended === undefined) return
          length = extended.readUInt16BE(2)
          pos = 4
        } else if (length === 127) {
          const extended = peek(10)
          if (extended === undefined) return
          length = Number(extended.readBigUInt64BE(2))
          pos = 10
        }
        const frame = take(pos + length)
        if (frame === undefined) return
        const payload = frame.subarray(pos)
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
        if (opcode === 0xa) {
          Queue.unsafeOffer(messages, { _tag: "Pong", payload: new Uint8Array(payload) })
          continue
        }
        if (opcode === 0x9) {
          if (pings === "answer") socket.write(maskedFrame(0xa, payload))
          else if (pings === "report") Queue.unsafeOffer(messages, { _tag: "Ping", payload: new Uint8Array(payload) })
          continue
        }
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
      received += chunk.length
      chunks.push(chunk)
      chunksLength += chunk.length
      if (upgraded === undefined) {
        const all = Buffer.concat(chunks)
        const end = all.indexOf("\r\n\r\n")
        if (end === -1) {
          chunks = [all]
          return
        }
        const lines = all.subarray(0, end).toString("latin1").split("\r\n")
        chunks = [all.subarray(end + 4)]
        chunksLength = chunks[0].length
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
        httpBody += Buffer.concat(chunks).toString("utf8")
        chunks = []
        chunksLength = 0
      }
    })
    const onClose = () => {
      socketClosed = true
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
      next: Effect.flatMap(Queue.take(messages), (message) =>
        message._tag === "SocketClosed" && socketClosed
          ? Effect.as(Queue.offer(messages, message), message)
          : Effect.succeed(message)),
      pause: Effect.sync(() => {
        socket.pause()
      }),
      resume: Effect.sync(() => {
        socket.resume()
      }),
      sendText: (text) => Effect.sync(() => socket.write(maskedFrame(0x1, new TextEncoder().encode(text)))),
      sendBinary: (bytes) => Effect.sync(() => socket.write(maskedFrame(0x2, bytes))),
      sendPing: (payload) => Effect.sync(() => socket.write(maskedFrame(0x9, payload))),
      sendRaw: (bytes) => Effect.sync(() => socket.write(bytes)),
      received: () => received,
      socket,
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
  /** The text messages after the hello (gaps, the end), parsed. */
  readonly texts: ReadonlyArray<any>
  /** The close frame, or `undefined` when the socket closed without one. */
  readonly close: { readonly code: number; readonly reason: string } | undefined
  /** The offset just past the last byte received (moved by frames and gaps). */
  readonly position: number
}

/**
 * Reads a session to its close: the hello, binary frames (dies unless each
 * continues the last), text messages, the close. Pings and pongs are skipped.
 */
export const collectWs = (
  conn: { readonly next: Effect.Effect<WsMessage> },
  options?: {
    /** The hello, when the caller already read it (the session then starts at its `offset`). */
    readonly hello?: { readonly offset: number } | undefined
  }
): Effect.Effect<WsCollected> =>
  Effect.gen(function*() {
    let hello: any = options?.hello
    if (hello === undefined) {
      const first = yield* conn.next
      if (first._tag !== "Text") return yield* Effect.dieMessage(`expected a hello, got ${JSON.stringify(first)}`)
      hello = JSON.parse(first.text)
    }
    let cursor: number = hello.offset
    const parts: Array<Uint8Array> = []
    const texts: Array<any> = []
    while (true) {
      const message = yield* conn.next
      switch (message._tag) {
        case "Binary": {
          const frame = binaryOffset(message.bytes)
          if (frame.offset !== cursor) {
            return yield* Effect.dieMessage(`frame at ${frame.offset} does not continue ${cursor}`)
          }
          cursor += frame.bytes.length
          parts.push(frame.bytes)
          break
        }
        case "Text": {
          const parsed = JSON.parse(message.text)
          texts.push(parsed)
          if (parsed.type === "gap") cursor = parsed.oldest
          break
        }
        case "Close":
          return {
            hello,
            bytes: concat(parts),
            texts,
            close: { code: message.code, reason: message.reason },
            position: cursor
          }
        case "SocketClosed":
          return { hello, bytes: concat(parts), texts, close: undefined, position: cursor }
        default:
          break
      }
    }
  })

// -----------------------------------------------------------------------------
// the stock `ws` client
// -----------------------------------------------------------------------------

export interface StockWsConnection {
  /** 101 when opened; otherwise the status of the refused handshake (0: no answer). */
  readonly status: number
  readonly next: Effect.Effect<WsMessage>
  readonly client: WebSocket
}

/**
 * Opens a WebSocket with the stock `ws` client (it answers pings, checks the
 * server's frames and its close handshake); terminated with the scope.
 */
export const stockWs = (
  url: string,
  options?: { readonly headers?: Record<string, string> }
): Effect.Effect<StockWsConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const messages = yield* Queue.unbounded<WsMessage>()
    const opened = yield* Deferred.make<number>()
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => new WebSocket(url, { headers: options?.headers, perMessageDeflate: false })),
      (client) => Effect.sync(() => client.terminate())
    )
    client.binaryType = "nodebuffer"
    client.on("open", () => Deferred.unsafeDone(opened, Effect.succeed(101)))
    client.on("unexpected-response", (_request, response) => {
      Deferred.unsafeDone(opened, Effect.succeed(response.statusCode ?? 0))
      response.resume()
      client.terminate()
    })
    client.on("error", () => Deferred.unsafeDone(opened, Effect.succeed(0)))
    client.on("message", (data, isBinary) => {
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer)
      Queue.unsafeOffer(
        messages,
        isBinary ? { _tag: "Binary", bytes: new Uint8Array(buffer) } : { _tag: "Text", text: buffer.toString("utf8") }
      )
    })
    client.on("close", (code, reason) => {
      Deferred.unsafeDone(opened, Effect.succeed(0))
      Queue.unsafeOffer(messages, { _tag: "Close", code, reason: reason.toString("utf8") })
      Queue.unsafeOffer(messages, { _tag: "SocketClosed" })
    })
    const status = yield* Deferred.await(opened)
    return { status, next: Queue.take(messages), client }
  })
