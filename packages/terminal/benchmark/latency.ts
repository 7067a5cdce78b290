/**
 * Keystroke-to-echo latency through the server, beside the same PTY driven
 * directly in-process, in the same run. Prints JSON lines.
 *
 *   pnpm --filter @scrollback/terminal exec node --import tsx benchmark/latency.ts
 *   BENCH_QUICK=1 ... (200 keystrokes instead of 2,000)
 *
 * The PTY runs `cat` in raw mode without echo (`stty raw -echo`), so the
 * process itself echoes each byte, as a shell's line editor does. One
 * keystroke at a time, each waiting for its echo:
 *
 * - direct: `pty.write(key)` in-process, then waits until the echo is in
 *   the buffer (`ReplayPty.run` writes it there);
 * - server: a WebSocket client (`ws`, in this process, over 127.0.0.1) of a
 *   `NodeReplayHttp` server with `TerminalControl` sends
 *   `{"type":"input","data":key}` as the controlling client and waits for
 *   the binary frame with the echo: the message is decoded, processed in
 *   order under the controller lease, written to the PTY; the echo is read,
 *   written into the buffer and fanned out to the client.
 *
 * The two alternate in rounds (so neither always runs on a warmer process);
 * each reports p50, p99, mean and max in microseconds, and the ratio of the
 * server's to the direct path's.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { report } from "@scrollback/bench-kit"
import { ReplayRegistry } from "@scrollback/core"
import { ReplayHttp, ReplayProtocol } from "@scrollback/platform"
import { NodeReplayHttp } from "@scrollback/platform-node"
import { ReplayPty, TerminalControl, TerminalKeyframes } from "@scrollback/terminal"
import { Context, Effect, Layer, Redacted } from "effect"
import * as Http from "node:http"
import WebSocket from "ws"

const quick = process.env.BENCH_QUICK === "1"
const KEYSTROKES = quick ? 200 : 2000
const ROUNDS = 10
const TOKEN = Redacted.make("bench-token")

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

const summary = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const us = (ns: number) => Math.round(ns / 10) / 100
  return {
    keystrokes: samples.length,
    p50Us: us(percentile(sorted, 50)),
    p99Us: us(percentile(sorted, 99)),
    meanUs: us(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    maxUs: us(sorted[sorted.length - 1])
  }
}

const now = () => Number(process.hrtime.bigint())

const program = Effect.gen(function*() {
  const registry = yield* ReplayRegistry.make()
  const buffer = yield* registry.create("bench", { capacity: 1024 * 1024 })
  const keyframes = yield* TerminalKeyframes.make(buffer, { cols: 80, rows: 24 })
  const pty = yield* ReplayPty.run(buffer, "sh", ["-c", "stty raw -echo && echo ready && exec cat"], {
    cols: 80,
    rows: 24
  })
  const context = yield* Layer.build(
    NodeReplayHttp.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }).pipe(
      Layer.provideMerge(ReplayHttp.layer()),
      Layer.provideMerge(TerminalControl.layer({ authorizeInput: ReplayHttp.accessToken(TOKEN) })),
      Layer.provide(ReplayHttp.layerAllowAll),
      Layer.provide(Layer.succeed(ReplayRegistry.ReplayRegistry, registry))
    )
  )
  const server = Context.get(context, HttpServer.HttpServer)
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  yield* Context.get(context, TerminalControl.TerminalControl).register("bench", { keyframes, pty })

  // Wait for `cat` (the terminal is raw from here on).
  for (let total = yield* buffer.total;; total = yield* buffer.total) {
    const { bytes } = yield* buffer.readFrom(0)
    if (new TextDecoder().decode(bytes).includes("ready")) break
    yield* buffer.awaitData(total)
  }

  // The controlling client.
  const client = new WebSocket(`ws://127.0.0.1:${port}/scrollback/bench/ws?terminal=1&offset=0`, {
    headers: { authorization: "Bearer bench-token" }
  })
  client.binaryType = "nodebuffer"
  let waiting: { readonly key: number; readonly resolve: () => void } | undefined
  let controlling: (() => void) | undefined
  client.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      const message = JSON.parse(data.toString("utf8"))
      if (message.type === "control" && message.role === "controller") controlling?.()
      return
    }
    const frame = ReplayProtocol.readWsFrame(new Uint8Array(data))!
    if (waiting !== undefined && frame.bytes.includes(waiting.key)) {
      const done = waiting.resolve
      waiting = undefined
      done()
    }
  })
  yield* Effect.promise(() => new Promise<void>((resolve) => controlling = resolve))

  const keyOf = (i: number) => 97 + (i % 26)

  const direct = (i: number) =>
    Effect.gen(function*() {
      const key = keyOf(i)
      const from = yield* buffer.total
      const start = now()
      yield* pty.write(String.fromCharCode(key))
      for (let at = from;;) {
        const read = yield* buffer.readFrom(at)
        if (read.bytes.includes(key)) break
        at = read.offset + read.bytes.length
        yield* buffer.awaitData(at)
      }
      return now() - start
    })

  const viaServer = (i: number) =>
    Effect.promise(() =>
      new Promise<number>((resolve) => {
        const key = keyOf(i)
        const start = now()
        waiting = { key, resolve: () => resolve(now() - start) }
        client.send(JSON.stringify({ type: "input", data: String.fromCharCode(key) }))
      })
    )

  // Warm-up, then alternating rounds.
  for (let i = 0; i < 50; i++) {
    yield* direct(i)
    yield* viaServer(i)
  }
  const directNs: Array<number> = []
  const serverNs: Array<number> = []
  const perRound = Math.ceil(KEYSTROKES / ROUNDS)
  for (let round = 0; round < ROUNDS; round++) {
    const first = round % 2 === 0 ? "direct" : "server"
    for (const mode of first === "direct" ? ["direct", "server"] : ["server", "direct"]) {
      for (let i = 0; i < perRound; i++) {
        if (mode === "direct") directNs.push(yield* direct(i))
        else serverNs.push(yield* viaServer(i))
      }
    }
  }
  client.terminate()
  const d = summary(directNs)
  const s = summary(serverNs)
  report({ bench: "keystroke-echo", subject: "server", ...s })
  report({ bench: "keystroke-echo", subject: "direct", ...d })
  report({
    bench: "keystroke-echo-compare",
    subject: "WebSocket -> TerminalControl -> PTY -> buffer -> fan-out -> WebSocket",
    baseline: "pty.write in-process -> PTY -> buffer",
    p50Ratio: Math.round((s.p50Us / d.p50Us) * 100) / 100,
    p99Ratio: Math.round((s.p99Us / d.p99Us) * 100) / 100,
    p50AddedUs: Math.round((s.p50Us - d.p50Us) * 100) / 100,
    rounds: ROUNDS
  })
}).pipe(Effect.scoped)

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
