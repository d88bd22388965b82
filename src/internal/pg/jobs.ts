/**
 * Statements on jobs (one per operation), used by `add`, `update`,
 * `setPaused`, `remove`, `get`, `list` and `register`.
 *
 * @internal
 */
import type * as SqlClient from "effect/sql/SqlClient"
import { bools, float8s, int4s, int8s, texts } from "./params.ts"
import { jobColumns, type JobRow, type JobValues } from "./rows.ts"
import { notifyFor } from "./runs.ts"
import { nowMs, type Tables } from "./Tables.ts"

/** What a job row gets written with. @internal */
export interface JobWrite extends JobValues {
  readonly source: "code" | "dynamic"
  readonly version: number
  readonly next_fire: number | null
  readonly next_due: number | null
  readonly created_at: number
  readonly updated_at: number
}

const columns = "id, task, definition, paused, source, version, next_fire, next_due, overlap_max, on_limit, on_lost, " +
  "created_at, updated_at"

// The rows as one typed array per column (see `params.ts`); definitions go as
// JSON text, parsed once by the server.
const recordset = (sql: SqlClient.SqlClient, rows: ReadonlyArray<JobWrite>) =>
  sql`(
    SELECT u.id, u.task, u.definition::jsonb AS definition, u.paused, u.source, u.version, u.next_fire, u.next_due,
      u.overlap_max, u.on_limit, u.on_lost, u.created_at, u.updated_at
    FROM unnest(
      ${texts(rows.map((r) => r.id))}, ${texts(rows.map((r) => r.task))},
      ${texts(rows.map((r) => JSON.stringify(r.definition)))}, ${bools(rows.map((r) => r.paused))},
      ${texts(rows.map((r) => r.source))}, ${float8s(rows.map((r) => r.version))},
      ${int8s(rows.map((r) => r.next_fire))}, ${int8s(rows.map((r) => r.next_due))},
      ${int4s(rows.map((r) => r.overlap_max))}, ${texts(rows.map((r) => r.on_limit))}, ${texts(rows.map((r) => r.on_lost))},
      ${int8s(rows.map((r) => r.created_at))}, ${int8s(rows.map((r) => r.updated_at))}
    ) AS u(id, task, definition, paused, source, version, next_fire, next_due, overlap_max, on_limit, on_lost,
      created_at, updated_at)
  ) AS x`

/**
 * Inserts jobs that do not exist yet, in id order (so concurrent inserters
 * of overlapping sets wait for each other instead of deadlocking); returns
 * the inserted rows. Existing ids are left alone.
 *
 * @internal
 */
export const insertNew = (sql: SqlClient.SqlClient, t: Tables, rows: ReadonlyArray<JobWrite>, notify: boolean) =>
  sql<JobRow>`
    WITH inserted AS (
      INSERT INTO ${t.jobs} (${sql.literal(columns)})
      SELECT ${sql.literal(columns)} FROM ${recordset(sql, rows)}
      ORDER BY id
      ON CONFLICT (id) DO NOTHING
      RETURNING ${sql.literal(jobColumns)}
    )
    SELECT inserted.*${notify ? sql`, ${notifyFor(sql, t, "(SELECT 1 FROM inserted LIMIT 1) one", "add")} AS notified` : sql``}
    FROM inserted`

/**
 * Which of these ids exist (unlocked: a hint for `register`, which locks
 * what it compares).
 *
 * @internal
 */
export const existingIds = (sql: SqlClient.SqlClient, t: Tables, ids: ReadonlyArray<string>) =>
  sql<{ readonly id: string }>`SELECT id FROM ${t.jobs} WHERE id = ANY(${texts(ids)})`

/**
 * Overwrites whole job rows (register's updates and version bumps).
 *
 * @internal
 */
export const overwrite = (sql: SqlClient.SqlClient, t: Tables, rows: ReadonlyArray<JobWrite>) =>
  sql`
    UPDATE ${t.jobs} j SET
      task = x.task, definition = x.definition, paused = x.paused, source = x.source, version = x.version,
      next_fire = x.next_fire, next_due = x.next_due, overlap_max = x.overlap_max, on_limit = x.on_limit,
      on_lost = x.on_lost, created_at = x.created_at, updated_at = x.updated_at, set_aside = NULL
    FROM ${recordset(sql, rows)}
    WHERE j.id = x.id`

/**
 * Records that the current code version declares these jobs unchanged.
 *
 * @internal
 */
export const setVersion = (sql: SqlClient.SqlClient, t: Tables, ids: ReadonlyArray<string>, version: number) =>
  sql`UPDATE ${t.jobs} SET version = ${version}::double precision WHERE id = ANY(${ids}::text[])`

/**
 * `update`: replaces a job's definition. The next fire is recomputed only
 * when the trigger changed (the caller passes the recomputed values).
 *
 * @internal
 */
