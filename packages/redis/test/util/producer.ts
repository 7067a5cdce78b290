/**
 * A producer "instance" in its own process, for kill -9 tests: it opens a
 * Redis registry (`SCROLLBACK_REDIS_*` from the environment), gets or creates
 * the buffer named by its argument, takes the writer lease and writes a
 * numbered line every 20 ms, printing `ready <epoch>` once its first write
 * is in Redis. It never ends the buffer: it runs until it is killed.
 */
import { Effect } from "effect"
import { RedisRegistry } from "../../src/index.js"

const key = process.argv[2]

const program = Effect.gen(function*() {
  const registry = yield* RedisRegistry.RedisRegistry
  const buffer = yield* registry.getOrCreate(key, { capacity: 1 << 20 })
  const writer = yield* buffer.acquireWriter()
  for (let i = 0;; i++) {
    yield* writer.write(new TextEncoder().encode(`line ${i}\n`))
    if (i === 0) process.stdout.write(`ready ${buffer.epoch}\n`)
    yield* Effect.sleep("20 millis")
  }
}).pipe(Effect.scoped, Effect.provide(RedisRegistry.layerConfig()))

Effect.runPromise(program).catch((error) => {
  process.stderr.write(`producer failed: ${String(error)}\n`)
  process.exit(1)
})
