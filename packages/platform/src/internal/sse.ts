/**
 * Server-sent events: the encoder the server uses, and a spec-compliant
 * parser (WHATWG HTML, "Interpreting an event stream").
 *
 * `ReplayClient` does not use this parser: it parses with
 * `@effect/experimental`'s `Sse.makeParser`, which is byte-exact for this
 * server's output (see `client.ts`). {@link makeSseParser} stays for the
 * tests, which read the server's raw output with it: they must see comments
 * (the `: ping` keep-alive), which the library's parser drops, and check the
 * spec's edge cases the library's parser gets wrong (a CRLF split between
 * two chunks, a decoded BOM, an id carried over to later events).
 *
 * Bytes travel as base64 in `data:` lines, so every byte value survives the
 * text protocol (CR, bare `\r`, leading spaces, NUL, invalid UTF-8, UTF-8
 * split across writes). The base64 is written straight into the output bytes,
 * across several input views.
 */

const textEncoder = new TextEncoder()

/**
 * The most raw bytes one data event carries: 48 KiB, which is exactly 64 KiB
 * of base64 in its single `data:` line.
 *
 * @internal
 */
export const MAX_EVENT_BYTES = 48 * 1024

/** @internal */
export const encodeText = (text: string): Uint8Array => textEncoder.encode(text)

const ALPHABET = textEncoder.encode("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
const PAD = 61 // "="

/**
 * The length of the base64 text for `n` bytes (with padding).
 *
 * @internal
 */
export const base64Length = (n: number): number => Math.ceil(n / 3) * 4

/**
 * The runtime's native base64, where there is one (Node's and Bun's global
 * `Buffer`): ten times faster than the loop below on long runs. Found at
 * run time, so this package imports nothing from `node:*`.
 */
/** @internal */
export interface NativeBuffer {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): {
    toString(encoding: "base64"): string
    write(text: string, offset: number, encoding: "latin1"): number
  }
  allocUnsafe(size: number): Uint8Array
}
const nativeBuffer: NativeBuffer | undefined = (() => {
  const candidate = (globalThis as { Buffer?: Partial<NativeBuffer> }).Buffer
  return typeof candidate?.from === "function" && typeof candidate.allocUnsafe === "function"
    ? candidate as NativeBuffer
    : undefined
})()

/**
 * An array of `size` bytes for the caller to fill completely: not zeroed
 * where the runtime can skip it (zeroing a 350 KB event batch costs about
 * 100 µs, more than encoding it). Every caller writes every byte and checks
 * that it did ({@link assertFilled}): no stale memory reaches a client.
 *
 * @internal
 */
export const allocateFilled = (size: number): Uint8Array =>
  nativeBuffer !== undefined ? nativeBuffer.allocUnsafe(size) : new Uint8Array(size)

/** @internal */
export const assertFilled = (out: Uint8Array, written: number): void => {
  if (written !== out.length) throw new Error(`scrollback: encoded ${written} of ${out.length} bytes`)
}

/** Runs shorter than this are encoded by the loop (a native call costs two allocations). */
const NATIVE_MIN_BYTES = 192

/**
 * Writes the base64 of the concatenation of `views` into `out` at `pos`;
 * returns the position just past it. A triple may straddle two views.
 *
 * @internal
 */
