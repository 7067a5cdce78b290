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
import type * as Effect from "effect/Effect"
import type * as Metric from "effect/Metric"
import type * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricPair from "effect/MetricPair"
import type * as MetricState from "effect/MetricState"
import * as internal from "./internal/metrics.js"
import type * as ReplayBuffer from "./ReplayBuffer.js"

/**
 * The default bound on the per-key series of one registry: 100 keys. Past
 * it, buffers are counted in the `key="(other)"` series.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_KEY_SERIES: number = internal.DEFAULT_MAX_KEY_SERIES

/**
 * The `key` tag of the aggregate series: `"(other)"`, which no registry key
 * can be (parentheses are not key characters), so it never mixes with a key
 * of its own.
 *
 * @since 0.1.0
 * @category constants
 */
export const OTHER_KEY: string = internal.OTHER_KEY

/**
 * Who follows: a `ReplayStream` (`"stream"`), or an HTTP connection (`"sse"`,
 * `"ws"`). The `transport` tag of the follower metrics.
 *
 * @since 0.1.0
 * @category models
 */
export type FollowerTransport = "stream" | "sse" | "ws"

/**
 * The streaming endpoints that take a connection slot: the `transport` tag of
 * the connection metrics (`"get"` is a waiting long-poll).
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionTransport = "sse" | "ws" | "get"

/**
 * The connection limit that refused a connection: `maxConnections`
 * (`"server"`) or `maxConnectionsPerBuffer` (`"buffer"`).
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionLimit = "server" | "buffer"

// -----------------------------------------------------------------------------
// storage (counted by the storage, read lazily)
// -----------------------------------------------------------------------------

/**
 * `scrollback_bytes_written_total`: bytes written into the buffers of this
 * process, counted by the storage (every write path, replicas included: a
 * replica counts the bytes applied to it). A write of more than the capacity
 * counts in full.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bytesWritten: Metric.Metric.Counter<number> = internal.bytesWritten

/**
 * `scrollback_bytes_evicted_total`: bytes that left the retained window of
 * the buffers of this process (evicted to make room, or dropped when a
 * replica jumped). `written − evicted` is what the buffers retain.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bytesEvicted: Metric.Metric.Counter<number> = internal.bytesEvicted

// -----------------------------------------------------------------------------
// per key (buffers held in a registry; read lazily)
// -----------------------------------------------------------------------------

/**
 * `scrollback_buffer_bytes_written_total{key}`: bytes written into the buffer
 * held under `key` while it was held (see the module's note on `(other)`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const bufferBytesWritten: Metric.Metric.Counter<number> = internal.bufferBytesWritten

/**
 * `scrollback_buffer_bytes_evicted_total{key}`: bytes evicted from the buffer
 * held under `key` while it was held.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bufferBytesEvicted: Metric.Metric.Counter<number> = internal.bufferBytesEvicted

/**
 * `scrollback_buffer_retained_bytes{key}`: bytes retained by the buffer held
 * under `key` (0 once none is).
 *
 * @since 0.1.0
 * @category metrics
 */
export const bufferRetainedBytes: Metric.Metric.Gauge<number> = internal.bufferRetainedBytes

/**
 * `scrollback_buffer_followers{key}`: followers of the buffer held under
 * `key`, of every transport.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bufferFollowers: Metric.Metric.Gauge<number> = internal.bufferFollowers

// -----------------------------------------------------------------------------
// followers and connections (updated when they happen)
// -----------------------------------------------------------------------------

/**
 * `scrollback_followers_active{transport}`: followers running now, tagged
 * `transport` = `stream`, `sse` or `ws` (every follower is in exactly one
 * series; read one with `Metric.tagged(activeFollowers, "transport", "sse")`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const activeFollowers: Metric.Metric.Gauge<number> = internal.activeFollowers

/**
 * `scrollback_follower_lag_bytes`: how far behind the buffer's `total` a
 * follower was each time it read through its own cursor, in bytes (the
 * fan-out's shared read counts once, for all the connections it serves).
 *
 * @since 0.1.0
 * @category metrics
 */
export const followerLag: Metric.Metric<
  MetricKeyType.MetricKeyType.Histogram,
  number,
  MetricState.MetricState.Histogram
> = internal.followerLag

/**
 * `scrollback_gaps_total{transport}`: gaps signalled to followers whose
 * eviction policy is `"clamp"`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const gaps: Metric.Metric.Counter<number> = internal.gaps

/**
 * `scrollback_registry_buffers`: buffers held by registries.
 *
 * @since 0.1.0
 * @category metrics
 */
