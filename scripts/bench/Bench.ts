/**
 * What every scenario gets: the database, fresh schemas, progress lines on
 * stderr (stdout carries only the JSON figures), and the drain measurement
 * shared by `drain` and `scale`.
 */
import * as fs from "node:fs"
import { type BenchDb, probeMarker, type StatementCount, top } from "./Database.ts"
import { latency, mb, mergeRuns, round } from "./Figures.ts"
import { jobsOf } from "./Protocol.ts"
import { sleep, waitForRunsOrStall, type Worker } from "./Workers.ts"

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
  /** Jobs scheduled that no handler ran (the drain ends when all ran, or nothing ran for 15 s). */
  readonly missed: number
  readonly duplicates: number
  readonly runsPerSecond: number
  /** Ran from first handler start to last handler end, ms. */
  readonly spanMs: number
  /** From the fire instant to the last handler end, ms. */
  readonly fromFireMs: number
  readonly lateness: ReturnType<typeof latency>
  /** `store.addMany` of the jobs, one call from the orchestrator, ms. */
  readonly addManyMs: number
  readonly scheduledBeforeFire: boolean
  readonly perNode: Record<string, number>
  /** Mean execution time of the claim's two statements and of `finish` (pg_stat_statements). */
  readonly statementMeanMs: Record<keyof typeof statementMarkers, number | null>
  /**
   * CPU per run, µs: `withScheduling` is the scheduler processes' (from just
   * before `addMany` to the end of the drain) plus the orchestrator's during
   * `addMany`; `machine` is the whole machine's from `addMany` to the last handler end (PostgreSQL and all).
   */
  readonly cpuUsPerRun: {
    readonly withScheduling: number
    readonly workers: number
    readonly addMany: number
    readonly machine: number | null
  }
  /** Every statement of the bench database from before `addMany` to the end of the drain, per job. */
  readonly statementsPerJob: number
  readonly statements: number
  readonly top: ReturnType<typeof top>
  /** Peak RSS of each scheduler process at the end of the drain, MB. */
  readonly peakRssMb: ReadonlyArray<number>
}

const cpuUs = (report: { readonly cpu: { readonly user: number; readonly system: number } }) =>
  report.cpu.user + report.cpu.system

/**
 * Waits until the store holds no open run (the last finishes may still be on
 * their way when the last handler ended), at most `timeoutMs`. Its probes
 * carry `probeMarker`, which statement counts leave out.
 */
const settled = async (bench: Bench, schema: string, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const [open] = await bench.db.query<{ n: number }>(
      `${probeMarker} SELECT count(*)::int AS n FROM ${schema}.runs WHERE state IN ('pending', 'running')`
    )
    if ((open?.n ?? 0) === 0) return
    await sleep(20)
  }
}

/**
 * Schedules `count` one-off jobs all due at one instant (`leadMs` from now)
 * with one `store.addMany` of the orchestrator's own store, waits until the
 * workers' ledgers hold them all (or nothing runs for 15 s) and no run is
 * left in the store, and measures.
 */
export const drain = async (
  bench: Bench,
  schema: string,
  workers: ReadonlyArray<Worker>,
  count: number,
  prefix: string,
  leadMs = 2_500
): Promise<DrainFigures> => {
  const producer = await bench.db.producer(schema)
  try {
    await producer.warm()
    const at = Math.round(Date.now() + leadMs)
    const jobs = jobsOf({ kind: "once", prefix, count, at })
    const before = await Promise.all(workers.map((worker) => worker.report(false)))
    await bench.db.resetStatements()
    const machineBefore = machineCpuMs()
    const added = await producer.addMany(jobs)
    const scheduledBeforeFire = Date.now() < at
    const already = before.reduce((sum, report) => sum + report.runs, 0)
    await waitForRunsOrStall(workers, count + already, { timeoutMs: 120_000, stallMs: 15_000, intervalMs: 50 })
    const machineAfter = machineCpuMs()
    await settled(bench, schema, 10_000)
    const statements = await bench.db.statements()
    const reports = await Promise.all(workers.map((worker) => worker.report(true)))
    const workersUs = reports.reduce((sum, report) => sum + cpuUs(report), 0) -
      before.reduce((sum, report) => sum + cpuUs(report), 0)
    const runs = mergeRuns(reports, (fire) => fire === at)
    let missed = 0
    for (let i = 0; i < count; i++) if (!runs.byFire.has(`${prefix}-${i}|${at}`)) missed++
    const spanMs = runs.lastEnd - runs.firstStart
    return {
      runs: runs.count,
      missed,
      duplicates: runs.duplicates,
      runsPerSecond: Math.round(runs.count / (spanMs / 1_000)),
      spanMs: round(spanMs),
      fromFireMs: round(runs.lastEnd - at),
      lateness: latency(runs.lateness),
      addManyMs: round(added.ms),
      scheduledBeforeFire,
      perNode: runs.perNode,
      cpuUsPerRun: {
        withScheduling: round((workersUs + added.cpuUs) / count),
        workers: round(workersUs / count),
        addMany: round(added.cpuUs / count),
        machine: machineBefore === null || machineAfter === null
          ? null
          : round(((machineAfter - machineBefore) * 1_000) / count)
      },
      statementsPerJob: round(statements.total / count),
      statements: statements.total,
      top: top(statements, 6),
      peakRssMb: reports.map((report) => mb(report.maxRss)),
      statementMeanMs: {
        lock: meanOf(statements, statementMarkers.lock),
        settle: meanOf(statements, statementMarkers.settle),
        finish: meanOf(statements, statementMarkers.finish)
      }
    }
  } finally {
    await producer.dispose()
  }
}
