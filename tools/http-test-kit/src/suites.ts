/**
 * The wire suites, each parameterised by a {@link Serve}: run them against
 * every server that claims to serve `ReplayHttp`, so all of them answer
 * alike byte for byte.
 *
 * ```ts
 * import { Suites } from "@scrollback/http-test-kit"
 * Suites.transports("the portable path", serve)
 * ```
 */
import { describe } from "@effect/vitest"
import type { Serve } from "./server.js"
import { getSuite, metadataSuite } from "./suites/get.js"
import { type AbortedOptions, abortedSuite } from "./suites/handshakes.js"
import { propertySuite } from "./suites/properties.js"
import { sseSuite } from "./suites/sse.js"
import { wsSuite } from "./suites/ws.js"

export type { Serve, ServeOptions, TestServer } from "./server.js"
export { type AbortedOptions, abortedSuite, getSuite, metadataSuite, propertySuite, sseSuite, wsSuite }

export interface TransportsOptions {
  /** Runs of each wire property. Default 100. */
  readonly propertyRuns?: number | undefined
}

/** Every wire suite (SSE, WebSocket, GET/long-poll, metadata, properties) in a `describe` named `name`. */
export const transports = (name: string, serve: Serve, options?: TransportsOptions): void => {
  describe(name, () => {
    sseSuite(serve)
    wsSuite(serve)
    getSuite(serve)
    metadataSuite(serve)
    propertySuite(serve, { numRuns: options?.propertyRuns ?? 100 })
  })
}
