/**
 * SSE fan-out on loopback (see `fanout.ts` for what is measured and checked):
 * scrollback (`ReplayHttp`), a hand-written `node:http` fan-out (the
 * baseline) and the Durable Streams reference server (`@durable-streams/server`,
 * the reference), each in its own child process, at both workloads.
 *
 *   node --expose-gc --import tsx benchmark/sse.ts                       # from packages/platform
 *   BENCH_QUICK=1 node --expose-gc --import tsx benchmark/sse.ts         # 100x20 and 50x200 for 2 s
 *   node --expose-gc --import tsx benchmark/sse.ts --workloads 1000x20 --seconds 5 --servers scrollback,raw
 *   node --expose-gc --import tsx benchmark/sse.ts --servers scrollback --cpu-prof /tmp/prof
 *
 * Defaults: 1,000 followers × 20 writes/s and 200 followers × 200 writes/s,
 * 1 KiB writes for 10 s each (about 2½ minutes for the three servers).
 * Durable Streams' stream is `application/octet-stream`, read with
 * `GET /streams/bench?offset=-1&live=sse`: it sends each write as one
 * `event: data` with base64 data, so its followers are checked byte for byte
 * like the others.
 */
import { fanOutMain, SSE_SUBJECTS } from "./fanout.js"

fanOutMain("sse-fanout", SSE_SUBJECTS)
