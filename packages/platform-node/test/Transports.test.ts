/**
 * The wire suites of `@scrollback/http-test-kit` against NodeReplayHttp (the
 * fan-out server): the same suites the portable path passes, so both answer
 * alike.
 */
import { Suites } from "@scrollback/http-test-kit"
import { serve } from "./util/serve.js"

Suites.transports("NodeReplayHttp", serve)
