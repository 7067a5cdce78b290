/**
 * `ReplayClient`'s WebSocket transport: `{url}/ws` through `@effect/platform`'s
 * `Socket` (a `WebSocketConstructor` from the context), on the same state
 * machine and connection loop as SSE.
 *
 * - Messages: text ones are `ReplayProtocol.WsServerMessage` (hello, gap,
 *   end), binary ones an 8-byte big-endian offset then bytes
 *   (`ReplayProtocol.readWsFrame`). The socket's `binaryType` is set to
 *   `"arraybuffer"`, so every message is handed over synchronously, in order
 *   (a `Blob` would be read asynchronously, and could be overtaken by the
 *   text message after it).
 * - A resume is `?offset=N&epoch=E` (a WebSocket has no `Last-Event-ID`).
 * - What the WebSocket API does not say is asked of `GET {url}/info`: why
 *   an upgrade failed (the status of a refused upgrade is hidden: a missing
 *   buffer, a refusal and a network error all look alike), and the positions
 *   behind a `4409` (epoch mismatch, or a position past the total) or a
 *   `4410` (evicted: `oldest`), whose close reason is only a message.
 * - The socket delivers messages as they come: what the consumer has not
 *   taken yet is bounded by `maxBufferedBytes` (plus the message that passed
 *   it); a message arriving past it drops the connection (`SlowConsumer`),
 *   which resumes from the last byte delivered.
 * - The server sends `{"type":"ping"}` after `keepAlive` (15 s by default)
 *   of silence, so `idleTimeout` (which must be longer) bounds the silence of
 *   an open connection as it bounds the opening handshake: a connection that
 *   went dead without a close is dropped and resumed.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Socket from "@effect/platform/Socket"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Mailbox from "effect/Mailbox"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Api from "../ReplayClient.js"
import * as ClientError from "../ReplayClientError.js"
import type * as ReplayStream from "../ReplayStream.js"
import { bytesOf, type Connect, idle, makeHttp, run, settings } from "./client.js"
import type * as Machine from "./clientState.js"
import * as Protocol from "./protocol.js"

/**
 * The default bound on what a WebSocket delivered that the consumer has not
 * taken yet: 8 MiB (a message is at most 256 KiB + 8 bytes).
 *
 * @internal
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024

/** What the socket delivered, in order. */
type Incoming =
  | { readonly _tag: "Message"; readonly data: string | Uint8Array }
  | { readonly _tag: "Unreadable"; readonly type: string }
  | { readonly _tag: "Overflow" }
  | { readonly _tag: "Closed"; readonly code: number; readonly reason: string }
  | { readonly _tag: "Failed"; readonly cause: Socket.SocketError }

const decodeMessage = Schema.decodeUnknownEither(Schema.parseJson(Protocol.WsServerMessage))

/** The first characters of a message, for an error's reason. */
const excerpt = (text: string): string => text.length <= 200 ? text : `${text.slice(0, 200)}…`

/** Decodes one message into the machine's event. */
const messageEvent = (data: string | Uint8Array): Machine.Event => {
  if (typeof data !== "string") {
    const frame = Protocol.readWsFrame(data)
    return frame === undefined
      ? { _tag: "Malformed", reason: `a binary message of ${data.length} bytes without a valid 8-byte offset` }
      : { _tag: "Data", offset: frame.offset, bytes: frame.bytes }
  }
  const decoded = decodeMessage(data)
  if (Either.isLeft(decoded)) return { _tag: "Malformed", reason: `malformed message: ${excerpt(data)}` }
  const message = decoded.right
  switch (message.type) {
    case "hello":
      return { _tag: "Hello", hello: message }
    case "gap":
      return { _tag: "Gap", gap: message }
    case "end":
      return { _tag: "End", end: message }
    case "ping":
      return { _tag: "Alive" }
  }
}

/** `http(s)://…/K` → `ws(s)://…/K/ws`; `undefined` when the URL cannot be parsed. */
const endpointOf = (base: string): URL | undefined => {
  try {
    const url = new URL(`${base}/ws`)
    if (url.protocol === "http:") url.protocol = "ws:"
    else if (url.protocol === "https:") url.protocol = "wss:"
    return url
  } catch {
    return undefined
  }
}

const ignore = () => {}

/** @internal */
export const framesWs = (
  url: string,
  options?: Api.FollowWsOptions
): Stream.Stream<
  ReplayStream.Frame,
  ClientError.ReplayClientError,
  HttpClient.HttpClient | Socket.WebSocketConstructor
