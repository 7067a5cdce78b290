/**
 * The SSE data events of one data step as a string, for a connection that
 * reads through a cursor of its own (a replay catching up): the same events,
 * byte for byte, as `ReplayProtocol.sseDataEvents`, without copying the
 * base64 into a fresh array per step. Node writes a string by encoding it
 * into the socket's write request (in C++), so the base64 text is copied
 * once instead of twice, and no large array is allocated (and faulted in)
 * per step. The hub's shared live path keeps the array: it is encoded once
 * and written to every caught-up connection.
 *
 * The string is ASCII (the epoch is checked by the protocol, offsets are
 * digits, base64 is ASCII): written as latin1, its byte length is its length.
 *
 * @internal
 */
import type * as ReplayCursor from "@scrollback/core/ReplayCursor"
import * as ReplayProtocol from "@scrollback/platform/ReplayProtocol"

const MAX_EVENT_BYTES = ReplayProtocol.MAX_EVENT_BYTES

/** Where an event whose bytes span several views is joined before its base64 (reused: the string is a copy). */
let scratch: Buffer | undefined = undefined

const viewOf = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** The base64 of the concatenation of `views` (`length` bytes in all, at most `MAX_EVENT_BYTES`). */
const base64Of = (views: ReadonlyArray<Uint8Array>, length: number): string => {
  if (views.length === 1) return viewOf(views[0]).toString("base64")
  scratch ??= Buffer.allocUnsafe(MAX_EVENT_BYTES)
  let at = 0
  for (const view of views) {
    scratch.set(view, at)
    at += view.length
  }
  if (at !== length) throw new Error(`scrollback: joined ${at} of ${length} bytes`)
  return scratch.toString("base64", 0, length)
}

/**
 * The data events of `step` (events of at most `MAX_EVENT_BYTES`, each `id: EPOCH:NEXT`), one ASCII string each:
 * not joined, since Node flattens a string it writes (a joined step would be one more large copy).
 */
export const sseDataText = (epoch: string, step: ReplayCursor.Data): Array<string> => {
  const text: Array<string> = []
  let views: Array<Uint8Array> = []
  let length = 0
  let next = step.offset
  for (const chunk of step.chunks) {
    let bytes = chunk
    while (bytes.length > 0) {
      const take = Math.min(bytes.length, MAX_EVENT_BYTES - length)
      views.push(take === bytes.length ? bytes : bytes.subarray(0, take))
      length += take
      next += take
      bytes = bytes.subarray(take)
      if (length === MAX_EVENT_BYTES) {
        text.push(`id: ${epoch}:${next}\ndata: ${base64Of(views, length)}\n\n`)
        views = []
        length = 0
      }
    }
  }
  if (length > 0) text.push(`id: ${epoch}:${next}\ndata: ${base64Of(views, length)}\n\n`)
  if (next !== step.next) {
    throw new Error(`scrollback: a data step of ${step.next - step.offset} bytes held ${next - step.offset}`)
  }
  return text
}
