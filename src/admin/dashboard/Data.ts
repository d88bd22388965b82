/**
 * What the dashboard's pages ask of the `Scheduler` service, in one place:
 * jobs by filter and page, a job's recent runs, runs by filter and cursor
 * (the same operations the admin API serves).
 *
 * @since 0.4.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as JobStore from "../../JobStore.ts"
import * as Run from "../../Run.ts"
import type { InvalidQuery, Scheduler } from "../../Scheduler.ts"
import type { StoreError } from "../../StoreError.ts"

type Service = Scheduler["Service"]

/**
 * The jobs page's filter: a substring of the id, a task, paused or not.
 *
 * @since 0.4.0
 */
export interface JobFilter {
  readonly text?: string | undefined
  readonly task?: string | undefined
  readonly paused?: boolean | undefined
  readonly after?: string | undefined
  readonly limit: number
}

/**
 * One page of jobs, by id.
 *
 * @since 0.4.0
 */
export const jobsPage = (scheduler: Service, filter: JobFilter): Effect.Effect<JobStore.JobPage, StoreError> =>
  // A filter no job can match (an `after` that is no job id, text with
  // control characters) matches nothing.
  Effect.catchTag(scheduler.listJobs(filter), "InvalidQuery", () => Effect.succeed({ jobs: [], next: null }))

/**
 * The latest `limit` runs of each job (newest first), a few jobs at a time.
 *
 * @since 0.4.0
 */
export const recentRuns = (scheduler: Service, jobIds: ReadonlyArray<string>, limit: number) =>
  Effect.map(
    Effect.forEach(jobIds, (jobId) => scheduler.history({ jobId, limit }), { concurrency: 4 }),
    (lists) => new Map(jobIds.map((id, i) => [id, lists[i] ?? []]))
  )

/**
 * The runs page's filter. Times are epoch ms: `from` inclusive, `to` exclusive.
 *
 * @since 0.4.0
 */
export interface RunFilter {
  readonly jobId?: string | undefined
  readonly state?: Run.State | undefined
  readonly from?: number | undefined
  readonly to?: number | undefined
  readonly before?: string | undefined
  readonly limit: number
}

/**
 * One page of runs, newest fire first, with the cursor of the next.
 *
 * @since 0.4.0
 */
export const runsPage = (
  scheduler: Service,
  filter: RunFilter
): Effect.Effect<JobStore.HistoryPage, InvalidQuery | StoreError> =>
  scheduler.historyPage({
    jobId: filter.jobId,
    states: filter.state === undefined ? undefined : [filter.state],
    from: filter.from,
    to: filter.to,
    before: filter.before,
    limit: filter.limit
  })

const isState = Schema.is(Run.State)

/**
 * A run state from a query parameter, if it is one.
 *
 * @since 0.4.0
 */
export const parseState = (value: string | undefined): Run.State | undefined =>
  value !== undefined && isState(value) ? value : undefined
