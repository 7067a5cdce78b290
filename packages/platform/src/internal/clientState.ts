/**
 * The resume logic of `ReplayClient` as a pure state machine, shared by the
 * SSE and the WebSocket transports.
 *
 * A transport turns what arrives on a connection into {@link Event}s (a
 * hello, bytes at an offset, a gap, the end, a refusal, a drop, …); the
 * driver feeds them to {@link step} one by one, emits the frame a step
 * returns, and follows its {@link Decision}: go on reading, complete, fail
 * with a typed error, or reconnect from {@link request}. Everything that
 * decides whether a byte is delivered, skipped, refused or repeated is here,
 * with no I/O, so it is property-tested on its own
 * (`test/ReplayClientState.test.ts`).
 *
 * The state survives reconnects: the epoch of the remote buffer, the cursor
 * (the offset of the next byte to deliver) and the count of consecutive
 * attempts without progress. What one connection learnt (its hello, whether
 * it moved the cursor or made progress) is reset by {@link connect}.
 *
 * @internal
 */
import { OffsetAhead, OffsetEvicted, ProducerFailed } from "@scrollback/core/ReplayBufferError"
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as ClientError from "../ReplayClientError.js"
import type * as Protocol from "../ReplayProtocol.js"
import type * as ReplayStream from "../ReplayStream.js"

/** What does not change while following. */
export interface Config {
  /** The endpoint followed (`{url}/sse`, `ws://…/ws`): errors name it. */
  readonly url: string
  readonly policy: ReplayCursor.OnEvicted
}

/** What one connection attempt learnt. */
export interface Attempt {
  /** The cursor was known when the attempt began: it resumes (else it starts). */
  readonly resumed: boolean
  /** Where this attempt's hello started, once it arrived. */
  readonly hello: number | undefined
  /** The attempt delivered bytes or a gap (so a gap can no longer just explain where the log starts). */
  readonly moved: boolean
  /** Bytes, a gap or the end arrived, or anything at all after the hello. */
  readonly progress: boolean
}

/** Where the remote log is, as far as this follower knows. */
export interface State {
  /** The remote buffer's epoch: from the options, `/info` (`"live"`) or the first hello. */
  readonly epoch: string | undefined
  /** The offset of the next byte to deliver; `undefined` until the first hello (unless `from` was a position). */
  readonly cursor: number | undefined
  /** Where the first connection starts while `cursor` is unknown; `"live"` until `/info` said where. */
  readonly start: number | "oldest" | "live"
  /** Consecutive attempts that ended without progress (the last one included). */
  readonly failures: number
  readonly attempt: Attempt
}

/** What the next connection asks for. */
export type Request =
  /** Resume at a position: `Last-Event-ID` on SSE, `?offset=&epoch=` on WebSocket. */
  | { readonly _tag: "Resume"; readonly position: ReplayCursor.Position }
  /** Start: `?offset=` when given, `?epoch=` when known. */
  | { readonly _tag: "Start"; readonly offset: number | undefined; readonly epoch: string | undefined }
  /** `from: "live"`: ask `/info` for `total` first (then feed {@link Event} `Started`). */
  | { readonly _tag: "Live" }

