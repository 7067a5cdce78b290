/**
 * Exactness over real sockets: random writes (sizes, batches, pauses) into a
 * buffer, and many followers over SSE and WebSocket that join at random times
 * (before, during and after the writes, after the end) from random starts
 * (`oldest`, an offset, a resume position), read steadily, pause, stall until
 * the writer is done (lapped by eviction when the writes outrun the capacity
 * and the socket buffers), or leave. Every follower must get the log from
 * its start exactly once: contiguous bytes equal to the log, a gap only where
 * its next byte was evicted (and only under `clamp`), and an end that says how
 * the buffer ended — or, lapped under `fail`, the stream closed where its next
 * byte is gone (SSE: no `end`, and a reconnect gets `410`; WebSocket: `4410`).
 */
import { assert, describe, it } from "@effect/vitest"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import { decodeBase64 } from "./bytes.js"
import { request } from "./http.js"
import type { Serve, TestServer } from "./server.js"
import { sse } from "./sse.js"
import { binaryOffset, ws } from "./ws.js"

/** How a follower reads. */
export type Behavior =
  | { readonly _tag: "Read" }
  /** Stops reading after `after` messages for `millis`, then reads on. */
  | { readonly _tag: "Pause"; readonly after: number; readonly millis: number }
  /** Stops reading right after its answer's head, until the writer is done (lapped if the writes outran it). */
  | { readonly _tag: "Stall" }
  /** Goes away after `after` messages. */
  | { readonly _tag: "Leave"; readonly after: number }

/** Where a follower starts: a fraction of the total at the time it joins. */
export type Start =
  | { readonly _tag: "Oldest" }
  /** `?offset=` (the seed's clamp), or past the total. */
  | { readonly _tag: "Offset"; readonly at: number; readonly past: boolean }
  /** A resume position of this epoch (SSE: `Last-Event-ID`, WebSocket: `?offset=&epoch=`). */
  | { readonly _tag: "Resume"; readonly at: number }

export interface Follower {
  readonly transport: "sse" | "ws"
  /** Joins before write `joinAt` (`writes.length`: after the writes, `+ 1`: after the end). */
  readonly joinAt: number
  readonly start: Start
  readonly onEvicted: "clamp" | "fail"
  readonly behavior: Behavior
}

export interface Write {
  /** One write, or a batch (`writeAll`) when there are several. */
  readonly chunks: ReadonlyArray<number>
  /** What the writer does after it: nothing, a yield, or a pause of some milliseconds. */
  readonly then: "none" | "yield" | number
}

export interface Scenario {
  readonly capacity: number
  readonly writes: ReadonlyArray<Write>
  readonly followers: ReadonlyArray<Follower>
  readonly end: "ended" | "failed"
}

const followerArb = (writes: number): fc.Arbitrary<Follower> =>
  fc.record({
    transport: fc.constantFrom("sse" as const, "ws" as const),
    joinAt: fc.integer({ min: 0, max: writes + 1 }),
    start: fc.oneof(
      fc.constant({ _tag: "Oldest" as const }),
      fc.record({
        _tag: fc.constant("Offset" as const),
        at: fc.double({ min: 0, max: 1, noNaN: true }),
        past: fc.boolean()
      }),
      fc.record({ _tag: fc.constant("Resume" as const), at: fc.double({ min: 0, max: 1, noNaN: true }) })
    ),
    onEvicted: fc.constantFrom("clamp" as const, "fail" as const),
    behavior: fc.oneof(
      { weight: 4, arbitrary: fc.constant({ _tag: "Read" as const }) },
      {
        weight: 2,
        arbitrary: fc.record({
          _tag: fc.constant("Pause" as const),
          after: fc.integer({ min: 0, max: 20 }),
          millis: fc.integer({ min: 0, max: 40 })
        })
      },
      { weight: 2, arbitrary: fc.constant({ _tag: "Stall" as const }) },
      {
        weight: 1,
        arbitrary: fc.record({ _tag: fc.constant("Leave" as const), after: fc.integer({ min: 0, max: 20 }) })
      }
    )
  })

/**
 * Scenarios: mostly small (up to a few hundred KiB, capacities of 4–256 KiB),
 * one in `bigWeight` large (several MiB written past followers that stall:
 * more than the kernel buffers hold, so they are lapped by eviction).
 */
