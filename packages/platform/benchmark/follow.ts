/**
 * Platform benchmarks: `ReplayStream.follow` against Effect's own
 * `PubSub.unbounded({ replay })` (fan-out, memory per idle follower) and a raw
 * `Uint8Array.slice` (replay), each run in the same process. Prints JSON lines.
 *
 *   pnpm --filter @scrollback/platform bench             # all of them
 *   pnpm --filter @scrollback/platform bench fanout      # or: memory, replay
 *
 * Memory is measured after full collections, so the script runs under
 * `node --expose-gc --import tsx`. `BENCH_QUICK=1`: fewer followers and
 * rounds, to check that everything runs (the figures are then rough).
 */
import { compare, heapUsed, report } from "@scrollback/bench-kit"
import { ReplayBuffer, ReplayCursor } from "@scrollback/core"
import { ReplayStream } from "@scrollback/platform"
import { Chunk, Deferred, Effect, Exit, Fiber, FiberId, PubSub, Queue, Stream } from "effect"

const CHUNK_SIZE = 4096
const QUICK = process.env.BENCH_QUICK === "1"

const filled = (length: number, seed: number) => new Uint8Array(length).map((_, i) => (i * 7 + seed) & 0xff)

const chunkBytes = (chunk: Chunk.Chunk<Uint8Array>): number => {
  let bytes = 0
  for (const array of chunk) bytes += array.length
  return bytes
}

/** Runs `n` times an effect built once per call, inside one fiber: the cost of the subject, not of `runSync`. */
const loop = (n: number, body: () => Effect.Effect<unknown, unknown>) => {
  let i = 0
  Effect.runSync(Effect.whileLoop({ while: () => i++ < n, body, step: () => {} }).pipe(Effect.orDie))
}

type Sink = (chunk: Chunk.Chunk<Uint8Array>) => Effect.Effect<void>

/** Resolves once every fiber is parked (suspended), e.g. caught up and waiting for data; dies if one has ended. */
const allParked = (fibers: ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>): Effect.Effect<void> =>
  Effect.suspend(function check(): Effect.Effect<void> {
    let i = 0
    let running = false
    return Effect.flatMap(
      Effect.whileLoop({
        while: () => i < fibers.length && !running,
        body: () => Fiber.status(fibers[i]),
        step: (status) => {
          if (status._tag === "Done") throw new Error(`fiber ${i} ended before parking: ${fibers[i].unsafePoll()}`)
          if (status._tag === "Running") running = true
          else i++
        }
      }),
      () => running ? Effect.zipRight(Effect.yieldNow(), Effect.suspend(check)) : Effect.void
    )
  })

// ---------------------------------------------------------------------------
// 1. Fan-out: one writer, N followers that each receive every byte
// ---------------------------------------------------------------------------

/**
 * What every follower has received, shared by both sides so their consumers
 * do the very same work per chunk. A run sets a new `target` (the byte count
 * every follower must reach) and completes `done` when the last follower
 * reaches it; a follower that fails or overshoots fails `done`.
 */
class Tally {
  readonly received: Float64Array
  target = 0
  behind = 0
  done = Deferred.unsafeMake<void, unknown>(FiberId.none)

  constructor(readonly followers: number) {
    this.received = new Float64Array(followers)
  }

  arm(bytes: number): void {
    this.target += bytes
    this.behind = this.followers
    this.done = Deferred.unsafeMake<void, unknown>(FiberId.none)
  }

  /** The consumer of follower `i`: what `Stream.runForEachChunk` runs for each chunk it pulls. */
  sink(i: number): Sink {
    return (chunk) =>
      Effect.sync(() => {
        const received = (this.received[i] += chunkBytes(chunk))
        if (received === this.target) {
          if (--this.behind === 0) Deferred.unsafeDone(this.done, Exit.void)
        } else if (received > this.target) {
          Deferred.unsafeDone(this.done, Exit.die(new Error(`follower ${i} received ${received} > ${this.target}`)))
        }
      })
  }

  /** Throws unless every follower received exactly `target` bytes. */
  verify(name: string): void {
    for (let i = 0; i < this.followers; i++) {
      if (this.received[i] !== this.target) {
        throw new Error(`${name}: follower ${i} received ${this.received[i]} bytes, expected ${this.target}`)
      }
    }
  }
}

interface Fleet {
  readonly name: string
  /** Writes `n` chunks, yielding between them, and returns once every follower has received all of them. */
  readonly run: (n: number) => Promise<void>
  readonly close: () => Promise<void>
}

/** The writer, the same on both sides: `n` writes of the same 4 KiB chunk, with a `yieldNow` after each. */
const writer = <E>(n: number, write: Effect.Effect<void, E>): Effect.Effect<void, E> => {
  let i = 0
  return Effect.whileLoop({
    while: () => i++ < n,
    body: () => Effect.zipRight(write, Effect.yieldNow()),
    step: () => {}
  })
}

