/**
 * `pnpm demo [flags] [-- command args...]`: starts the demo server and keeps
 * it running until Ctrl-C (which stops the producer too).
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Cli from "./Cli.js"
import * as DemoServer from "./DemoServer.js"

const parsed = Cli.parse(process.argv.slice(2))

if (parsed._tag === "Help") {
  process.stdout.write(Cli.usage)
} else if (parsed._tag === "Invalid") {
  process.stderr.write(`scrollback demo: ${parsed.message}\n\n${Cli.usage}`)
  process.exitCode = 2
} else {
  const { options } = parsed
  const program = Effect.gen(function*() {
    const demo = yield* DemoServer.make(options)
    yield* Console.log(`scrollback demo: ${demo.url}`)
    yield* Console.log(`  running: ${demo.commandLine}`)
    yield* Console.log(
      `  buffer "${demo.key}" (${demo.buffer.capacity} bytes), endpoints under ${
        demo.url.slice(0, -1)
      }${DemoServer.PREFIX}/${demo.key}/`
    )
    yield* Console.log(
      "  open the page, reload it, cut the network: the output resumes with no duplicate. Ctrl-C stops."
    )
    yield* demo.exitCode.pipe(
      Effect.matchEffect({
        onSuccess: (code) =>
          Console.log(`producer exited with code ${code}; the page keeps showing its output. Ctrl-C stops.`),
        onFailure: (reason) => Console.error(`producer could not run: ${reason}`)
      })
    )
    return yield* Effect.never
  }).pipe(
    Effect.catchTag("ServeError", (error) =>
      Console.error(
        `scrollback demo: cannot listen on 127.0.0.1:${options.port}: ${String(error.cause)} (try --port 0)`
      ).pipe(Effect.zipRight(Effect.sync(() => process.exitCode = 1)))),
    Effect.scoped,
    Effect.provide(NodeContext.layer)
  )
  NodeRuntime.runMain(program)
}
