/**
 * The metrics, and how the plain counters of the storage reach them.
 *
 * What happens on every write (bytes written, bytes evicted) is counted by the
 * storage in plain number fields (`SegmentLog`, `storageCounters`), never with
 * an Effect metric: a `Metric.increment` per write would cost more than the
 * write. What describes a buffer now (retained bytes, followers) is read off
 * the buffer. Both reach Effect's metrics lazily, in `unsafeRefresh`: when a
 * storage metric is read (`Metric.value`), when the snapshot is taken
 * (`snapshot`, the `/metrics` endpoint), or when the application calls
 * `refresh` before its own exporter reads `Metric.snapshot`.
 *
 * Events that happen per connection or per follower (followers starting and
 * stopping, gaps, refusals, slow consumers) are rare enough to update their
 * Effect metric at once, with constant tag arrays (Effect caches a tagged
 * metric's hook by the identity of the array: one `WeakMap` lookup).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import type * as MetricPair from "effect/MetricPair"
import type * as MetricState from "effect/MetricState"
import type * as ReplayBuffer from "../ReplayBuffer.js"
import type * as Api from "../ReplayMetrics.js"
import { coreOf, type ReplayBufferImpl } from "./replayBuffer.js"
import { storage } from "./storageCounters.js"

/** @internal */
export const DEFAULT_MAX_KEY_SERIES = 100

/** @internal */
export const OTHER_KEY = "(other)"

const NO_TAGS: ReadonlyArray<MetricLabel.MetricLabel> = []

// --- the Effect metrics, as they sit in Effect's registry -------------------------------------------------------

const base = {
  bytesWritten: Metric.counter("scrollback_bytes_written_total", {
    description: "Bytes written into replay buffers (counted by the storage, replicas included)",
    incremental: true
  }),
  bytesEvicted: Metric.counter("scrollback_bytes_evicted_total", {
    description: "Bytes that left the retained window of replay buffers (counted by the storage)",
    incremental: true
  }),
  bufferBytesWritten: Metric.counter("scrollback_buffer_bytes_written_total", {
    description: "Bytes written into a registry's buffer while held under the key",
    incremental: true
  }),
  bufferBytesEvicted: Metric.counter("scrollback_buffer_bytes_evicted_total", {
    description: "Bytes evicted from a registry's buffer while held under the key",
    incremental: true
  }),
  bufferRetainedBytes: Metric.gauge("scrollback_buffer_retained_bytes", {
    description: "Bytes retained by the buffers held under the key"
  }),
  bufferFollowers: Metric.gauge("scrollback_buffer_followers", {
    description: "Followers (streams and connections) of the buffers held under the key"
  })
}

/**
 * A metric whose value is brought up to date (`unsafeRefresh`) before it is
 * read; updates go to the metric underneath as they are.
 */
const refreshed = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>): Metric.Metric<Type, In, Out> =>
  Metric.make(metric.keyType, metric.unsafeUpdate, (tags) => {
    unsafeRefresh()
    return metric.unsafeValue(tags)
  }, metric.unsafeModify)

/** @internal */
export const bytesWritten: Metric.Metric.Counter<number> = refreshed(base.bytesWritten)
/** @internal */
export const bytesEvicted: Metric.Metric.Counter<number> = refreshed(base.bytesEvicted)
/** @internal */
export const bufferBytesWritten: Metric.Metric.Counter<number> = refreshed(base.bufferBytesWritten)
/** @internal */
export const bufferBytesEvicted: Metric.Metric.Counter<number> = refreshed(base.bufferBytesEvicted)
/** @internal */
export const bufferRetainedBytes: Metric.Metric.Gauge<number> = refreshed(base.bufferRetainedBytes)
/** @internal */
export const bufferFollowers: Metric.Metric.Gauge<number> = refreshed(base.bufferFollowers)

/** @internal */
export const activeFollowers: Metric.Metric.Gauge<number> = Metric.gauge("scrollback_followers_active", {
  description: "Followers currently running, by transport (stream, sse, ws)"
})

/** @internal */
export const followerLag: Metric.Metric<
  MetricKeyType.MetricKeyType.Histogram,
  number,
  MetricState.MetricState.Histogram
> = Metric.histogram(
  "scrollback_follower_lag_bytes",
  MetricBoundaries.exponential({ start: 1, factor: 4, count: 14 }),
  "Bytes between a follower's position and the buffer's total when it read"
)

