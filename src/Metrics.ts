/**
 * What the scheduler measures, as Effect `Metric`s, and how to read them.
 *
 * Every metric is named `steadfast_*` and recorded by the runtime itself:
 *
 * | metric | type | labels | what |
 * |---|---|---|---|
 * | `steadfast_runs_total` | counter | `job`, `task`, `outcome` | runs by outcome (`succeeded`, `failed`, `timed-out`, `cancelled` as recorded; `skipped`, `missed`, `coalesced` as a claim settled them; `lost`, or `cancelled`, as the reaper took them) |
 * | `steadfast_run_duration_seconds` | histogram | `task` | how long a handler ran (all its attempts; none for a run cancelled before it started) |
 * | `steadfast_run_lateness_seconds` | histogram | `task` | start minus nominal fire time (runs that ran to an outcome of their own) |
 * | `steadfast_claim_batch_size` | histogram | | runs a claim took (empty claims included) |
 * | `steadfast_runs_in_flight` | gauge | `node` | handlers running now (read when scraped) |
 * | `steadfast_loop_restarts_total` | counter | `loop` | background loops restarted after a failure |
 * | `steadfast_loop_stalls_total` | counter | `loop` | background loops restarted by the watchdog |
 * | `steadfast_store_errors_total` | counter | `operation`, `reason`, `retryable` | store calls that failed, by the `StoreError`'s class |
 * | `steadfast_store_available` | gauge | `node` | 1 while the store answers, 0 during an outage |
 * | `steadfast_backlog_seconds` | gauge | `node` | how far behind the claims are: the age of the due fires left unclaimed |
 *
 * Outcomes are counted where they become known: an executed run when its
 * outcome is recorded (a run whose lease was lost meanwhile is not counted
 * by the node that lost it), a settled fire on the node whose claim settled
 * it, a lost run on the node whose reaper took it. A lost run that its job
 * retries counts once as `lost` and again by its retry's outcome. A pending
 * run cancelled by an operator is recorded by the store alone and not
 * counted here. The `task` of a settled or reaped run is the task of the
 * job's last run this process claimed, `unknown` when it claimed none.
 *
 * The backlog is measured from what the claims find, with no statement of
 * its own: a claim that came back full left due fires behind, whose age is
 * at most the store's time minus the due instant of the latest fire it took;
 * a claim that came back short left none (0). Read it as the lag of this
 * node's claims, not as a count.
 *
 * Label cardinality: `job` is one series per job and outcome (the
 * histograms are by task only), in the process and in Prometheus, never
 * removed while the process lives. So it is bounded: the first 1,000 jobs
 * to run get a label of their own, later ones are counted as
 * `job="_other"`; `JobLabelLimit` changes the bound (0 drops the label).
 *
 * Metrics live in the `Metric.MetricRegistry` of the scheduler's context
 * (Effect's default, one per process, unless provided); `prometheus`
 * renders the registry of its caller's context.
 *
 * Tracing: each run is a span `steadfast.run` (a root span: a new trace per
 * run) with the attributes `steadfast.job_id`, `steadfast.task`,
 * `steadfast.fire_time` (ISO 8601), `steadfast.fire_time_ms`,
 * `steadfast.attempt`, `steadfast.node`, `steadfast.run_id` and
 * `steadfast.manual`; a failed or timed-out run ends it with an error
 * status and an `exception` event, and the handler's own spans are its
 * children (whatever span the scheduler itself was built in). Each call of
 * the PostgreSQL store is a span too (`PgJobStore.claim`, ...). Spans go to
 * the `Tracer` of the scheduler's context: provide `OtlpTracer.layer` from
 * `effect/observability` to export them over OTLP (the layer's `url` is the
 * collector's OTLP/HTTP traces endpoint). Under Effect's default tracer,
 * whose spans go nowhere, runs make no span: it would cost each run some
 * 10 µs.
 *
 * @example
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { FetchHttpClient } from "effect/http"
 * import { OtlpSerialization, OtlpTracer } from "effect/observability"
 * import { MemoryJobStore, Scheduler, Task } from "steadfast"
 *
 * // The handler's own spans nest inside the run's span.
 * const sync = Task.make("sync", Schema.Struct({}), () => Effect.log("syncing").pipe(Effect.withSpan("sync.fetch")))
 *
 * const Tracing = OtlpTracer.layer({
 *   url: "http://localhost:4318/v1/traces",
 *   resource: { serviceName: "worker" }
 * }).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(FetchHttpClient.layer))
 *
 * // The tracer must be in the context the scheduler is built in.
 * const Worker = Scheduler.layer({ tasks: [sync] }).pipe(
 *   Layer.provide(MemoryJobStore.layer),
 *   Layer.provide(Tracing)
 * )
 * ```
 *
 * @since 0.4.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/**
 * The outcomes `steadfast_runs_total` counts.
 *
 * @example
 * ```ts
 * import type { Metrics } from "steadfast"
 *
 * const bad: ReadonlyArray<Metrics.Outcome> = ["failed", "timed-out", "lost"]
 * ```
 *
 * @since 0.4.0
 */
