/**
 * The byte storage behind a `ReplayBuffer`: a byte-bounded log kept in
 * fixed-size, append-only segments addressed by absolute byte offset.
 *
 * Why segments and not one circular array: a circular array overwrites its
 * oldest bytes in place, so a reader could only be handed a copy. Here a byte,
 * once written, never changes: a segment is filled front to back and, when it
 * falls out of the window, dropped rather than overwritten. Readers can
 * therefore be given `subarray` views of storage (zero-copy replay) that stay
 * valid for as long as they hold them.
 *
 * A dropped segment that no view was ever taken of is kept for reuse (at most
 * one), so a buffer that nobody follows writes into warm memory like a plain
 * ring and allocates nothing in the steady state.
 *
 * Memory: at most `capacity + 2 × segmentSize` bytes, allocated as bytes
 * arrive, not up front (a huge capacity costs nothing until it is used).
 *
 * Not thread-safe and not Effect-aware: callers run each operation in one
 * synchronous step, which makes it atomic on the JS event loop.
 *
 * Metrics: the log counts what it stores where it stores it, in plain number
 * fields — its own `written` (and, derived from it, `evicted`) and the
 * process-wide `storage` counters — in the same synchronous step as the
 * write. No Effect runs here: the counters reach Effect's metrics lazily,
 * when they are read (`ReplayMetrics.refresh`).
 *
 * @internal
 */
import { storage } from "./storageCounters.js"

/** The largest segment: small enough to drop storage in fine steps, large enough that a 4 KiB write rarely crosses one. */
export const MAX_SEGMENT_SIZE = 64 * 1024

interface Segment {
  readonly bytes: Uint8Array
  /** A view of it was handed out: it may never be written again. */
  exposed: boolean
}

const EMPTY = new Uint8Array(0)

/** @internal */
export class SegmentLog {
  readonly segmentSize: number
  /** Bytes ever written. */
  total: number
  /**
   * Bytes appended to this log (a write of `capacity` bytes or more counts in
   * full, as `total` moves). Bytes a `jump` skips are not counted: they were
   * never here.
   */
  written = 0
  /** Segment `i` of `segments` holds absolute offsets `[(base + i) × segmentSize, (base + i + 1) × segmentSize)`. */
  private base: number
  private segments: Array<Segment> = []
  /** The last segment, being filled; `undefined` until a write needs it. */
  private tail: Segment | undefined = undefined
  /** Bytes of the tail's span already behind `total`. */
  private fill: number
  private spare: Segment | undefined = undefined
  /** The oldest offset once the write in progress completes. */
  private pendingOldest = 0

  /** Nothing below it is retained: the offset the log started at, or the last `jump`. */
  private floor: number

  /** `first` is the offset the log starts at (0 unless it continues a numbering, as a replica does). */
  constructor(readonly capacity: number, first = 0) {
    this.segmentSize = Math.min(capacity, MAX_SEGMENT_SIZE)
    this.floor = first
    this.total = first
    this.base = Math.floor(first / this.segmentSize)
    this.fill = first - this.base * this.segmentSize
  }

  /** The oldest offset still retained. */
  get oldest(): number {
    return Math.max(this.floor, this.total - this.capacity)
  }

  /** Bytes retained: `total − oldest`. */
  get retained(): number {
    return Math.min(this.total - this.floor, this.capacity)
  }

  /** Bytes written to this log and no longer retained (evicted, or dropped by a `jump`): `written − retained`. */
  get evicted(): number {
    return this.written - this.retained
  }

  /** Counts an append of `length` bytes made while `before` bytes were retained: here and process-wide. */
  protected count(before: number, length: number): void {
    this.written += length
    storage.written += length
    storage.evicted += before + length - this.retained
  }

  /**
   * Moves `total` forward to `to` without bytes: everything below `to` reads
   * as evicted. For a replica whose log of record moved on while it missed
   * the bytes in between: its followers then see a gap, never a silent skip.
   */
  jump(to: number): void {
    if (to <= this.total) return
    // What was retained is dropped: evicted, as far as the counters go.
    storage.evicted += this.retained
    for (const segment of this.segments) this.release(segment)
    this.segments = []
    this.tail = undefined
    this.floor = to
    this.total = to
    this.base = Math.floor(to / this.segmentSize)
    this.fill = to - this.base * this.segmentSize
    this.pendingOldest = to
  }

  /** Appends `bytes` (copied; the caller keeps ownership). The caller checks overflow first. */
  append(bytes: Uint8Array): void {
    const length = bytes.length
    if (length === 0) return
    const before = this.retained
    this.copy(bytes, this.prepare(length))
    this.evictBelow(this.pendingOldest)
    this.count(before, length)
  }

