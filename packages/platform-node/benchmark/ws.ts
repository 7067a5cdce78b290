/**
 * WebSocket fan-out on loopback (see `fanout.ts` for what is measured and
 * checked): scrollback's WebSocket endpoint (`ReplayHttp`: binary messages
 * with an 8-byte offset header) against a hand-written fan-out on the `ws`
 * package with the same wire format (the baseline), each in its own child
 * process, followers as `ws` clients (no compression), at both workloads.
 *
 *   node --expose-gc --import tsx benchmark/ws.ts                        # from packages/platform
 *   BENCH_QUICK=1 node --expose-gc --import tsx benchmark/ws.ts
 *   node --expose-gc --import tsx benchmark/ws.ts --workloads 200x200 --seconds 5
 *
 * Defaults: 1,000 followers × 20 writes/s and 200 followers × 200 writes/s,
 * 1 KiB writes for 10 s each (about 1½ minutes for the two servers).
 */
import { fanOutMain, WS_SUBJECTS } from "./fanout.js"

fanOutMain("ws-fanout", WS_SUBJECTS)
