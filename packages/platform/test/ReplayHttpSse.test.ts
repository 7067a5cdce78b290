import { assert, describe, it } from "@effect/vitest"
import { Effect, Encoding, FastCheck as fc } from "effect"
import { encodeBytesEvent, encodeComment, encodeEvent, makeSseParser, type SseEvent } from "../src/internal/sse.js"

const parseAll = (chunks: ReadonlyArray<string>, onComment?: (comment: string) => void): Array<SseEvent> => {
  const parser = makeSseParser({ onComment })
  return chunks.flatMap((chunk) => parser.feed(chunk))
}

const decoder = new TextDecoder()

describe("SSE parser", () => {
  it("accepts LF, CRLF and CR line endings, and a CRLF split between chunks", () => {
    const expected = [{ event: "a", data: "1" }, { data: "2" }]
    assert.deepStrictEqual(parseAll(["event: a\ndata: 1\n\ndata: 2\n\n"]), expected)
    assert.deepStrictEqual(parseAll(["event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n"]), expected)
    assert.deepStrictEqual(parseAll(["event: a\rdata: 1\r\rdata: 2\r\r"]), expected)
    assert.deepStrictEqual(parseAll(["event: a\r", "\ndata: 1\r", "\n\r", "\ndata: 2\r\n\r", "\n"]), expected)
    // A CR at the end of a chunk followed by a non-LF: two separate line ends.
    assert.deepStrictEqual(parseAll(["data: 1\r", "\r"]), [{ data: "1" }])
  })

  it("joins multi-line data with LF; strips one space after the colon; a field without a colon has an empty value", () => {
    assert.deepStrictEqual(parseAll(["data: one\ndata:two\ndata:  three\ndata\n\n"]), [{
      data: "one\ntwo\n three\n"
    }])
  })

  it("ignores comments (reporting them), unknown fields, and a leading BOM", () => {
    const comments: Array<string> = []
    const events = parseAll(["\uFEFF: ping\n:raw\nfoo: bar\ndata: x\n\n"], (comment) => comments.push(comment))
    assert.deepStrictEqual(events, [{ data: "x" }])
    assert.deepStrictEqual(comments, ["ping", "raw"])
  })

  it("keeps the last event id across events, ignores ids with NUL, resets on an empty id", () => {
    const parser = makeSseParser()
    const events = parser.feed("id: 1\ndata: a\n\ndata: b\n\nid: 2\0\ndata: c\n\nid\ndata: d\n\n")
    assert.deepStrictEqual(events, [{ id: "1", data: "a" }, { id: "1", data: "b" }, { id: "1", data: "c" }, {
      data: "d"
    }])
    assert.strictEqual(parser.lastEventId(), "")
  })

  it("accepts only all-digit retry values", () => {
    const parser = makeSseParser()
    const events = parser.feed("retry: 1500\ndata: a\n\nretry: 2x\ndata: b\n\nretry: -1\n\n")
    assert.deepStrictEqual(events, [{ retry: 1500, data: "a" }, { data: "b" }])
    assert.strictEqual(parser.retry(), 1500)
  })

  it("dispatches nothing for a block without data, nor for an unterminated event", () => {
    assert.deepStrictEqual(parseAll(["event: x\nid: 5\n\ndata: tail"]), [])
    assert.deepStrictEqual(parseAll(["data:\n\n"]), [{ data: "" }])
  })

  it.effect.prop(
    "encoded events, split at random points with random line endings, parse back to the same events",
    [
      fc.array(
        fc.record({
          event: fc.option(fc.stringMatching(/^[a-z]{1,8}$/), { nil: undefined }),
          id: fc.option(fc.stringMatching(/^[0-9a-f]{4}:[0-9]{1,4}$/), { nil: undefined }),
          data: fc.string({ unit: "binary", maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, " "))
        }),
        { maxLength: 20 }
      ),
      fc.constantFrom("\n", "\r\n", "\r"),
      fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 10 })
    ],
    ([events, newline, cuts]) =>
      Effect.sync(() => {
        let wire = ""
        let lastId: string | undefined = undefined
        const expected: Array<SseEvent> = []
        for (const event of events) {
          wire += decoder.decode(encodeEvent(event)).replace(/\n/g, newline)
          if (event.id !== undefined) lastId = event.id
          const parsed: { event?: string; data: string; id?: string } = { data: event.data }
          if (event.event !== undefined) parsed.event = event.event
          if (lastId !== undefined) parsed.id = lastId
          expected.push(parsed)
        }
        const points = [...new Set(cuts.map((cut) => cut % (wire.length + 1)))].sort((a, b) => a - b)
        const chunks: Array<string> = []
        let from = 0
        for (const point of points) {
          chunks.push(wire.slice(from, point))
          from = point
        }
        chunks.push(wire.slice(from))
        assert.deepStrictEqual(parseAll(chunks), expected)
      }),
    { fastCheck: { numRuns: 300 } }
  )
})

describe("SSE encoder", () => {
  it.effect.prop(
    "the base64 of several views equals the base64 of their concatenation",
    [fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 8 })],
    ([views]) =>
      Effect.sync(() => {
        const length = views.reduce((n, view) => n + view.length, 0)
        const joined = new Uint8Array(length)
        let pos = 0
        for (const view of views) {
          joined.set(view, pos)
          pos += view.length
        }
        const event = decoder.decode(encodeBytesEvent("e:1", views, length))
        assert.strictEqual(event, `id: e:1\ndata: ${Encoding.encodeBase64(joined)}\n\n`)
      }),
    { fastCheck: { numRuns: 500 } }
  )

  it("refuses CR, LF or NUL in an id, an event type or a comment", () => {
    assert.throws(() => encodeEvent({ id: "a\nb", data: "" }))
    assert.throws(() => encodeEvent({ event: "a\rb", data: "" }))
    assert.throws(() => encodeComment("a\0b"))
    assert.strictEqual(
      decoder.decode(encodeEvent({ event: "x", id: "1", retry: 10, data: "a\r\nb" })),
      "retry: 10\nevent: x\nid: 1\ndata: a\ndata: b\n\n"
    )
  })
})
