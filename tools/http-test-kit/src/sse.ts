/**
 * An SSE client on Node's `http` that keeps the raw text and hands out
 * events, comments and the close, plus `collectSse`, which reads a response
 * to its end and checks that every data event continues the previous one.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Net from "node:net"
import { concat, decodeBase64 } from "./bytes.js"
import { makeSseParser, type SseEvent } from "./sseParser.js"

export type { SseEvent }

export type SseItem =
  | { readonly _tag: "Event"; readonly event: SseEvent }
  | { readonly _tag: "Comment"; readonly text: string }
  | { readonly _tag: "Closed" }

export interface SseConnection {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  /** The raw text received so far (the body of a non-200 answer too). */
  readonly raw: () => string
  /** The next event, comment or the close (after the close: `Closed` again). */
  readonly next: Effect.Effect<SseItem>
  /** Completes when the response has ended or the connection closed. */
  readonly closed: Effect.Effect<void>
  /** Whether the whole response arrived (its end was received, not a dropped connection). */
  readonly complete: () => boolean
  /** Drops the connection. */
  readonly close: Effect.Effect<void>
  /** Stops reading (the server's writes back up) and reads on. */
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
}

/** Opens an SSE request (a connection of its own); closed with the scope. */
export const sse = (
  url: string,
  headers?: Record<string, string>
): Effect.Effect<SseConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const items = yield* Queue.unbounded<SseItem>()
    const ended = yield* Deferred.make<void>()
    let raw = ""
    const parser = makeSseParser((text) => Queue.unsafeOffer(items, { _tag: "Comment", text }))
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
    let closed = false
    const onEnd = () => {
      if (closed) return
      closed = true
      Queue.unsafeOffer(items, { _tag: "Closed" })
      Deferred.unsafeDone(ended, Effect.void)
    }
    res.on("end", onEnd)
    res.on("close", onEnd)
    res.on("error", () => {})
    return {
      status: res.statusCode ?? 0,
      headers: res.headers,
      raw: () => raw,
      next: Effect.flatMap(
        Queue.take(items),
        (item): Effect.Effect<SseItem> =>
          item._tag === "Closed" ? Effect.as(Queue.offer(items, item), item) : Effect.succeed(item)
      ),
      closed: Deferred.await(ended),
      complete: () => res.complete,
      close: Effect.sync(() => req.destroy()),
      pause: Effect.sync(() => {
        res.pause()
      }),
      resume: Effect.sync(() => {
        res.resume()
      })
    }
  })

/** The next event (skipping comments); dies if the connection closes first. */
export const nextEvent = (conn: { readonly next: Effect.Effect<SseItem> }): Effect.Effect<SseEvent> =>
  Effect.gen(function*() {
    while (true) {
      const item = yield* conn.next
      if (item._tag === "Event") return item.event
      if (item._tag === "Closed") return yield* Effect.dieMessage("the SSE connection closed")
    }
  })

export interface SseCollected {
  readonly hello: SseEvent
  /** Every event after the hello, the end included. */
  readonly events: ReadonlyArray<SseEvent>
  /** The bytes of the data events, joined. */
  readonly bytes: Uint8Array
  readonly end: SseEvent | undefined
  /** The offset just past the last byte received (the hello's offset, moved by data and gaps). */
  readonly position: number
}

/**
 * Reads a whole SSE response: the hello, every event until `end` or the
 * close. Dies unless each data event continues the previous one (its offset,
 * NEXT − length, is where the last one stopped or where a gap moved to).
 */
export const collectSse = (conn: { readonly next: Effect.Effect<SseItem> }): Effect.Effect<SseCollected> =>
  Effect.gen(function*() {
    const hello = yield* nextEvent(conn)
    if (hello.event !== "hello") return yield* Effect.dieMessage(`expected hello, got ${JSON.stringify(hello)}`)
    let cursor: number = JSON.parse(hello.data).offset
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
    return { hello, events, bytes: concat(parts), end, position: cursor }
  })

// -----------------------------------------------------------------------------
// a raw SSE client that stops reading
// -----------------------------------------------------------------------------