export const scenarioArb = (options?: { readonly big?: boolean | undefined }): fc.Arbitrary<Scenario> => {
  const small = fc.record({
    capacity: fc.constantFrom(4 * 1024, 16 * 1024, 64 * 1024, 256 * 1024),
    writes: fc.array(
      fc.record({
        chunks: fc.oneof(
          { weight: 3, arbitrary: fc.array(fc.integer({ min: 0, max: 16 * 1024 }), { minLength: 1, maxLength: 1 }) },
          { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 8 * 1024 }), { minLength: 2, maxLength: 5 }) },
          { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 64 }), { minLength: 1, maxLength: 1 }) }
        ),
        then: fc.oneof(fc.constant("none" as const), fc.constant("yield" as const), fc.integer({ min: 0, max: 5 }))
      }),
      { minLength: 0, maxLength: 30 }
    ),
    end: fc.constantFrom("ended" as const, "failed" as const)
  })
  const big = fc.record({
    capacity: fc.constantFrom(64 * 1024, 256 * 1024),
    writes: fc.array(
      fc.record({
        chunks: fc.array(fc.integer({ min: 128 * 1024, max: 256 * 1024 }), { minLength: 1, maxLength: 2 }),
        then: fc.constantFrom("none" as const, "yield" as const)
      }),
      { minLength: 30, maxLength: 50 }
    ),
    end: fc.constantFrom("ended" as const, "failed" as const)
  })
  const base = options?.big === false ? small : fc.oneof({ weight: 5, arbitrary: small }, { weight: 1, arbitrary: big })
  return base.chain((scenario) =>
    fc.array(followerArb(scenario.writes.length), { minLength: 1, maxLength: 8 }).map((followers) => ({
      ...scenario,
      followers
    }))
  )
}

// -----------------------------------------------------------------------------
// what a follower saw
// -----------------------------------------------------------------------------

type Item =
  | { readonly _tag: "Data"; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly _tag: "Gap"; readonly requested: number; readonly oldest: number }

type Ending =
  /** The end event (SSE) or message (WebSocket) and, on WebSocket, a close 1000. */
  | { readonly _tag: "End"; readonly data: any; readonly id: string | undefined }
  /** SSE: the response ended without an end event. */
  | { readonly _tag: "Closed" }
  /** WebSocket: a close frame without an end message. */
  | { readonly _tag: "Close"; readonly code: number }
  /** The follower went away (a `Leave`). */
  | { readonly _tag: "Left" }

type Seen =
  | { readonly _tag: "Refused"; readonly status: number; readonly body: string }
  | { readonly _tag: "NoContent" }
  | {
    readonly _tag: "Stream"
    readonly hello: { readonly epoch: string; readonly offset: number; readonly oldest: number; readonly total: number }
    readonly items: ReadonlyArray<Item>
    readonly ending: Ending
  }

interface Join {
  readonly path: string
  readonly headers: Record<string, string>
  /** The start the follower asked for, resolved as the seed's clamp would (for `Offset`), or `undefined`. */
  readonly asked: { readonly _tag: "Oldest" } | { readonly _tag: "Offset"; readonly n: number } | {
    readonly _tag: "Resume"
    readonly offset: number
  }
}

const joinOf = (server: TestServer, buffer: ReplayBuffer.ReplayBuffer, follower: Follower, total: number): Join => {
  const base = `${server.prefix}/x/${follower.transport}`
  const policy = `onEvicted=${follower.onEvicted}`
  switch (follower.start._tag) {
    case "Oldest":
      return { path: `${base}?${policy}`, headers: {}, asked: { _tag: "Oldest" } }
    case "Offset": {
      const n = follower.start.past
        ? total + 1 + Math.floor(follower.start.at * 1000)
        : Math.floor(follower.start.at * total)
      return { path: `${base}?offset=${n}&${policy}`, headers: {}, asked: { _tag: "Offset", n } }
    }
    case "Resume": {
      const offset = Math.floor(follower.start.at * total)
      return follower.transport === "sse"
        ? {
          path: `${base}?${policy}`,
          headers: { "last-event-id": `${buffer.epoch}:${offset}` },
          asked: { _tag: "Resume", offset }
        }
        : {
          path: `${base}?offset=${offset}&epoch=${buffer.epoch}&${policy}`,
          headers: {},
          asked: { _tag: "Resume", offset }
        }
    }
  }
}

