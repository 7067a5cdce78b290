/**
 * What the SSE fan-out benchmark's two processes share: the payload format
 * (a timestamp prefix the client reads back for latency), the clock, the
 * running hash, and the IPC messages between the client process
 * (`sse.ts`) and a server child (`sseServer.ts`).
 */
import * as Zlib from "node:zlib"

/** The servers: ours (`ReplayHttp`) and the baseline (a hand-written `node:http` fan-out). */
export type ServerKind = "scrollback" | "raw"

export const SERVER_KINDS: ReadonlyArray<ServerKind> = ["scrollback", "raw"]

export const serverLabel = (kind: ServerKind): string => kind === "scrollback" ? "scrollback" : "raw node:http"

/** The buffer key (and, for the raw server, the path segment) the followers read. */
export const KEY = "bench"

/** A key whose buffer is replayed to a few throwaway clients to warm the server's code paths (JIT) before measuring. */
export const WARMUP_KEY = "warmup"

/**
 * Every write starts with this many ASCII bytes: the write time in
 * milliseconds ({@link nowMs}, 3 decimals), right-aligned in spaces, then `|`.
 */
export const PREFIX_BYTES = 24

/**
 * Milliseconds on `CLOCK_MONOTONIC` (`process.hrtime`), which is one clock for
 * every process of the machine, so a time written by the server child and
 * read by the client process needs no skew correction.
 */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6

/**
 * Write number `seq` of `size` bytes, stamped now: the timestamp prefix, then
 * bytes that cycle through all 256 values (NUL, CR, LF, invalid UTF-8, …) so
 * the base64 transport is checked byte for byte.
 */
export const makePayload = (seq: number, size: number): Uint8Array => {
  const out = new Uint8Array(size)
  const stamp = nowMs().toFixed(3).padStart(PREFIX_BYTES - 1, " ") + "|"
  for (let i = 0; i < PREFIX_BYTES; i++) out[i] = stamp.charCodeAt(i)
  for (let i = PREFIX_BYTES; i < size; i++) out[i] = (seq * 31 + i * 7) & 0xff
  return out
}

/** Reads the timestamp of a prefix (`PREFIX_BYTES` bytes from `at`), without making a string. */
export const readStamp = (bytes: Uint8Array, at: number): number => {
  let i = at
  const end = at + PREFIX_BYTES - 1
  while (i < end && bytes[i] === 32) i++
  let whole = 0
  let digits = 0
  for (; i < end && bytes[i] >= 48 && bytes[i] <= 57; i++, digits++) whole = whole * 10 + bytes[i] - 48
  let fraction = 0
  let scale = 1
  if (bytes[i] === 46) {
    for (i++; i < end && bytes[i] >= 48 && bytes[i] <= 57; i++) {
      fraction = fraction * 10 + bytes[i] - 48
      scale *= 10
    }
  }
  if (digits === 0 || i !== end || bytes[end] !== 124) {
    throw new Error(
      `malformed timestamp prefix ${JSON.stringify(Buffer.from(bytes.subarray(at, end + 1)).toString("latin1"))}`
    )
  }
  return whole + fraction / scale
}

/** The running hash of the log (CRC-32, native): `hash(a ++ b) = update(update(0, a), b)`. */
export const updateHash = (hash: number, bytes: Uint8Array): number => Zlib.crc32(bytes, hash)

export interface Memory {
  readonly rss: number
  readonly heapUsed: number
}

/** Parent → child. */
export type ToServer =
  | { readonly type: "measure" }
  | { readonly type: "produce"; readonly writes: number; readonly bytesPerWrite: number; readonly rate: number }
  | { readonly type: "stop" }
  /** Exit normally (so `--cpu-prof` writes its profile). */
  | { readonly type: "exit" }

/** Child → parent. */
export type FromServer =
  | { readonly type: "ready"; readonly port: number; readonly epoch: string }
  | { readonly type: "memory"; readonly memory: Memory }
  | {
    readonly type: "produced"
    readonly total: number
    readonly hash: number
    /** How late the producer's timer fired against the steady schedule (ms): p99 and max. */
    readonly lateMs: { readonly p99: number; readonly max: number }
  }
  | {
    readonly type: "stopped"
    /** CPU (user + system) from the start of production to `stop`. */
    readonly cpuMs: number
    readonly wallMs: number
    readonly maxRss: number
    /** The server's event-loop delay over the same window (ms). */
    readonly loopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number }
  }
  | { readonly type: "error"; readonly message: string }
