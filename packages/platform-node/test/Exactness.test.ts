/**
 * The exactness property of `@scrollback/http-test-kit` against
 * NodeReplayHttp's fan-out over real sockets: the replay/live boundary, the
 * hub's joins and departures, gaps, ends and departures, for SSE and
 * WebSocket followers together.
 */
import { Exactness } from "@scrollback/http-test-kit"
import { serve } from "./util/serve.js"

Exactness.exactnessSuite(serve, {
  numRuns: 300,
  covers: [
    "refused",
    "no content",
    "left",
    "ended",
    "failed",
    "lapped (closed)",
    "gap",
    "resumed",
    "offset past the total"
  ]
})
