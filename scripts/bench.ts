/**
 * The benchmark: real scheduler processes on a real PostgreSQL (embedded,
 * durable settings, in a temporary folder, with `pg_stat_statements`; or
 * `DATABASE_URL`), one JSON line per scenario on stdout, progress and a
 * closing table of figures against their targets on stderr. Every line names
 * the machine (CPU model, cores, memory), the Node and PostgreSQL versions
 * and the command that produced it.
 *
 *   npm run bench                  # every scenario, about 12 minutes
 *   npm run bench -- floor drain   # some of them (the drain's ratio to the floor needs `floor` first)
 *
 * Scenarios, in this order (see `scripts/bench/Scenarios.ts`, `Floor.ts`, `NextFire.ts`):
 * - floor: the raw-SQL floor, 20,000 runs drained by 2 processes with one claim and one finish statement per batch;
 * - drain: 20,000 one-off jobs due at once (one `addMany`), 2 processes, medians of 5, with `maxInFlight: 10` and
 *   with the library's defaults: runs/s and its ratio to the floor, lateness, missed, duplicates, CPU and
 *   statements per run with the scheduling included, peak RSS. The floor's and the drain's processes are
 *   warmed up by a first drain of as many other jobs (printed, as the runs/s of new processes), as a
 *   long-running scheduler's are;
 * - every-second: 500 jobs every second for 30 s, 2 processes, with `claimAhead: "auto"`, then also `maxInFlight: 10`;
 * - add-many: 100,000 one-off jobs by one `addMany`, median of 3;
 * - renew: 10,000 running runs' leases renewed 20 times, µs a renewal and the indexes' growth, median of 3;
 * - scale: one process declaring 100,000 jobs (registration, idle and peak RSS), and a drain beside them;
 * - next-fire: next fires of 100,000 cron triggers with distinct expressions and zones, in process,
 *   and the slowest single next() over generated expressions and zones;
 * - idle: statements per second of 10,000 jobs none of which is due;
 * - recovery: the database restarted under load.
 *
 * The worker processes run compiled JavaScript (`scripts/bench/Compiled.ts`)
 * with `--max-semi-space-size=4`, the young generation the README advises
 * for workers. For a closer look: `BENCH_WORKER_FLAGS` (replaces those Node
 * flags: empty for Node's defaults, `--cpu-prof` to profile),
 * `BENCH_SOURCES=ts` (run the TypeScript sources), `BENCH_PG_FLAGS` (more
 * `postgres` flags), `BENCH_DUMP=dir` (raw ledgers of every-second).
 */
import * as Compiled from "./bench/Compiled.ts"
import { workerFlags } from "./bench/Workers.ts"
import * as Bench from "./bench/Bench.ts"
import * as Database from "./bench/Database.ts"
import { describeMachine, machine } from "./bench/Figures.ts"
import * as Floor from "./bench/Floor.ts"
import * as NextFire from "./bench/NextFire.ts"
import * as Scenarios from "./bench/Scenarios.ts"
import { atLeast, atMost, below, type Check, reference, table } from "./bench/Summary.ts"

/** The scheduler's default `batchSize` (`Scheduler.Options.batchSize`, src/Scheduler.ts). */
const defaultBatchSize = 512
/** `PgClient`'s default pool (`maxConnections`), which a scheduler process of the bench uses, LISTEN included. */
const defaultConnections = 10

interface Outcome {
  readonly figures: object
  readonly checks: ReadonlyArray<Check>
}

// Figures one scenario leaves for a later one: the floor for the drain's ratio.
let floorRunsPerSecond: number | undefined

