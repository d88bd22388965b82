/**
 * A claim's work between its two statements (see `claim.ts`): decode the
 * locked jobs, plan their due fires (`FirePlan`, shared with every store),
 * and turn what `settle` wrote into the claimed runs and the settled records.
 * Runs inside the claim's transaction (the caller's).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import * as FirePlan from "../../FirePlan.ts"
import type * as Job from "../../Job.ts"
import type { ClaimRequest, ClaimResult } from "../../JobStore.ts"
import type * as Run from "../../Run.ts"
import * as Trigger from "../../Trigger.ts"
import * as Claim from "./claim.ts"
import { dueOf, toJob, toRecord } from "./rows.ts"
import * as Tables from "./Tables.ts"

/**
 * The claim of a store, with its cache of decoded definitions.
 *
 * @internal
 */
export const make = (
  sql: SqlClient.SqlClient,
  t: Tables.Tables,
  aheadMs: number
): (request: ClaimRequest) => Effect.Effect<ClaimResult, SqlError.SqlError | Schema.SchemaError> => {
  // Decoded definitions by job id, reused while the stored text is the same:
  // a job that fires every second is decoded once, not every second. Bounded:
  // past `cacheLimit` entries it starts afresh.
  const definitions = new Map<string, { readonly text: string; readonly job: Job.Job }>()
  const cacheLimit = 10_000
  const decodeJob = (id: string, text: string, paused: boolean) => {
    const cached = definitions.get(id)
    if (cached !== undefined && cached.text === text) {
      return Effect.succeed(cached.job.paused === paused ? cached.job : { ...cached.job, paused })
    }
    return Effect.map(Effect.fromResult(toJob({ id, definition: JSON.parse(text), paused })), (job) => {
      if (definitions.size >= cacheLimit) definitions.clear()
      definitions.set(id, { text, job })
      return job
    })
  }

  return (request) =>
    Effect.gen(function*() {
      const locked = yield* Claim.lockClaimable(sql, t, { ...request, aheadMs })
      const at = Tables.ms(locked[0]?.t)
      const jobs = new Map<string, Job.Job>()
      const fires: Claim.FireInput = { job_id: [], fire_time: [], due_at: [], state: [], note: [], catch_up: [] }
      const advances: Claim.AdvanceInput = { id: [], next_fire: [], next_due: [] }
      for (const row of locked) {
        if (row.id === null || row.definition === null || row.paused === null) continue
        const job = yield* decodeJob(row.id, row.definition, row.paused)
        jobs.set(job.id, job)
        const nextFire = Tables.msOrNull(row.next_fire)
        if (row.due !== true || nextFire === null) continue
        const due = Trigger.dueAt(job.trigger, nextFire, job.id)
        if (due > at + aheadMs) continue
        // Due: every due fire, as of now. Within the claim-ahead window (the
        // job has no run in progress): its next fire alone, as of its due instant.
        const plan = FirePlan.plan(job, nextFire, due > at ? due : at)
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
        advances.next_due.push(dueOf(job, plan.nextFire))
      }
      if (jobs.size === 0) return { runs: [], settled: [] }
      const rows = yield* Claim.settle(sql, t, {
        t: at,
        node: request.node,
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
            startedAt: Math.max(at, dueAt)
          })
        }
      }
      return { runs, settled }
    })
}
