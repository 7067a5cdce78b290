/**
 * Interactive sessions over real sockets: `NodeReplayHttp` with `TerminalControl`, real PTYs (`sh`), `ws`
 * clients. Every wait is for an event (a message, a close, a state), bounded by WAIT_MS only to fail.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Scope } from "effect"
import { awaitState, connect, serve, shell, withToken } from "./server.js"

const TERMINAL = "/scrollback/sh/ws?terminal=1"

describe("TerminalControl over the WebSocket", () => {
  it.scopedLive("the controller types, everyone sees the echo; a viewer's input is refused and never reaches the PTY", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      yield* shell(server, "sh")
      const controller = yield* connect(server.port, TERMINAL, withToken)
      const first = yield* controller.text("terminal")
      assert.deepStrictEqual(
        { offset: first.offset, cols: first.cols, rows: first.rows, unicode: first.unicode },
        { offset: 0, cols: 80, rows: 24, unicode: "6" }
      )
      yield* controller.text("control", (c) => c.role === "controller")
      assert.deepStrictEqual(controller.control, {
        type: "control",
        role: "controller",
        canControl: true,
        controlled: true
      })
      // A second client with the token: a viewer while the first controls.
      const viewer = yield* connect(server.port, TERMINAL, withToken)
      const control = yield* viewer.text("control")
      assert.deepStrictEqual(control, { type: "control", role: "viewer", canControl: true, controlled: true })

      yield* controller.outputMatches(/\$ $/)
      controller.sendJson({ type: "input", data: "echo hel''lo\r" })
      yield* controller.outputMatches(/\r\nhello\r\n/)
      yield* viewer.outputMatches(/\r\nhello\r\n/)

      // The viewer's input is refused (the answer proves it was processed), then the controller types a marker.
      viewer.sendJson({ type: "input", data: "echo VIEW''ER\r" })
      const rejected = yield* viewer.text("rejected")
      assert.deepStrictEqual(
        { request: rejected.request, reason: rejected.reason },
        { request: "input", reason: "NotController" }
      )
      viewer.sendJson({ type: "resize", cols: 100, rows: 30 })
      yield* viewer.text("rejected", (r) => r.request === "resize")
      controller.sendJson({ type: "input", data: "echo mark''er\r" })
      const seen = yield* viewer.outputMatches(/\r\nmarker\r\n/)
      assert.notInclude(seen, "VIEWER")
      assert.notInclude(seen, "VIEW''ER")
      assert.strictEqual(viewer.closed, undefined)
    }))

  it.scopedLive("a resize from the controller reaches the PTY and every client, with its offset", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const term = yield* shell(server, "sh")
      const controller = yield* connect(server.port, TERMINAL, withToken)
      const viewer = yield* connect(server.port, TERMINAL)
      yield* controller.text("control", (c) => c.role === "controller")
      yield* viewer.text("control")
      controller.sendJson({ type: "resize", cols: 100, rows: 30 })
      const seen = yield* viewer.text("resize")
      const mine = yield* controller.text("resize")
      assert.deepStrictEqual(seen, mine)
      assert.deepStrictEqual({ cols: seen.cols, rows: seen.rows }, { cols: 100, rows: 30 })
      assert.deepStrictEqual(yield* term.pty.size, { cols: 100, rows: 30 })
      const total = yield* term.buffer.total
      assert.isAtMost(seen.offset, total)
      controller.sendJson({ type: "input", data: "echo size=$(tput cols)x$(tput lines)\r" })
      yield* viewer.outputMatches(/size=100x30/)
      // A new client learns the size at its start from the `terminal` message, and the change at its offset.
      const late = yield* connect(server.port, TERMINAL)
      const start = yield* late.text("terminal")
      assert.strictEqual(start.offset, 0)
      assert.deepStrictEqual({ cols: start.cols, rows: start.rows }, { cols: 80, rows: 24 })
      const replayed = yield* late.text("resize")
      assert.deepStrictEqual(replayed, seen)
    }))

  it.scopedLive("take-over moves control, by message and by ?takeover=1; release gives it up", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      yield* shell(server, "sh")
      const a = yield* connect(server.port, TERMINAL, withToken)
      yield* a.text("control", (c) => c.role === "controller")
      const b = yield* connect(server.port, TERMINAL, withToken)
      yield* b.text("control", (c) => c.role === "viewer")
      b.sendJson({ type: "takeover" })
      yield* b.text("control", (c) => c.role === "controller")
      yield* a.until(() => a.control?.role === "viewer" ? a.control : undefined, "a to become a viewer")
      b.sendJson({ type: "input", data: "echo fr''om-b\r" })
      yield* a.outputMatches(/\r\nfrom-b\r\n/)
      a.sendJson({ type: "input", data: "x" })
      yield* a.text("rejected", (r) => r.reason === "NotController")

      const c = yield* connect(server.port, `${TERMINAL}&takeover=1`, withToken)
      yield* c.text("control", (m) => m.role === "controller")
      yield* b.until(() => b.control?.role === "viewer" ? b.control : undefined, "b to become a viewer")

      c.sendJson({ type: "release" })
      yield* c.until(
        () => c.control?.role === "viewer" && c.control.controlled === false ? c.control : undefined,
        "c to release"
      )
      yield* a.until(() => a.control?.controlled === false ? a.control : undefined, "a to see nobody in control")
      const state = yield* awaitState(server, "sh", (s) => !s.controlled, "no controller")
      assert.isFalse(state.leaseHeld)
      assert.strictEqual(state.sessions, 3)
    }))

  it.scopedLive("a client without the token watches but may not type or take over", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      yield* shell(server, "sh")
      const anonymous = yield* connect(server.port, `${TERMINAL}&takeover=1`)
      const control = yield* anonymous.text("control")
      assert.deepStrictEqual(control, { type: "control", role: "viewer", canControl: false, controlled: false })
      anonymous.sendJson({ type: "takeover" })
      const rejected = yield* anonymous.text("rejected")
      assert.deepStrictEqual(
        { request: rejected.request, reason: rejected.reason },
        { request: "takeover", reason: "NotAllowed" }
      )
      anonymous.sendJson({ type: "input", data: "echo no\r" })
      yield* anonymous.text("rejected", (r) => r.request === "input")
      const wrong = yield* connect(server.port, TERMINAL, { authorization: "Bearer wrong-token-0123456789" })
      assert.isFalse((yield* wrong.text("control")).canControl)
      // The token in the query or a cookie works too.
      const byQuery = yield* connect(server.port, `${TERMINAL}&token=test-token-0123456789`)
      yield* byQuery.text("control", (c) => c.role === "controller")
      const byCookie = yield* connect(server.port, `${TERMINAL}&takeover=1`, {
        cookie: "other=1; scrollback_token=test-token-0123456789"
      })
      yield* byCookie.text("control", (c) => c.role === "controller")
    }))

  it.scopedLive("when reading needs the token, a client without it is refused before the upgrade (401, JSON)", () =>
    Effect.gen(function*() {
      const server = yield* serve({ readNeedsToken: true })
      yield* shell(server, "sh")
      const refused = yield* connect(server.port, TERMINAL)
      assert.strictEqual(refused.refused?.status, 401)
      const body = JSON.parse(refused.refused!.body)
      assert.strictEqual(body.error._tag, "Denied")
      assert.strictEqual(body.message, "a valid access token is required")
      const allowed = yield* connect(server.port, TERMINAL, withToken)
      yield* allowed.text("control", (c) => c.role === "controller")
    }))

  it.scopedLive("the lease is released on every path: close, abrupt drop, protocol error, shutdown", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      yield* shell(server, "sh")
      const held = () => awaitState(server, "sh", (s) => s.controlled && s.leaseHeld, "a controller")
      const free = (what: string) => awaitState(server, "sh", (s) => !s.controlled && !s.leaseHeld, what)

      const normal = yield* connect(server.port, TERMINAL, withToken)
      yield* normal.text("control", (c) => c.role === "controller")
      yield* held()
      normal.socket.close(1000)
      yield* free("the lease after a normal close")

      const abrupt = yield* connect(server.port, TERMINAL, withToken)
      yield* abrupt.text("control", (c) => c.role === "controller")
      yield* held()
      abrupt.socket.terminate()
      yield* free("the lease after the client vanished")

      const broken = yield* connect(server.port, TERMINAL, withToken)
      yield* broken.text("control", (c) => c.role === "controller")
      yield* held()
      broken.send("{not json")
      assert.strictEqual((yield* broken.awaitClose()).code, 1007)
      yield* free("the lease after a protocol error")

      const last = yield* connect(server.port, TERMINAL, withToken)
      yield* last.text("control", (c) => c.role === "controller")
      yield* held()
      yield* Scope.close(server.scope, Exit.void)
      assert.strictEqual((yield* last.awaitClose()).code, 1001)
      // The service is gone with the server: nothing is registered any more.
      assert.isTrue(Option.isNone(yield* server.control.state("sh")))
    }))

  it.scopedLive("the terminal's registration ends: its controller loses control, clients are told", () =>
    Effect.gen(function*() {
      const server = yield* serve()
      const scope = yield* Scope.make()
      yield* Scope.extend(shell(server, "sh"), scope)
      const client = yield* connect(server.port, TERMINAL, withToken)
      yield* client.text("control", (c) => c.role === "controller")
      yield* Scope.close(scope, Exit.void)
      yield* client.until(
        () => client.control?.controlled === false && client.control.canControl === false ? client.control : undefined,
        "the control message after the registration ended"
      )
    }))

  describe("bad input: the documented close, never a crash; the PTY and the other clients carry on", () => {
    const cases: ReadonlyArray<{
      readonly name: string
      readonly path?: string
      readonly send: (client: { send: (data: string | Uint8Array) => void }) => void
      readonly code: number
    }> = [
      {
        name: "a message over wsMaxMessageBytes",
        send: (c) => c.send(JSON.stringify({ type: "input", data: "y".repeat(5000) })),
        code: 1009
      },
      { name: "text that is not JSON", send: (c) => c.send("{not json"), code: 1007 },
      { name: "an unknown type", send: (c) => c.send(JSON.stringify({ type: "format-disk" })), code: 1007 },
      {
        name: "a field out of range",
        send: (c) => c.send(JSON.stringify({ type: "resize", cols: 0, rows: 10 })),
        code: 1007
      },
      {
        name: "input that is not a string",
        send: (c) => c.send(JSON.stringify({ type: "input", data: [1, 2] })),
        code: 1007
      },
      {
        name: "a binary message",
        send: (c) => c.send(new TextEncoder().encode(JSON.stringify({ type: "input", data: "x" }))),
        code: 1003
      },
      {
        name: "a message to a plain (non-terminal) session",
        path: "/scrollback/sh/ws",
        send: (c) => c.send(JSON.stringify({ type: "input", data: "x" })),
        code: 1008
      },
      {
        name: "more than the inbound budget",
        send: (c) => {
          // Valid messages (a resize to the size it has, padded with spaces): only their bytes count.
          for (let i = 0; i < 4; i++) c.send(" ".repeat(3000) + JSON.stringify({ type: "resize", cols: 80, rows: 24 }))
        },
        code: 1008
      }
    ]
    for (const testCase of cases) {
      it.scopedLive(`${testCase.name} → ${testCase.code}`, () =>
        Effect.gen(function*() {
          const server = yield* serve({ http: { wsInboundBytesPerSecond: 1, wsInboundBurstBytes: 8 * 1024 } })
          yield* shell(server, "sh")
          const controller = yield* connect(server.port, TERMINAL, withToken)
          yield* controller.text("control", (c) => c.role === "controller")
          const viewer = yield* connect(server.port, TERMINAL)
          yield* viewer.text("control")
          const bad = yield* connect(server.port, testCase.path ?? `${TERMINAL}&takeover=1`, withToken)
          yield* bad.text("hello")
          testCase.send(bad)
          const closed = yield* bad.awaitClose()
          assert.strictEqual(closed.code, testCase.code, closed.reason)
          // The terminal, its controller and its viewer are unaffected: control is back with a client that types.
          controller.sendJson({ type: "takeover" })
          yield* controller.until(
            () =>
              controller.control?.role === "controller" && controller.texts("control").length > 1 ? true : undefined,
            "control back"
          )
          // Ctrl-U first: whatever the bad client typed on the line is dropped.
          controller.sendJson({ type: "input", data: "\x15echo sti''ll-alive\r" })
          yield* viewer.outputMatches(/still-alive\r\n/)
          assert.strictEqual(viewer.closed, undefined)
          assert.strictEqual(controller.closed, undefined)
        }))
    }

    it.scopedLive("input never crosses to another key", () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const a = yield* shell(server, "a")
        const b = yield* shell(server, "b")
        const ca = yield* connect(server.port, "/scrollback/a/ws?terminal=1", withToken)
        const cb = yield* connect(server.port, "/scrollback/b/ws?terminal=1", withToken)
        yield* ca.text("control", (c) => c.role === "controller")
        yield* cb.text("control", (c) => c.role === "controller")
        ca.sendJson({ type: "input", data: "echo only''-in-a\r" })
        yield* ca.outputMatches(/\r\nonly-in-a\r\n/)
        cb.sendJson({ type: "input", data: "echo only''-in-b\r" })
        const seenB = yield* cb.outputMatches(/\r\nonly-in-b\r\n/)
        assert.notInclude(seenB, "only-in-a")
        assert.notInclude(ca.output(), "only-in-b")
        const textOf = (term: typeof a) =>
          Effect.map(Effect.orDie(term.buffer.readFrom(0)), (read) => new TextDecoder().decode(read.bytes))
        assert.notInclude(yield* textOf(b), "only-in-a")
        assert.include(yield* textOf(b), "only-in-b")
        assert.notInclude(yield* textOf(a), "only-in-b")
      }))
  })
})
