/**
 * The PostgreSQL store's `addMany`: many dynamic jobs in one statement, all
 * or nothing.
 *
 * A batch is checked for repeated ids first (nothing is sent when one is),
 * then written by one `INSERT ... SELECT unnest(...)` of typed arrays
 * without `ON CONFLICT`: an id that is stored already fails the statement,
 * and so stores nothing, and a second statement (on that path only) finds
 * which id it was. A batch of more than `chunkSize` jobs goes in several such
 * statements inside one transaction, pipelined: the next chunk is encoded
 * while the server inserts the one before. One notification per batch.
 *
 * The per-job work is what `add` does: encode the definition, compute its
 * first fire and due instant. What costs most for a large batch is the
 * server parsing definitions, so they travel in parts (see `Chunk`). The
 * store's clock is asked only when a trigger needs it (a one-off's first
 * fire is its instant); `created_at` is otherwise the database's clock, read
 * once by the insert. A row stores the definition without the policies left
 * at their defaults (`JobShape.sparse`), which took a quarter off the time:
 * 100,000 one-off jobs take about 1.6 s on a 2-core machine.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import * as SqlError from "effect/sql/SqlError"
import * as FirePlan from "../../FirePlan.ts"
import type * as Job from "../../Job.ts"
import { JobExists } from "../../JobStore.ts"
import { StoreError } from "../../StoreError.ts"
import type * as Trigger from "../../Trigger.ts"
import type { Operation } from "./deadline.ts"
import * as Jobs from "./jobs.ts"
import { bools, int4s, int8s, texts } from "./params.ts"
import { dueOf, type JobValues, toValues } from "./rows.ts"
import * as Runs from "./runs.ts"
import { notifyFor } from "./runs.ts"
import { ms, nowMs, type Tables } from "./Tables.ts"

/**
 * A chunk of rows for `insertAll`. A definition goes in parts: its
 * `payload` and `trigger` as JSON text per row, the rest (task and
 * policies, alike in most jobs of a batch) as one of a few `templates`,
 * named by its position from 1. The server parses each template once and
 * joins the parts (`||`), which gives the very `jsonb` that parsing the
 * whole definition would (`jsonb` keeps keys in its own order): parsing
 * every definition whole cost most of a large batch.
 *
 * @internal
 */
export interface Chunk {
  readonly templates: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Row>
}

/** @internal */
export interface Row extends Omit<JobValues, "definition"> {
  readonly template: number
  readonly payload: string
  readonly trigger: string
  readonly next_fire: number | null
  readonly next_due: number | null
}

/**
 * Inserts every row or none: without `ON CONFLICT`, an id that exists (or
 * appears twice) fails the whole statement with a unique violation. The rows
 * go in the order given (sorted by id by the caller, so that racing
 * inserters of overlapping batches wait for each other rather than
 * deadlock): one `unnest` per column in the select list streams them in
 * array order, where `unnest` in `FROM` would first copy them all aside.
 * Their `created_at` is `at`, or else the database's clock read once.
 * Returns how many rows it inserted, after one notification for all.
 *
 * @internal
 */
export const insertAll = (sql: SqlClient.SqlClient, t: Tables, chunk: Chunk, at: number | null, notify: boolean) => {
  const { rows } = chunk
  return sql<{ readonly inserted: unknown }>`
    WITH inserted AS (
      INSERT INTO ${t.jobs} (id, task, definition, paused, source, version, next_fire, next_due, overlap_max, on_limit,
        on_lost, created_at, updated_at)
      SELECT r.id, r.task, templates.parsed[r.template] || jsonb_build_object('payload', r.payload::jsonb, 'trigger',
          r.trigger::jsonb),
        r.paused, 'dynamic', 0, r.next_fire, r.next_due, r.overlap_max, r.on_limit, r.on_lost, clock.at, clock.at
      FROM (
        SELECT unnest(${texts(rows.map((r) => r.id))}) AS id, unnest(${texts(rows.map((r) => r.task))}) AS task,
          unnest(${int4s(rows.map((r) => r.template))}) AS template, unnest(${texts(rows.map((r) => r.payload))}) AS payload,
          unnest(${texts(rows.map((r) => r.trigger))}) AS trigger, unnest(${bools(rows.map((r) => r.paused))}) AS paused,
          unnest(${int8s(rows.map((r) => r.next_fire))}) AS next_fire, unnest(${int8s(rows.map((r) => r.next_due))}) AS next_due,
          unnest(${int4s(rows.map((r) => r.overlap_max))}) AS overlap_max, unnest(${texts(rows.map((r) => r.on_limit))}) AS on_limit,
          unnest(${texts(rows.map((r) => r.on_lost))}) AS on_lost
      ) r,
      (SELECT array_agg(d::jsonb ORDER BY n) AS parsed FROM unnest(${texts(chunk.templates)}) WITH ORDINALITY AS u(d, n)) templates,
      (SELECT coalesce(${at}::bigint, ${sql.literal(nowMs)}) AS at) clock
      RETURNING 1
    )
    SELECT count(*) AS inserted${notify ? sql`, ${notifyFor(sql, t, "(SELECT 1 FROM inserted LIMIT 1) one", "add")} AS notified` : sql``}
    FROM inserted`
}

