/**
 * Server instances in child processes (`httpInstance.ts`), for tests and
 * benchmarks: each is started in the current scope and killed (SIGKILL, then
 * waited for) when the scope closes, also when a test fails. A child also
 * exits by itself when its stdin closes, so none outlives its parent.
 */
import { Deferred, Effect } from "effect"
import type { Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export interface InstanceOptions {
  /** Redis URL (ignored by the in-memory engine). */
  readonly redisUrl?: string | undefined
  /** `"redis"` (default): a RedisRegistry; `"memory"`: core's in-memory registry. */
  readonly engine?: "redis" | "memory" | undefined
  /** `"node"` (default): NodeReplayHttp; `"portable"`: ReplayHttp.serve on NodeHttpServer. */
  readonly server?: "node" | "portable" | undefined
  /** Serve `GET /page` (a stock EventSource page) too. */
  readonly page?: boolean | undefined
  readonly sseRetryMs?: number | undefined
  /** More environment: `SCROLLBACK_REDIS_*` options. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** A name in error messages. */
  readonly name?: string | undefined
}

export interface Reply {
  readonly id: number
  readonly ok: boolean
  readonly error?: string
  readonly total?: number
  readonly epoch?: string
}

export interface Instance {
  readonly name: string
  readonly port: number
  readonly pid: number
  /** `http://127.0.0.1:{port}{path}` */
  readonly url: (path: string) => string
  /** Sends a command and waits for its reply; a refused command fails with its error. */
  readonly command: (command: Record<string, unknown>) => Effect.Effect<Reply, Error>
  /** Sends a command and gives back a Deferred of its reply, to await later. */
  readonly send: (command: Record<string, unknown>) => Effect.Effect<Deferred.Deferred<Reply, Error>>
  /** SIGKILL, and waits until the process is gone. */
  readonly kill9: Effect.Effect<void>
  readonly alive: () => boolean
}

const script = fileURLToPath(new URL("./httpInstance.ts", import.meta.url))
const cwd = fileURLToPath(new URL("../..", import.meta.url))

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

const killAndWait = (child: ChildProcess) =>
  Effect.promise(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    return exited(child)
  })

export const spawnInstance = (options: InstanceOptions = {}): Effect.Effect<Instance, never, Scope.Scope> =>
  Effect.gen(function*() {
    const name = options.name ?? "instance"
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", script], {
          cwd,
          env: {
            ...process.env,
            ...(options.redisUrl !== undefined ? { SCROLLBACK_REDIS_URL: options.redisUrl } : {}),
            INSTANCE_ENGINE: options.engine ?? "redis",
            INSTANCE_SERVER: options.server ?? "node",
            INSTANCE_PAGE: options.page === true ? "1" : "0",
            INSTANCE_SSE_RETRY_MS: String(options.sseRetryMs ?? 1000),
            ...options.env
          },
          stdio: ["pipe", "pipe", "pipe"]
        })
      ),
      killAndWait
    )
    let stderr = ""
    child.stderr!.on("data", (d) => {
      stderr += d
      if (stderr.length > 20_000) stderr = stderr.slice(-10_000)
    })
    child.stdin!.on("error", () => {})
    const pending = new Map<number, Deferred.Deferred<Reply, Error>>()
    const listening = yield* Deferred.make<number, Error>()
    let buffered = ""
    child.stdout!.on("data", (d) => {
      buffered += d
      let at: number
      while ((at = buffered.indexOf("\n")) !== -1) {
        const line = buffered.slice(0, at)
        buffered = buffered.slice(at + 1)
        let message: Record<string, unknown>
        try {
          message = JSON.parse(line)
        } catch {
          continue
        }
        if (typeof message.listening === "number") {
          Deferred.unsafeDone(listening, Effect.succeed(message.listening))
          continue
        }
        const reply = message as unknown as Reply
        const waiter = pending.get(reply.id)
        if (waiter === undefined) continue
        pending.delete(reply.id)
        Deferred.unsafeDone(
          waiter,
          reply.ok ? Effect.succeed(reply) : Effect.fail(new Error(`${name}: ${reply.error}`))
        )
      }
    })
    child.once("exit", (code, signal) => {
      const error = new Error(`${name} exited (${code ?? signal}): ${stderr}`)
      Deferred.unsafeDone(listening, Effect.fail(error))
      for (const waiter of pending.values()) Deferred.unsafeDone(waiter, Effect.fail(error))
      pending.clear()
    })
    const port = yield* Deferred.await(listening).pipe(
      Effect.timeoutFail({
        duration: "60 seconds",
        onTimeout: () => new Error(`${name} did not start listening: ${stderr}`)
      }),
      Effect.orDie
    )
    let nextId = 0
    const send = (command: Record<string, unknown>) =>
      Effect.gen(function*() {
        const id = nextId++
        const waiter = yield* Deferred.make<Reply, Error>()
        if (child.exitCode !== null || child.signalCode !== null) {
          yield* Deferred.fail(waiter, new Error(`${name} is not running: ${stderr}`))
          return waiter
        }
        pending.set(id, waiter)
        child.stdin!.write(JSON.stringify({ ...command, id }) + "\n")
        return waiter
      })
    return {
      name,
      port,
      pid: child.pid!,
      url: (path: string) => `http://127.0.0.1:${port}${path}`,
      send,
      command: (command) => Effect.flatMap(send(command), Deferred.await),
      kill9: killAndWait(child),
      alive: () => child.exitCode === null && child.signalCode === null
    }
  })
