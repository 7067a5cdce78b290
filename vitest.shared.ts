import * as path from "node:path"
import type { UserConfig } from "vitest/config"

const config: UserConfig = {
  esbuild: {
    target: "es2022"
  },
  test: {
    setupFiles: [path.join(__dirname, "vitest.setup.ts")],
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
}

export default config