  /** Appends `chunks`, whose lengths add up to `length`, as if they were one write. */
  appendAll(chunks: ReadonlyArray<Uint8Array>, length: number): void {
    if (length === 0) return
    const before = this.retained
    let skip = this.prepare(length)
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]
      if (skip >= chunk.length) {
        skip -= chunk.length
      } else {
        this.copy(chunk, skip)
        skip = 0
      }
    }
    this.evictBelow(this.pendingOldest)
    this.count(before, length)
  }

  /**
   * Makes room for `length` more bytes and returns how many leading bytes of
   * them to skip: a write of `capacity` bytes or more keeps only its last
   * `capacity` bytes, while `total` still moves by its full length.
   */
  private prepare(length: number): number {
    if (length < this.capacity) {
      // Eviction waits until a segment is needed (see `allocate`), so the segment a batch drops is the one it reuses.
      this.pendingOldest = this.total + length - this.capacity
      return 0
    }
    for (const segment of this.segments) this.release(segment)
    this.segments = []
    this.tail = undefined
    const skip = length - this.capacity
    this.total += skip
    this.base = Math.floor(this.total / this.segmentSize)
    this.fill = this.total - this.base * this.segmentSize
    this.pendingOldest = this.total
    return skip
  }

  /** Copies `source[from..]` to the end of the log. */
  private copy(source: Uint8Array, from: number): void {
    const size = this.segmentSize
    const length = source.length
    let read = from
    while (read < length) {
      if (this.tail === undefined || this.fill === size) {
        if (this.tail !== undefined) this.fill = 0
        this.tail = this.allocate()
      }
      const n = Math.min(size - this.fill, length - read)
      this.tail.bytes.set(n === length ? source : source.subarray(read, read + n), this.fill)
      this.fill += n
      read += n
    }
    this.total += length - from
  }

  /** Where a read from `offset` starts: the seed's clamp (`oldest` below the window, `total` at or past the end). */
  start(offset: number): number {
    return offset >= this.total ? this.total : Math.max(offset, this.oldest)
  }

  /** A fresh copy of `[start, total)`; `start` must come from `start()`. */
  copyFrom(start: number): Uint8Array {
    const count = this.total - start
    if (count <= 0) return EMPTY
    const result = new Uint8Array(count)
    let written = 0
    this.visit(start, this.total, (segment, from, to) => {
      result.set(segment.bytes.subarray(from, to), written)
      written += to - from
    })
    return result
  }

  /**
   * Views of `[start, min(total, start + maxBytes))`, one per segment, without
   * copying. The views never change afterwards: their segments are marked
   * exposed and will not be reused. `start` must come from `start()`.
   */
  viewsFrom(start: number, maxBytes: number): Array<Uint8Array> {
    const end = Math.min(this.total, start + maxBytes)
    const views: Array<Uint8Array> = []
    if (end <= start) return views
    this.visit(start, end, (segment, from, to) => {
      segment.exposed = true
      views.push(segment.bytes.subarray(from, to))
    })
    return views
  }

  private visit(start: number, end: number, f: (segment: Segment, from: number, to: number) => void): void {
    const size = this.segmentSize
    let position = start
    while (position < end) {
      const absolute = Math.floor(position / size)
      const within = position - absolute * size
      const to = Math.min(size, within + (end - position))
      f(this.segments[absolute - this.base], within, to)
      position += to - within
    }
  }

  private allocate(): Segment {
    const head = this.segments[0]
    if (head !== undefined && (this.base + 1) * this.segmentSize <= this.pendingOldest) {
      this.release(head)
      this.segments.shift()
      this.base++
    }
    const spare = this.spare
    if (spare !== undefined) {
      this.spare = undefined
      this.segments.push(spare)
      return spare
    }
    const segment: Segment = { bytes: new Uint8Array(this.segmentSize), exposed: false }
    this.segments.push(segment)
    return segment
  }

  /** Drops the segments that hold only offsets below `oldest`. */
  private evictBelow(oldest: number): void {
    let drop = 0
    while (drop < this.segments.length && (this.base + drop + 1) * this.segmentSize <= oldest) {
      this.release(this.segments[drop])
      drop++
    }
    if (drop > 0) {
      this.segments.splice(0, drop)
      this.base += drop
    }
  }

  private release(segment: Segment): void {
    if (!segment.exposed && this.spare === undefined) this.spare = segment
  }
}
