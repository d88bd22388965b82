/**
 * Statements on runs: one statement per operation. Writes that others may be
 * waiting for carry their `pg_notify` in the same statement, so the wake-up
 * is sent exactly when (and only if) the change commits.
 *
 * @internal
 */
import type * as SqlClient from "effect/sql/SqlClient"
import type * as Statement from "effect/sql/Statement"
import type { Share } from "../../JobStore.ts"
import type * as Run from "../../Run.ts"
import type { HistoryCursor } from "../cursor.ts"
import { ownShare } from "./claim.ts"
import { bools, int4s, int8s, texts } from "./params.ts"
import { runColumns, type RunRow } from "./rows.ts"
import { nowMs, type Tables } from "./Tables.ts"

/**
 * A select-list item that sends a notification once per row of `cte`
 * (PostgreSQL folds duplicates within a transaction) and counts them.
 *
 * @internal
 */
export const notifyFor = (sql: SqlClient.SqlClient, t: Tables, cte: string, what: string): Statement.Fragment =>
  sql`(SELECT count(*) FROM (SELECT pg_notify(${t.channel}, ${what}) FROM ${sql.literal(cte)}) notified)`

/** @internal */
export const now = (sql: SqlClient.SqlClient) => sql<{ readonly t: unknown }>`SELECT ${sql.literal(nowMs)} AS t`

/** @internal */
export interface FinishInput {
  readonly ord: number
  readonly id: string
  readonly token: string
  readonly state: Run.Outcome["state"]
  readonly attempt: number
  readonly error: string | null
  /** When the handler started (`Run.Outcome.startedAt`), if known. */
  readonly startedAt: number | null
  /** The note to record (`Run.Outcome.note`); `undefined`: the record's note stays. */
  readonly note: string | null | undefined
}

/**
 * Records outcomes, fenced by the token and the `running` state; returns the
 * `ord` of each accepted outcome. Run unprepared (the store does): planned
 * for each call with the statistics of that moment, never with a generic
 * plan cached while the runs table was small.
 *
 * The end is the database's clock when the outcome is written, never the
 * finishing node's (`Run.Outcome.endedAt`): a record's start and end come
 * from one clock, and retention ages it by that clock. It is never before
 * the recorded start (a run claimed ahead starts at its due instant, which
 * the node waits for by its estimate of this clock).
 *
 * @internal
 */
export const finish = (sql: SqlClient.SqlClient, t: Tables, outcomes: ReadonlyArray<FinishInput>) =>
  sql<{ readonly ord: number }>`
    WITH clock AS (SELECT ${sql.literal(nowMs)} AS t),
    input AS (
      SELECT * FROM unnest(
        ${int4s(outcomes.map((o) => o.ord))}, ${int8s(outcomes.map((o) => o.id))}, ${texts(outcomes.map((o) => o.token))},
        ${texts(outcomes.map((o) => o.state))}, ${int4s(outcomes.map((o) => o.attempt))},
        ${texts(outcomes.map((o) => o.error))}, ${int8s(outcomes.map((o) => o.startedAt))},
        ${bools(outcomes.map((o) => o.note !== undefined))}, ${texts(outcomes.map((o) => o.note ?? null))}
      ) AS x(ord, id, token, state, attempt, error, started_at, set_note, note)
    ),
    done AS (
      UPDATE ${t.runs} r
      SET state = i.state, attempt = i.attempt, error = i.error,
        -- A later start than the claim's (the run waited for a handler slot); an outcome
        -- without a start keeps the claim's. Never past now: a run claimed ahead and
        -- cancelled before its instant would otherwise start and end in the future.
        -- A run its node found too late to start (missed) never started.
        started_at = CASE WHEN i.state = 'missed' THEN NULL
          ELSE least(greatest(r.started_at, coalesce(i.started_at, r.started_at)), (SELECT t FROM clock)) END,
        ended_at = (SELECT t FROM clock),
        note = CASE WHEN i.set_note THEN i.note ELSE r.note END
      FROM input i
      -- The ids again as an array: an index lookup whatever the table's
      -- statistics say (a runs table that grew since its last ANALYZE was
      -- otherwise read whole, per call, by a hash join).
      WHERE r.id = ANY(${int8s(outcomes.map((o) => o.id))}) AND r.id = i.id AND r.token = i.token AND r.state = 'running'
      RETURNING i.ord
    ),
    -- The same outcome recorded already: a retry after a reply lost in commit.
    -- A token ends one run once, so the same state, attempt and error under it
    -- are that outcome. (An outcome just written is not: it was running in
    -- this statement's snapshot.)
    already AS (
      SELECT i.ord FROM input i JOIN ${t.runs} r
        ON r.id = i.id AND r.token = i.token AND r.state = i.state AND r.attempt = i.attempt
          AND r.error IS NOT DISTINCT FROM i.error
      WHERE r.id = ANY(${int8s(outcomes.map((o) => o.id))}) AND NOT EXISTS (SELECT 1 FROM done d WHERE d.ord = i.ord)
    )
    SELECT ord, ${notifyFor(sql, t, "(SELECT 1 FROM done LIMIT 1) one", "finish")} AS notified FROM done
    UNION ALL
    SELECT ord, NULL FROM already`