/** What a transport saw. */
export type Event =
  /** The first message of a connection; `id` is the SSE event id (`EPOCH:START`). */
  | { readonly _tag: "Hello"; readonly hello: Protocol.Hello; readonly id?: ReplayCursor.Position | undefined }
  /** Bytes at `offset`; `epoch` is the SSE id's (WebSocket frames carry none). */
  | {
    readonly _tag: "Data"
    readonly offset: number
    readonly bytes: Uint8Array
    readonly epoch?: string | undefined
  }
  /** A gap; `id` is the SSE event id (`EPOCH:OLDEST`). */
  | { readonly _tag: "Gap"; readonly gap: Protocol.Gap; readonly id?: ReplayCursor.Position | undefined }
  /** The end; `id` is the SSE event id (`EPOCH:TOTAL`; a WebSocket end carries none). */
  | { readonly _tag: "End"; readonly end: Protocol.End; readonly id?: ReplayCursor.Position | undefined }
  /** Bytes arrived that are no message of their own (a keep-alive comment, part of an event). */
  | { readonly _tag: "Alive" }
  /** What arrived cannot be decoded. */
  | { readonly _tag: "Malformed"; readonly reason: string }
  /** The server refused a request (`url`) with `status`; `error` is its decoded `ErrorBody` error, if any. */
  | {
    readonly _tag: "Refused"
    readonly url: string
    readonly status: number
    readonly error: Protocol.WireError | undefined
    readonly body: string
  }
  /** `/info` before a `"live"` start. */
  | { readonly _tag: "Started"; readonly info: Protocol.Info }
  /** The server says the position is at the end of an ended buffer (SSE `204`), and `/info` how it ended. */
  | { readonly _tag: "Ended"; readonly info: Protocol.Info }
  /** A WebSocket closed with `4409` or `4410` (the close says no more), and what `/info` says now. */
  | { readonly _tag: "Conflict"; readonly status: 409 | 410; readonly info: Protocol.Info }
  /** A WebSocket closed with `code` (other than `4409`/`4410`) before the end. */
  | { readonly _tag: "Closed"; readonly code: number; readonly reason: string }
  /** The connection dropped. */
  | { readonly _tag: "Disconnected"; readonly cause: ClientError.Disconnected }

/** What to do after a step. */
export type Decision =
  | { readonly _tag: "Continue" }
  | { readonly _tag: "Complete" }
  | { readonly _tag: "Fail"; readonly error: ClientError.ReplayClientError }
  /** Reconnect (per the schedule) from {@link request}; `cause` is the schedule's input. */
  | { readonly _tag: "Reconnect"; readonly cause: ClientError.Disconnected }

/** The outcome of one event: the new state, the frame to emit (if any) and the decision. */
export interface Step {
  readonly state: State
  readonly frame: ReplayStream.Frame | undefined
  readonly decision: Decision
}

const CONTINUE: Decision = { _tag: "Continue" }
const COMPLETE: Decision = { _tag: "Complete" }

const FRESH: Attempt = { resumed: false, hello: undefined, moved: false, progress: false }

/** The state before the first connection. */
export const initial = (options: {
  readonly from: ReplayCursor.From
  readonly epoch: string | undefined
}): State => {
  const from = options.from
  if (typeof from === "object") {
    return { epoch: from.epoch, cursor: from.offset, start: from.offset, failures: 0, attempt: FRESH }
  }
  return { epoch: options.epoch, cursor: undefined, start: from, failures: 0, attempt: FRESH }
}

/** A new connection attempt begins: forget what the previous one learnt. */
export const connect = (state: State): State => ({
  ...state,
  attempt: { resumed: state.cursor !== undefined, hello: undefined, moved: false, progress: false }
})

/** What the next connection asks for. */
export const request = (state: State): Request => {
  if (state.cursor !== undefined && state.epoch !== undefined) {
    return { _tag: "Resume", position: { epoch: state.epoch, offset: state.cursor } }
  }
  if (state.start === "live") return { _tag: "Live" }
  return { _tag: "Start", offset: state.start === "oldest" ? undefined : state.start, epoch: state.epoch }
}

/** The offset the last request asked for, if it asked for one. */
const requested = (state: State): number | undefined =>
  state.cursor !== undefined ? state.cursor : typeof state.start === "number" ? Math.max(0, state.start) : undefined

const continueWith = (state: State, frame?: ReplayStream.Frame): Step => ({ state, frame, decision: CONTINUE })

const fail = (state: State, error: ClientError.ReplayClientError): Step => ({
  state,
  frame: undefined,
  decision: { _tag: "Fail", error }
})

const protocol = (config: Config, state: State, reason: string): Step =>
  fail(state, new ClientError.ProtocolError({ url: config.url, reason }))

/** The attempt ends without the end: one more failure in a row, unless it made progress. */
const reconnect = (state: State, cause: ClientError.Disconnected): Step => ({
  state: { ...state, failures: state.attempt.progress ? 1 : state.failures + 1 },
  frame: undefined,
  decision: { _tag: "Reconnect", cause }
})

const progressed = (state: State, changes?: Partial<Attempt>): State => ({
  ...state,
  attempt: { ...state.attempt, ...changes, progress: true }
})

const producerFailed = (reason: string | undefined, exitCode: number | undefined): ProducerFailed =>
  new ProducerFailed({
    reason: reason ?? "the producer failed",
    ...(exitCode === undefined ? {} : { exitCode })
  })

