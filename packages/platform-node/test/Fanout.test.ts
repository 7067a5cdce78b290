/**
 * The fan-out writer (`internal/fanout.ts`) alone, with in-memory outlets
 * that refuse writes at random (a full socket) and drain later: whatever the
 * writes, attachments, drains and departures, every connection gets the log
 * from its start exactly once — contiguous messages, a gap only where its
 * next byte was really evicted, nothing written while it is blocked, after it
 * left or after its end — and every connection still there at the end gets
 * its end. Hubs go away with their last connection.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayCursor from "@scrollback/core/ReplayCursor"
import { Effect, Either, Exit, FastCheck as fc, Option } from "effect"
import { type Format, Hubs, type Member, type Outlet } from "../src/internal/fanout.js"

/** Data as `[8-byte offset][bytes]`, gaps as JSON text: enough to check every message against the log. */
const format: Format = {
  transport: "ws",
  data: (_, step) => {
    const out = new Uint8Array(8 + step.next - step.offset)
    new DataView(out.buffer).setBigUint64(0, BigInt(step.offset))
    let at = 8
    for (const chunk of step.chunks) {
      out.set(chunk, at)
      at += chunk.length
    }
    return out
  },
  gap: (_, gap) => JSON.stringify({ requested: gap.requested, oldest: gap.oldest })
}

type Action =
  | { readonly _tag: "Write"; readonly size: number }
  | {
    readonly _tag: "Attach"
    readonly hubs: 0 | 1
    readonly from: "oldest" | "live" | number
    readonly onEvicted: "clamp" | "fail"
    /** Whether each write to the outlet is refused (cycled). */
    readonly refusals: ReadonlyArray<boolean>
  }
  | { readonly _tag: "Drain"; readonly which: number }
  | { readonly _tag: "Close"; readonly which: number }
  | { readonly _tag: "Flush" }

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ _tag: fc.constant("Write" as const), size: fc.integer({ min: 0, max: 120 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("Attach" as const),
      hubs: fc.constantFrom(0 as const, 1 as const),
      from: fc.oneof(fc.constant("oldest" as const), fc.constant("live" as const), fc.integer({ min: -5, max: 800 })),
      onEvicted: fc.constantFrom("clamp" as const, "fail" as const),
      refusals: fc.array(fc.boolean(), { minLength: 1, maxLength: 8 })
    })
  },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("Drain" as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Close" as const), which: fc.nat() }) },
  { weight: 3, arbitrary: fc.constant({ _tag: "Flush" as const }) }
)

/** One connection: what it was sent, checked as it arrives. */
class Connection {
  position: number
  blocked: (() => void) | undefined = undefined
  blockedBy = false
  closed = false
  finished: { readonly exit: Exit.Exit<void, unknown>; readonly position: number } | undefined = undefined
  writes = 0
  member: Member | undefined = undefined
  readonly outlet: Outlet

  constructor(
    readonly start: number,
    readonly onEvicted: "clamp" | "fail",
    refusals: ReadonlyArray<boolean>,
    log: () => Uint8Array,
    oldest: () => number,
    readonly violations: Array<string>
  ) {
    this.position = start
    this.outlet = {
      gap: () => {},
      write: (message) => {
        if (this.closed) violations.push("written to after it left")
        if (this.finished !== undefined) violations.push("written to after its end")
        if (this.blockedBy) violations.push("written to while its last write waits for a drain")
        if (typeof message === "string") {
          const gap = JSON.parse(message)
          if (this.onEvicted !== "clamp") violations.push("a gap under fail")
          if (gap.requested !== this.position) violations.push(`gap at ${gap.requested}, expected ${this.position}`)
          if (!(gap.requested < gap.oldest)) violations.push(`empty gap ${message}`)
          // The byte it skips is really gone: the buffer's oldest is already past it.
          if (!(gap.requested < oldest())) violations.push(`gap at ${gap.requested}, but oldest is ${oldest()}`)
          this.position = gap.oldest
        } else {
          const offset = Number(new DataView(message.buffer, message.byteOffset).getBigUint64(0))
          const bytes = message.subarray(8)
          if (offset !== this.position) violations.push(`data at ${offset}, expected ${this.position}`)
          const expected = log().subarray(offset, offset + bytes.length)
          if (expected.length !== bytes.length || expected.some((byte, i) => byte !== bytes[i])) {
            violations.push(`data at ${offset} differs from the log`)
          }
          this.position = offset + bytes.length
        }
        const refused = refusals[this.writes++ % refusals.length]
        if (refused) this.blockedBy = true
        return !refused
      },
      onDrain: (resume) => {
        if (!this.blockedBy) violations.push("onDrain without a refused write")
        if (this.blocked !== undefined) violations.push("onDrain twice")
        this.blocked = resume
      },
      finish: (exit, position) => {
        if (this.closed) violations.push("finished after it left")
        if (this.finished !== undefined) violations.push("finished twice")
        if (position !== this.position) {
          violations.push(`finished at ${position}, its bytes stopped at ${this.position}`)
        }
        this.finished = { exit, position }
      }
    }
  }

