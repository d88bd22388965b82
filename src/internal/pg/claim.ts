/**
 * The two statements of a claim, run in one short transaction:
 *
 * 1. `lockClaimable` reads the database clock and locks (`FOR UPDATE SKIP
 *    LOCKED`) the job rows this claim will work on: due jobs, found through
 *    the `next_due` index, and jobs with pending runs that may be claimable.
 *    Concurrent claimers skip each other's jobs instead of waiting.
 * 2. `settle`, after the fires of due jobs were planned in JavaScript
 *    (`FirePlan`, shared with every store), writes everything in one
 *    statement: advances the jobs' next fire, inserts the planned fires
 *    (`ON CONFLICT (job_id, fire_time) DO NOTHING`: the exactly-once key),
 *    and decides, per job in fire order, which pending runs start now and
 *    which are skipped by the overlap limit. New fires that start at once are
 *    inserted as `running`: a run is written once when claimed.
 *
 * The overlap decision counts running runs in statement 2, whose snapshot is
 * taken after statement 1 holds the job locks: every claim of the same job
 * that committed earlier is visible, so the limit holds across processes.
 *
 * @internal
 */
import type { Effect } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import { type ClaimedRow, jobColumns, type JobRow, runColumns } from "./rows.ts"
import { nowMs, type Tables } from "./Tables.ts"

/** @internal */
export interface LockedRow extends Partial<JobRow> {
  /** The database clock when the claim started. */
  readonly t: unknown
  /** Locked because its next fire is due (else: for its pending runs). */
  readonly due: boolean | null
}

const prefixed = (alias: string) =>
  jobColumns.split(", ").map((column) => `${alias}.${column}`).join(", ")

/**
 * Statement 1: the clock and the locked jobs (one row with only `t` when
 * nothing is claimable).
 *
 * @internal
 */
export const lockClaimable = (
  sql: SqlClient.SqlClient,
  t: Tables,
  request: { readonly tasks: ReadonlyArray<string>; readonly limit: number }
): Effect.Effect<ReadonlyArray<LockedRow>, SqlError.SqlError> =>
  sql<LockedRow>`
    WITH clock AS (SELECT ${sql.literal(nowMs)} AS t),
    due AS (
      SELECT ${sql.literal(prefixed("j"))}
      FROM ${t.jobs} j
      WHERE NOT j.paused AND j.next_due IS NOT NULL AND j.next_due <= (SELECT t FROM clock)
        AND j.task = ANY(${request.tasks}::text[])
      ORDER BY j.next_due
      LIMIT ${request.limit}
      FOR UPDATE OF j SKIP LOCKED
    ),
    waiting AS (
      SELECT ${sql.literal(prefixed("j"))}
      FROM ${t.jobs} j
      WHERE j.id IN (
        SELECT r.job_id
        FROM ${t.runs} r JOIN ${t.jobs} o ON o.id = r.job_id
        WHERE r.state = 'pending' AND r.due_at <= (SELECT t FROM clock)
          AND NOT o.paused AND o.task = ANY(${request.tasks}::text[])
          AND (
            (o.on_limit = 'skip' AND NOT r.catch_up AND NOT r.manual)
            OR (SELECT count(*) FROM ${t.runs} x WHERE x.job_id = r.job_id AND x.state = 'running') < o.overlap_max
          )
        ORDER BY r.due_at
        LIMIT ${request.limit}
      )
      AND NOT j.paused AND j.task = ANY(${request.tasks}::text[])
      FOR UPDATE OF j SKIP LOCKED
    )
    SELECT clock.t, locked.*
    FROM clock LEFT JOIN (
      SELECT true AS due, due.* FROM due
      UNION ALL
      SELECT false, waiting.* FROM waiting WHERE waiting.id NOT IN (SELECT id FROM due)
    ) locked ON true`

/** A planned fire, as `settle` takes it. @internal */
export interface FireInput {
  readonly ord: number
  readonly job_id: string
  readonly fire_time: number
  readonly due_at: number
  readonly state: "pending" | "missed" | "coalesced"
  readonly note: string | null
  readonly catch_up: boolean
}

/** A job's new next fire. @internal */
export interface AdvanceInput {
  readonly id: string
  readonly next_fire: number | null
  readonly next_due: number | null
}

/**
 * Statement 2: writes the planned fires and the claim decisions; returns the
 * claimed runs (`state = 'running'`) and the fires settled without running
 * (missed, coalesced, skipped), in the order the claim considered them.
 *
 * A pending run (existing or new) is considered in `(due_at, fire_time)`
 * order. Per job, the first `overlap_max - running` of them start; the ones
 * after are skipped when the job's limit policy is `skip` and a run that
 * was already running when the fire came due blocks it (never catch-up,
 * manual or retried runs), or stay pending: a backlog that became due while
 * nothing ran (an outage, a pause) waits instead of being skipped. At most `limit` runs start, and
 * nothing after the `limit`-th start is looked at: as the memory store does.
 *
 * @internal
 */
