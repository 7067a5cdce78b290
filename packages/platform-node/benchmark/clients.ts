/**
 * The followers of the HTTP benchmarks, lean so that one process can drive
 * thousands: byte-level SSE parsing, native base64 and CRC-32, the timestamp
 * read from the first bytes of each write.
 *
 * Every protocol feeds one `Tracker`, which checks that the bytes continue
 * the log exactly (offsets, then the CRC-32 of everything against the
 * server's), and times each write it completes. Three protocols:
 * - `scrollbackSse`: scrollback's SSE format (`ReplayHttp` and the raw
 *   `node:http` baseline): hello, `id: EPOCH:NEXT` + base64 data, end;
 * - `durableStreamsSse`: Durable Streams' SSE (`?offset=-1&live=sse`):
 *   `event: data` with `data:` + base64 (the stream is `application/octet-stream`,
 *   so the server base64-encodes and says so in `Stream-SSE-Data-Encoding`),
 *   and `event: control` with `streamNextOffset` (increasing) and, at the end,
 *   `streamClosed`;
 * - `scrollbackWs`: scrollback's WebSocket format (`ReplayHttp` and the raw
 *   `ws` baseline): a text hello, binary messages (8-byte big-endian offset,
 *   then the bytes), a text end, close 1000.
 */
import * as Http from "node:http"
import { WebSocket } from "ws"
import { DURABLE_STREAMS_PREFIX, nowMs, PREFIX_BYTES, readStamp, updateHash } from "./shared.js"

// -----------------------------------------------------------------------------
// the log check
// -----------------------------------------------------------------------------

/** Latency samples (ms) of every (write, follower) pair, filled by the followers of one run. */
export class Samples {
  readonly values: Float64Array
  count = 0
  constructor(capacity: number) {
    this.values = new Float64Array(capacity)
  }
  add(value: number) {
    if (this.count === this.values.length) throw new Error("more deliveries than writes × followers")
    this.values[this.count++] = value
  }
}

export interface TrackerOptions {
  /** The size of every write, to time them (with `samples`); `undefined` for a log without stamps. */
  readonly bytesPerWrite?: number | undefined
  readonly samples?: Samples | undefined
  readonly onEnd: () => void
}

/** What one follower received: where it is, the CRC-32 of its bytes, and whether the log ended there. */
export class Tracker {
  /** The next offset this follower expects; -1 before it started. */
  cursor = -1
  start = -1
  hash = 0
  /** Messages that carried bytes (SSE data events, WebSocket binary messages). */
  events = 0
  ended = false
  private readonly prefix = Buffer.alloc(PREFIX_BYTES)
  private stamp = 0
  /** Called when the follower starts following (its hello is in): set by the protocol that connects it. */
  onStart: () => void = () => {}

  constructor(readonly options: TrackerOptions) {}

  begin(offset: number): void {
    if (this.cursor !== -1) throw new Error("a second hello")
    this.cursor = this.start = offset
    this.onStart()
  }

  /** `bytes` starting at `offset`: it must continue the log exactly. */
  bytes(bytes: Uint8Array, offset: number, now: number): void {
    if (this.cursor < 0) throw new Error("bytes before the hello")
    if (this.ended) throw new Error("bytes after the end")
    if (offset !== this.cursor) throw new Error(`bytes at ${offset} do not continue ${this.cursor}`)
    const next = offset + bytes.length
    this.hash = updateHash(this.hash, bytes)
    this.events++
    const size = this.options.bytesPerWrite
    if (size !== undefined) this.time(bytes, offset, next, size, now)
    this.cursor = next
  }

  /** Walks the writes `bytes` touches: reads each one's stamp, times each one it completes. */
  private time(bytes: Uint8Array, offset: number, next: number, size: number, now: number): void {
    let pos = offset
    while (pos < next) {
      const base = pos - (pos % size)
      const within = pos - base
      if (within < PREFIX_BYTES) {
        const take = Math.min(PREFIX_BYTES - within, next - pos)
        this.prefix.set(bytes.subarray(pos - offset, pos - offset + take), within)
        pos += take
        if (within + take === PREFIX_BYTES) this.stamp = readStamp(this.prefix, 0)
        continue
      }
      const writeEnd = base + size
      if (writeEnd <= next) {
        this.options.samples?.add(now - this.stamp)
        pos = writeEnd
      } else {
        pos = next
      }
    }
  }

