import { assert, describe, it } from "@effect/vitest"
import * as Cli from "../src/Cli.js"
import * as DemoServer from "../src/DemoServer.js"

const run = (argv: ReadonlyArray<string>) => {
  const parsed = Cli.parse(argv)
  assert.strictEqual(parsed._tag, "Run", JSON.stringify(parsed))
  return parsed._tag === "Run" ? parsed.options : undefined
}

const invalid = (argv: ReadonlyArray<string>) => {
  const parsed = Cli.parse(argv)
  assert.strictEqual(parsed._tag, "Invalid", JSON.stringify(parsed))
  return parsed._tag === "Invalid" ? parsed.message : ""
}

describe("Cli.parse", () => {
  it("defaults: port 7681, key terminal, 1 MiB, the built-in producer forever", () => {
    assert.deepStrictEqual(run([]), {
      port: 7681,
      key: "terminal",
      capacity: 1_048_576,
      producer: { _tag: "BuiltIn", intervalMs: 120, tasks: 0 }
    })
    assert.strictEqual(DemoServer.DEFAULT_PORT, 7681)
  })

  it("flags", () => {
    assert.deepStrictEqual(
      run(["--port", "0", "--key", "build.log", "--capacity", "4096", "--interval", "5", "--tasks", "3"]),
      {
        port: 0,
        key: "build.log",
        capacity: 4096,
        producer: { _tag: "BuiltIn", intervalMs: 5, tasks: 3 }
      }
    )
    assert.strictEqual(run(["--port=8080"])?.port, 8080)
  })

  it("everything after -- is the command, verbatim", () => {
    assert.deepStrictEqual(run(["--port", "0", "--", "sh", "-c", "echo --port 1 -- x"])?.producer, {
      _tag: "Command",
      command: "sh",
      args: ["-c", "echo --port 1 -- x"]
    })
    assert.deepStrictEqual(run(["--", "ls", "--", "-l"])?.producer, {
      _tag: "Command",
      command: "ls",
      args: ["--", "-l"]
    })
  })

  it("a leading -- before flags (pnpm demo -- --port 8080) is not a command", () => {
    assert.strictEqual(run(["--", "--port", "8080"])?.port, 8080)
    assert.deepStrictEqual(run(["--", "--port", "8080", "--", "top"])?.producer, {
      _tag: "Command",
      command: "top",
      args: []
    })
  })

  it("help", () => {
    assert.deepStrictEqual(Cli.parse(["--help"]), { _tag: "Help" })
    assert.deepStrictEqual(Cli.parse(["-h"]), { _tag: "Help" })
    assert.include(Cli.usage, "--port N")
  })

  it("invalid input is refused with a message, never replaced by a default", () => {
    assert.include(invalid(["--port", "http"]), "--port must be an integer from 0 to 65535")
    assert.include(invalid(["--port", "65536"]), "--port must be an integer")
    assert.include(invalid(["--port", "-1"]), "--port")
    assert.include(invalid(["--capacity", "0"]), "--capacity must be an integer from 1")
    assert.include(invalid(["--capacity", "1.5"]), "--capacity")
    assert.include(invalid(["--interval", "1e3"]), "--interval")
    assert.include(invalid(["--key", "a/b"]), "--key must be 1..128 characters")
    assert.include(invalid(["--key", "x".repeat(129)]), "--key")
    assert.include(invalid(["--nope"]), "nope")
    assert.include(invalid(["positional"]), "positional")
    assert.include(invalid(["--"]), "a command is expected after --")
    assert.include(invalid(["--tasks", "3", "--", "ls"]), "built-in producer")
  })
})
