/**
 * Statements for operators (one per operation): one run, a run's cancel,
 * pages of jobs, counts of runs by state, and the nodes table.
 *
 * @internal
 */
import type * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as Statement from "effect/sql/Statement"
import type { NodeInfo, NodeInstance } from "../../JobStore.ts"
import { maxValueBytes } from "./migrations.ts"
import { texts } from "./params.ts"
import { jobColumns, type JobRow, runColumns, type RunRow } from "./rows.ts"
import { nowMs, type Tables } from "./Tables.ts"

/**
 * One run, with its payload (a payload stored before the store bounded them
 * and too large to read back is left out: null).
 *
 * @internal
 */
export const getRun = (sql: SqlClient.SqlClient, t: Tables, id: string) =>
  sql<RunRow & { readonly payload: Schema.Json | null }>`
    SELECT ${sql.literal(runColumns())},
      CASE WHEN octet_length(payload::text) <= ${sql.literal(String(maxValueBytes))} THEN payload END AS payload
    FROM ${t.runs} WHERE id = ${id}::bigint`

/**
 * Cancels a run: a pending one is recorded `cancelled` at once, a running
 * one gets a cancel request and a notification (`cancel:<id>`) for its node.
 * No row: no such run; else `found` is its state as locked, and `record`
 * its record after the change, null when nothing changed (it has ended).
 *
 * @internal
 */
export const cancel = (sql: SqlClient.SqlClient, t: Tables, id: string) =>
  sql<{ readonly found: string; readonly record: RunRow | null }>`
    WITH target AS (SELECT id, state FROM ${t.runs} WHERE id = ${id}::bigint FOR UPDATE),
    changed AS (
      UPDATE ${t.runs} r SET
        state = CASE WHEN r.state = 'pending' THEN 'cancelled' ELSE r.state END,
        ended_at = CASE WHEN r.state = 'pending' THEN ${sql.literal(nowMs)} ELSE r.ended_at END,
        note = CASE WHEN r.state = 'pending' THEN 'cancelled by operator' ELSE r.note END,
        cancel_requested = r.cancel_requested OR r.state = 'running'
      FROM target x
      WHERE r.id = x.id AND r.state IN ('pending', 'running')
      RETURNING ${sql.literal(runColumns("r"))}
    ),
    notified AS (
      SELECT pg_notify(${t.channel}, 'cancel:' || c.id) FROM changed c WHERE c.state = 'running'
    )
    SELECT target.state AS found, (SELECT to_jsonb(c) FROM changed c) AS record, (SELECT count(*) FROM notified) AS notified
    FROM target`

/** What `listJobs` filters on. @internal */
export interface JobFilter {
  readonly task?: string | undefined
  readonly paused?: boolean | undefined
  /** Lower-case ASCII: matched against the id with ASCII letters folded. */
  readonly text?: string | undefined
  readonly after?: string | undefined
  readonly limit: number
}

const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
const lower = "abcdefghijklmnopqrstuvwxyz"

/**
 * Jobs by filter in code point order of id, at most `limit` (the caller asks
 * one more than a page to know whether another follows).
 *
 * @internal
 */
export const listJobs = (sql: SqlClient.SqlClient, t: Tables, filter: JobFilter) => {
  const where: Array<Statement.Fragment> = []
  if (filter.task !== undefined) where.push(sql`task = ${filter.task}::text`)
  if (filter.paused !== undefined) where.push(sql`paused = ${filter.paused}::boolean`)
  if (filter.text !== undefined) {
    where.push(sql`strpos(translate(id, ${upper}::text, ${lower}::text), ${filter.text}::text) > 0`)
  }
  if (filter.after !== undefined) where.push(sql`(id COLLATE "C") > (${filter.after}::text COLLATE "C")`)
  return sql<JobRow>`
    SELECT ${sql.literal(jobColumns)} FROM ${t.jobs}
    WHERE ${sql.and(where)}
    ORDER BY id COLLATE "C"
    LIMIT ${filter.limit}`
}

/** Runs by state whose fire time is at or after `since`, of one job or all. @internal */
export const stateCounts = (sql: SqlClient.SqlClient, t: Tables, jobId: string | undefined, since: number) =>
  sql<{ readonly state: string; readonly n: unknown }>`
    SELECT state, count(*) AS n FROM ${t.runs}
    WHERE fire_time >= ${since}::bigint ${jobId === undefined ? sql`` : sql`AND job_id = ${jobId}::text`}
    GROUP BY state`

