/**
 * The benchmark harness: every figure is a ratio against a baseline measured
 * in the same process, in alternating rounds, so it holds on a noisy machine.
 * Results are printed as one JSON object per line.
 */

/** Something to time: `run(n)` performs `n` operations. */
export interface Subject {
  readonly name: string
  readonly run: (n: number) => void | Promise<void>
}

export interface Timing {
  readonly name: string
  /** Median nanoseconds per operation over the rounds. */
  readonly nsPerOp: number
  /** Throughput in MB/s (10^6 bytes), when the operation moves a known number of bytes. */
  readonly mbPerSec?: number
}

export interface Comparison {
  readonly bench: string
  readonly subject: Timing
  readonly baseline: Timing
  /** Subject throughput as a fraction of the baseline's (baseline ns / subject ns). */
  readonly speedRatio: number
  /** Subject time as a fraction of the baseline's (subject ns / baseline ns). */
  readonly timeRatio: number
  readonly target?: string
  readonly meetsTarget?: boolean
  readonly rounds: number
  readonly opsPerRound: number
}

export interface CompareOptions {
  readonly bench: string
  readonly subject: Subject
  readonly baseline: Subject
  /** Bytes one operation moves, to report MB/s. */
  readonly bytesPerOp?: number
  /** A target on `speedRatio` (`minSpeedRatio`) or on `timeRatio` (`maxTimeRatio`). */
  readonly minSpeedRatio?: number
  readonly maxTimeRatio?: number
  readonly rounds?: number
  /** Wall time one round of the subject should take, to size `n`. Default 60 ms. */
  readonly roundMs?: number
  readonly extra?: Record<string, unknown>
}

const now = () => Number(process.hrtime.bigint())

const timeRun = async (subject: Subject, n: number): Promise<number> => {
  const start = now()
  await subject.run(n)
  return now() - start
}

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Finds an `n` for which one run of `subject` takes about `roundMs`. */
const calibrate = async (subject: Subject, roundMs: number): Promise<number> => {
  let n = 1
  for (;;) {
    const ns = await timeRun(subject, n)
    if (ns >= roundMs * 1e6 / 4 || n >= 1 << 30) {
      return Math.max(1, Math.round(n * (roundMs * 1e6) / Math.max(ns, 1)))
    }
    n *= 4
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000

/** Times `subject` and `baseline` in alternating rounds and prints the comparison as a JSON line. */
export const compare = async (options: CompareOptions): Promise<Comparison> => {
  const rounds = options.rounds ?? 9
  const roundMs = options.roundMs ?? 60
  // Warm both up (JIT) before sizing.
  await timeRun(options.subject, 1)
  await timeRun(options.baseline, 1)
  const n = await calibrate(options.subject, roundMs)
  const subjectNs: Array<number> = []
  const baselineNs: Array<number> = []
  await timeRun(options.subject, n)
  await timeRun(options.baseline, n)
  for (let i = 0; i < rounds; i++) {
    // Alternate the order so neither side always runs on a warmer or a more GC-laden heap.
    if (i % 2 === 0) {
      subjectNs.push((await timeRun(options.subject, n)) / n)
      baselineNs.push((await timeRun(options.baseline, n)) / n)
    } else {
      baselineNs.push((await timeRun(options.baseline, n)) / n)
      subjectNs.push((await timeRun(options.subject, n)) / n)
    }
  }
  const timing = (name: string, ns: number): Timing =>
    options.bytesPerOp === undefined
      ? { name, nsPerOp: round3(ns) }
      : { name, nsPerOp: round3(ns), mbPerSec: round3(options.bytesPerOp / ns * 1e3) }
  const s = median(subjectNs)
  const b = median(baselineNs)
  const speedRatio = round3(b / s)
  const timeRatio = round3(s / b)
  const target = options.minSpeedRatio !== undefined
    ? { target: `speedRatio >= ${options.minSpeedRatio}`, meetsTarget: speedRatio >= options.minSpeedRatio }
    : options.maxTimeRatio !== undefined
    ? { target: `timeRatio <= ${options.maxTimeRatio}`, meetsTarget: timeRatio <= options.maxTimeRatio }
    : {}
  const result: Comparison = {
    bench: options.bench,
    subject: timing(options.subject.name, s),
    baseline: timing(options.baseline.name, b),
    speedRatio,
    timeRatio,
    ...target,
    rounds,
    opsPerRound: n,
    ...options.extra
  }
  report(result)
  return result
}

/** Prints one JSON line. */
export const report = (value: object): void => {
  process.stdout.write(JSON.stringify(value) + "\n")
}

/** Forces a full collection; benchmarks that measure memory run under `node --expose-gc`. */
export const collect = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run with node --expose-gc to measure memory")
  for (let i = 0; i < 3; i++) gc()
}

/** The heap used after a full collection, in bytes. */
export const heapUsed = (): number => {
  collect()
  return process.memoryUsage().heapUsed
}

/** A plain `Uint8Array.set` ring with the seed's semantics: the raw baseline for writes. */
export class RawRing {
  readonly buffer: Uint8Array
  head = 0
  total = 0
  constructor(readonly capacity: number) {
    this.buffer = new Uint8Array(capacity)
  }
  write(bytes: Uint8Array): void {
    let source = bytes
    if (source.length >= this.capacity) {
      const skip = source.length - this.capacity
      this.head = (this.head + skip) % this.capacity
      this.total += skip
      source = source.subarray(skip)
    }
    const n = Math.min(source.length, this.capacity - this.head)
    this.buffer.set(n === source.length ? source : source.subarray(0, n), this.head)
    if (n < source.length) this.buffer.set(source.subarray(n), 0)
    this.head = (this.head + source.length) % this.capacity
    this.total += source.length
  }
}
