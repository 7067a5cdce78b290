/**
 * The exactness property of `@scrollback/http-test-kit` against the portable
 * path (a Stream per connection), the same property NodeReplayHttp's fan-out
 * passes (fewer runs: each connection costs a fiber and a Stream here).
 */
import { Exactness, Portable } from "@scrollback/http-test-kit"

Exactness.exactnessSuite(Portable.serve, {
  numRuns: 100,
  covers: ["refused", "no content", "ended", "failed", "gap", "resumed"]
})
