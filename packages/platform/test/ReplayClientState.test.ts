/**
 * The client's resume logic (`internal/clientState.ts`, the state machine both
 * transports feed) against a simulated honest server: random writes,
 * evictions, deliveries split at random, keep-alives, refusals and drops of
 * every kind, for both transports' event shapes and both eviction policies;
 * then the same runs with one message corrupted.
 */
import { assert, describe, it } from "@effect/vitest"
import { OffsetAhead, OffsetEvicted } from "@scrollback/core/ReplayBufferError"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as ReplayClientError from "@scrollback/platform/ReplayClientError"
import { TooManyConnections } from "@scrollback/platform/ReplayHttpError"
import type * as ReplayProtocol from "@scrollback/platform/ReplayProtocol"
import type * as ReplayStream from "@scrollback/platform/ReplayStream"
import { Effect, FastCheck as fc } from "effect"
import * as Machine from "../src/internal/clientState.js"
import { prng } from "./util/faultProxy.js"

const EPOCH = "00000000000000aa"
const OTHER = "00000000000000bb"
const URL = "http://127.0.0.1:1/scrollback/k/sse"

type Op =
  | { readonly _tag: "Write"; readonly n: number }
  | { readonly _tag: "Evict"; readonly n: number }
  | { readonly _tag: "Deliver"; readonly n: number; readonly pieces: number }
  | { readonly _tag: "Cut"; readonly reason: "Transport" | "EndOfStream" | "IdleTimeout" }
  | { readonly _tag: "Ping" }
  | { readonly _tag: "Unavailable" }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ _tag: fc.constant("Write" as const), n: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("Evict" as const), n: fc.integer({ min: 1, max: 60 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      _tag: fc.constant("Deliver" as const),
      n: fc.integer({ min: 1, max: 60 }),
      pieces: fc.integer({ min: 1, max: 4 })
    })
  },
  {
    weight: 4,
    arbitrary: fc.record({
      _tag: fc.constant("Cut" as const),
      reason: fc.constantFrom("Transport" as const, "EndOfStream" as const, "IdleTimeout" as const)
    })
  },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Ping" as const) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Unavailable" as const) }) }
)

interface Scenario {
  readonly length: number
  readonly seed: number
  readonly policy: ReplayCursor.OnEvicted
  readonly transport: "sse" | "ws"
  readonly from: ReplayCursor.From
  readonly knownEpoch: boolean
  readonly ops: ReadonlyArray<Op>
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  length: fc.integer({ min: 0, max: 300 }),
  seed: fc.integer(),
  policy: fc.constantFrom("fail" as const, "clamp" as const),
  transport: fc.constantFrom("sse" as const, "ws" as const),
  from: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom("oldest" as const, "live" as const) },
    { weight: 2, arbitrary: fc.integer({ min: -5, max: 60 }) },
    { weight: 1, arbitrary: fc.record({ epoch: fc.constant(EPOCH), offset: fc.integer({ min: 0, max: 40 }) }) }
  ),
  knownEpoch: fc.boolean(),
  ops: fc.array(opArb, { minLength: 10, maxLength: 100, size: "max" })
})

/** What the corrupted message is. */
type Kind =
  | "skip"
  | "overlap"
  | "epoch"
  | "gapUnderFail"
  | "helloEpoch"
  | "beforeHello"
  | "endOffset"
  | "secondHello"
  | "resumeElsewhere"
  | "strayGap"
  | "skipGap"
  | "endBeforeGap"

/** Kinds applied at a connection's hello (the others replace a data message). */
const AT_HELLO: ReadonlySet<Kind> = new Set(["helloEpoch", "beforeHello", "resumeElsewhere"])

interface Corruption {
  readonly kind: Kind
  /** Applied at the first chance once this many messages were sent. */
  readonly after: number
  readonly delta: number
}

interface Reconnect {
  readonly request: Machine.Request
  /** The last delivered offset, as the test sees it from the frames (`undefined` before the first hello). */
  readonly delivered: number | undefined
  readonly failures: number
  readonly expectedFailures: number
}

