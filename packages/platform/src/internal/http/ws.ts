import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Socket from "@effect/platform/Socket"
import type * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Api from "../../ReplayHttp.js"
import { type Follower, framesOf } from "../follow.js"
import * as Protocol from "../protocol.js"
import { requestedFrom } from "../tracing.js"
import { tag, whenClosing } from "./config.js"
import { badRequest, prepareRead, readRequest } from "./read.js"

/** @internal */
export const CLOSE_NORMAL = 1000
/** @internal */
export const CLOSE_GOING_AWAY = 1001
/** @internal */
export const CLOSE_POLICY_VIOLATION = 1008
/** @internal */
export const CLOSE_TOO_BIG = 1009

/**
 * How long a handshake handed to the runtime may take: some runtimes answer a
 * handshake they refuse themselves without calling back, and the session,
 * its request scope and its connection slot would otherwise be held forever.
 *
 * @internal
 */
export const UPGRADE_TIMEOUT_MILLIS = 5_000

const encoder = new TextEncoder()

/** A close reason is at most 123 bytes of UTF-8. @internal */
export const closeReason = (reason: string): string => {
  if (encoder.encode(reason).length <= 123) return reason
  let cut = reason.slice(0, 120)
  while (encoder.encode(cut).length > 120) cut = cut.slice(0, -1)
  return cut + "..."
}

const PING = { _tag: "Ping" } as const

/**
 * Ends the connection under a request once the bytes already queued (a close
 * frame) are flushed, and destroys it then, where the runtime exposes it
 * (Node; elsewhere it does nothing). Without it, the `ws` library waits up to
 * 30 s for a closing handshake that a gone or hostile peer never sends — and
 * a server's shutdown waits with it — or keeps reading what a client that
 * broke the protocol still sends.
 */