export const registryBuffers: Metric.Metric.Gauge<number> = internal.registryBuffers

/**
 * `scrollback_slow_consumer_drops_total{transport}`: connections closed
 * because their unsent bytes passed `maxBacklogBytes` (where the runtime
 * exposes the backlog: `@scrollback/platform-node`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const slowConsumerDrops: Metric.Metric.Counter<number> = internal.slowConsumerDrops

/**
 * `scrollback_connections_refused_total{transport, limit}`: streaming
 * connections refused by `maxConnections` (`limit="server"`, `503`) or
 * `maxConnectionsPerBuffer` (`limit="buffer"`, `429`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionsRefused: Metric.Metric.Counter<number> = internal.connectionsRefused

// -----------------------------------------------------------------------------
// reading
// -----------------------------------------------------------------------------

/**
 * Brings the lazily read metrics up to date: moves what the storage counted
 * since the last refresh into `bytesWritten`/`bytesEvicted` and the per-key
 * counters, and sets the per-key gauges. O(buffers held in registries);
 * cheap enough to run before every scrape.
 *
 * @example
 * ```ts
 * import { Effect, Metric, Schedule } from "effect"
 * import { ReplayMetrics } from "@scrollback/core"
 *
 * // Before an exporter of your own reads Metric.snapshot, e.g. every 10 seconds:
 * const keepFresh = ReplayMetrics.refresh.pipe(Effect.repeat(Schedule.spaced("10 seconds")))
 *
 * // Or take the snapshot through ReplayMetrics, which refreshes first (Metric.snapshot alone would
 * // show the storage's counts as of the last refresh):
 * const names = ReplayMetrics.snapshot.pipe(Effect.map((pairs) => pairs.map((pair) => pair.metricKey.name)))
 *
 * // Reading one of the storage's metrics refreshes it too:
 * const written = Metric.value(ReplayMetrics.bytesWritten).pipe(Effect.map((state) => state.count))
 * ```
 *
 * @since 0.1.0
 * @category reading
 */
export const refresh: Effect.Effect<void> = internal.refresh

/**
 * {@link refresh}, then `Metric.snapshot`: every metric of Effect's registry
 * (the application's own included), up to date.
 *
 * @since 0.1.0
 * @category reading
 */
export const snapshot: Effect.Effect<ReadonlyArray<MetricPair.MetricPair.Untyped>> = internal.snapshot

/**
 * The synchronous {@link refresh}, for code outside an Effect (an exporter's
 * callback).
 *
 * @since 0.1.0
 * @category reading
 */
export const unsafeRefresh: () => void = internal.unsafeRefresh

// -----------------------------------------------------------------------------
// for followers and transports
// -----------------------------------------------------------------------------

/**
 * A follower of `buffer` started: `activeFollowers{transport}` and the
 * buffer's follower count go up by one. Call {@link unsafeFollowerStopped}
 * exactly once when it stops. For adapters that follow without
 * `ReplayStream` (which counts its own); synchronous, no allocation.
 *
 * @since 0.1.0
 * @category adapters
 */
export const unsafeFollowerStarted: (buffer: ReplayBuffer.ReplayBuffer, transport: FollowerTransport) => void =
  internal.unsafeFollowerStarted

/**
 * A follower counted by {@link unsafeFollowerStarted} stopped.
 *
 * @since 0.1.0
 * @category adapters
 */
export const unsafeFollowerStopped: (buffer: ReplayBuffer.ReplayBuffer, transport: FollowerTransport) => void =
  internal.unsafeFollowerStopped

/**
 * A gap was signalled to a follower: `gaps{transport}` + 1.
 *
 * @since 0.1.0
 * @category adapters
 */
export const unsafeGap: (transport: FollowerTransport) => void = internal.unsafeGap

/**
 * A follower read `lag` bytes behind the buffer's total: one observation of
 * `followerLag`.
 *
 * @since 0.1.0
 * @category adapters
 */
export const unsafeLag: (lag: number) => void = internal.unsafeLag

/**
 * A connection was closed for its backlog: `slowConsumerDrops{transport}` + 1.
 *
 * @since 0.1.0
 * @category adapters
 */
export const unsafeSlowConsumer: (transport: ConnectionTransport) => void = internal.unsafeSlowConsumer

/**
 * A connection was refused by a limit: `connectionsRefused{transport, limit}` + 1.
 *
 * @since 0.1.0
 * @category adapters
 */
export const unsafeConnectionRefused: (transport: ConnectionTransport, limit: ConnectionLimit) => void =
  internal.unsafeConnectionRefused