/**
 * Extends the leases this node still holds; returns the ids it renewed, and
 * whether an operator asked to cancel each (`cancel`).
 *
 * @internal
 */
export const renew = (
  sql: SqlClient.SqlClient,
  t: Tables,
  node: string,
  leases: ReadonlyArray<{ readonly id: string; readonly token: string }>,
  leaseMs: number
) =>
  sql<{ readonly id: string; readonly cancel: boolean }>`
    UPDATE ${t.runs} r
    SET lease_until = ${sql.literal(nowMs)} + ${leaseMs}::bigint
    FROM unnest(${int8s(leases.map((l) => l.id))}, ${texts(leases.map((l) => l.token))}) AS i(id, token)
    -- The ids as an array too: an index lookup whatever the statistics say (see finish).
    WHERE r.id = ANY(${int8s(leases.map((l) => l.id))}) AND r.id = i.id AND r.token = i.token
      AND r.node = ${node}::text AND r.state = 'running'
    RETURNING r.id::text AS id, r.cancel_requested AS cancel`

/**
 * Applies the lost-run policy to running runs whose lease expired by the
 * database clock: `retry` makes them pending again (attempt + 1, same fire
 * time, never skipped by overlap), anything else records them `lost`; a run
 * an operator asked to cancel is recorded `cancelled` (its node died before
 * it learned of the request). The token is cleared, so the old holder's
 * writes are refused.
 *
 * @internal
 */
export const reap = (sql: SqlClient.SqlClient, t: Tables, limit: number) =>
  sql<RunRow>`
    WITH clock AS (SELECT ${sql.literal(nowMs)} AS t),
    expired AS (
      SELECT r.id, r.cancel_requested AS cancel,
        coalesce(j.on_lost, 'record') = 'retry' AND NOT r.cancel_requested AS retry
      FROM ${t.runs} r LEFT JOIN ${t.jobs} j ON j.id = r.job_id
      WHERE r.state = 'running' AND r.lease_until < (SELECT t FROM clock)
      ORDER BY r.lease_until
      LIMIT ${limit}
      FOR UPDATE OF r SKIP LOCKED
    ),
    reaped AS (
      UPDATE ${t.runs} r SET
        state = CASE WHEN e.cancel THEN 'cancelled' WHEN e.retry THEN 'pending' ELSE 'lost' END,
        attempt = CASE WHEN e.retry THEN r.attempt + 1 ELSE r.attempt END,
        node = CASE WHEN e.retry THEN NULL ELSE r.node END,
        started_at = CASE WHEN e.retry THEN NULL ELSE r.started_at END,
        ended_at = CASE WHEN e.retry THEN r.ended_at ELSE (SELECT t FROM clock) END,
        note = CASE WHEN e.cancel THEN 'cancelled by operator; ' ELSE '' END || 'lease of node ' || coalesce(r.node, 'null') || ' expired' || CASE WHEN e.retry THEN '; retried' ELSE '' END,
        token = NULL,
        lease_until = NULL,
        catch_up = true
      FROM expired e
      WHERE r.id = e.id AND r.state = 'running' AND r.lease_until < (SELECT t FROM clock)
      RETURNING ${sql.literal(runColumns("r"))}
    )
    SELECT reaped.*, ${notifyFor(sql, t, "(SELECT 1 FROM reaped LIMIT 1) one", "reap")} AS notified
    FROM reaped
    ORDER BY reaped.id::bigint`

/**
 * History, newest fire first (then by id, descending): fires in `[from, to)`,
 * after the cursor `before` in that order.
 *
 * @internal
 */
export const history = (
  sql: SqlClient.SqlClient,
  t: Tables,
  query: {
    readonly jobId?: string | undefined
    readonly states?: ReadonlyArray<string> | undefined
    readonly from?: number | undefined
    readonly to?: number | undefined
    readonly before?: HistoryCursor | undefined
    readonly limit: number
  }
) => {
  const where: Array<Statement.Fragment> = []
  if (query.jobId !== undefined) where.push(sql`job_id = ${query.jobId}::text`)
  if (query.states !== undefined) where.push(sql`state = ANY(${query.states}::text[])`)
  if (query.from !== undefined) where.push(sql`fire_time >= ${query.from}::bigint`)
  if (query.to !== undefined) where.push(sql`fire_time < ${query.to}::bigint`)
  if (query.before !== undefined) {
    where.push(sql`(fire_time, id) < (${query.before.fireTime}::bigint, ${query.before.id}::bigint)`)
  }
  // Ordered by the table's columns (`r.id`, a number), not the output's
  // `id`, which is its text: "99" sorts after "105", and the cursor compares numbers.
  return sql<RunRow>`
    SELECT ${sql.literal(runColumns())} FROM ${t.runs} r
    WHERE ${sql.and(where)}
    ORDER BY r.fire_time DESC, r.id DESC
    LIMIT ${query.limit}`
}

