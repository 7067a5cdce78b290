/**
 * A buffer's log of record in Redis, and the handle one server instance uses
 * to write it, end it, hold its writer lease, read it and tail it.
 *
 * Layout (prefix `sb:` by default, the buffer's key `k` in a hash tag so that
 * everything of one buffer is on one slot):
 *
 * | key | type | holds |
 * |---|---|---|
 * | `sb:{k}:meta` | hash | `epoch`, `capacity`, `entry`, `total`, `fence`, `holder`, `expires`, and once ended `ended`, `reason`, `code` |
 * | `sb:{k}:log` | stream | closed entries of exactly `entry` bytes, id `<end offset>-0`; the end at `<total>-1` |
 * | `sb:{k}:tail` | string | the newest bytes (fewer than `entry`), starting at `total − length` |
 * | `sb:{k}:w:<producer>` | string, with a TTL | the producer's last batch, so a re-sent batch is a no-op |
 * | `sb:{k}:n` | channel | a wake-up (`SPUBLISH` of the new total) after each change |
 *
 * Retention is byte-exact as in core: a read never returns a byte below
 * `oldest = max(0, total − capacity)`. Redis drops whole entries below it and
 * keeps at most one partly evicted entry, so it holds at most
 * `capacity + 2 × entry` bytes of data per buffer.
 *
 * @since 0.1.0
 */
export * as RedisLog from "./RedisLog.js"

/**
 * The typed errors of `@scrollback/redis`.
 *
 * `StorageUnavailable`, `WriterBusy` and `LeaseLost` are core's
 * (`@scrollback/core/ReplayBufferError`), re-exported here, so a Redis
 * engine's buffers fail exactly as core's contract says.
 *
 * @since 0.1.0
 */
export * as RedisLogError from "./RedisLogError.js"

/**
 * Core's `ReplayRegistry` with Redis as the log of record: every server
 * instance serves every buffer exactly as the in-memory engine would — the
 * same epoch, the same absolute offsets, the same end — so `ReplayStream`,
 * `ReplayHttp` and `ReplayClient` work over it unchanged.
 *
 * Each key this instance holds is one local replica (`ReplayReplica`) fed by
 * one tail of its Redis log: followers and transports read local memory
 * (zero-copy), writes go to Redis first (group-committed, idempotent) and are
 * applied locally before they return, so a producer reads its own writes.
 * `get` catches up with Redis before it answers, so a resume position of
 * this epoch past the total is refused, never clamped. The registry owns one
 * `RedisStore`: two connections to Redis, whatever the number of buffers and
 * followers.
 *
 * | option | default | meaning |
 * |---|---|---|
 * | `url` | `redis://127.0.0.1:6379` | where Redis is |
 * | `keyPrefix` | `sb:` | prefix of every key and channel |
 * | `leaseMs` | 10,000 | writer lease time; a producer that stops refreshing it is ended ("producer lost") |
 * | `safetyPollMs` | 5,000 | a tail re-reads at least this often without a wake-up |
 * | `commandTimeoutMs` | 5,000 | a Redis command with no reply by then fails `StorageUnavailable` |
 * | `removeGraceMs` | 60,000 | how long a removed or expired log's keys stay so every instance reads its end |
 * | `maxBuffers` | 1,024 | the most buffers this instance holds |
 * | `maxTotalBytes` | 256 MiB | the most bytes (sum of capacities) this instance holds |
 * | `defaultCapacity` | 1 MiB | the capacity of a buffer created without one |
 * | `idleTimeout` | 5 minutes | an ended buffer is let go this long after its end (here, and in Redis) |
 *
 * @since 0.1.0
 */
export * as RedisRegistry from "./RedisRegistry.js"

/**
 * The connections to Redis one server instance shares between all its
 * buffers: one command connection (auto-pipelined) and one subscriber
 * connection (sharded pub/sub), whatever the number of buffers and followers.
 *
 * Commands fail fast while Redis is away (`StorageUnavailable`, never a hang:
 * every command is bounded by the command timeout) and everything resumes
 * when it returns: the connections reconnect by themselves, the subscriber
 * re-subscribes and every tail re-pulls.
 *
 * @since 0.1.0
 */
export * as RedisStore from "./RedisStore.js"
