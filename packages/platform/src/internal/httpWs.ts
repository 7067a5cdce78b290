import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Socket from "@effect/platform/Socket"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import { framesOf } from "./follow.js"
import { badRequest, endJson, helloOf, type Reject } from "./httpShared.js"

/** @internal */
export const CLOSE_NORMAL = 1000
/** @internal */
export const CLOSE_GOING_AWAY = 1001
/** @internal */
export const CLOSE_POLICY_VIOLATION = 1008
/** @internal */
export const CLOSE_SLOW_CONSUMER = 4429

/**
 * How long the `ws` library may take to complete a handshake that was handed
 * to it. It answers some handshakes itself (e.g. a `Sec-WebSocket-Protocol`
 * it cannot parse) without calling back, and then neither the socket's reader
 * nor its writer would ever resume: the session, its request scope and its
 * connection slot would be held forever.
 *
 * @internal
 */
export const UPGRADE_TIMEOUT_MILLIS = 5_000

/**
 * The bytes a client may send once upgraded, on Node. The protocol has no
 * client messages: all a client sends is a close frame (at most 131 bytes).
 * `ws` only reports a message once it is complete (up to 100 MiB by
 * default), so the raw socket is watched too.
 *
 * @internal
 */
export const MAX_INBOUND_BYTES = 1024

/**
 * What to do once upgraded: refuse with a close code (a bad parameter, an
 * epoch mismatch, an evicted offset under "fail"), or follow.
 *
 * @internal
 */
export type WsPlan =
  | { readonly _tag: "Close"; readonly code: number; readonly reason: string }
  | { readonly _tag: "Follow"; readonly cursor: ReplayCursor.ReplayCursor }

const encoder = new TextEncoder()

/** A close reason is at most 123 bytes of UTF-8. */
const closeReason = (reason: string): string => {
  if (encoder.encode(reason).length <= 123) return reason
  let cut = reason.slice(0, 120)
  while (encoder.encode(cut).length > 120) cut = cut.slice(0, -1)
  return cut + "..."
}

/**
 * A binary message: the 8-byte big-endian offset of the first byte, then the
 * bytes.
 *
 * @internal
 */
export const binaryFrame = (offset: number, bytes: Uint8Array): Uint8Array => {
  const out = new Uint8Array(8 + bytes.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, Math.floor(offset / 0x1_0000_0000))
  view.setUint32(4, offset >>> 0)
  out.set(bytes, 8)
  return out
}

/**
 * The unsent bytes of the connection under a request, where the runtime
 * exposes them: on Node, the upgraded TCP socket's `writableLength` (the
 * `ws` library writes frames straight to it). `undefined` elsewhere.
 *
 * @internal
 */
export const backlogProbe = (request: HttpServerRequest.HttpServerRequest): (() => number) | undefined => {
  const source: unknown = request.source
  if (!Predicate.hasProperty(source, "socket")) return undefined
  const socket: unknown = source.socket
  if (!Predicate.hasProperty(socket, "writableLength") || typeof socket.writableLength !== "number") return undefined
  return () => (socket as { readonly writableLength: number }).writableLength
}

/**
 * Ends the connection under a request after the bytes already queued (the
 * close frame) are flushed, where the runtime exposes it (Node). Used on
 * server shutdown: the `ws` library otherwise waits up to 30 s for a peer's
 * closing handshake, which a gone or hostile client never sends, and the
 * server's close waits for it.
 */
const endConnection = (request: HttpServerRequest.HttpServerRequest): void => {
  const source: unknown = request.source
  if (!Predicate.hasProperty(source, "socket")) return
  const socket: unknown = source.socket
  if (Predicate.hasProperty(socket, "end") && typeof socket.end === "function") socket.end()
}

/**
 * Calls `onExceeded` once more than `limit` bytes arrived on the connection
 * under a request, where the runtime exposes it (Node); returns the cleanup.
 */
