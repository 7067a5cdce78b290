/**
 * WebSocket handshakes that a client gives up on, at every point a real
 * client can: before its head, in the middle of it, right after it (closing
 * or half-closing), on the next tick, after the server's answer, or a stock
 * `ws` client terminated after a few milliseconds. With an authorization
 * hook that takes a few milliseconds, the server's own steps interleave with
 * the client's departure at every point.
 */
import type * as ReplayHttp from "@scrollback/platform/ReplayHttp"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Http from "node:http"
import * as Net from "node:net"
import WebSocket from "ws"
import { GOOD_KEY } from "./http.js"

/** Where a client gives up on its WebSocket handshake. */
export type Abort =
  /** Connects and leaves before sending anything. */
  | { readonly _tag: "BeforeHead" }
  /** Sends the first `cut` bytes of its request head, then leaves. */
  | { readonly _tag: "MidHead"; readonly cut: number }
  /** Sends the whole head, then leaves at once (`delay` 0: in the same tick) or `delay` ms later. */
  | { readonly _tag: "AfterHead"; readonly delay: number; readonly how: "destroy" | "half-close" }
  /** Sends the whole head and leaves on the next tick. */
  | { readonly _tag: "NextTick" }
  /** Waits for the first bytes of the answer (the `101`, or a refusal), then leaves `delay` ms later. */
  | { readonly _tag: "AfterAnswer"; readonly delay: number }
  /** A stock `ws` client: `new WebSocket(url)`, then `terminate()` `delay` ms later. */
  | { readonly _tag: "Stock"; readonly delay: number }

export interface Attempt {
  /** `ws` (a WebSocket handshake) or `sse` (an SSE request: "after the answer" is after the first bytes). */
  readonly transport: "ws" | "sse"
  readonly key: string
  /** How long the authorization hook takes (ms, a real timer; 0: it answers at once), like a token check would. */
  readonly hookDelay: number
  readonly abort: Abort
}

/** Attempts on the given keys and transports, aborted anywhere. */
export const attemptArb = (
  keys: ReadonlyArray<string>,
  transports: ReadonlyArray<"ws" | "sse"> = ["ws"]
): fc.Arbitrary<Attempt> =>
  fc.record({
    transport: fc.constantFrom(...transports),
    key: fc.constantFrom(...keys),
    hookDelay: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 })),
    abort: fc.oneof(
      fc.constant({ _tag: "BeforeHead" } as const),
      fc.record({ _tag: fc.constant("MidHead" as const), cut: fc.integer({ min: 1, max: 150 }) }),
      fc.record({
        _tag: fc.constant("AfterHead" as const),
        delay: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5 })),
        how: fc.constantFrom("destroy" as const, "half-close" as const)
      }),
      fc.constant({ _tag: "NextTick" } as const),
      fc.record({ _tag: fc.constant("AfterAnswer" as const), delay: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ _tag: fc.constant("Stock" as const), delay: fc.integer({ min: 0, max: 5 }) })
    )
  })

/**
 * An authorization hook that waits `?hookDelay=` ms of the request's URL (so
 * the handshake starts after the client may have left), then allows it.
 */
export const delayingAuthorization: ReplayHttp.Authorization = {
  authorize: ({ url }) => {
    const delay = Number(new URL(url, "http://localhost").searchParams.get("hookDelay") ?? 0)
    return delay > 0 ? Effect.sleep(Duration.millis(delay)) : Effect.void
  }
}

const headOf = (port: number, path: string, transport: "ws" | "sse") =>
  transport === "ws"
    ? `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${GOOD_KEY}\r\n\r\n`
    : `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`

/**
 * Runs one aborted request on `{prefix}/{key}/{transport}`; completes once
 * the client's connection has closed: `"closed"`, or `"hung"` when it was
 * still open after `boundMillis` (default 10 s; the client then destroys it).
 * A `Stock` SSE attempt is Node's `http.get`, destroyed after the delay.
 */
export const abortHandshake = (
  port: number,
  prefix: string,
  { abort, hookDelay, key, transport }: Attempt,
  boundMillis = 10_000
): Effect.Effect<"closed" | "hung"> =>
  Effect.async<"closed" | "hung">((resume) => {
    const path = `${prefix}/${key}/${transport}?hookDelay=${hookDelay}`
    let hung = false
    let destroy = () => {}
    const bound = setTimeout(() => {
      hung = true
      destroy()
    }, boundMillis)
    const done = () => {
      clearTimeout(bound)
      resume(Effect.succeed(hung ? "hung" : "closed"))
    }
    if (abort._tag === "Stock" && transport === "ws") {
      const client = new WebSocket(`ws://127.0.0.1:${port}${path}`)
      destroy = () => client.terminate()
      client.on("error", () => {})
      client.on("close", done)
      setTimeout(() => client.terminate(), abort.delay)
      return
    }
    if (abort._tag === "Stock") {
      const request = Http.get(`http://127.0.0.1:${port}${path}`, { agent: false }, (response) => response.resume())
      destroy = () => request.destroy()
      request.on("error", () => {})
      request.on("close", done)
      setTimeout(() => request.destroy(), abort.delay)
      return
    }
    const head = headOf(port, path, transport)
    const socket = Net.connect({ port, host: "127.0.0.1" })
    destroy = () => socket.destroy()
    socket.on("error", () => {})
    socket.on("close", done)
    // Reads (and drops) the answer, so a half-closed client sees the server's end and closes.
    socket.resume()
    socket.on("connect", () => {
      switch (abort._tag) {
        case "BeforeHead":
          return socket.destroy()
        case "MidHead": {
          socket.write(head.slice(0, Math.min(abort.cut, head.length - 1)))
          return socket.destroy()
        }
        case "AfterHead": {
          socket.write(head)
          const leave = () => (abort.how === "destroy" ? socket.destroy() : socket.end())
          if (abort.delay === 0) return leave()
          setTimeout(leave, abort.delay)
          return
        }
        case "NextTick": {
          socket.write(head)
          process.nextTick(() => socket.destroy())
          return
        }
        case "AfterAnswer": {
          socket.write(head)
          socket.once("data", () => setTimeout(() => socket.destroy(), abort.delay))
          return
        }
      }
    })
  })
