/**
 * How the runtime records its metrics (see `Metrics`) and its run spans.
 *
 * A run's metrics are updated on the hot path of a drain, so they cost no
 * effect and almost no allocation there: each label set's series is made
 * once and kept here (module-wide: the series of a label set is the same
 * whichever scheduler updates it; the registry it lands in is the caller's
 * context's), and updated with `updateUnsafe` in the caller's context. The
 * in-flight gauge is not updated at all: it is read from the executor when
 * the registry is read.
 *
 * @since 0.4.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import type { ClaimResult } from "../JobStore.ts"
import * as Metrics from "../Metrics.ts"
import type * as Run from "../Run.ts"
import { StoreError } from "../StoreError.ts"

interface TaskSeries {
  readonly duration: Metric.Metric<number, unknown>
  readonly lateness: Metric.Metric<number, unknown>
  /** Runs by outcome without a job label (`JobLabelLimit` 0). */
  readonly outcomes: Map<string, Metric.Metric<number, unknown>>
  /** Runs by outcome of the jobs past `JobLabelLimit` (`job="_other"`). */
  readonly others: Map<string, Metric.Metric<number, unknown>>
}

interface JobSeries {
  readonly task: string
  readonly outcomes: Map<string, Metric.Metric<number, unknown>>
}

const tasks = new Map<string, TaskSeries>()
// The task of the jobs this process claimed a run of, the latest 4,096 to
// 8,192 (a bound, as one-off jobs come and go): a settled or reaped record
// does not name it. Two generations, the older dropped whole when the newer
// is full: every claimed run passes here, and a drain of one-off jobs brings
// a new job with each, which a least-recently-used map paid for with a
// delete, an insert and an eviction per run.
let recentTasks = new Map<string, string>()
let olderTasks = new Map<string, string>()
const tasksKnown = 4_096

const learnTask = (jobId: string, task: string) => {
  if (recentTasks.get(jobId) === task) return
  if (recentTasks.size >= tasksKnown) {
    olderTasks = recentTasks
    recentTasks = new Map()
  }
  recentTasks.set(jobId, task)
}

const runsCounter = (attributes: Record<string, string>) =>
  Metric.counter(Metrics.runs.id, { description: Metrics.runs.description, incremental: true, attributes })

const taskSeries = (task: string): TaskSeries => {
  let series = tasks.get(task)
  if (series === undefined) {
    series = {
      duration: Metric.histogram(Metrics.runDuration.id, {
        description: Metrics.runDuration.description,
        boundaries: Metrics.secondsBoundaries,
        attributes: { task }
      }),
      lateness: Metric.histogram(Metrics.runLateness.id, {
        description: Metrics.runLateness.description,
        boundaries: Metrics.secondsBoundaries,
        attributes: { task }
      }),
      outcomes: new Map(),
      others: new Map()
    }
    tasks.set(task, series)
  }
  return series
}

// The jobs with a label of their own, per registry: `JobLabelLimit` bounds
// how many series (and how much memory) the job label costs a registry.
const labelled = new WeakMap<Metric.MetricRegistry, Map<string, JobSeries>>()

// What a context says of the job label: its registry's labelled jobs and the
// limit. The executor passes the same context on every run: it is read once.
let lastContext: Context.Context<never> | undefined
let lastJobs = new Map<string, JobSeries>()
let lastLimit = 0

const labelsOf = (context: Context.Context<never>) => {
  if (context === lastContext) return
  const registry = Context.get(context, Metric.MetricRegistry)
  let jobs = labelled.get(registry)
  if (jobs === undefined) {
    jobs = new Map()
    labelled.set(registry, jobs)
  }
  lastContext = context
  lastJobs = jobs
  lastLimit = Context.get(context, Metrics.JobLabelLimit)
}

// A record's task, when this process claimed a run of its job.
const taskOf = (jobId: string): string => recentTasks.get(jobId) ?? olderTasks.get(jobId) ?? "unknown"

const otherJobs = "_other"

// Counts a run of `jobId` in its own series by outcome (a job whose task
// changed gets new ones; the old ones stay, as counters do), in its task's
// `_other` ones past the limit, or in its task's without a job label.
// (No allocation once the series exist: this is every run's path.)
const count = (context: Context.Context<never>, jobId: string, task: string, outcome: string) => {
  labelsOf(context)
  const jobs = lastJobs
  let outcomes: Map<string, Metric.Metric<number, unknown>>
  let job: string | undefined
  if (lastLimit <= 0) {
    outcomes = taskSeries(task).outcomes
  } else {
    let series = jobs.get(jobId)
    if (series === undefined && jobs.size >= lastLimit) {
      outcomes = taskSeries(task).others
      job = otherJobs
    } else {
      if (series === undefined || series.task !== task) {
        series = { task, outcomes: new Map() }
        jobs.set(jobId, series)
      }
      outcomes = series.outcomes
      job = jobId
    }
  }
  let counter = outcomes.get(outcome)
  if (counter === undefined) {
    counter = runsCounter(job === undefined ? { task, outcome } : { job, task, outcome })
    outcomes.set(outcome, counter)
  }
  counter.updateUnsafe(1, context)
}

/**
 * Records a run whose outcome the store accepted: its outcome, how long its
 * handler ran (from `since`, when it took its slot by this process's clock;
 * negative when it never started, e.g. cancelled while queued) and how late
 * it started (when its start is known).
 *
 * @since 0.4.0
 */