const fleet = async <E>(options: {
  readonly name: string
  readonly followers: number
  readonly follower: (sink: Sink) => Effect.Effect<void, unknown>
  readonly write: Effect.Effect<void, E>
  readonly close: Effect.Effect<unknown>
}): Promise<Fleet> => {
  const tally = new Tally(options.followers)
  const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
  let closing = false
  // A follower that fails (e.g. `OffsetEvicted`) or ends before `close` fails the run instead of hanging it.
  const endedEarly = Effect.suspend(() =>
    closing ? Effect.void : Deferred.die(tally.done, new Error(`${options.name}: a follower ended early`))
  )
  for (let i = 0; i < options.followers; i++) {
    const fiber = Effect.runFork(
      options.follower(tally.sink(i)).pipe(
        Effect.zipRight(endedEarly),
        Effect.catchAllCause((cause) => Effect.suspend(() => Deferred.failCause(tally.done, cause)))
      )
    )
    fibers.push(fiber)
  }
  // Every follower has started (and, for PubSub, subscribed) and waits for data before the first write.
  await Effect.runPromise(allParked(fibers))
  return {
    name: options.name,
    run: async (n) => {
      tally.arm(n * CHUNK_SIZE)
      await Effect.runPromise(Effect.zipRight(writer(n, options.write), Deferred.await(tally.done)))
      tally.verify(options.name)
    },
    close: async () => {
      closing = true
      await Effect.runPromise(options.close)
      await Effect.runPromise(Fiber.interruptAll(fibers))
    }
  }
}

/**
 * Retention on both sides: 16 MiB, i.e. 4,096 chunks of 4 KiB (our buffer's
 * `capacity`, PubSub's `replay`). Followers keep up within a few chunks, so
 * nothing they still need is ever evicted; they run with `onEvicted: "fail"`,
 * which would fail the run if it happened.
 */
const FANOUT_RETAINED = 16 * 1024 * 1024

const fanOut = async (followers: number, minSpeedRatio: number | undefined) => {
  const chunk = filled(CHUNK_SIZE, 1)
  const buffer = Effect.runSync(ReplayBuffer.make({ capacity: FANOUT_RETAINED }))
  const pubsub = Effect.runSync(PubSub.unbounded<Uint8Array>({ replay: FANOUT_RETAINED / CHUNK_SIZE }))
  const ours = await fleet({
    name: "ReplayStream.follow",
    followers,
    follower: (sink) => ReplayStream.follow(buffer, { from: 0, onEvicted: "fail" }).pipe(Stream.runForEachChunk(sink)),
    write: buffer.write(chunk),
    close: Effect.orDie(buffer.end)
  })
  const theirs = await fleet({
    name: "PubSub.unbounded({ replay }) + Stream.fromPubSub",
    followers,
    follower: (sink) => Stream.fromPubSub(pubsub).pipe(Stream.runForEachChunk(sink)),
    write: PubSub.publish(pubsub, chunk),
    close: PubSub.shutdown(pubsub)
  })
  await compare({
    bench: `fan-out: 1 writer of 4 KiB chunks, ${followers} follower(s), aggregate bytes delivered`,
    subject: ours,
    baseline: theirs,
    bytesPerOp: CHUNK_SIZE * followers,
    ...(minSpeedRatio === undefined ? {} : { minSpeedRatio }),
    roundMs: followers === 1 ? 100 : 300,
    extra: { followers, chunkBytes: CHUNK_SIZE, retainedBytes: FANOUT_RETAINED, op: "one chunk to every follower" }
  })
  await ours.close()
  await theirs.close()
}

// ---------------------------------------------------------------------------
// 2. Memory per idle follower
// ---------------------------------------------------------------------------

const IDLE_FOLLOWERS = QUICK ? 1000 : 10_000

/**
 * Starts `count` fibers, waits until each has received `expected` bytes (when
 * it has a `sink`) and is parked, and returns the heap they hold, per fiber,
 * after full collections. Everything the measurement itself needs (the fiber
 * array, the counters) is allocated before the first reading.
 */