export const writeBase64 = (
  views: ReadonlyArray<Uint8Array>,
  out: Uint8Array,
  pos: number,
  runtime: NativeBuffer | undefined = nativeBuffer
): number => {
  let native: ReturnType<NativeBuffer["from"]> | undefined = undefined
  let carry0 = 0
  let carry1 = 0
  let carried = 0 // 0, 1 or 2 bytes waiting for the rest of their triple
  for (let v = 0; v < views.length; v++) {
    const bytes = views[v]
    const length = bytes.length
    let i = 0
    if (carried > 0) {
      if (carried === 1) {
        if (i < length) {
          carry1 = bytes[i++]
          carried = 2
        }
      }
      if (carried === 2 && i < length) {
        const b2 = bytes[i++]
        out[pos++] = ALPHABET[carry0 >> 2]
        out[pos++] = ALPHABET[((carry0 & 0x03) << 4) | (carry1 >> 4)]
        out[pos++] = ALPHABET[((carry1 & 0x0f) << 2) | (b2 >> 6)]
        out[pos++] = ALPHABET[b2 & 0x3f]
        carried = 0
      }
      if (carried > 0) continue
    }
    const end = length - ((length - i) % 3)
    if (runtime !== undefined && end - i >= NATIVE_MIN_BYTES) {
      native ??= runtime.from(out.buffer, out.byteOffset, out.length)
      pos += native.write(
        runtime.from(bytes.buffer, bytes.byteOffset + i, end - i).toString("base64"),
        pos,
        "latin1"
      )
      i = end
    }
    for (; i < end; i += 3) {
      const b0 = bytes[i]
      const b1 = bytes[i + 1]
      const b2 = bytes[i + 2]
      out[pos++] = ALPHABET[b0 >> 2]
      out[pos++] = ALPHABET[((b0 & 0x03) << 4) | (b1 >> 4)]
      out[pos++] = ALPHABET[((b1 & 0x0f) << 2) | (b2 >> 6)]
      out[pos++] = ALPHABET[b2 & 0x3f]
    }
    if (i < length) {
      carry0 = bytes[i++]
      carried = 1
      if (i < length) {
        carry1 = bytes[i]
        carried = 2
      }
    }
  }
  if (carried === 1) {
    out[pos++] = ALPHABET[carry0 >> 2]
    out[pos++] = ALPHABET[(carry0 & 0x03) << 4]
    out[pos++] = PAD
    out[pos++] = PAD
  } else if (carried === 2) {
    out[pos++] = ALPHABET[carry0 >> 2]
    out[pos++] = ALPHABET[((carry0 & 0x03) << 4) | (carry1 >> 4)]
    out[pos++] = ALPHABET[(carry1 & 0x0f) << 2]
    out[pos++] = PAD
  }
  return pos
}

const assertFieldValue = (name: string, value: string): void => {
  if (/[\r\n\0]/.test(value)) throw new TypeError(`an SSE ${name} cannot contain CR, LF or NUL`)
}

/**
 * An event with a text payload; each line of `data` becomes its own `data:`
 * line, so the parser joins them back with `\n` (CR and CRLF in `data` come
 * back as LF: use {@link encodeBytesEvent} for exact bytes).
 *
 * @internal
 */
export const encodeEvent = (event: {
  readonly event?: string | undefined
  readonly id?: string | undefined
  readonly retry?: number | undefined
  readonly data: string
}): Uint8Array => {
  let text = ""
  if (event.retry !== undefined) text += `retry: ${Math.max(0, Math.floor(event.retry))}\n`
  if (event.event !== undefined) {
    assertFieldValue("event type", event.event)
    text += `event: ${event.event}\n`
  }
  if (event.id !== undefined) {
    assertFieldValue("id", event.id)
    text += `id: ${event.id}\n`
  }
  for (const line of event.data.split(/\r\n|\r|\n/)) text += `data: ${line}\n`
  return textEncoder.encode(text + "\n")
}

/**
 * A comment line (ignored by parsers; used as a keep-alive).
 *
 * @internal
 */
export const encodeComment = (comment: string): Uint8Array => {
  assertFieldValue("comment", comment)
  return textEncoder.encode(`: ${comment}\n\n`)
}

/**
 * A default-type event (`EventSource.onmessage` sees it) whose single data
 * line is the base64 of the concatenation of `views` (`length` bytes in all).
 *
 * @internal
 */
export const encodeBytesEvent = (id: string, views: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  assertFieldValue("id", id)
  const head = textEncoder.encode(`id: ${id}\ndata: `)
  const out = new Uint8Array(head.length + base64Length(length) + 2)
  out.set(head, 0)
  const pos = writeBase64(views, out, head.length)
  out[pos] = 10
  out[pos + 1] = 10
  return out
}

/**
 * A dispatched event. `event` is absent for the default type (`"message"`);
 * `id` is the stream's last event id when the event was dispatched (it
 * persists from earlier events, as in `EventSource`), absent while empty;
 * `retry` is present when the event's own block carried a valid `retry:`.
 */
export interface SseEvent {
  readonly event?: string | undefined
  readonly data: string
  readonly id?: string | undefined
  readonly retry?: number | undefined
}

/**
 * An incremental parser: feed it decoded text in chunks of any size (a line
 * may span many chunks, and a CRLF may be split between two) and it returns
 * the events completed by each chunk.
 */
export interface SseParser {
  /** Parses a chunk of text; returns the events it completed, in order. */
  readonly feed: (chunk: string) => Array<SseEvent>
  /** The last event id seen so far (`""` if none), as `EventSource.lastEventId`. */
  readonly lastEventId: () => string
  /** The last valid `retry:` value seen, in milliseconds. */
  readonly retry: () => number | undefined
  /**
   * Why the parser stopped, if it did: `maxEventBytes` was exceeded (see
   * {@link makeSseParser}). Once set, `feed` returns no more events.
   */
  readonly overflow: () => string | undefined
}

