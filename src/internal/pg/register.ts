/**
 * `register`: the idempotent upsert of code-declared jobs, safe when every
 * process of a cluster runs it at the same instant.
 *
 * One transaction, worked through in chunks of 5,000 jobs in id order (so a
 * process declaring 100,000 jobs never holds them all encoded at once, and
 * racing registrars lock in the same order): per chunk, find which exist,
 * compare those with their declarations in the database (jsonb equality),
 * lock (`FOR UPDATE`, in id order) and compare again only what needs a
 * write, insert what does not exist (`ON CONFLICT DO NOTHING`, in id order,
 * so racing registrars wait for each other rather than fail), write by the
 * version rule; then handle orphans. Racing registrars of the same
 * declarations end with one row per job: the first inserts, the others find
 * it unchanged. A declaration of a lower version never replaces a stored one
 * of a higher version, so during a rolling deploy the newer definition wins
 * and stays.
 *
 * Each chunk is encoded once (its definitions as JSON text, each distinct
 * one sent once: see `declarations.ts`), and the next chunk is encoded while
 * the database works on the current one.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import type * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import * as FirePlan from "../../FirePlan.ts"
import type * as Job from "../../Job.ts"
import type { RegisterOptions, RegisterReport } from "../../JobStore.ts"
import * as JobShape from "../jobShape.ts"
import * as Declarations from "./declarations.ts"
import * as Jobs from "./jobs.ts"
import { dueOf, toValues } from "./rows.ts"
import * as Runs from "./runs.ts"
import { ms, msOrNull, type Tables } from "./Tables.ts"

const chunkSize = 5_000

// Enough for a chunk's sort of 5,000 rows with their definitions.
const workMem = "64MB"

type Outcome = "inserted" | "updated" | "unchanged" | "superseded"

// Outcomes as small numbers, one byte per declared job: 0 is "not decided
// yet", `REPEATED` a declaration that a later one of the same id replaces.
const outcomeNames: ReadonlyArray<Outcome | undefined> = ["unchanged", "inserted", "updated", "unchanged", "superseded"]
const INSERTED = 1
const UPDATED = 2
const UNCHANGED = 3
const SUPERSEDED = 4
const REPEATED = 5

/** A chunk of declarations in id order, encoded. */
interface Chunk {
  readonly jobs: ReadonlyArray<Job.Job>
  /** Where each job's outcome goes in `outcomes`: the index of the id's first declaration. */
  readonly slots: ReadonlyArray<number>
  /** The chunk with its distinct definitions, and what a new row of each gets. */
  readonly all: Declarations.Shared
  readonly fresh: Declarations.Fresh
}

// Plain code, no effect per job: this runs while the database works on the
// previous chunk. Each definition's JSON text is kept only when it is new
// to the chunk.
const encode = (
  declared: ReadonlyArray<Job.Job>,
  order: Int32Array,
  from: number,
  to: number,
  at: number
): Result.Result<Chunk, Schema.SchemaError> => {
  const jobs: Array<Job.Job> = []
  const slots: Array<number> = []
  const { add, shared } = Declarations.sharing()
  const fresh: Declarations.Fresh = { paused: [], nextFire: [], nextDue: [] }
  // The last job spelled out, when it conforms: a job with the same
  // definition reuses its text (see `JobShape.sameDefinition`).
  let previous: { readonly job: Job.Job; readonly text: string } | undefined
  for (let k = from; k < to; k++) {
    const job = declared[order[k] ?? -1]
    // Only the last declaration of a group of equal ids counts; its outcome
    // goes where the first one is.
    if (job === undefined || (k + 1 < order.length && declared[order[k + 1] ?? -1]?.id === job.id)) continue
    let start = k
    while (start > 0 && declared[order[start - 1] ?? -1]?.id === job.id) start--
    const first = order[start] ?? 0
    const conforms = JobShape.conforms(job)
    if (conforms && previous !== undefined && JobShape.sameDefinition(previous.job, job)) {
      add(job.id, previous.text)
    } else {
      const values = toValues(job)
      if (Result.isFailure(values)) return Result.fail(values.failure)
      const text = JSON.stringify(values.success.definition)
      previous = conforms ? { job, text } : undefined
      add(job.id, text)
    }
    const nextFire = FirePlan.initialFire(job.trigger, at)
    jobs.push(job)
    slots.push(first)
    fresh.paused.push(job.paused)
    fresh.nextFire.push(nextFire)
    fresh.nextDue.push(dueOf(job, nextFire))
  }
  return Result.succeed({ jobs, slots, all: shared, fresh })
}

// A position in the chunk by id (the chunk's ids are sorted).
const positionOf = (ids: ReadonlyArray<string>, id: string): number | undefined => {
  let low = 0
  let high = ids.length - 1
  while (low <= high) {
    const mid = (low + high) >>> 1
    const at = ids[mid] ?? ""
    if (at === id) return mid
    if (at < id) low = mid + 1
    else high = mid - 1
  }
  return undefined
}