/**
 * Rows per statement: a batch up to this size is one statement (and no
 * transaction); a larger one is split, inside one transaction.
 *
 * @internal
 */
export const chunkSize = 20_000



// The batch's first job whose id an earlier job of the batch has.
const repeated = (jobs: ReadonlyArray<Job.Job>): JobExists | undefined => {
  const seen = new Set<string>()
  for (const [index, { id }] of jobs.entries()) {
    if (seen.has(id)) return new JobExists({ id, index })
    seen.add(id)
  }
  return undefined
}

const isUniqueViolation = (error: unknown): boolean =>
  SqlError.isSqlError(error) && error.reason._tag === "UniqueViolation"

// Encoding yields to the event loop every `slice` jobs, so that while it
// encodes the next chunk the previous chunk's statement goes on flushing to
// the socket, and the server works on it.
const slice = 2_000

// The rows of one chunk, encoded as `add` encodes a job, each definition in parts (see `Chunk`).
const toChunk = (jobs: ReadonlyArray<Job.Job>, firstFire: (trigger: Trigger.Trigger) => number | null) =>
  Effect.gen(function*() {
    const templates = new Map<string, number>()
    const rows: Array<Row> = []
    for (const [index, job] of jobs.entries()) {
      if (index > 0 && index % slice === 0) yield* Effect.yieldNow
      const values = toValues(job)
      if (Result.isFailure(values)) return yield* values.failure
      const { definition: { payload, trigger, ...rest }, ...columns } = values.success
      const key = JSON.stringify(rest)
      const template = templates.get(key) ?? templates.size + 1
      templates.set(key, template)
      const nextFire = firstFire(job.trigger)
      rows.push({
        ...columns,
        template,
        payload: JSON.stringify(payload),
        trigger: JSON.stringify(trigger),
        next_fire: nextFire,
        next_due: dueOf(job, nextFire)
      })
    }
    const chunk: Chunk = { templates: [...templates.keys()], rows }
    return chunk
  })

// Code-unit order, as `<` compares: the same in every process.
const byId = (a: Job.Job, b: Job.Job): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/**
 * The store's `addMany`, each statement made through `call` (its deadline
 * and error classification); a batch of several chunks runs in
 * `inTransaction`.
 *
 * @internal
 */
export const make = (
  sql: SqlClient.SqlClient,
  t: Tables,
  call: <A, E, R>(operation: Operation, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, StoreError, R>,
  inTransaction: <A, E, R>(operation: Operation, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError.SqlError, R>
) => {
  const count = ([row]: ReadonlyArray<{ readonly inserted: unknown }>) => ms(row?.inserted ?? 0)

  // Every row, or none and `"exists"` when an id is stored already.
  const insert = (batch: ReadonlyArray<Job.Job>) =>
    Effect.gen(function*() {
      const jobs = [...batch].sort(byId)
      const recurring = jobs.some((job) => job.trigger._tag !== "Once")
      const at = recurring ? ms((yield* Runs.now(sql))[0]?.t) : null
      const firstFire = at === null
        ? (trigger: Trigger.Trigger) => (trigger._tag === "Once" ? trigger.at : null)
        : (trigger: Trigger.Trigger) => FirePlan.initialFire(trigger, at)
      if (jobs.length <= chunkSize) {
        return count(yield* insertAll(sql, t, yield* toChunk(jobs, firstFire), at, true))
      }
      // Chunks in one transaction, pipelined: the next chunk is encoded
      // while the server inserts the one before.
      return yield* inTransaction(
        "addMany",
        Effect.gen(function*() {
          let inserted = 0
          let next = yield* toChunk(jobs.slice(0, chunkSize), firstFire)
          for (let start = 0; start < jobs.length; start += chunkSize) {
            const end = Math.min(start + chunkSize, jobs.length)
            const running = yield* Effect.forkChild(insertAll(sql, t, next, at, end === jobs.length), { startImmediately: true })
            if (end < jobs.length) next = yield* toChunk(jobs.slice(end, end + chunkSize), firstFire)
            inserted += count(yield* Fiber.join(running))
          }
          return inserted
        })
      )
    }).pipe(Effect.catchIf(isUniqueViolation, () => Effect.succeed<"exists">("exists")))

  return Effect.fn("PgJobStore.addMany")(function*(jobs: ReadonlyArray<Job.Job>) {
    if (jobs.length === 0) return 0
    const twice = repeated(jobs)
    if (twice !== undefined) return yield* twice
    const inserted = yield* call("addMany", insert(jobs))
    if (inserted !== "exists") return inserted
    // Which id: the first of the batch that is stored (now).
    const ids = jobs.map((job) => job.id)
    const stored = new Set((yield* call("addMany", Jobs.existingIds(sql, t, ids))).map((row) => row.id))
    const index = ids.findIndex((id) => stored.has(id))
    const id = ids[index]
    if (id !== undefined) return yield* new JobExists({ id, index })
    // The job that was in the way was removed since: the batch may go in now.
    return yield* new StoreError({
      operation: "addMany",
      reason: "Contention",
      retryable: true,
      cause: new Error("a job of the batch existed, and was removed before it could be named")
    })
  })
}
