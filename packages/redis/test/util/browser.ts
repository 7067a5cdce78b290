/**
 * Debian's chromium (`/usr/bin/chromium`, installed by scripts/setup.sh)
 * driven by playwright-core, with a fresh profile in a temporary directory;
 * closed and the profile removed when the scope closes. Missing chromium
 * fails the test: it never skips.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type BrowserContext, chromium } from "playwright-core"

const CHROMIUM = "/usr/bin/chromium"

export const make: Effect.Effect<BrowserContext, Error, Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: async () => {
      if (!fs.existsSync(CHROMIUM)) {
        throw new Error(`${CHROMIUM} is missing: install it with apt-get install -y chromium (scripts/setup.sh)`)
      }
      const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "scrollback-chromium-"))
      try {
        const context = await chromium.launchPersistentContext(userDataDir, {
          executablePath: CHROMIUM,
          headless: true,
          args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic"
          ]
        })
        return { context, userDataDir }
      } catch (error) {
        fs.rmSync(userDataDir, { recursive: true, force: true })
        throw error
      }
    },
    catch: (cause) => new Error(`chromium did not start: ${String(cause)}`)
  }),
  ({ context, userDataDir }) =>
    Effect.promise(async () => {
      await context.close().catch(() => {})
      fs.rmSync(userDataDir, { recursive: true, force: true })
    })
).pipe(Effect.map(({ context }) => context))
