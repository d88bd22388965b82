/**
 * The benchmark's processes run compiled JavaScript, as the library's users
 * do (they load `dist/` from `node_modules`, never `.ts`): before the first
 * scenario, `src/` and the worker entry points are compiled into `.bench/`
 * (`scripts/bench/tsconfig.json`), and the workers are started from there.
 * Running `.ts` by type stripping costs a worker some 70 MB and more CPU at
 * start (Node loads its TypeScript stripper); `BENCH_SOURCES=ts` runs the
 * sources instead, for a comparison.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "..")
const fromSources = process.env["BENCH_SOURCES"] === "ts"
let compiled = fromSources

/** Compiles once per bench run (a few seconds); a failure throws with tsc's output. */
export const compile = (): void => {
  if (compiled) return
  execFileSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(import.meta.dirname, "tsconfig.json")], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"]
  })
  compiled = true
}

/** The path to start for a worker entry point of `scripts/bench/` (`worker`, `floorWorker`). */
export const entry = (name: string): string => {
  compile()
  return fromSources
    ? path.join(import.meta.dirname, `${name}.ts`)
    : path.join(root, ".bench", "scripts", "bench", `${name}.js`)
}

/** What the figures were measured on: compiled JavaScript, or the TypeScript sources. */
export const runs = fromSources ? "TypeScript sources (type stripping)" : "compiled JavaScript (.bench/, as from dist/)"
