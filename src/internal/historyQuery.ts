/**
 * What `Scheduler.history` accepts, checked before the store is asked: a
 * negative limit is 2201W in PostgreSQL, `NaN` or 1e20 is 22003, a NUL in a
 * job id is 22021, and none of them should ever come back as a `StoreError`.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import * as Job from "../Job.ts"
import type { HistoryQuery } from "../JobStore.ts"
import * as Run from "../Run.ts"
import { parseHistoryCursor } from "./cursor.ts"

/**
 * The most records one `history` call returns.
 *
 * @since 0.2.0
 */
export const maxHistoryLimit = 100_000

/**
 * A query that cannot be answered: of history, a `limit` that is not a
 * whole number from 0 to 100,000, a `jobId` that is not a valid job id, a
 * `states` entry that is not a run state, `from` or `to` that are not whole
 * numbers, a `before` that is not a cursor; of jobs (`listJobs`) or counts
 * (`stateCounts`), likewise (see `Scheduler`). `field` names the query field.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Scheduler } from "steadfast"
 *
 * const program = Scheduler.Scheduler.use((scheduler) => scheduler.history({ limit: -1 })).pipe(
 *   Effect.catchTag("InvalidQuery", (error) => Effect.succeed(error.field)) // "limit"
 * )
 * ```
 *
 * @since 0.2.0
 */
export class InvalidQuery extends Schema.TaggedError<InvalidQuery>()("InvalidQuery", {
  field: Schema.Literals([
    "jobId",
    "states",
    "limit",
    "query",
    "from",
    "to",
    "before",
    "task",
    "paused",
    "text",
    "after",
    "sinceMs"
  ]),
  issue: Schema.String
}) {
  override get message(): string {
    return `query field ${this.field} is invalid: ${this.issue}`
  }
}

const isJobId = Schema.is(Job.JobId)
const isState = Schema.is(Run.State)

/**
 * Why `query` cannot be answered, or `undefined`.
 *
 * @internal
 */
export const problem = (query: HistoryQuery): InvalidQuery | undefined => {
  if (typeof query !== "object" || query === null) return new InvalidQuery({ field: "query", issue: "must be an object" })
  const { jobId, limit, states } = query
  if (jobId !== undefined && !isJobId(jobId)) {
    return new InvalidQuery({ field: "jobId", issue: "must be a valid job id (see Job.JobId)" })
  }
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0 && limit <= maxHistoryLimit)) {
    return new InvalidQuery({ field: "limit", issue: `must be a whole number from 0 to ${maxHistoryLimit}, got ${String(limit)}` })
  }
  if (states !== undefined && !(Array.isArray(states) && states.every(isState))) {
    return new InvalidQuery({ field: "states", issue: `must be run states (${Run.State.literals.join(", ")})` })
  }
  for (const field of ["from", "to"] as const) {
    const value: unknown = query[field]
    if (value !== undefined && !Number.isSafeInteger(value)) {
      return new InvalidQuery({ field, issue: `must be a whole number of epoch milliseconds, got ${String(value)}` })
    }
  }
  if (query.before !== undefined && parseHistoryCursor(query.before) === undefined) {
    return new InvalidQuery({ field: "before", issue: "must be the `next` cursor of a previous page" })
  }
  return undefined
}
