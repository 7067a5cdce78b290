// Fails when a package's source has a runtime import cycle (type-only imports are skipped, as in the Effect
// monorepo's own check), and when packages/platform/src imports a Node built-in (platform is runtime-agnostic).
import madge from "madge"
import * as Fs from "node:fs"
import * as Path from "node:path"

const roots = ["packages"].flatMap((dir) =>
  Fs.readdirSync(dir).map((name) => Path.join(dir, name, "src")).filter((src) => Fs.existsSync(src))
)

let failed = false
for (const src of roots) {
  const result = await madge(src, {
    fileExtensions: ["ts"],
    detectiveOptions: { ts: { skipTypeImports: true } }
  })
  const cycles = result.circular()
  if (cycles.length > 0) {
    failed = true
    console.error(`${src}: ${cycles.length} runtime import cycle(s):`)
    for (const cycle of cycles) console.error(`  ${cycle.join(" -> ")}`)
  } else {
    console.log(`${src}: no runtime import cycle (${Object.keys(result.obj()).length} modules)`)
  }
}

// Node built-ins have no place in a runtime-agnostic package.
const agnostic = ["packages/core/src", "packages/platform/src"]
for (const src of agnostic) {
  for (const file of Fs.readdirSync(src, { recursive: true })) {
    if (!String(file).endsWith(".ts")) continue
    const text = Fs.readFileSync(Path.join(src, String(file)), "utf8")
    // Import statements only (they start at column 0; an `@example` in a doc comment may show Node code).
    const found = text.match(/^(?:(?:import|export)\b.*|\}) from "node:[^"]+"|^import "node:[^"]+"/gm)
    if (found !== null) {
      failed = true
      console.error(`${Path.join(src, String(file))} imports Node built-ins: ${found.join(", ")}`)
    }
  }
}

process.exit(failed ? 1 : 0)
