/**
 * What Steadfast costs in memory: `npm run memory`.
 *
 * Each figure comes from a fresh Node process running the compiled package
 * (`dist/`, built first if missing; never the `.ts` sources, whose type
 * stripping costs memory of its own), started with `--expose-gc` and
 * measured after a full collection: resident set size (RSS), live heap
 * (`heapUsed`), and the peak RSS of the process's life. Medians of 3 runs.
 *
 *   node          bare Node, nothing imported (the floor of every figure)
 *   subpaths      only the modules a worker needs (`@effect/sql-pg/PgClient`,
 *                 `@effect/platform-node/NodeRuntime`, `effect/Schema`,
 *                 `effect/Stream`, `effect/Cron`)
 *   import        `import("steadfast")`                              target ≤ 100 MB
 *   idle worker   PgJobStore + Scheduler, connected, no jobs,
 *                 registered, then idle for 5 s                      target ≤ 105 MB
 *   10,000 jobs   the same with 10,000 jobs declared in code (every
 *                 hour: none due), registered, then idle for 5 s     target ≤ 130 MB
 *
 * The workers use an embedded PostgreSQL (`DATABASE_URL` for another
 * server), a fresh schema per run (dropped at the end), and the default
 * pool. The machine, Node and PostgreSQL versions are printed with the figures.
 *
 *   npm run memory
 *   npm run memory -- --runs 5
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as EmbeddedPg from "./lib/EmbeddedPg.ts"

const root = path.resolve(import.meta.dirname, "..")
const runsFlag = process.argv.indexOf("--runs")
const runs = runsFlag === -1 ? 3 : Number(process.argv[runsFlag + 1])
const idleMs = 5_000

// Shared by every child: a full collection (twice, and a tick for
// finalizers), the figures, then a memory-reducing collection (what V8 does
// under memory pressure: it shrinks the young generation and returns its
// pages) and the RSS after it, as one JSON line on stdout.
const measure = `
const measure = async (readyMs = null) => {
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20))
  for (let i = 0; i < 2; i++) {
    globalThis.gc()
    await settle()
  }
  const { rss, heapUsed } = process.memoryUsage()
  const peakRss = process.resourceUsage().maxRSS * 1024
  globalThis.gc({ type: "major", execution: "sync", flavor: "last-resort" })
  await settle()
  const reducedRss = process.memoryUsage().rss
  process.stdout.write(JSON.stringify({ rss, heapUsed, peakRss, reducedRss, readyMs }) + "\\n")
}
`

// A worker as an application would write it, importing by subpath. Ready
// is the health view's \`ready\` where the scheduler has it, else the
// registrar's first progress (the jobs are upserted).
const worker = `
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { Job, PgJobStore, Scheduler, Task, Trigger } from "steadfast"
${measure}
const task = Task.make("memory", Schema.Struct({ n: Schema.Number }), () => Effect.void)
const jobs = Array.from({ length: Number(process.env.MEMORY_JOBS) }, (_, n) =>
  Job.make(task, { id: "memory-" + n, payload: { n }, trigger: Trigger.every("1 hour") }))
const live = Scheduler.layer({ tasks: [task], jobs }).pipe(
  Layer.provide(PgJobStore.layer({ schema: process.env.MEMORY_SCHEMA })),
  Layer.provide(PgClient.layer({ url: Redacted.make(process.env.DATABASE_URL) }))
)
const ready = (health) => health.ready === true ||
  (health.ready === undefined && health.loops.some((loop) => loop.name === "registrar" && loop.lastProgress !== null))
NodeRuntime.runMain(Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  const deadline = Date.now() + 120_000
  while (!ready(yield* scheduler.health)) {
    if (Date.now() > deadline) return yield* Effect.die(new Error("not ready within 120 s"))
    yield* Effect.sleep("20 millis")
  }
  const readyMs = Math.round(performance.now())
  yield* Effect.sleep(${idleMs})
  yield* Effect.promise(() => measure(readyMs))
}).pipe(Effect.provide(live)))
`

interface Scenario {
  readonly name: string
  readonly code: string
  readonly jobs?: number
  readonly targetMb?: number
  /** Node/V8 flags for the child, beside `--expose-gc`. */
  readonly flags?: ReadonlyArray<string>
}

// The young generation's cap, in MB: V8 grows it up to 32 MB per semi-space
// on a busy start-up or a big registration and keeps it while the process
// is idle (an idle process does no collection that would shrink it).
const smallYoung = ["--max-semi-space-size=4"]

