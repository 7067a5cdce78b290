/**
 * A real `redis-server` process for tests: its own free port on 127.0.0.1
 * and its own temporary directory, stopped (and the directory removed) when
 * the scope closes. It can be restarted with or without persistence, killed
 * with SIGKILL, or frozen with SIGSTOP to play a server that stopped
 * answering.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { Redis } from "ioredis"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export interface StartOptions {
  /** `"aof"`: append-only file with `appendfsync always`; `"none"` (default): nothing survives a restart. */
  readonly persistence?: "none" | "aof"
}

export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly dir: string
  /** A one-off admin command on a fresh connection (binary replies as Buffers). */
  readonly command: (name: string, ...args: Array<string | number | Buffer>) => Effect.Effect<unknown>
  /** SIGKILL: the process dies at once, nothing is flushed. */
  readonly kill9: Effect.Effect<void>
  /** Starts the server again on the same port and directory (after `kill9`/`stop`). */
  readonly start: (options?: StartOptions) => Effect.Effect<void>
  readonly stop: Effect.Effect<void>
  /** SIGSTOP / SIGCONT: the server keeps its sockets open and stops answering. */
  readonly freeze: Effect.Effect<void>
  readonly thaw: Effect.Effect<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

const ping = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" })
    let data = ""
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("error", () => done(false))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.on("data", (chunk) => {
      data += chunk.toString()
      if (data.includes("\r\n")) done(data.startsWith("+PONG"))
    })
  })

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

export const make = (options: StartOptions = {}): Effect.Effect<RedisServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-redis-"))
    let port = 0
    let child: ChildProcess | undefined
    let log = ""

    const launch = async (start: StartOptions) => {
      const aof = start.persistence === "aof"
      for (let attempt = 0; attempt < 5; attempt++) {
        if (port === 0 || attempt > 0) port = await freePort()
        log = ""
        const proc = spawn("redis-server", [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--dir",
          dir,
          "--save",
          "",
          "--appendonly",
          aof ? "yes" : "no",
          "--appendfsync",
          "always",
          "--daemonize",
          "no",
          "--protected-mode",
          "no",
          "--maxmemory-policy",
          "noeviction"
        ], { stdio: ["ignore", "pipe", "pipe"] })
        proc.stdout!.on("data", (d) => (log += d.toString()))
        proc.stderr!.on("data", (d) => (log += d.toString()))
        child = proc
        const deadline = Date.now() + 10_000
        while (Date.now() < deadline && proc.exitCode === null) {
          if (await ping(port)) return
          await new Promise((r) => setTimeout(r, 20))
        }
        proc.kill("SIGKILL")
        await exited(proc)
        if (!log.includes("Address already in use")) break
      }
      throw new Error(`redis-server did not start on port ${port}:\n${log}`)
    }

    const stopChild = async (signal: NodeJS.Signals) => {
      const proc = child
      if (proc === undefined) return
      child = undefined
      proc.kill("SIGCONT")
      proc.kill(signal)
      await exited(proc)
    }

    yield* Effect.acquireRelease(
      Effect.promise(() => launch(options)),
      () =>
        Effect.promise(async () => {
          child?.kill("SIGCONT")
          await stopChild("SIGKILL")
          fs.rmSync(dir, { recursive: true, force: true })
        })
    )

    const server: RedisServer = {
      get port() {
        return port
      },
      get url() {
        return `redis://127.0.0.1:${port}`
      },
      dir,
      command: (name, ...args) =>
        Effect.promise(async () => {
          const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 })
          client.on("error", () => {})
          try {
            await client.connect()
            return await client.callBuffer(name, ...args)
          } finally {
            client.disconnect()
          }
        }),
      kill9: Effect.promise(() => stopChild("SIGKILL")),
      stop: Effect.promise(() => stopChild("SIGTERM")),
      start: (start = {}) => Effect.promise(() => launch(start)),
      freeze: Effect.sync(() => void child?.kill("SIGSTOP")),
      thaw: Effect.sync(() => void child?.kill("SIGCONT"))
    }
    return server
  })