/**
 * Deletes finished records older than the cutoff (by end, else fire time),
 * and beyond the newest `maxPerJob` of each job among the rest. Pending and
 * running runs are never touched.
 *
 * @internal
 */
export const prune = (
  sql: SqlClient.SqlClient,
  t: Tables,
  retention: { readonly maxAgeMs: number | null; readonly maxPerJob: number | null }
) =>
  sql<{ readonly deleted: unknown }>`
    WITH clock AS (SELECT ${sql.literal(nowMs)} AS t),
    final AS (
      SELECT id,
        ${retention.maxAgeMs === null ? sql`false` : sql`coalesce(ended_at, fire_time) < (SELECT t FROM clock) - ${retention.maxAgeMs}::bigint`} AS aged,
        job_id, fire_time
      FROM ${t.runs}
      WHERE state NOT IN ('pending', 'running')
    ),
    ranked AS (
      SELECT id, aged,
        row_number() OVER (PARTITION BY job_id, aged ORDER BY fire_time DESC, id) AS k
      FROM final
    ),
    deleted AS (
      DELETE FROM ${t.runs} r USING ranked x
      WHERE r.id = x.id AND (x.aged ${retention.maxPerJob === null ? sql`` : sql`OR x.k > ${retention.maxPerJob}`})
      RETURNING 1
    )
    SELECT count(*) AS deleted FROM deleted`

/**
 * A manual fire at the database's now. Manual runs have a key space of their
 * own (`manual` is part of the unique key): one never takes the `(job, fire
 * time)` of a scheduled fire, even at the same millisecond. Within it, the
 * first free millisecond from now, so two triggers in one millisecond are two
 * fires. `found` is 0 when the job does not exist.
 *
 * @internal
 */
export const triggerNow = (sql: SqlClient.SqlClient, t: Tables, id: string, payload: string | null) =>
  sql<Omit<RunRow, "id"> & { readonly id: string | null; readonly found: number }>`
    WITH clock AS (SELECT ${sql.literal(nowMs)} AS t),
    job AS (SELECT id FROM ${t.jobs} WHERE id = ${id}::text),
    slot AS (
      SELECT c.t + g AS fire
      FROM clock c, generate_series(0, 10000) g
      WHERE NOT EXISTS (
        SELECT 1 FROM ${t.runs} x WHERE x.job_id = ${id}::text AND x.fire_time = c.t + g AND x.manual
      )
      LIMIT 1
    ),
    inserted AS (
      INSERT INTO ${t.runs} AS r (job_id, fire_time, due_at, state, note, manual, catch_up, payload)
      SELECT job.id, slot.fire, clock.t, 'pending', 'triggered manually', true, true, ${payload}::jsonb
      FROM job, slot, clock
      ON CONFLICT (job_id, fire_time, manual) DO NOTHING
      RETURNING ${sql.literal(runColumns("r"))}
    )
    SELECT (SELECT count(*) FROM job)::int AS found, inserted.*,
      ${notifyFor(sql, t, "(SELECT 1 FROM inserted LIMIT 1) one", "trigger")} AS notified
    FROM (SELECT 1) one LEFT JOIN inserted ON true`

/**
 * The earliest instant something of these tasks becomes claimable: a due
 * job's next fire (`aheadMs` earlier for a job of `share` with no run in
 * progress, see the claim-ahead window in `claim.ts`), or a pending run of a job with a
 * free overlap slot.
 *
 * @internal
 */
export const nextWake = (
  sql: SqlClient.SqlClient,
  t: Tables,
  tasks: ReadonlyArray<string>,
  aheadMs: number,
  share?: Share | undefined
) =>
  sql<{ readonly wake: unknown }>`
    SELECT least(
      (SELECT min(next_due) FROM ${t.jobs}
        WHERE NOT paused AND next_due IS NOT NULL AND task = ANY(${texts(tasks)})),
      ${
  aheadMs > 0
    ? sql`(SELECT j.next_due - ${aheadMs}::bigint FROM ${t.jobs} j
        WHERE NOT j.paused AND j.next_due IS NOT NULL AND j.task = ANY(${texts(tasks)})
          AND ${ownShare(sql, t, share, tasks, sql.literal(nowMs))}
          AND NOT EXISTS (SELECT 1 FROM ${t.runs} x WHERE x.job_id = j.id AND x.state = 'running')
        ORDER BY j.next_due LIMIT 1),`
    : sql``
}
      (SELECT min(r.due_at) FROM ${t.runs} r JOIN ${t.jobs} j ON j.id = r.job_id
        WHERE r.state = 'pending' AND NOT j.paused AND j.task = ANY(${texts(tasks)})
          AND (SELECT count(*) FROM ${t.runs} x WHERE x.job_id = r.job_id AND x.state = 'running') < j.overlap_max)
    ) AS wake`