/** Follows over SSE with `behavior`; `writerDone` releases a stalled follower. */
const followSse = (
  server: TestServer,
  join: Join,
  behavior: Behavior,
  writerDone: Deferred.Deferred<void>
): Effect.Effect<Seen> =>
  Effect.scoped(Effect.gen(function*() {
    const conn = yield* sse(`${server.base}${join.path}`, join.headers)
    if (conn.status === 204) return { _tag: "NoContent" } as const
    if (conn.status !== 200) {
      yield* conn.closed
      return { _tag: "Refused", status: conn.status, body: conn.raw() } as const
    }
    if (behavior._tag === "Stall") {
      yield* conn.pause
      yield* Deferred.await(writerDone)
      yield* conn.resume
    }
    let hello: any = undefined
    const items: Array<Item> = []
    let messages = 0
    while (true) {
      if (behavior._tag === "Pause" && messages === behavior.after) {
        yield* conn.pause
        yield* Effect.sleep(Duration.millis(behavior.millis))
        yield* conn.resume
      }
      if (behavior._tag === "Leave" && messages === behavior.after) {
        yield* conn.close
        return { _tag: "Stream", hello, items, ending: { _tag: "Left" } } as const
      }
      const item = yield* conn.next
      if (item._tag === "Comment") continue
      if (item._tag === "Closed") {
        if (hello === undefined) return yield* Effect.dieMessage("an SSE response closed before its hello")
        return { _tag: "Stream", hello, items, ending: { _tag: "Closed" } } as const
      }
      messages++
      const event = item.event
      if (hello === undefined) {
        if (event.event !== "hello") return yield* Effect.dieMessage(`expected a hello, got ${JSON.stringify(event)}`)
        hello = JSON.parse(event.data)
        continue
      }
      if (event.event === "end") {
        return {
          _tag: "Stream",
          hello,
          items,
          ending: { _tag: "End", data: JSON.parse(event.data), id: event.id }
        } as const
      }
      if (event.event === "gap") {
        const gap = JSON.parse(event.data)
        if (event.id !== `${hello.epoch}:${gap.oldest}`) return yield* Effect.dieMessage(`gap id ${event.id}`)
        items.push({ _tag: "Gap", requested: gap.requested, oldest: gap.oldest })
        continue
      }
      const bytes = decodeBase64(event.data)
      const next = Number(event.id!.split(":")[1])
      if (event.id!.split(":")[0] !== hello.epoch) return yield* Effect.dieMessage(`data id ${event.id}`)
      items.push({ _tag: "Data", offset: next - bytes.length, bytes })
    }
  }))

/** Follows over WebSocket (the raw client) with `behavior`. */
const followWs = (
  server: TestServer,
  join: Join,
  behavior: Behavior,
  writerDone: Deferred.Deferred<void>
): Effect.Effect<Seen> =>
  Effect.scoped(Effect.gen(function*() {
    const conn = yield* ws(server.port, join.path, join.headers)
    if (conn.status !== 101) {
      return { _tag: "Refused", status: conn.status, body: yield* conn.body } as const
    }
    if (behavior._tag === "Stall") {
      yield* conn.pause
      yield* Deferred.await(writerDone)
      yield* conn.resume
    }
    let hello: any = undefined
    const items: Array<Item> = []
    let end: any = undefined
    let messages = 0
    while (true) {
      if (behavior._tag === "Pause" && messages === behavior.after) {
        yield* conn.pause
        yield* Effect.sleep(Duration.millis(behavior.millis))
        yield* conn.resume
      }
      if (behavior._tag === "Leave" && messages === behavior.after) {
        yield* conn.destroy
        return { _tag: "Stream", hello, items, ending: { _tag: "Left" } } as const
      }
      const message = yield* conn.next
      messages++
      switch (message._tag) {
        case "Text": {
          const parsed = JSON.parse(message.text)
          if (hello === undefined) {
            if (parsed.type !== "hello") return yield* Effect.dieMessage(`expected a hello, got ${message.text}`)
            hello = parsed
          } else if (parsed.type === "gap") {
            items.push({ _tag: "Gap", requested: parsed.requested, oldest: parsed.oldest })
          } else if (parsed.type === "end") {
            if (end !== undefined) return yield* Effect.dieMessage("two end messages")
            const { type: _, ...data } = parsed
            end = data
          } else {
            return yield* Effect.dieMessage(`unexpected message ${message.text}`)
          }
          break
        }
        case "Binary": {
          if (hello === undefined || end !== undefined) return yield* Effect.dieMessage("a frame out of place")
          const frame = binaryOffset(message.bytes)
          items.push({ _tag: "Data", offset: frame.offset, bytes: frame.bytes })
          break
        }
        case "Close": {
          // A refusal after the upgrade closes before any hello.
          if (hello === undefined) return { _tag: "Refused", status: message.code, body: message.reason } as const
          if (end !== undefined) {
            if (message.code !== 1000) return yield* Effect.dieMessage(`end, then close ${message.code}`)
            return { _tag: "Stream", hello, items, ending: { _tag: "End", data: end, id: undefined } } as const
          }
          return { _tag: "Stream", hello, items, ending: { _tag: "Close", code: message.code } } as const
        }
        case "SocketClosed":
          return yield* Effect.dieMessage(`the socket closed without a close frame (after ${messages} messages)`)
        default:
          break
      }
    }
  }))

