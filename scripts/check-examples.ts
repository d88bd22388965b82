/**
 * Type-checks every example in the JSDoc of `src/`, the README and docs/: each ```ts block becomes a
 * module under `.examples/` (git-ignored) importing the package by its public
 * name, and `tsc` checks them all. Run by `npm test` and `npm run typecheck`.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const out = path.join(root, ".examples")
fs.rmSync(out, { recursive: true, force: true })
fs.mkdirSync(out, { recursive: true })

const files = fs.readdirSync(path.join(root, "src"), { recursive: true, encoding: "utf8" })
  .filter((file) => file.endsWith(".ts"))
let count = 0
for (const file of files) {
  const text = fs.readFileSync(path.join(root, "src", file), "utf8")
  const blocks = text.matchAll(/```ts\n([\s\S]*?)```/g)
  let n = 0
  for (const [, block] of blocks) {
    const code = block!.split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n")
    const name = `${file.replace(/[/\\]/g, "_").replace(/\.ts$/, "")}_${++n}.ts`
    // Each example is its own module, so top-level names never collide.
    fs.writeFileSync(path.join(out, name), `${code}\nexport {}\n`)
    count++
  }
}
// The README's examples are part of the documentation too.
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
let r = 0
for (const [, block] of readme.matchAll(/```ts\n([\s\S]*?)```/g)) {
  fs.writeFileSync(path.join(out, `README_${++r}.ts`), `${block}\nexport {}\n`)
  count++
}
// So are the pages under docs/ whose examples are whole programs (they also
// run: test/DocsExamples.test.ts); docs/testing.md walks through
// test/Guide.test.ts in pieces, checked there.
const wholePages = ["triggers.md"].filter((page) => fs.existsSync(path.join(root, "docs", page)))
for (const page of wholePages) {
  let d = 0
  const text = fs.readFileSync(path.join(root, "docs", page), "utf8")
  for (const [, block] of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
    fs.writeFileSync(path.join(out, `docs_${page.replace(/\W/g, "_")}_${++d}.ts`), `${block}\nexport {}\n`)
    count++
  }
}
fs.writeFileSync(
  path.join(out, "tsconfig.json"),
  JSON.stringify({ extends: "../tsconfig.json", compilerOptions: { noUnusedLocals: false }, include: ["./*.ts"] })
)
try {
  execFileSync(path.join(root, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", out], { stdio: "inherit" })
} catch {
  console.error(`JSDoc examples failed to type-check (see .examples/)`)
  process.exit(1)
}
console.log(`${count} documentation examples type-check`)