export type Outcome =
  | "succeeded"
  | "failed"
  | "timed-out"
  | "skipped"
  | "missed"
  | "coalesced"
  | "lost"
  | "cancelled"

/**
 * How many jobs get a `job` label of their own in `steadfast_runs_total`,
 * per metric registry (default 1,000): runs of jobs beyond it (the first
 * jobs to run keep their labels) are counted under `job="_other"`, by task
 * and outcome. `0` drops the `job` label: runs are counted by task and
 * outcome only. The bound keeps the series (and the memory they hold, some
 * hundreds of bytes each, never released while the process lives) finite
 * when jobs come and go, as one-off jobs do.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { MemoryJobStore, Metrics, Scheduler } from "steadfast"
 *
 * // 100,000 jobs: count runs by task only.
 * const Worker = Scheduler.layer({ tasks: [] }).pipe(
 *   Layer.provide(MemoryJobStore.layer),
 *   Layer.provide(Layer.succeed(Metrics.JobLabelLimit, 0))
 * )
 * ```
 *
 * @since 0.4.0
 */
export const JobLabelLimit: Context.Reference<number> = Context.Reference<number>("steadfast/Metrics/JobLabelLimit", {
  defaultValue: () => 1_000
})

/**
 * Runs by job, task and outcome (see the module's notes for where each is counted).
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const failures = Metric.value(Metric.withAttributes(Metrics.runs, { job: "nightly", task: "report", outcome: "failed" }))
 * const count = Effect.map(failures, (state) => state.count)
 * ```
 *
 * @since 0.4.0
 */
export const runs: Metric.Counter<number> = Metric.counter("steadfast_runs_total", {
  description: "Runs by job, task and outcome",
  incremental: true
})

/**
 * The bucket bounds (seconds) of the duration and lateness histograms: from
 * a millisecond to an hour.
 *
 * @example
 * ```ts
 * import { Metrics } from "steadfast"
 *
 * const slowest = Metrics.secondsBoundaries.at(-1) // 3600
 * ```
 *
 * @since 0.4.0
 */
export const secondsBoundaries: ReadonlyArray<number> = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600
]

/**
 * How long handlers ran, by task (seconds; all attempts of a run).
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const reports = Metric.value(Metric.withAttributes(Metrics.runDuration, { task: "report" }))
 * ```
 *
 * @since 0.4.0
 */
export const runDuration: Metric.Histogram<number> = Metric.histogram("steadfast_run_duration_seconds", {
  description: "How long handlers ran, by task (all attempts of a run)",
  boundaries: secondsBoundaries
})

/**
 * How late runs started, by task: start minus nominal fire time (seconds;
 * includes the job's jitter and any wait for a handler slot).
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const lateness = Metric.value(Metric.withAttributes(Metrics.runLateness, { task: "report" }))
 * ```
 *
 * @since 0.4.0
 */
export const runLateness: Metric.Histogram<number> = Metric.histogram("steadfast_run_lateness_seconds", {
  description: "Run start minus nominal fire time, by task",
  boundaries: secondsBoundaries
})

