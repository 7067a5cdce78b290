import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import type { ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as HttpError from "../ReplayHttpError.js"
import type * as ProtocolApi from "../ReplayProtocol.js"
import * as Protocol from "./protocol.js"

/**
 * A refusal answered before any streaming: the HTTP status of its error, with
 * the JSON body `ReplayProtocol.ErrorBody` (`{ "error": {…}, "message": … }`,
 * the error encoded with its own schema). On a WebSocket that was already
 * upgraded, it becomes the close code `4000 + status`.
 *
 * @internal
 */
export class Reject {
  constructor(
    readonly error: ProtocolApi.WireError,
    readonly headers: Readonly<Record<string, string>> = {}
  ) {}

  get status(): number {
    return Protocol.statusOf(this.error)
  }

  get closeCode(): number {
    return Protocol.closeCodeOf(this.error)
  }

  get message(): string {
    return this.error.message
  }

  toResponse(): HttpServerResponse.HttpServerResponse {
    return HttpServerResponse.unsafeJson(encodeErrorBody({ error: this.error, message: this.error.message }), {
      status: this.status,
      headers: { "cache-control": "no-store", ...this.headers }
    })
  }
}

const encodeErrorBody = Schema.encodeSync(Protocol.ErrorBody)

/** @internal */
export const badRequest = (name: string, reason: string): Reject =>
  new Reject(new HttpError.BadRequest({ name, reason }))

/**
 * How a buffer ended, as the wire shows it.
 *
 * @internal
 */
export type EndState =
  | { readonly status: "open" }
  | { readonly status: "ended" }
  | { readonly status: "failed"; readonly reason: string; readonly exitCode: number | undefined }

/** @internal */
export const endStateOf = (ended: Option.Option<Exit.Exit<void, ProducerFailed>>): EndState => {
  if (Option.isNone(ended)) return { status: "open" }
  const exit = ended.value
  if (Exit.isSuccess(exit)) return { status: "ended" }
  return failedState(exit.cause)
}

/** @internal */
export const failedState = (cause: Cause.Cause<ProducerFailed>): EndState => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    return { status: "failed", reason: failure.value.reason, exitCode: failure.value.exitCode }
  }
  return { status: "failed", reason: Cause.pretty(cause), exitCode: undefined }
}

/**
 * The JSON of an end message: `{"status":"ended"}` or
 * `{"status":"failed","reason":…,"exitCode"?:…}`.
 *
 * @internal
 */
export const endJson = (state: EndState): Record<string, unknown> => {
  if (state.status === "failed") {
    return state.exitCode === undefined
      ? { status: "failed", reason: state.reason }
      : { status: "failed", reason: state.reason, exitCode: state.exitCode }
  }
  return { status: "ended" }
}

/**
 * A buffer's state, read in one step: an empty read past the end carries a
 * consistent snapshot of `oldest`, `total` and the end.
 *
 * @internal
 */
export const stateOf = (buffer: ReplayBuffer.ReplayBuffer): Effect.Effect<ReplayBuffer.ReadChunks> =>
  Effect.orDie(buffer.readChunks(Number.MAX_SAFE_INTEGER, { maxBytes: 1 }))

/** @internal */
export const infoJson = (key: string, buffer: ReplayBuffer.ReplayBuffer): Effect.Effect<Record<string, unknown>> =>
  Effect.map(stateOf(buffer), (snapshot) => infoOf(key, buffer, snapshot))

const infoOf = (
  key: string,
  buffer: ReplayBuffer.ReplayBuffer,
  snapshot: ReplayBuffer.ReadChunks
): Record<string, unknown> => {
  const state = endStateOf(snapshot.ended)
  const base = {
    key,
    epoch: buffer.epoch,
    capacity: buffer.capacity,
    oldest: snapshot.oldest,
    total: snapshot.total
  }
  if (state.status === "open") return { ...base, ended: false }
  if (state.status === "ended") return { ...base, ended: "ended" }
  return state.exitCode === undefined
    ? { ...base, ended: "failed", reason: state.reason }
    : { ...base, ended: "failed", reason: state.reason, exitCode: state.exitCode }
}

/**
 * The hello payload shared by SSE and WebSocket.
 *
 * @internal
 */
export interface Hello {
  readonly epoch: string
  readonly offset: number
  readonly oldest: number
  readonly total: number
}

/**
 * A cursor's hello: where it starts, and the buffer's state when it was made.
 *
 * @internal
 */
export const helloOf = (cursor: ReplayCursor.ReplayCursor): Hello => ({
  epoch: cursor.buffer.epoch,
  offset: cursor.start,
  oldest: cursor.oldest,
  total: cursor.total
})