/** @internal */
export const gaps: Metric.Metric.Counter<number> = Metric.counter("scrollback_gaps_total", {
  description: "Gaps (evicted bytes skipped by a clamping follower) signalled, by transport",
  incremental: true
})

/** @internal */
export const registryBuffers: Metric.Metric.Gauge<number> = Metric.gauge("scrollback_registry_buffers", {
  description: "Buffers held by replay registries"
})

/** @internal */
export const slowConsumerDrops: Metric.Metric.Counter<number> = Metric.counter(
  "scrollback_slow_consumer_drops_total",
  {
    description: "Connections closed because their unsent bytes passed maxBacklogBytes, by transport",
    incremental: true
  }
)

/** @internal */
export const connectionsRefused: Metric.Metric.Counter<number> = Metric.counter(
  "scrollback_connections_refused_total",
  {
    description: "Streaming connections refused by a connection limit, by transport and limit (server, buffer)",
    incremental: true
  }
)

// --- per transport -------------------------------------------------------------------------------------------------

const transportLabels = (transport: string): ReadonlyArray<MetricLabel.MetricLabel> => [
  MetricLabel.make("transport", transport)
]

const FOLLOWER_LABELS: Record<Api.FollowerTransport, ReadonlyArray<MetricLabel.MetricLabel>> = {
  stream: transportLabels("stream"),
  sse: transportLabels("sse"),
  ws: transportLabels("ws")
}

const refusedLabels = (transport: string, limit: string): ReadonlyArray<MetricLabel.MetricLabel> => [
  MetricLabel.make("transport", transport),
  MetricLabel.make("limit", limit)
]

const CONNECTION_LABELS: Record<Api.ConnectionTransport, ReadonlyArray<MetricLabel.MetricLabel>> = {
  sse: transportLabels("sse"),
  ws: transportLabels("ws"),
  get: transportLabels("get")
}

const REFUSED_LABELS: Record<
  Api.ConnectionTransport,
  Record<Api.ConnectionLimit, ReadonlyArray<MetricLabel.MetricLabel>>
> = {
  sse: { server: refusedLabels("sse", "server"), buffer: refusedLabels("sse", "buffer") },
  ws: { server: refusedLabels("ws", "server"), buffer: refusedLabels("ws", "buffer") },
  get: { server: refusedLabels("get", "server"), buffer: refusedLabels("get", "buffer") }
}

/** @internal */
export const unsafeFollowerStarted = (buffer: ReplayBuffer.ReplayBuffer, transport: Api.FollowerTransport): void => {
  coreOf(buffer).followers++
  activeFollowers.unsafeModify(1, FOLLOWER_LABELS[transport])
}

/** @internal */
export const unsafeFollowerStopped = (buffer: ReplayBuffer.ReplayBuffer, transport: Api.FollowerTransport): void => {
  coreOf(buffer).followers--
  activeFollowers.unsafeModify(-1, FOLLOWER_LABELS[transport])
}

/** @internal */
export const unsafeGap = (transport: Api.FollowerTransport): void => {
  gaps.unsafeUpdate(1, FOLLOWER_LABELS[transport])
}

/** @internal */
export const unsafeLag = (lag: number): void => {
  followerLag.unsafeUpdate(lag, NO_TAGS)
}

/** @internal */
export const unsafeSlowConsumer = (transport: Api.ConnectionTransport): void => {
  slowConsumerDrops.unsafeUpdate(1, CONNECTION_LABELS[transport])
}

/** @internal */
export const unsafeConnectionRefused = (transport: Api.ConnectionTransport, limit: Api.ConnectionLimit): void => {
  connectionsRefused.unsafeUpdate(1, REFUSED_LABELS[transport][limit])
}

// --- per key -------------------------------------------------------------------------------------------------------

/**
 * A buffer held in a registry under a key, as the per-key metrics see it:
 * the series it is counted in and what of its counters was already moved
 * into them.
 *
 * @internal
 */
export class Tracked {
  written: number
  evicted: number
  constructor(readonly labels: ReadonlyArray<MetricLabel.MetricLabel>, readonly buffer: ReplayBufferImpl) {
    // Counted from the moment it is held: a buffer adopted with bytes in it, or held twice, never counts them twice.
    this.written = buffer.log.written
    this.evicted = buffer.log.evicted
  }
}

