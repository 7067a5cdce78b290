/**
 * scrollback's streaming transports on Node, served at the cost of a
 * hand-written server: an `HttpServer` (as `NodeHttpServer`'s) that answers
 * `GET {prefix}/:key/sse` and `{prefix}/:key/ws` itself, with the fan-out
 * writer — per buffer, each written range is read once, encoded once per wire
 * format and written to every caught-up connection; a connection that is
 * behind reads through a cursor of its own until it catches up. No fiber and
 * no Stream per connection.
 *
 * What needs Node lives here too: flow control on the socket (a connection
 * that stops draining is written no more until it drains, and each message
 * carries at most a quarter of `maxBacklogBytes`, so Node holds less than that
 * for it; one that still holds more is closed, `4429` on WebSocket; an SSE
 * response that drains nothing for two `keepAlive` periods is dropped), the
 * WebSocket handshake on the `ws` library (a client that leaves mid-handshake
 * frees its slot at once), server pings that find dead peers, a per-time
 * budget on what a WebSocket client sends (pings answered, not punished; time
 * read from the Effect `Clock`), and a shutdown that always completes (every
 * request answered `503 ShuttingDown`, connections asked to go, then
 * destroyed after `shutdownGrace`).
 *
 * Every other endpoint (`GET {prefix}/:key`, `/info`, the list) is the app's:
 * serve `ReplayHttp.routes` on this server. The checks, limits and wire format
 * are `@scrollback/platform`'s (`ReplayHttp.prepareRead`, `ReplayProtocol`),
 * so both paths answer alike.
 *
 * @since 0.1.0
 */
export * as NodeReplayHttp from "./NodeReplayHttp.js"
