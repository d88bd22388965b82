/**
 * `register`: the idempotent upsert of code-declared jobs, safe when every
 * process of a cluster runs it at the same instant.
 *
 * One transaction, worked through in chunks of 2,000 jobs in id order (so a
 * process declaring 100,000 jobs never holds them all encoded at once, and
 * racing registrars lock in the same order): per chunk, compare what exists
 * with the declarations in the database (jsonb equality), lock (`FOR
 * UPDATE`, in id order) and compare again only what needs a write, insert
 * what does not exist (`ON CONFLICT DO NOTHING`, in id order, so racing
 * registrars wait for each other rather than fail), write by the version
 * rule; then handle orphans. Racing registrars of the same declarations end
 * with one row per job: the first inserts, the others find it unchanged. A
 * declaration of a lower version never replaces a stored one of a higher
 * version, so during a rolling deploy the newer definition wins and stays.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import * as FirePlan from "../../FirePlan.ts"
import type * as Job from "../../Job.ts"
import type { RegisterOptions, RegisterReport } from "../../JobStore.ts"
import * as Jobs from "./jobs.ts"
import { dueOf, type JobValues, toValues } from "./rows.ts"
import * as Runs from "./runs.ts"
import { ms, msOrNull, type Tables } from "./Tables.ts"

const chunkSize = 2_000

type Verdict = "superseded" | "unchanged" | "bump" | "update"

type Outcome = "inserted" | "updated" | "unchanged" | "superseded"

interface Entry {
  readonly job: Job.Job
  readonly values: JobValues
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
    // The last declaration of an id wins, in the order of first appearance.
    const byId = new Map<string, Job.Job>()
    for (const job of declared) byId.set(job.id, job)
    // Code-unit order, as `<` compares.
    const ids = [...byId.keys()].sort()

    const fresh = ({ job, values }: Entry): Jobs.JobWrite => {
      const nextFire = FirePlan.initialFire(job.trigger, at)
      return {
        ...values,
        source: "code",
        version: options.version,
        next_fire: nextFire,
        next_due: dueOf(job, nextFire),
        created_at: at,
        updated_at: at
      }
    }

    const verdict = (row: Jobs.Compared): Verdict =>
      row.source === "code" && row.version > options.version
        ? "superseded"
        : row.source === "code" && row.same
        ? (row.version === options.version ? "unchanged" : "bump")
        : "update"
    const compare = (list: ReadonlyArray<Entry>, lock: boolean) =>
      list.length === 0
        ? Effect.succeed([])
        : Jobs.compare(sql, t, list.map(({ job, values }) => ({ id: job.id, definition: values.definition })), lock)

    const outcomes = new Map<string, Outcome>()

    // One chunk of declarations, sorted by id. Compare what exists in the
    // database without locking it: a restart that changes nothing writes
    // nothing and blocks no claim. Only the jobs that need a write are locked
    // and compared again (the lock makes the version rule race-free), and the
    // missing ones are inserted. A job inserted by a racing registrar in
    // between makes the insert do nothing: the next round locks and compares it.
    const registerChunk = (chunk: ReadonlyArray<Entry>) =>
      Effect.gen(function*() {
        const known = new Set<string>()
        for (const row of yield* Jobs.existingIds(sql, t, chunk.map((entry) => entry.job.id))) known.add(row.id)
        const inserted = new Set<string>()
        const existing = new Map<string, Jobs.Compared>()
        const unlocked = yield* compare(chunk.filter((entry) => known.has(entry.job.id)), false)
        const needsWrite = new Set<string>()
        for (const row of unlocked) {
          const v = verdict(row)
          if (v === "superseded" || v === "unchanged") existing.set(row.id, row)
          else needsWrite.add(row.id)
        }
        let remaining: ReadonlyArray<Entry> = chunk.filter((entry) => !existing.has(entry.job.id))
        for (let round = 0; round < 3 && remaining.length > 0; round++) {
          const toLock = round === 0 ? remaining.filter((entry) => needsWrite.has(entry.job.id)) : remaining
          for (const row of yield* compare(toLock, true)) existing.set(row.id, row)
          const missing = remaining.filter((entry) => !existing.has(entry.job.id))
          if (missing.length > 0) {
            for (const row of yield* Jobs.insertMissing(sql, t, missing.map(fresh))) inserted.add(row.id)
          }
          remaining = missing.filter((entry) => !inserted.has(entry.job.id))
        }

        const writes: Array<Jobs.JobWrite> = []
        const bumps: Array<string> = []
        for (const { job, values } of chunk) {
          const row = existing.get(job.id)
          if (inserted.has(job.id) || row === undefined) {
            outcomes.set(job.id, inserted.has(job.id) ? "inserted" : "unchanged")
            continue
          }
          switch (verdict(row)) {
            case "superseded":
              outcomes.set(job.id, "superseded")
              break
            case "bump":
              bumps.push(job.id)
              outcomes.set(job.id, "unchanged")
              break
            case "unchanged":
              outcomes.set(job.id, "unchanged")
              break
            case "update": {
              const nextFire = row.same_trigger ? msOrNull(row.next_fire) : FirePlan.initialFire(job.trigger, at)
              // A runtime pause outlives restarts: the declaration's `paused` applies on insert only,
              // and in place of a pause by which a claim set the stored definition aside.
              writes.push({
                ...values,
                paused: row.set_aside ? values.paused : row.paused,
                source: "code",
                version: options.version,
                next_fire: nextFire,
                next_due: dueOf(job, nextFire),
                created_at: ms(row.created_at),
                updated_at: at
              })
              outcomes.set(job.id, "updated")
            }
          }
        }
        if (writes.length > 0) yield* Jobs.overwrite(sql, t, writes)
        if (bumps.length > 0) yield* Jobs.setVersion(sql, t, bumps, options.version)
      })

    for (let start = 0; start < ids.length; start += chunkSize) {
      const chunk: Array<Entry> = []
      for (const id of ids.slice(start, start + chunkSize)) {
        const job = byId.get(id)
        if (job !== undefined) chunk.push({ job, values: yield* Effect.fromResult(toValues(job)) })
      }
      yield* registerChunk(chunk)
    }

    const report: Record<Outcome, Array<string>> = { inserted: [], updated: [], unchanged: [], superseded: [] }
    for (const id of byId.keys()) report[outcomes.get(id) ?? "unchanged"].push(id)

    const orphans = yield* Jobs.lockOrphans(sql, t, ids, options.version)
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
