/**
 * The demo's command line: `pnpm demo [flags] [-- command args...]`.
 *
 * @since 0.1.0
 */
import { isValidKey } from "@scrollback/core/ReplayRegistry"
import { parseArgs } from "node:util"
import * as DemoServer from "./DemoServer.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Parsed =
  | { readonly _tag: "Run"; readonly options: DemoServer.Options }
  | { readonly _tag: "Help" }
  | { readonly _tag: "Invalid"; readonly message: string }

/**
 * @since 0.1.0
 * @category constants
 */
export const usage = `Usage: pnpm demo [flags] [-- command [args...]]

Runs a command, keeps its output (stdout and stderr, merged) in a scrollback
replay buffer, and serves a page on http://127.0.0.1:PORT/ that shows it in a
browser terminal: it replays what is retained, follows live output, and
resumes after a reload or a network drop with no duplicate.

Without a command, runs the built-in producer (a fake build with colours,
\\r progress bars, UTF-8 and long lines).

Flags:
  --port N          port on 127.0.0.1 (default ${DemoServer.DEFAULT_PORT}; 0 = any free port)
  --key K           the buffer's key in URLs (default "${DemoServer.DEFAULT_KEY}"; 1..128 of [A-Za-z0-9._~-])
  --capacity BYTES  bytes the buffer retains (default ${DemoServer.DEFAULT_CAPACITY}, 1 MiB)
  --interval MS     built-in producer: pause after each write (default ${DemoServer.DEFAULT_INTERVAL_MS})
  --tasks N         built-in producer: tasks before it exits (default 0: forever)
  -h, --help        this text

Examples:
  pnpm demo
  pnpm demo --port 8080 --capacity 65536
  pnpm demo -- sh -c 'for i in $(seq 100); do echo "line $i"; sleep 0.2; done'
`

const integer = (name: string, value: string | undefined, min: number, max: number): number | string => {
  if (value === undefined) return `--${name} needs a value`
  const n = Number(value)
  return /^\d+$/.test(value) && Number.isSafeInteger(n) && n >= min && n <= max
    ? n
    : `--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`
}

/**
 * Parses the arguments after the script name. Everything after the first
 * `--` is the command to run (verbatim, no shell).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (input: ReadonlyArray<string>): Parsed => {
  // `pnpm demo -- --port 8080` passes the `--` on: a leading `--` before flags is not a command.
  const argv = input[0] === "--" && input[1]?.startsWith("-") ? input.slice(1) : input
  const separator = argv.indexOf("--")
  const flags = separator === -1 ? argv : argv.slice(0, separator)
  const command = separator === -1 ? undefined : argv.slice(separator + 1)
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: [...flags],
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string" },
        key: { type: "string" },
        capacity: { type: "string" },
        interval: { type: "string" },
        tasks: { type: "string" },
        help: { type: "boolean", short: "h" }
      }
    }).values
  } catch (error) {
    return { _tag: "Invalid", message: error instanceof Error ? error.message : String(error) }
  }
  if (values.help === true) return { _tag: "Help" }
  const str = (name: string) => values[name] as string | undefined
  const port = str("port") === undefined ? DemoServer.DEFAULT_PORT : integer("port", str("port"), 0, 65535)
  const capacity = str("capacity") === undefined
    ? DemoServer.DEFAULT_CAPACITY
    : integer("capacity", str("capacity"), 1, Number.MAX_SAFE_INTEGER)
  const interval = str("interval") === undefined
    ? DemoServer.DEFAULT_INTERVAL_MS
    : integer("interval", str("interval"), 0, 3_600_000)
  const tasks = str("tasks") === undefined ? 0 : integer("tasks", str("tasks"), 0, Number.MAX_SAFE_INTEGER)
  for (const value of [port, capacity, interval, tasks]) {
    if (typeof value === "string") return { _tag: "Invalid", message: value }
  }
  const key = str("key") ?? DemoServer.DEFAULT_KEY
  if (!isValidKey(key)) {
    return {
      _tag: "Invalid",
      message: `--key must be 1..128 characters of [A-Za-z0-9._~-], got ${JSON.stringify(key)}`
    }
  }
  if (command !== undefined && command.length === 0) {
    return { _tag: "Invalid", message: "a command is expected after --" }
  }
  if (command !== undefined && (str("interval") !== undefined || str("tasks") !== undefined)) {
    return { _tag: "Invalid", message: "--interval and --tasks apply to the built-in producer, not to a command" }
  }
  return {
    _tag: "Run",
    options: {
      port: port as number,
      key,
      capacity: capacity as number,
      producer: command === undefined
        ? { _tag: "BuiltIn", intervalMs: interval as number, tasks: tasks as number }
        : { _tag: "Command", command: command[0], args: command.slice(1) }
    }
  }
}
