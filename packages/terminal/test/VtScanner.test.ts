import { assert, describe, it } from "@effect/vitest"
import { Effect, FastCheck } from "effect"
import { VtScanner } from "../src/internal/vtScanner.js"
import { makeTerminal } from "./terminals.js"

/** xterm's own parser state (internals, read only here to check the scanner against them). */
interface ParserInternals {
  readonly _core: {
    readonly _inputHandler: {
      readonly _parser: { readonly currentState: number; readonly precedingJoinState: number }
      readonly _utf8Decoder: { readonly interim: Uint8Array }
    }
  }
}

const xtermState = (term: ReturnType<typeof makeTerminal>) => {
  const handler = (term as unknown as ParserInternals)._core._inputHandler
  return {
    state: handler._parser.currentState,
    joinState: handler._parser.precedingJoinState,
    interim: handler._utf8Decoder.interim[0]
  }
}

const write = (term: ReturnType<typeof makeTerminal>, bytes: Uint8Array) =>
  Effect.async<void>((resume) => term.write(bytes, () => resume(Effect.void)))

/** Bytes that exercise the parser: controls, escapes, CSI/OSC/DCS pieces, C1 codes, UTF-8 (valid and not). */
const piece = FastCheck.oneof(
  FastCheck.constantFrom(
    "\x1b",
    "[",
    "]",
    "P",
    "\\",
    "\x07",
    "\x18",
    "\x1a",
    "\x9b",
    "\x9c",
    "\x9d",
    "\x90",
    "\r",
    "\n",
    "\t",
    "\x7f",
    "\x1bc",
    "\x1b[1;31m",
    "\x1b[?1049h",
    "\x1b]0;title\x07",
    "\x1bP$qm\x1b\\",
    "\x1b(0",
    "\x1b[5b",
    "A",
    "é",
    "漢",
    "🙂",
    "e\u0301",
    ";",
    "?",
    " ",
    "q"
  ).map((s) => new TextEncoder().encode(s)),
  FastCheck.uint8Array({ minLength: 1, maxLength: 4 })
)

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

describe("VtScanner", () => {
  it.effect.prop(
    "follows xterm's parser state; where it says 'at rest', xterm is in GROUND with nothing pending",
    [FastCheck.array(piece, { minLength: 1, maxLength: 60 })],
    ([parts]) =>
      Effect.gen(function*() {
        const bytes = concat(parts)
        const term = makeTerminal(40, 5)
        const scanner = new VtScanner()
        // Feed both one byte range at a time, cut only where the scanner is between code points (as the
        // engine does), and compare after each range.
        let start = 0
        for (let i = 1; i <= bytes.length; i++) {
          scanner.scan(bytes, i - 1, i, false)
          if (!scanner.codepointBoundary && i < bytes.length) continue
          if (i === bytes.length && !scanner.codepointBoundary) break
          yield* write(term, bytes.subarray(start, i))
          start = i
          const xterm = xtermState(term)
          assert.strictEqual(scanner.state, xterm.state, `state after ${i} bytes`)
          assert.strictEqual(xterm.interim, 0, "xterm holds no partial code point at a boundary")
          if (scanner.atRest) assert.strictEqual(xterm.joinState, 0, `join state at rest after ${i} bytes`)
        }
        term.dispose()
      }),
    { fastCheck: { numRuns: 300 } }
  )

  it("stops at the first position at rest", () => {
    const bytes = new TextEncoder().encode("ab\x1b[31mcd\r\n")
    const scanner = new VtScanner()
    // After "a": a print (not at rest). After "\x1b[31m": a dispatch (at rest).
    assert.strictEqual(scanner.scan(bytes, 0, bytes.length, true), 7)
    assert.isTrue(scanner.atRest)
    assert.strictEqual(scanner.scan(bytes, 7, bytes.length, true), 10)
  })

  it("tracks UTF-8 sequences split across scans, and sees ESC c", () => {
    const bytes = new TextEncoder().encode("—\x1bc")
    const scanner = new VtScanner()
    scanner.scan(bytes, 0, 2, false)
    assert.isFalse(scanner.codepointBoundary)
    assert.strictEqual(scanner.leadIndex, 0)
    scanner.scan(bytes, 2, 3, false)
    assert.isTrue(scanner.codepointBoundary)
    assert.isFalse(scanner.sawReset)
    scanner.scan(bytes, 3, bytes.length, false)
    assert.isTrue(scanner.sawReset)
    assert.isTrue(scanner.atRest)
  })
})
