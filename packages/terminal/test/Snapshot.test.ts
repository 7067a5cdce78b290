import { assert, describe, it } from "@effect/vitest"
import type * as XtermSerialize from "@xterm/addon-serialize"
import { Effect } from "effect"
import { createRequire } from "node:module"
import * as Snapshot from "../src/internal/snapshot.js"
import { differences, makeTerminal, Terminal, writeString } from "./terminals.js"

const require = createRequire(import.meta.url)
const { SerializeAddon } = require("@xterm/addon-serialize") as typeof XtermSerialize

/**
 * Terminal states (and bytes that come after them) that the stock @xterm/addon-serialize 0.14.0 does not
 * rebuild, and the snapshot does: each row says why the serializer was adapted or the state added.
 */
const cases: ReadonlyArray<
  { readonly name: string; readonly cols: number; readonly state: string; readonly after?: string }
> = [
  { name: "a 256-colour index below 16 in bold", cols: 20, state: "\x1b[1;38;5;1mred\x1b[0m" },
  { name: "an inverse blank left by a wide character's wrap", cols: 10, state: "\x1b[7mabcdefghi\x1b[41m漢\x1b[0m" },
  { name: "a wrapped row that starts with a blank", cols: 10, state: "0123456789abc\x1b[2;1H\x1b[X\x1b[3;1H" },
  { name: "a wrapped row after an entirely blank one", cols: 10, state: "0123456789abc\x1b[1;1H\x1b[2K\x1b[3;1H" },
  { name: "a screen erased in a coloured pen", cols: 20, state: "\x1b[?1049h\x1b[44m\x1b[2J\x1b[Htop line\x1b[0m" },
  { name: "origin mode in a scroll region", cols: 20, state: "\x1b[5;10r\x1b[?6h\x1b[3;3Hx" },
  { name: "a hidden cursor", cols: 20, state: "hello\x1b[?25l" },
  {
    name: "a scroll region, then lines that scroll in it",
    cols: 20,
    state: "\x1b[2;4r\x1b[4;1Hx",
    after: "\r\n1\r\n2\r\n3"
  },
  { name: "the line drawing character set, then text", cols: 20, state: "\x1b(0", after: "lqqk" },
  {
    name: "a saved cursor, then restored",
    cols: 20,
    state: "\x1b[3;5H\x1b[31m\x1b7\x1b[1;1H\x1b[0m",
    after: "\x1b8red"
  },
  { name: "the pen set before the next text", cols: 20, state: "\x1b[4:3;58;5;196m", after: "curly" },
  {
    name: "a cursor saved while waiting to wrap, then restored",
    cols: 10,
    state: "0123456789\x1b7\r\n",
    after: "\x1b8X"
  },
  {
    name: "the alternate screen entered in the line drawing set, then left",
    cols: 20,
    state: "\x1b(0\x1b[?1049h\x1b(Bqqq text",
    after: "\x1b[?1049lqq"
  },
  {
    name: "a wide character's blank on a line whose continuation was erased",
    cols: 10,
    state: "\x1b[7mabcdefghi\x1b[41m漢\x1b[0m\r\x1b[2Kfresh\r\n"
  },
  {
    name: "the underline flag without a style, as DECRC leaves it",
    cols: 20,
    state: "\x1b[4m\x1b7\x1b[0m\x1b8x y\x1b[0m"
  }
]

const rebuild = (cols: number, text: string, after: string) =>
  Effect.gen(function*() {
    const term = makeTerminal(cols, 12, 100)
    yield* Effect.promise(() => writeString(term, text + after))
    return term
  })

describe("snapshots", () => {
  for (const { after = "", cols, name, state } of cases) {
    it.effect(`rebuild ${name}; the stock addon-serialize does not`, () =>
      Effect.gen(function*() {
        const reference = yield* rebuild(cols, state, "")
        const stock = new SerializeAddon()
        reference.loadAddon(stock)
        const stockText = stock.serialize()
        const ours = Snapshot.serialize(Terminal, reference, 100)
        assert.isDefined(ours)
        yield* Effect.promise(() => writeString(reference, after))

        const fromStock = yield* rebuild(cols, stockText, after)
        const fromOurs = yield* rebuild(cols, ours!.snapshot, after)
        const stockFound = [...differences(reference, fromStock, 100), Snapshot.diff(reference, fromStock) ?? []].flat()
        assert.isAbove(stockFound.length, 0, "the stock serialization differs")
        assert.deepStrictEqual(differences(reference, fromOurs, 100), [])
        assert.isUndefined(Snapshot.diff(reference, fromOurs))
      }))
  }

  it.effect("a state a snapshot cannot carry gives no snapshot: the cursor waiting to wrap", () =>
    Effect.gen(function*() {
      const term = makeTerminal(10, 5, 100)
      yield* Effect.promise(() => writeString(term, "0123456789"))
      assert.strictEqual(term.buffer.active.cursorX, 10)
      assert.isUndefined(Snapshot.serialize(Terminal, term, 100))
      yield* Effect.promise(() => writeString(term, "\r\n"))
      assert.isDefined(Snapshot.serialize(Terminal, term, 100))
    }))
})
