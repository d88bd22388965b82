/**
 * The PostgreSQL store: durable, exactly once across processes.
 *
 * A Layer over `@effect/sql-pg`'s `PgClient` implementing `JobStore` with the
 * semantics of the in-memory store (the same contract suite runs against
 * both). What makes it safe with any number of processes:
 *
 * - `(job_id, fire_time)` is a unique key of the runs table: a fire can be
 *   recorded once, whoever races to record it;
 * - claims lock job rows `FOR UPDATE SKIP LOCKED` in one short transaction
 *   per batch, so racing claimers split the due jobs between them, and the
 *   overlap limit is decided while the job's row is locked: it holds
 *   cluster-wide;
 * - every write about a running run carries its fencing token;
 * - the database clock decides what is due and when a lease expires;
 * - no session-level advisory locks: it works behind a transaction pooler
 *   (LISTEN/NOTIFY needs a session, and is only a wake-up: the scheduler
 *   polls too).
 *
 * Migrations run when the layer is built, serialised between processes by a
 * transaction-scoped advisory lock. Every failure is a `StoreError`
 * classified by `StoreRetry.classify`, whose `operation` names the store
 * operation.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as SqlError from "effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import * as FirePlan from "./FirePlan.ts"
import * as Claim from "./internal/pg/claim.ts"
import * as Jobs from "./internal/pg/jobs.ts"
import { migrate } from "./internal/pg/migrations.ts"
import { register as registerJobs } from "./internal/pg/register.ts"
import { dueOf, toJob, toRecord, toStoredJob, toValues } from "./internal/pg/rows.ts"
import * as Runs from "./internal/pg/runs.ts"
import * as Tables from "./internal/pg/Tables.ts"
import type * as Job from "./Job.ts"
import { JobExists, JobNotFound, JobStore, type StoredJob } from "./JobStore.ts"
import type * as Run from "./Run.ts"
import { StoreError } from "./StoreError.ts"
import { classify, policy } from "./StoreRetry.ts"
import * as Trigger from "./Trigger.ts"

/**
 * Options of `PgJobStore.layer`.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * The schema of the store's tables, created if missing: letters, digits and
   * `_`, at most 30 characters. Default `"steadfast"`.
   */
  readonly schema?: string | undefined
  /**
   * Prepended to each table name (`jobs`, `runs`, `migrations`): letters,
   * digits and `_`, at most 20 characters. Default `""`.
   */
  readonly tablePrefix?: string | undefined
  /**
   * Claim a job's next fire up to this long before it is due, when the job
   * has no run in progress, so that its handler starts on time however long
   * the claim takes (the executor starts it at its due instant, by the
   * database clock). `nextWake` reports fires this much earlier. Default 0:
   * fires are claimed once due.
   */
  readonly claimAhead?: Duration.Input | undefined
}

const runId = /^[1-9][0-9]{0,17}$/

