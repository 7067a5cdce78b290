import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import { InvalidOffset, type ProducerFailed } from "@scrollback/core/ReplayBufferError"
import * as ReplayStream from "@scrollback/platform/ReplayStream"
import * as Unicode11 from "@xterm/addon-unicode11"
import * as XtermHeadless from "@xterm/headless"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { InvalidPtySize } from "../ReplayPtyError.js"
import type * as Api from "../TerminalKeyframes.js"
import { InvalidKeyframesOptions } from "../TerminalKeyframesError.js"
import { DEFAULT_COLS, DEFAULT_ROWS, invalidSize, isValidSize } from "./size.js"
import * as Snapshot from "./snapshot.js"
import { VtScanner } from "./vtScanner.js"

type TerminalType = XtermHeadless.Terminal

/**
 * CommonJS bundles whose exports Node's ESM loader cannot see by name: under ESM their namespace holds
 * `module.exports` as `default`; in the CommonJS build (they say `__esModule`) it is `module.exports` itself.
 */
const exportsOf = <A>(namespace: A): A => (namespace as { readonly default?: A }).default ?? namespace
const { Terminal } = exportsOf(XtermHeadless)
const { Unicode11Addon } = exportsOf(Unicode11)

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@scrollback/terminal/TerminalKeyframes") as Api.TypeId

/** @internal */
export const DEFAULT_SCROLLBACK = 1000
/** @internal */
export const MAX_SCROLLBACK = 100_000
/** @internal */
export const DEFAULT_MAX_KEYFRAMES = 8
/** @internal */
export const DEFAULT_MAX_KEYFRAME_BYTES = 16 * 1024 * 1024
/** @internal */
export const DEFAULT_MAX_SIZE_CHANGES = 1024
/** @internal */
export const DEFAULT_MAX_CHUNK_BYTES = 64 * 1024
/** @internal */
export const MIN_INTERVAL = 4096

/** xterm.js splits a longer write itself, possibly inside a UTF-8 sequence; ours never are. */
const MAX_WRITE = 64 * 1024

const invalid = (name: string, reason: string) => new InvalidKeyframesOptions({ name, reason })

const positiveInt = (value: unknown, min: number, max: number) =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max

interface Settings {
  readonly cols: number
  readonly rows: number
  readonly scrollback: number
  readonly interval: number
  readonly maxKeyframes: number
  readonly maxKeyframeBytes: number
  readonly maxSizeChanges: number
  readonly maxChunkBytes: number
  readonly verify: boolean
  readonly unicodeVersion: Api.UnicodeVersion
}

const settings = (
  buffer: ReplayBuffer.ReplayBuffer,
  options: Api.Options | undefined
): Settings | InvalidKeyframesOptions | InvalidPtySize => {
  const cols = options?.cols ?? DEFAULT_COLS
  const rows = options?.rows ?? DEFAULT_ROWS
  if (!isValidSize(cols, rows)) return invalidSize(cols, rows)
  const scrollback = options?.scrollback ?? DEFAULT_SCROLLBACK
  if (!positiveInt(scrollback, 0, MAX_SCROLLBACK)) {
    return invalid("scrollback", `an integer of lines in 0..${MAX_SCROLLBACK}, got ${scrollback}`)
  }
  const interval = options?.interval ?? Math.max(MIN_INTERVAL, Math.floor(buffer.capacity / 4))
  if (!positiveInt(interval, 1, Number.MAX_SAFE_INTEGER)) {
    return invalid("interval", `a positive integer of bytes, got ${interval}`)
  }
  const maxKeyframes = options?.maxKeyframes ?? DEFAULT_MAX_KEYFRAMES
  if (!positiveInt(maxKeyframes, 1, 1024)) return invalid("maxKeyframes", `an integer in 1..1024, got ${maxKeyframes}`)
  const maxKeyframeBytes = options?.maxKeyframeBytes ?? DEFAULT_MAX_KEYFRAME_BYTES
  if (!positiveInt(maxKeyframeBytes, 1, Number.MAX_SAFE_INTEGER)) {
    return invalid("maxKeyframeBytes", `a positive integer, got ${maxKeyframeBytes}`)
  }
  const maxSizeChanges = options?.maxSizeChanges ?? DEFAULT_MAX_SIZE_CHANGES
  if (!positiveInt(maxSizeChanges, 1, 1_000_000)) {
    return invalid("maxSizeChanges", `an integer in 1..1000000, got ${maxSizeChanges}`)
  }
  const maxChunkBytes = options?.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES
  if (!positiveInt(maxChunkBytes, 1, 16 * 1024 * 1024)) {
    return invalid("maxChunkBytes", `an integer in 1..16777216, got ${maxChunkBytes}`)
  }
  const verify = options?.verify ?? true
  if (typeof verify !== "boolean") return invalid("verify", "a boolean")
  const unicodeVersion = options?.unicodeVersion ?? "6"
  if (unicodeVersion !== "6" && unicodeVersion !== "11") {
    return invalid("unicodeVersion", `"6" or "11", got ${JSON.stringify(unicodeVersion)}`)
  }
  return {
    cols,
    rows,
    scrollback,
    interval,
    maxKeyframes,
    maxKeyframeBytes,
    maxSizeChanges,
    maxChunkBytes,
    verify,
    unicodeVersion
  }
}