const drainChecks = (label: string, f: Awaited<ReturnType<typeof Scenarios.drain>>, minRate: number): Array<Check> => [
  atLeast(`drain ${label}: runs/s (warm processes)`, f.runsPerSecond.median, minRate),
  reference(`drain ${label}: runs/s, first drain of new processes`, f.coldRunsPerSecond.median),
  ...(label === "maxInFlight 10" ? [atLeast(`drain ${label}: ratio to floor`, f.ratioToFloor, 0.6)] : []),
  atMost(`drain ${label}: duplicates`, f.duplicates, 0),
  atMost(`drain ${label}: missed`, f.missed, 0),
  atMost(`drain ${label}: CPU µs/run (scheduling incl.)`, f.cpuUsPerRun.median, 100),
  atMost(`drain ${label}: statements/job (scheduling incl.)`, f.statementsPerJob.median, 0.5),
  atMost(`drain ${label}: peak RSS per worker`, f.peakRssMb.median, 150, " MB"),
  reference(`drain ${label}: lateness p50`, f.latenessP50Ms.median, " ms"),
  reference(`drain ${label}: lateness p99`, f.latenessP99Ms.median, " ms")
]

const everyChecks = (label: string, f: Awaited<ReturnType<typeof Scenarios.everySecond>>["defaults"]): Array<Check> => [
  atMost(`every-second ${label}: lateness p50`, f.latenessMs.p50, 5, " ms"),
  atMost(`every-second ${label}: lateness p99`, f.latenessMs.p99, 15, " ms"),
  reference(`every-second ${label}: lateness max`, f.latenessMs.max, " ms"),
  atMost(`every-second ${label}: duplicates`, f.duplicates, 0),
  atMost(`every-second ${label}: missed`, f.missed, 0)
]

const scenarios: Record<string, (bench: Bench.Bench) => Promise<Outcome>> = {
  floor: async (bench) => {
    const figures = await Floor.floor(bench, {
      jobs: 20_000,
      processes: 2,
      repeat: 5,
      batchSize: defaultBatchSize,
      connections: defaultConnections,
      loops: defaultConnections
    })
    floorRunsPerSecond = figures.runsPerSecond.median
    return { figures, checks: [reference("floor (raw SQL): runs/s", figures.runsPerSecond.median)] }
  },
  drain: async (bench) => {
    const common = { jobs: 20_000, processes: 2, repeat: 5, floorRunsPerSecond }
    const limited = await Scenarios.drain(bench, { ...common, maxInFlight: 10 })
    const defaults = await Scenarios.drain(bench, common)
    return {
      figures: { maxInFlight10: limited, defaults },
      checks: [...drainChecks("maxInFlight 10", limited, 11_000), ...drainChecks("defaults", defaults, 16_000)]
    }
  },
  "every-second": async (bench) => {
    const figures = await Scenarios.everySecond(bench, { jobs: 500, seconds: 30, processes: 2, maxInFlight: 10 })
    return {
      figures,
      checks: [...everyChecks("claimAhead auto", figures.defaults), ...everyChecks("claimAhead auto, maxInFlight 10", figures.withMaxInFlight)]
    }
  },
  "add-many": async (bench) => {
    const figures = await Scenarios.addMany(bench, { jobs: 100_000, repeat: 3 })
    return { figures, checks: [atMost("add-many 100,000 one-off jobs", figures.ms.median, 2_000, " ms")] }
  },
  renew: async (bench) => {
    const figures = await Scenarios.renew(bench, { runs: 10_000, rounds: 20, repeat: 3 })
    return {
      figures,
      checks: [
        reference("renew 10,000 running runs: µs a renewal", figures.usPerRenewal.median, " µs"),
        reference("renew 10,000 running runs x 20: index growth", figures.indexGrowthMb.median, " MB")
      ]
    }
  },
  scale: async (bench) => {
    const figures = await Scenarios.scale(bench, { jobs: 100_000, drainJobs: 20_000, repeat: 3, idleMs: 10_000 })
    return {
      figures,
      checks: [
        atMost("register 100,000 declared jobs", figures.registerMs.median, 2_000, " ms"),
        atMost("idle with 100,000 jobs: peak RSS", figures.peakRssMb.median, 220, " MB"),
        reference("idle with 100,000 jobs: RSS", figures.idleRssMb.median, " MB")
      ]
    }
  },
  "next-fire": async () => {
    const held = NextFire.nextFire({ jobs: 100_000, repeat: 5 })
    const slowest = NextFire.slowest({ expressions: 120, repeat: 9, batch: 10 })
    const figures = { ...held, slowest }
    return {
      figures,
      checks: [
        // The target is the pass over triggers held with their jobs (parsed once per definition);
        // the first pass, parsing included, happens once per definition.
        atMost("next fire of 100,000 (held triggers)", figures.held.totalMs, 300, " ms"),
        reference("next fire of 100,000, first pass (parsing incl.)", figures.firstPass.totalMs, " ms"),
        // Median of repeated timings per (expression, zone, start), then the maximum.
        atMost(`slowest next() of ${slowest.cases.toLocaleString("en-US")} cases`, slowest.slowestUs, 50, " µs"),
        reference("slowest first next() of a case (zone periods found by Intl)", slowest.firstCallMaxUs, " µs")
      ]
    }
  },
  idle: async (bench) => {
    const figures = await Scenarios.idle(bench, { jobs: 10_000, windowSeconds: 60, processes: 2 })
    return { figures, checks: [atMost("idle: statements/s (both processes)", figures.statementsPerSecond, 0.5)] }
  },
  recovery: async (bench) => {
    const figures = await Scenarios.recovery(bench, { jobs: 100, processes: 2, downMs: 3_000, repeat: 3 })
    return {
      figures,
      checks: "skipped" in figures ? [] : [
        below("recovery: first run after the server is ready", figures.firstRunAfterReadyMs.median, 100, " ms"),
        atMost("recovery: duplicates", figures.duplicates, 0)
      ]
    }
  }
}

