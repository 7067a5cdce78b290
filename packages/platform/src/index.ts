/**
 * Effect `Metric`s for replay buffers and their followers.
 *
 * @since 0.1.0
 */
export * as ReplayMetrics from "./ReplayMetrics.js"

/**
 * Replay-then-follow Streams over a `ReplayBuffer`: everything retained from
 * an offset, then live writes, in order, with no gap and no duplicate.
 *
 * @since 0.1.0
 */
export * as ReplayStream from "./ReplayStream.js"