> =>
  Stream.unwrap(Effect.gen(function*() {
    const resolved = settings(url, options)
    if (Either.isLeft(resolved)) return Stream.fail(resolved.left)
    const config = resolved.right
    const http = makeHttp(yield* HttpClient.HttpClient, config)
    const construct = yield* Socket.WebSocketConstructor
    const maxBufferedBytes = options?.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
    const endpoint = endpointOf(config.base)
    const wsUrl = endpoint?.toString() ?? `${config.base}/ws`

    /** The WebSocket of one attempt: binary messages as `ArrayBuffer`s; closed (1000) with the attempt. */
    const open = (target: string) =>
      Effect.acquireRelease(
        Effect.try({
          try: () => {
            const ws = construct(target)
            ws.binaryType = "arraybuffer"
            // An "error" after the socket's reader stopped listening (a close while connecting) is no crash.
            ws.addEventListener("error", ignore)
            return ws
          },
          catch: (cause) => new Socket.SocketGenericError({ reason: "Open", cause })
        }),
        (ws) => Effect.sync(() => ws.close(1000))
      )

    /** Why an attempt failed before the socket opened: `/info` tells a refusal from a drop. */
    const openFailed = (cause: Socket.SocketError): Effect.Effect<Machine.Event> => {
      const disconnected: Machine.Event = {
        _tag: "Disconnected",
        cause: cause.reason === "OpenTimeout"
          ? new ClientError.Disconnected({ reason: "IdleTimeout", cause })
          : new ClientError.Disconnected({ reason: "Transport", cause })
      }
      if (cause.reason === "OpenTimeout") return Effect.succeed(disconnected)
      return http.info(() => disconnected).pipe(Effect.orElseSucceed(() => disconnected))
    }

    const connect: Connect = (request) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        if (endpoint === undefined) {
          return Stream.fail(
            new ClientError.Disconnected({ reason: "Transport", cause: new Error(`invalid URL ${config.base}`) })
          )
        }
        const target = new URL(endpoint)
        if (request._tag === "Resume") {
          target.searchParams.set("offset", String(request.position.offset))
          target.searchParams.set("epoch", request.position.epoch)
        } else if (request._tag === "Start") {
          if (request.offset !== undefined) target.searchParams.set("offset", String(request.offset))
          if (request.epoch !== undefined) target.searchParams.set("epoch", request.epoch)
        }
        target.searchParams.set("onEvicted", config.policy)

        const mailbox = yield* Mailbox.make<Incoming>()
        let buffered = 0
        let overflowed = false
        // Runs synchronously for each message, in order.
        const onMessage = (data: unknown): void => {
          if (overflowed) return
          const message = typeof data === "string" || data instanceof Uint8Array
            ? data
            : data instanceof ArrayBuffer
            ? new Uint8Array(data)
            : undefined
          if (message === undefined) {
            mailbox.unsafeOffer({ _tag: "Unreadable", type: Object.prototype.toString.call(data) })
            return
          }
          // The messages not taken yet already pass the bound: drop the connection. So at most the bound plus
          // one message is held, and every connection delivers at least the message after its hello.
          if (buffered > maxBufferedBytes) {
            overflowed = true
            mailbox.unsafeOffer({ _tag: "Overflow" })
            return
          }
          buffered += message.length
          mailbox.unsafeOffer({ _tag: "Message", data: message })
        }
        const socket = yield* Socket.fromWebSocket(open(target.toString()), {
          openTimeout: config.idleTimeout,
          // Every close is reported: the end's `1000` comes after the end message, which completes first.
          closeCodeIsError: () => true
        })
        yield* socket.runRaw(onMessage).pipe(
          Effect.match({
            onFailure: (cause): Incoming =>
              cause.reason === "Close"
                ? { _tag: "Closed", code: cause.code, reason: cause.closeReason ?? "" }
                : { _tag: "Failed", cause },
            onSuccess: (): Incoming => ({ _tag: "Closed", code: 1000, reason: "" })
          }),
          Effect.flatMap((last) => Effect.zipRight(mailbox.offer(last), mailbox.end)),
          Effect.onInterrupt(() => mailbox.end),
          Effect.forkScoped
        )

        return Mailbox.toStream(mailbox).pipe(
          // Any message (data, or the server's ping after `keepAlive` of silence) shows the connection is alive.
          Stream.timeoutFail(idle, config.idleTimeout),
          Stream.mapChunksEffect((items): Effect.Effect<Chunk.Chunk<Machine.Event>> => {
            const events: Array<Machine.Event> = []
            for (const item of items) {
              switch (item._tag) {
                case "Message":
                  buffered -= item.data.length
                  events.push(messageEvent(item.data))
                  break
                case "Unreadable":
                  events.push({ _tag: "Malformed", reason: `a message the client cannot read (${item.type})` })
                  break
                case "Overflow":
                  events.push({
                    _tag: "Disconnected",
                    cause: new ClientError.Disconnected({ reason: "SlowConsumer" })
                  })
                  break
                case "Closed":
                  if (item.code === 4409 || item.code === 4410) {
                    const status = item.code === 4409 ? 409 : 410
                    return Effect.map(
                      http.info((info) => ({ _tag: "Conflict", status, info })).pipe(
                        Effect.catchAll((cause) => Effect.succeed<Machine.Event>({ _tag: "Disconnected", cause }))
                      ),
                      (event) => Chunk.unsafeFromArray([...events, event])
                    )
                  }
                  events.push({ _tag: "Closed", code: item.code, reason: item.reason })
                  break
                case "Failed":
                  if (item.cause.reason === "Open" || item.cause.reason === "OpenTimeout") {
                    return Effect.map(openFailed(item.cause), (event) => Chunk.unsafeFromArray([...events, event]))
                  }
                  events.push({
                    _tag: "Disconnected",
                    cause: new ClientError.Disconnected({ reason: "Transport", cause: item.cause })
                  })
                  break
              }
            }
            return Effect.succeed(Chunk.unsafeFromArray(events))
          })
        )
      }))

    return run(config, wsUrl, http, connect, "ws")
  }))

/** @internal */
export const followWs = (
  url: string,
  options?: Api.FollowWsOptions
): Stream.Stream<Uint8Array, ClientError.ReplayClientError, HttpClient.HttpClient | Socket.WebSocketConstructor> =>
  bytesOf(framesWs(url, options))
