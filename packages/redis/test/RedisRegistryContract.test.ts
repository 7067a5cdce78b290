import { Contract } from "@scrollback/contract-kit"
import { layerRedisEngine } from "./util/engine.js"

// The whole engine contract (buffer model, concurrency, cursor, writer lease, followers) against buffers whose
// log of record is a real redis-server, at a tenth of the in-memory engine's run counts: each step is a round
// trip to Redis.
Contract.contract("the Redis engine", layerRedisEngine(), {
  runs: Number(process.env.CONTRACT_RUNS ?? 0.25),
  live: true
})