/**
 * How long the row of a node that died (no clean shutdown), or left, stays
 * before a heartbeat of another node deletes it: a day.
 *
 * @internal
 */
export const forgetAfterMs = 86_400_000

// In an upsert of the nodes table: whether the row is of the process being
// written (`excluded`), as `cluster.sameInstance` tells it.
const sameProcess = (sql: SqlClient.SqlClient, t: Tables) =>
  sql`(${t.nodes}.host = excluded.host AND ${t.nodes}.pid = excluded.pid AND ${t.nodes}.started_at = excluded.started_at)`

/**
 * Upserts a node's row with the database's now as its heartbeat, unless the
 * row says this very process left (`leave`: a beat that lands late changes
 * nothing; another process of the id takes the row over), and deletes the
 * rows of nodes silent (or gone) for `forgetAfterMs`. The conflict's update
 * sees the row as it is once its lock is free, so a beat that races a leave
 * cannot undo it.
 *
 * @internal
 */
export const heartbeat = (sql: SqlClient.SqlClient, t: Tables, info: NodeInfo) =>
  sql`
    WITH clock AS (SELECT ${sql.literal(nowMs)} AS t),
    forgotten AS (
      DELETE FROM ${t.nodes} WHERE heartbeat_at < (SELECT t FROM clock) - ${forgetAfterMs}::bigint AND id <> ${info.id}::text
    )
    INSERT INTO ${t.nodes} (id, host, pid, version, tasks, started_at, running, health, store, heartbeat_at)
    SELECT ${info.id}::text, ${info.host}::text, ${info.pid}::integer, ${info.version}::text, ${texts(info.tasks)},
      ${info.startedAt}::bigint, ${info.running}::integer, ${JSON.stringify(info.health)}::jsonb, ${info.store}::text, clock.t
    FROM clock
    ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version,
      tasks = excluded.tasks, started_at = excluded.started_at, running = excluded.running,
      health = excluded.health, store = excluded.store, heartbeat_at = excluded.heartbeat_at, left_at = NULL
    WHERE ${t.nodes}.left_at IS NULL OR NOT ${sameProcess(sql, t)}`

/** @internal */
export interface NodeRow {
  readonly id: string
  readonly host: string
  readonly pid: number
  readonly version: string
  readonly tasks: unknown
  readonly started_at: unknown
  readonly running: number
  readonly health: Schema.Json
  readonly store: "up" | "degraded"
  readonly heartbeat_at: unknown
}

/** Nodes heard from within `staleAfterMs`, by id. @internal */
export const nodes = (sql: SqlClient.SqlClient, t: Tables, staleAfterMs: number) =>
  sql<NodeRow>`
    SELECT id, host, pid, version, to_jsonb(tasks) AS tasks, started_at, running, health, store, heartbeat_at
    FROM ${t.nodes}
    WHERE left_at IS NULL AND heartbeat_at >= ${sql.literal(nowMs)} - ${staleAfterMs}::bigint
    ORDER BY id COLLATE "C"`

/**
 * A node leaves: without `instance`, its row is deleted; with it, the row
 * of that process is marked left (written so when none is there yet, or
 * only a process that left before: its first beat may still be on its
 * way), and the row of another live process of the id is left alone.
 *
 * @internal
 */
export const leave = (sql: SqlClient.SqlClient, t: Tables, node: string, instance: NodeInstance | undefined) =>
  instance === undefined
    ? sql`DELETE FROM ${t.nodes} WHERE id = ${node}::text`
    : sql`
    WITH clock AS (SELECT ${sql.literal(nowMs)} AS t)
    INSERT INTO ${t.nodes} (id, host, pid, version, tasks, started_at, running, health, store, heartbeat_at, left_at)
    SELECT ${node}::text, ${instance.host}::text, ${instance.pid}::integer, '', '{}', ${instance.startedAt}::bigint,
      0, 'null'::jsonb, 'up', clock.t, clock.t
    FROM clock
    ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
      left_at = excluded.left_at
    WHERE ${t.nodes}.left_at IS NOT NULL OR ${sameProcess(sql, t)}`
