/**
 * An SSE parser written for the tests from the WHATWG HTML standard
 * ("Interpreting an event stream"), independent of the one in
 * `@scrollback/platform`, so the suites check the server's encoding against
 * a second reading of the spec rather than against the same code.
 */

/** A dispatched event: its type (absent for "message"), data, the last event id and a `retry:` in its block. */
export interface SseEvent {
  readonly event?: string
  readonly data: string
  readonly id?: string
  readonly retry?: number
}

export interface SseParser {
  /** Feeds decoded text (any split); returns the events completed by it. */
  readonly feed: (text: string) => Array<SseEvent>
  /** The last event id (the spec's "last event ID buffer" once dispatched). */
  readonly lastEventId: () => string
}

/** Makes a parser; `onComment` sees each comment line without its colon and one leading space. */
export const makeSseParser = (onComment?: (text: string) => void): SseParser => {
  let pending = ""
  let skipLf = false
  let first = true
  let data: string | undefined = undefined
  let eventType = ""
  let lastEventId = ""
  let retry: number | undefined = undefined

  const line = (text: string, out: Array<SseEvent>) => {
    if (text === "") {
      if (data !== undefined) {
        const event: { event?: string; data: string; id?: string; retry?: number } = { data: data.slice(0, -1) }
        if (eventType !== "") event.event = eventType
        if (lastEventId !== "") event.id = lastEventId
        if (retry !== undefined) event.retry = retry
        out.push(event)
      }
      data = undefined
      eventType = ""
      retry = undefined
      return
    }
    if (text.startsWith(":")) {
      onComment?.(text.slice(text.startsWith(": ") ? 2 : 1))
      return
    }
    const colon = text.indexOf(":")
    const field = colon === -1 ? text : text.slice(0, colon)
    let value = colon === -1 ? "" : text.slice(colon + 1)
    if (value.startsWith(" ")) value = value.slice(1)
    switch (field) {
      case "event":
        eventType = value
        break
      case "data":
        data = (data ?? "") + value + "\n"
        break
      case "id":
        if (!value.includes("\0")) lastEventId = value
        break
      case "retry":
        if (/^[0-9]+$/.test(value)) retry = Number(value)
        break
    }
  }

  return {
    feed: (text) => {
      const out: Array<SseEvent> = []
      let input = text
      if (first && input.length > 0) {
        first = false
        if (input.startsWith("\uFEFF")) input = input.slice(1)
      }
      if (skipLf && input.startsWith("\n")) input = input.slice(1)
      skipLf = false
      let start = 0
      for (let i = 0; i < input.length; i++) {
        const c = input.charCodeAt(i)
        if (c !== 10 && c !== 13) continue
        line(pending + input.slice(start, i), out)
        pending = ""
        if (c === 13) {
          if (i + 1 < input.length) {
            if (input.charCodeAt(i + 1) === 10) i++
          } else {
            skipLf = true
          }
        }
        start = i + 1
      }
      pending += input.slice(start)
      return out
    },
    lastEventId: () => lastEventId
  }
}
