/**
 * Statements for runs a node holds without executing them: `adopt` finds the
 * runs of its claims whose answer never arrived (by the claim's token),
 * `release` hands back the runs it claimed but never started. Both are
 * fenced by the node and the token, as `renew` is.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type { JobStore } from "../../JobStore.ts"
import type * as Run from "../../Run.ts"
import type { StoreError } from "../../StoreError.ts"
import type { Operation } from "./deadline.ts"
import { int8s, texts } from "./params.ts"
import { toJob } from "./rows.ts"
import { notifyFor } from "./runs.ts"
import { ms, nowMs, type Tables } from "./Tables.ts"

/** A run `adopt` found, with its job's stored definition. @internal */
export interface AdoptedRow {
  readonly id: string
  readonly job_id: string
  readonly fire_time: unknown
  readonly due_at: unknown
  readonly attempt: number
  readonly token: string
  readonly started_at: unknown
  readonly manual: boolean
  readonly payload: Schema.Json | null
  readonly definition: unknown
  readonly paused: boolean
}

/**
 * Renews and returns the runs running under `node` with one of `tokens`
 * whose job still exists and no operator asked to cancel, in the order a
 * claim returns them.
 *
 * @internal
 */
export const adopt = (
  sql: SqlClient.SqlClient,
  t: Tables,
  node: string,
  tokens: ReadonlyArray<string>,
  leaseMs: number
) =>
  sql<AdoptedRow>`
    WITH adopted AS (
      UPDATE ${t.runs} r SET lease_until = ${sql.literal(nowMs)} + ${leaseMs}::bigint
      FROM ${t.jobs} j
      WHERE j.id = r.job_id AND r.state = 'running' AND r.node = ${node}::text AND r.token = ANY(${texts(tokens)})
        -- Cancelled before its node learned it held the run: never started
        -- (its lease runs out and the reaper records it cancelled).
        AND NOT r.cancel_requested
      RETURNING r.id, r.job_id, r.fire_time, r.due_at, r.attempt, r.token, r.started_at, r.manual, r.payload, j.definition, j.paused
    )
    SELECT id::text AS id, job_id, fire_time, due_at, attempt, token, started_at, manual, payload, definition, paused
    FROM adopted
    ORDER BY due_at, fire_time, id`

/**
 * The claimed run of an adopted row; `undefined` when its job's stored
 * definition no longer decodes (it is left to its lease).
 *
 * @internal
 */
export const toClaimed = (row: AdoptedRow): Run.Claimed | undefined => {
  const job = toJob({ id: row.job_id, definition: row.definition, paused: row.paused })
  if (Result.isFailure(job)) return undefined
  const { misfire, payload, retry, task, timeout } = job.success
  return {
    id: row.id,
    jobId: row.job_id,
    fireTime: ms(row.fire_time),
    dueAt: ms(row.due_at),
    attempt: row.attempt,
    token: row.token,
    task,
    payload: row.payload ?? payload,
    retry,
    timeout,
    startedAt: ms(row.started_at),
    manual: row.manual,
    misfire
  }
}

/**
 * Makes the given running runs of `node` pending again (same attempt, no
 * node, token or lease; `catch_up`, so an overlap limit never skips them),
 * and wakes the other processes; returns the ids handed back. A run an
 * operator asked to cancel is recorded `cancelled` instead: it never started.
 *
 * @internal
 */
export const release = (
  sql: SqlClient.SqlClient,
  t: Tables,
  node: string,
  leases: ReadonlyArray<{ readonly id: string; readonly token: string }>
) =>
  sql<{ readonly id: string }>`
    WITH released AS (
      UPDATE ${t.runs} r SET state = CASE WHEN r.cancel_requested THEN 'cancelled' ELSE 'pending' END,
        node = CASE WHEN r.cancel_requested THEN r.node END, token = NULL, lease_until = NULL,
        started_at = CASE WHEN r.cancel_requested THEN r.started_at END,
        ended_at = CASE WHEN r.cancel_requested THEN greatest(${sql.literal(nowMs)}, r.started_at) ELSE r.ended_at END,
        note = CASE WHEN r.cancel_requested THEN 'cancelled by operator' ELSE r.note END,
        catch_up = true
      FROM unnest(${int8s(leases.map((l) => l.id))}, ${texts(leases.map((l) => l.token))}) AS i(id, token)
      -- The ids as an array too: an index lookup whatever the statistics say.
      WHERE r.id = ANY(${int8s(leases.map((l) => l.id))}) AND r.id = i.id AND r.token = i.token
        AND r.node = ${node}::text AND r.state = 'running'
      RETURNING r.id
    )
    SELECT id::text AS id, ${notifyFor(sql, t, "(SELECT 1 FROM released LIMIT 1) one", "release")} AS notified
    FROM released
    ORDER BY id`

const runId = /^[1-9][0-9]{0,17}$/

/**
 * The store's `adopt` and `release`, each call made through `call` (its
 * deadline and error classification).
 *
 * @internal
 */
export const make = (
  sql: SqlClient.SqlClient,
  t: Tables,
  call: <A, E, R>(operation: Operation, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, StoreError, R>
): Pick<JobStore["Service"], "adopt" | "release"> => ({
  adopt: Effect.fn("PgJobStore.adopt")(function*(node: string, tokens: ReadonlyArray<string>, leaseMs: number) {
    if (tokens.length === 0) return []
    const rows = yield* call("adopt", adopt(sql, t, node, tokens, leaseMs))
    return rows.flatMap((row) => toClaimed(row) ?? [])
  }),
  // Ids that are not run ids name no run (and would not fit the bigint column).
  release: Effect.fn("PgJobStore.release")(function*(node: string, leases: ReadonlyArray<{ readonly id: string; readonly token: string }>) {
    const valid = leases.filter((lease) => runId.test(lease.id))
    if (valid.length === 0) return []
    return (yield* call("release", release(sql, t, node, valid).unprepared)).map((row) => row.id)
  })
})
