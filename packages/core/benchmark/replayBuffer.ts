/**
 * Core benchmarks: the ReplayBuffer service against a raw `Uint8Array.set`
 * ring (and `slice`) run in the same process. Prints JSON lines.
 *
 *   pnpm --filter @scrollback/core bench
 */
import { compare, RawRing } from "@scrollback/bench-kit"
import { ReplayBuffer } from "@scrollback/core"
import { Effect, Exit, Scope } from "effect"

const CAPACITY = 1 << 20

const filled = (length: number, seed: number) => new Uint8Array(length).map((_, i) => (i * 7 + seed) & 0xff)

/** Runs `n` times an effect built once per call, inside one fiber: the cost of the service, not of `runSync`. */
const loop = (n: number, body: () => Effect.Effect<unknown, unknown>) => {
  let i = 0
  Effect.runSync(Effect.whileLoop({ while: () => i++ < n, body, step: () => {} }).pipe(Effect.orDie))
}

const main = async () => {
  // Each case gets a fresh buffer and a fresh ring, so no case inherits another's heap or storage state.
  const fresh = () => [Effect.runSync(ReplayBuffer.make({ capacity: CAPACITY })), new RawRing(CAPACITY)] as const

  const [buffer, ring] = fresh()
  const chunk = filled(4096, 1)
  await compare({
    bench: "write 4 KiB chunks, one write per effect",
    subject: { name: "ReplayBuffer.write", run: (n) => loop(n, () => buffer.write(chunk)) },
    baseline: {
      name: "raw Uint8Array.set ring",
      run: (n) => {
        for (let i = 0; i < n; i++) ring.write(chunk)
      }
    },
    bytesPerOp: 4096,
    minSpeedRatio: 0.2
  })

  // The writer lease: held for a producer's life, it costs nothing per write (a field compare); a Semaphore taken
  // for every write is what the data path would pay if each write took a lock.
  {
    const [buffer] = fresh()
    const scope = Effect.runSync(Scope.make())
    const writer = await Effect.runPromise(Scope.extend(buffer.acquireWriter(), scope))
    const [plain] = fresh()
    await compare({
      bench: "write 4 KiB chunks through a writer lease held for the producer's life",
      subject: { name: "Writer.write (lease held)", run: (n) => loop(n, () => writer.write(chunk)) },
      baseline: { name: "ReplayBuffer.write (no lease)", run: (n) => loop(n, () => plain.write(chunk)) },
      bytesPerOp: 4096,
      minSpeedRatio: 0.9
    })
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
  {
    const [buffer] = fresh()
    const [plain] = fresh()
    const semaphore = Effect.runSync(Effect.makeSemaphore(1))
    await compare({
      bench: "write 4 KiB chunks, a Semaphore taken for every write (what a locked data path would cost)",
      subject: {
        name: "Semaphore.withPermits(1)(ReplayBuffer.write)",
        run: (n) => loop(n, () => semaphore.withPermits(1)(buffer.write(chunk)))
      },
      baseline: { name: "ReplayBuffer.write (lock-free)", run: (n) => loop(n, () => plain.write(chunk)) },
      bytesPerOp: 4096
    })
  }

  for (const [count, size, target] of [[64, 4096, 0.7], [1024, 64, 0.5]] as const) {
    const batch = Array.from({ length: count }, (_, i) => filled(size, i))
    const [buffer, ring] = fresh()
    await compare({
      bench: `writeAll ${count} x ${size} B`,
      subject: { name: "ReplayBuffer.writeAll", run: (n) => loop(n, () => buffer.writeAll(batch)) },
      baseline: {
        name: "raw Uint8Array.set ring, one set per chunk",
        run: (n) => {
          for (let i = 0; i < n; i++) for (let j = 0; j < batch.length; j++) ring.write(batch[j])
        }
      },
      bytesPerOp: count * size,
      minSpeedRatio: target
    })
  }

  // A full 1 MiB buffer, read from its oldest offset.
  const full = Effect.runSync(ReplayBuffer.make({ capacity: CAPACITY }))
  Effect.runSync(full.writeAll(Array.from({ length: 300 }, (_, i) => filled(4096, i))))
  const oldest = Effect.runSync(full.oldest)
  const flat = filled(CAPACITY, 3)
  let sink = 0
  await compare({
    bench: "readFrom(oldest) of a full 1 MiB buffer (a caller-owned copy)",
    subject: {
      name: "ReplayBuffer.readFrom",
      run: (n) => loop(n, () => Effect.map(full.readFrom(oldest), (r) => (sink += r.bytes.length)))
    },
    baseline: {
      name: "1 MiB Uint8Array.slice",
      run: (n) => {
        for (let i = 0; i < n; i++) sink += flat.slice().length
      }
    },
    bytesPerOp: CAPACITY
  })
  await compare({
    bench: "readChunks(oldest) of a full 1 MiB buffer (zero-copy views, what followers replay)",
    subject: {
      name: "ReplayBuffer.readChunks",
      run: (n) => loop(n, () => Effect.map(full.readChunks(oldest), (r) => (sink += r.next - r.offset)))
    },
    baseline: {
      name: "1 MiB Uint8Array.slice",
      run: (n) => {
        for (let i = 0; i < n; i++) sink += flat.slice().length
      }
    },
    bytesPerOp: CAPACITY
  })
  if (sink === 0) throw new Error("unreachable: keeps the reads alive")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