interface KeyState {
  /** Every buffer held under a key, in any registry. */
  readonly tracked: Set<Tracked>
  /** The tag arrays of the series ever used: their gauges are set (to 0 once nothing is held under them). */
  readonly series: Set<ReadonlyArray<MetricLabel.MetricLabel>>
  /** One tag array per key with a series of its own (the identity of the array is Effect's cache key). */
  readonly labels: Map<string, ReadonlyArray<MetricLabel.MetricLabel>>
  /** What of the process-wide storage counters was already moved into the metrics. */
  readonly flushed: { written: number; evicted: number }
}

const state: KeyState = globalValue(Symbol.for("@scrollback/core/internal/metrics/keys"), (): KeyState => ({
  tracked: new Set(),
  series: new Set(),
  labels: new Map(),
  flushed: { written: 0, evicted: 0 }
}))

const OTHER_LABELS: ReadonlyArray<MetricLabel.MetricLabel> = globalValue(
  Symbol.for("@scrollback/core/internal/metrics/other"),
  () => [MetricLabel.make("key", OTHER_KEY)]
)

/**
 * The series a registry counts `key` in: its own, while the registry has
 * given fewer than `max` keys one (`granted`, which never shrinks: Effect's
 * metric registry keeps a series for the life of the process, so this is what
 * bounds them), or the aggregate `key="(other)"`.
 *
 * @internal
 */
export const labelsFor = (
  granted: Set<string>,
  max: number,
  key: string
): ReadonlyArray<MetricLabel.MetricLabel> => {
  if (!granted.has(key)) {
    if (granted.size >= max) return OTHER_LABELS
    granted.add(key)
  }
  let labels = state.labels.get(key)
  if (labels === undefined) {
    labels = [MetricLabel.make("key", key)]
    state.labels.set(key, labels)
  }
  return labels
}

/** @internal */
export const track = (labels: ReadonlyArray<MetricLabel.MetricLabel>, buffer: ReplayBuffer.ReplayBuffer): Tracked => {
  const tracked = new Tracked(labels, coreOf(buffer))
  state.tracked.add(tracked)
  state.series.add(labels)
  return tracked
}

/** Moves what the buffer counted since the last time into its key's counters. */
const flush = (tracked: Tracked): void => {
  const log = tracked.buffer.log
  const written = log.written
  const evicted = log.evicted
  if (written > tracked.written) base.bufferBytesWritten.unsafeUpdate(written - tracked.written, tracked.labels)
  if (evicted > tracked.evicted) base.bufferBytesEvicted.unsafeUpdate(evicted - tracked.evicted, tracked.labels)
  tracked.written = written
  tracked.evicted = evicted
}

/** The buffer is no longer held under its key: its last counts are moved, and its gauges drop out. @internal */
export const untrack = (tracked: Tracked): void => {
  if (!state.tracked.delete(tracked)) return
  flush(tracked)
}

/** @internal */
export const unsafeRefresh = (): void => {
  const flushed = state.flushed
  const written = storage.written
  const evicted = storage.evicted
  if (written > flushed.written) base.bytesWritten.unsafeUpdate(written - flushed.written, NO_TAGS)
  if (evicted > flushed.evicted) base.bytesEvicted.unsafeUpdate(evicted - flushed.evicted, NO_TAGS)
  flushed.written = written
  flushed.evicted = evicted
  if (state.series.size === 0) return
  const retained = new Map<ReadonlyArray<MetricLabel.MetricLabel>, number>()
  const followers = new Map<ReadonlyArray<MetricLabel.MetricLabel>, number>()
  for (const tracked of state.tracked) {
    flush(tracked)
    const labels = tracked.labels
    retained.set(labels, (retained.get(labels) ?? 0) + tracked.buffer.log.retained)
    followers.set(labels, (followers.get(labels) ?? 0) + tracked.buffer.followers)
  }
  for (const labels of state.series) {
    base.bufferRetainedBytes.unsafeUpdate(retained.get(labels) ?? 0, labels)
    base.bufferFollowers.unsafeUpdate(followers.get(labels) ?? 0, labels)
  }
}

/** @internal */
export const unsafeSnapshot = (): ReadonlyArray<MetricPair.MetricPair.Untyped> => {
  unsafeRefresh()
  return Metric.unsafeSnapshot()
}

/** @internal */
export const refresh: Effect.Effect<void> = Effect.sync(unsafeRefresh)

/** @internal */
export const snapshot: Effect.Effect<ReadonlyArray<MetricPair.MetricPair.Untyped>> = Effect.sync(unsafeSnapshot)