/**
 * Runs inside a transaction (the caller's).
 *
 * @internal
 */
export const register = (
  sql: SqlClient.SqlClient,
  t: Tables,
  declared: ReadonlyArray<Job.Job>,
  options: RegisterOptions
): Effect.Effect<RegisterReport, SqlError.SqlError | Schema.SchemaError> =>
  Effect.gen(function*() {
    const [clock] = yield* Runs.now(sql)
    const at = ms(clock?.t)
    // A chunk's insert sorts its rows, definitions included, by id: in
    // memory, not in temporary files (for this transaction only).
    yield* sql`SELECT set_config('work_mem', ${workMem}, true)`
    // The declarations in id order (code-unit order, as `<` compares), then
    // in declared order: the last declaration of an id wins, reported where
    // the id first appears. An index array: no map or copy of 100,000 ids.
    const order = new Int32Array(declared.length)
    for (let i = 0; i < order.length; i++) order[i] = i
    order.sort((a, b) => {
      const x = declared[a]?.id ?? ""
      const y = declared[b]?.id ?? ""
      return x < y ? -1 : x > y ? 1 : a - b
    })
    const outcomes = new Uint8Array(declared.length).fill(REPEATED)

    const chunkAt = (from: number) =>
      Effect.suspend(() => Effect.fromResult(encode(declared, order, from, Math.min(from + chunkSize, order.length), at)))

    // Declared ids that racing writers kept from being inserted or locked.
    const unsettled: Array<string> = []
    let chunk = order.length === 0 ? undefined : yield* chunkAt(0)
    for (let from = 0; chunk !== undefined; from += chunkSize) {
      for (const slot of chunk.slots) outcomes[slot] = 0
      const existing = yield* Jobs.existingIds(sql, t, chunk.all.ids)
      // The next chunk is encoded while the database writes this one.
      const next = from + chunkSize < order.length ? yield* Effect.forkChild(chunkAt(from + chunkSize)) : undefined
      unsettled.push(...yield* registerChunk(sql, t, chunk, existing, outcomes, { version: options.version, at }))
      chunk = next === undefined ? undefined : yield* Fiber.join(next)
    }

    const report: Record<Outcome, Array<string>> = { inserted: [], updated: [], unchanged: [], superseded: [] }
    declared.forEach((job, index) => {
      const outcome = outcomeNames[outcomes[index] ?? 0]
      if (outcome !== undefined) report[outcome].push(job.id)
    })

    const orphans = yield* Declarations.lockOrphans(sql, t, options.version, unsettled)
    const orphaned = orphans.map((row) => row.id)
    if (options.orphans === "pause") {
      const toPause = orphans.filter((row) => !row.paused).map((row) => row.id)
      if (toPause.length > 0) yield* Jobs.pause(sql, t, toPause, at)
    } else if (options.orphans === "remove" && orphaned.length > 0) {
      const removed = yield* Jobs.remove(sql, t, orphaned)
      yield* Jobs.cancelPending(sql, t, removed.map((row) => row.id))
    }
    if (report.inserted.length + report.updated.length + orphaned.length > 0) {
      yield* Jobs.notify(sql, t, "register")
    }
    return { ...report, orphaned }
  })

