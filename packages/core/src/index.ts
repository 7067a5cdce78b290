/**
 * A byte-bounded replay buffer: a producer writes bytes, readers ask for
 * everything still retained from a byte offset, followers wait for more.
 *
 * Offsets are absolute: `total` counts every byte ever written and never goes
 * back; the buffer keeps the last `capacity` bytes, `[oldest, total)`, with
 * `oldest = max(0, total − capacity)`. `readFrom` follows the Go seed's
 * `ReadFrom` exactly:
 *
 * | call                                  | result                                        |
 * |---------------------------------------|-----------------------------------------------|
 * | `readFrom(o)`, `o >= total`           | `{ bytes: empty, offset: total }`             |
 * | `readFrom(o)`, `o < oldest` (or < 0)  | bytes `[oldest, total)`, `offset: oldest`     |
 * | `readFrom(o)` otherwise               | bytes `[o, total)`, `offset: o`               |
 * | `readFrom(NaN / 1.5 / ±Infinity)`     | fails `InvalidOffset`                         |
 *
 * @since 0.1.0
 */
export * as ReplayBuffer from "./ReplayBuffer.js"

/**
 * The typed errors of `@scrollback/core`. Each is a `Schema.TaggedError`, so
 * it can cross the wire (SSE, WebSocket, RPC) and be decoded on the other side.
 *
 * @since 0.1.0
 */
export * as ReplayBufferError from "./ReplayBufferError.js"

/**
 * The one place where a follower's rules live: a cursor resolves where a
 * reader starts (an offset, `"oldest"`, `"live"` or a resume position with
 * an epoch), clamps it, applies the eviction policy, reads the next
 * zero-copy views in one synchronous step, signals gaps and reports the end.
 * `ReplayStream.follow`, every HTTP transport and the fan-out writer are
 * built on it, so none of them re-derives a rule.
 *
 * | `from`                        | start                                    | refused with                         |
 * |-------------------------------|------------------------------------------|--------------------------------------|
 * | `"oldest"` (default)          | `oldest`                                 |                                      |
 * | `"live"`                      | `total`                                  |                                      |
 * | an integer `n`                | `n` clamped into `[0, total]` (the seed) | `InvalidOffset` for `NaN`, fractions |
 * | `{ epoch, offset }`           | `offset`                                 | `EpochMismatch` (another epoch), `OffsetAhead` (`offset > total`), `InvalidOffset` |
 *
 * With the `epoch` option, any start is refused with `EpochMismatch` when
 * the buffer is another incarnation.
 *
 * A start below `oldest` was evicted: under `onEvicted: "fail"` (the
 * default) `make` fails with `OffsetEvicted`; under `"clamp"` the first step
 * is a `Gap` and reading continues at `oldest`. The same holds whenever a
 * cursor falls behind eviction later: `"fail"` finishes it with
 * `OffsetEvicted`, `"clamp"` yields a `Gap`. Never a silent skip.
 *
 * @since 0.1.0
 */
export * as ReplayCursor from "./ReplayCursor.js"

/**
 * Effect `Metric`s for replay buffers, their followers and their connections.
 *
 * What happens on every write is counted by the storage itself, in plain
 * number fields updated in the write's synchronous step: bytes written and
 * evicted, by every buffer of the process (plain `write`/`writeAll`, writer
 * leases, sinks, replicas) and per key for the buffers of a registry. No
 * Effect runs per write. Those counts reach Effect's metrics lazily: reading
 * one of them (`Metric.value`), taking {@link snapshot} (what the `/metrics`
 * endpoint of `@scrollback/platform` does) or running {@link refresh} first
 * brings them up to date. An exporter that reads `Metric.snapshot` by itself
 * should run {@link refresh} before (for example on the same schedule).
 *
 * Followers, gaps, refused connections and slow consumers are counted when
 * they happen (once per follower or connection, never per write) by
 * `ReplayStream`, the HTTP transports of `@scrollback/platform` and the
 * fan-out server of `@scrollback/platform-node`.
 *
 * Per-key series (`key` tag) exist only for buffers held in a
 * `ReplayRegistry`, and their number is bounded: a registry gives a series
 * of its own to at most `maxKeySeries` distinct keys (default
 * {@link DEFAULT_MAX_KEY_SERIES}, a `ReplayRegistry` option); every later key
 * is counted in the aggregate series `key="(other)"` ({@link OTHER_KEY}).
 * Effect's metric registry keeps a series for the life of the process, so
 * a key keeps its series once given one (a buffer re-created under it
 * continues its counters), and the gauges of a key nothing is held under
 * read 0.
 *
 * @since 0.1.0
 */
export * as ReplayMetrics from "./ReplayMetrics.js"

/**
 * A keyed set of `ReplayBuffer`s as a service: one buffer per stream (a
 * process, a build, a chat turn), found by a key that can appear in a URL,
 * with bounds on how many buffers and how many bytes it holds, and removal of
 * ended buffers after an idle time.
 *
 * | limit            | default              | what happens when it is reached                        |
 * |------------------|----------------------|--------------------------------------------------------|
 * | `maxBuffers`     | 1,024                | `create` fails `RegistryFull { reason: "buffers" }`    |
 * | `maxTotalBytes`  | 268,435,456 (256 MiB)| `create` fails `RegistryFull { reason: "bytes" }`      |
 * | `defaultCapacity`| 1,048,576 (1 MiB)    | the capacity of a buffer created without one           |
 * | `idleTimeout`    | 5 minutes            | an ended buffer is removed this long after it ended    |
 * | `maxKeySeries`   | 100                  | later keys are counted in the metrics' `(other)` series |
 *
 * `maxTotalBytes` bounds the sum of the *capacities* of the buffers held (the
 * most memory they can ever retain), not the bytes written so far.
 *
 * @since 0.1.0
 */
export * as ReplayRegistry from "./ReplayRegistry.js"

/**
 * The typed errors of `ReplayRegistry`. Each is a `Schema.TaggedError`, so it
 * can cross the wire and be decoded on the other side.
 *
 * @since 0.1.0
 */
export * as ReplayRegistryError from "./ReplayRegistryError.js"

/**
 * Replicas: local buffers that mirror a log of record kept elsewhere, for
 * engines such as Redis. Followers and transports read a replica's local
 * memory exactly as they read an in-memory buffer (zero-copy, one
 * synchronous step); its engine applies the bytes and the end its log of
 * record accepted, and receives its writes, ends and writer leases.
 *
 * @since 0.1.0
 */
export * as ReplayReplica from "./ReplayReplica.js"
