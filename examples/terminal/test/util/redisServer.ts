/**
 * A real `redis-server` (Debian's, installed by scripts/setup.sh) for the
 * cluster mode's test: a free port on 127.0.0.1, a temporary directory, no
 * persistence; killed and the directory removed when the scope closes.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
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

/** Starts redis-server; its URL. */
export const make: Effect.Effect<string, Error, Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-demo-redis-"))
      let log = ""
      for (let attempt = 0; attempt < 5; attempt++) {
        const port = await freePort()
        const child = spawn("redis-server", [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--dir",
          dir,
          "--save",
          "",
          "--appendonly",
          "no",
          "--protected-mode",
          "no"
        ], { stdio: ["ignore", "pipe", "pipe"] })
        child.on("error", (error) => (log += String(error)))
        child.stdout!.on("data", (d) => (log += d))
        child.stderr!.on("data", (d) => (log += d))
        const deadline = Date.now() + 10_000
        while (Date.now() < deadline && child.exitCode === null) {
          if (await ping(port)) return { child, dir, url: `redis://127.0.0.1:${port}` }
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        child.kill("SIGKILL")
        await exited(child)
        if (!log.includes("Address already in use")) break
      }
      fs.rmSync(dir, { recursive: true, force: true })
      throw new Error(`redis-server did not start (install it with apt-get install -y redis-server): ${log}`)
    },
    catch: (error) => error instanceof Error ? error : new Error(String(error))
  }),
  ({ child, dir }) =>
    Effect.promise(async () => {
      child.kill("SIGKILL")
      await exited(child)
      fs.rmSync(dir, { recursive: true, force: true })
    })
).pipe(Effect.map(({ url }) => url))
