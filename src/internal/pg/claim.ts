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
 *    (`ON CONFLICT (job_id, fire_time, manual) DO NOTHING`: the exactly-once
 *    key, in which manual runs have a key space of their own),
 *    and decides, per job in fire order, which pending runs start now and
 *    which are skipped by the overlap limit. New fires that start at once are
 *    inserted as `running`: a run is written once when claimed.
 *
 * The overlap decision counts running runs in statement 2, whose snapshot is
 * taken after statement 1 holds the job locks: every claim of the same job
 * that committed earlier is visible, so the limit holds across processes.
 *
 * With a claim-ahead window (`ClaimRequest.aheadMs`), a job whose
 * next fire is due within the window and which has no run in progress is
 * locked too: its next fire alone is claimed early, to start on time. A job
 * with a run in progress is claimed when due, as without the window, so the
 * overlap decision is the same.
 *
 * Inputs travel as typed arrays (binary `unnest` parameters), which both
 * sides encode and decode far more cheaply than JSON. A claimed run's
 * fencing token is the id of the claiming transaction: unique per claim (a
 * run claimed again after its lease expired gets another), and free, where a
 * random UUID per run cost as much as a quarter of the insert. A caller may
 * choose the claim's token instead (`ClaimRequest.token`, one parameter per
 * claim): the scheduler does, so that it can find the runs of a claim whose
 * answer never arrived (see `handback.ts`).
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import type * as Statement from "effect/sql/Statement"
import type { Lease, Share } from "../../JobStore.ts"
import { bools, int8s, texts } from "./params.ts"
import type { ClaimedRow } from "./rows.ts"
import { nowMs, type Tables } from "./Tables.ts"

/** A job row as a claim locks it. @internal */
export interface LockedRow {
  /** The database clock when the claim started. */
  readonly t: unknown
  readonly id: string | null
  /** The stored definition, as JSON text (decoded once per text by the store's cache). */
  readonly definition: string | null
  readonly paused: boolean | null
  readonly next_fire: unknown
  /** Locked because its next fire is due, or due within the claim-ahead window (else: for its pending runs). */
  readonly due: boolean | null
}

/**
 * Statement 1: the clock and the locked jobs (one row with only `t` when
 * nothing is claimable).
 *
 * @internal
 */
export const lockClaimable = (
  sql: SqlClient.SqlClient,
  t: Tables,
  request: {
    readonly tasks: ReadonlyArray<string>
    readonly limit: number
    readonly aheadMs: number
    /** Runs whose handlers ended, outcome not written yet: no overlap slot (`ClaimRequest.ended`). */
    readonly ended?: ReadonlyArray<Lease> | undefined
    /** Only these jobs are claimed ahead (`ClaimRequest.share`). */
    readonly share?: Share | undefined
  }
): Effect.Effect<ReadonlyArray<LockedRow>, SqlError.SqlError> =>
  sql<LockedRow>`
    WITH clock AS (SELECT ${sql.literal(nowMs)} AS t),
    due AS (
      SELECT j.id, j.definition::text AS definition, j.paused, j.next_fire
      FROM ${t.jobs} j
      WHERE NOT j.paused AND j.next_due IS NOT NULL AND j.task = ANY(${texts(request.tasks)})
        ${
    request.aheadMs > 0
      ? sql`AND j.next_due <= (SELECT t FROM clock) + ${request.aheadMs}::bigint
        AND (j.next_due <= (SELECT t FROM clock)
          OR ${ownShare(sql, t, request.share, request.tasks, sql`(SELECT t FROM clock)`)} AND NOT EXISTS (SELECT 1 FROM ${t.runs} x WHERE x.job_id = j.id AND x.state = 'running'
            AND NOT (x.id::text || '/' || coalesce(x.token, '')) = ANY(${texts(endedKeys(request.ended))})))`
      : sql`AND j.next_due <= (SELECT t FROM clock)`
  }
      ORDER BY j.next_due
      LIMIT ${request.limit}
      FOR UPDATE OF j SKIP LOCKED
    ),
    waiting AS (
      SELECT j.id, j.definition::text AS definition, j.paused, j.next_fire
      FROM ${t.jobs} j
      WHERE j.id IN (
        SELECT r.job_id
        FROM ${t.runs} r JOIN ${t.jobs} o ON o.id = r.job_id
        WHERE r.state = 'pending' AND r.due_at <= (SELECT t FROM clock)
          AND NOT o.paused AND o.task = ANY(${texts(request.tasks)})
          AND (
            (o.on_limit = 'skip' AND NOT r.catch_up AND NOT r.manual)
            OR (SELECT count(*) FROM ${t.runs} x WHERE x.job_id = r.job_id AND x.state = 'running'
              AND NOT (x.id::text || '/' || coalesce(x.token, '')) = ANY(${texts(endedKeys(request.ended))})) < o.overlap_max
          )
        ORDER BY r.due_at
        LIMIT ${request.limit}
      )
      AND NOT j.paused AND j.task = ANY(${texts(request.tasks)})
      FOR UPDATE OF j SKIP LOCKED
    ),
    locked AS (
      SELECT true AS due, * FROM due
      UNION ALL
      SELECT false, * FROM waiting WHERE id NOT IN (SELECT id FROM due)
    )
    -- The columns come from the locked row versions themselves: no second
    -- read of the jobs (which could see an older version than the one locked,
    -- and which the planner made a hash of every job), and the definitions
    -- only of the rows locked (the due scan follows the next_due index, no sort).
    SELECT clock.t, l.due, l.id, l.definition, l.paused, l.next_fire
    FROM clock LEFT JOIN locked l ON true`

