/**
 * Keyframe benchmarks, each against a baseline run in the same process.
 * Prints JSON lines.
 *
 *   pnpm --filter @scrollback/terminal bench              # all of them
 *   pnpm --filter @scrollback/terminal bench upkeep       # or: session, snapshot
 *
 * - upkeep: the bytes per second a keyframe engine absorbs (headless
 *   terminal + keyframes), beside the raw rate of writing the same bytes
 *   into a ReplayBuffer, with and without verification, and with no keyframe
 *   at all (the headless terminal alone).
 * - session: CPU per MiB absorbed and memory per engine (1,000 lines of
 *   scrollback, 80 x 24), beside a bare @xterm/headless terminal fed the
 *   same bytes.
 * - snapshot: the size and time of a snapshot of a terminal holding about
 *   1 MiB of scrollback (10,000 lines), beside the stock
 *   @xterm/addon-serialize on the same terminal; and the time to verify it.
 *
 * Memory is measured after full collections: run under
 * `node --expose-gc --import tsx`.
 */
import { collect, compare, report } from "@scrollback/bench-kit"
import { ReplayBuffer } from "@scrollback/core"
import { TerminalKeyframes } from "@scrollback/terminal"
import type * as XtermSerialize from "@xterm/addon-serialize"
import type * as XtermHeadless from "@xterm/headless"
import { Effect, Exit, Scope } from "effect"
import { createRequire } from "node:module"
import * as Snapshot from "../src/internal/snapshot.js"
import { makeLog } from "../test/output.js"

const require = createRequire(import.meta.url)
const { Terminal } = require("@xterm/headless") as typeof XtermHeadless
const { SerializeAddon } = require("@xterm/addon-serialize") as typeof XtermSerialize

const MiB = 1024 * 1024

/** Heap and array buffers (the buffer's bytes and xterm's cell arrays live outside the heap), after full collections. */
const memory = (): number => {
  collect()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}
const only = process.argv[2]
const run = <A>(effect: Effect.Effect<A, unknown>) => Effect.runPromise(Effect.orDie(effect))

const write = (term: XtermHeadless.Terminal, data: string | Uint8Array) =>
  new Promise<void>((resolve) => term.write(data, resolve))

/** Feeds a terminal in pieces that end between UTF-8 sequences. */
const feed = async (term: XtermHeadless.Terminal, bytes: Uint8Array) => {
  let start = 0
  while (start < bytes.length) {
    let end = Math.min(start + 65536, bytes.length)
    while (end < bytes.length && end > start && (bytes[end] & 0xc0) === 0x80) end--
    await write(term, bytes.subarray(start, end))
    start = end
  }
}