interface Outcome {
  readonly log: Uint8Array
  readonly frames: ReadonlyArray<ReplayStream.Frame>
  readonly result:
    | { readonly _tag: "Complete" }
    | { readonly _tag: "Fail"; readonly error: ReplayClientError.ReplayClientError }
    | { readonly _tag: "Running" }
  readonly reconnects: ReadonlyArray<Reconnect>
  /** The client's position as the test sees it. */
  readonly delivered: number | undefined
  /** The corrupted message and the step it led to, once applied. */
  readonly corrupted: { readonly event: Machine.Event; readonly step: Machine.Step } | undefined
  /** The offset the last start (not a resume) asked for. */
  readonly asked: number | undefined
  /** The machine's state at the end. */
  readonly final: Machine.State
}

/**
 * Runs the machine against an honest server (plus, with `corruption`, one
 * bad message), driving it as the real loop does: `connect`, `request`,
 * `step` per message, a new connection after each `Reconnect`.
 */
const simulate = (s: Scenario, corruption?: Corruption): Outcome => {
  const random = prng(s.seed)
  const log = Uint8Array.from({ length: s.length }, () => Math.floor(random() * 256))
  const N = s.length
  const config: Machine.Config = { url: URL, policy: s.policy }
  const sse = s.transport === "sse"

  let state = Machine.initial({ from: s.from, epoch: s.knownEpoch ? EPOCH : undefined })
  // The remote buffer.
  let total = 0
  let oldest = 0
  let ended = N === 0
  // The open connection: the server's position in it.
  let conn: { pos: number } | undefined
  let refuseNext = false

  let result: Outcome["result"] = { _tag: "Running" }
  const frames: Array<ReplayStream.Frame> = []
  const reconnects: Array<Reconnect> = []
  let delivered: number | undefined = typeof s.from === "object" ? s.from.offset : undefined
  let attemptHello = false
  let attemptProgress = false
  let expectedFailures = 0
  let sent = 0
  let corrupted: Outcome["corrupted"]
  let asked: number | undefined

  const info = (): ReplayProtocol.Info =>
    ended ? { key: "k", epoch: EPOCH, capacity: 64, oldest, total, ended: "ended" } : {
      key: "k",
      epoch: EPOCH,
      capacity: 64,
      oldest,
      total,
      ended: false
    }

  const feed = (event: Machine.Event): Machine.Step => {
    const step = Machine.step(config, state, event)
    state = step.state
    const accepted = step.decision._tag !== "Fail"
    if (event._tag === "Hello" && accepted) {
      attemptHello = true
      if (delivered === undefined) delivered = event.hello.offset
    }
    if (event._tag === "Alive" && attemptHello) attemptProgress = true
    if (step.frame !== undefined) {
      frames.push(step.frame)
      delivered = step.frame._tag === "Data" ? step.frame.offset + step.frame.bytes.length : step.frame.oldest
      attemptProgress = true
    }
    switch (step.decision._tag) {
      case "Complete":
        result = { _tag: "Complete" }
        break
      case "Fail":
        result = { _tag: "Fail", error: step.decision.error }
        break
      case "Reconnect":
        expectedFailures = attemptProgress ? 1 : expectedFailures + 1
        reconnects.push({ request: Machine.request(state), delivered, failures: state.failures, expectedFailures })
        conn = undefined
        break
    }
    return step
  }

  const running = () => result._tag === "Running" && corrupted === undefined

  const corrupt = (event: Machine.Event): Machine.Event | undefined => {
    if (corruption === undefined || corrupted !== undefined || sent < corruption.after) return undefined
    const { delta, kind } = corruption
    if (event._tag === "Data") {
      const { bytes, offset } = event
      switch (kind) {
        case "skip":
          return { ...event, offset: offset + delta }
        case "overlap": {
          if (offset < 1) return undefined
          const back = 1 + ((delta - 1) % offset)
          return { ...event, offset: offset - back, bytes: log.subarray(offset - back, offset - back + bytes.length) }
        }
        case "epoch":
          return { ...event, epoch: OTHER }
        case "gapUnderFail":
          return {
            _tag: "Gap",
            gap: { requested: offset, oldest: offset + delta },
            id: sse ? { epoch: EPOCH, offset: offset + delta } : undefined
          }
        case "endOffset":
          return { _tag: "End", end: { status: "ended" }, id: { epoch: EPOCH, offset: offset + delta } }
        case "secondHello":
          return {
            _tag: "Hello",
            hello: { epoch: EPOCH, offset, oldest, total },
            id: sse ? { epoch: EPOCH, offset } : undefined
          }
        case "strayGap": {
          // A gap that ends at the cursor but does not start there, once it can no longer explain the start.
          if (offset < 1 || !(state.attempt.resumed || state.attempt.moved)) return undefined
          const back = 1 + ((delta - 1) % offset)
          return {
            _tag: "Gap",
            gap: { requested: offset - back, oldest: offset },
            id: sse ? { epoch: EPOCH, offset } : undefined
          }
        }
        default:
          return undefined
      }
    }
    if (event._tag === "Gap" && state.cursor !== undefined && state.cursor < state.attempt.hello!) {
      // The gap a clamped resume's hello announced, replaced by bytes or the end at the old cursor.
      const cursor = state.cursor
      switch (kind) {
        case "skipGap":
          return {
            _tag: "Data",
            offset: cursor,
            bytes: log.subarray(cursor, cursor + 1),
            epoch: sse ? EPOCH : undefined
          }
        case "endBeforeGap":
          return { _tag: "End", end: { status: "ended" }, id: sse ? { epoch: EPOCH, offset: cursor } : undefined }
        default:
          return undefined
      }
    }
    if (event._tag === "Hello") {
      const { hello } = event
      switch (kind) {
        case "helloEpoch":
          if (state.epoch === undefined) return undefined
          return {
            _tag: "Hello",
            hello: { ...hello, epoch: OTHER },
            id: sse ? { epoch: OTHER, offset: hello.offset } : undefined
          }
        case "beforeHello":
          return {
            _tag: "Data",
            offset: hello.offset,
            bytes: Uint8Array.of(1),
            epoch: sse ? EPOCH : undefined
          }
        case "resumeElsewhere": {
          const cursor = state.cursor
          if (!state.attempt.resumed || cursor === undefined) return undefined
          const at = s.policy === "fail" ? cursor + delta : cursor >= 1 ? cursor - (1 + ((delta - 1) % cursor)) : -1
          if (at < 0) return undefined
          return {
            _tag: "Hello",
            hello: { ...hello, offset: at },
            id: sse ? { epoch: EPOCH, offset: at } : undefined
          }
        }
        default:
          return undefined
      }
    }
    return undefined
  }

  /** The server sends a message (or, once, its corrupted version). */
  const send = (event: Machine.Event): void => {
    if (!running()) return
    const bad = corrupt(event)
    if (bad !== undefined) {
      corrupted = { event: bad, step: Machine.step(config, state, bad) }
      return
    }
    sent++
    feed(event)
  }

  const hello = (offset: number): Machine.Event => ({
    _tag: "Hello",
    hello: { epoch: EPOCH, offset, oldest, total },
    id: sse ? { epoch: EPOCH, offset } : undefined
  })

  const refuse = (status: 409 | 410, error: ReplayProtocol.WireError): void => {
    feed(
      sse
        ? { _tag: "Refused", url: URL, status, error, body: "" }
        : { _tag: "Conflict", status, info: info() }
    )
  }

  const open = (): void => {
    state = Machine.connect(state)
    attemptHello = false
    attemptProgress = false
    let request = Machine.request(state)
    if (request._tag === "Live") {
      feed({ _tag: "Started", info: info() })
      if (!running()) return
      request = Machine.request(state)
    }
    if (refuseNext) {
      refuseNext = false
      feed({
        _tag: "Refused",
        url: URL,
        status: 503,
        error: new TooManyConnections({ scope: "server", limit: 1 }),
        body: ""
      })
      return
    }
    let start: number
    let epoch: string | undefined
    let positioned: boolean
    if (request._tag === "Resume") {
      start = request.position.offset
      epoch = request.position.epoch
      positioned = true
    } else if (request._tag === "Start") {
      positioned = request.offset !== undefined
      start = request.offset === undefined ? oldest : Math.max(0, request.offset)
      epoch = request.epoch
      asked = request.offset === undefined ? undefined : start
    } else {
      return assert.fail("a second Live request")
    }
    assert.notStrictEqual(epoch, OTHER)
    if (epoch !== undefined && positioned && start > total) {
      return refuse(409, new OffsetAhead({ requested: start, total }))
    }
    start = Math.min(start, total)
    // SSE answers a position at the end of an ended buffer with 204; the client then reads /info.
    if (sse && positioned && ended && start === total) {
      feed({ _tag: "Ended", info: info() })
      return
    }
    if (start < oldest) {
      if (s.policy === "fail") return refuse(410, new OffsetEvicted({ requested: start, oldest }))
      conn = { pos: oldest }
      send(hello(oldest))
      send({ _tag: "Gap", gap: { requested: start, oldest }, id: sse ? { epoch: EPOCH, offset: oldest } : undefined })
      return
    }
    conn = { pos: start }
    send(hello(start))
  }

  const deliver = (n: number, pieces: number): void => {
    if (conn === undefined) open()
    if (conn === undefined || !running()) return
    if (conn.pos < oldest) {
      // The follower fell behind eviction while connected.
      if (s.policy === "clamp") {
        const requested = conn.pos
        conn.pos = oldest
        send({ _tag: "Gap", gap: { requested, oldest }, id: sse ? { epoch: EPOCH, offset: oldest } : undefined })
      } else if (sse) {
        // The server ends the response without an end; the reconnect then gets 410.
        feed({ _tag: "Disconnected", cause: new ReplayClientError.Disconnected({ reason: "EndOfStream" }) })
        return
      } else {
        feed({ _tag: "Conflict", status: 410, info: info() })
        return
      }
    }
    const until = Math.min(total, conn.pos + n)
    const size = Math.max(1, Math.ceil((until - conn.pos) / pieces))
    while (conn !== undefined && conn.pos < until && running()) {
      const next = Math.min(until, conn.pos + size)
      const offset = conn.pos
      conn.pos = next
      send({ _tag: "Data", offset, bytes: log.slice(offset, next), epoch: sse ? EPOCH : undefined })
    }
    if (conn !== undefined && running() && ended && conn.pos === total) {
      send({ _tag: "End", end: { status: "ended" }, id: sse ? { epoch: EPOCH, offset: total } : undefined })
      conn = undefined
    }
  }

  const cut = (reason: "Transport" | "EndOfStream" | "IdleTimeout") => {
    if (conn === undefined || !running()) return
    feed({ _tag: "Disconnected", cause: new ReplayClientError.Disconnected({ reason }) })
  }

  for (const op of s.ops) {
    if (!running()) break
    switch (op._tag) {
      case "Write":
        total = Math.min(N, total + op.n)
        if (total === N) ended = true
        break
      case "Evict":
        oldest = Math.min(total, oldest + op.n)
        break
      case "Deliver":
        deliver(op.n, op.pieces)
        break
      case "Cut":
        cut(op.reason)
        break
      case "Ping":
        if (conn !== undefined && sse && running()) feed({ _tag: "Alive" })
        break
      case "Unavailable":
        refuseNext = true
        break
    }
  }
  // Then everything is written and the buffer ends; a corruption waiting for a hello gets a new connection.
  total = N
  ended = true
  for (let i = 0; i < 20 && running(); i++) {
    if (corruption !== undefined && AT_HELLO.has(corruption.kind) && i < 3) cut("Transport")
    deliver(N + 1, 1 + (i % 3))
  }
  return { log, frames, result, reconnects, delivered, corrupted, asked, final: state }
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])