// -----------------------------------------------------------------------------
// the check
// -----------------------------------------------------------------------------

interface Log {
  readonly bytes: Uint8Array
  readonly capacity: number
  /** Every total the buffer passed through (after each write or batch), 0 included. */
  readonly totals: ReadonlySet<number>
  readonly epoch: string
  readonly end: "ended" | "failed"
}

const canonical = (value: Record<string, unknown>): string =>
  JSON.stringify(Object.keys(value).sort().map((key) => [key, value[key]]))

/** What a follower's run came to, for the suite's coverage check. */
export type Outcome =
  | "refused"
  | "no content"
  | "left"
  | "ended"
  | "failed"
  | "lapped (closed)"
  | "gap"
  | "resumed"
  | "offset past the total"

const outcomesOf = (follower: Follower, seen: Seen): Array<Outcome> => {
  if (seen._tag === "Refused") return ["refused"]
  if (seen._tag === "NoContent") return ["no content"]
  const out: Array<Outcome> = []
  if (seen.items.some((item) => item._tag === "Gap")) out.push("gap")
  if (follower.start._tag === "Resume") out.push("resumed")
  if (follower.start._tag === "Offset" && follower.start.past) out.push("offset past the total")
  switch (seen.ending._tag) {
    case "Left":
      out.push("left")
      break
    case "End":
      out.push(seen.ending.data.status === "ended" ? "ended" : "failed")
      break
    default:
      out.push("lapped (closed)")
  }
  return out
}

const describeFollower = (follower: Follower, join: Join) =>
  `${follower.transport} ${join.path} ${JSON.stringify(join.headers)} ${follower.behavior._tag}`

