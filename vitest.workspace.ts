import { defineWorkspace } from "vitest/config"

// One project per package, example and tool with tests; each vitest.config.ts merges vitest.shared.ts.
export default defineWorkspace(["packages/*/vitest.config.ts", "examples/*/vitest.config.ts", "tools/*/vitest.config.ts"])
