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
export const nextEvent = (conn: SseConnection): Effect.Effect<SseEvent> =>
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
export const collectSse = (conn: SseConnection): Effect.Effect<SseCollected> =>
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

/**
 * An SSE request over a raw TCP socket that reads `readFirst` bytes of the
 * answer and then stops reading (the kernel's buffers fill, then the
 * server's); destroyed with the scope. `received()` counts what it read.
 */
export const stalledSse = (
  port: number,
  path: string,
  readFirst: number
): Effect.Effect<{ readonly socket: Net.Socket; readonly received: () => number }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: Net.Socket; readonly received: () => number }>((resume) => {
      const socket = Net.connect({ port, host: "127.0.0.1" })
      socket.on("error", () => {})
      let received = 0
      const onData = (chunk: Buffer) => {
        received += chunk.length
        if (received >= readFirst) {
          socket.off("data", onData)
          socket.pause()
          resume(Effect.succeed({ socket, received: () => received }))
        }
      }
      socket.on("data", onData)
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`)
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** Reads what a paused raw socket still has, and completes when it has closed (a paused socket sees no close). */
export const drainedAndClosed = (socket: Net.Socket): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (socket.destroyed || socket.closed) return resume(Effect.void)
    socket.once("close", () => resume(Effect.void))
    socket.resume()
  })