const heapPerFiber = async (
  count: number,
  expected: number,
  start: (sink: Sink) => Effect.Effect<unknown, unknown>
): Promise<number> => {
  const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = new Array(count).fill(undefined)
  const received = new Float64Array(count)
  const sinks = Array.from(
    { length: count },
    (_, i) => (chunk: Chunk.Chunk<Uint8Array>) => Effect.sync(() => void (received[i] += chunkBytes(chunk)))
  )
  const before = heapUsed()
  for (let i = 0; i < count; i++) fibers[i] = Effect.runFork(start(sinks[i]))
  await Effect.runPromise(allParked(fibers))
  for (let i = 0; i < count; i++) {
    if (received[i] !== expected) throw new Error(`fiber ${i} received ${received[i]} bytes, expected ${expected}`)
  }
  const after = heapUsed()
  for (let i = 0; i < count; i++) {
    if (fibers[i].unsafePoll() !== null) throw new Error(`fiber ${i} ended early`)
  }
  await Effect.runPromise(Fiber.interruptAll(fibers))
  return (after - before) / count
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

/**
 * The follower's loop without a Stream (`ReplayCursor.next`, sink the views,
 * park when caught up), to show what the follower's own state costs once
 * Effect's Stream machinery is out of the way.
 */
const streamlessFollower = (buffer: ReplayBuffer.ReplayBuffer, sink: Sink): Effect.Effect<never> =>
  Effect.flatMap(
    Effect.orDie(ReplayCursor.make(buffer)),
    (cursor) =>
      Effect.forever(Effect.flatMap(ReplayCursor.next(cursor), (step) => {
        if (step._tag === "Data") return sink(Chunk.unsafeFromArray(step.chunks as Array<Uint8Array>))
        return step._tag === "Done" ? Effect.never : Effect.void
      }))
  )

const memory = async () => {
  const REPLAYED = 16 * CHUNK_SIZE
  const chunks = Array.from({ length: REPLAYED / CHUNK_SIZE }, (_, i) => filled(CHUNK_SIZE, i))
  const buffer = Effect.runSync(ReplayBuffer.make({ capacity: ReplayBuffer.DEFAULT_CAPACITY }))
  Effect.runSync(buffer.writeAll(chunks))
  const pubsub = Effect.runSync(PubSub.unbounded<Uint8Array>({ replay: chunks.length }))
  Effect.runSync(PubSub.publishAll(pubsub, chunks))

  // Every case replays the same 64 KiB (16 chunks of 4 KiB) into the same kind of sink, then parks.
  const cases = {
    ours: (sink: Sink) => ReplayStream.follow(buffer, { from: 0 }).pipe(Stream.runForEachChunk(sink)),
    pubsub: (sink: Sink) => Stream.fromPubSub(pubsub).pipe(Stream.runForEachChunk(sink)),
    // The fiber alone, parked on a bare callback. (`Effect.never` would add a timer per fiber.)
    fiber: (_: Sink) => Effect.async<void>(() => {}),
    // The cheapest parked Stream run: a stream whose only pull never completes, run by the same consumer.
    stream: (sink: Sink) => Stream.fromEffect(Effect.async<Uint8Array>(() => {})).pipe(Stream.runForEachChunk(sink)),
    streamless: (sink: Sink) => streamlessFollower(buffer, sink),
    pubsubTake: (sink: Sink) =>
      Effect.scoped(Effect.flatMap(
        PubSub.subscribe(pubsub),
        (queue) => Effect.forever(Effect.flatMap(Queue.takeBetween(queue, 1, 4096), sink))
      ))
  }
  const expected = { ours: REPLAYED, pubsub: REPLAYED, fiber: 0, stream: 0, streamless: REPLAYED, pubsubTake: REPLAYED }
  const names = Object.keys(cases) as Array<keyof typeof cases>
  const samples = Object.fromEntries(names.map((name) => [name, [] as Array<number>])) as Record<
    keyof typeof cases,
    Array<number>
  >
  // A small warm-up (JIT, lazily created runtime state), then rounds in alternating order.
  for (const name of names) await heapPerFiber(1000, expected[name], cases[name])
  const ROUNDS = QUICK ? 1 : 3
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      samples[name].push(await heapPerFiber(IDLE_FOLLOWERS, expected[name], cases[name]))
    }
  }
  const m = Object.fromEntries(names.map((name) => [name, median(samples[name])])) as Record<keyof typeof cases, number>
  const TARGET = 1024
  const line = (
    bench: string,
    subject: string,
    subjectBytes: number,
    baseline: string,
    baselineBytes: number,
    extra: object = {}
  ) =>
    report({
      bench,
      subject: { name: subject, bytesPerFollower: Math.round(subjectBytes) },
      baseline: { name: baseline, bytesPerFollower: Math.round(baselineBytes) },
      memoryRatio: Math.round(subjectBytes / baselineBytes * 1000) / 1000,
      target: `subject bytesPerFollower < ${TARGET}`,
      meetsTarget: subjectBytes < TARGET,
      followers: IDLE_FOLLOWERS,
      rounds: ROUNDS,
      ...extra
    })
  const per = (xs: ReadonlyArray<number>) => xs.map(Math.round)
  line(
    "memory per idle follower, its fiber included (caught up on 64 KiB, parked)",
    "ReplayStream.follow + Stream.runForEachChunk",
    m.ours,
    "PubSub.unbounded({ replay }) + Stream.fromPubSub + Stream.runForEachChunk",
    m.pubsub,
    { samples: { subject: per(samples.ours), baseline: per(samples.pubsub), fiber: per(samples.fiber) } }
  )
  line(
    "memory per idle follower without its fiber (minus a fiber parked on Effect.async)",
    "ReplayStream.follow + Stream.runForEachChunk, minus the fiber",
    m.ours - m.fiber,
    "PubSub.unbounded({ replay }) + Stream.fromPubSub + Stream.runForEachChunk, minus the fiber",
    m.pubsub - m.fiber,
    { fiberBytes: Math.round(m.fiber) }
  )
  line(
    "memory per idle follower without its fiber and without the cheapest parked Stream run",
    "ReplayStream.follow + Stream.runForEachChunk, minus a parked Stream.fromEffect(Effect.async) run",
    m.ours - m.stream,
    "PubSub.unbounded({ replay }) + Stream.fromPubSub + Stream.runForEachChunk, minus the same",
    m.pubsub - m.stream,
    {
      fiberBytes: Math.round(m.fiber),
      parkedStreamBytes: Math.round(m.stream - m.fiber),
      samples: { stream: per(samples.stream) }
    }
  )
  line(
    "memory per idle follower without a Stream (a loop in a fiber), minus the fiber",
    "cursor loop: ReplayCursor.next (no Stream), minus the fiber",
    m.streamless - m.fiber,
    "PubSub.subscribe + Queue.takeBetween loop, minus the fiber",
    m.pubsubTake - m.fiber,
    {
      withFiber: { subject: Math.round(m.streamless), baseline: Math.round(m.pubsubTake) },
      samples: { subject: per(samples.streamless), baseline: per(samples.pubsubTake) }
    }
  )
}