/**
 * A headless terminal with xterm's defaults for everything that changes parsing, and the Unicode version of
 * the character widths (`"11"`: `@xterm/addon-unicode11`, as a page that loads it).
 *
 * @internal
 */
export const newTerminal = (
  cols: number,
  rows: number,
  scrollback: number,
  unicodeVersion: Api.UnicodeVersion = "6"
): TerminalType => {
  const term = new Terminal({ cols, rows, scrollback, allowProposedApi: true, logLevel: "off" })
  if (unicodeVersion === "11") {
    term.loadAddon(new Unicode11Addon())
    term.unicode.activeVersion = "11"
  }
  return term
}

/**
 * Parses a string in a scratch terminal at once, with xterm's synchronous write (internal, and
 * deprecated for terminals with asynchronous handlers, which this one has none of): no timer to wait
 * for, on a busy machine the difference between milliseconds and tens of them.
 */
const writeNow = (term: TerminalType, data: string): void => {
  const core = (term as unknown as { readonly _core: { writeSync?: (data: string) => void } })._core
  if (typeof core.writeSync !== "function") throw new Error("@xterm/headless 6.0.0 is required")
  core.writeSync(data)
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

interface SizeRecord extends Api.SizeChange {
  /** Applied to the engine's terminal. */
  applied: boolean
  readonly seq: number
}

class KeyframesImpl implements Api.TerminalKeyframes {
  readonly [TypeId]: Api.TypeId = TypeId
  private term: TerminalType
  private readonly scanner = new VtScanner()
  /** Bytes before this offset were handed to xterm (and parsed, between chunks). */
  private handed = 0
  /** The bytes of an incomplete UTF-8 sequence at `handed`, held back from xterm. */
  private carry: Uint8Array | undefined = undefined
  private trusted = true
  private nextDue: number
  private keyframeList: Array<Api.Keyframe> = []
  private keyframeBytes = 0
  private sizes: Array<SizeRecord> = []
  private sizeSeq = 0
  private initialSize: Api.Size
  /** Processing a chunk of frames (writes may also be in flight after it). */
  private busy = false
  /** Bytes before this offset were parsed by xterm (its write callback ran). */
  private parsed = 0
  private stopped = false
  private readonly waiters = new Set<
    { readonly offset: number; readonly wake: () => void; readonly parsed?: boolean }
  >()
  private counters = { taken: 0, rejected: 0, gaps: 0, resets: 0, dropped: 0 }
  private lastWrite: Promise<void> | undefined = undefined
  /** The offset of the last keyframe attempt, not to try twice at the same place. */
  private lastAttempt = -1

  constructor(readonly buffer: ReplayBuffer.ReplayBuffer, private readonly settings: Settings) {
    this.term = newTerminal(settings.cols, settings.rows, settings.scrollback, settings.unicodeVersion)
    this.initialSize = { cols: settings.cols, rows: settings.rows }
    this.nextDue = settings.interval
  }

  pipe() {
    return pipeArguments(this, arguments)
  }

  get unicodeVersion(): Api.UnicodeVersion {
    return this.settings.unicodeVersion
  }

  get scrollback(): number {
    return this.settings.scrollback
  }

  supported(): boolean {
    return Snapshot.supported(this.term)
  }

  dispose(): void {
    this.stopped = true
    this.term.dispose()
    this.wakeAll()
  }

  // --- positions and waiters ---

  /**
   * Bytes consumed: parsed by xterm, and the start of an incomplete UTF-8 sequence held back once
   * everything handed is parsed.
   */
  private get position(): number {
    return this.parsed === this.handed ? this.handed + (this.carry?.length ?? 0) : this.parsed
  }

  /** Waits until xterm has parsed the bytes before `offset` (or the engine stopped). */
  private awaitParsed(offset: number): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (this.stopped || this.parsed >= offset) return resume(Effect.void)
      const waiter = { offset, wake: () => resume(Effect.void), parsed: true }
      this.waiters.add(waiter)
      return Effect.sync(() => {
        this.waiters.delete(waiter)
      })
    })
  }

  private wakeAll(): void {
    for (const waiter of this.waiters) {
      if (this.stopped || (waiter.parsed === true ? this.parsed : this.position) >= waiter.offset) {
        this.waiters.delete(waiter)
        waiter.wake()
      }
    }
  }

  readonly awaitPosition = (offset: number): Effect.Effect<void> =>
    Effect.async<void>((resume) => {
      if (this.stopped || this.position >= offset) return resume(Effect.void)
      const waiter = { offset, wake: () => resume(Effect.void) }
      this.waiters.add(waiter)
      return Effect.sync(() => {
        this.waiters.delete(waiter)
      })
    })

  // --- sizes ---

  private currentSize(): Api.Size {
    return { cols: this.term.cols, rows: this.term.rows }
  }

  /** The size for the bytes from `offset` on: the last change at or before it. */
  private sizeAt(offset: number): Api.Size {
    let size = this.initialSize
    for (const change of this.sizes) {
      if (change.offset > offset) break
      size = { cols: change.cols, rows: change.rows }
    }
    return size
  }

  private sizesAfter(offset: number): ReadonlyArray<Api.SizeChange> {
    return this.sizes.filter((change) => change.offset > offset).map(({ cols, offset, rows }) => ({
      offset,
      cols,
      rows
    }))
  }

  /** Applies the recorded size changes at or before `offset` that are not applied yet. Needs xterm idle. */
  private applySizes(offset: number): void {
    for (const change of this.sizes) {
      if (change.offset > offset) break
      if (!change.applied) {
        change.applied = true
        if (change.cols !== this.term.cols || change.rows !== this.term.rows) this.term.resize(change.cols, change.rows)
      }
    }
  }

  /** The offset of the first size change after `after` not applied yet. */
  private nextSizeOffset(after: number): number | undefined {
    for (const change of this.sizes) if (!change.applied && change.offset > after) return change.offset
    return undefined
  }

  /** Drops size changes no longer needed: all but the last of those before `oldest`. */
  private pruneSizes(oldest: number): void {
    let keepFrom = 0
    for (let i = 0; i < this.sizes.length; i++) {
      if (this.sizes[i].offset <= oldest && this.sizes[i].applied) keepFrom = i
      else break
    }
    if (keepFrom > 0) {
      const base = this.sizes[keepFrom - 1]
      this.initialSize = { cols: base.cols, rows: base.rows }
      this.sizes = this.sizes.slice(keepFrom)
    }
  }

  readonly resize = (cols: number, rows: number): Effect.Effect<Api.SizeChange, InvalidPtySize> =>
    Effect.flatMap(this.buffer.total, (total) =>
      Effect.suspend(() => {
        if (!isValidSize(cols, rows)) return Effect.fail(invalidSize(cols, rows))
        // `total` was read in the step before: if the engine already consumed bytes past it, the change
        // applies where the engine is (the offset recorded is the one followers use too).
        const offset = Math.max(total, this.handed + (this.carry?.length ?? 0))
        const change: SizeRecord = { offset, cols, rows, applied: false, seq: ++this.sizeSeq }
        this.sizes.push(change)
        if (this.sizes.length > this.settings.maxSizeChanges) {
          const dropped = this.sizes.shift()!
          this.initialSize = { cols: dropped.cols, rows: dropped.rows }
          // A change the terminal had not reached is lost: its screen can no longer be trusted.
          if (!dropped.applied) this.distrust()
        }
        // Idle and caught up: nothing before `total` is still to be parsed, so the change applies now.
        if (!this.busy && !this.stopped && this.parsed === this.handed && this.position >= offset) {
          this.applySizes(offset)
        }
        return Effect.succeed<Api.SizeChange>({ offset, cols, rows })
      }))

  // --- trust ---

  private distrust(): void {
    this.trusted = false
    this.keyframeList = []
    this.keyframeBytes = 0
  }

  // --- feeding xterm ---

  /**
   * Hands the bytes that end at absolute offset `end` to xterm (never more than MAX_WRITE at once);
   * `lastWrite` settles when all are parsed. Writes are pipelined: xterm parses while the engine reads on.
   */
  private write(bytes: Uint8Array, end: number): void {
    for (let i = 0; i < bytes.length; i += MAX_WRITE) {
      const stop = Math.min(i + MAX_WRITE, bytes.length)
      const piece = bytes.subarray(i, stop)
      const pieceEnd = end - bytes.length + stop
      this.lastWrite = new Promise<void>((resolve) =>
        this.term.write(piece, () => {
          this.parsed = pieceEnd
          // Everything handed is parsed and no chunk is being fed: size changes recorded meanwhile apply now.
          if (!this.busy && this.parsed === this.handed) this.applySizes(this.position)
          this.wakeAll()
          resolve()
        })
      )
    }
  }

  private readonly idle: Effect.Effect<void> = Effect.suspend(() => {
    const pending = this.lastWrite
    if (pending === undefined) return Effect.void
    this.lastWrite = undefined
    return Effect.promise(() => pending)
  })

  /**
   * Hands the scanned `bytes[from, to)` (at absolute `offset + from`) to
   * xterm after the carried bytes, keeping back a trailing incomplete UTF-8
   * sequence: xterm is never given part of a code point (its decoder drops
   * some characters split that way, e.g. "—" split after its second byte).
   */
  private hand(bytes: Uint8Array, offset: number, from: number, to: number): void {
    let end = to
    if (!this.scanner.codepointBoundary) end = this.scanner.leadIndex >= from ? this.scanner.leadIndex : from
    if (end > from) {
      let piece = bytes.subarray(from, end)
      if (this.carry !== undefined) {
        piece = concat(this.carry, piece)
        this.carry = undefined
      }
      this.handed = offset + end
      this.write(piece, this.handed)
    }
    if (end < to) {
      const tail = bytes.slice(end, to)
      this.carry = this.carry === undefined ? tail : concat(this.carry, tail)
    }
  }

  /** Feeds one contiguous run of bytes at `offset`: splits at size changes and at due keyframes. */
  private feed(bytes: Uint8Array, offset: number): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      let i = 0
      while (i < bytes.length) {
        const at = offset + i
        if (this.hasSizeChangeAtOrBefore(at)) {
          yield* this.idle
          this.applySizes(at)
        }
        if (this.trusted && at >= this.nextDue && this.scanner.atRest && at !== this.lastAttempt) {
          yield* this.idle
          yield* this.tryKeyframe(at)
        }
        const nextSize = this.nextSizeOffset(at)
        const limit = nextSize !== undefined && nextSize - offset < bytes.length ? nextSize - offset : bytes.length
        let stop = limit
        if (this.trusted && offset + limit > this.nextDue) {
          // A keyframe is due in this range: stop at the first position at or after the due
          // offset where the terminal is at rest.
          const due = Math.min(limit, Math.max(i, this.nextDue - offset))
          this.scanner.scan(bytes, i, due, false)
          stop = this.scanner.atRest && due > i ? due : this.scanner.scan(bytes, due, limit, true)
        } else {
          this.scanner.sawReset = false
          this.scanner.scan(bytes, i, limit, false)
          if (!this.trusted && this.scanner.sawReset) {
            // A full reset (ESC c): from here on the terminal is what any terminal fed these bytes shows.
            this.trusted = true
            this.counters.resets++
            this.nextDue = offset + limit
          }
        }
        this.hand(bytes, offset, i, stop)
        i = stop
      }
      const end = offset + bytes.length
      if (this.trusted && end >= this.nextDue && this.scanner.atRest && end !== this.lastAttempt) {
        yield* this.idle
        this.applySizes(end)
        yield* this.tryKeyframe(end)
      }
    })
  }

  private hasSizeChangeAtOrBefore(offset: number): boolean {
    for (const change of this.sizes) {
      if (change.offset > offset) return false
      if (!change.applied) return true
    }
    return false
  }

  private tryKeyframe(offset: number): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      this.lastAttempt = offset
      if (!this.trusted || offset < this.nextDue) return
      const serialized = Snapshot.serialize(Terminal, this.term, this.settings.scrollback)
      if (serialized === undefined) {
        // A state a snapshot cannot carry (e.g. the cursor waits to wrap): try at the next rest.
        this.counters.rejected++
        return
      }
      if (this.settings.verify) {
        const replica = newTerminal(
          this.term.cols,
          this.term.rows,
          this.settings.scrollback,
          this.settings.unicodeVersion
        )
        writeNow(replica, serialized.snapshot)
        const difference = Snapshot.diff(this.term, replica)
        replica.dispose()
        if (difference !== undefined) {
          this.counters.rejected++
          // Expensive to retry at every rest: wait a little before the next attempt.
          this.nextDue = offset + Math.max(1024, Math.floor(this.settings.interval / 8))
          return
        }
      }
      const keyframe: Api.Keyframe = {
        offset,
        cols: this.term.cols,
        rows: this.term.rows,
        snapshot: serialized.snapshot,
        scrollbackLines: serialized.scrollbackLines
      }
      this.counters.taken++
      this.nextDue = offset + this.settings.interval
      yield* this.store(keyframe)
    })
  }

  private store(keyframe: Api.Keyframe): Effect.Effect<void> {
    return Effect.map(this.buffer.oldest, (oldest) => {
      const bytes = keyframe.snapshot.length * 2
      if (bytes > this.settings.maxKeyframeBytes) {
        this.counters.rejected++
        return
      }
      this.keyframeList.push(keyframe)
      this.keyframeBytes += bytes
      while (
        this.keyframeList.length > 1 &&
        (this.keyframeList[0].offset < oldest || this.keyframeList.length > this.settings.maxKeyframes ||
          this.keyframeBytes > this.settings.maxKeyframeBytes)
      ) {
        const dropped = this.keyframeList.shift()!
        this.keyframeBytes -= dropped.snapshot.length * 2
        this.counters.dropped++
      }
      this.pruneSizes(oldest)
    })
  }

  /** The engine fell behind eviction: start over at `oldest` with a reset terminal, untrusted. */
  private gap(oldest: number): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      yield* this.idle
      this.counters.gaps++
      this.distrust()
      this.scanner.reset()
      this.carry = undefined
      this.handed = oldest
      this.parsed = oldest
      this.term.reset()
      this.applySizes(oldest)
      const size = this.sizeAt(oldest)
      if (size.cols !== this.term.cols || size.rows !== this.term.rows) this.term.resize(size.cols, size.rows)
      this.wakeAll()
    })
  }

  readonly run: Effect.Effect<void> = Effect.suspend(() =>
    ReplayStream.frames(this.buffer, { from: 0, onEvicted: "clamp", maxChunkBytes: this.settings.maxChunkBytes }).pipe(
      Stream.runForEachChunk((frames) =>
        Effect.gen(this, function*() {
          this.busy = true
          for (const frame of Chunk.toReadonlyArray(frames)) {
            if (frame._tag === "Gap") {
              yield* this.gap(frame.oldest)
            } else {
              // Frames are contiguous: the next starts where the bytes handed (and held back) end.
              const expected = this.handed + (this.carry?.length ?? 0)
              if (frame.offset !== expected) yield* this.gap(frame.offset)
              yield* this.feed(frame.bytes, frame.offset)
            }
          }
          // Bound what xterm has not parsed yet to one chunk more than this one, without letting it run dry.
          const limit = this.handed - this.settings.maxChunkBytes
          if (this.parsed < limit) yield* this.awaitParsed(limit)
          this.busy = false
          if (this.parsed === this.handed) this.applySizes(this.position)
          this.wakeAll()
        })
      ),
      Effect.catchAll(() => Effect.void),
      // The buffer ended: let xterm finish what it was handed.
      Effect.zipRight(Effect.suspend(() => this.idle)),
      Effect.ensuring(Effect.sync(() => {
        this.stopped = true
        this.wakeAll()
      }))
    )
  )

  // --- consumers ---

  /** Drops the keyframes whose offset was evicted. */
  private prune(oldest: number): void {
    while (this.keyframeList.length > 0 && this.keyframeList[0].offset < oldest) {
      const dropped = this.keyframeList.shift()!
      this.keyframeBytes -= dropped.snapshot.length * 2
      this.counters.dropped++
    }
  }

  get keyframes(): Effect.Effect<ReadonlyArray<Api.Keyframe>> {
    return Effect.map(this.buffer.oldest, (oldest) => {
      this.prune(oldest)
      return [...this.keyframeList]
    })
  }

  readonly stats: Effect.Effect<Api.Stats> = Effect.sync(() => ({
    position: this.position,
    trusted: this.trusted,
    stopped: this.stopped,
    size: this.currentSize(),
    keyframes: this.keyframeList.length,
    keyframeBytes: this.keyframeBytes,
    taken: this.counters.taken,
    rejected: this.counters.rejected,
    dropped: this.counters.dropped,
    gaps: this.counters.gaps,
    resets: this.counters.resets
  }))

  readonly keyframeFor = (requested: number): Effect.Effect<Api.Resume, InvalidOffset> =>
    Effect.suspend(() => {
      if (!Number.isSafeInteger(requested)) return Effect.fail(new InvalidOffset({ offset: requested }))
      return Effect.zipWith(this.buffer.total, this.buffer.oldest, (total, oldest): Api.Resume => {
        const offset = Math.min(Math.max(requested, 0), total)
        if (offset >= oldest) {
          return { _tag: "Replay", offset, size: this.sizeAt(offset), resizes: this.sizesAfter(offset) }
        }
        for (let i = this.keyframeList.length - 1; i >= 0; i--) {
          const keyframe = this.keyframeList[i]
          if (keyframe.offset >= oldest && keyframe.offset <= total) {
            return { _tag: "Keyframe", keyframe, resizes: this.sizesAfter(keyframe.offset) }
          }
        }
        return { _tag: "Gap", requested: offset, oldest, size: this.sizeAt(oldest), resizes: this.sizesAfter(oldest) }
      })
    })

  /** Size changes after `seq` with an offset at or before `offset`, in order. */
  sizeChangesUpTo(afterSeq: number, offset: number): ReadonlyArray<SizeRecord> {
    return this.sizes.filter((change) => change.seq > afterSeq && change.offset <= offset)
  }

  /** The sequence number of the last change at or before `offset`. */
  seqAt(offset: number): number {
    let seq = 0
    for (const change of this.sizes) {
      if (change.offset > offset) break
      seq = change.seq
    }
    return seq
  }
}

