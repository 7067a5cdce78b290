#!/usr/bin/env bash
# Builds and packs every published package (build-utils pack-v3: ESM, CommonJS and .d.ts in dist/), installs the
# tarballs into a fresh project outside the workspace with npm, then type-checks a consumer against the packed
# declarations (skipLibCheck off) and runs it as ESM and as CommonJS.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pnpm build >/dev/null
mkdir -p "$work/packs"
for pkg in core platform platform-node redis terminal; do
  (cd "packages/$pkg" && pnpm pack --pack-destination "$work/packs" >/dev/null)
done
ls "$work/packs"

# The versions the workspace pins.
versions=$(node -e '
  const root = process.argv[1]
  const pins = Object.assign({}, ...["", "packages/platform/", "packages/redis/"].map((dir) =>
    require(`${root}/${dir}package.json`).devDependencies))
  for (const name of ["effect", "@effect/platform", "@effect/platform-node", "@effect/experimental", "ioredis",
    "typescript", "@types/node"]) console.log(`${name}=${pins[name]}`)
' "$root")
version() { printf '%s\n' "$versions" | sed -n "s|^$1=||p"; }
mkdir "$work/app"
cd "$work/app"
cat > package.json <<JSON
{
  "name": "pack-check",
  "private": true,
  "type": "module",
  "dependencies": {
    "@scrollback/core": "file:$work/packs/scrollback-core-0.1.0.tgz",
    "@scrollback/platform": "file:$work/packs/scrollback-platform-0.1.0.tgz",
    "@scrollback/platform-node": "file:$work/packs/scrollback-platform-node-0.1.0.tgz",
    "@scrollback/redis": "file:$work/packs/scrollback-redis-0.1.0.tgz",
    "@scrollback/terminal": "file:$work/packs/scrollback-terminal-0.1.0.tgz",
    "effect": "$(version effect)",
    "@effect/platform": "$(version @effect/platform)",
    "@effect/platform-node": "$(version @effect/platform-node)",
    "@effect/experimental": "$(version @effect/experimental)",
    "ioredis": "$(version ioredis)",
    "typescript": "$(version typescript)",
    "@types/node": "$(version @types/node)"
  }
}
JSON
npm install --no-audit --no-fund --loglevel=error >/dev/null

cat > consumer.ts <<'TS'
import { ReplayBuffer, ReplayCursor, ReplayRegistry } from "@scrollback/core"
import { ReplayHttp, ReplayProtocol, ReplayStream } from "@scrollback/platform"
import { NodeReplayHttp } from "@scrollback/platform-node"
import { RedisStore } from "@scrollback/redis"
import { Effect, Stream } from "effect"

const program = Effect.gen(function*() {
  const buffer = yield* ReplayBuffer.make({ capacity: 8 })
  yield* buffer.write(new TextEncoder().encode("packed!"))
  yield* buffer.end
  const cursor = yield* ReplayCursor.make(buffer)
  const text = yield* ReplayStream.follow(buffer).pipe(Stream.decodeText(), Stream.mkString)
  return [text, cursor.start, ReplayProtocol.formatPosition({ epoch: buffer.epoch, offset: 7 }).length] as const
})
export const checks = [ReplayRegistry.make, ReplayHttp.routes, NodeReplayHttp.layer, RedisStore.make]
console.log(JSON.stringify(await Effect.runPromise(program)))
TS
# @scrollback/terminal: a real PTY (the binary comes from @lydell/node-pty's platform package, installed by npm
# as an optional dependency), its output in a buffer, keyframes of its screen, and the interactive hook.
cat > terminal.ts <<'TS'
import { ReplayBuffer } from "@scrollback/core"
import { ReplayHttp, ReplayInteractive } from "@scrollback/platform"
import { ReplayPty, TerminalControl, TerminalKeyframes } from "@scrollback/terminal"
import { Effect, Option, Redacted } from "effect"

const program = Effect.gen(function*() {
  const buffer = yield* ReplayBuffer.make({ capacity: 64 * 1024 })
  const keyframes = yield* TerminalKeyframes.make(buffer, { cols: 40, rows: 10, unicodeVersion: "11" })
  const pty = yield* ReplayPty.run(buffer, "sh", ["-c", "printf 'pty %s' $(tput cols)"], { cols: 40, rows: 10 })
  const exit = yield* pty.exit
  yield* buffer.awaitEnd
  const { bytes } = yield* buffer.readFrom(0)
  const control = yield* TerminalControl.make({ authorizeInput: ReplayHttp.accessToken(Redacted.make("t")) })
  yield* control.register("t", { keyframes, pty })
  const state = yield* control.state("t")
  const hook: ReplayInteractive.ReplayInteractive = control
  return [new TextDecoder().decode(bytes), exit.exitCode, Option.isSome(state), typeof hook.open] as const
}).pipe(Effect.scoped)
console.log(JSON.stringify(await Effect.runPromise(program)))
TS
cat > tsconfig.json <<'JSON'
{ "compilerOptions": { "strict": true, "module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2022",
  "noEmit": true, "skipLibCheck": false, "types": ["node"], "exactOptionalPropertyTypes": true } }
JSON
npx tsc -p . 2>&1 | grep -v "node_modules/(effect|@effect|ioredis)/" || true
npx tsc -p . >/dev/null 2>&1 || { echo "the packed declarations do not type-check:"; npx tsc -p . | grep "node_modules/@scrollback\|consumer.ts" ; exit 1; }
npx tsc -p . --noEmit false --outDir out --declaration false >/dev/null 2>&1 || true
esm=$(node out/consumer.js)
terminal=$(node out/terminal.js)
cjs=$(node -e 'const { ReplayBuffer } = require("@scrollback/core"); const { Effect } = require("effect");
  Effect.runPromise(Effect.flatMap(ReplayBuffer.make({ capacity: 4 }), (b) => Effect.as(b.write(new Uint8Array([1, 2])), b.capacity))).then((c) => console.log("cjs", c))')
cjsTerminal=$(node -e 'const { ReplayPty } = require("@scrollback/terminal"); const TerminalKeyframes = require("@scrollback/terminal/TerminalKeyframes");
  const { ReplayBuffer } = require("@scrollback/core"); const { Effect } = require("effect");
  Effect.runPromise(Effect.scoped(Effect.gen(function*() { const b = yield* ReplayBuffer.make(); yield* TerminalKeyframes.make(b);
    const p = yield* ReplayPty.run(b, "sh", ["-c", "printf cjs-pty"]); yield* p.exit; yield* b.awaitEnd;
    return new TextDecoder().decode((yield* b.readFrom(0)).bytes) }))).then((t) => console.log(t))')
echo "esm $esm"; echo "$cjs"; echo "esm terminal $terminal"; echo "cjs terminal $cjsTerminal"
[ "$esm" = '["packed!",0,18]' ] && [ "$cjs" = "cjs 4" ] || { echo "pack check: unexpected output"; exit 1; }
[ "$terminal" = '["pty 40",0,true,"function"]' ] && [ "$cjsTerminal" = "cjs-pty" ] || { echo "pack check: unexpected terminal output"; exit 1; }
echo "pack check: the five packages build, pack, type-check (skipLibCheck off) and run as ESM and CommonJS (a real PTY included)"
