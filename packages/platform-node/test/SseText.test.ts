/**
 * The string form of a data step (`internal/sseText.ts`, what a replaying
 * connection writes) is, byte for byte, the array the protocol encodes
 * (`ReplayProtocol.sseDataEvents`, what the hub writes to caught-up
 * connections): same events, same `id: EPOCH:NEXT`, same base64, whatever
 * the views (lengths that are not multiples of 3, events that span views)
 * and the step's offset.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as ReplayProtocol from "@scrollback/platform/ReplayProtocol"
import { Effect, FastCheck as fc } from "effect"
import { sseDataText } from "../src/internal/sseText.js"

const EVENT = ReplayProtocol.MAX_EVENT_BYTES

/** A step of `lengths.length` views over fresh bytes, starting at `offset`. */
const stepOf = (offset: number, lengths: ReadonlyArray<number>, seed: number): ReplayCursor.Data => {
  const total = lengths.reduce((sum, length) => sum + length, 0)
  // One backing array, viewed at an offset, as the segment log hands out views.
  const backing = new Uint8Array(total + 7)
  for (let i = 0; i < backing.length; i++) backing[i] = (i * 131 + seed) & 0xff
  const chunks: Array<Uint8Array> = []
  let at = 7
  for (const length of lengths) {
    chunks.push(backing.subarray(at, at + length))
    at += length
  }
  return { _tag: "Data", offset, next: offset + total, chunks, total: offset + total }
}

const same = (epoch: string, step: ReplayCursor.Data) => {
  const text = sseDataText(epoch, step).join("")
  const expected = Buffer.from(ReplayProtocol.sseDataEvents(epoch, step)).toString("latin1")
  assert.strictEqual(text.length, expected.length)
  assert.isTrue(text === expected, "the string differs from the protocol's bytes")
  // Every event carries at most MAX_EVENT_BYTES: as many strings as events.
  const events = Math.ceil((step.next - step.offset) / EVENT)
  assert.strictEqual(sseDataText(epoch, step).length, events)
}

describe("sseDataText", () => {
  it.effect.prop(
    "equals ReplayProtocol.sseDataEvents byte for byte",
    {
      offset: fc.integer({ min: 0, max: 2 ** 40 }),
      lengths: fc.array(
        fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 3 * EVENT })),
        { minLength: 1, maxLength: 8 }
      ),
      seed: fc.integer({ min: 0, max: 255 })
    },
    ({ lengths, offset, seed }) =>
      Effect.sync(() => same("0123456789abcdef0123456789abcdef", stepOf(offset, lengths, seed))),
    { fastCheck: { numRuns: 60 } }
  )

  it("a 1 MiB step over 64 KiB views (events across views) and a Buffer view", () => {
    same("e", stepOf(262_144, Array.from({ length: 16 }, () => 65_536), 3))
    const buffer = Buffer.alloc(EVENT + 5, 9)
    same("e", { _tag: "Data", offset: 5, next: 5 + buffer.length, chunks: [buffer], total: 5 + buffer.length })
  })
})