/** A raw SSE connection that stopped reading. */
export interface StalledSse {
  readonly socket: Net.Socket
  /** Bytes read before it stopped. */
  readonly received: () => number
  /**
   * Reads on (the bytes it got before it stopped included) and hands out the
   * response's events: the HTTP head and chunked framing are decoded here.
   */
  readonly resume: Effect.Effect<{ readonly status: number; readonly next: Effect.Effect<SseItem> }>
}

/**
 * An SSE request over a raw TCP socket that reads `readFirst` bytes of the
 * answer and then stops reading (the kernel's buffers fill, then the
 * server's); destroyed with the scope.
 */
export const stalledSse = (
  port: number,
  path: string,
  readFirst: number
): Effect.Effect<StalledSse, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<StalledSse>((resume) => {
      const socket = Net.connect({ port, host: "127.0.0.1" })
      socket.on("error", () => {})
      const early: Array<Buffer> = []
      let received = 0
      const onData = (chunk: Buffer) => {
        received += chunk.length
        early.push(chunk)
        if (received >= readFirst) {
          socket.off("data", onData)
          socket.pause()
          resume(Effect.succeed({ socket, received: () => received, resume: resumeSse(socket, early) }))
        }
      }
      socket.on("data", onData)
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`)
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** Decodes an HTTP response with a chunked SSE body off a raw socket, from the bytes already read on. */
const resumeSse = (
  socket: Net.Socket,
  early: ReadonlyArray<Buffer>
): Effect.Effect<{ readonly status: number; readonly next: Effect.Effect<SseItem> }> =>
  Effect.gen(function*() {
    const items = yield* Queue.unbounded<SseItem>()
    const headDone = yield* Deferred.make<number>()
    const parser = makeSseParser((text) => Queue.unsafeOffer(items, { _tag: "Comment", text }))
    const decoder = new TextDecoder()
    let pending: Buffer = Buffer.alloc(0)
    let state: "head" | "size" | "data" | "crlf" | "done" = "head"
    let left = 0
    let closed = false
    const feed = (bytes: Buffer) => {
      for (const event of parser.feed(decoder.decode(bytes, { stream: true }))) {
        Queue.unsafeOffer(items, { _tag: "Event", event })
      }
    }
    const onData = (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      while (true) {
        switch (state) {
          case "head": {
            const end = pending.indexOf("\r\n\r\n")
            if (end === -1) return
            const status = Number(pending.subarray(0, end).toString("latin1").split(" ")[1])
            Deferred.unsafeDone(headDone, Effect.succeed(status))
            pending = pending.subarray(end + 4)
            state = "size"
            break
          }
          case "size": {
            const end = pending.indexOf("\r\n")
            if (end === -1) return
            left = parseInt(pending.subarray(0, end).toString("latin1"), 16)
            pending = pending.subarray(end + 2)
            if (left === 0 || !Number.isFinite(left)) {
              state = "done"
              return onClose()
            }
            state = "data"
            break
          }
          case "data": {
            if (pending.length === 0) return
            const take = Math.min(left, pending.length)
            feed(pending.subarray(0, take))
            pending = pending.subarray(take)
            left -= take
            if (left > 0) return
            state = "crlf"
            break
          }
          case "crlf": {
            if (pending.length < 2) return
            pending = pending.subarray(2)
            state = "size"
            break
          }
          case "done":
            return
        }
      }
    }
    const onClose = () => {
      if (closed) return
      closed = true
      Deferred.unsafeDone(headDone, Effect.succeed(0))
      Queue.unsafeOffer(items, { _tag: "Closed" })
    }
    for (const chunk of early) onData(chunk)
    socket.on("data", onData)
    socket.on("close", onClose)
    if (socket.destroyed) onClose()
    socket.resume()
    const status = yield* Deferred.await(headDone)
    return {
      status,
      next: Effect.flatMap(
        Queue.take(items),
        (item): Effect.Effect<SseItem> =>
          item._tag === "Closed" ? Effect.as(Queue.offer(items, item), item) : Effect.succeed(item)
      )
    }
  })

/** Reads what a paused raw socket still has, and completes when it has closed (a paused socket sees no close). */
export const drainedAndClosed = (socket: Net.Socket): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (socket.destroyed || socket.closed) return resume(Effect.void)
    socket.once("close", () => resume(Effect.void))
    socket.resume()
  })