/** Checks what one follower saw against the log; returns the reasons it is wrong (none: right). */
export const check = (follower: Follower, join: Join, seen: Seen, log: Log): Array<string> => {
  const problems: Array<string> = []
  const total = log.bytes.length
  const oldestAt = (t: number) => Math.max(0, t - log.capacity)
  const finalOldest = oldestAt(total)
  if (seen._tag === "NoContent") {
    // Only a resume at (or past) the end of an ended buffer is answered 204.
    if (follower.transport !== "sse" || join.asked._tag === "Oldest") return ["204 for a request that is not a resume"]
    const at = join.asked._tag === "Resume" ? join.asked.offset : join.asked.n
    if (Math.min(at, total) !== total) problems.push(`204 for a position ${at} before the end ${total}`)
    return problems
  }
  if (seen._tag === "Refused") {
    // Only a start that was evicted under fail is refused here: 410, or 4410 after the upgrade.
    const expected = follower.transport === "sse" ? 410 : 4410
    if (seen.status !== expected) problems.push(`refused with ${seen.status}: ${seen.body}`)
    if (follower.onEvicted !== "fail") problems.push("refused under clamp")
    if (join.asked._tag === "Oldest") return [...problems, "refused a start at the oldest"]
    const asked = join.asked._tag === "Resume" ? join.asked.offset : join.asked.n
    if (!(asked < finalOldest)) problems.push(`refused a start ${asked} that was never evicted (oldest ${finalOldest})`)
    return problems
  }
  const { ending, hello, items } = seen
  if (hello === undefined) {
    if (ending._tag !== "Left") problems.push("no hello")
    return problems
  }
  if (hello.epoch !== log.epoch) problems.push(`hello epoch ${hello.epoch}`)
  if (!log.totals.has(hello.total)) problems.push(`hello total ${hello.total} is no total the buffer had`)
  if (hello.oldest !== oldestAt(hello.total)) problems.push(`hello oldest ${hello.oldest} for total ${hello.total}`)
  switch (join.asked._tag) {
    case "Oldest":
      if (hello.offset !== hello.oldest) problems.push(`started at ${hello.offset}, not at the oldest ${hello.oldest}`)
      break
    case "Offset":
      if (hello.offset !== Math.min(Math.max(join.asked.n, 0), hello.total)) {
        problems.push(`started at ${hello.offset} for ?offset=${join.asked.n} (total ${hello.total})`)
      }
      break
    case "Resume":
      if (hello.offset !== join.asked.offset) problems.push(`resumed at ${hello.offset}, not ${join.asked.offset}`)
      break
  }
  if (follower.onEvicted === "fail" && hello.offset < hello.oldest) problems.push("started below the oldest under fail")
  let position = hello.offset
  for (const item of items) {
    if (item._tag === "Gap") {
      if (follower.onEvicted !== "clamp") problems.push(`a gap under fail at ${item.requested}`)
      if (item.requested !== position) problems.push(`a gap at ${item.requested}, the bytes stopped at ${position}`)
      if (!(item.oldest > item.requested)) problems.push(`an empty gap ${item.requested}-${item.oldest}`)
      // The bytes it skips were evicted: its oldest is the oldest of a total the buffer had.
      if (!log.totals.has(item.oldest + log.capacity)) {
        problems.push(`a gap to ${item.oldest}, which was never the oldest`)
      }
      position = item.oldest
      continue
    }
    if (item.offset !== position) {
      problems.push(`bytes at ${item.offset}, expected ${position}`)
      return problems
    }
    const expected = log.bytes.subarray(item.offset, item.offset + item.bytes.length)
    if (expected.length !== item.bytes.length || expected.some((byte, i) => byte !== item.bytes[i])) {
      problems.push(`bytes at ${item.offset} differ from the log`)
      return problems
    }
    position += item.bytes.length
  }
  switch (ending._tag) {
    case "Left":
      break
    case "End": {
      const expected = log.end === "ended"
        ? { status: "ended" }
        : { status: "failed", reason: "exit code 3", exitCode: 3 }
      if (canonical(ending.data) !== canonical(expected)) problems.push(`end ${JSON.stringify(ending.data)}`)
      if (position !== total) problems.push(`an end at ${position}, before the last byte ${total}`)
      if (follower.transport === "sse" && ending.id !== `${log.epoch}:${total}`) problems.push(`end id ${ending.id}`)
      break
    }
    case "Closed":
    case "Close": {
      // Lapped under fail: the stream stops where its next byte is gone.
      if (ending._tag === "Close" && ending.code !== 4410) problems.push(`closed with ${ending.code}`)
      if (follower.onEvicted !== "fail") problems.push(`closed without an end under clamp at ${position}`)
      if (!(position < finalOldest)) problems.push(`closed at ${position}, which was not evicted (${finalOldest})`)
      break
    }
  }
  return problems
}

