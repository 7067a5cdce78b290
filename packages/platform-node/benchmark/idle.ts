/**
 * Memory of an idle, caught-up follower's own state, its connection
 * excluded: 10,000 followers of one 64 KiB log, after full collections.
 *
 *   node --expose-gc --import tsx benchmark/idle.ts                      # from packages/platform
 *   BENCH_QUICK=1 node --expose-gc --import tsx benchmark/idle.ts        # 1,000 followers
 *   node --expose-gc --import tsx benchmark/idle.ts --followers 5000 --transports sse --servers scrollback,raw
 *
 * How the follower's state is isolated: each server runs in its own child
 * process; after a warm-up (so compiled code is not counted) the log is
 * written (64 writes of 1 KiB) and the child's heap measured after full
 * collections ("before"); then `--followers` clients connect, replay the
 * log (each one is checked: length and CRC-32) and sit caught up and idle,
 * and the heap is measured again ("connected"). (connected − before) /
 * followers is what one follower costs the server, connection included. The
 * baseline is a raw server that holds the same connections open the same
 * way (the `node:http` socket, request and response for SSE, the `ws`
 * socket for WebSocket, after sending the same hello and log) and does
 * nothing else: a `Set` entry per connection, no following machinery. The
 * difference, scrollback's per-follower heap minus the baseline's, is the
 * follower's own state: what scrollback keeps per follower beyond the
 * connection. Target: < 1 KB (1,024 B). The Durable Streams server is
 * measured the same way on SSE, as a reference.
 *
 * Settings: `--followers` (10,000; quick 1,000), `--transports` (`sse,ws`),
 * `--servers` (ids of `fanout.ts`). About 2 minutes at the defaults.
 */
import { report } from "@scrollback/bench-kit"
import { Tracker } from "./clients.js"
import type { Subject, Subjects } from "./fanout.js"
import { chosenSubjects, SSE_SUBJECTS, withSession, WS_SUBJECTS } from "./fanout.js"
import type { Memory } from "./shared.js"
import { checkFdLimit, memoryLine, round, runMain, Settings, sleep } from "./shared.js"

const settings = new Settings(process.argv.slice(2))
const followers = settings.int("followers", settings.quick ? 1000 : 10_000, 1, 20_000)
const transports = settings.list("transports", ["sse", "ws"], ["sse", "ws"])
const LOG_WRITES = 64
const LOG_BYTES_PER_WRITE = 1024
const TARGET_BYTES = 1024
const CONNECT_TIMEOUT_MS = 180_000

interface Measured {
  readonly subject: Subject
  readonly heapPerFollower: number
  readonly rssPerFollower: number
}

const measure = async (bench: string, subject: Subject): Promise<Measured> => {
  let failure: Error | undefined
  return withSession(subject, followers, undefined, async ({ child, connections, open }) => {
    const { log } = await child.ask(
      { type: "prefill", writes: LOG_WRITES, bytesPerWrite: LOG_BYTES_PER_WRITE },
      "prefilled"
    )
    const before: Memory = await child.memory()
    const connectMs = await open({
      count: followers,
      tracker: () =>
        new Tracker({
          onEnd: () => failure ??= new Error(`${subject.name}: a follower got an end: the log never ends`)
        }),
      onError: (error) => failure ??= error,
      timeoutMs: CONNECT_TIMEOUT_MS
    })
    // Every follower has replayed the whole log and is waiting for more.
    for (let i = 0; connections.some(({ tracker }) => tracker.cursor !== log.total); i++) {
      if (failure !== undefined) throw failure
      if (i === 600) throw new Error(`${subject.name}: followers still replaying after 60 s`)
      await sleep(100)
    }
    const connected = await child.memory()
    if (failure !== undefined) throw failure
    for (const { tracker } of connections) tracker.verify(log.total, log.hash, false)
    const heapPerFollower = (connected.heapUsed - before.heapUsed) / followers
    const rssPerFollower = (connected.rss - before.rss) / followers
    report({
      bench,
      server: subject.name,
      followers,
      logBytes: log.total,
      allCaughtUp: true,
      heapPerFollowerBytes: Math.round(heapPerFollower),
      rssPerFollowerBytes: Math.round(rssPerFollower),
      serverMemBytes: { before: memoryLine(before), connected: memoryLine(connected) },
      connectMs: Math.round(connectMs),
      note: "per follower = (connected − before) / followers, the child's heap after full collections"
    })
    return { subject, heapPerFollower, rssPerFollower }
  })
}

const run = async (transport: string, subjects: Subjects) => {
  const bench = `idle-follower-memory-${transport}`
  const results = new Map<Subject, Measured>()
  for (const subject of chosenSubjects(settings, subjects)) results.set(subject, await measure(bench, subject))
  const subject = results.get(subjects.subject)
  const baseline = results.get(subjects.baseline)
  if (subject === undefined || baseline === undefined) return
  const state = subject.heapPerFollower - baseline.heapPerFollower
  const reference = subjects.reference && results.get(subjects.reference)
  report({
    bench: `${bench}-compare`,
    followers,
    subject: subject.subject.name,
    baseline: `${baseline.subject.name}, holding the same connections without following`,
    heapPerFollowerBytes: {
      subject: Math.round(subject.heapPerFollower),
      baseline: Math.round(baseline.heapPerFollower),
      ...(reference === undefined ? {} : { reference: Math.round(reference.heapPerFollower) })
    },
    followerStateBytes: Math.round(state),
    ...(reference === undefined ? {} : {
      referenceFollowerStateBytes: Math.round(reference.heapPerFollower - baseline.heapPerFollower),
      reference: reference.subject.name
    }),
    heapRatio: round(subject.heapPerFollower / baseline.heapPerFollower),
    target: `followerStateBytes (subject − baseline heap per follower) < ${TARGET_BYTES}`,
    meetsTarget: state < TARGET_BYTES
  })
}

checkFdLimit(followers)
runMain("idle follower memory", transports.length * 3 * (CONNECT_TIMEOUT_MS + 120_000), async () => {
  for (const transport of transports) await run(transport, transport === "sse" ? SSE_SUBJECTS : WS_SUBJECTS)
})
