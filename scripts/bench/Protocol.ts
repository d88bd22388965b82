/**
 * What the benchmark's orchestrator (`scripts/bench.ts`) and its scheduler
 * processes (`scripts/bench/worker.ts`) say to each other: the worker's
 * configuration (one JSON argument), the job sets both sides can generate
 * from a small spec (20,000 job definitions do not fit in an argument), and
 * the IPC messages.
 */
import { Effect } from "effect"
import * as Job from "../../src/Job.ts"
import * as Task from "../../src/Task.ts"
import * as Trigger from "../../src/Trigger.ts"

/** A set of jobs of the `bench` task, `${prefix}-0` … `${prefix}-${count - 1}`. */
export type JobsSpec =
  | { readonly kind: "once"; readonly prefix: string; readonly count: number; readonly at: number }
  | {
    readonly kind: "every"
    readonly prefix: string
    readonly count: number
    readonly everyMs: number
    readonly anchor: number
  }

/** The task name every benchmark job uses; workers register a handler under it. */
export const taskName = "bench"

/** A stand-in for the orchestrator, which registers jobs but never runs them. */
const placeholder = Task.unit(taskName, () => Effect.void)

/** The job definitions a spec describes. */
export const jobsOf = (spec: JobsSpec, task: Task.Task<null, never> = placeholder): Array<Job.Job> => {
  const trigger = spec.kind === "once"
    ? Trigger.once(spec.at)
    : Trigger.every(spec.everyMs, { anchor: spec.anchor })
  return Array.from({ length: spec.count }, (_, i) => Job.make(task, { id: `${spec.prefix}-${i}`, payload: null, trigger }))
}

export interface WorkerConfig {
  readonly url: string
  readonly schema: string
  readonly node: string
  /** Jobs this process declares in code (upserted at start-up, as every process of a cluster does). */
  readonly declare?: JobsSpec | undefined
  /** Scheduler options; omitted ones keep the library's defaults. */
  readonly batchSize?: number | undefined
  /** `Scheduler.Options.maxInFlight`: most runs in progress at once in the process. */
  readonly maxInFlight?: number | undefined
  readonly pollMs?: number | undefined
  readonly reapMs?: number | undefined
  readonly maxConnections?: number | undefined
  /** `Scheduler.Options.claimAhead`, ms; omitted: the library's default (`"auto"`). */
  readonly claimAheadMs?: number | "auto" | undefined
  /** Extra Node flags for this worker, e.g. `--expose-gc`. */
  readonly nodeFlags?: ReadonlyArray<string> | undefined
}

/** Worker → orchestrator. */
export type WorkerMessage =
  /** The ledger was emptied (`reset`). */
  | { readonly type: "reset" }
  | {
    readonly type: "ready"
    readonly node: string
    readonly pid: number
    /** Building the scheduler (validating declared jobs, registering them) until the registrar's first progress. */
    readonly registerMs: number
    readonly rss: number
  }
  | { readonly type: "count"; readonly runs: number }
  | {
    readonly type: "report"
    readonly node: string
    readonly runs: number
    /** The ledger the handlers wrote, when asked for. Times are epoch ms with sub-ms precision. */
    readonly ledger?: {
      readonly jobIds: ReadonlyArray<string>
      readonly fires: ReadonlyArray<number>
      readonly starts: ReadonlyArray<number>
      readonly lastEnd: number
    }
    /** `process.cpuUsage()`, µs. */
    readonly cpu: { readonly user: number; readonly system: number }
    readonly rss: number
    /** Peak resident memory of the process so far, bytes (`process.resourceUsage().maxRSS * 1024`). */
    readonly maxRss: number
    readonly heapUsed: number
    /** Heap in use right after a full collection (workers started with `--expose-gc`, when asked). */
    readonly liveHeap?: number
    readonly health: { readonly status: string; readonly restarts: number }
  }

/** Orchestrator → worker. */
export type ParentMessage =
  | { readonly type: "count" }
  /** Empties the ledger: what ran so far (a warm-up) is neither counted nor kept. */
  | { readonly type: "reset" }
  | { readonly type: "report"; readonly ledger: boolean; readonly gc?: boolean }