/** Runs one scenario against a fresh server; dies with every problem found, or returns what came of it. */
export const runScenario = (serve: Serve, scenario: Scenario): Effect.Effect<ReadonlyArray<Outcome>> =>
  Effect.scoped(Effect.gen(function*() {
    // Liveness is not what this checks: no keep-alive decision (a ping, a dead peer) may end a follower that
    // stalls on purpose on a slow machine.
    const server = yield* serve({ http: { keepAlive: "1 hour" } })
    const buffer = yield* server.create("x", scenario.capacity)
    const writerDone = yield* Deferred.make<void>()
    const chunks: Array<Uint8Array> = []
    const totals = new Set<number>([0])
    let total = 0
    const running: Array<{ follower: Follower; join: Join; fiber: Fiber.RuntimeFiber<Seen> }> = []
    const join = (follower: Follower) =>
      Effect.gen(function*() {
        const j = joinOf(server, buffer, follower, total)
        const run = follower.transport === "sse" ? followSse : followWs
        const fiber = yield* Effect.fork(run(server, j, follower.behavior, writerDone))
        running.push({ follower, join: j, fiber })
      })
    for (let i = 0; i <= scenario.writes.length; i++) {
      for (const follower of scenario.followers) if (follower.joinAt === i) yield* join(follower)
      if (i === scenario.writes.length) break
      const write = scenario.writes[i]
      const pieces = write.chunks.map((size) => {
        const piece = new Uint8Array(size)
        for (let k = 0; k < size; k++) piece[k] = ((total + k) * 131 + ((total + k) >> 9)) & 0xff
        total += size
        return piece
      })
      chunks.push(...pieces)
      yield* Effect.orDie(pieces.length === 1 ? buffer.write(pieces[0]) : buffer.writeAll(pieces))
      totals.add(total)
      if (write.then === "yield") yield* Effect.yieldNow()
      else if (typeof write.then === "number") yield* Effect.sleep(Duration.millis(write.then))
    }
    yield* Effect.orDie(
      scenario.end === "ended" ? buffer.end : buffer.fail(new ProducerFailed({ reason: "exit code 3", exitCode: 3 }))
    )
    for (const follower of scenario.followers) {
      if (follower.joinAt === scenario.writes.length + 1) yield* join(follower)
    }
    yield* Deferred.succeed(writerDone, undefined)
    const bytes = new Uint8Array(total)
    let at = 0
    for (const chunk of chunks) {
      bytes.set(chunk, at)
      at += chunk.length
    }
    const log: Log = { bytes, capacity: scenario.capacity, totals, epoch: buffer.epoch, end: scenario.end }
    const problems: Array<string> = []
    const outcomes: Array<Outcome> = []
    for (const { fiber, follower, join } of running) {
      const seen = yield* Fiber.join(fiber).pipe(
        Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => "hung" as const }),
        Effect.catchAll(() => Effect.succeed(undefined))
      )
      if (seen === undefined) {
        problems.push(`${describeFollower(follower, join)}: did not end within 20 s`)
        yield* Fiber.interrupt(fiber)
        continue
      }
      for (const problem of check(follower, join, seen, log)) {
        problems.push(`${describeFollower(follower, join)}: ${problem}`)
      }
      outcomes.push(...outcomesOf(follower, seen))
      // Lapped under fail, an SSE client's reconnect from where it stopped is refused with 410.
      if (seen._tag === "Stream" && seen.ending._tag === "Closed" && follower.transport === "sse") {
        const position = seen.items.reduce(
          (p, item) => item._tag === "Gap" ? item.oldest : item.offset + item.bytes.length,
          seen.hello.offset
        )
        const again = yield* request(`${server.base}${server.prefix}/x/sse?onEvicted=fail`, {
          headers: { "last-event-id": `${buffer.epoch}:${position}` }
        })
        if (again.status !== 410) problems.push(`${describeFollower(follower, join)}: reconnect got ${again.status}`)
      }
    }
    if (problems.length > 0) {
      return yield* Effect.dieMessage(`${problems.length} problem(s):\n${problems.join("\n")}`)
    }
    return outcomes
  }))

export interface ExactnessOptions {
  readonly numRuns?: number | undefined
  /** Include large scenarios (several MiB past stalled followers). Default `true`. */
  readonly big?: boolean | undefined
  readonly seed?: number | undefined
  /** Outcomes the runs must have produced at least once (so the property tested what it claims). Default none. */
  readonly covers?: ReadonlyArray<Outcome> | undefined
}

/** The exactness property as a suite; a second test checks what the runs covered. */
export const exactnessSuite = (serve: Serve, options?: ExactnessOptions): void => {
  describe("exactness over real sockets", () => {
    const seen = new Map<Outcome, number>()
    it.live.prop(
      "followers joining anywhere, reading, pausing, stalling, leaving: the log from their start, exactly once",
      [scenarioArb({ big: options?.big })],
      ([scenario]) =>
        Effect.map(runScenario(serve, scenario), (outcomes) => {
          for (const outcome of outcomes) seen.set(outcome, (seen.get(outcome) ?? 0) + 1)
        }),
      {
        timeout: 600_000,
        fastCheck: {
          numRuns: options?.numRuns ?? 100,
          // A failing run can take a bound's time (a follower that never ends): no shrinking, the whole scenario
          // and every problem are reported.
          endOnFailure: true,
          ...(options?.seed === undefined ? {} : { seed: options.seed })
        }
      }
    )
    it("the runs covered every kind of outcome", () => {
      const missing = (options?.covers ?? []).filter((outcome) => !seen.has(outcome))
      assert.deepStrictEqual(missing, [], `outcomes seen: ${JSON.stringify(Object.fromEntries(seen))}`)
    })
  })
}