/**
 * How many runs each claim took (empty claims included).
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const claims = Metric.value(Metrics.claimBatchSize)
 * ```
 *
 * @since 0.4.0
 */
export const claimBatchSize: Metric.Histogram<number> = Metric.histogram("steadfast_claim_batch_size", {
  description: "Runs taken by each claim",
  boundaries: [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
})

/**
 * Handlers running now, by node: read from the executor when scraped.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const running = Metric.value(Metric.withAttributes(Metrics.runsInFlight, { node: "worker-1" }))
 * ```
 *
 * @since 0.4.0
 */
export const runsInFlight: Metric.Gauge<number> = Metric.gauge("steadfast_runs_in_flight", {
  description: "Handlers running now, by node"
})

/**
 * Background loops restarted after a failure or defect, by loop.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const restarts = Metric.value(Metric.withAttributes(Metrics.loopRestarts, { loop: "dispatcher" }))
 * ```
 *
 * @since 0.4.0
 */
export const loopRestarts: Metric.Counter<number> = Metric.counter("steadfast_loop_restarts_total", {
  description: "Background loop restarts after a failure or defect",
  incremental: true
})

/**
 * Background loops the watchdog restarted after too long without progress, by loop.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const stalls = Metric.value(Metric.withAttributes(Metrics.loopStalls, { loop: "recorder" }))
 * ```
 *
 * @since 0.4.0
 */
export const loopStalls: Metric.Counter<number> = Metric.counter("steadfast_loop_stalls_total", {
  description: "Background loops restarted by the watchdog after going too long without progress",
  incremental: true
})

/**
 * Store calls of the runtime that failed (each attempt, before any retry),
 * by operation and by the `StoreError`'s `reason` and `retryable`.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const lostConnections = Metric.value(
 *   Metric.withAttributes(Metrics.storeErrors, { operation: "claim", reason: "ConnectionError", retryable: "true" })
 * )
 * ```
 *
 * @since 0.4.0
 */
export const storeErrors: Metric.Counter<number> = Metric.counter("steadfast_store_errors_total", {
  description: "Store calls that failed, by operation and error class",
  incremental: true
})

/**
 * 1 while the store answers the node's calls, 0 from the first failure of
 * an outage until a call succeeds again; by node.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const up = Metric.value(Metric.withAttributes(Metrics.storeAvailable, { node: "worker-1" }))
 * ```
 *
 * @since 0.4.0
 */
export const storeAvailable: Metric.Gauge<number> = Metric.gauge("steadfast_store_available", {
  description: "1 while the store answers, 0 during an outage"
})

/**
 * The due-but-unclaimed backlog as seen by a node's claims: the age, in
 * seconds, of the due fires its last claim left behind (0 when the claim
 * took everything due). See the module's notes.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const lag = Metric.value(Metric.withAttributes(Metrics.backlog, { node: "worker-1" }))
 * ```
 *
 * @since 0.4.0
 */
export const backlog: Metric.Gauge<number> = Metric.gauge("steadfast_backlog_seconds", {
  description: "Age of the due fires the node's last claim left unclaimed (0: none left)"
})

/**
 * Every metric of the current `Metric.MetricRegistry` (the scheduler's and
 * any others of the application) in the Prometheus text exposition format,
 * rendered by `PrometheusMetrics` of `effect/observability` (loaded on first
 * use, so a worker that never serves metrics does not pay for it).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Metrics } from "steadfast"
 *
 * const body = Effect.map(Metrics.prometheus, (text) => text.split("\n").filter((line) => line.startsWith("steadfast_")))
 * ```
 *
 * @since 0.4.0
 */
export const prometheus: Effect.Effect<string> = Effect.flatMap(
  Effect.promise(() => import("effect/observability")),
  ({ PrometheusMetrics }) => PrometheusMetrics.format()
)

/**
 * The media type of `prometheus`'s text, for a `/metrics` response.
 *
 * @example
 * ```ts
 * import { Metrics } from "steadfast"
 *
 * const headers = { "content-type": Metrics.prometheusContentType }
 * ```
 *
 * @since 0.4.0
 */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"