const format = (position: ReplayCursor.Position): string => `${position.epoch}:${position.offset}`

/** The checks every message after the hello passes: it comes after the hello, in the hello's epoch. */
const afterHello = (
  config: Config,
  state: State,
  what: string,
  epoch: string | undefined
): Step | undefined => {
  if (state.attempt.hello === undefined || state.epoch === undefined || state.cursor === undefined) {
    return protocol(config, state, `a ${what} before the hello`)
  }
  if (epoch !== undefined && epoch !== state.epoch) {
    return protocol(config, state, `a ${what} of epoch ${epoch} on a connection of epoch ${state.epoch}`)
  }
  return undefined
}

/** Handles one event. */
export const step = (config: Config, state: State, event: Event): Step => {
  switch (event._tag) {
    case "Hello": {
      const { hello, id } = event
      if (id !== undefined && (id.epoch !== hello.epoch || id.offset !== hello.offset)) {
        return protocol(config, state, `the hello's id ${format(id)} does not match its data`)
      }
      if (state.epoch !== undefined && hello.epoch !== state.epoch) {
        return fail(state, new ClientError.EpochChanged({ expected: state.epoch, actual: hello.epoch }))
      }
      if (state.attempt.hello !== undefined) return protocol(config, state, "a second hello on one connection")
      const cursor = state.cursor ?? hello.offset
      // A resume starts where the last message ended, or (clamped) past an eviction that a gap then announces.
      if (hello.offset !== cursor && !(hello.offset > cursor && config.policy === "clamp")) {
        return protocol(config, state, `resumed at ${cursor}, but the hello starts at ${hello.offset}`)
      }
      return continueWith({ ...state, epoch: hello.epoch, cursor, attempt: { ...state.attempt, hello: hello.offset } })
    }
    case "Data": {
      const invalid = afterHello(config, state, "data message", event.epoch)
      if (invalid !== undefined) return invalid
      const cursor = state.cursor!
      const { bytes, offset } = event
      if (offset !== cursor) {
        return protocol(
          config,
          state,
          `bytes at ${offset}..${offset + bytes.length} do not continue the log at ${cursor}`
        )
      }
      if (cursor < state.attempt.hello!) {
        return protocol(config, state, `bytes at ${offset}, but the hello starts at ${state.attempt.hello}`)
      }
      const next = progressed(state, { moved: true })
      if (bytes.length === 0) return continueWith(next)
      return continueWith({ ...next, cursor: offset + bytes.length }, { _tag: "Data", offset, bytes })
    }
    case "Gap": {
      const { gap, id } = event
      const invalid = afterHello(config, state, "gap", id?.epoch)
      if (invalid !== undefined) return invalid
      if ((id !== undefined && id.offset !== gap.oldest) || gap.requested >= gap.oldest) {
        return protocol(
          config,
          state,
          `an inconsistent gap ${gap.requested}..${gap.oldest}${id === undefined ? "" : ` with id ${format(id)}`}`
        )
      }
      if (config.policy === "fail") {
        return fail(state, new OffsetEvicted({ requested: gap.requested, oldest: gap.oldest }))
      }
      const cursor = state.cursor!
      // Either it moves the cursor past evicted bytes, or (when a start's hello is already at `oldest`) it
      // explains why the log starts there.
      const moves = gap.requested === cursor
      const explains = !state.attempt.resumed && !state.attempt.moved && gap.oldest === cursor
      if (!moves && !explains) {
        return protocol(config, state, `a gap ${gap.requested}..${gap.oldest} at offset ${cursor}`)
      }
      return continueWith(
        { ...progressed(state, { moved: true }), cursor: gap.oldest },
        { _tag: "Gap", requested: gap.requested, oldest: gap.oldest }
      )
    }
    case "End": {
      const { end, id } = event
      const invalid = afterHello(config, state, "end message", id?.epoch)
      if (invalid !== undefined) return invalid
      const cursor = state.cursor!
      if (id !== undefined && id.offset !== cursor) {
        return protocol(config, state, `the end is at ${id.offset}, but the bytes stopped at ${cursor}`)
      }
      if (cursor < state.attempt.hello!) {
        return protocol(config, state, `the end at ${cursor}, but the hello starts at ${state.attempt.hello}`)
      }
      const next = progressed(state)
      if (end.status === "ended") return { state: next, frame: undefined, decision: COMPLETE }
      return fail(next, producerFailed(end.reason, end.exitCode))
    }
    case "Alive":
      return continueWith(state.attempt.hello === undefined ? state : progressed(state))
    case "Malformed":
      return protocol(config, state, event.reason)
    case "Refused":
      return refused(config, state, event)
    case "Started": {
      const { info } = event
      if (state.epoch !== undefined && info.epoch !== state.epoch) {
        return fail(state, new ClientError.EpochChanged({ expected: state.epoch, actual: info.epoch }))
      }
      return continueWith({ ...state, epoch: info.epoch, start: info.total })
    }
    case "Ended": {
      const { info } = event
      if (state.epoch !== undefined && info.epoch !== state.epoch) {
        return fail(state, new ClientError.EpochChanged({ expected: state.epoch, actual: info.epoch }))
      }
      if (state.cursor !== undefined && info.total !== state.cursor) {
        return protocol(config, state, `204 at offset ${state.cursor}, but the buffer ended at ${info.total}`)
      }
      if (info.ended === false) return protocol(config, state, "204 for a buffer that has not ended")
      if (info.ended === "failed") return fail(state, producerFailed(info.reason, info.exitCode))
      return { state, frame: undefined, decision: COMPLETE }
    }
    case "Conflict": {
      const { info, status } = event
      if (state.epoch !== undefined && info.epoch !== state.epoch) {
        return fail(state, new ClientError.EpochChanged({ expected: state.epoch, actual: info.epoch }))
      }
      const offset = requested(state)
      if (status === 409 && offset !== undefined && offset > info.total) {
        return fail(state, new OffsetAhead({ requested: offset, total: info.total }))
      }
      if (status === 410 && offset !== undefined && offset < info.oldest) {
        return fail(state, new OffsetEvicted({ requested: offset, oldest: info.oldest }))
      }
      // The refusal no longer holds (the buffer moved on meanwhile): try again.
      return reconnect(state, new ClientError.Disconnected({ reason: "Unavailable", status, code: 4000 + status }))
    }
    case "Closed":
      return closed(config, state, event.code, event.reason)
    case "Disconnected":
      return reconnect(state, event.cause)
  }
}

