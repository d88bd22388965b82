/**
 * What every scenario gets: the database, fresh schemas, progress lines on
 * stderr (stdout carries only the JSON figures), and the drain measurement
 * shared by `drain` and `scale`.
 */
import * as fs from "node:fs"
import type { BenchDb, StatementCount } from "./Database.ts"
import { latency, mergeRuns, round } from "./Figures.ts"
import { jobsOf } from "./Protocol.ts"
import { type Worker, waitForRuns } from "./Workers.ts"

export interface Bench {
  readonly db: BenchDb
  readonly schema: (name: string) => string
  readonly log: (message: string) => void
}

export const make = (db: BenchDb): Bench => {
  let counter = 0
  const started = Date.now()
  return {
    db,
    schema: (name) => `bench_${name.replace(/[^a-z0-9]/g, "_")}_${++counter}`,
    log: (message) => process.stderr.write(`[bench ${((Date.now() - started) / 1_000).toFixed(1)}s] ${message}\n`)
  }
}

/** Epoch ms with sub-millisecond precision, on the clock the workers use. */
export const now = (): number => performance.timeOrigin + performance.now()

/**
 * CPU time of the whole machine so far (ms of busy time over all cores, from
 * `/proc/stat`); `null` where there is no `/proc`.
 */
export const machineCpuMs = (): number | null => {
  try {
    const [cpuLine = ""] = fs.readFileSync("/proc/stat", "utf8").split("\n")
    const fields = cpuLine.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    const busy = fields.slice(0, 8).reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + v), 0)
    return (busy * 1_000) / 100
  } catch {
    return null
  }
}

/** Mean execution time (ms) of the statements whose text contains `marker`. */
export const meanOf = (count: StatementCount, marker: string): number | null => {
  const rows = count.rows.filter((row) => row.query.includes(marker))
  const calls = rows.reduce((sum, row) => sum + row.calls, 0)
  return calls === 0 ? null : round(rows.reduce((sum, row) => sum + row.meanMs * row.calls, 0) / calls)
}

/** Which store statements a figure's cost comes from, by a text each contains. */
export const statementMarkers = {
  lock: "FOR UPDATE OF j SKIP LOCKED",
  settle: "WITH fire AS",
  finish: "WITH input AS"
} as const

export interface DrainFigures {
  readonly runs: number
  readonly duplicates: number
  readonly runsPerSecond: number
  /** Ran from first handler start to last handler end, ms. */
  readonly spanMs: number
  /** From the fire instant to the last handler end, ms. */
  readonly fromFireMs: number
  readonly lateness: ReturnType<typeof latency>
  readonly registerMs: number
  readonly registeredBeforeFire: boolean
  readonly perNode: Record<string, number>
  /** Mean execution time of the claim's two statements and of `finish` (pg_stat_statements). */
  readonly statementMeanMs: Record<keyof typeof statementMarkers, number | null>
  /** CPU per run, µs: the scheduler processes', and the whole machine's (PostgreSQL and all). */
  readonly cpuUsPerRun: { readonly workers: number; readonly machine: number | null }
}

/**
 * Registers `count` one-off jobs all due at one instant (`leadMs` from now)
 * through a store of the orchestrator's own, waits until the workers' ledgers
 * hold them all, and measures.
 */
export const drain = async (
  bench: Bench,
  schema: string,
  workers: ReadonlyArray<Worker>,
  count: number,
  prefix: string,
  leadMs = 2_500
): Promise<DrainFigures> => {
  const at = Math.round(Date.now() + leadMs)
  await bench.db.resetStatements()
  const registerMs = await bench.db.register(schema, jobsOf({ kind: "once", prefix, count, at }))
  const registeredBeforeFire = Date.now() < at
  const before = await Promise.all(workers.map((worker) => worker.report(false)))
  const machineBefore = machineCpuMs()
  await waitForRuns(workers, count + before.reduce((sum, report) => sum + report.runs, 0), 120_000, 50)
  const machineAfter = machineCpuMs()
  const reports = await Promise.all(workers.map((worker) => worker.report(true)))
  const cpuUs = (report: { readonly cpu: { readonly user: number; readonly system: number } }) =>
    report.cpu.user + report.cpu.system
  const workersUs = reports.reduce((sum, report) => sum + cpuUs(report), 0) -
    before.reduce((sum, report) => sum + cpuUs(report), 0)
  const runs = mergeRuns(reports, (fire) => fire === at)
  const statements = await bench.db.statements()
  const spanMs = runs.lastEnd - runs.firstStart
  return {
    runs: runs.count,
    duplicates: runs.duplicates,
    runsPerSecond: Math.round(runs.count / (spanMs / 1_000)),
    spanMs: round(spanMs),
    fromFireMs: round(runs.lastEnd - at),
    lateness: latency(runs.lateness),
    registerMs: round(registerMs),
    registeredBeforeFire,
    perNode: runs.perNode,
    cpuUsPerRun: {
      workers: round(workersUs / count),
      machine: machineBefore === null || machineAfter === null ? null : round(((machineAfter - machineBefore) * 1_000) / count)
    },
    statementMeanMs: {
      lock: meanOf(statements, statementMarkers.lock),
      settle: meanOf(statements, statementMarkers.settle),
      finish: meanOf(statements, statementMarkers.finish)
    }
  }
}
