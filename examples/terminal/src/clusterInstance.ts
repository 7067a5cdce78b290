/**
 * One server process of the demo's cluster mode, started by `src/cluster.ts`
 * with its configuration in `SCROLLBACK_CLUSTER_INSTANCE` (JSON). It prints
 * one JSON line per event on stdout for the supervisor — `{"ready":{…}}`
 * once it serves, `{"producerExited":…}` when its producer exits, or
 * `{"failed":"…"}` if it cannot start (exit code 1) — and runs until SIGINT
 * or SIGTERM, or until its stdin closes (the supervisor is gone).
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as ClusterMode from "./ClusterMode.js"

const tell = (message: Record<string, unknown>) =>
  Effect.sync(() => process.stdout.write(JSON.stringify(message) + "\n"))

const config = JSON.parse(process.env[ClusterMode.INSTANCE_ENV] ?? "null") as ClusterMode.InstanceConfig | null

const program = Effect.gen(function*() {
  if (config === null) {
    return yield* Effect.fail(`${ClusterMode.INSTANCE_ENV} is not set: start it with pnpm demo:cluster`)
  }
  const demo = yield* ClusterMode.instance(config)
  yield* tell({ ready: { url: demo.url, port: demo.port, commandLine: demo.commandLine, epoch: demo.buffer.epoch } })
  yield* demo.exitCode.pipe(
    Effect.matchEffect({
      onSuccess: (code) => tell({ producerExited: code }),
      onFailure: (reason) => tell({ producerFailed: reason })
    }),
    Effect.forkScoped
  )
  return yield* Effect.never
}).pipe(
  Effect.catchAllCause((cause) =>
    Cause.isInterruptedOnly(cause) ? Effect.void : tell({ failed: messageOf(cause) }).pipe(
      Effect.zipRight(Effect.sync(() => process.exitCode = 1))
    )
  ),
  Effect.scoped,
  Effect.provide(NodeContext.layer)
)

function messageOf(cause: Cause.Cause<unknown>): string {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

// The supervisor holds our stdin: when it closes, the supervisor is gone, and so are we (finalizers run).
process.stdin.on("close", () => process.kill(process.pid, "SIGTERM"))
process.stdin.resume()

NodeRuntime.runMain(program)
