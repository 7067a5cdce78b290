/**
 * Keyframes over the WebSocket (`?terminal=1`): a client that starts, resumes or falls behind at an
 * evicted offset gets the screen as a snapshot, then the bytes from there, and ends with exactly what a
 * terminal fed the whole log shows. A real server, real sockets; the log is written by the test, paced by
 * the keyframe engine (the library never makes a writer wait: the test's producer is just slower).
 */
import { assert, describe, it } from "@effect/vitest"
import type { Terminal } from "@xterm/headless"
import { Effect } from "effect"
import type { Socket } from "node:net"
import * as TerminalKeyframes from "../src/TerminalKeyframes.js"
import { assertSame, writeLog } from "./keyframes.js"
import { makeLog, random } from "./output.js"
import { type Client, connect, type Received, serve, type TerminalServer } from "./server.js"
import { Feeder, makeTerminal, writeString } from "./terminals.js"

const COLS = 70
const ROWS = 20
const SCROLLBACK = 200

/** What a terminal client does with the messages it received: the terminal it ends with. */
const applyMessages = (messages: ReadonlyArray<Received>) =>
  Effect.gen(function*() {
    let term: Terminal | undefined
    let feeder: Feeder | undefined
    let position: number | undefined
    const pending: Array<{ offset: number; cols: number; rows: number }> = []
    const gaps: Array<{ requested: number; oldest: number }> = []
    let snapshots = 0
    for (const message of messages) {
      if (message.kind === "binary") {
        assert.isDefined(feeder, "bytes after the terminal message")
        assert.strictEqual(message.offset, position, "the bytes are contiguous")
        let bytes = message.bytes
        let at = message.offset
        while (pending.length > 0 && pending[0].offset < at + bytes.length) {
          const change = pending.shift()!
          const cut = Math.max(0, change.offset - at)
          yield* Effect.promise(() => feeder!.push(bytes.subarray(0, cut)))
          feeder!.resize(change.cols, change.rows)
          bytes = bytes.subarray(cut)
          at += cut
        }
        yield* Effect.promise(() => feeder!.push(bytes))
        position = message.offset + message.bytes.length
        continue
      }
      const json = message.json
      switch (json.type) {
        case "terminal": {
          pending.length = 0
          if (json.snapshot !== undefined || term === undefined) {
            term?.dispose()
            term = makeTerminal(json.cols, json.rows, 1000)
            feeder = new Feeder(term)
            if (json.snapshot !== undefined) {
              snapshots++
              yield* Effect.promise(() => writeString(term!, json.snapshot))
            }
          } else {
            feeder!.resize(json.cols, json.rows)
          }
          position = json.offset
          break
        }
        case "resize":
          if (position !== undefined && json.offset <= position) feeder!.resize(json.cols, json.rows)
          else pending.push(json)
          break
        case "gap":
          gaps.push({ requested: json.requested, oldest: json.oldest })
          position = json.oldest
          break
      }
    }
    return { term: term!, gaps, snapshots, position }
  })

/** A read-only terminal (keyframes, no PTY) under `key`: the test writes its log. */
const readOnly = (server: TerminalServer, key: string, capacity: number) =>
  Effect.gen(function*() {
    const buffer = yield* Effect.orDie(server.registry.create(key, { capacity }))
    const keyframes = yield* Effect.orDie(
      TerminalKeyframes.make(buffer, { cols: COLS, rows: ROWS, scrollback: SCROLLBACK })
    )
    yield* Effect.orDie(server.control.register(key, { keyframes }))
    return { buffer, keyframes }
  })

/** Waits until the client has received the bytes up to `total`. */
const receivedUpTo = (client: Client, total: number) =>
  client.until(() => {
    let end = -1
    for (const m of client.messages) if (m.kind === "binary") end = m.offset + m.bytes.length
    return end >= total ? end : undefined
  }, `the bytes up to ${total}`)

