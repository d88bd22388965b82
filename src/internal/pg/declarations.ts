/**
 * `register`'s statements on a chunk of declared jobs, sent as typed arrays
 * with each distinct definition once.
 *
 * Jobs declared in code often share their definition (a task, a trigger and
 * policies, with no or the same payload: the id is not part of it). Each
 * chunk therefore sends its distinct definitions as JSON text once, and per
 * job only the (1-based) number of its definition: the server parses each
 * distinct definition once, and the bytes on the wire and in the client's
 * memory are those of the distinct definitions, not of every job. The
 * columns derived from a definition (`task`, `overlap_max`, `on_limit`,
 * `on_lost`) are read from it by the server, once per distinct definition.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import * as Job from "../../Job.ts"
import { bools, float8s, int4s, texts } from "./params.ts"
import type { Tables } from "./Tables.ts"

/**
 * Declared jobs in id order with their distinct definitions: the ids, the
 * (1-based) number of each one's definition, and the distinct definitions
 * as JSON text. Only distinct texts are kept: a job whose definition is
 * already there costs one number.
 *
 * @internal
 */
export interface Shared {
  readonly ids: Array<string>
  readonly numbers: Array<number>
  readonly distinct: Array<string>
}

/**
 * Builds a `Shared` one declaration at a time.
 *
 * @internal
 */
export const sharing = () => {
  const byText = new Map<string, number>()
  const shared: Shared = { ids: [], numbers: [], distinct: [] }
  const add = (id: string, text: string) => {
    let n = byText.get(text)
    if (n === undefined) {
      shared.distinct.push(text)
      n = shared.distinct.length
      byText.set(text, n)
    }
    shared.ids.push(id)
    shared.numbers.push(n)
  }
  return { add, shared }
}

/**
 * The declarations at `pick` (positions in `all`), numbered afresh so that
 * only their own definitions are sent.
 *
 * @internal
 */
export const pick = (all: Shared, pick: ReadonlyArray<number>): Shared => {
  const renumbered = new Map<number, number>()
  const shared: Shared = { ids: [], numbers: [], distinct: [] }
  for (const p of pick) {
    const old = all.numbers[p] ?? 0
    let n = renumbered.get(old)
    if (n === undefined) {
      shared.distinct.push(all.distinct[old - 1] ?? "null")
      n = shared.distinct.length
      renumbered.set(old, n)
    }
    shared.ids.push(all.ids[p] ?? "")
    shared.numbers.push(n)
  }
  return shared
}

// The distinct definitions, parsed once each (`OFFSET 0` keeps the subquery whole).
const definitions = (sql: SqlClient.SqlClient, shared: Shared) =>
  sql`(
    SELECT p.n, p.definition, p.definition ->> 'task' AS task,
      coalesce((p.definition -> 'overlap' ->> 'max')::integer, ${Job.defaults.overlap.max}::integer) AS overlap_max,
      coalesce(p.definition -> 'overlap' ->> 'onLimit', ${Job.defaults.overlap.onLimit}::text) AS on_limit,
      coalesce(p.definition ->> 'onLost', ${Job.defaults.onLost}::text) AS on_lost
    FROM (SELECT x.n, x.t::jsonb AS definition FROM unnest(${texts(shared.distinct)}) WITH ORDINALITY AS x(t, n) OFFSET 0) p
    OFFSET 0
  ) d`

/**
 * How the stored jobs among `shared` compare with their declarations,
 * unlocked: `s` a newer code version stored it
 * (superseded), `u` stored as declared by this version (unchanged), `w` it
 * needs a write (which locks and compares again).
 *
 * @internal
 */
export const classify = (sql: SqlClient.SqlClient, t: Tables, shared: Shared, version: number) =>
  sql<{ readonly id: string; readonly verdict: "s" | "u" | "w" }>`
    SELECT j.id, CASE
      WHEN j.source = 'code' AND j.version > ${version}::double precision THEN 's'
      WHEN j.source = 'code' AND j.version = ${version}::double precision AND j.definition = d.definition THEN 'u'
      ELSE 'w' END AS verdict
    FROM unnest(${texts(shared.ids)}, ${int4s(shared.numbers)}) AS u(id, n)
    JOIN ${definitions(sql, shared)} ON d.n = u.n
    JOIN ${t.jobs} j ON j.id = u.id`