  /** The end of the log, at `total`. */
  end(total: number): void {
    if (total !== this.cursor) throw new Error(`the end at ${total} after ${this.cursor} bytes`)
    this.ended = true
    this.options.onEnd()
  }

  /** Throws unless this follower has exactly the log `[start, total)` whose CRC-32 is `hash`, and has (or not) its end. */
  verify(total: number, hash: number, ended = true): void {
    if (this.ended !== ended || this.cursor !== total || this.hash !== hash) {
      throw new Error(
        `a follower got bytes up to ${this.cursor} (hash ${this.hash}, ended ${this.ended}); ` +
          `the log is ${total} bytes (hash ${hash})`
      )
    }
  }
}

// -----------------------------------------------------------------------------
// protocols
// -----------------------------------------------------------------------------

export interface Connection {
  readonly tracker: Tracker
  readonly close: () => void
}

export interface ConnectOptions {
  readonly port: number
  /** The epoch every id and hello must carry (scrollback formats), `undefined` to accept any. */
  readonly epoch: string | undefined
  readonly key: string
  /** A first offset to ask for (scrollback formats); none: the server's oldest. */
  readonly offset?: number | undefined
  /** HTTP only: `false` for a fresh connection per request. */
  readonly agent: Http.Agent | false
  readonly tracker: Tracker
  /** A failure after the connection resolved. */
  readonly onError: (error: Error) => void
}

export interface Protocol {
  readonly name: string
  /** Opens a follower; resolves once it has started (`Tracker.begin`), rejects when it cannot. */
  readonly connect: (options: ConnectOptions) => Promise<Connection>
}

/** Settles a connect promise once; a failure after that goes to `onError`. */
const settler = (resolve: () => void, reject: (error: Error) => void, onError: (error: Error) => void) => {
  let settled = false
  return {
    started: () => {
      if (!settled) {
        settled = true
        resolve()
      }
    },
    fail: (error: Error) => {
      if (!settled) {
        settled = true
        reject(error)
      } else onError(error)
    }
  }
}

// --- SSE ----------------------------------------------------------------------

/** One decode buffer for every follower: each event is decoded and checked before the next is parsed. */
let scratch = Buffer.alloc(256 * 1024)

const decodeBase64 = (data: Buffer, start: number, end: number): Buffer => {
  const maxDecoded = Math.ceil((end - start) * 3 / 4)
  if (maxDecoded > scratch.length) scratch = Buffer.alloc(maxDecoded * 2)
  return scratch.subarray(0, scratch.write(data.toString("latin1", start, end), 0, "base64"))
}

const fieldIs = (buffer: Buffer, at: number, end: number, name: string): boolean => {
  if (end - at !== name.length) return false
  for (let i = 0; i < name.length; i++) if (buffer[at + i] !== name.charCodeAt(i)) return false
  return true
}

/** One SSE event: its `event:` type, and where its `id:` and (single-line) `data:` values are in `buffer`. */
interface SseEvent {
  type: string | undefined
  idStart: number
  idEnd: number
  dataStart: number
  dataEnd: number
}

/**
 * SSE parsing as the spec reads it (`field:value`, one optional space after
 * the colon, comments), for events whose data is one line; `onEvent` gets
 * each event block that has data.
 */
class SseParser {
  private pending: Buffer | undefined
  private readonly event: SseEvent = { type: undefined, idStart: -1, idEnd: -1, dataStart: -1, dataEnd: -1 }

  constructor(readonly onEvent: (data: Buffer, event: SseEvent, now: number) => void) {}