export const replace = (
  sql: SqlClient.SqlClient,
  t: Tables,
  job: JobValues,
  next: { readonly fire: number | null; readonly due: number | null; readonly at: number }
) =>
  sql<JobRow>`
    WITH updated AS (
      UPDATE ${t.jobs} SET
        task = ${job.task}::text,
        definition = ${JSON.stringify(job.definition)}::jsonb,
        paused = ${job.paused}::boolean,
        overlap_max = ${job.overlap_max}::integer,
        on_limit = ${job.on_limit}::text,
        on_lost = ${job.on_lost}::text,
        next_fire = CASE WHEN definition -> 'trigger' = ${JSON.stringify(job.definition["trigger"])}::jsonb
          THEN next_fire ELSE ${next.fire}::bigint END,
        next_due = CASE WHEN definition -> 'trigger' = ${JSON.stringify(job.definition["trigger"])}::jsonb
          THEN next_due ELSE ${next.due}::bigint END,
        updated_at = ${next.at}::bigint,
        set_aside = NULL
      WHERE id = ${job.id}::text
      RETURNING ${sql.literal(jobColumns)}
    )
    SELECT updated.*, ${notifyFor(sql, t, "(SELECT 1 FROM updated LIMIT 1) one", "update")} AS notified
    FROM updated`

/** @internal */
export const setPaused = (sql: SqlClient.SqlClient, t: Tables, id: string, paused: boolean) =>
  sql<JobRow>`
    WITH updated AS (
      UPDATE ${t.jobs} SET paused = ${paused}::boolean, updated_at = ${sql.literal(nowMs)},
        -- Resuming a job that a claim set aside lets the next claim try it again.
        set_aside = CASE WHEN ${paused}::boolean THEN set_aside END
      WHERE id = ${id}::text
      RETURNING ${sql.literal(jobColumns)}
    )
    SELECT updated.*, ${notifyFor(sql, t, "(SELECT 1 FROM updated LIMIT 1) one", "pause")} AS notified
    FROM updated`

/**
 * Sets jobs aside that a claim could not decode or plan: paused, with why
 * (`set_aside`), so that no claim locks them again until a person resumes or
 * replaces them. Runs in the claim's transaction, which holds their locks.
 *
 * @internal
 */
export const setAside = (
  sql: SqlClient.SqlClient,
  t: Tables,
  jobs: ReadonlyArray<{ readonly jobId: string; readonly reason: string; readonly detail: string }>
) =>
  sql`
    UPDATE ${t.jobs} j SET paused = true, set_aside = x.note, updated_at = ${sql.literal(nowMs)}
    FROM unnest(${texts(jobs.map((job) => job.jobId))}, ${texts(jobs.map((job) => `${job.reason}: ${job.detail}`))})
      AS x(id, note)
    WHERE j.id = x.id`

/**
 * Pauses jobs that are not paused yet.
 *
 * @internal
 */
export const pause = (sql: SqlClient.SqlClient, t: Tables, ids: ReadonlyArray<string>, at: number) =>
  sql`UPDATE ${t.jobs} SET paused = true, updated_at = ${at}::bigint WHERE id = ANY(${ids}::text[]) AND NOT paused`

/**
 * Deletes jobs (waiting for a claim that holds one to commit); returns the
 * deleted ids. Their pending runs are cancelled by `cancelPending`, in a
 * following statement so that it sees runs such a claim inserted.
 *
 * @internal
 */
export const remove = (sql: SqlClient.SqlClient, t: Tables, ids: ReadonlyArray<string>) =>
  sql<{ readonly id: string }>`DELETE FROM ${t.jobs} WHERE id = ANY(${ids}::text[]) RETURNING id`

/** @internal */
export const cancelPending = (sql: SqlClient.SqlClient, t: Tables, ids: ReadonlyArray<string>) =>
  sql`
    WITH cancelled AS (
      UPDATE ${t.runs} SET state = 'cancelled', ended_at = ${sql.literal(nowMs)}, note = 'job removed'
      WHERE job_id = ANY(${ids}::text[]) AND state = 'pending'
      RETURNING 1
    )
    SELECT ${notifyFor(sql, t, "(SELECT 1) one", "remove")} AS notified, (SELECT count(*) FROM cancelled) AS cancelled`

/**
 * Refreshes the planner's statistics of the jobs table: of the columns a
 * claim's plan depends on only (sampling the definitions, large JSON, would
 * take most of the time). @internal
 */
export const analyze = (sql: SqlClient.SqlClient, t: Tables) => sql`ANALYZE ${t.jobs} (id, task, paused, next_due)`

/** @internal */
export const notify = (sql: SqlClient.SqlClient, t: Tables, what: string) =>
  sql`SELECT pg_notify(${t.channel}, ${what})`

/** @internal */
export const get = (sql: SqlClient.SqlClient, t: Tables, id: string) =>
  sql<JobRow>`SELECT ${sql.literal(jobColumns)} FROM ${t.jobs} WHERE id = ${id}::text`

/** @internal */
export const list = (sql: SqlClient.SqlClient, t: Tables) =>
  sql<JobRow>`SELECT ${sql.literal(jobColumns)} FROM ${t.jobs}`
