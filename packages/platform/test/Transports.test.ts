/**
 * The wire suites of `@scrollback/http-test-kit` against the portable path:
 * `ReplayHttp.toHttpApp` served by `HttpServer.serve` on `NodeHttpServer` (a
 * Stream per SSE and WebSocket connection). `@scrollback/platform-node` runs
 * the same suites against `NodeReplayHttp`.
 */
import { Portable, Suites } from "@scrollback/http-test-kit"

Suites.transports("the portable path (ReplayHttp.toHttpApp on NodeHttpServer)", Portable.serve)
