import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Socket from "@effect/platform/Socket"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import type * as ReplayStream from "../ReplayStream.js"
import { frames as followFrames } from "./follow.js"
import { endJson, endStateOf, type Hello } from "./httpShared.js"

/** @internal */
export const CLOSE_NORMAL = 1000
/** @internal */
export const CLOSE_GOING_AWAY = 1001
/** @internal */
export const CLOSE_SLOW_CONSUMER = 4429

/**
 * What to do once upgraded: refuse with a close code (a bad parameter, an
 * epoch mismatch, an evicted offset under "fail"), or follow.
 *
 * @internal
 */
export type WsPlan =
  | { readonly _tag: "Close"; readonly code: number; readonly reason: string }
  | {
    readonly _tag: "Follow"
    readonly buffer: ReplayBuffer.ReplayBuffer
    readonly hello: Hello
    readonly policy: ReplayStream.OnEvicted
  }

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

class SlowConsumer {
  readonly _tag = "SlowConsumer"
  constructor(readonly backlog: number) {}
}

/**
 * Runs one WebSocket session to its end. The socket's reader runs in its own
 * fiber (writes only go through while it runs); the sender races it, so a
 * client that disconnects stops the sender, and a sender that finishes
 * (end, refusal, slow consumer) stops the reader. Interruption (server
 * shutdown) sends close `1001` first.
 *
 * @internal
 */
export const runSession = (
  request: HttpServerRequest.HttpServerRequest,
  plan: WsPlan,
  maxBacklogBytes: number
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const socket = yield* request.upgrade
    const write = yield* socket.writer
    let open = false
    let readerDone = false
    const reader = yield* socket.runRaw(() => {}, {
      onOpen: Effect.sync(() => {
        open = true
      })
    }).pipe(
      Effect.ensuring(Effect.sync(() => {
        readerDone = true
      })),
      Effect.forkScoped
    )
    const probe = backlogProbe(request)
    yield* Effect.raceFirst(
      sender(write, plan, maxBacklogBytes, probe),
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
  const { buffer, hello } = plan
  const close = (code: number, reason: string) => write(new Socket.CloseEvent(code, reason))
  const sendEnd = (json: Record<string, unknown>) =>
    Effect.zipRight(write(JSON.stringify({ type: "end", ...json })), close(CLOSE_NORMAL, "end"))

  const frames = followFrames(buffer, { from: hello.offset, onEvicted: plan.policy }).pipe(
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
        onSuccess: () => sendEnd(endJson(endStateOf(buffer.unsafeEnded()))),
        onFailure: (error): Effect.Effect<void, Socket.SocketError> => {
          switch (error._tag) {
            case "ProducerFailed":
              return sendEnd(endJson({ status: "failed", reason: error.reason, exitCode: error.exitCode }))
            case "OffsetEvicted":
              return close(4410, closeReason(error.message))
            case "SlowConsumer":
              return close(CLOSE_SLOW_CONSUMER, `slow consumer: ${error.backlog} unsent bytes`)
            case "InvalidOffset":
              return close(4400, closeReason(error.message))
            default:
              return Effect.fail(error)
          }
        }
      })
    )
  )
}
