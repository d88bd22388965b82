/**
 * The benchmark: real scheduler processes on a real PostgreSQL (embedded,
 * durable settings, in a temporary folder, with `pg_stat_statements`; or
 * `DATABASE_URL`), one JSON line per scenario on stdout, progress on stderr.
 * Every line names the machine (CPU model, cores, memory), the Node and
 * PostgreSQL versions and the command that produced it.
 *
 *   npm run bench                  # every scenario, about 4 minutes
 *   npm run bench -- drain idle    # some of them
 *
 * Scenarios: drain, every-second, idle, scale, recovery (see
 * `scripts/bench/Scenarios.ts`). For a closer look: `BENCH_WORKER_FLAGS`
 * (Node flags for the scheduler processes, e.g. `--cpu-prof`), `BENCH_PG_FLAGS`
 * (more `postgres` flags), `BENCH_DUMP=dir` (raw ledgers of every-second).
 */
import * as Bench from "./bench/Bench.ts"
import * as Database from "./bench/Database.ts"
import { describeMachine, machine } from "./bench/Figures.ts"
import * as Scenarios from "./bench/Scenarios.ts"

const scenarios = {
  drain: (bench: Bench.Bench) => Scenarios.drain(bench, { jobs: 20_000, processes: 2, repeat: 3 }),
  "every-second": (bench: Bench.Bench) =>
    Scenarios.everySecond(bench, { jobs: 500, seconds: 30, processes: 2, claimAheadMs: 100 }),
  idle: (bench: Bench.Bench) => Scenarios.idle(bench, { jobs: 10_000, windowSeconds: 60, processes: 2 }),
  scale: (bench: Bench.Bench) => Scenarios.scale(bench, { jobs: 100_000, drainJobs: 20_000, repeat: 3, idleMs: 10_000 }),
  recovery: (bench: Bench.Bench) => Scenarios.recovery(bench, { jobs: 100, processes: 2, downMs: 3_000, repeat: 3 })
} as const

type Name = keyof typeof scenarios

const isName = (name: string): name is Name => Object.hasOwn(scenarios, name)

const args = process.argv.slice(2)
const unknown = args.filter((arg) => !isName(arg))
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario ${unknown.join(", ")}; known: ${Object.keys(scenarios).join(", ")}\n`)
  process.exit(2)
}
const chosen: ReadonlyArray<Name> = args.length === 0 ? Object.keys(scenarios).filter(isName) : args.filter(isName)

const db = await Database.launch()
const bench = Bench.make(db)
const about = {
  command: ["npm run bench", ...(args.length > 0 ? ["--", ...args] : [])].join(" "),
  machine: machine(db.settings["server_version"] ?? "unknown"),
  database: {
    server: db.server.managed ? "embedded (temporary folder)" : "DATABASE_URL",
    fsync: db.settings["fsync"],
    synchronous_commit: db.settings["synchronous_commit"],
    full_page_writes: db.settings["full_page_writes"]
  }
}
bench.log(`${describeMachine(about.machine)} (fsync ${about.database.fsync}); scenarios: ${chosen.join(", ")}`)

let failed = false
try {
  for (const name of chosen) {
    const started = Date.now()
    try {
      const figures = await scenarios[name](bench)
      process.stdout.write(
        `${JSON.stringify({ scenario: name, ...figures, elapsedS: Math.round((Date.now() - started) / 1_000), ...about })}\n`
      )
    } catch (error) {
      failed = true
      process.stdout.write(`${JSON.stringify({ scenario: name, error: String(error), ...about })}\n`)
    }
  }
} finally {
  await db.dispose()
}
process.exit(failed ? 1 : 0)