const watchInbound = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number,
  onExceeded: () => void
): () => void => {
  const source: unknown = request.source
  if (!Predicate.hasProperty(source, "socket")) return () => {}
  const socket: unknown = source.socket
  if (
    !Predicate.hasProperty(socket, "on") || typeof socket.on !== "function" ||
    !Predicate.hasProperty(socket, "off") || typeof socket.off !== "function"
  ) return () => {}
  const emitter = socket as {
    on(event: "data", listener: (chunk: Uint8Array) => void): void
    off(event: "data", listener: (chunk: Uint8Array) => void): void
  }
  let received = 0
  const onData = (chunk: Uint8Array) => {
    received += chunk.length
    if (received > limit) onExceeded()
  }
  emitter.on("data", onData)
  return () => emitter.off("data", onData)
}

/**
 * Ends the connection under a request once the bytes already queued (the
 * close frame) are flushed, and destroys it then, without waiting for the
 * peer (Node). Used on a client that broke the protocol: until the socket is
 * gone, `ws` keeps reading, and buffering, what it sends.
 */
const dropConnection = (request: HttpServerRequest.HttpServerRequest): void => {
  const source: unknown = request.source
  if (!Predicate.hasProperty(source, "socket")) return
  const socket: unknown = source.socket
  if (
    !Predicate.hasProperty(socket, "end") || typeof socket.end !== "function" ||
    !Predicate.hasProperty(socket, "destroy") || typeof socket.destroy !== "function"
  ) return
  const stream = socket as { end(callback: () => void): void; destroy(): void }
  stream.end(() => stream.destroy())
}

class SlowConsumer {
  readonly _tag = "SlowConsumer"
  constructor(readonly backlog: number) {}
}

/**
 * Runs one WebSocket session to its end. The socket's reader runs in its own
 * fiber (writes only go through while it runs); the sender races it, so a
 * client that disconnects stops the sender, and a sender that finishes
 * (end, refusal, slow consumer) stops the reader. Interruption (server
 * shutdown) sends close `1001` first. A client that sends anything (a
 * message, or more than {@link MAX_INBOUND_BYTES} raw bytes) is closed with
 * `1008`, since the protocol has no client messages.
 *
 * Fails with a `400` refusal when the request cannot be upgraded (e.g. it has
 * `Upgrade: websocket` but no `Connection: Upgrade`, so Node did not route it
 * as an upgrade). A handshake that does not complete within
 * {@link UPGRADE_TIMEOUT_MILLIS} ends the session.
 *
 * @internal
 */
export const runSession = (
  request: HttpServerRequest.HttpServerRequest,
  plan: WsPlan,
  maxBacklogBytes: number
): Effect.Effect<void, Reject> =>
  Effect.flatMap(
    Effect.mapError(
      request.upgrade,
      (error) => badRequest("upgrade", `this endpoint needs a WebSocket upgrade: ${error.message}`)
    ),
    (socket) => session(request, socket, plan, maxBacklogBytes)
  )