const scenarios: ReadonlyArray<Scenario> = [
  { name: "node", code: `${measure}\nawait measure()` },
  {
    name: "subpaths",
    code: `${measure}
await Promise.all(["@effect/sql-pg/PgClient", "@effect/platform-node/NodeRuntime", "effect/Schema", "effect/Stream", "effect/Cron"]
  .map((name) => import(name)))
await measure()`
  },
  { name: "import", code: `${measure}\nawait import("steadfast")\nawait measure()`, targetMb: 100 },
  { name: "idle worker", code: worker, jobs: 0, targetMb: 105 },
  { name: "10,000 jobs", code: worker, jobs: 10_000, targetMb: 130 },
  { name: "import", code: `${measure}\nawait import("steadfast")\nawait measure()`, targetMb: 100, flags: smallYoung },
  { name: "idle worker", code: worker, jobs: 0, targetMb: 105, flags: smallYoung },
  { name: "10,000 jobs", code: worker, jobs: 10_000, targetMb: 130, flags: smallYoung }
]

interface Figures {
  readonly rss: number
  readonly heapUsed: number
  readonly peakRss: number
  readonly reducedRss: number
  readonly readyMs: number | null
}

const isFigures = (u: unknown): u is Figures =>
  typeof u === "object" && u !== null && "rss" in u && "heapUsed" in u && "peakRss" in u && "reducedRss" in u

// One fresh process, run from the repository so that `steadfast` resolves to
// the package itself (its `exports`, i.e. dist/).
const once = (scenario: Scenario, env: Record<string, string>): Promise<Figures> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", ...(scenario.flags ?? []), "--input-type=module", "--eval", scenario.code], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      const last = stdout.trim().split("\n").filter((line) => line.startsWith("{")).pop()
      const parsed: unknown = last === undefined ? undefined : JSON.parse(last)
      if (code === 0 && isFigures(parsed)) resolve(parsed)
      else reject(new Error(`${scenario.name}: exit ${code}\n${stdout}\n${stderr}`))
    })
  })

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

const serverVersion = (url: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ readonly server_version: string }>`SHOW server_version`
      return rows[0]?.server_version ?? "unknown"
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })))
  )

if (!fs.existsSync(path.join(root, "dist", "index.js"))) {
  console.log("dist/ is missing: npm run build")
  execFileSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" })
}

const pg = await EmbeddedPg.launch({ fast: true })
const schemas: Array<string> = []
let counter = 0
try {
  const cpu = os.cpus()
  console.log(
    `machine: ${cpu[0]?.model ?? "unknown CPU"}, ${cpu.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
      `Node ${process.version}; PostgreSQL ${await serverVersion(pg.url)}${pg.managed ? " (embedded)" : ""}; ` +
      `medians of ${runs} fresh processes, compiled dist/, after gc`
  )
  for (const scenario of scenarios) {
    const results: Array<Figures> = []
    for (let run = 0; run < runs; run++) {
      const schema = `steadfast_memory_${process.pid}_${++counter}`
      if (scenario.jobs !== undefined) schemas.push(schema)
      results.push(
        await once(scenario, { DATABASE_URL: pg.url, MEMORY_SCHEMA: schema, MEMORY_JOBS: String(scenario.jobs ?? 0) })
      )
    }
    const rss = median(results.map((r) => r.rss))
    const ready = results.flatMap((r) => (r.readyMs === null ? [] : [r.readyMs]))
    const verdict = scenario.targetMb === undefined
      ? ""
      : `  target ≤ ${scenario.targetMb} MB: ${rss <= scenario.targetMb * 2 ** 20 ? "met" : "MISSED"}`
    console.log(
      `${[scenario.name, ...(scenario.flags ?? [])].join(" ").padEnd(37)}` +
        ` RSS ${mb(rss).padStart(5)} MB (${results.map((r) => mb(r.rss)).join(" / ")})` +
        `  live heap ${mb(median(results.map((r) => r.heapUsed))).padStart(4)} MB` +
        `  peak ${mb(median(results.map((r) => r.peakRss))).padStart(5)} MB` +
        `  after a memory-reducing gc ${mb(median(results.map((r) => r.reducedRss))).padStart(5)} MB` +
        `${ready.length === 0 ? "" : `  ready after ${median(ready)} ms`}${verdict}`
    )
  }
} finally {
  if (!pg.managed) {
    await Effect.runPromise(
      Effect.forEach(schemas, (schema) => EmbeddedPg.admin(pg.url, (sql) => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`))
    ).catch(() => undefined)
  }
  await pg.dispose()
}