/** A session: a buffer and its engine in a scope of their own. */
const session = async (capacity: number, options: TerminalKeyframes.Options) => {
  const scope = Effect.runSync(Scope.make())
  const buffer = Effect.runSync(Effect.orDie(ReplayBuffer.make({ capacity })))
  const keyframes = await run(Scope.extend(TerminalKeyframes.make(buffer, options), scope))
  return { buffer, keyframes, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const upkeep = async () => {
  const log = makeLog(7, 4 * MiB, { cols: 80, rows: 24, fullScreen: true })
  const chunk = 64 * 1024
  const cases: Array<[string, TerminalKeyframes.Options]> = [
    ["keyframes, verified", {}],
    ["keyframes, not verified", { verify: false }],
    ["headless terminal only (no keyframe)", { interval: Number.MAX_SAFE_INTEGER }]
  ]
  for (const [name, options] of cases) {
    const { buffer, close, keyframes } = await session(MiB, { cols: 80, rows: 24, ...options })
    const raw = Effect.runSync(Effect.orDie(ReplayBuffer.make({ capacity: MiB })))
    let at = 0
    let rawAt = 0
    const next = (from: number) => from + chunk > log.length ? 0 : from
    await compare({
      bench: `keyframe upkeep: ${name} (1 MiB buffer, 80x24, 1,000 lines of scrollback)`,
      subject: {
        name: "write 64 KiB and wait until the engine absorbed it",
        run: async (n) => {
          for (let i = 0; i < n; i++) {
            at = next(at)
            await run(buffer.write(log.subarray(at, at + chunk)))
            at += chunk
            await run(Effect.flatMap(buffer.total, keyframes.awaitPosition))
          }
        }
      },
      baseline: {
        name: "write 64 KiB into a ReplayBuffer",
        run: (n) => {
          for (let i = 0; i < n; i++) {
            rawAt = next(rawAt)
            Effect.runSync(Effect.orDie(raw.write(log.subarray(rawAt, rawAt + chunk))))
            rawAt += chunk
          }
        }
      },
      bytesPerOp: chunk,
      rounds: 5,
      roundMs: 400
    })
    const stats = await run(keyframes.stats)
    report({ bench: `keyframe upkeep: ${name}: engine stats after the run`, stats })
    await close()
  }
}

const sessionCost = async () => {
  const log = makeLog(8, 2 * MiB, { cols: 80, rows: 24, fullScreen: true })
  const sessions = 8
  // CPU per MiB absorbed, by the engine and by a bare headless terminal.
  const cpu = async (absorb: () => Promise<void>) => {
    const before = process.cpuUsage()
    await absorb()
    const used = process.cpuUsage(before)
    return (used.user + used.system) / (log.length / MiB)
  }
  const bareTerminal = async () => {
    const term = new Terminal({ cols: 80, rows: 24, scrollback: 1000, allowProposedApi: true })
    await feed(term, log)
    term.dispose()
  }
  const engine = (options: TerminalKeyframes.Options) => async () => {
    const { buffer, close, keyframes } = await session(MiB, { cols: 80, rows: 24, ...options })
    for (let at = 0; at < log.length; at += 64 * 1024) {
      await run(buffer.write(log.subarray(at, at + 64 * 1024)))
      await run(Effect.flatMap(buffer.total, keyframes.awaitPosition))
    }
    await close()
  }
  // Warm both up (JIT) before measuring.
  await bareTerminal()
  await engine({})()
  const bareCpu = await cpu(bareTerminal)
  const configurations: Array<[string, TerminalKeyframes.Options]> = [
    ["keyframe engine, defaults (1,000 lines, verified)", {}],
    ["keyframe engine, not verified", { verify: false }],
    ["keyframe engine, 200 lines of scrollback, verified", { scrollback: 200 }],
    ["keyframe engine, no keyframe (headless terminal and scanner only)", { interval: Number.MAX_SAFE_INTEGER }]
  ]
  for (const [name, options] of configurations) {
    const engineCpu = await cpu(engine(options))
    report({
      bench: "CPU per MiB absorbed (2 MiB of coloured output and a full-screen program, 1 MiB buffer, 80x24)",
      subject: { name, cpuMicrosPerMiB: Math.round(engineCpu) },
      baseline: { name: "bare @xterm/headless terminal (1,000 lines)", cpuMicrosPerMiB: Math.round(bareCpu) },
      timeRatio: Math.round((engineCpu / bareCpu) * 1000) / 1000
    })
  }

  // Memory per session: engines that absorbed the log, against bare terminals fed the same bytes.
  const base = memory()
  const held: Array<{ close: () => Promise<void> }> = []
  for (let i = 0; i < sessions; i++) {
    const s = await session(MiB, { cols: 80, rows: 24 })
    for (let at = 0; at < log.length; at += 64 * 1024) {
      await run(s.buffer.write(log.subarray(at, at + 64 * 1024)))
      await run(Effect.flatMap(s.buffer.total, s.keyframes.awaitPosition))
    }
    held.push(s)
  }
  const engines = (memory() - base) / sessions
  const stats = await run((held[0] as unknown as { keyframes: TerminalKeyframes.TerminalKeyframes }).keyframes.stats)
  for (const s of held) await s.close()
  const base2 = memory()
  const terms: Array<XtermHeadless.Terminal> = []
  for (let i = 0; i < sessions; i++) {
    const term = new Terminal({ cols: 80, rows: 24, scrollback: 1000, allowProposedApi: true })
    await feed(term, log)
    terms.push(term)
  }
  const bare = (memory() - base2) / sessions
  for (const term of terms) term.dispose()
  report({
    bench: "memory per session (80x24, 1,000 lines of scrollback, after 2 MiB), heap + array buffer bytes",
    subject: {
      name: "1 MiB ReplayBuffer + keyframe engine",
      bytes: Math.round(engines),
      keyframes: stats.keyframes,
      keyframeBytes: stats.keyframeBytes
    },
    baseline: { name: "bare @xterm/headless terminal", bytes: Math.round(bare) },
    ratio: Math.round((engines / bare) * 1000) / 1000,
    note: "the engine's figure includes the buffer's own 1 MiB of retained bytes"
  })
}

const snapshot = async () => {
  // About 1 MiB of scrollback: 10,000 coloured lines of ~100 bytes.
  const cols = 120
  const rows = 40
  const lines: Array<string> = []
  for (let i = 0; i < 10_000; i++) {
    lines.push(
      `\x1b[3${i % 8}m${String(i).padStart(6)}\x1b[0m \x1b[1mbuild\x1b[0m step ${"x".repeat(i % 40)} \x1b[38;5;${
        16 + i % 200
      }m漢字 ok\x1b[0m ${"-".repeat(30)}\r\n`
    )
  }
  const bytes = new TextEncoder().encode(lines.join(""))
  const term = new Terminal({ cols, rows, scrollback: 10_000, allowProposedApi: true })
  await feed(term, bytes)
  const addon = new SerializeAddon()
  term.loadAddon(addon)
  const ours = Snapshot.serialize(Terminal, term, 10_000)!
  const stock = addon.serialize({ scrollback: 10_000 })
  await compare({
    bench: "snapshot of a terminal holding ~1 MiB of scrollback (10,000 lines, 120x40)",
    subject: {
      name: "TerminalKeyframes snapshot (adapted serializer + terminal state)",
      run: (n) => {
        for (let i = 0; i < n; i++) Snapshot.serialize(Terminal, term, 10_000)
      }
    },
    baseline: {
      name: "stock @xterm/addon-serialize serialize()",
      run: (n) => {
        for (let i = 0; i < n; i++) addon.serialize({ scrollback: 10_000 })
      }
    },
    rounds: 5,
    roundMs: 300,
    extra: {
      scrollbackBytes: bytes.length,
      snapshotBytes: new TextEncoder().encode(ours.snapshot).length,
      stockSnapshotBytes: new TextEncoder().encode(stock).length,
      snapshotToScrollback: Math.round((new TextEncoder().encode(ours.snapshot).length / bytes.length) * 1000) / 1000
    }
  })
  // Verification: rebuild the terminal from the snapshot and compare the two.
  await compare({
    bench: "verify that snapshot (parse it in a scratch terminal, compare state and cells)",
    subject: {
      name: "write the snapshot into a new terminal + compare",
      run: async (n) => {
        for (let i = 0; i < n; i++) {
          const replica = new Terminal({ cols, rows, scrollback: 10_000, allowProposedApi: true })
          await write(replica, ours.snapshot)
          if (Snapshot.diff(term, replica) !== undefined) throw new Error("the snapshot does not rebuild the terminal")
          replica.dispose()
        }
      }
    },
    baseline: {
      name: "feed the original ~1 MiB of bytes into a new terminal",
      run: async (n) => {
        for (let i = 0; i < n; i++) {
          const fresh = new Terminal({ cols, rows, scrollback: 10_000, allowProposedApi: true })
          await feed(fresh, bytes)
          fresh.dispose()
        }
      }
    },
    rounds: 5,
    roundMs: 300
  })
  term.dispose()
}

const main = async () => {
  if (only === undefined || only === "upkeep") await upkeep()
  if (only === undefined || only === "session") await sessionCost()
  if (only === undefined || only === "snapshot") await snapshot()
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
