/**
 * A claim's work between its two statements (see `claim.ts`): decode the
 * locked jobs, plan their due fires (`FirePlan`, shared with every store),
 * and turn what `settle` wrote into the claimed runs and the settled records.
 * Runs inside the claim's transaction (the caller's).
 *
 * No job's content can fail the claim: a stored definition that does not
 * decode, or whose fires cannot be planned, is set aside (the job paused
 * with a note, in the same transaction) and reported in the result, and the
 * claim goes on with the other jobs. Without that, one such row would fail
 * every claim of the cluster, for good: it stays due.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import type * as Job from "../../Job.ts"
import type { ClaimRequest, ClaimResult, SetAside } from "../../JobStore.ts"
import type * as Run from "../../Run.ts"
import { planDue } from "../plannedFires.ts"
import * as Claim from "./claim.ts"
import * as Jobs from "./jobs.ts"
import { toJob, toRecord } from "./rows.ts"
import * as Tables from "./Tables.ts"

// A set-aside note is read by people: long schema messages are cut.
const maxDetail = 2_000

/**
 * The claim of a store, with its cache of decoded definitions.
 *
 * @internal
 */
export const make = (
  sql: SqlClient.SqlClient,
  t: Tables.Tables
): (request: ClaimRequest) => Effect.Effect<ClaimResult, SqlError.SqlError> => {
  // Decoded definitions by their stored text (a definition holds neither the
  // id nor the paused flag): a job that fires every second is decoded once,
  // not every second, and thousands of one-off jobs of one task with one
  // payload are decoded once, not each. Bounded: past `cacheLimit` entries
  // it starts afresh.
  const definitions = new Map<string, Job.Job>()
  const cacheLimit = 10_000
  const decodeJob = (id: string, text: string, paused: boolean): Result.Result<Job.Job, string> => {
    const cached = definitions.get(text)
    if (cached !== undefined) {
      return Result.succeed(cached.id === id && cached.paused === paused ? cached : { ...cached, id, paused })
    }
    const decoded = Result.flatMap(
      Result.try({ try: (): unknown => JSON.parse(text), catch: () => "its definition is not JSON" }),
      (definition) => Result.mapError(toJob({ id, definition, paused }), (error) => `its definition does not decode: ${error.message}`)
    )
    if (Result.isSuccess(decoded)) {
      if (definitions.size >= cacheLimit) definitions.clear()
      definitions.set(text, decoded.success)
    }
    return decoded
  }

  return (request) =>
    Effect.gen(function*() {
      const aheadMs = request.aheadMs ?? 0
      const locked = yield* Claim.lockClaimable(sql, t, { ...request, aheadMs })
      const at = Tables.ms(locked[0]?.t)
      const jobs = new Map<string, Job.Job>()
      const setAside: Array<SetAside> = []
      const fires: Claim.FireInput = { job_id: [], fire_time: [], due_at: [], state: [], note: [], catch_up: [] }
      const advances: Claim.AdvanceInput = { id: [], next_fire: [], next_due: [] }
      for (const row of locked) {
        if (row.id === null || row.definition === null || row.paused === null) continue
        const decoded = decodeJob(row.id, row.definition, row.paused)
        if (Result.isFailure(decoded)) {
          setAside.push({ jobId: row.id, reason: "undecodable", detail: decoded.failure.slice(0, maxDetail), at })
          continue
        }
        const job = decoded.success
        const nextFire = Tables.msOrNull(row.next_fire)
        if (row.due !== true || nextFire === null) {
          jobs.set(job.id, job)
          continue
        }
        const planned = planDue(job, nextFire, at, aheadMs)
        if (Result.isFailure(planned)) {
          setAside.push({ jobId: job.id, reason: "unplannable", detail: planned.failure.slice(0, maxDetail), at })
          continue
        }
        jobs.set(job.id, job)
        const { plan, due, nextDue } = planned.success
        // Locked as due, yet not due by its definition: its stored due
        // instant disagrees (a row written by hand). Correct it, so that it
        // is not locked again before it is due.
        if (plan === null) {
          advances.id.push(job.id)
          advances.next_fire.push(nextFire)
          advances.next_due.push(due)
          continue
        }
        for (const fire of plan.fires) {
          fires.job_id.push(job.id)
          fires.fire_time.push(fire.fireTime)
          fires.due_at.push(fire.dueAt)
          fires.state.push(fire.state)
          fires.note.push(fire.note)
          fires.catch_up.push(fire.catchUp)
        }
        advances.id.push(job.id)
        advances.next_fire.push(plan.nextFire)
        advances.next_due.push(nextDue)
      }
      if (setAside.length > 0) yield* Jobs.setAside(sql, t, setAside)
      if (jobs.size === 0) return { runs: [], settled: [], setAside }
      const rows = yield* Claim.settle(sql, t, {
        t: at,
        node: request.node,
        token: request.token,
        ended: request.ended,
        limit: request.limit,
        leaseMs: request.leaseMs,
        jobIds: [...jobs.keys()],
        fires,
        advances
      })
      const runs: Array<Run.Claimed> = []
      const settled: Array<Run.RunRecord> = []
      for (const row of rows) {
        const job = jobs.get(row.job_id)
        if (row.state !== "running") {
          settled.push(toRecord(row))
        } else if (job !== undefined && row.token !== null) {
          const dueAt = Tables.ms(row.due_at)
          runs.push({
            id: row.id,
            jobId: row.job_id,
            fireTime: Tables.ms(row.fire_time),
            dueAt,
            attempt: row.attempt,
            token: row.token,
            task: job.task,
            payload: row.payload ?? job.payload,
            retry: job.retry,
            timeout: job.timeout,
            // A fire claimed ahead starts when it is due.
            startedAt: Math.max(at, dueAt),
            manual: row.manual,
            misfire: job.misfire
          })
        }
      }
      return { runs, settled, setAside, at }
    })
}