describe("keyframes over the WebSocket", () => {
  it.scopedLive(
    "a new client and one resuming at an evicted offset get a snapshot: the reference screen",
    () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const { buffer, keyframes } = yield* readOnly(server, "t", 16 * 1024)
        const reference = makeTerminal(COLS, ROWS, 1000)
        yield* writeLog(buffer, keyframes, makeLog(21, 300 * 1024, { cols: COLS, rows: ROWS, fullScreen: true }), {
          next: random(22),
          maxPiece: 3000,
          reference: new Feeder(reference),
          resizes: [{ offset: 120_000, cols: 90, rows: 30 }, { offset: 260_000, cols: COLS, rows: ROWS }]
        })
        const total = yield* buffer.total
        const oldest = yield* buffer.oldest
        assert.isAbove(oldest, 200_000, "the start was evicted")

        const fresh = yield* connect(server.port, "/scrollback/t/ws?terminal=1")
        const hello = yield* fresh.text("hello")
        const first = yield* fresh.text("terminal")
        assert.isDefined(first.snapshot, "a snapshot instead of a gap")
        assert.strictEqual(hello.offset, first.offset, "the bytes start at the keyframe")
        assert.isAtLeast(first.offset, oldest)
        yield* receivedUpTo(fresh, total)
        const applied = yield* applyMessages(fresh.messages)
        assert.deepStrictEqual(applied.gaps, [])
        assertSame(reference, applied.term, SCROLLBACK, "a new client")

        const resumed = yield* connect(server.port, `/scrollback/t/ws?terminal=1&offset=5000&epoch=${buffer.epoch}`)
        assert.isDefined((yield* resumed.text("terminal")).snapshot)
        yield* receivedUpTo(resumed, total)
        assertSame(reference, (yield* applyMessages(resumed.messages)).term, SCROLLBACK, "a client resuming at 5000")

        // A position still retained: no snapshot, the size there, then the bytes.
        const near = yield* connect(server.port, `/scrollback/t/ws?terminal=1&offset=${total - 100}`)
        const nearStart = yield* near.text("terminal")
        assert.deepStrictEqual(
          { offset: nearStart.offset, cols: nearStart.cols, rows: nearStart.rows, snapshot: nearStart.snapshot },
          { offset: total - 100, cols: COLS, rows: ROWS, snapshot: undefined }
        )

        // A plain follower (no ?terminal=1) is unchanged: a gap, then what is retained.
        const plain = yield* connect(server.port, "/scrollback/t/ws?offset=0")
        const gap = yield* plain.text("gap")
        assert.deepStrictEqual(gap, { type: "gap", requested: 0, oldest })
        yield* receivedUpTo(plain, total)
        assert.deepStrictEqual(plain.texts("terminal"), [])
      }),
    180_000
  )

  it.scopedLive(
    "a client that falls behind eviction while following continues from a snapshot, not a gap",
    () =>
      Effect.gen(function*() {
        // Pings off for this test: the client stops reading on purpose.
        const server = yield* serve({ http: { keepAlive: "1 hour" } })
        const { buffer, keyframes } = yield* readOnly(server, "f", 256 * 1024)
        const reference = makeTerminal(COLS, ROWS, 1000)
        const feeder = new Feeder(reference)
        const client = yield* connect(server.port, "/scrollback/f/ws?terminal=1")
        yield* client.text("terminal")
        const socket = (client.socket as unknown as { _socket: Socket })._socket
        // Stop reading until the server had to skip bytes for this client. The kernel holds up to its send
        // buffer (4 MiB here) for a peer that does not read, so a round writes 6 MiB; at most 3 rounds.
        let round = 0
        for (; round < 3; round++) {
          socket.pause()
          const log = makeLog(100 + round, 6 * 1024 * 1024, { cols: COLS, rows: ROWS, fullScreen: false })
          yield* writeLog(buffer, keyframes, log, { next: random(200 + round), maxPiece: 64 * 1024, reference: feeder })
          socket.resume()
          yield* receivedUpTo(client, yield* buffer.total)
          if (client.texts("terminal").some((m) => m.snapshot !== undefined)) break
        }
        assert.isBelow(round, 3, "the client fell behind eviction")
        const applied = yield* applyMessages(client.messages)
        assert.deepStrictEqual(applied.gaps, [], "a snapshot, never a gap")
        assert.isAtLeast(applied.snapshots, 1)
        assertSame(reference, applied.term, SCROLLBACK, "a client that fell behind")
      }),
    180_000
  )

  it.scopedLive(
    "when the engine fell behind and has no keyframe, a new client gets today's gap, visibly",
    () =>
      Effect.gen(function*() {
        const server = yield* serve()
        const { buffer, keyframes } = yield* readOnly(server, "g", 16 * 1024)
        // One write larger than the capacity: the engine falls behind eviction and distrusts its screen.
        yield* Effect.orDie(buffer.write(new TextEncoder().encode("x".repeat(100 * 1024))))
        yield* keyframes.awaitPosition(yield* buffer.total)
        assert.isFalse((yield* keyframes.stats).trusted)
        const client = yield* connect(server.port, "/scrollback/g/ws?terminal=1")
        const start = yield* client.text("terminal")
        assert.strictEqual(start.snapshot, undefined)
        const gap = yield* client.text("gap")
        assert.deepStrictEqual(gap, { type: "gap", requested: 0, oldest: yield* buffer.oldest })
      }),
    180_000
  )
})
