/**
 * Effect `Metric`s for replay buffers and their followers. They are updated
 * by the registry (`ReplayRegistry`), the followers (`ReplayStream`, the HTTP
 * transports) and the writers (`ReplaySink`, `ReplayProcess`); read them
 * with `Metric.value` or export them with any Effect metrics exporter.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricState from "effect/MetricState"

/**
 * Bytes written into buffers through this package (`ReplaySink`,
 * `ReplayProcess`); direct `ReplayBuffer.write` calls are not counted.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bytesWritten: Metric.Metric.Counter<number> = Metric.counter("scrollback_bytes_written_total", {
  description: "Bytes written into replay buffers",
  incremental: true
})

/**
 * Bytes evicted (dropped from the retained window) by those writes.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bytesEvicted: Metric.Metric.Counter<number> = Metric.counter("scrollback_bytes_evicted_total", {
  description: "Bytes evicted from replay buffers to make room",
  incremental: true
})

/**
 * Followers currently running.
 *
 * @since 0.1.0
 * @category metrics
 */
export const activeFollowers: Metric.Metric.Gauge<number> = Metric.gauge("scrollback_followers_active", {
  description: "Replay-then-follow streams currently running"
})

/**
 * How far behind the buffer's `total` a follower was each time it read, in bytes.
 *
 * @since 0.1.0
 * @category metrics
 */
export const followerLag: Metric.Metric<
  MetricKeyType.MetricKeyType.Histogram,
  number,
  MetricState.MetricState.Histogram
> = Metric.histogram(
  "scrollback_follower_lag_bytes",
  MetricBoundaries.exponential({ start: 1, factor: 4, count: 14 }),
  "Bytes between a follower's position and the buffer's total when it read"
)

/**
 * Gaps signalled to followers whose eviction policy is `"clamp"`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const gaps: Metric.Metric.Counter<number> = Metric.counter("scrollback_gaps_total", {
  description: "Gaps (evicted bytes skipped by a clamping follower) signalled",
  incremental: true
})

/**
 * Buffers held by registries.
 *
 * @since 0.1.0
 * @category metrics
 */
export const registryBuffers: Metric.Metric.Gauge<number> = Metric.gauge("scrollback_registry_buffers", {
  description: "Buffers held by replay registries"
})
