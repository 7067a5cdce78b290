/**
 * NodeReplayHttp with clients that give up: 10,000 WebSocket handshakes and
 * SSE requests aborted at random points (seeded) leave every connection slot
 * free, and the server shuts down promptly (the kit's `abortedSuite`).
 */
import { Suites } from "@scrollback/http-test-kit"
import { serve } from "./util/serve.js"

Suites.abortedSuite(serve, { aborts: 10_000 })