/** A stored job compared with its declaration (see `compare`). @internal */
export interface Compared {
  readonly id: string
  readonly source: "code" | "dynamic"
  readonly version: number
  readonly paused: boolean
  readonly next_fire: unknown
  readonly created_at: unknown
  /** The stored definition equals the declared one (jsonb equality: key order does not matter). */
  readonly same: boolean
  readonly same_trigger: boolean
  /** A claim set the stored job aside (see `Jobs.setAside`). */
  readonly set_aside: boolean
}

/**
 * Locks the stored jobs among `shared` (waiting for concurrent writers, in
 * id order) and compares them with their declarations: the comparison holds
 * until commit.
 *
 * @internal
 */
export const lockAndCompare = (sql: SqlClient.SqlClient, t: Tables, shared: Shared) =>
  sql<Compared>`
    SELECT j.id, j.source, j.version, j.paused, j.next_fire, j.created_at,
      j.definition = d.definition AS same,
      j.definition -> 'trigger' = d.definition -> 'trigger' AS same_trigger,
      j.set_aside IS NOT NULL AS set_aside
    FROM ${t.jobs} j
    JOIN unnest(${texts(shared.ids)}, ${int4s(shared.numbers)}) AS u(id, n) ON u.id = j.id
    JOIN ${definitions(sql, shared)} ON d.n = u.n
    ORDER BY j.id
    FOR UPDATE OF j`

/**
 * What the new rows get besides their definitions, one element per job
 * inserted (aligned with `Shared.ids`).
 *
 * @internal
 */
export interface Fresh {
  readonly paused: Array<boolean>
  readonly nextFire: Array<number | null>
  readonly nextDue: Array<number | null>
}

/**
 * Inserts the jobs of `shared` that do not exist yet, in id order (racing
 * registrars wait for each other rather than deadlock). With `skipExisting`
 * existing ids are left alone (`ON CONFLICT DO NOTHING`); without, one
 * existing id fails the statement with a unique violation, and the insert
 * costs the database less (no speculative insertion). Answers how many were
 * inserted, and which only when not all of them were.
 *
 * @internal
 */
export const insertMissing = (
  sql: SqlClient.SqlClient,
  t: Tables,
  shared: Shared,
  fresh: Fresh,
  row: { readonly version: number; readonly at: number },
  skipExisting: boolean
): Effect.Effect<{ readonly inserted: number; readonly ids: ReadonlyArray<string> | null }, SqlError.SqlError> => {
  const insert = sql`
    INSERT INTO ${t.jobs} (id, task, definition, paused, source, version, next_fire, next_due, overlap_max, on_limit,
      on_lost, created_at, updated_at)
    SELECT u.id, d.task, d.definition, u.paused, 'code', ${row.version}::double precision, u.next_fire::bigint,
      u.next_due::bigint, d.overlap_max, d.on_limit, d.on_lost, ${row.at}::bigint, ${row.at}::bigint
    FROM unnest(
      ${texts(shared.ids)}, ${int4s(shared.numbers)}, ${bools(fresh.paused)}, ${float8s(fresh.nextFire)},
      ${float8s(fresh.nextDue)}
    ) AS u(id, n, paused, next_fire, next_due)
    JOIN ${definitions(sql, shared)} ON d.n = u.n
    ORDER BY u.id`
  // A plain insert inserts every row or fails: nothing to return.
  if (!skipExisting) return Effect.as(insert, { inserted: shared.ids.length, ids: null })
  return Effect.map(
    sql<{ readonly inserted: number; readonly ids: ReadonlyArray<string> | null }>`
      WITH inserted AS (${insert} ON CONFLICT (id) DO NOTHING RETURNING id)
      SELECT count(*)::integer AS inserted, CASE WHEN count(*) < ${shared.ids.length}::integer THEN array_agg(id) END AS ids
      FROM inserted`,
    (rows) => rows[0] ?? { inserted: 0, ids: [] }
  )
}

/**
 * The orphans, locked: stored code jobs of an older version than `version`
 * that this code does not declare. Runs after every declared job was
 * written: by then each stored declared job has `version` or a newer one
 * (inserted, updated, bumped, or superseded), so an older code job is one
 * not declared, without sending the declared ids; but for `unsettled`, those
 * that racing writers kept from being settled (almost always none).
 *
 * @internal
 */
export const lockOrphans = (sql: SqlClient.SqlClient, t: Tables, version: number, unsettled: ReadonlyArray<string>) =>
  sql<{ readonly id: string; readonly paused: boolean }>`
    SELECT j.id, j.paused FROM ${t.jobs} j
    WHERE j.source = 'code' AND j.version < ${version}::double precision AND NOT (j.id = ANY(${texts(unsettled)}))
    ORDER BY j.id
    FOR UPDATE OF j`
