/**
 * The Redis engine for the contract kit: a real redis-server started for the
 * suite, and two registries over it (two "instances", each with its own
 * connections). Every other buffer the kit gets is the second instance's
 * replica of a log the first one created, so the kit runs against buffers
 * made both ways.
 */
import { Contract } from "@scrollback/contract-kit"
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import { RedisRegistry } from "../../src/index.js"
import * as RedisServer from "./redisServer.js"

export const layerRedisEngine = (options?: RedisRegistry.Options): Layer.Layer<Contract.BufferMaker> =>
  Layer.scoped(
    Contract.BufferMaker,
    Effect.gen(function*(): Effect.fn.Return<Contract.BufferMaker, unknown, Scope.Scope> {
      const server = yield* RedisServer.make()
      const a = yield* RedisRegistry.make({ ...options, url: server.url })
      const b = yield* RedisRegistry.make({ ...options, url: server.url })
      let n = 0
      return {
        make: ({ capacity }) =>
          Effect.gen(function*() {
            const key = `contract-${n++}`
            const made = yield* Effect.acquireRelease(
              Effect.catchTags(a.create(key, { capacity }), {
                InvalidKey: Effect.die,
                BufferExists: Effect.die,
                RegistryFull: Effect.die
              }),
              () => Effect.ignore(Effect.zipRight(Effect.ignore(a.remove(key)), b.remove(key)))
            )
            if (n % 2 === 1) return made
            return yield* Effect.catchTag(b.get(key), "BufferNotFound", Effect.die)
          })
      }
    }).pipe(Effect.orDie)
  )