/** @internal */
export const make = (
  buffer: ReplayBuffer.ReplayBuffer,
  options?: Api.Options
): Effect.Effect<Api.TerminalKeyframes, InvalidKeyframesOptions | InvalidPtySize, Scope.Scope> =>
  Effect.gen(function*() {
    const valid = settings(buffer, options)
    if (valid instanceof InvalidKeyframesOptions || valid instanceof InvalidPtySize) return yield* Effect.fail(valid)
    const engine = yield* Effect.acquireRelease(
      Effect.sync(() => new KeyframesImpl(buffer, valid)),
      (engine) => Effect.sync(() => engine.dispose())
    )
    if (!engine.supported()) {
      return yield* Effect.fail(
        invalid("xterm", "@xterm/headless 6.0.0 is required (its internals are read)")
      )
    }
    yield* Effect.forkScoped(engine.run)
    return engine
  })

// ---------------------------------------------------------------------------
// The terminal-aware follower
// ---------------------------------------------------------------------------

const impl = (keyframes: Api.TerminalKeyframes): KeyframesImpl => keyframes as KeyframesImpl

/** @internal */
export const follow = (
  keyframes: Api.TerminalKeyframes,
  options?: Api.FollowOptions
): Stream.Stream<Api.TerminalFrame, InvalidOffset | ProducerFailed> =>
  Stream.suspend(() => {
    const engine = impl(keyframes)
    const buffer = keyframes.buffer
    const maxBytes = options?.maxChunkBytes ?? ReplayStream.DEFAULT_MAX_CHUNK_BYTES
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      return Stream.die(new RangeError(`maxChunkBytes must be a positive safe integer, got ${maxBytes}`))
    }
    let cursor = 0
    let seq = 0
    let pending: Array<Api.TerminalFrame> = []

    /** Where to (re)start when the bytes at `requested` are not retained (or at the start). */
    const start = (requested: number) =>
      Effect.map(keyframes.keyframeFor(requested), (resume) => {
        switch (resume._tag) {
          case "Keyframe": {
            const k = resume.keyframe
            cursor = k.offset
            seq = engine.seqAt(k.offset)
            pending.push({ _tag: "Snapshot", offset: k.offset, cols: k.cols, rows: k.rows, snapshot: k.snapshot })
            break
          }
          case "Replay":
            cursor = resume.offset
            seq = engine.seqAt(resume.offset)
            pending.push({ _tag: "Resize", offset: resume.offset, ...resume.size })
            break
          case "Gap":
            cursor = resume.oldest
            seq = engine.seqAt(resume.oldest)
            pending.push({ _tag: "Gap", requested: resume.requested, oldest: resume.oldest })
            pending.push({ _tag: "Resize", offset: resume.oldest, ...resume.size })
            break
        }
      })

    const resizesUpTo = (offset: number) => {
      for (const change of engine.sizeChangesUpTo(seq, offset)) {
        pending.push({ _tag: "Resize", offset: Math.max(change.offset, cursor), cols: change.cols, rows: change.rows })
        seq = change.seq
      }
    }

    const emit = (): Effect.Effect<Chunk.Chunk<Api.TerminalFrame>> => {
      const out = Chunk.unsafeFromArray(pending)
      pending = []
      return Effect.succeed(out)
    }

    type PullError = Option.Option<InvalidOffset | ProducerFailed>

    const onRead = (read: ReplayBuffer.ReadChunks): Effect.Effect<Chunk.Chunk<Api.TerminalFrame>, PullError> => {
      if (read.offset > cursor) {
        // This follower fell behind eviction: a keyframe if there is one, else today's gap.
        return Effect.zipRight(Effect.mapError(start(cursor), Option.some), emit())
      }
      if (read.chunks.length > 0) {
        let offset = read.offset
        for (const bytes of read.chunks) {
          let from = 0
          // Size changes inside this chunk split it: each applies before the byte at its offset.
          for (const change of engine.sizeChangesUpTo(seq, offset + bytes.length - 1)) {
            const at = Math.max(change.offset, offset + from)
            if (at > offset + from) {
              pending.push({ _tag: "Data", offset: offset + from, bytes: bytes.subarray(from, at - offset) })
              from = at - offset
            }
            pending.push({ _tag: "Resize", offset: at, cols: change.cols, rows: change.rows })
            seq = change.seq
          }
          pending.push({ _tag: "Data", offset: offset + from, bytes: bytes.subarray(from) })
          offset += bytes.length
        }
        cursor = read.next
        return emit()
      }
      resizesUpTo(cursor)
      if (pending.length > 0) return emit()
      if (Option.isSome(read.ended)) {
        const exit = read.ended.value
        return Exit.isSuccess(exit) ? Effect.fail(Option.none()) : Effect.failCause(Cause.map(exit.cause, Option.some))
      }
      return Effect.zipRight(buffer.awaitData(cursor), pull)
    }

    const pull: Effect.Effect<Chunk.Chunk<Api.TerminalFrame>, PullError> = Effect.suspend(() =>
      pending.length > 0
        ? emit()
        : Effect.flatMap(Effect.mapError(buffer.readChunks(cursor, { maxBytes }), Option.some), onRead)
    )

    const from = options?.from ?? 0
    return Stream.fromEffect(
      Effect.gen(function*() {
        if (from === "live") {
          yield* start(yield* buffer.total)
        } else if (from === "oldest") {
          yield* start(yield* buffer.oldest)
        } else {
          if (!Number.isSafeInteger(from)) return yield* Effect.fail(new InvalidOffset({ offset: from }))
          yield* start(from)
        }
      })
    ).pipe(Stream.drain, Stream.concat(Stream.repeatEffectChunkOption(pull)))
  })
