/**
 * The exactness property of `@scrollback/http-test-kit` against the portable
 * path (a Stream per connection), the same property NodeReplayHttp's fan-out
 * passes (fewer runs: each connection costs a fiber and a Stream here).
 */
import { Exactness } from "@scrollback/http-test-kit"
import { serve } from "./util/serve.js"

Exactness.exactnessSuite(serve, {
  numRuns: 100,
  covers: ["refused", "no content", "ended", "failed", "gap", "resumed"]
})