const session = (
  request: HttpServerRequest.HttpServerRequest,
  socket: Socket.Socket,
  plan: WsPlan,
  maxBacklogBytes: number
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const write = yield* socket.writer
    let open = false
    let readerDone = false
    const opened = yield* Deferred.make<void>()
    // Completed when the client sends anything: the protocol has no client messages.
    const violation = yield* Deferred.make<void>()
    const violated = () => {
      Deferred.unsafeDone(violation, Exit.void)
    }
    const reader = yield* socket.runRaw(violated, {
      onOpen: Effect.suspend(() => {
        open = true
        return Deferred.succeed(opened, undefined)
      })
    }).pipe(
      Effect.ensuring(Effect.sync(() => {
        readerDone = true
      })),
      Effect.forkDaemon
    )
    // As `forkScoped`, except after a handshake that never completed: the reader is then stuck in
    // platform-node's uninterruptible acquisition (a callback `ws` dropped), and awaiting its
    // interruption would hang the request scope. It is interrupted in the background instead.
    let stuck = false
    yield* Effect.addFinalizer(() => stuck ? Fiber.interruptFork(reader) : Fiber.interrupt(reader))
    // `request.upgrade` is lazy: the handshake runs in the reader, and `ws` may answer it itself
    // and never call back. Bound the wait, so the request scope (and the connection slot) is freed.
    const settled = yield* Effect.raceFirst(Deferred.await(opened), Fiber.await(reader)).pipe(
      Effect.timeoutTo({ duration: UPGRADE_TIMEOUT_MILLIS, onSuccess: () => true, onTimeout: () => false })
    )
    if (!settled) {
      stuck = true
      yield* Effect.logDebug("scrollback: the WebSocket handshake did not complete in time")
      return yield* Effect.sync(() => endConnection(request))
    }
    const unwatch = watchInbound(request, MAX_INBOUND_BYTES, violated)
    yield* Effect.addFinalizer(() => Effect.sync(unwatch))
    const probe = backlogProbe(request)
    const refuseClient = Deferred.await(violation).pipe(
      Effect.zipRight(
        write(new Socket.CloseEvent(CLOSE_POLICY_VIOLATION, "clients send no messages")).pipe(
          Effect.timeout(1000),
          Effect.ignore
        )
      ),
      Effect.zipRight(Effect.sync(() => dropConnection(request)))
    )
    yield* Effect.raceFirst(
      Effect.raceFirst(sender(write, plan, maxBacklogBytes, probe), refuseClient),
      Fiber.await(reader)
    ).pipe(
      Effect.onInterrupt(() =>
        open && !readerDone
          ? write(new Socket.CloseEvent(CLOSE_GOING_AWAY, "server shutdown")).pipe(
            Effect.timeout(1000),
            Effect.ignore,
            Effect.zipRight(Effect.sync(() => endConnection(request)))
          )
          : Effect.sync(() => endConnection(request))
      )
    )
  }).pipe(
    Effect.scoped,
    Effect.catchAllCause((cause) => Effect.logDebug("scrollback: WebSocket session ended with an error", cause))
  )

const sender = (
  write: (chunk: Uint8Array | string | Socket.CloseEvent) => Effect.Effect<void, Socket.SocketError>,
  plan: WsPlan,
  maxBacklogBytes: number,
  probe: (() => number) | undefined
): Effect.Effect<void, Socket.SocketError> => {
  if (plan._tag === "Close") return write(new Socket.CloseEvent(plan.code, closeReason(plan.reason)))
  const { cursor } = plan
  const hello = helloOf(cursor)
  const close = (code: number, reason: string) => write(new Socket.CloseEvent(code, reason))
  const sendEnd = (json: Record<string, unknown>) =>
    Effect.zipRight(write(JSON.stringify({ type: "end", ...json })), close(CLOSE_NORMAL, "end"))

  const frames = framesOf(cursor).pipe(
    Stream.runForEachChunk((chunk) =>
      Effect.suspend(() => {
        const writes: Array<Effect.Effect<void, Socket.SocketError | SlowConsumer>> = []
        for (const frame of chunk) {
          if (frame._tag === "Gap") {
            writes.push(write(JSON.stringify({ type: "gap", requested: frame.requested, oldest: frame.oldest })))
          } else {
            writes.push(write(binaryFrame(frame.offset, frame.bytes)))
            if (probe !== undefined) {
              writes.push(Effect.suspend(() => {
                const backlog = probe()
                return backlog > maxBacklogBytes ? Effect.fail(new SlowConsumer(backlog)) : Effect.void
              }))
            }
          }
        }
        return Effect.all(writes, { discard: true })
      })
    )
  )

  return Effect.zipRight(
    write(JSON.stringify({ type: "hello", ...hello })),
    frames.pipe(
      Effect.matchEffect({
        onSuccess: () => sendEnd(endJson({ status: "ended" })),
        onFailure: (error): Effect.Effect<void, Socket.SocketError> => {
          switch (error._tag) {
            case "ProducerFailed":
              return sendEnd(endJson({ status: "failed", reason: error.reason, exitCode: error.exitCode }))
            case "OffsetEvicted":
              return close(4410, closeReason(error.message))
            case "SlowConsumer":
              return close(CLOSE_SLOW_CONSUMER, `slow consumer: ${error.backlog} unsent bytes`)
            default:
              return Effect.fail(error)
          }
        }
      })
    )
  )
}