export const runEnded = (
  context: Context.Context<never>,
  run: Run.Claimed,
  outcome: Run.Outcome,
  since: number
): void => {
  count(context, run.jobId, run.task, outcome.state)
  if (since < 0) return
  const series = taskSeries(run.task)
  series.duration.updateUnsafe(Math.max(0, outcome.endedAt - since) / 1_000, context)
  if (outcome.startedAt !== undefined) {
    series.lateness.updateUnsafe(Math.max(0, outcome.startedAt - run.fireTime) / 1_000, context)
  }
}

/**
 * Records what a claim did: its batch size, the fires it settled without
 * running (skipped, missed, coalesced), and the backlog it left (see
 * `Metrics.backlog`) in `backlog`, the node's series.
 *
 * @since 0.4.0
 */
export const claimed = (
  backlog: Metric.Metric<number, unknown>,
  limit: number,
  result: ClaimResult
): Effect.Effect<void> =>
  Effect.contextWith((context: Context.Context<never>) => {
    Metrics.claimBatchSize.updateUnsafe(result.runs.length, context)
    // Learn the jobs' tasks first: a settled fire's record does not name it.
    let latestDue = Number.NEGATIVE_INFINITY
    for (const run of result.runs) {
      learnTask(run.jobId, run.task)
      if (run.dueAt > latestDue) latestDue = run.dueAt
    }
    for (const record of result.settled) {
      count(context, record.jobId, taskOf(record.jobId), record.state)
      if (record.dueAt > latestDue) latestDue = record.dueAt
    }
    const full = result.runs.length + result.settled.length >= limit
    const at = result.at
    const lag = full && at !== undefined && Number.isFinite(latestDue) ? Math.max(0, at - latestDue) / 1_000 : 0
    backlog.updateUnsafe(lag, context)
    return Effect.void
  })

/**
 * Records runs the reaper took over: each is `lost` (retried or not), or
 * `cancelled` when an operator had asked to cancel it.
 *
 * @since 0.4.0
 */
export const reaped = (records: ReadonlyArray<Run.RunRecord>): Effect.Effect<void> =>
  records.length === 0 ? Effect.void : Effect.contextWith((context: Context.Context<never>) => {
    for (const record of records) {
      count(context, record.jobId, taskOf(record.jobId), record.state === "cancelled" ? "cancelled" : "lost")
    }
    return Effect.void
  })

/**
 * Records a failed store call by its `StoreError`'s class (other failures,
 * domain errors such as `JobNotFound`, are not store errors).
 *
 * @since 0.4.0
 */
export const storeFailed = (operation: string, error: unknown): Effect.Effect<void> =>
  error instanceof StoreError
    ? Metric.update(
      Metric.withAttributes(Metrics.storeErrors, { operation, reason: error.reason, retryable: String(error.retryable) }),
      1
    )
    : Effect.void

/**
 * Serves `Metrics.runsInFlight` for `node` from `read` while the scope lives.
 *
 * @since 0.4.0
 */
export const inFlight = (node: string, read: () => number): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(Effect.context<never>(), (context) =>
    Effect.asVoid(Effect.acquireRelease(
      Effect.sync(() =>
        Metric.registerUnsafe(Metric.withAttributes(Metrics.runsInFlight, { node }), context, {
          get: () => ({ value: read() }),
          update: () => {},
          modify: () => {}
        })
      ),
      (registration) => Effect.sync(() => registration.remove())
    )))

// A fire time a `Date` cannot hold must not make the run's path throw.
const isoTime = (ms: number): string => {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString()
}

const spanOptions = (run: Run.Claimed, node: string): Tracer.SpanOptionsNoTrace => ({
  // A trace of its own: a run is not part of whatever the dispatcher's fiber was in.
  root: true,
  kind: "internal",
  attributes: {
    "steadfast.job_id": run.jobId,
    "steadfast.task": run.task,
    "steadfast.fire_time": isoTime(run.fireTime),
    "steadfast.fire_time_ms": run.fireTime,
    "steadfast.attempt": run.attempt,
    "steadfast.node": node,
    "steadfast.run_id": run.id,
    "steadfast.manual": run.manual === true
  }
})

/**
 * Whether runs are traced: when a tracer other than Effect's default (whose
 * spans go nowhere) is in the context, as `OtlpTracer.layer` provides. Read
 * once per executor: a run's span and its parenting cost some 10 µs (the
 * parent span is a fiber-cached service: providing it rebuilds the fiber's
 * context cache), a tenth of a run's budget in a drain, not worth paying
 * for spans nobody receives.
 *
 * @since 0.4.0
 */
export const tracing: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => tracer !== Tracer.nativeTracer)

/**
 * Runs `body` (the run's attempts) in the run's span `steadfast.run` (a root
 * span), which ends with `body`'s exit: a failure or a timeout gives it an
 * error status. `body` receives the span to make it the parent of the
 * handler's own spans (`Effect.provideService(handler, Tracer.ParentSpan,
 * span)`, inside any context provided to the handler).
 *
 * @since 0.4.0
 */
export const runSpan = <A, E>(
  run: Run.Claimed,
  node: string,
  body: (span: Tracer.Span) => Effect.Effect<A, E>
): Effect.Effect<A, E> => Effect.useSpan("steadfast.run", spanOptions(run, node), body)
