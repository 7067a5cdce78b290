/**
 * Key names. The buffer's key sits in a hash tag, so the meta hash, the
 * stream, the tail string, the dedup keys and the wake-up channel of one
 * buffer all hash to one slot: every script touches a single slot, ready for
 * Redis Cluster.
 *
 * @internal
 */

/** @internal */
export interface LogKeys {
  readonly meta: string
  readonly log: string
  readonly tail: string
  readonly channel: string
  readonly dedup: (producer: string) => string
}

/** @internal */
export const logKeys = (prefix: string, key: string): LogKeys => {
  const base = `${prefix}{${key}}`
  return {
    meta: `${base}:meta`,
    log: `${base}:log`,
    tail: `${base}:tail`,
    channel: `${base}:n`,
    dedup: (producer) => `${base}:w:${producer}`
  }
}

/**
 * The size of a closed stream entry for a buffer of `capacity` bytes: the
 * largest `2^k − 64` (k from 7 to 16) that is at most `capacity / 32`, so that
 * the bytes Redis keeps beyond the capacity (a partly evicted entry and the
 * tail) stay within a few percent, and an entry's listpack (its bytes plus
 * under 64 bytes of framing) fills a jemalloc size class exactly.
 *
 * @internal
 */
export const entryBytes = (capacity: number): number => {
  let k = 16
  while (k > 7 && 2 ** k > capacity / 32) k--
  return 2 ** k - 64
}

/** A random 16-hex-digit id (epochs, producer ids). @internal */
export const randomHex16 = (): string => {
  const bytes = new Uint8Array(8)
  globalThis.crypto.getRandomValues(bytes)
  let s = ""
  for (const b of bytes) s += b.toString(16).padStart(2, "0")
  return s
}
