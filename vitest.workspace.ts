import { defineWorkspace } from "vitest/config"

// One project per package and example; each vitest.config.ts merges vitest.shared.ts.
export default defineWorkspace(["packages/*/vitest.config.ts", "examples/*/vitest.config.ts"])
