/**
 * Hostile requests (`@scrollback/http-test-kit`'s fuzz) against
 * NodeReplayHttp, and the same requests against NodeReplayHttp and the
 * portable path side by side: both must answer alike.
 */
import { Fuzz, Portable } from "@scrollback/http-test-kit"
import { serve } from "./util/serve.js"

Fuzz.fuzzSuite(serve, { requests: 2_000 })

Fuzz.differentialSuite("NodeReplayHttp and the portable path", serve, Portable.serve, { requests: 1_000 })