/**
 * Makes a parser following the WHATWG rules: lines end with CRLF, LF or CR;
 * a leading BOM is dropped; `:` starts a comment; one space after the colon is
 * stripped; `data` lines are joined with `\n`; an `id` containing NUL is
 * ignored; `retry` must be all ASCII digits; a blank line dispatches the
 * event unless no `data` was given; an unterminated event at the end of the
 * stream is never dispatched.
 *
 * `onComment` sees every comment line's text (without the colon and one
 * leading space), e.g. to treat keep-alives as liveness.
 *
 * `maxEventBytes` bounds what the parser holds: the `data` of the event being
 * assembled plus the unterminated line, and any single line, in UTF-16 code
 * units of the decoded text (= bytes for ASCII, which is all a scrollback
 * server sends). Without it, a peer sending one endless line, or `data:`
 * lines without a blank line, grows the parser's memory without limit. When
 * exceeded, the parser stops: `feed` still returns the events completed
 * before that point, then none, and `overflow()` says why. Default: no limit
 * (`Infinity`).
 */
export const makeSseParser = (options?: {
  readonly onComment?: ((comment: string) => void) | undefined
  readonly maxEventBytes?: number | undefined
}): SseParser => {
  const onComment = options?.onComment
  const maxEventBytes = options?.maxEventBytes ?? Infinity
  let overflow: string | undefined = undefined
  let line = ""
  let skipLF = false
  let started = false
  let data = ""
  let eventType = ""
  let lastEventId = ""
  let retry: number | undefined = undefined
  let blockRetry: number | undefined = undefined

  const dispatch = (out: Array<SseEvent>): void => {
    if (data === "") {
      eventType = ""
      blockRetry = undefined
      return
    }
    const event: {
      event?: string
      data: string
      id?: string
      retry?: number
    } = { data: data.slice(0, -1) }
    if (eventType !== "") event.event = eventType
    if (lastEventId !== "") event.id = lastEventId
    if (blockRetry !== undefined) event.retry = blockRetry
    data = ""
    eventType = ""
    blockRetry = undefined
    out.push(event)
  }

  /** Stops the parser (and frees what it held) once `maxEventBytes` is exceeded. */
  const stop = (reason: string): void => {
    overflow = `${reason} exceeds maxEventBytes (${maxEventBytes})`
    line = ""
    data = ""
  }

  const processLine = (text: string, out: Array<SseEvent>): void => {
    if (text === "") return dispatch(out)
    if (text.length > maxEventBytes) return stop(`a line of ${text.length} characters`)
    const colon = text.indexOf(":")
    if (colon === 0) {
      if (onComment !== undefined) onComment(text.charCodeAt(1) === 32 ? text.slice(2) : text.slice(1))
      return
    }
    let field: string
    let value: string
    if (colon === -1) {
      field = text
      value = ""
    } else {
      field = text.slice(0, colon)
      value = text.charCodeAt(colon + 1) === 32 ? text.slice(colon + 2) : text.slice(colon + 1)
    }
    switch (field) {
      case "event":
        eventType = value
        break
      case "data":
        if (data.length + value.length + 1 > maxEventBytes) {
          return stop(`an event's data of more than ${data.length + value.length} characters`)
        }
        data += value + "\n"
        break
      case "id":
        if (value.indexOf("\0") === -1) lastEventId = value
        break
      case "retry":
        if (/^[0-9]+$/.test(value)) {
          retry = Number(value)
          blockRetry = retry
        }
        break
    }
  }

  const feed = (chunk: string): Array<SseEvent> => {
    const out: Array<SseEvent> = []
    if (overflow !== undefined) return out
    let text = chunk
    if (!started && text.length > 0) {
      started = true
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    let start = 0
    if (skipLF && text.length > 0) {
      if (text.charCodeAt(0) === 10) start = 1
      skipLF = false
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (c !== 10 && c !== 13) continue
      const complete = line + text.slice(start, i)
      line = ""
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++
        } else {
          skipLF = true
        }
      }
      start = i + 1
      processLine(complete, out)
      if (overflow !== undefined) return out
    }
    if (start < text.length) {
      // The unterminated line is held until its end arrives: bound it together with the event's data.
      if (data.length + line.length + text.length - start > maxEventBytes) {
        stop(`an unterminated line of ${line.length + text.length - start} characters (with ${data.length} of data)`)
        return out
      }
      line += text.slice(start)
    }
    return out
  }

  return {
    feed,
    lastEventId: () => lastEventId,
    retry: () => retry,
    overflow: () => overflow
  }
}