  /** The socket drained: the fan-out may write again. */
  drain(): void {
    const resume = this.blocked
    this.blocked = undefined
    this.blockedBy = false
    resume?.()
  }
}

const flush = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

describe("the fan-out writer", () => {
  it.effect.prop(
    "random writes, attachments, refusals, drains and departures: exactly once, gaps only at evictions, every end",
    {
      capacity: fc.integer({ min: 16, max: 400 }),
      maxChunkBytes: fc.integer({ min: 1, max: 300 }),
      actions: fc.array(actionArb, { minLength: 1, maxLength: 60 }),
      end: fc.constantFrom("ended" as const, "failed" as const)
    },
    ({ actions, capacity, end, maxChunkBytes }) =>
      Effect.gen(function*() {
        const buffer = yield* ReplayBuffer.make({ capacity })
        const hubs = [new Hubs(format, maxChunkBytes), new Hubs(format, maxChunkBytes)] as const
        const written: Array<number> = []
        let log = new Uint8Array(0)
        const oldest = () => Math.max(0, log.length - capacity)
        const violations: Array<string> = []
        const connections: Array<Connection> = []
        for (const action of actions) {
          switch (action._tag) {
            case "Write": {
              const bytes = Uint8Array.from({ length: action.size }, (_, i) => (log.length + i) * 31 & 0xff)
              const next = new Uint8Array(log.length + bytes.length)
              next.set(log)
              next.set(bytes, log.length)
              log = next
              written.push(action.size)
              yield* Effect.orDie(buffer.write(bytes))
              break
            }
            case "Attach": {
              const made = yield* Effect.either(
                ReplayCursor.make(buffer, { from: action.from, onEvicted: action.onEvicted })
              )
              // A start the transports refuse (evicted under fail) never reaches the fan-out.
              if (Either.isLeft(made)) break
              const connection = new Connection(
                made.right.start,
                action.onEvicted,
                action.refusals,
                () => log,
                oldest,
                violations
              )
              connections.push(connection)
              connection.member = hubs[action.hubs].attach(buffer, connection.outlet, made.right)
              break
            }
            case "Drain": {
              const blocked = connections.filter((c) => c.blocked !== undefined)
              if (blocked.length > 0) blocked[action.which % blocked.length].drain()
              break
            }
            case "Close": {
              const open = connections.filter((c) => !c.closed && c.finished === undefined)
              if (open.length === 0) break
              const connection = open[action.which % open.length]
              connection.closed = true
              connection.member!.close()
              break
            }
            case "Flush":
              yield* flush
              break
          }
        }
        yield* end === "ended"
          ? buffer.end
          : buffer.fail(new ProducerFailed({ reason: "exit 3", exitCode: 3 }))
        // Every socket drains in the end: each connection still there gets its end.
        for (let round = 0; round < 10_000; round++) {
          yield* flush
          const blocked = connections.filter((c) => c.blocked !== undefined && !c.closed)
          if (blocked.length === 0) break
          for (const connection of blocked) connection.drain()
        }
        yield* flush
        assert.deepStrictEqual(violations, [])
        for (const connection of connections) {
          if (connection.closed) continue
          const finished = connection.finished
          if (finished === undefined) return assert.fail(`a connection from ${connection.start} never ended`)
          if (Exit.isSuccess(finished.exit)) {
            assert.strictEqual(end, "ended")
            assert.strictEqual(finished.position, log.length, "an end comes after every byte")
          } else {
            const error = Option.getOrThrow(
              Exit.causeOption(finished.exit).pipe(
                Option.flatMap((cause) => Option.fromNullable(cause._tag === "Fail" ? cause.error : undefined))
              )
            ) as { readonly _tag: string }
            if (error._tag === "ProducerFailed") {
              assert.strictEqual(end, "failed")
              assert.strictEqual(finished.position, log.length, "a failed end comes after every byte")
            } else {
              // Evicted under fail: it stopped where its next byte was gone.
              assert.strictEqual(error._tag, "OffsetEvicted")
              assert.strictEqual(connection.onEvicted, "fail")
              assert.isBelow(finished.position, oldest())
            }
          }
        }
        // A hub lives while it has connections: none is left behind.
        assert.deepStrictEqual([hubs[0].size, hubs[1].size], [0, 0])
      }),
    { fastCheck: { numRuns: 2000 } }
  )
})
