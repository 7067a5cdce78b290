/**
 * The portable path with clients that give up: WebSocket handshakes and SSE
 * requests aborted at random points (seeded) leave every connection slot
 * free, and the server shuts down promptly (the kit's `abortedSuite`).
 */
import { Portable, Suites } from "@scrollback/http-test-kit"

Suites.abortedSuite(Portable.serve, { aborts: 5_000 })