/**
 * Whether job `j` is of `share` (`ClaimRequest.share`) at the instant `now`
 * (SQL): its id's hash modulo the number of the node's peers is the node's
 * place among them (by id, byte order). `hashtext` is PostgreSQL's own text
 * hash, the same on every connection; masked to non-negative, as `abs` of its
 * minimum overflows. The peers are read once per statement (uncorrelated
 * subqueries), not once per job; a node without a row of its own, or
 * alone, has every job.
 *
 * @internal
 */
export const ownShare = (
  sql: SqlClient.SqlClient,
  t: Tables,
  share: Share | undefined,
  tasks: ReadonlyArray<string>,
  now: Statement.Fragment
) => {
  if (share === undefined) return sql`true`
  const peers = sql`FROM ${t.nodes} p WHERE p.left_at IS NULL AND p.heartbeat_at >= ${now} - ${share.staleAfterMs}::bigint
    AND p.tasks @> ${texts(tasks)} AND p.tasks <@ ${texts(tasks)}`
  return sql`(
    NOT coalesce((SELECT bool_or(p.id = ${share.node}::text) AND count(*) > 1 ${peers}), false)
    OR (hashtext(j.id) & 2147483647) % (SELECT count(*) ${peers})
      = (SELECT count(*) ${peers} AND p.id COLLATE "C" < ${share.node}::text COLLATE "C")
  )`
}

// `ClaimRequest.ended` as the store matches it: a run and the attempt (token)
// whose handler ended, so a later attempt of the same run still counts.
const endedKeys = (ended: ReadonlyArray<Lease> | undefined): Array<string> =>
  (ended ?? []).map((lease) => `${lease.id}/${lease.token}`)

/** The planned fires, as `settle` takes them: one array per column, in `ord` order. @internal */
export interface FireInput {
  readonly job_id: Array<string>
  readonly fire_time: Array<number>
  readonly due_at: Array<number>
  readonly state: Array<"pending" | "missed" | "coalesced">
  readonly note: Array<string | null>
  readonly catch_up: Array<boolean>
}

