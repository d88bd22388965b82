/**
 * The PostgreSQL store: durable, exactly once across processes.
 *
 * A Layer over `@effect/sql-pg`'s `PgClient` implementing `JobStore` with the
 * semantics of the in-memory store (the same contract suite runs against
 * both). What makes it safe with any number of processes:
 *
 * - `(job_id, fire_time, manual)` is a unique key of the runs table: a fire
 *   can be recorded once, whoever races to record it, and a manual run never
 *   takes a scheduled fire's key;
 * - every instant a record holds is the database's clock, never a node's;
 * - whatever it accepts it can claim: the database refuses a definition or
 *   payload a claim could not read back, and a claim sets aside (pauses,
 *   with a note) a stored job it cannot decode or plan, and claims the rest;
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
 * What keeps it from stopping silently when the network does (no RST: a dead
 * link, a NAT that forgot the connection, a failover):
 *
 * - every call has a deadline (`Options.deadlines`); past it the caller gets
 *   a retryable `StoreError` at once and the call's connection is never used
 *   again (interrupted in the background: `@effect/sql-pg` closes a session
 *   whose cancelled statement is not confirmed within 5 seconds);
 * - its transactions are interruptible at every statement, `BEGIN`, `COMMIT`
 *   and `ROLLBACK` included, and set server-side guards for themselves
 *   (`statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`
 *   with `SET LOCAL`): a client gone silent in the middle of a claim holds its
 *   row locks for `idleInTransaction` (5 s), not until TCP gives up;
 * - `changes` checks that notifications arrive (`notifications`);
 * - `clientConfig` turns TCP keepalive on.
 *
 * Building the layer asks nothing of the database: migrations run before the
 * first operation (once per store), serialised between processes by a
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
import * as PubSub from "effect/PubSub"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as SqlError from "effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import * as FirePlan from "./FirePlan.ts"
import * as AddMany from "./internal/pg/addMany.ts"
import * as Claimer from "./internal/pg/claimer.ts"
import * as Jobs from "./internal/pg/jobs.ts"
import * as Deadline from "./internal/pg/deadline.ts"
import * as Existing from "./internal/pg/existing.ts"
import * as HandBack from "./internal/pg/handback.ts"
import * as Listener from "./internal/pg/listener.ts"
import { migrate } from "./internal/pg/migrations.ts"
import * as Operator from "./internal/pg/operator.ts"
import { register as registerJobs } from "./internal/pg/register.ts"
import { dueOf, toRecord, toStoredJob, toValues, unreadable } from "./internal/pg/rows.ts"
import * as Runs from "./internal/pg/runs.ts"
import * as Startup from "./internal/pg/startup.ts"
import * as Tables from "./internal/pg/Tables.ts"
import { transaction } from "./internal/pg/transaction.ts"
import type * as Job from "./Job.ts"
import { JobExists, JobNotFound, JobStore, type Share, type StoredJob } from "./JobStore.ts"
import type * as Run from "./Run.ts"
import { StoreError } from "./StoreError.ts"
import { classify } from "./StoreRetry.ts"

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
   * How long each store call may take (see `Deadlines`). A call past its
   * deadline fails with a retryable `StoreError` (reason `"Deadline"`) at
   * once, and its connection is never used again.
   */
  readonly deadlines?: Deadlines | undefined
  /**
   * `"transaction"` when the store reaches PostgreSQL through a pooler in
   * transaction mode (PgBouncer's `pool_mode = transaction`): the store then
   * requires a client without prepared statements (`prepare: false`, as
   * `PgJobStore.clientConfig` sets it) and fails to build otherwise. The
   * store keeps no session state either way (its guards are `SET LOCAL`, its
   * locks transaction-scoped), and does not LISTEN: notifications do not pass
   * such a pooler, so `notifications` is `"unavailable"` and other processes'
   * changes are seen at the next poll. Without this option a pooler is
   * detected by the notification probe.
   */
  readonly pooler?: "transaction" | undefined
  /**
   * The server ends a session of the store that stays idle this long in the
   * middle of a transaction (`idle_in_transaction_session_timeout`, set per
   * transaction): a client gone silent in the middle of a claim holds its
   * job-row locks no longer. Default 5 seconds.
   */
  readonly idleInTransaction?: Duration.Input | undefined
  /**
   * The check that change notifications arrive: a notification the store
   * sends itself must come back within `timeout` (default 5 seconds), once
   * `changes` is subscribed and then every `interval` (default 60 seconds).
   */
  readonly notificationProbe?: {
    readonly timeout?: Duration.Input | undefined
    readonly interval?: Duration.Input | undefined
  } | undefined
}

