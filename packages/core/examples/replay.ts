/**
 * Replay-then-read with the core buffer, in a few lines:
 *
 *   pnpm example
 */
import { ReplayBuffer } from "@scrollback/core"
import { Console, Effect } from "effect"

const text = (bytes: Uint8Array) => JSON.stringify(new TextDecoder().decode(bytes))

const program = Effect.gen(function*() {
  const buffer = yield* ReplayBuffer.ReplayBuffer
  const encode = (s: string) => new TextEncoder().encode(s)

  // A producer writes a progress bar with bare \r updates, then a final line.
  for (let i = 0; i <= 4; i++) yield* buffer.write(encode(`\rbuilding ${"#".repeat(i)}${" ".repeat(4 - i)} ${i * 25}%`))
  yield* buffer.write(encode("\ndone\n"))

  // A consumer that reconnects with offset 0 gets what is still retained (the buffer keeps 48 bytes).
  const replay = yield* buffer.readFrom(0)
  yield* Console.log(`total ${yield* buffer.total}, oldest ${yield* buffer.oldest}`)
  yield* Console.log(`replay from 0 -> offset ${replay.offset}: ${text(replay.bytes)}`)

  // It remembers where it stopped, and reads only what came after.
  const next = replay.offset + replay.bytes.length
  yield* buffer.write(encode("exit 0\n"))
  const rest = yield* buffer.readFrom(next)
  yield* Console.log(`read from ${next} -> ${text(rest.bytes)}`)

  // A follower parked on awaitData wakes when the producer ends the buffer.
  yield* buffer.end
  yield* buffer.awaitData(rest.offset + rest.bytes.length)
  yield* Console.log(`ended: ${(yield* buffer.ended)._tag === "Some"}`)

  // Bad input is a typed error, not a crash.
  const error = yield* Effect.flip(buffer.readFrom(1.5))
  yield* Console.log(`${error._tag}: ${error.message}`)
})

program.pipe(Effect.provide(ReplayBuffer.layer({ capacity: 48 })), Effect.runPromise)
