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
 * `StorageUnavailable`, `WriterBusy` and `LeaseLost` carry the names and
 * fields that `@scrollback/core` is adding to `ReplayBufferError`; when core
 * ships them, these become re-exports and code that uses them only changes its
 * imports.
 *
 * @since 0.1.0
 */
export * as RedisLogError from "./RedisLogError.js"

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
