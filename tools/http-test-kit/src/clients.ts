/**
 * The raw clients the wire tests use: they see the exact bytes on the wire.
 * HTTP (`request`, `rawRequest`), SSE (`sse`, `collectSse`), WebSocket (a
 * raw client over `net`, the stock `ws` client, `collectWs`), and helpers.
 */
export * from "./bytes.js"
export * from "./http.js"
export * from "./sse.js"
export { makeSseParser, type SseParser } from "./sseParser.js"
export * from "./ws.js"