  feed(chunk: Buffer, now: number): void {
    const data = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk])
    this.pending = undefined
    let pos = 0
    while (true) {
      const end = data.indexOf("\n\n", pos, "latin1")
      if (end === -1) break
      this.block(data, pos, end, now)
      pos = end + 2
    }
    if (pos < data.length) this.pending = data.subarray(pos)
  }

  private block(data: Buffer, start: number, end: number, now: number): void {
    const event = this.event
    event.type = undefined
    event.idStart =
      event.idEnd =
      event.dataStart =
      event.dataEnd =
        -1
    let line = start
    while (line < end) {
      let lineEnd = data.indexOf(10, line)
      if (lineEnd === -1 || lineEnd > end) lineEnd = end
      if (data[line] !== 58) {
        let colon = data.indexOf(58, line)
        if (colon === -1 || colon > lineEnd) colon = lineEnd
        let value = colon + 1
        if (data[value] === 32 && value < lineEnd) value++
        if (fieldIs(data, line, colon, "data")) {
          if (event.dataStart !== -1) throw new Error("unexpected multi-line data")
          event.dataStart = value
          event.dataEnd = lineEnd
        } else if (fieldIs(data, line, colon, "id")) {
          event.idStart = value
          event.idEnd = lineEnd
        } else if (fieldIs(data, line, colon, "event")) {
          event.type = data.toString("latin1", value, lineEnd)
        } else if (!fieldIs(data, line, colon, "retry")) {
          throw new Error(`unexpected SSE line ${JSON.stringify(data.toString("latin1", line, lineEnd))}`)
        }
      }
      line = lineEnd + 1
    }
    if (event.dataStart !== -1) this.onEvent(data, event, now)
  }
}

/** A decimal integer from bytes, or -1 when malformed. */
const parseDecimal = (buffer: Buffer, start: number, end: number): number => {
  if (start === end) return -1
  let value = 0
  for (let i = start; i < end; i++) {
    const digit = buffer[i] - 48
    if (digit < 0 || digit > 9) return -1
    value = value * 10 + digit
  }
  return value
}

/** Scrollback's SSE events, checked against `epoch` and fed to `tracker`. */
const scrollbackSseEvents =
  (tracker: Tracker, epoch: string | undefined) => (data: Buffer, event: SseEvent, now: number): void => {
    if (event.idStart === -1) throw new Error("an event without an id")
    const colon = data.indexOf(58, event.idStart)
    if (colon === -1 || colon >= event.idEnd) throw new Error("an id without EPOCH:OFFSET")
    const id = parseDecimal(data, colon + 1, event.idEnd)
    if (id < 0) throw new Error(`a malformed id ${data.toString("latin1", event.idStart, event.idEnd)}`)
    if (epoch !== undefined && data.toString("latin1", event.idStart, colon) !== epoch) {
      throw new Error(`an id from another epoch: ${data.toString("latin1", event.idStart, event.idEnd)}`)
    }
    if (event.type === undefined) {
      const bytes = decodeBase64(data, event.dataStart, event.dataEnd)
      return tracker.bytes(bytes, id - bytes.length, now)
    }
    const json = JSON.parse(data.toString("utf8", event.dataStart, event.dataEnd))
    if (event.type === "hello") {
      if (epoch !== undefined && json.epoch !== epoch) throw new Error(`hello epoch ${json.epoch}`)
      if (json.offset !== id) throw new Error(`hello offset ${json.offset} and id ${id} differ`)
      tracker.begin(json.offset)
    } else if (event.type === "end") {
      if (json.status !== "ended") throw new Error(`end status ${json.status}`)
      tracker.end(id)
    } else {
      // A gap cannot happen (the servers hold the whole log): it would mean lost bytes.
      throw new Error(`unexpected ${event.type} event ${JSON.stringify(json)}`)
    }
  }

/** Durable Streams' SSE events: base64 data, control events with increasing offsets, the end as `streamClosed`. */
const durableStreamsSseEvents = (tracker: Tracker) => {
  let lastOffset: string | undefined = undefined
  let dataSinceControl = false
  return (data: Buffer, event: SseEvent, now: number): void => {
    // `offset=-1`: the stream from its first byte.
    if (tracker.cursor === -1) tracker.begin(0)
    if (event.type === "data") {
      tracker.bytes(decodeBase64(data, event.dataStart, event.dataEnd), tracker.cursor, now)
      dataSinceControl = true
      return
    }
    if (event.type !== "control") throw new Error(`unexpected Durable Streams event ${event.type}`)
    const json = JSON.parse(data.toString("utf8", event.dataStart, event.dataEnd))
    const offset = json.streamNextOffset
    // Offsets are opaque but ordered as strings: after the first, they advance with data and only with data.
    const continues = lastOffset === undefined || (dataSinceControl ? offset > lastOffset : offset === lastOffset)
    if (typeof offset !== "string" || !continues) {
      throw new Error(`control offset ${offset} after ${lastOffset} (data since the last: ${dataSinceControl})`)
    }
    lastOffset = offset
    dataSinceControl = false
    if (json.streamClosed === true) tracker.end(tracker.cursor)
  }
}