const connectionDropper = (request: HttpServerRequest.HttpServerRequest) => (): void => {
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

type Write = (chunk: Uint8Array | string | Socket.CloseEvent) => Effect.Effect<void, Socket.SocketError>

/** What the sender sends: hello, frames, gaps, the end and its close — or the close a refusal says. */
const sender = (
  write: Write,
  plan: Api.ReadPlan,
  keepAliveMillis: number,
  follower: Follower
): Effect.Effect<void, Socket.SocketError> => {
  const { cursor, hello } = plan
  const close = (code: number, reason: string) => write(new Socket.CloseEvent(code, closeReason(reason)))
  if (plan.refused !== undefined) return close(Protocol.closeCodeOf(plan.refused.error), plan.refused.error.message)
  const sendEnd = (end: Parameters<typeof Protocol.wsMessage>[0]) =>
    Effect.zipRight(write(Protocol.wsMessage(end)), close(CLOSE_NORMAL, "end"))
  const frames = framesOf(cursor, follower, { millis: keepAliveMillis, element: PING }).pipe(
    Stream.runForEachChunk((chunk) =>
      Effect.forEach(chunk, (frame) =>
        frame._tag === "Ping"
          ? write(Protocol.wsPing)
          : frame._tag === "Gap"
          ? write(Protocol.wsMessage({ type: "gap", requested: frame.requested, oldest: frame.oldest }))
          : write(Protocol.wsFrame(frame.offset, [frame.bytes], frame.bytes.length)), { discard: true })
    )
  )
  return Effect.zipRight(
    write(Protocol.wsMessage({ type: "hello", ...hello })),
    frames.pipe(
      Effect.matchEffect({
        onSuccess: () => sendEnd({ type: "end", status: "ended" }),
        onFailure: (error): Effect.Effect<void, Socket.SocketError> => {
          switch (error._tag) {
            case "ProducerFailed":
              return sendEnd(
                error.exitCode === undefined
                  ? { type: "end", status: "failed", reason: error.reason }
                  : { type: "end", status: "failed", reason: error.reason, exitCode: error.exitCode }
              )
            case "OffsetEvicted":
              return close(Protocol.closeCodeOf(error), error.message)
            default:
              return Effect.fail(error)
          }
        }
      })
    )
  )
}

/**
 * One WebSocket session on the portable path (`HttpServerRequest.upgrade`):
 * the reader runs in its own fiber (writes only go through while it runs),
 * the sender races it, and a client message ends the session with `1008`
 * (`1009` when larger than `wsMaxMessageBytes`): the protocol has no client
 * messages. Interruption (server shutdown) sends `1001`. The runtime's own
 * send backlog is not visible here: on Node, `@scrollback/platform-node`
 * serves WebSocket with a bounded backlog and pings.
 */
const session = (
  socket: Socket.Socket,
  plan: Api.ReadPlan,
  options: {
    readonly maxMessageBytes: number
    readonly keepAliveMillis: number
    readonly dropConnection: () => void
  },
  follower: Follower
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const write = yield* socket.writer
    let open = false
    let readerDone = false
    const opened = yield* Deferred.make<void>()
    const violation = yield* Deferred.make<number>()
    const reader = yield* socket.runRaw((message) => {
      const size = typeof message === "string" ? encoder.encode(message).length : message.length
      Deferred.unsafeDone(
        violation,
        Exit.succeed(size > options.maxMessageBytes ? CLOSE_TOO_BIG : CLOSE_POLICY_VIOLATION)
      )
    }, {
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
    // The reader runs the handshake, in the runtime's acquisition of the socket, which may be uninterruptible
    // and never end (on Node, `ws` drops its callback when the client left before the handshake ran, or when it
    // answered the handshake itself). Awaiting such a reader would hold the session, its connection slot and the
    // server's shutdown forever: it is awaited only once the handshake completed (from then on it is
    // interruptible), and interrupted in the background before that — whether the session gave up waiting or
    // was interrupted while it waited (the client left, or the server shuts down).
    yield* Effect.addFinalizer(() => open ? Fiber.interrupt(reader) : Fiber.interruptFork(reader))
    const settled = yield* Effect.raceFirst(Deferred.await(opened), Fiber.await(reader)).pipe(
      Effect.timeoutTo({ duration: UPGRADE_TIMEOUT_MILLIS, onSuccess: () => true, onTimeout: () => false })
    )
    if (!settled || !open) return
    const refuseClient = Effect.flatMap(
      Deferred.await(violation),
      (code) =>
        write(new Socket.CloseEvent(code, "clients send no messages")).pipe(
          Effect.timeout(1000),
          Effect.ignore,
          Effect.zipRight(Effect.sync(options.dropConnection))
        )
    )
    // The writer waits while the reader is not running (a latch the reader closes when it ends), and this runs in
    // a finalizer, where `Effect.timeout` cannot interrupt that wait: the close races the reader's end and a
    // bound, each side in a fiber of its own. The connection is then dropped: a shutdown does not wait for the
    // peer's closing handshake.
    const goingAway = Effect.raceAll([
      Effect.ignore(write(new Socket.CloseEvent(CLOSE_GOING_AWAY, "server shutdown"))),
      Effect.asVoid(Fiber.await(reader)),
      Effect.sleep(1000)
    ]).pipe(Effect.zipRight(Effect.sync(options.dropConnection)))
    yield* sender(write, plan, options.keepAliveMillis, follower).pipe(
      Effect.raceFirst(refuseClient),
      Effect.raceFirst(Fiber.await(reader)),
      // The routes close (the server shuts down): the session says so.
      Effect.raceFirst(Effect.zipRight(whenClosing, goingAway)),
      Effect.onInterrupt(() => readerDone ? Effect.sync(options.dropConnection) : goingAway)
    )
  }).pipe(
    Effect.scoped,
    Effect.ensuring(Effect.sync(plan.release)),
    Effect.catchAllCause((cause) => Effect.logDebug("scrollback: WebSocket session ended with an error", cause))
  )

/**
 * `GET {prefix}/{key}/ws`. Refusals known before the upgrade are answered as
 * HTTP; a request that cannot be upgraded after all is `400`.
 *
 * @internal
 */
export const ws = (
  request: HttpServerRequest.HttpServerRequest,
  key: string
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Api.Refusal,
  Api.ReplayHttp | ReplayRegistry.ReplayRegistry | Api.Authorization | Scope.Scope
> =>
  Effect.gen(function*() {
    const { options } = yield* tag
    const read = readRequest(request, "ws", key)
    const plan = yield* prepareRead(read)
    yield* Effect.addFinalizer(() => Effect.sync(plan.release))
    const socket = yield* Effect.mapError(
      request.upgrade,
      (error) => badRequest("upgrade", `this endpoint needs a WebSocket upgrade: ${error.message}`)
    )
    yield* session(socket, plan, {
      maxMessageBytes: options.wsMaxMessageBytes,
      keepAliveMillis: options.keepAliveMillis,
      dropConnection: connectionDropper(request)
    }, {
      transport: "ws",
      span: "ReplayHttp.ws",
      key,
      from: requestedFrom(read)
    })
    return HttpServerResponse.empty()
  })
