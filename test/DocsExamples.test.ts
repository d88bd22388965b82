/**
 * Runs every ```ts example of the pages under docs/ that state rules
 * (docs/triggers.md): each is a module whose `node:assert` checks say what
 * the rule gives; the example passes when it runs to its end. The type
 * checker reads the same blocks (scripts/check-examples.ts).
 */
import { describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

const root = path.resolve(import.meta.dirname, "..")
const out = path.join(root, ".examples", "run")

interface Example {
  readonly page: string
  readonly heading: string
  readonly line: number
  readonly code: string
}

// The blocks of a page, each named by the heading above it and its line.
const examplesOf = (page: string): Array<Example> => {
  const lines = fs.readFileSync(path.join(root, "docs", page), "utf8").split("\n")
  const examples: Array<Example> = []
  let heading = page
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.startsWith("#")) heading = line.replace(/^#+\s*/, "")
    if (line.trim() !== "```ts") continue
    const start = i
    const code: Array<string> = []
    while (++i < lines.length && lines[i]!.trim() !== "```") code.push(lines[i]!)
    examples.push({ page, heading, line: start + 1, code: code.join("\n") })
  }
  return examples
}

const pages = ["triggers.md"].filter((page) => fs.existsSync(path.join(root, "docs", page)))

describe("docs examples run", () => {
  for (const page of pages) {
    for (const example of examplesOf(page)) {
      it(`${page}:${example.line} (${example.heading})`, async () => {
        fs.mkdirSync(out, { recursive: true })
        const file = path.join(out, `${page.replace(/\W/g, "_")}_${example.line}.ts`)
        fs.writeFileSync(file, `${example.code}\nexport {}\n`)
        await import(pathToFileURL(file).href)
      })
    }
  }
})
