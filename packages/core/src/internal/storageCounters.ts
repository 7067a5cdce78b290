/**
 * The process-wide storage counters: plain numbers the storage adds to in the
 * synchronous step of each write (`SegmentLog`), so the data path pays two
 * additions and no Effect. `ReplayMetrics.refresh` moves them into Effect's
 * metrics when they are read.
 *
 * One object per process (`globalValue`), like Effect's own metric registry,
 * so two copies of this package loaded side by side still count together.
 *
 * @internal
 */
import { globalValue } from "effect/GlobalValue"

/** @internal */
export interface StorageCounters {
  /** Bytes appended to every log of the process, replicas included. */
  written: number
  /** Bytes that left the retained window of every log (evicted, or dropped by a replica's jump). */
  evicted: number
}

/** @internal */
export const storage: StorageCounters = globalValue(
  Symbol.for("@scrollback/core/internal/storageCounters"),
  (): StorageCounters => ({ written: 0, evicted: 0 })
)
