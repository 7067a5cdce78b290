/** Arbitraries the wire properties share. */
import * as fc from "effect/FastCheck"

/** Random writes, how many of their pieces go in before a client connects, and where each write is split. */
export const splitWritesArb: [
  fc.Arbitrary<Array<Uint8Array>>,
  fc.Arbitrary<number>,
  fc.Arbitrary<Array<number>>
] = [
  fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 25 }),
  fc.integer({ min: 0, max: 25 }),
  fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 25 })
]

/** Splits each write at its random point into two writes (split points past the end keep it whole). */
export const splitPieces = (writes: ReadonlyArray<Uint8Array>, splits: ReadonlyArray<number>): Array<Uint8Array> =>
  writes.flatMap((write, i) => {
    const at = Math.min(splits[i] ?? 0, write.length)
    return [write.subarray(0, at), write.subarray(at)]
  })