// ---------------------------------------------------------------------------
// 3. Replay of a full 1 MiB buffer to a new follower
// ---------------------------------------------------------------------------

const replay = async () => {
  const CAPACITY = 1 << 20
  const full = Effect.runSync(ReplayBuffer.make({ capacity: CAPACITY }))
  Effect.runSync(full.writeAll(Array.from({ length: 300 }, (_, i) => filled(CHUNK_SIZE, i))))
  // An ended buffer: a new follower replays what is retained and completes, so a run is "until caught up".
  Effect.runSync(full.end)
  const flat = filled(CAPACITY, 3)
  let sink = 0
  const sum = (acc: number, bytes: Uint8Array) => acc + bytes.length
  const follower = ReplayStream.follow(full, { from: "oldest" })
  const subject = {
    name: "ReplayStream.follow(from oldest) + Stream.runFold (sum of lengths)",
    run: (n: number) =>
      loop(n, () =>
        Effect.map(Stream.runFold(follower, 0, sum), (bytes) => {
          if (bytes !== CAPACITY) throw new Error(`replayed ${bytes} bytes, expected ${CAPACITY}`)
          sink += bytes
        }))
  }
  // Warm the JIT on both paths first, so the first comparison does not time tier-up.
  subject.run(500)
  for (let i = 0; i < 100; i++) sink += flat.slice().length
  await compare({
    bench: "replay a full 1 MiB buffer to a new follower",
    subject,
    baseline: {
      name: "1 MiB Uint8Array.slice",
      run: (n) => {
        for (let i = 0; i < n; i++) sink += flat.slice().length
      }
    },
    bytesPerOp: CAPACITY,
    maxTimeRatio: 0.1,
    rounds: QUICK ? 3 : 15,
    extra: { maxChunkBytes: ReplayStream.DEFAULT_MAX_CHUNK_BYTES }
  })
  // What any Stream costs to run at all, here: the floor under the figure above.
  await compare({
    bench: "replay a full 1 MiB buffer to a new follower, against running an empty Stream",
    subject,
    baseline: {
      name: "Stream.runFold(Stream.empty)",
      run: (n) => loop(n, () => Effect.map(Stream.runFold(Stream.empty, 0, sum), (bytes) => (sink += bytes + 1)))
    },
    rounds: QUICK ? 3 : 15
  })
  if (sink === 0) throw new Error("unreachable: keeps the reads alive")
}

const main = async () => {
  const only = process.argv[2]
  if (only === undefined || only === "fanout") {
    const sizes = QUICK ? [[1, undefined], [100, 1]] as const : [[1, undefined], [100, 1], [1000, 1]] as const
    for (const [followers, target] of sizes) await fanOut(followers, target)
  }
  if (only === undefined || only === "memory") await memory()
  if (only === undefined || only === "replay") await replay()
}

let finished = false
// A run that can never complete (a follower that stopped short of its target) empties the event loop: fail loudly.
process.on("beforeExit", () => {
  if (!finished) {
    console.error("benchmark stalled: a run was waiting for followers that will never catch up")
    process.exit(1)
  }
})
main().then(
  () => {
    finished = true
  },
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
