/**
 * The `Scheduler`'s operations for operators (job pages, history pages, one
 * run, cancel, counts by state, the live nodes), each checked as `history`
 * is before the store is asked: bad input is an `InvalidQuery` naming the
 * field (or, for run ids, no run), never a `StoreError` from the database.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Event } from "../Event.ts"
import * as Job from "../Job.ts"
import type { HistoryPage, HistoryQuery, JobPage, JobQuery, JobStore, NodeRecord } from "../JobStore.ts"
import { type RunNotCancellable, RunNotFound } from "../JobStore.ts"
import type * as Run from "../Run.ts"
import type { StoreGuard } from "../runtime/StoreGuard.ts"
import * as Telemetry from "../runtime/Telemetry.ts"
import type { StoreError } from "../StoreError.ts"
import * as HistoryQueryCheck from "./historyQuery.ts"
import { InvalidQuery } from "./historyQuery.ts"

/** The most jobs one `listJobs` page holds. @internal */
export const maxJobPage = 10_000

/**
 * The operators' part of the `Scheduler` service.
 *
 * @since 0.4.0
 */
export interface Operations {
  /**
   * Jobs by filter, by pages in id order (see `JobStore.JobQuery`): a `task`
   * that is not a task name, `text` longer than 200 characters or with
   * control characters, an `after` that is not a job id, or a `limit` that is
   * not a whole number from 0 to 10,000 is an `InvalidQuery`, without asking
   * the store. @since 0.4.0
   */
  readonly listJobs: (query: JobQuery) => Effect.Effect<JobPage, InvalidQuery | StoreError>
  /** `history` by pages (see `JobStore.HistoryPage`), checked as `history` is. @since 0.4.0 */
  readonly historyPage: (
    query: HistoryQuery
  ) => Effect.Effect<HistoryPage, InvalidQuery | StoreError>
  /** One run's record; an id that is not a run id is none, without asking the store. @since 0.4.0 */
  readonly getRun: (id: string) => Effect.Effect<Option.Option<Run.RunRecord>, StoreError>
  /**
   * Cancels a run, on whichever node it runs (see `JobStore.cancel`): a
   * pending run is recorded `cancelled` at once; a running one is
   * interrupted by its node within seconds and recorded `cancelled`
   * (event `RunCancelled`). An id that is not a run id is `RunNotFound`.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Scheduler } from "steadfast"
   *
   * const stop = (runId: string) =>
   *   Scheduler.Scheduler.use((scheduler) => scheduler.cancel(runId)).pipe(
   *     Effect.catchTag("RunNotCancellable", (error) => Effect.log(`already ${error.state}`))
   *   )
   * ```
   *
   * @since 0.4.0
   */
  readonly cancel: (
    id: string
  ) => Effect.Effect<Run.RunRecord, RunNotFound | RunNotCancellable | StoreError>
  /** Runs by state fired at or after `sinceMs`, of one job or all (see `JobStore.stateCounts`). @since 0.4.0 */
  readonly stateCounts: (
    jobId: string | undefined,
    sinceMs: number
  ) => Effect.Effect<Record<string, number>, InvalidQuery | StoreError>
  /**
   * The live nodes of the cluster, by id: those heard from within three node
   * heartbeats (`nodeHeartbeatInterval`, 30 s by default). @since 0.4.0
   */
  readonly nodes: Effect.Effect<ReadonlyArray<NodeRecord>, StoreError>
}

const isJobId = Schema.is(Job.JobId)
const isTaskName = Schema.is(Job.TaskName)
// Run ids are decimal integers in both stores (a bigint column in PostgreSQL).
const runId = /^[1-9][0-9]{0,17}$/
const isRunId = (id: unknown): id is string => typeof id === "string" && runId.test(id)
// Printable, no NUL (which PostgreSQL text cannot hold), bounded.
const isText = (text: unknown): text is string =>
  typeof text === "string" && text.length <= 200 && !/[\u0000-\u001f\u007f]/.test(text)

/** Why a job query cannot be answered, or `undefined`. @internal */
export const jobQueryProblem = (query: JobQuery): InvalidQuery | undefined => {
  if (typeof query !== "object" || query === null) return new InvalidQuery({ field: "query", issue: "must be an object" })
  const { after, limit, paused, task, text } = query
  if (task !== undefined && !isTaskName(task)) return new InvalidQuery({ field: "task", issue: "must be a valid task name" })
  if (paused !== undefined && typeof paused !== "boolean") {
    return new InvalidQuery({ field: "paused", issue: "must be true or false" })
  }
  if (text !== undefined && !isText(text)) {
    return new InvalidQuery({ field: "text", issue: "must be at most 200 printable characters" })
  }
  if (after !== undefined && !isJobId(after)) {
    return new InvalidQuery({ field: "after", issue: "must be a job id (the `next` of a previous page)" })
  }
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0 && limit <= maxJobPage)) {
    return new InvalidQuery({ field: "limit", issue: `must be a whole number from 0 to ${maxJobPage}, got ${String(limit)}` })
  }
  return undefined
}

/** @internal */
export const make = (options: {
  readonly store: JobStore["Service"]
  /** For the writes (cancel). */
  readonly guard: StoreGuard
  /** For the reads: their failures are not the store's health (see `StoreGuard.make`). */
  readonly reads: StoreGuard
  /** How old a node's last heartbeat may be for `nodes` to list it. */
  readonly staleAfterMs: number
  /** Where a run cancelled here and now (a pending one) is told. */
  readonly publish: (event: Event) => Effect.Effect<void>
}): Operations => {
  const { guard, reads, store } = options
  const checked = <A, E>(problem: InvalidQuery | undefined, run: () => Effect.Effect<A, E>) =>
    problem === undefined ? run() : Effect.fail(problem)
  return {
    listJobs: (query) => checked(jobQueryProblem(query), () => reads("listJobs", store.listJobs(query))),
    historyPage: (query) =>
      checked(HistoryQueryCheck.problem(query), () => reads("historyPage", store.historyPage(query))),
    // An id that is not a run id names no run: answered without the store.
    getRun: (id) => isRunId(id) ? reads("getRun", store.getRun(id)) : Effect.succeedNone,
    cancel: (id) =>
      isRunId(id)
        // A pending run is cancelled here and now (counted and told); a running one by its node, which does both.
        ? Effect.tap(guard("cancel", store.cancel(id)), (record) =>
          record.state === "cancelled"
            ? Effect.andThen(
              Telemetry.reaped([record]),
              options.publish(Event.RunCancelled({
                jobId: record.jobId,
                fireTime: record.fireTime,
                runId: record.id,
                attempt: record.attempt,
                at: record.endedAt ?? record.dueAt
              }))
            )
            : Effect.void)
        : Effect.fail(new RunNotFound({ id: typeof id === "string" ? id : "" })),
    stateCounts: (jobId, sinceMs) => {
      if (jobId !== undefined && !isJobId(jobId)) {
        return Effect.fail(new InvalidQuery({ field: "jobId", issue: "must be a valid job id (see Job.JobId)" }))
      }
      if (!Number.isSafeInteger(sinceMs)) {
        return Effect.fail(new InvalidQuery({ field: "sinceMs", issue: `must be a whole number of epoch milliseconds, got ${String(sinceMs)}` }))
      }
      return reads("stateCounts", store.stateCounts(jobId, sinceMs))
    },
    nodes: reads("nodes", store.nodes(options.staleAfterMs))
  }
}