/** The jobs' new next fires, one array per column. @internal */
export interface AdvanceInput {
  readonly id: Array<string>
  readonly next_fire: Array<number | null>
  readonly next_due: Array<number | null>
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
 * A fire claimed ahead of its due instant records that instant as its start;
 * a fire settled without running ends at the claim's instant (the store's
 * clock, like every instant of a record), so retention ages it from then.
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
    /** The claim's fencing token (`ClaimRequest.token`); absent: the transaction's id. */
    readonly token?: string | null | undefined
    /** Runs whose handlers ended, outcome not written yet: no overlap slot (`ClaimRequest.ended`). */
    readonly ended?: ReadonlyArray<Lease> | undefined
    readonly jobIds: ReadonlyArray<string>
    readonly fires: FireInput
    readonly advances: AdvanceInput
  }
): Effect.Effect<ReadonlyArray<ClaimedRow>, SqlError.SqlError> =>
  sql<ClaimedRow>`
    WITH fire AS (
      SELECT * FROM unnest(
        ${texts(input.fires.job_id)}, ${int8s(input.fires.fire_time)}, ${int8s(input.fires.due_at)},
        ${texts(input.fires.state)}, ${texts(input.fires.note)}, ${bools(input.fires.catch_up)}
      ) WITH ORDINALITY AS x(job_id, fire_time, due_at, state, note, catch_up, ord)
    ),
    advance AS (
      UPDATE ${t.jobs} j SET next_fire = x.next_fire, next_due = x.next_due
      FROM unnest(${texts(input.advances.id)}, ${int8s(input.advances.next_fire)}, ${int8s(input.advances.next_due)})
        AS x(id, next_fire, next_due)
      -- The ids again as an array: an index lookup of each, where the
      -- planner otherwise hashed every job of the table, per claim.
      WHERE j.id = ANY(${texts(input.advances.id)}) AND j.id = x.id
      RETURNING j.id
    ),
    active AS (
      SELECT job_id, count(*) AS n, min(started_at) AS first_start FROM ${t.runs}
      WHERE state = 'running' AND job_id = ANY(${texts(input.jobIds)})
        AND NOT (id::text || '/' || coalesce(token, '')) = ANY(${texts(endedKeys(input.ended))})
      GROUP BY job_id
    ),
    candidate AS (
      SELECT 0 AS src, r.id AS ord, r.job_id, r.fire_time, r.due_at, r.catch_up, r.manual
      FROM ${t.runs} r
      WHERE r.state = 'pending' AND r.job_id = ANY(${texts(input.jobIds)}) AND r.due_at <= ${input.t}::bigint
      UNION ALL
      SELECT 1, f.ord, f.job_id, f.fire_time, f.due_at, f.catch_up, false
      FROM fire f WHERE f.state = 'pending'
    ),
    ranked AS (
      SELECT c.*, j.overlap_max, j.on_limit, coalesce(a.first_start < c.due_at, false) AS found_running,
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
        CASE WHEN v.verdict = 'running' THEN ${token(sql, input.token)} END,
        CASE WHEN v.verdict = 'running' THEN ${input.t}::bigint + ${input.leaseMs}::bigint END,
        CASE WHEN v.verdict = 'running' THEN greatest(${input.t}::bigint, f.due_at) END,
        CASE WHEN v.verdict = 'skipped' OR f.state <> 'pending' THEN ${input.t}::bigint END,
        CASE WHEN v.verdict = 'skipped' THEN 'overlap limit ' || v.overlap_max || ' reached' ELSE f.note END,
        f.catch_up
      FROM fire f LEFT JOIN verdict v ON v.src = 1 AND v.ord = f.ord
      ORDER BY f.ord
      ON CONFLICT (job_id, fire_time, manual) DO NOTHING
      RETURNING ${sql.literal(claimColumns("r"))}
    ),
    updated AS (
      UPDATE ${t.runs} r SET
        state = v.verdict,
        node = CASE WHEN v.verdict = 'running' THEN ${input.node}::text ELSE r.node END,
        token = CASE WHEN v.verdict = 'running' THEN ${token(sql, input.token)} ELSE r.token END,
        lease_until = CASE WHEN v.verdict = 'running' THEN ${input.t}::bigint + ${input.leaseMs}::bigint END,
        started_at = CASE WHEN v.verdict = 'running' THEN ${input.t}::bigint ELSE r.started_at END,
        ended_at = CASE WHEN v.verdict = 'skipped' THEN ${input.t}::bigint ELSE r.ended_at END,
        note = CASE WHEN v.verdict = 'skipped' THEN 'overlap limit ' || v.overlap_max || ' reached' ELSE r.note END
      FROM verdict v
      WHERE v.src = 0 AND r.id = v.ord AND v.verdict <> 'pending' AND r.state = 'pending'
      RETURNING ${sql.literal(claimColumns("r"))}
    )
    SELECT s.* FROM (
      SELECT i.*, CASE WHEN i.state IN ('missed', 'coalesced') THEN 0 ELSE 1 END AS phase FROM inserted i
      WHERE i.state <> 'pending'
      UNION ALL
      SELECT u.*, 1 FROM updated u
    ) s
    ORDER BY s.phase, s.due_at, s.fire_time, s.id::bigint`

// The caller's token, else the claiming transaction's id: unique per claim
// either way, and one parameter per claim, not per run.
const token = (sql: SqlClient.SqlClient, given: string | null | undefined) =>
  given === undefined || given === null ? sql.literal("pg_current_xact_id()::text") : sql`${given}::text`

/**
 * What `settle` returns of a run: the whole record of a fire settled without
 * running; of a claimed run only what the executor needs (the rest is known:
 * this node, started now), which halves what travels and is decoded.
 */
const claimColumns = (alias: string): string => {
  const a = `${alias}.`
  const settledOnly = (column: string) => `CASE WHEN ${a}state <> 'running' THEN ${a}${column} END AS ${column}`
  return `${a}id::text AS id, ${a}job_id, ${a}fire_time, ${a}due_at, ${a}state, ${a}attempt, ` +
    `${settledOnly("node")}, ${settledOnly("started_at")}, ${settledOnly("ended_at")}, ${settledOnly("error")}, ` +
    `${settledOnly("note")}, ${a}manual, ${a}token, ${a}payload`
}