describe("ReplayClient state machine", () => {
  it.prop(
    "against an honest server: each byte once, in order; resumes at the last delivered offset; retries reset after progress",
    [scenarioArb],
    ([s]) => {
      const out = simulate(s)
      // Frames: the log's bytes at their offsets, contiguous, bridged only by gaps (and gaps only under clamp).
      let end: number | undefined = undefined
      for (const frame of out.frames) {
        if (frame._tag === "Data") {
          assert.isTrue(frame.bytes.length > 0)
          assert.isTrue(sameBytes(frame.bytes, out.log.subarray(frame.offset, frame.offset + frame.bytes.length)))
          if (end !== undefined) assert.strictEqual(frame.offset, end, "a data frame that does not continue")
          end = frame.offset + frame.bytes.length
        } else {
          assert.strictEqual(s.policy, "clamp")
          assert.isBelow(frame.requested, frame.oldest)
          if (end !== undefined) assert.strictEqual(frame.requested, end, "a gap that does not start at the cursor")
          end = frame.oldest
        }
      }
      // Every reconnect resumes at the last delivered offset, in the epoch; the count of failures in a row
      // resets after an attempt that made progress.
      for (const reconnect of out.reconnects) {
        assert.strictEqual(reconnect.failures, reconnect.expectedFailures)
        if (reconnect.delivered === undefined) {
          assert.notStrictEqual(reconnect.request._tag, "Resume")
        } else {
          assert.deepStrictEqual(reconnect.request, {
            _tag: "Resume",
            position: { epoch: EPOCH, offset: reconnect.delivered }
          })
        }
      }
      const result = out.result
      if (result._tag === "Complete") {
        // Everything up to the end was delivered (a start past the end delivers nothing).
        if (end !== undefined) assert.strictEqual(end, out.log.length)
        if (out.final.cursor !== undefined) assert.strictEqual(out.final.cursor, out.log.length)
        return
      }
      assert.strictEqual(result._tag, "Fail", "the run neither completed nor failed")
      if (result._tag !== "Fail") return
      const asked = out.delivered ?? out.asked
      if (result.error instanceof OffsetEvicted) {
        // Only under "fail", and only for the offset it was going to deliver next.
        assert.strictEqual(s.policy, "fail")
        assert.strictEqual(result.error.requested, asked)
        assert.isBelow(result.error.requested, result.error.oldest)
      } else if (result.error instanceof OffsetAhead) {
        // A position past what the buffer had written when the client asked (from a saved position).
        assert.isTrue(typeof s.from === "object" || (s.knownEpoch && typeof s.from === "number"))
        assert.strictEqual(result.error.requested, asked)
        assert.isAbove(result.error.requested, result.error.total)
      } else {
        assert.fail(`unexpected failure ${result.error._tag}: ${result.error.message}`)
      }
    },
    { fastCheck: { numRuns: 3000, seed: 20_261_124 } }
  )

  const corruptionArb = fc.record({
    scenario: scenarioArb,
    kind: fc.constantFrom<Kind>(
      "skip",
      "overlap",
      "epoch",
      "gapUnderFail",
      "helloEpoch",
      "beforeHello",
      "endOffset",
      "secondHello",
      "resumeElsewhere",
      "strayGap",
      "skipGap",
      "endBeforeGap"
    ),
    after: fc.integer({ min: 0, max: 12 }),
    delta: fc.integer({ min: 1, max: 50 })
  }).map(({ after, delta, kind, scenario }) => ({
    corruption: { kind, after, delta },
    // Ids exist on SSE only; a gap is only wrong under "fail".
    scenario: {
      ...scenario,
      transport: kind === "epoch" || kind === "endOffset" ? "sse" as const : scenario.transport,
      policy: kind === "gapUnderFail"
        ? "fail" as const
        : kind === "strayGap" || kind === "skipGap" || kind === "endBeforeGap"
        ? "clamp" as const
        : scenario.policy,
      length: Math.max(scenario.length, 40)
    }
  }))

  it.prop(
    "an invalid message fails with its typed error, and nothing of it is emitted",
    [corruptionArb],
    ([{ corruption, scenario }]) => {
      const out = simulate(scenario, corruption)
      // The run reached the corruption (the honest part may have ended first: such runs are not counted).
      fc.pre(out.corrupted !== undefined)
      const { event, step } = out.corrupted!
      assert.isUndefined(step.frame)
      assert.strictEqual(step.decision._tag, "Fail", `${corruption.kind} was accepted`)
      if (step.decision._tag !== "Fail") return
      const error = step.decision.error
      const protocolError = (reason: string) => {
        assert.instanceOf(error, ReplayClientError.ProtocolError)
        assert.include((error as ReplayClientError.ProtocolError).reason, reason)
      }
      switch (corruption.kind) {
        case "skip":
        case "overlap":
          return protocolError("do not continue the log")
        case "epoch":
          return protocolError(`of epoch ${OTHER}`)
        case "gapUnderFail": {
          assert.instanceOf(error, OffsetEvicted)
          const gap = (event as Extract<Machine.Event, { _tag: "Gap" }>).gap
          assert.deepStrictEqual({
            requested: (error as OffsetEvicted).requested,
            oldest: (error as OffsetEvicted).oldest
          }, gap)
          return
        }
        case "helloEpoch":
          assert.instanceOf(error, ReplayClientError.EpochChanged)
          assert.deepStrictEqual(
            {
              expected: (error as ReplayClientError.EpochChanged).expected,
              actual: (error as ReplayClientError.EpochChanged).actual
            },
            { expected: EPOCH, actual: OTHER }
          )
          return
        case "beforeHello":
          return protocolError("before the hello")
        case "endOffset":
          return protocolError("the end is at")
        case "secondHello":
          return protocolError("a second hello")
        case "resumeElsewhere":
          return protocolError("resumed at")
        case "strayGap":
          return protocolError("at offset")
        case "skipGap":
        case "endBeforeGap":
          return protocolError("but the hello starts at")
      }
    },
    { fastCheck: { numRuns: 2000, seed: 20_261_125 } }
  )

  it.effect("WebSocket close codes: reconnect, or a typed error", () =>
    Effect.sync(() => {
      const config: Machine.Config = { url: "ws://127.0.0.1:1/scrollback/k/ws", policy: "fail" }
      const state = Machine.connect(Machine.initial({ from: "oldest", epoch: undefined }))
      const decide = (code: number) => Machine.step(config, state, { _tag: "Closed", code, reason: "r" }).decision
      for (
        const [code, reason] of [[1000, "EndOfStream"], [1001, "EndOfStream"], [1006, "Transport"], [
          4429,
          "SlowConsumer"
        ], [4503, "Unavailable"]] as const
      ) {
        const decision = decide(code)
        assert.strictEqual(decision._tag, "Reconnect")
        if (decision._tag === "Reconnect") {
          assert.strictEqual(decision.cause.reason, reason)
          assert.strictEqual(decision.cause.code, code)
        }
      }
      const policy = decide(1008)
      assert.isTrue(policy._tag === "Fail" && policy.error._tag === "ProtocolError")
      const bad = decide(4400)
      assert.isTrue(bad._tag === "Fail" && bad.error._tag === "HttpStatusError" && bad.error.status === 400)
    }))

  it.effect("WebSocket 4409/4410: /info tells the typed error, or that the refusal no longer holds", () =>
    Effect.sync(() => {
      const config: Machine.Config = { url: "ws://127.0.0.1:1/scrollback/k/ws", policy: "fail" }
      // A follower at offset 10 of EPOCH, resuming.
      const state = Machine.connect(Machine.initial({ from: { epoch: EPOCH, offset: 10 }, epoch: undefined }))
      const info = (epoch: string, oldest: number, total: number): ReplayProtocol.Info => ({
        key: "k",
        epoch,
        capacity: 64,
        oldest,
        total,
        ended: false
      })
      const decide = (status: 409 | 410, at: ReplayProtocol.Info) =>
        Machine.step(config, state, { _tag: "Conflict", status, info: at }).decision
      const errorOf = (decision: Machine.Decision) => decision._tag === "Fail" ? decision.error : undefined

      const changed = errorOf(decide(409, info(OTHER, 0, 50)))
      assert.instanceOf(changed, ReplayClientError.EpochChanged)
      assert.deepStrictEqual(changed, new ReplayClientError.EpochChanged({ expected: EPOCH, actual: OTHER }))
      assert.deepStrictEqual(errorOf(decide(409, info(EPOCH, 0, 9))), new OffsetAhead({ requested: 10, total: 9 }))
      assert.deepStrictEqual(
        errorOf(decide(410, info(EPOCH, 11, 50))),
        new OffsetEvicted({ requested: 10, oldest: 11 })
      )
      // The buffer moved on since the close: 10 is written, and retained.
      for (const [status, at] of [[409, info(EPOCH, 0, 10)], [410, info(EPOCH, 10, 50)]] as const) {
        const decision = decide(status, at)
        assert.strictEqual(decision._tag, "Reconnect")
        if (decision._tag === "Reconnect") assert.strictEqual(decision.cause.reason, "Unavailable")
      }
    }))
})
