/**
 * The checks every endpoint makes first (`Host` against DNS rebinding, the browser `Origin`) and the access
 * token, on a real server (the portable routes) with real sockets: each refusal's status and JSON body.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clients, Portable } from "@scrollback/http-test-kit"
import { ReplayHttp, ReplayHttpError } from "@scrollback/platform"
import { Effect, Either, Redacted } from "effect"
import * as Net from "node:net"

/** A WebSocket handshake with this `Host`: the raw answer, once the server ended it. */
const rawUpgrade = (port: number, host: string) =>
  Effect.async<string>((resume) => {
    const socket = Net.connect({ port, host: "127.0.0.1" })
    let answer = ""
    socket.on("data", (chunk) => answer += chunk.toString("utf8"))
    socket.on("error", () => {})
    socket.on("close", () => resume(Effect.succeed(answer)))
    socket.write(
      `GET /scrollback/k/ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    return Effect.sync(() => socket.destroy())
  })

const ENDPOINTS = ["/scrollback/k", "/scrollback/k/sse", "/scrollback/k/info", "/scrollback", "/scrollback/k/nope"]

describe("ReplayHttp checks on every endpoint", () => {
  it.scopedLive("a Host that is not an IP literal, localhost or allowed is refused: 403 HostNotAllowed", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const buffer = yield* server.create("k")
      yield* buffer.write(new TextEncoder().encode("x"))
      yield* buffer.end
      for (const path of ENDPOINTS) {
        const refused = yield* Clients.request(`${server.base}${path}`, {
          headers: { host: `rebound.example:${server.port}` }
        })
        assert.strictEqual(refused.status, 403, path)
        assert.deepStrictEqual(Clients.json(refused), {
          error: { _tag: "HostNotAllowed", host: `rebound.example:${server.port}` },
          message: `the host "rebound.example:${server.port}" is not allowed here (allowedHosts)`
        }, path)
      }
      const upgrade = yield* rawUpgrade(server.port, "rebound.example")
      assert.match(upgrade, /^HTTP\/1\.1 403 /)
      assert.include(upgrade, "\"_tag\":\"HostNotAllowed\"")
      // The names that cannot be rebound are always allowed.
      for (
        const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, "app.localhost", "[::1]:80", "10.1.2.3"]
      ) {
        assert.strictEqual(
          (yield* Clients.request(`${server.base}/scrollback/k/info`, { headers: { host } })).status,
          200,
          host
        )
      }
      // A method that is not GET is still a 405 for an allowed host, and a 403 for another.
      const post = yield* Clients.request(`${server.base}/scrollback/k/info`, {
        method: "POST",
        headers: { host: "rebound.example" }
      })
      assert.strictEqual(post.status, 403)
    }))

  it.scopedLive("allowedHosts: names, domains, or any", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve({ http: { allowedHosts: ["logs.example.com", ".corp.example"] } })
      yield* server.create("k")
      const status = (host: string) =>
        Effect.map(Clients.request(`${server.base}/scrollback/k/info`, { headers: { host } }), (r) => r.status)
      assert.strictEqual(yield* status("logs.example.com"), 200)
      assert.strictEqual(yield* status("LOGS.example.com.:8080"), 200)
      assert.strictEqual(yield* status("corp.example"), 200)
      assert.strictEqual(yield* status("a.b.corp.example:443"), 200)
      assert.strictEqual(yield* status("example.com"), 403)
      assert.strictEqual(yield* status("evilcorp.example"), 403)
      const any = yield* Portable.serve({ http: { allowedHosts: "*" } })
      yield* any.create("k")
      assert.strictEqual(
        (yield* Clients.request(`${any.base}/scrollback/k/info`, { headers: { host: "whatever.example" } })).status,
        200
      )
      const invalid = yield* Effect.either(ReplayHttp.make({ allowedHosts: ["http://x.example"] }))
      assert.isTrue(Either.isLeft(invalid))
      if (Either.isLeft(invalid)) assert.strictEqual(invalid.left.option, "allowedHosts")
    }))

  it.scopedLive("an Origin that is not allowed is refused on every endpoint, not only WebSocket: 403 OriginNotAllowed", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const buffer = yield* server.create("k")
      yield* buffer.end
      for (const path of ENDPOINTS) {
        const refused = yield* Clients.request(`${server.base}${path}`, { headers: { origin: "https://evil.example" } })
        assert.strictEqual(refused.status, 403, path)
        assert.deepStrictEqual(Clients.json(refused).error, {
          _tag: "OriginNotAllowed",
          origin: "https://evil.example"
        }, path)
      }
      const same = yield* Clients.request(`${server.base}/scrollback/k/info`, {
        headers: { origin: `http://127.0.0.1:${server.port}` }
      })
      assert.strictEqual(same.status, 200)
    }))

  it.scopedLive("an access token: bearer, cookie or query, compared in constant time; anything else 401", () =>
    Effect.gen(function*() {
      const token = Redacted.make("s3cret-token")
      const check = ReplayHttp.accessToken(token)
      const server = yield* Portable.serve({ authorization: { authorize: check } })
      yield* server.create("k")
      const info = `${server.base}/scrollback/k/info`
      assert.strictEqual(
        (yield* Clients.request(info, { headers: { authorization: "Bearer s3cret-token" } })).status,
        200
      )
      assert.strictEqual(
        (yield* Clients.request(info, { headers: { cookie: "a=b; scrollback_token=s3cret-token" } })).status,
        200
      )
      assert.strictEqual((yield* Clients.request(`${info}?token=s3cret-token`)).status, 200)
      for (
        const headers of [{}, { authorization: "Bearer s3cret-tokeN" }, { authorization: "Bearer  s3cret-token" }, {
          cookie: "scrollback_token=s3cret"
        }, { authorization: "Basic s3cret-token" }]
      ) {
        const refused = yield* Clients.request(info, { headers })
        assert.strictEqual(refused.status, 401, JSON.stringify(headers))
        assert.deepStrictEqual(Clients.json(refused).error, {
          _tag: "Denied",
          status: 401,
          message: "a valid access token is required"
        })
      }
      assert.strictEqual((yield* Clients.request(`${info}?token=s3cret`)).status, 401)
      // Places can be turned off or renamed.
      const strict = ReplayHttp.accessToken(token, { cookie: false, query: "key" })
      const base = { key: "k", transport: "info" as const, method: "GET", remoteAddress: undefined }
      const allowed = (url: string, headers: Record<string, string>) =>
        Effect.map(Effect.either(strict({ ...base, url, headers })), Either.isRight)
      assert.isFalse(yield* allowed("/x", { cookie: "scrollback_token=s3cret-token" }))
      assert.isFalse(yield* allowed("/x?token=s3cret-token", {}))
      assert.isTrue(yield* allowed("/x?key=s3cret-token", {}))
      // An empty token matches nothing.
      const empty = ReplayHttp.accessToken(Redacted.make(""))
      assert.isTrue(Either.isLeft(yield* Effect.either(empty({ ...base, url: "/x?token=", headers: {} }))))
      assert.instanceOf(
        Either.getLeft(yield* Effect.either(empty({ ...base, url: "/x", headers: { authorization: "Bearer " } })))
          .pipe((o) => o._tag === "Some" ? o.value : undefined),
        ReplayHttpError.Denied
      )
    }))
})