/** A refusal: the decoded error decides; without one, the status. */
const refused = (config: Config, state: State, event: Extract<Event, { _tag: "Refused" }>): Step => {
  const { error, status } = event
  const unavailable = () => reconnect(state, new ClientError.Disconnected({ reason: "Unavailable", status }))
  if (error !== undefined) {
    switch (error._tag) {
      case "BufferNotFound":
      case "OffsetAhead":
      case "OffsetEvicted":
        return fail(state, error)
      case "EpochMismatch":
        // The error's `expected` is the position's epoch, the client's; `actual` the buffer's.
        return fail(
          state,
          new ClientError.EpochChanged({ expected: state.epoch ?? error.expected, actual: error.actual })
        )
      case "TooManyConnections":
      case "StorageUnavailable":
        return unavailable()
    }
  }
  if (status === 429 || status >= 500) return unavailable()
  return fail(state, new ClientError.HttpStatusError({ url: event.url, status, body: event.body }))
}

/** A WebSocket close before the end (`4409`/`4410` come as {@link Event} `Conflict`). */
const closed = (config: Config, state: State, code: number, reason: string): Step => {
  if (code === 1000 || code === 1001) {
    return reconnect(state, new ClientError.Disconnected({ reason: "EndOfStream", code }))
  }
  if (code === 1008) {
    return protocol(config, state, `the server closed the connection with 1008 (policy violation): ${reason}`)
  }
  if (code === 4429) return reconnect(state, new ClientError.Disconnected({ reason: "SlowConsumer", code }))
  if (code >= 4400 && code <= 4499) {
    return fail(state, new ClientError.HttpStatusError({ url: config.url, status: code - 4000, body: reason }))
  }
  if (code >= 4500 && code <= 4599) {
    return reconnect(state, new ClientError.Disconnected({ reason: "Unavailable", status: code - 4000, code }))
  }
  return reconnect(state, new ClientError.Disconnected({ reason: "Transport", code }))
}
