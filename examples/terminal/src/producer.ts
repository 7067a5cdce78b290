/**
 * The demo's built-in producer: a fake build that prints what terminal
 * programs print: colours, `\r` progress bars redrawn in place, UTF-8 (✓, →,
 * CJK, emoji, sometimes split across two writes), and long lines that wrap.
 *
 * It runs as a child process of the demo server (so it is captured exactly as
 * any other command is) and writes to stdout at a modest, fixed pace. The
 * output is deterministic: the same flags always print the same bytes.
 *
 * Flags: `--interval MS` between writes (default 120), `--tasks N` tasks
 * before exiting (default 0: forever), `--exit-code N` when done (default 0).
 *
 * @since 0.1.0
 */
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: {
    interval: { type: "string", default: "120" },
    tasks: { type: "string", default: "0" },
    "exit-code": { type: "string", default: "0" }
  }
})

const intervalMs = Number(values.interval)
const tasks = Number(values.tasks)
const exitCode = Number(values["exit-code"])
if (![intervalMs, tasks, exitCode].every((n) => Number.isSafeInteger(n) && n >= 0)) {
  process.stderr.write("producer: --interval, --tasks and --exit-code take non-negative integers\n")
  process.exit(2)
}

const encoder = new TextEncoder()
const esc = (codes: string) => `\x1b[${codes}m`
const reset = esc("0")
const dim = (s: string) => `${esc("2")}${s}${reset}`
const bold = (s: string) => `${esc("1")}${s}${reset}`
const colour = (code: number, s: string) => `${esc(String(code))}${s}${reset}`

const packages = ["core", "platform", "registry", "http", "client", "terminal", "metrics", "bench"] as const
const verbs = ["compiling", "linking", "testing", "bundling", "checking"] as const
const greetings = ["完成", "完了", "완료", "готово", "fertig", "terminé"] as const
const emoji = ["🎉", "🚀", "✨", "📦", "🧪", "🌈"] as const
const spinner = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
const barWidth = 30

const bar = (percent: number) => {
  const filled = Math.round((percent / 100) * barWidth)
  return `${colour(32, "█".repeat(filled))}${dim("░".repeat(barWidth - filled))}`
}

/** One write = one `process.stdout.write`; the pause comes after it. */
type Step = string | Uint8Array

function* task(n: number): Generator<Step> {
  const name = packages[n % packages.length]
  const verb = verbs[n % verbs.length]
  const id = String(n).padStart(4, "0")
  yield `${bold(colour(36, "→"))} ${dim(`[${id}]`)} ${verb} ${bold(`packages/${name}`)}\n`
  const steps = 8 + (n % 5)
  for (let i = 0; i <= steps; i++) {
    const percent = Math.round((i / steps) * 100)
    // Redraw the same line: carriage return, then the new state.
    yield `\r  ${bar(percent)} ${String(percent).padStart(3)}% ${colour(33, spinner[i % spinner.length])} `
  }
  // A multi-byte character split across two writes: the page must join them.
  const word = encoder.encode(greetings[n % greetings.length])
  yield encoder.encode(
    `\r\x1b[2K  ${colour(32, "✓")} ${name} ${verb.replace(/ing$/, "ed")} in ${(steps * 0.13).toFixed(2)}s — `
  )
  yield word.subarray(0, 2)
  yield word.subarray(2)
  yield ` ${emoji[n % emoji.length]}\n`
  if (n % 4 === 3) {
    const words = Array.from(
      { length: 24 },
      (_, i) => `${packages[(n + i) % packages.length]}:${(n * 31 + i * 7) % 997}`
    )
    yield `${dim("  note: a long line that wraps in the browser terminal —")} ${words.join(" ")}\n`
  }
  if (n % 6 === 5) {
    yield colour(35, `  ⚠ ${name}: 3 warnings (ﾟдﾟ) — see above\n`)
  }
}

const write = (step: Step) =>
  new Promise<void>((resolve, reject) => {
    process.stdout.write(step, (error) => error ? reject(error) : resolve())
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const main = async () => {
  await write(`${bold("scrollback demo producer")} ${dim(`(pid ${process.pid}, a write every ${intervalMs} ms)`)}\n`)
  for (let n = 1; tasks === 0 || n <= tasks; n++) {
    for (const step of task(n)) {
      await write(step)
      await sleep(intervalMs)
    }
  }
  await write(`${colour(32, "✓")} all ${tasks} tasks done\n`)
  process.exitCode = exitCode
}

// A closed pipe (the server went away) ends the producer quietly.
process.stdout.on("error", () => process.exit(0))
main().catch(() => process.exit(1))
