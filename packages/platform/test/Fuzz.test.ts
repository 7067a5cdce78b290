/** Hostile requests (`@scrollback/http-test-kit`'s fuzz) against the portable path. */
import { Fuzz, Portable } from "@scrollback/http-test-kit"

Fuzz.fuzzSuite(Portable.serve, { requests: 2_000 })
