/**
 * Light followers for tests that need hundreds of connections, or the
 * response as it is on the wire: a plain `node:http` GET of an SSE endpoint
 * and a plain `ws` WebSocket. Each is closed when the scope closes.
 */
import { Deferred, Effect, Exit } from "effect"
import type { Scope } from "effect"
import * as Http from "node:http"
import WebSocket from "ws"

export interface RawFollower {
  /** Completes once the first data event (SSE) or binary frame (WebSocket) arrived. */
  readonly firstData: Effect.Effect<void, Error>
  /** Completes when the server ends the stream: the SSE body, or the WebSocket's text messages joined by `\n`. */
  readonly ended: Effect.Effect<string, Error>
}

/** What the server answered a request that was refused (or not). */
export interface RawResponse {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** A GET with no agent (one connection), its whole body read (for refusals and plain reads). */
export const get = (url: string, headers: Http.OutgoingHttpHeaders = {}): Effect.Effect<RawResponse, Error> =>
  Effect.async<RawResponse, Error>((resume) => {
    const request = Http.get(url, { agent: false, headers }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (d) => (body += d))
      response.on(
        "end",
        () => resume(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers, body }))
      )
      response.on("error", (error) => resume(Effect.fail(error)))
    })
    request.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => request.destroy())
  })

/** A WebSocket handshake that the server refuses: its status, headers and body. */
export const refusedUpgrade = (url: string): Effect.Effect<RawResponse, Error> =>
  Effect.async<RawResponse, Error>((resume) => {
    const ws = new WebSocket(url)
    ws.on("unexpected-response", (_request, response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (d: string) => (body += d))
      response.on("end", () => {
        resume(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers, body }))
        ws.terminate()
      })
    })
    ws.on("open", () => {
      resume(Effect.fail(new Error("the upgrade was accepted")))
      ws.terminate()
    })
    ws.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => ws.terminate())
  })

/** An SSE follower: `GET url` with no agent, the body kept as text. */
export const sse = (
  url: string,
  headers: Http.OutgoingHttpHeaders = {}
): Effect.Effect<RawFollower, never, Scope.Scope> =>
  Effect.gen(function*() {
    const firstData = yield* Deferred.make<void, Error>()
    const ended = yield* Deferred.make<string, Error>()
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        let body = ""
        let sawData = false
        const request = Http.get(url, { agent: false, headers }, (response) => {
          response.setEncoding("utf8")
          if (response.statusCode !== 200) {
            const error = new Error(`SSE ${url}: status ${response.statusCode}`)
            Deferred.unsafeDone(firstData, Exit.fail(error))
            Deferred.unsafeDone(ended, Exit.fail(error))
          }
          response.on("data", (d: string) => {
            body += d
            // A data event: an id, then its data (hello, gap and end have an `event:` line in between).
            if (!sawData && /\nid: [^\n]+\ndata: /.test(body)) {
              sawData = true
              Deferred.unsafeDone(firstData, Exit.void)
            }
          })
          response.on("end", () => Deferred.unsafeDone(ended, Exit.succeed(body)))
          response.on("error", (error) => Deferred.unsafeDone(ended, Exit.fail(error)))
        })
        request.on("error", (error) => {
          Deferred.unsafeDone(firstData, Exit.fail(error))
          Deferred.unsafeDone(ended, Exit.fail(error))
        })
        return request
      }),
      (request) => Effect.sync(() => request.destroy())
    )
    return { firstData: Deferred.await(firstData), ended: Deferred.await(ended) }
  })

/** A WebSocket follower (`ws`), its text messages kept. */
export const ws = (url: string): Effect.Effect<RawFollower, never, Scope.Scope> =>
  Effect.gen(function*() {
    const firstData = yield* Deferred.make<void, Error>()
    const ended = yield* Deferred.make<string, Error>()
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const texts: Array<string> = []
        const socket = new WebSocket(url)
        socket.on("message", (data, isBinary) => {
          if (isBinary) Deferred.unsafeDone(firstData, Exit.void)
          else texts.push(String(data))
        })
        socket.on("close", (code) => {
          texts.push(`close ${code}`)
          Deferred.unsafeDone(firstData, Exit.fail(new Error(`WebSocket ${url} closed: ${texts.join("\n")}`)))
          Deferred.unsafeDone(ended, Exit.succeed(texts.join("\n")))
        })
        socket.on("error", (error) => {
          Deferred.unsafeDone(firstData, Exit.fail(error))
          Deferred.unsafeDone(ended, Exit.fail(error))
        })
        return socket
      }),
      (socket) => Effect.sync(() => socket.terminate())
    )
    return { firstData: Deferred.await(firstData), ended: Deferred.await(ended) }
  })