const sseProtocol = (
  name: string,
  path: (options: ConnectOptions) => string,
  handler: (options: ConnectOptions) => (data: Buffer, event: SseEvent, now: number) => void,
  checkHeaders: (res: Http.IncomingMessage) => string | undefined
): Protocol => ({
  name,
  connect: (options) =>
    new Promise((resolve, reject) => {
      const { tracker } = options
      const request = Http.get({
        host: "127.0.0.1",
        port: options.port,
        path: path(options),
        agent: options.agent,
        headers: { accept: "text/event-stream" }
      }, (res) => {
        if (res.statusCode !== 200) {
          res.resume()
          return settle.fail(new Error(`${name} answered ${res.statusCode}`))
        }
        const wrong = checkHeaders(res)
        if (wrong !== undefined) {
          res.resume()
          return settle.fail(new Error(`${name}: ${wrong}`))
        }
        const parser = new SseParser(handler(options))
        res.on("data", (chunk: Buffer) => {
          try {
            parser.feed(chunk, nowMs())
          } catch (error) {
            request.destroy()
            settle.fail(error as Error)
          }
        })
        res.on("close", () => {
          if (!tracker.ended) settle.fail(new Error(`${name}: a response closed before its end, at ${tracker.cursor}`))
        })
      })
      const settle = settler(() => resolve({ tracker, close: () => request.destroy() }), reject, options.onError)
      tracker.onStart = settle.started
      request.on("error", (error) => settle.fail(new Error(`${name}: ${error.message}`)))
    })
})

const query = (options: ConnectOptions) => options.offset === undefined ? "" : `?offset=${options.offset}`

export const scrollbackSse: Protocol = sseProtocol(
  "scrollback SSE",
  (options) => `/scrollback/${options.key}/sse${query(options)}`,
  (options) => scrollbackSseEvents(options.tracker, options.epoch),
  () => undefined
)

export const durableStreamsSse: Protocol = sseProtocol(
  "Durable Streams SSE",
  (options) => `${DURABLE_STREAMS_PREFIX}/${options.key}?offset=-1&live=sse`,
  (options) => durableStreamsSseEvents(options.tracker),
  (res) =>
    res.headers["stream-sse-data-encoding"] === "base64"
      ? undefined
      : `expected Stream-SSE-Data-Encoding: base64, got ${res.headers["stream-sse-data-encoding"]}`
)

// --- WebSocket ----------------------------------------------------------------

export const scrollbackWs: Protocol = {
  name: "scrollback WebSocket",
  connect: (options) =>
    new Promise((resolve, reject) => {
      const { tracker } = options
      const ws = new WebSocket(`ws://127.0.0.1:${options.port}/scrollback/${options.key}/ws${query(options)}`, {
        perMessageDeflate: false
      })
      const settle = settler(() => resolve({ tracker, close: () => ws.terminate() }), reject, options.onError)
      tracker.onStart = settle.started
      const fail = (error: Error) => {
        ws.terminate()
        settle.fail(error)
      }
      ws.on("message", (data: Buffer, isBinary) => {
        try {
          if (isBinary) {
            if (data.length < 8) throw new Error(`a binary message of ${data.length} bytes`)
            const offset = data.readUInt32BE(0) * 0x1_0000_0000 + data.readUInt32BE(4)
            return tracker.bytes(data.subarray(8), offset, nowMs())
          }
          const json = JSON.parse(data.toString("utf8"))
          if (json.type === "hello") {
            if (options.epoch !== undefined && json.epoch !== options.epoch) {
              throw new Error(`hello epoch ${json.epoch}`)
            }
            tracker.begin(json.offset)
          } else if (json.type === "end") {
            if (json.status !== "ended") throw new Error(`end status ${json.status}`)
            tracker.end(tracker.cursor)
          } else {
            throw new Error(`unexpected message ${data.toString("utf8")}`)
          }
        } catch (error) {
          fail(error as Error)
        }
      })
      ws.on("close", (code, reason) => {
        if (!tracker.ended || code !== 1000) {
          settle.fail(new Error(`WebSocket closed with ${code} ${reason.toString()} at ${tracker.cursor}`))
        }
      })
      ws.on("error", (error) => fail(new Error(`WebSocket: ${error.message}`)))
    })
}
