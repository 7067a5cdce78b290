/** Random writes, split at random points, delivered over SSE and WebSocket: the joined bytes equal the log. */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { splitPieces, splitWritesArb } from "../arbitraries.js"
import { concat } from "../bytes.js"
import type { Serve } from "../server.js"
import { collectSse, sse } from "../sse.js"
import { collectWs, ws } from "../ws.js"

export const propertySuite = (serve: Serve, options?: { readonly numRuns?: number | undefined }): void => {
  describe("properties", () => {
    const numRuns = options?.numRuns ?? 100
    it.live.prop(
      "random writes split at random points, delivered over SSE and joined, equal the written log",
      splitWritesArb,
      ([writes, connectAfter, splits]) =>
        Effect.gen(function*() {
          const server = yield* serve()
          const buffer = yield* server.create("p")
          const pieces = splitPieces(writes, splits)
          for (const piece of pieces.slice(0, connectAfter)) yield* buffer.write(piece)
          const conn = yield* sse(`${server.base}/scrollback/p/sse`)
          const reader = yield* Effect.fork(collectSse(conn))
          for (const piece of pieces.slice(connectAfter)) yield* buffer.write(piece)
          yield* buffer.end
          const collected = yield* Fiber.join(reader)
          assert.deepStrictEqual(collected.bytes, concat(writes))
          assert.deepStrictEqual(JSON.parse(collected.end!.data), { status: "ended" })
        }).pipe(Effect.scoped),
      { fastCheck: { numRuns } }
    )

    it.live.prop(
      "random writes split at random points, delivered over WebSocket and joined, equal the written log",
      splitWritesArb,
      ([writes, connectAfter, splits]) =>
        Effect.gen(function*() {
          const server = yield* serve()
          const buffer = yield* server.create("p")
          const pieces = splitPieces(writes, splits)
          for (const piece of pieces.slice(0, connectAfter)) yield* buffer.write(piece)
          const conn = yield* ws(server.port, "/scrollback/p/ws")
          const reader = yield* Effect.fork(collectWs(conn))
          for (const piece of pieces.slice(connectAfter)) yield* buffer.write(piece)
          yield* buffer.end
          const collected = yield* Fiber.join(reader)
          assert.deepStrictEqual(collected.bytes, concat(writes))
          assert.deepStrictEqual(collected.texts, [{ type: "end", status: "ended" }])
          assert.strictEqual(collected.close?.code, 1000)
        }).pipe(Effect.scoped),
      { fastCheck: { numRuns } }
    )
  })
}