/**
 * A deadline per store operation; `default` applies to every operation
 * without a deadline of its own. Built in: 5 seconds for every operation
 * except `register`, `addMany` and `migrate` (60 s), `list` and `prune` (30 s),
 * `history`, `historyPage`, `listJobs`, `stateCounts` and `reap` (15 s); an operation named here, or `default`, wins
 * over that (`default` only for the 5-second ones). `"Infinity"` turns a
 * deadline off. `listen` bounds connecting and confirming LISTEN for
 * `changes`, `probe` sending its check notification.
 *
 * Inside its transactions the store also sets `statement_timeout` and
 * `lock_timeout` to the call's deadline, so the server stops what the client
 * stopped waiting for.
 *
 * @example
 * ```ts
 * import { PgJobStore } from "steadfast"
 *
 * const deadlines: PgJobStore.Deadlines = { default: "3 seconds", claim: "10 seconds" }
 * export const store = PgJobStore.layer({ deadlines })
 * ```
 *
 * @since 0.1.0
 */
export type Deadlines = Deadline.Input

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
 * Builds the store on the `PgClient` in context. It does not connect: the
 * migrations run before its first operation, and a database that cannot be
 * reached fails that operation with a retryable `StoreError` whose `target`
 * names the host and port. With `mode` `"existing"` (what `layerExisting`
 * builds on) it never migrates.
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
export const make = Effect.fnUntraced(function*(options: Options = {}, mode: "migrate" | "existing" = "migrate") {
  const sql = yield* PgClient.PgClient
  const problem = Tables.invalid(options) ?? unreadable(sql.config.maxMessageSize)
  if (problem !== undefined) {
    return yield* new StoreError({ operation: "make", reason: "InvalidOptions", retryable: false, cause: new Error(problem) })
  }
  const t = Tables.make(sql, options)
  const limits = Deadline.resolveLimits(options, sql.config)
  if (typeof limits === "string") {
    return yield* new StoreError({ operation: "make", reason: "InvalidOptions", retryable: false, cause: new Error(limits) })
  }
  const { deadline, idleMs } = limits
  // Every call: classified, within its deadline.
  const call = <A, E, R>(operation: Deadline.Operation, effect: Effect.Effect<A, E, R>) =>
    Deadline.within(operation, deadline(operation))(guard(operation, effect))
  const inTransaction = <A, E, R>(operation: Deadline.Operation, effect: Effect.Effect<A, E, R>) =>
    transaction(sql, Deadline.guardsFor(deadline(operation), idleMs), effect)

  const dbNow = Effect.map(Runs.now(sql), ([row]) => Tables.ms(row?.t))
  const stored = (row: Parameters<typeof toStoredJob>[0] | undefined) =>
    row === undefined ? Effect.succeed(undefined) : Effect.fromResult(toStoredJob(row))

  // After many jobs were written at once, the planner's statistics are
  // refreshed (best effort): a claim planned on a table it believes small
  // sorts every due job instead of reading the `next_due` index in order.
  const analyzeAfter = 1_000
  const register: JobStore["Service"]["register"] = Effect.fn("PgJobStore.register")((declared, registerOptions) =>
    call("register", inTransaction("register", registerJobs(sql, t, declared, registerOptions))).pipe(
      Effect.tap((report) =>
        report.inserted.length + report.updated.length >= analyzeAfter
          ? Effect.ignore(call("register", Jobs.analyze(sql, t)))
          : Effect.void
      )
    )
  )

  const add = Effect.fn("PgJobStore.add")(function*(job: Job.Job) {
    const created = yield* call(
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

  const insertMany = AddMany.make(sql, t, call, inTransaction)
  const addMany: JobStore["Service"]["addMany"] = (jobs) =>
    Effect.tap(insertMany(jobs), (inserted) =>
      inserted >= analyzeAfter ? Effect.ignore(call("addMany", Jobs.analyze(sql, t))) : Effect.void)

  const update = Effect.fn("PgJobStore.update")(function*(job: Job.Job) {
    const updated = yield* call(
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
    const updated = yield* call("setPaused", Effect.flatMap(Jobs.setPaused(sql, t, id, paused), ([row]) => stored(row)))
    if (updated === undefined) return yield* new JobNotFound({ id })
    return updated
  })

  const remove = Effect.fn("PgJobStore.remove")((id: string) =>
    call(
      "remove",
      inTransaction("remove", Effect.gen(function*() {
        const removed = yield* Jobs.remove(sql, t, [id])
        if (removed.length === 0) return false
        yield* Jobs.cancelPending(sql, t, [id])
        return true
      }))
    )
  )

  const get = Effect.fn("PgJobStore.get")((id: string) =>
    call("get", Effect.flatMap(Jobs.get(sql, t, id), ([row]) => Effect.map(stored(row), Option.fromUndefinedOr)))
  )

  const list = call(
    "list",
    Effect.flatMap(Jobs.list(sql, t), (rows) =>
      Effect.gen(function*() {
        // One row that cannot be read (written by hand, say) must not hide
        // every other job: it is left out, and said so.
        const jobs: Array<StoredJob> = []
        for (const row of rows) {
          const decoded = toStoredJob(row)
          if (Result.isSuccess(decoded)) jobs.push(decoded.success)
          else yield* Effect.logWarning(`job ${JSON.stringify(row.id)} cannot be read and is left out of the list: ${decoded.failure.message}`)
        }
        return jobs
      }))
  ).pipe(
    Effect.map((jobs): ReadonlyArray<StoredJob> => [...jobs].sort((a, b) => a.id.localeCompare(b.id))),
    Effect.withSpan("PgJobStore.list")
  )

  const triggerNow = Effect.fn("PgJobStore.triggerNow")(function*(id: string, payload?: Job.Job["payload"]) {
    const encoded = payload === undefined || payload === null ? null : JSON.stringify(payload)
    // Racing triggers of one job in one millisecond can both pick the same
    // free slot; the loser's insert does nothing and it tries again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const [row] = yield* call("triggerNow", Runs.triggerNow(sql, t, id, encoded))
      if (row === undefined || row.found === 0) return yield* new JobNotFound({ id })
      if (row.id !== null) return { ...toRecord({ ...row, id: row.id }), payload: payload ?? null }
    }
    return yield* new StoreError({
      operation: "triggerNow",
      reason: "Contention",
      retryable: true,
      cause: new Error(`no free fire time for a manual run of ${id}`)
    })
  })

  const claimer = Claimer.make(sql, t)
  const claim: JobStore["Service"]["claim"] = Effect.fn("PgJobStore.claim")((request) =>
    call("claim", inTransaction("claim", claimer(request)))
  )

  const nextWake = Effect.fn("PgJobStore.nextWake")((tasks: ReadonlyArray<string>, aheadMs?: number, share?: Share) =>
    call("nextWake", Effect.map(Runs.nextWake(sql, t, tasks, aheadMs ?? 0, share).unprepared, ([row]) => Option.map(Option.fromNullishOr(row?.wake), Tables.ms)))
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
        startedAt: outcome.startedAt !== undefined && Number.isSafeInteger(Math.floor(outcome.startedAt))
          ? Math.floor(outcome.startedAt)
          : null,
        note: outcome.note
      })
    })
    if (input.length === 0) return outcomes.map(() => false)
    const accepted = new Set((yield* call("finish", Runs.finish(sql, t, input).unprepared)).map((row) => row.ord))
    return outcomes.map((_, ord) => accepted.has(ord))
  })

  const renew = Effect.fn("PgJobStore.renew")(function*(node: string, leases: ReadonlyArray<{ readonly id: string; readonly token: string }>, leaseMs: number) {
    const valid = leases.filter((lease) => runId.test(lease.id))
    const rows = valid.length === 0 ? [] : yield* call("renew", Runs.renew(sql, t, node, valid, leaseMs).unprepared)
    const renewed = new Set(rows.map((row) => row.id))
    return {
      lost: leases.filter((lease) => !renewed.has(lease.id)).map((lease) => lease.id),
      cancel: rows.filter((row) => row.cancel).map((row) => row.id)
    }
  })

  const { adopt, release } = HandBack.make(sql, t, call)

  const reap = call("reap", Effect.map(Runs.reap(sql, t, 10_000), (rows) => rows.map(toRecord))).pipe(
    Effect.withSpan("PgJobStore.reap")
  )

  // History, job pages, runs, cancel, counts and nodes (see operator.ts).
  const operator = Operator.make(sql, t, call)

  const prune: JobStore["Service"]["prune"] = Effect.fn("PgJobStore.prune")((retention) =>
    retention.maxAgeMs === undefined && retention.maxPerJob === undefined
      ? Effect.succeed(0)
      : call(
        "prune",
        Effect.map(
          Runs.prune(sql, t, { maxAgeMs: retention.maxAgeMs ?? null, maxPerJob: retention.maxPerJob ?? null }),
          ([row]) => Tables.ms(row?.deleted ?? 0)
        )
      )
  )

  // LISTEN on a connection of its own, checked by a probe (see listener.ts).
  const cancels = yield* PubSub.sliding<string>(1_024)
  const listener = Listener.make(sql, {
    cancelled: (id) => Effect.asVoid(PubSub.publish(cancels, id)),
    channel: t.channel,
    probeTimeoutMs: limits.probeTimeoutMs,
    probeIntervalMs: limits.probeIntervalMs,
    listenMs: deadline("listen"),
    notify: (payload) => Effect.asVoid(call("probe", Jobs.notify(sql, t, payload))),
    pooled: options.pooler === "transaction"
  })
  const changes = listener.changes

  // Building the store asks nothing of the database: a process started while
  // it is down exists at once, and its first operation fails with a
  // retryable StoreError that the scheduler reports and retries.
  // The migrations run before the first operation that succeeds in reaching it.
  const store = yield* Startup.lazy({
    now: Effect.withSpan(call("now", dbNow), "PgJobStore.now"),
    register,
    add,
    addMany,
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
    adopt,
    release,
    reap,
    prune,
    ...operator,
    changes,
    cancelRequests: Stream.fromPubSub(cancels)
  }, {
    migrate: mode === "existing" ? Effect.void : call("migrate", migrate(sql, t, Deadline.guardsFor(deadline("migrate"), idleMs))),
    target: Startup.target(sql.config)
  })
  return JobStore.of({ ...store, notifications: listener.status })
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

export { StoreNotMigrated } from "./internal/pg/existing.ts"

/**
 * The store of `layer` on a schema that must already hold it, migrated:
 * it never creates or alters anything. Building it asks the database once
 * (within the `now` deadline) and fails with `StoreNotMigrated` when the
 * schema holds no store or lacks a migration, or with a `StoreError` when
 * the database cannot be reached. For tools that only look or act on
 * existing jobs (the CLI), so that a misspelled schema is an error, not a
 * new empty store.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { PgJobStore } from "steadfast"
 *
 * export const StoreLive = PgJobStore.layerExisting({ schema: "steadfast" }).pipe(
 *   Layer.provide(PgJobStore.layerClient({ url: Redacted.make("postgres://localhost/app") }))
 * )
 * ```
 *
 * @since 0.4.0
 */
export const layerExisting = (
  options: Options = {}
): Layer.Layer<JobStore, StoreError | Existing.StoreNotMigrated, PgClient.PgClient> =>
  Layer.effect(JobStore, Effect.flatMap(make(options, "existing"), (store) => Effect.as(Existing.check(options), store)))

export { type ClientOptions, clientConfig, layerClient } from "./internal/pg/client.ts"
