/** Bytes helpers shared by the clients and the suites. */
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** UTF-8 bytes of a text. */
export const bytes = (text: string): Uint8Array => encoder.encode(text)

/** The UTF-8 text of bytes (invalid sequences replaced). */
export const text = (data: Uint8Array): string => decoder.decode(data)

/** Joins byte arrays into one. */
export const concat = (chunks: Iterable<Uint8Array>): Uint8Array => {
  const list = Array.from(chunks)
  const out = new Uint8Array(list.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const c of list) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/** Decodes standard base64 (as the SSE `data:` lines carry); throws on malformed input. */
export const decodeBase64 = (data: string): Uint8Array =>
  Either.getOrThrowWith(Encoding.decodeBase64(data), (error) => new Error(String(error)))

/** Deterministic bytes: `length` bytes starting at pattern position `seed` (every byte value occurs). */
export const pattern = (length: number, seed = 0): Uint8Array => {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (seed + i * 7 + (i >> 8)) & 0xff
  return out
}

/** Whether two byte arrays are equal (faster than a deep equality on large arrays). */
export const equal = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The first index where two byte arrays differ, or -1. */
export const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}