// Every failure becomes a classified StoreError. That includes an `SqlError`
// raised as a defect: `withTransaction` turns a failed ROLLBACK (the
// connection died mid-transaction) into one.
const guard = <A, E, R>(operation: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, StoreError, R> =>
  effect.pipe(
    Effect.mapError((error) => classify(operation, error)),
    Effect.catchDefect((defect) =>
      SqlError.isSqlError(defect) ? Effect.fail(classify(operation, defect)) : Effect.die(defect)
    )
  )

/**
 * Builds the store on the `PgClient` in context, running migrations first.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { PgClient } from "@effect/sql-pg"
 * import { JobStore, PgJobStore } from "steadfast"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* JobStore.JobStore
 *   return yield* store.now
 * }).pipe(
 *   Effect.provide(PgJobStore.layer()),
 *   Effect.provide(PgClient.layer({ url: Redacted.make("postgres://localhost/app") }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const sql = yield* PgClient.PgClient
  const problem = Tables.invalid(options)
  if (problem !== undefined) {
    return yield* new StoreError({ operation: "make", reason: "InvalidOptions", retryable: false, cause: new Error(problem) })
  }
  const aheadMs = options.claimAhead === undefined ? 0 : Duration.toMillis(Duration.fromInputUnsafe(options.claimAhead))
  if (!Number.isFinite(aheadMs) || aheadMs < 0) {
    return yield* new StoreError({
      operation: "make",
      reason: "InvalidOptions",
      retryable: false,
      cause: new Error(`invalid claimAhead ${String(options.claimAhead)} (a finite, non-negative duration)`)
    })
  }
  const t = Tables.make(sql, options)
  // A process may start while the database is still down: wait for it (with
  // capped backoff, for as long as it takes) instead of failing to start.
  yield* guard("migrate", migrate(sql, t)).pipe(
    Effect.retry(policy({ base: "50 millis", cap: "1 second", maxElapsed: "Infinity" }))
  )

  const dbNow = Effect.map(Runs.now(sql), ([row]) => Tables.ms(row?.t))
  const stored = (row: Parameters<typeof toStoredJob>[0] | undefined) =>
    row === undefined ? Effect.succeed(undefined) : Effect.fromResult(toStoredJob(row))

  // After many jobs were written at once, the planner's statistics are
  // refreshed (best effort): a claim planned on a table it believes small
  // sorts every due job instead of reading the `next_due` index in order.
  const analyzeAfter = 1_000
  const register: JobStore["Service"]["register"] = Effect.fn("PgJobStore.register")((declared, registerOptions) =>
    guard("register", sql.withTransaction(registerJobs(sql, t, declared, registerOptions))).pipe(
      Effect.tap((report) =>
        report.inserted.length + report.updated.length >= analyzeAfter
          ? Effect.ignore(guard("register", Jobs.analyze(sql, t)))
          : Effect.void
      )
    )
  )

  const add = Effect.fn("PgJobStore.add")(function*(job: Job.Job) {
    const created = yield* guard(
      "add",
      Effect.gen(function*() {
        const values = yield* Effect.fromResult(toValues(job))
        const at = yield* dbNow
        const nextFire = FirePlan.initialFire(job.trigger, at)
        const [row] = yield* Jobs.insertNew(sql, t, [{
          ...values,
          source: "dynamic",
          version: 0,
          next_fire: nextFire,
          next_due: dueOf(job, nextFire),
          created_at: at,
          updated_at: at
        }], true)
        return yield* stored(row)
      })
    )
    if (created === undefined) return yield* new JobExists({ id: job.id })
    return created
  })

  const update = Effect.fn("PgJobStore.update")(function*(job: Job.Job) {
    const updated = yield* guard(
      "update",
      Effect.gen(function*() {
        const values = yield* Effect.fromResult(toValues(job))
        const at = yield* dbNow
        const fire = FirePlan.initialFire(job.trigger, at)
        const [row] = yield* Jobs.replace(sql, t, values, { fire, due: dueOf(job, fire), at })
        return yield* stored(row)
      })
    )
    if (updated === undefined) return yield* new JobNotFound({ id: job.id })
    return updated
  })

  const setPaused = Effect.fn("PgJobStore.setPaused")(function*(id: string, paused: boolean) {
    const updated = yield* guard("setPaused", Effect.flatMap(Jobs.setPaused(sql, t, id, paused), ([row]) => stored(row)))
    if (updated === undefined) return yield* new JobNotFound({ id })
    return updated
  })

  const remove = Effect.fn("PgJobStore.remove")((id: string) =>
    guard(
      "remove",
      sql.withTransaction(Effect.gen(function*() {
        const removed = yield* Jobs.remove(sql, t, [id])
        if (removed.length === 0) return false
        yield* Jobs.cancelPending(sql, t, [id])
        return true
      }))
    )
  )

  const get = Effect.fn("PgJobStore.get")((id: string) =>
    guard("get", Effect.flatMap(Jobs.get(sql, t, id), ([row]) => Effect.map(stored(row), Option.fromUndefinedOr)))
  )

  const list = guard(
    "list",
    Effect.flatMap(Jobs.list(sql, t), (rows) => Effect.forEach(rows, (row) => Effect.fromResult(toStoredJob(row))))
  ).pipe(
    Effect.map((jobs): ReadonlyArray<StoredJob> => [...jobs].sort((a, b) => a.id.localeCompare(b.id))),
    Effect.withSpan("PgJobStore.list")
  )

  const triggerNow = Effect.fn("PgJobStore.triggerNow")(function*(id: string, payload?: Job.Job["payload"]) {
    const encoded = payload === undefined || payload === null ? null : JSON.stringify(payload)
    // Racing triggers of one job in one millisecond can both pick the same
    // free slot; the loser's insert does nothing and it tries again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const [row] = yield* guard("triggerNow", Runs.triggerNow(sql, t, id, encoded))
      if (row === undefined || row.found === 0) return yield* new JobNotFound({ id })
      if (row.id !== null) return toRecord({ ...row, id: row.id })
    }
    return yield* new StoreError({
      operation: "triggerNow",
      reason: "Contention",
      retryable: true,
      cause: new Error(`no free fire time for a manual run of ${id}`)
    })
  })

  // Decoded definitions by job id, reused while the stored text is the same:
  // a job that fires every second is decoded once, not every second. Bounded:
  // past `cacheLimit` entries it starts afresh.
  const definitions = new Map<string, { readonly text: string; readonly job: Job.Job }>()
  const cacheLimit = 10_000
  const decodeJob = (id: string, text: string, paused: boolean) => {
    const cached = definitions.get(id)
    if (cached !== undefined && cached.text === text) {
      return Effect.succeed(cached.job.paused === paused ? cached.job : { ...cached.job, paused })
    }
    return Effect.map(Effect.fromResult(toJob({ id, definition: JSON.parse(text), paused })), (job) => {
      if (definitions.size >= cacheLimit) definitions.clear()
      definitions.set(id, { text, job })
      return job
    })
  }

  const claim: JobStore["Service"]["claim"] = Effect.fn("PgJobStore.claim")((request) =>
    guard(
      "claim",
      sql.withTransaction(Effect.gen(function*() {
        const locked = yield* Claim.lockClaimable(sql, t, { ...request, aheadMs })
        const at = Tables.ms(locked[0]?.t)
        const jobs = new Map<string, Job.Job>()
        const fires: Claim.FireInput = { job_id: [], fire_time: [], due_at: [], state: [], note: [], catch_up: [] }
        const advances: Claim.AdvanceInput = { id: [], next_fire: [], next_due: [] }
        for (const row of locked) {
          if (row.id === null || row.definition === null || row.paused === null) continue
          const job = yield* decodeJob(row.id, row.definition, row.paused)
          jobs.set(job.id, job)
          const nextFire = Tables.msOrNull(row.next_fire)
          if (row.due !== true || nextFire === null) continue
          const due = Trigger.dueAt(job.trigger, nextFire, job.id)
          if (due > at + aheadMs) continue
          // Due: every due fire, as of now. Within the claim-ahead window (the
          // job has no run in progress): its next fire alone, as of its due instant.
          const plan = FirePlan.plan(job, nextFire, due > at ? due : at)
          for (const fire of plan.fires) {
            fires.job_id.push(job.id)
            fires.fire_time.push(fire.fireTime)
            fires.due_at.push(fire.dueAt)
            fires.state.push(fire.state)
            fires.note.push(fire.note)
            fires.catch_up.push(fire.catchUp)
          }
          advances.id.push(job.id)
          advances.next_fire.push(plan.nextFire)
          advances.next_due.push(dueOf(job, plan.nextFire))
        }
        if (jobs.size === 0) return { runs: [], settled: [] }
        const rows = yield* Claim.settle(sql, t, {
          t: at,
          node: request.node,
          limit: request.limit,
          leaseMs: request.leaseMs,
          jobIds: [...jobs.keys()],
          fires,
          advances
        })
        const runs: Array<Run.Claimed> = []
        const settled: Array<Run.RunRecord> = []
        for (const row of rows) {
          const job = jobs.get(row.job_id)
          if (row.state !== "running") {
            settled.push(toRecord(row))
          } else if (job !== undefined && row.token !== null) {
            const dueAt = Tables.ms(row.due_at)
            runs.push({
              id: row.id,
              jobId: row.job_id,
              fireTime: Tables.ms(row.fire_time),
              dueAt,
              attempt: row.attempt,
              token: row.token,
              task: job.task,
              payload: row.payload ?? job.payload,
              retry: job.retry,
              timeout: job.timeout,
              // A fire claimed ahead starts when it is due.
              startedAt: Math.max(at, dueAt)
            })
          }
        }
        return { runs, settled }
      }))
    )
  )

  const nextWake = Effect.fn("PgJobStore.nextWake")((tasks: ReadonlyArray<string>) =>
    guard("nextWake", Effect.map(Runs.nextWake(sql, t, tasks, aheadMs), ([row]) => Option.map(Option.fromNullishOr(row?.wake), Tables.ms)))
  )

  const finish = Effect.fn("PgJobStore.finish")(function*(outcomes: ReadonlyArray<Run.Outcome>) {
    // One outcome per run and call: a repeated id in the same call is refused, as a second finish would be.
    const seen = new Set<string>()
    const input: Array<Runs.FinishInput> = []
    outcomes.forEach((outcome, ord) => {
      if (!runId.test(outcome.id) || seen.has(outcome.id)) return
      seen.add(outcome.id)
      input.push({
        ord,
        id: outcome.id,
        token: outcome.token,
        state: outcome.state,
        attempt: outcome.attempt,
        error: outcome.error,
        ended_at: outcome.endedAt
      })
    })
    if (input.length === 0) return outcomes.map(() => false)
    const accepted = new Set((yield* guard("finish", Runs.finish(sql, t, input))).map((row) => row.ord))
    return outcomes.map((_, ord) => accepted.has(ord))
  })

  const renew = Effect.fn("PgJobStore.renew")(function*(node: string, leases: ReadonlyArray<{ readonly id: string; readonly token: string }>, leaseMs: number) {
    const valid = leases.filter((lease) => runId.test(lease.id))
    const renewed = valid.length === 0
      ? new Set<string>()
      : new Set((yield* guard("renew", Runs.renew(sql, t, node, valid, leaseMs))).map((row) => row.id))
    return leases.filter((lease) => !renewed.has(lease.id)).map((lease) => lease.id)
  })

  const reap = guard("reap", Effect.map(Runs.reap(sql, t, 10_000), (rows) => rows.map(toRecord))).pipe(
    Effect.withSpan("PgJobStore.reap")
  )

  const history: JobStore["Service"]["history"] = Effect.fn("PgJobStore.history")((query) =>
    guard(
      "history",
      Effect.map(
        Runs.history(sql, t, { jobId: query.jobId, states: query.states, limit: query.limit ?? 100 }),
        (rows) => rows.map(toRecord)
      )
    )
  )

  const prune: JobStore["Service"]["prune"] = Effect.fn("PgJobStore.prune")((retention) =>
    retention.maxAgeMs === undefined && retention.maxPerJob === undefined
      ? Effect.succeed(0)
      : guard(
        "prune",
        Effect.map(
          Runs.prune(sql, t, { maxAgeMs: retention.maxAgeMs ?? null, maxPerJob: retention.maxPerJob ?? null }),
          ([row]) => Tables.ms(row?.deleted ?? 0)
        )
      )
  )

  // Once LISTEN is confirmed, one change is emitted at once: whatever was
  // notified while this process was not listening (start-up, a lost
  // connection being re-established) is looked at.
  const changes: Stream.Stream<void, StoreError> = Stream.unwrap(
    Effect.map(sql.listen(t.channel), (queue) => Stream.concat(Stream.make(undefined), Stream.fromQueue(queue)))
  ).pipe(
    Stream.map(() => undefined),
    Stream.mapError((error) => classify("changes", error))
  )

  return JobStore.of({
    now: guard("now", dbNow),
    register,
    add,
    update,
    setPaused,
    remove,
    get,
    list,
    triggerNow,
    claim,
    nextWake,
    finish,
    renew,
    reap,
    history,
    prune,
    changes
  })
})

/**
 * The PostgreSQL store as a Layer over a `PgClient`.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { PgClient } from "@effect/sql-pg"
 * import { PgJobStore } from "steadfast"
 *
 * export const StoreLive = PgJobStore.layer({ schema: "jobs" }).pipe(
 *   Layer.provide(PgClient.layer({ url: Redacted.make("postgres://localhost/app") }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<JobStore, StoreError, PgClient.PgClient> =>
  Layer.effect(JobStore, make(options))