const names = Object.keys(scenarios)
const args = process.argv.slice(2)
const unknown = args.filter((arg) => !names.includes(arg))
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario ${unknown.join(", ")}; known: ${names.join(", ")}\n`)
  process.exit(2)
}
// Always in the order above (the floor before the drain), whatever the order asked.
const chosen = args.length === 0 ? names : names.filter((name) => args.includes(name))

const db = await Database.launch()
const bench = Bench.make(db)
const about = {
  command: ["npm run bench", ...(args.length > 0 ? ["--", ...args] : [])].join(" "),
  machine: machine(db.settings["server_version"] ?? "unknown"),
  workers: { runs: Compiled.runs, nodeFlags: workerFlags.join(" ") },
  database: {
    server: db.server.managed ? "embedded (temporary folder)" : "DATABASE_URL",
    fsync: db.settings["fsync"],
    synchronous_commit: db.settings["synchronous_commit"],
    full_page_writes: db.settings["full_page_writes"]
  }
}
bench.log(`${describeMachine(about.machine)} (fsync ${about.database.fsync}); workers run ${Compiled.runs} with Node flags "${workerFlags.join(" ")}"; scenarios: ${chosen.join(", ")}`)
Compiled.compile()

let failed = false
const checks: Array<Check> = []
try {
  for (const name of chosen) {
    const started = Date.now()
    try {
      const outcome = await scenarios[name]!(bench)
      checks.push(...outcome.checks)
      process.stdout.write(
        `${JSON.stringify({ scenario: name, ...outcome.figures, elapsedS: Math.round((Date.now() - started) / 1_000), ...about })}\n`
      )
    } catch (error) {
      failed = true
      checks.push({ figure: `${name}: failed`, measured: (String(error).split("\n")[0] ?? "").slice(0, 60), target: "runs", met: false })
      process.stdout.write(`${JSON.stringify({ scenario: name, error: String(error), ...about })}\n`)
    }
  }
} finally {
  await db.dispose()
}
process.stderr.write(`\n${describeMachine(about.machine)}\n${table(checks)}\n`)
process.exit(failed ? 1 : 0)
