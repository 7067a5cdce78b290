// Type-checks every ```ts block of the READMEs (blocks marked ```ts signatures are API listings and are skipped).
// Each README's blocks compile inside a package that has their dependencies: a package's own README in that
// package, the root README in packages/platform, an example's README in the example.
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")
const readmes = [
  ["README.md", "packages/platform"],
  ...Fs.readdirSync(Path.join(root, "packages")).map((name) => [`packages/${name}/README.md`, `packages/${name}`]),
  ...Fs.readdirSync(Path.join(root, "examples")).map((name) => [`examples/${name}/README.md`, `examples/${name}`])
].filter(([readme]) => Fs.existsSync(Path.join(root, readme)))

let failed = false
let total = 0
for (const [readme, home] of readmes) {
  const text = Fs.readFileSync(Path.join(root, readme), "utf8")
  const blocks = [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1])
  if (blocks.length === 0) continue
  const dir = Path.join(root, home, ".readme-examples")
  Fs.rmSync(dir, { recursive: true, force: true })
  Fs.mkdirSync(dir)
  blocks.forEach((block, i) => {
    // Each block is a module of its own (its names do not clash with the other blocks').
    Fs.writeFileSync(Path.join(dir, `block${i + 1}.ts`), `${block}\nexport {}\n`)
  })
  Fs.writeFileSync(
    Path.join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: Path.relative(dir, Path.join(root, "tsconfig.base.json")),
      include: ["*.ts"],
      compilerOptions: { noEmit: true, composite: false, incremental: false, noUnusedLocals: false, types: ["node"] }
    })
  )
  total += blocks.length
  try {
    execFileSync(Path.join(root, "node_modules/.bin/tsc"), ["-p", dir], { stdio: "pipe" })
    console.log(`${readme}: ${blocks.length} example(s) compile`)
  } catch (error) {
    failed = true
    console.error(`${readme}: examples do not compile:\n${error.stdout}`)
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}
console.log(`${total} README example(s) checked`)
process.exit(failed ? 1 : 0)
