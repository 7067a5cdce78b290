/**
 * What counting the storage's metrics costs the write path: the storage
 * (`SegmentLog`) as the engine runs it — counting bytes written and evicted
 * in plain number fields in the write's synchronous step — against the same
 * storage with the counting removed (a subclass whose `count` does nothing),
 * in the same process, in alternating rounds. No Effect runs here, so the
 * difference is not hidden under an Effect's cost per write (for that, see
 * the `ReplayBuffer.write` lines of `replayBuffer.ts`, whose targets hold
 * with the counting in). The targets allow a few nanoseconds per append: on
 * the smallest appends that is a visible fraction of a raw `set`, and nothing
 * next to the ~200 ns an Effect write costs. Prints JSON lines.
 *
 *   pnpm --filter @scrollback/core exec tsx benchmark/storageCounting.ts
 */
import { compare } from "@scrollback/bench-kit"
import { SegmentLog } from "../src/internal/segmentLog.js"

/** The storage without its metrics: what the write path cost before the storage counted. */
class UncountedLog extends SegmentLog {
  protected override count(_before: number, _length: number): void {}
}

const CAPACITY = 1 << 20

const filled = (length: number, seed: number) => new Uint8Array(length).map((_, i) => (i * 7 + seed) & 0xff)

const main = async () => {
  for (const [size, target] of [[4096, 0.9], [256, 0.75], [64, 0.6]] as const) {
    const counted = new SegmentLog(CAPACITY)
    const uncounted = new UncountedLog(CAPACITY)
    const chunk = filled(size, 1)
    await compare({
      bench: `storage append ${size} B, with the metrics counted vs without`,
      subject: {
        name: "SegmentLog.append (counts written/evicted)",
        run: (n) => {
          for (let i = 0; i < n; i++) counted.append(chunk)
        }
      },
      baseline: {
        name: "SegmentLog.append without counting",
        run: (n) => {
          for (let i = 0; i < n; i++) uncounted.append(chunk)
        }
      },
      bytesPerOp: size,
      minSpeedRatio: target,
      rounds: 15
    })
  }
  for (const [count, size] of [[64, 4096], [1024, 64]] as const) {
    const counted = new SegmentLog(CAPACITY)
    const uncounted = new UncountedLog(CAPACITY)
    const batch = Array.from({ length: count }, (_, i) => filled(size, i))
    const length = count * size
    await compare({
      bench: `storage appendAll ${count} x ${size} B, with the metrics counted vs without`,
      subject: {
        name: "SegmentLog.appendAll (counts written/evicted)",
        run: (n) => {
          for (let i = 0; i < n; i++) counted.appendAll(batch, length)
        }
      },
      baseline: {
        name: "SegmentLog.appendAll without counting",
        run: (n) => {
          for (let i = 0; i < n; i++) uncounted.appendAll(batch, length)
        }
      },
      bytesPerOp: length,
      minSpeedRatio: 0.9,
      rounds: 15
    })
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
