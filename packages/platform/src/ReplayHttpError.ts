/**
 * The errors the HTTP transports answer with, besides the core's and the
 * registry's. Each is a `Schema.TaggedError`: the server encodes it into the
 * JSON body of a refusal (`ReplayProtocol.ErrorBody`) and the client decodes
 * it back.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A request parameter, header or path segment is malformed: `name` says
 * which (`offset`, `epoch`, `Last-Event-ID`, `key`, `sec-websocket-key`, …).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequest extends Schema.TaggedError<BadRequest>("@scrollback/platform/BadRequest")("BadRequest", {
  name: Schema.String,
  reason: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `bad ${this.name}: ${this.reason}`
  }
}

/**
 * The authorization hook refused the request: the response has this `status`
 * (an HTTP status from 400 to 599, typically `401` or `403`; anything else
 * is sent as `403`).
 *
 * @since 0.1.0
 * @category errors
 */
export class Denied extends Schema.TaggedError<Denied>("@scrollback/platform/Denied")("Denied", {
  status: Schema.Number,
  message: Schema.String
}) {}

/**
 * A browser page from this origin may not use this server (`allowedOrigins`):
 * checked on every endpoint for a request that carries an `Origin`.
 *
 * @since 0.1.0
 * @category errors
 */
export class OriginNotAllowed extends Schema.TaggedError<OriginNotAllowed>("@scrollback/platform/OriginNotAllowed")(
  "OriginNotAllowed",
  { origin: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the origin ${this.origin} is not allowed here`
  }
}

/**
 * The request's `Host` is not one this server answers to (`allowedHosts`):
 * what a DNS-rebinding page sends (a name of its own that resolves to this
 * server). Checked on every endpoint.
 *
 * @since 0.1.0
 * @category errors
 */
export class HostNotAllowed extends Schema.TaggedError<HostNotAllowed>("@scrollback/platform/HostNotAllowed")(
  "HostNotAllowed",
  { host: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `the host ${JSON.stringify(this.host)} is not allowed here (allowedHosts)`
  }
}

/**
 * No endpoint at this path.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>("@scrollback/platform/NotFound")("NotFound", {
  path: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no endpoint at ${this.path}`
  }
}

/**
 * Only `GET` is allowed.
 *
 * @since 0.1.0
 * @category errors
 */
export class MethodNotAllowed extends Schema.TaggedError<MethodNotAllowed>("@scrollback/platform/MethodNotAllowed")(
  "MethodNotAllowed",
  { method: Schema.String }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `only GET is allowed, got ${this.method}`
  }
}

/**
 * A GET asked for more than the largest `limit` the server accepts.
 *
 * @since 0.1.0
 * @category errors
 */
export class LimitTooLarge extends Schema.TaggedError<LimitTooLarge>("@scrollback/platform/LimitTooLarge")(
  "LimitTooLarge",
  { limit: Schema.Number, max: Schema.Number }
) {
  /** @since 0.1.0 */
  override get message(): string {
    return `limit ${this.limit} is above the maximum ${this.max}`
  }
}

/**
 * A connection limit is reached: the server's (`scope: "server"`, answered
 * `503`) or the buffer's (`scope: "buffer"`, answered `429`). Retry later.
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyConnections
  extends Schema.TaggedError<TooManyConnections>("@scrollback/platform/TooManyConnections")("TooManyConnections", {
    scope: Schema.Literal("server", "buffer"),
    limit: Schema.Number
  })
{
  /** @since 0.1.0 */
  override get message(): string {
    return this.scope === "server"
      ? `the server holds its limit of ${this.limit} connections`
      : `the buffer has its limit of ${this.limit} connections`
  }
}

/**
 * The server is shutting down: it takes no new streaming connection. Retry
 * (another instance, or this one once it is back).
 *
 * @since 0.1.0
 * @category errors
 */
export class ShuttingDown extends Schema.TaggedError<ShuttingDown>("@scrollback/platform/ShuttingDown")(
  "ShuttingDown",
  {}
) {
  /** @since 0.1.0 */
  override get message(): string {
    return "the server is shutting down"
  }
}

/**
 * An option given to the HTTP transports is out of range: a limit that is
 * not a positive safe integer, a duration that is not positive and finite, a
 * malformed prefix, `defaultLimit > maxLimit`, a malformed origin.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidHttpOptions extends Schema.TaggedError<InvalidHttpOptions>(
  "@scrollback/platform/InvalidHttpOptions"
)("InvalidHttpOptions", { option: Schema.String, value: Schema.Unknown, reason: Schema.String }) {
  /** @since 0.1.0 */
  override get message(): string {
    return `invalid ReplayHttp option ${this.option} = ${String(this.value)}: ${this.reason}`
  }
}
