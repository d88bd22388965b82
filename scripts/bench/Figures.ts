/**
 * Figures from the workers' ledgers: percentiles, medians, duplicates, and
 * the machine a figure was measured on.
 */
import * as os from "node:os"
import type { WorkerMessage } from "./Protocol.ts"

type Report = Extract<WorkerMessage, { type: "report" }>

/** Nearest-rank percentile of unsorted numbers (`p` in 0..100); NaN when empty. */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export const median = (values: ReadonlyArray<number>): number => percentile(values, 50)

/** Rounds for printing: 2 decimals below 10, 1 below 1,000, whole numbers above. */
export const round = (value: number): number =>
  !Number.isFinite(value)
    ? value
    : Math.abs(value) < 10
    ? Math.round(value * 100) / 100
    : Math.abs(value) < 1_000
    ? Math.round(value * 10) / 10
    : Math.round(value)

export interface Runs {
  readonly count: number
  /** `(job, fire)` keys started more than once. */
  readonly duplicates: number
  readonly firstStart: number
  readonly lastEnd: number
  /** Start minus fire time, ms, per run. */
  readonly lateness: ReadonlyArray<number>
  /** Starts per `(job, fire)` key. */
  readonly byFire: ReadonlyMap<string, number>
  readonly starts: ReadonlyArray<number>
  readonly perNode: Record<string, number>
}

/** Merges the ledgers of every worker, keeping runs whose fire time passes `keep`. */
export const mergeRuns = (reports: ReadonlyArray<Report>, keep: (fireTime: number) => boolean = () => true): Runs => {
  const byFire = new Map<string, number>()
  const lateness: Array<number> = []
  const starts: Array<number> = []
  const perNode: Record<string, number> = {}
  let firstStart = Number.POSITIVE_INFINITY
  let lastEnd = 0
  for (const report of reports) {
    const ledger = report.ledger
    if (ledger === undefined) continue
    let mine = 0
    for (let i = 0; i < ledger.starts.length; i++) {
      const fire = ledger.fires[i]!
      if (!keep(fire)) continue
      const start = ledger.starts[i]!
      const key = `${ledger.jobIds[i]}|${fire}`
      byFire.set(key, (byFire.get(key) ?? 0) + 1)
      lateness.push(start - fire)
      starts.push(start)
      firstStart = Math.min(firstStart, start)
      mine++
    }
    perNode[report.node] = mine
    lastEnd = Math.max(lastEnd, ledger.lastEnd)
  }
  let duplicates = 0
  for (const n of byFire.values()) if (n > 1) duplicates += n - 1
  return { count: lateness.length, duplicates, firstStart, lastEnd, lateness, byFire, starts, perNode }
}

/** p50, p99 and max of a latency sample, rounded. */
export const latency = (values: ReadonlyArray<number>) => ({
  p50: round(percentile(values, 50)),
  p99: round(percentile(values, 99)),
  max: round(percentile(values, 100))
})

/**
 * The machine and the versions, for every printed line: a figure means
 * little without them (the same command gives half the drain rate on a
 * 2-core Xeon as on a 2-core EPYC).
 */
export const machine = (pgVersion: string) => ({
  cpu: os.cpus()[0]?.model ?? "unknown",
  /** Logical cores of the machine. */
  cores: os.cpus().length,
  /** The cores this process may use (fewer under CPU affinity or a container's quota). */
  availableCores: os.availableParallelism(),
  memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  node: process.version,
  postgres: pgVersion,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`
})

/** The machine in a few words, for the progress log. */
export const describeMachine = (m: ReturnType<typeof machine>): string =>
  `${m.cpu}, ${m.cores} cores${m.availableCores === m.cores ? "" : ` (${m.availableCores} available)`}, ` +
  `${m.memoryGiB} GiB, Node ${m.node.replace(/^v/, "")}, PostgreSQL ${m.postgres}, ${m.platform}`

export const mb = (bytes: number): number => Math.round(bytes / 2 ** 20)
