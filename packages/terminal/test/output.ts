/**
 * Terminal output for the keyframe tests: what real programs print (colours,
 * progress lines, long wrapped lines, UTF-8 with wide characters, emoji and
 * combining marks) and what full-screen programs draw (the alternate screen,
 * cursor moves, scroll regions, line drawing characters, saved cursors, hidden
 * cursor, mouse and keypad modes). Deterministic for a seed.
 */

/** A small deterministic PRNG (mulberry32). */
export const random = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = [
  "compiling",
  "scrollback",
  "héllo",
  "naïve",
  "Grüße",
  "漢字",
  "한국어",
  "日本語テキスト",
  "🙂",
  "🚀",
  "e\u0301",
  "—",
  "…",
  "→",
  "ok",
  "warning:",
  "error[E0308]:",
  "src/lib.rs:42:7"
]

const sgr = (next: () => number): string => {
  const r = next()
  if (r < 0.15) return "\x1b[0m"
  if (r < 0.35) return `\x1b[${30 + Math.floor(next() * 8)}m`
  if (r < 0.45) return `\x1b[1;${90 + Math.floor(next() * 8)}m`
  if (r < 0.55) return `\x1b[38;5;${16 + Math.floor(next() * 240)}m`
  if (r < 0.65) {
    return `\x1b[38;2;${Math.floor(next() * 256)};${Math.floor(next() * 256)};${Math.floor(next() * 256)}m`
  }
  if (r < 0.72) return `\x1b[${40 + Math.floor(next() * 8)}m`
  if (r < 0.78) return `\x1b[48;5;${16 + Math.floor(next() * 240)}m`
  if (r < 0.84) return "\x1b[4m"
  if (r < 0.88) return "\x1b[3;2m"
  if (r < 0.92) return "\x1b[7m"
  if (r < 0.95) return "\x1b[9m"
  return "\x1b[22;23;24;27;29m"
}

const words = (next: () => number, count: number): string => {
  let out = ""
  for (let i = 0; i < count; i++) {
    if (next() < 0.3) out += sgr(next)
    out += WORDS[Math.floor(next() * WORDS.length)] + " "
  }
  return out
}

/** What a build or a test run prints: coloured lines, progress bars, long lines. */
export const scrolling = (next: () => number): string => {
  const r = next()
  if (r < 0.5) return words(next, 3 + Math.floor(next() * 12)) + "\x1b[0m\r\n"
  if (r < 0.7) {
    // A progress bar redrawn in place.
    let out = ""
    const steps = 2 + Math.floor(next() * 8)
    for (let i = 0; i <= steps; i++) {
      const done = Math.floor((i / steps) * 20)
      out += `\r\x1b[32m[${"#".repeat(done)}${" ".repeat(20 - done)}]\x1b[0m ${Math.floor((i / steps) * 100)}%`
    }
    return out + "\r\n"
  }
  if (r < 0.85) return words(next, 20 + Math.floor(next() * 40)) + "\x1b[0m\r\n" // wraps
  if (r < 0.9) return "\x1b[1A\x1b[2K" + words(next, 4) + "\r\n" // rewrite the previous line
  if (r < 0.95) return "\t" + words(next, 2) + "\t|" + "\r\n"
  return "\x1b]0;title " + Math.floor(next() * 1000) + "\x07" + words(next, 2) + "\r\n"
}

/** One redraw of a full-screen program (in the alternate screen, set up by `fullScreenEnter`). */
export const fullScreenFrame = (next: () => number, cols: number, rows: number): string => {
  let out = "\x1b[H\x1b[0;1;44;97m" + " ".repeat(cols) // a header bar
  out += `\x1b[1;3HUptime ${Math.floor(next() * 100000)}  load ${next().toFixed(2)}\x1b[0m`
  // A box drawn with the DEC line drawing set.
  out += "\x1b[3;2H\x1b(0l" + "q".repeat(cols - 6) + "k\x1b(B"
  for (let row = 4; row < rows - 2; row++) {
    out += `\x1b[${row};2H\x1b(0x\x1b(B`
    if (next() < 0.7) {
      out += sgr(next) + `${String(Math.floor(next() * 99999)).padStart(6)} ${WORDS[Math.floor(next() * WORDS.length)]}`
      out += "\x1b[0m\x1b[K"
    }
    out += `\x1b[${row};${cols - 3}H\x1b(0x\x1b(B`
  }
  out += `\x1b[${rows - 2};2H\x1b(0m` + "q".repeat(cols - 6) + "j\x1b(B"
  // A status line saved and restored around, in a scroll region.
  out += `\x1b7\x1b[${rows};1H\x1b[7m status ${Math.floor(next() * 1000)} \x1b[0m\x1b8`
  if (next() < 0.3) out += `\x1b[4;${rows - 3}r\x1b[${rows - 3};1H\r\n\x1b[r` // scroll the list
  return out
}

export const fullScreenEnter =
  "\x1b[?1049h\x1b[22;0;0t\x1b[?1h\x1b=\x1b[?25l\x1b[?1000h\x1b[?1006h\x1b[?2004h\x1b[H\x1b[2J"
export const fullScreenLeave = "\x1b[?2004l\x1b[?1006l\x1b[?1000l\x1b[?25h\x1b[?1l\x1b>\x1b[?1049l\x1b[23;0;0t"

/**
 * A log of about `size` bytes: scrolling output, then (with `fullScreen`) a
 * full-screen program that is still running at the end. Returns the bytes.
 */
export const makeLog = (
  seed: number,
  size: number,
  options: { readonly cols: number; readonly rows: number; readonly fullScreen: boolean }
): Uint8Array => {
  const next = random(seed)
  const encoder = new TextEncoder()
  const parts: Array<Uint8Array> = []
  let length = 0
  const push = (text: string) => {
    const bytes = encoder.encode(text)
    parts.push(bytes)
    length += bytes.length
  }
  const scrollingPart = options.fullScreen ? size * 0.7 : size
  while (length < scrollingPart) push(scrolling(next))
  if (options.fullScreen) {
    // A full-screen session that ends, a few lines of shell, then one that is still running.
    push(fullScreenEnter)
    for (let i = 0; i < 5; i++) push(fullScreenFrame(next, options.cols, options.rows))
    push(fullScreenLeave)
    push("$ top\r\n")
    push(fullScreenEnter)
    while (length < size) push(fullScreenFrame(next, options.cols, options.rows))
  }
  const out = new Uint8Array(length)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}