// One chunk: decides the outcome of each of its jobs (in `outcomes`, by
// declared index) and writes what the version rule says. Returns the ids
// that racing writers kept from being settled (almost always none).
const registerChunk = (
  sql: SqlClient.SqlClient,
  t: Tables,
  chunk: Chunk,
  existing: ReadonlyArray<{ readonly id: string }>,
  outcomes: Uint8Array,
  write: { readonly version: number; readonly at: number }
) =>
  Effect.gen(function*() {
    const { jobs, all } = chunk
    const decide = (position: number, outcome: number) => {
      const slot = chunk.slots[position]
      if (slot !== undefined) outcomes[slot] = outcome
    }
    const undecided = (position: number) => outcomes[chunk.slots[position] ?? -1] === 0

    // Compare what exists (`existing`, unlocked) with the declarations
    // without locking it: a restart that changes nothing writes nothing and
    // blocks no claim.
    const known: Array<number> = []
    for (const row of existing) {
      const p = positionOf(all.ids, row.id)
      if (p !== undefined) known.push(p)
    }
    const needsWrite = new Set<number>()
    if (known.length > 0) {
      for (const row of yield* Declarations.classify(sql, t, Declarations.pick(all, known), write.version)) {
        const p = positionOf(all.ids, row.id)
        if (p === undefined) continue
        if (row.verdict === "s") decide(p, SUPERSEDED)
        else if (row.verdict === "u") decide(p, UNCHANGED)
        else needsWrite.add(p)
      }
    }

    // Only the jobs that need a write are locked and compared again (the
    // lock makes the version rule race-free), and the missing ones are
    // inserted. A job inserted by a racing registrar in between makes the
    // insert do nothing: the next round locks and compares it.
    const locked = new Map<number, Declarations.Compared>()
    const inserted = new Set<number>()
    let remaining: Array<number> = []
    for (let p = 0; p < jobs.length; p++) if (undecided(p)) remaining.push(p)
    for (let round = 0; round < 3 && remaining.length > 0; round++) {
      const toLock = round === 0 ? remaining.filter((p) => needsWrite.has(p)) : remaining
      if (toLock.length > 0) {
        for (const row of yield* Declarations.lockAndCompare(sql, t, Declarations.pick(all, toLock))) {
          const p = positionOf(all.ids, row.id)
          if (p !== undefined) locked.set(p, row)
        }
      }
      const missing = remaining.filter((p) => !locked.has(p))
      if (missing.length > 0) {
        for (const p of yield* insertChunk(sql, t, chunk, missing, write, round === 0)) inserted.add(p)
      }
      remaining = missing.filter((p) => !inserted.has(p))
    }

    const writes: Array<Jobs.JobWrite> = []
    const bumps: Array<string> = []
    for (let p = 0; p < jobs.length; p++) {
      const job = jobs[p]
      if (job === undefined || !undecided(p)) continue
      const row = locked.get(p)
      if (inserted.has(p) || row === undefined) {
        decide(p, inserted.has(p) ? INSERTED : UNCHANGED)
      } else if (row.source === "code" && row.version > write.version) {
        decide(p, SUPERSEDED)
      } else if (row.source === "code" && row.same) {
        if (row.version !== write.version) bumps.push(job.id)
        decide(p, UNCHANGED)
      } else {
        const values = yield* Effect.fromResult(toValues(job))
        const nextFire = row.same_trigger ? msOrNull(row.next_fire) : FirePlan.initialFire(job.trigger, write.at)
        // A runtime pause outlives restarts: the declaration's `paused` applies on insert only,
        // and in place of a pause by which a claim set the stored definition aside.
        writes.push({
          ...values,
          paused: row.set_aside ? values.paused : row.paused,
          source: "code",
          version: write.version,
          next_fire: nextFire,
          next_due: dueOf(job, nextFire),
          created_at: ms(row.created_at),
          updated_at: write.at
        })
        decide(p, UPDATED)
      }
    }
    if (writes.length > 0) yield* Jobs.overwrite(sql, t, writes)
    if (bumps.length > 0) yield* Jobs.setVersion(sql, t, bumps, write.version)
    return remaining.map((p) => all.ids[p] ?? "")
  })

// Inserts the jobs at `missing` (positions in the chunk); answers the
// positions inserted.
const insertChunk = (
  sql: SqlClient.SqlClient,
  t: Tables,
  chunk: Chunk,
  missing: ReadonlyArray<number>,
  write: { readonly version: number; readonly at: number },
  firstRound: boolean
) =>
  Effect.gen(function*() {
    // A fresh start inserts every job of the chunk: what was encoded for it serves.
    const whole = missing.length === chunk.jobs.length
    const shared = whole ? chunk.all : Declarations.pick(chunk.all, missing)
    const fresh = whole ? chunk.fresh : pickFresh(chunk.fresh, missing)
    const skipping = Declarations.insertMissing(sql, t, shared, fresh, write, true)
    // None of them existed a moment ago: a plain insert (cheaper) in a
    // savepoint, and the skipping one only if a racing registrar inserted
    // some of them in between.
    const result = firstRound
      ? yield* Effect.andThen(
        sql`SAVEPOINT steadfast_register`,
        Declarations.insertMissing(sql, t, shared, fresh, write, false).pipe(
          Effect.tap(() => sql`RELEASE SAVEPOINT steadfast_register`),
          Effect.catchIf(isUniqueViolation, () => Effect.andThen(sql`ROLLBACK TO SAVEPOINT steadfast_register`, skipping))
        )
      )
      : yield* skipping
    if (result.ids === null) return result.inserted === missing.length ? missing : []
    const inserted: Array<number> = []
    for (const id of result.ids) {
      const p = positionOf(chunk.all.ids, id)
      if (p !== undefined) inserted.push(p)
    }
    return inserted
  })

const isUniqueViolation = (error: SqlError.SqlError): boolean => error.reason._tag === "UniqueViolation"

const pickFresh = (fresh: Declarations.Fresh, positions: ReadonlyArray<number>): Declarations.Fresh => ({
  paused: positions.map((p) => fresh.paused[p] ?? false),
  nextFire: positions.map((p) => fresh.nextFire[p] ?? null),
  nextDue: positions.map((p) => fresh.nextDue[p] ?? null)
})