export const settle = (
  sql: SqlClient.SqlClient,
  t: Tables,
  input: {
    readonly t: number
    readonly node: string
    readonly limit: number
    readonly leaseMs: number
    readonly jobIds: ReadonlyArray<string>
    readonly fires: ReadonlyArray<FireInput>
    readonly advances: ReadonlyArray<AdvanceInput>
  }
): Effect.Effect<ReadonlyArray<ClaimedRow>, SqlError.SqlError> =>
  sql<ClaimedRow>`
    WITH fire AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(input.fires)}::jsonb) AS x(
        ord bigint, job_id text, fire_time bigint, due_at bigint, state text, note text, catch_up boolean
      )
    ),
    advance AS (
      UPDATE ${t.jobs} j SET next_fire = x.next_fire, next_due = x.next_due
      FROM jsonb_to_recordset(${JSON.stringify(input.advances)}::jsonb) AS x(id text, next_fire bigint, next_due bigint)
      WHERE j.id = x.id
      RETURNING j.id
    ),
    active AS (
      SELECT job_id, count(*) AS n, min(started_at) AS first_start FROM ${t.runs}
      WHERE state = 'running' AND job_id = ANY(${input.jobIds}::text[])
      GROUP BY job_id
    ),
    candidate AS (
      SELECT 0 AS src, r.id AS ord, r.job_id, r.fire_time, r.due_at, r.catch_up, r.manual
      FROM ${t.runs} r
      WHERE r.state = 'pending' AND r.job_id = ANY(${input.jobIds}::text[]) AND r.due_at <= ${input.t}::bigint
      UNION ALL
      SELECT 1, f.ord, f.job_id, f.fire_time, f.due_at, f.catch_up, false
      FROM fire f WHERE f.state = 'pending'
    ),
    ranked AS (
      SELECT c.*, j.overlap_max, j.on_limit, coalesce(a.first_start <= c.due_at, false) AS found_running,
        row_number() OVER (PARTITION BY c.job_id ORDER BY c.due_at, c.fire_time, c.src, c.ord)
          <= j.overlap_max - coalesce(a.n, 0) AS want
      FROM candidate c JOIN ${t.jobs} j ON j.id = c.job_id LEFT JOIN active a ON a.job_id = c.job_id
    ),
    ordered AS (
      SELECT r.*,
        count(*) FILTER (WHERE r.want) OVER (ORDER BY r.due_at, r.fire_time, r.src, r.ord ROWS UNBOUNDED PRECEDING) AS starts
      FROM ranked r
    ),
    verdict AS (
      SELECT o.*,
        CASE
          WHEN o.want AND o.starts <= ${input.limit} THEN 'running'
          WHEN NOT o.want AND o.starts < ${input.limit} AND o.on_limit = 'skip' AND o.found_running
            AND NOT o.catch_up AND NOT o.manual
            THEN 'skipped'
          ELSE 'pending'
        END AS verdict
      FROM ordered o
    ),
    inserted AS (
      INSERT INTO ${t.runs} AS r (
        job_id, fire_time, due_at, state, node, token, lease_until, started_at, ended_at, note, catch_up
      )
      SELECT f.job_id, f.fire_time, f.due_at,
        coalesce(v.verdict, f.state),
        CASE WHEN v.verdict = 'running' THEN ${input.node}::text END,
        CASE WHEN v.verdict = 'running' THEN ${input.node}::text || ':' || gen_random_uuid() END,
        CASE WHEN v.verdict = 'running' THEN ${input.t}::bigint + ${input.leaseMs}::bigint END,
        CASE WHEN v.verdict = 'running' THEN ${input.t}::bigint END,
        CASE WHEN v.verdict = 'skipped' THEN ${input.t}::bigint WHEN f.state <> 'pending' THEN f.due_at END,
        CASE WHEN v.verdict = 'skipped' THEN 'overlap limit ' || v.overlap_max || ' reached' ELSE f.note END,
        f.catch_up
      FROM fire f LEFT JOIN verdict v ON v.src = 1 AND v.ord = f.ord
      ORDER BY f.ord
      ON CONFLICT (job_id, fire_time) DO NOTHING
      RETURNING ${sql.literal(runColumns("r"))}, r.token, r.payload
    ),
    updated AS (
      UPDATE ${t.runs} r SET
        state = v.verdict,
        node = CASE WHEN v.verdict = 'running' THEN ${input.node}::text ELSE r.node END,
        token = CASE WHEN v.verdict = 'running' THEN ${input.node}::text || ':' || gen_random_uuid() ELSE r.token END,
        lease_until = CASE WHEN v.verdict = 'running' THEN ${input.t}::bigint + ${input.leaseMs}::bigint END,
        started_at = CASE WHEN v.verdict = 'running' THEN ${input.t}::bigint ELSE r.started_at END,
        ended_at = CASE WHEN v.verdict = 'skipped' THEN ${input.t}::bigint ELSE r.ended_at END,
        note = CASE WHEN v.verdict = 'skipped' THEN 'overlap limit ' || v.overlap_max || ' reached' ELSE r.note END
      FROM verdict v
      WHERE v.src = 0 AND r.id = v.ord AND v.verdict <> 'pending' AND r.state = 'pending'
      RETURNING ${sql.literal(runColumns("r"))}, r.token, r.payload
    )
    SELECT s.* FROM (
      SELECT i.*, CASE WHEN i.state IN ('missed', 'coalesced') THEN 0 ELSE 1 END AS phase FROM inserted i
      WHERE i.state <> 'pending'
      UNION ALL
      SELECT u.*, 1 FROM updated u
    ) s
    ORDER BY s.phase, s.due_at, s.fire_time, s.id::bigint`
