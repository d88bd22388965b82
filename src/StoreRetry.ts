/**
 * What a store failure means, and how long to keep trying.
 *
 * `classify` turns any failure of a SQL store (an `SqlError` from
 * `effect/sql`, a socket error, anything else) into a `StoreError` that says
 * whether retrying can help. `policy` builds the retry `Schedule`: capped
 * exponential backoff with jitter that continues only while the error is
 * retryable. `default` is the schedule the runtime uses; it is a plain value,
 * so a user can replace it and a test can step through it. `retrying` wraps a
 * whole store so every operation is retried under a schedule.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Random from "effect/Random"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SqlError from "effect/sql/SqlError"
import type { JobExists, JobNotFound, JobStore } from "./JobStore.ts"
import { isRetryable, StoreError } from "./StoreError.ts"

/**
 * SQLSTATEs that `@effect/sql-pg` reports as `UnknownError` (or not at all)
 * but that are transient: the same statement can succeed once the server,
 * the network or the competing transaction is gone.
 *
 * - `57P01` admin_shutdown (`pg_terminate_backend`, server stopping),
 *   `57P02` crash_shutdown, `57P03` cannot_connect_now (starting up or
 *   recovering), `57P05` idle_session_timeout;
 * - `25P03` idle_in_transaction_session_timeout;
 * - `53300` too_many_connections;
 * - `40001` serialization_failure, `40P01` deadlock_detected;
 * - `55P03` lock_not_available, `57014` query_canceled (statement timeout);
 * - `26000` invalid_sql_statement_name (a prepared statement the server
 *   connection does not have: a transaction pooler moved the client to
 *   another one) and `25P02` in_failed_sql_transaction (the statements after
 *   such a failure in the same transaction): the store rolls the transaction
 *   back, and a new one can succeed;
 * - the whole class `08` (connection exception), see `transientSqlStateClasses`.
 *
 * @example
 * ```ts
 * import { StoreRetry } from "steadfast"
 *
 * StoreRetry.transientSqlStates.has("57P01") // true
 * ```
 *
 * @since 0.1.0
 */
export const transientSqlStates: ReadonlySet<string> = new Set([
  "57P01",
  "57P02",
  "57P03",
  "57P05",
  "25P03",
  "53300",
  "40001",
  "40P01",
  "55P03",
  "57014",
  "26000",
  "25P02"
])

/**
 * SQLSTATE classes (first two characters) that are transient as a whole.
 *
 * @example
 * ```ts
 * import { StoreRetry } from "steadfast"
 *
 * StoreRetry.transientSqlStateClasses.has("08") // true: 08006 connection_failure and friends
 * ```
 *
 * @since 0.1.0
 */
export const transientSqlStateClasses: ReadonlySet<string> = new Set(["08"])

/**
 * Node.js socket and DNS error codes that mean "the server could not be
 * reached or the connection broke": transient.
 *
 * @example
 * ```ts
 * import { StoreRetry } from "steadfast"
 *
 * StoreRetry.transientSocketCodes.has("ECONNREFUSED") // true
 * ```
 *
 * @since 0.1.0
 */
export const transientSocketCodes: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN"
])

const codeOf = (u: unknown, depth = 0): string | undefined => {
  if (depth > 3 || !Predicate.hasProperty(u, "code")) {
    return depth <= 3 && Predicate.hasProperty(u, "cause") ? codeOf(u.cause, depth + 1) : undefined
  }
  return typeof u.code === "string" ? u.code : undefined
}

/**
 * The SQLSTATE or socket error code under a failure, if any. The PostgreSQL
 * driver keeps the server's error fields (`code`, `constraint`, ...) on the
 * `cause` of the `SqlError`'s reason; socket errors keep Node's `code`.
 *
 * @example
 * ```ts
 * import { SqlError } from "effect/sql"
 * import { StoreRetry } from "steadfast"
 *
 * const cause = Object.assign(new Error("terminating connection"), { code: "57P01" })
 * const error = new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause }) })
 * StoreRetry.errorCode(error) // "57P01"
 * ```
 *
 * @since 0.1.0
 */
export const errorCode = (u: unknown): string | undefined =>
  SqlError.isSqlError(u) ? codeOf(u.reason.cause) : codeOf(u)

/**
 * Whether a code (SQLSTATE or socket code) is one of the transient ones.
 *
 * @example
 * ```ts
 * import { StoreRetry } from "steadfast"
 *
 * StoreRetry.isTransientCode("08006") // true
 * StoreRetry.isTransientCode("23505") // false: a unique violation stays one
 * ```
 *
 * @since 0.1.0
 */
export const isTransientCode = (code: string): boolean =>
  transientSqlStates.has(code) || transientSocketCodes.has(code) ||
  (code.length === 5 && transientSqlStateClasses.has(code.slice(0, 2)))

/**
 * Classifies any failure of a store operation.
 *
 * `reason` is the `SqlError` reason tag, followed by the SQLSTATE or socket
 * code when there is one (`"UnknownError 57P01"`, `"ConnectionError
 * ECONNREFUSED"`, `"UniqueViolation 23505"`); for other failures it is their
 * `_tag` (or `"Defect"`). `retryable` is the reason's `isRetryable` or a
 * transient code (see `transientSqlStates`). A `StoreError` is returned as is.
 *
 * @example
 * ```ts
 * import { SqlError } from "effect/sql"
 * import { StoreRetry } from "steadfast"
 *
 * const cause = Object.assign(new Error("the database system is starting up"), { code: "57P03" })
 * const error = StoreRetry.classify("claim", new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause }) }))
 * error.retryable // true
 * error.reason // "UnknownError 57P03"
 * ```
 *
 * @since 0.1.0
 */
export const classify = (operation: string, cause: unknown): StoreError => {
  if (cause instanceof StoreError) return cause
  const code = errorCode(cause)
  if (SqlError.isSqlError(cause)) {
    const tag = cause.reason._tag
    return new StoreError({
      operation,
      reason: code === undefined ? tag : `${tag} ${code}`,
      retryable: cause.reason.isRetryable || (code !== undefined && isTransientCode(code)),
      cause
    })
  }
  const tag = Predicate.hasProperty(cause, "_tag") && typeof cause._tag === "string" ? cause._tag : "Defect"
  return new StoreError({
    operation,
    reason: code === undefined ? tag : `${tag} ${code}`,
    retryable: code !== undefined && isTransientCode(code),
    cause
  })
}

/**
 * Options of `policy`.
 *
 * @since 0.1.0
 */
export interface PolicyOptions {
  /** First delay. Default 10 ms. */
  readonly base?: Duration.Input | undefined
  /** Largest delay before jitter. Default 80 ms. */
  readonly cap?: Duration.Input | undefined
  /** Growth per retry. Default 2. */
  readonly factor?: number | undefined
  /**
   * Relative jitter: each delay is multiplied by a random factor in
   * `[1 - jitter, 1 + jitter]`. Default 0.2; 0 turns jitter off.
   */
  readonly jitter?: number | undefined
  /**
   * Stop once this much time has passed since the first failure (checked at
   * each failure). Default 30 seconds; `"Infinity"` never stops on time.
   */
  readonly maxElapsed?: Duration.Input | undefined
  /** Stop after this many retries. Default: no limit on the count. */
  readonly times?: number | undefined
  /** Which failures are worth retrying. Default `StoreError.isRetryable`. */
  readonly retryable?: ((error: unknown) => boolean) | undefined
}

/**
 * Builds a retry schedule: delays `min(cap, base * factor^n)` for the n-th
 * retry (from 0), each jittered within `[1 - jitter, 1 + jitter]`, continuing
 * only while the failure is retryable and within `maxElapsed` / `times`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { StoreRetry } from "steadfast"
 *
 * const patient = StoreRetry.policy({ base: "50 millis", cap: "2 seconds", maxElapsed: "5 minutes" })
 * const program = (operation: Effect.Effect<void, unknown>) => Effect.retry(operation, patient)
 * ```
 *
 * @since 0.1.0
 */
export const policy = (options: PolicyOptions = {}): Schedule.Schedule<Duration.Duration, unknown> => {
  const base = Duration.toMillis(Duration.fromInputUnsafe(options.base ?? 10))
  const cap = Duration.toMillis(Duration.fromInputUnsafe(options.cap ?? 80))
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.2))
  const maxElapsed = Duration.fromInputUnsafe(options.maxElapsed ?? "30 seconds")
  const retryable = options.retryable ?? isRetryable
  const capped = Schedule.exponential(base, options.factor ?? 2).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.millis(Math.min(cap, Duration.toMillis(duration)))))
  )
  const jittered = jitter === 0 ? capped : capped.pipe(
    Schedule.modifyDelay(({ duration }) =>
      Effect.map(Random.next, (r) => Duration.millis(Duration.toMillis(duration) * (1 - jitter + 2 * jitter * r)))
    )
  )
  return jittered.pipe(
    Schedule.while(({ input }) => retryable(input)),
    Schedule.upTo(
      Duration.isFinite(maxElapsed)
        ? { duration: maxElapsed, times: options.times }
        : { times: options.times }
    )
  )
}

/**
 * The runtime's retry schedule for store operations: 10 ms doubling to an
 * 80 ms cap, ±20 % jitter, for up to 30 seconds of retrying. A refused
 * connection is cheap to retry, and a loop runs again within 0.1 s of the
 * database coming back; after 30 s the failure reaches the loop's supervisor,
 * which restarts the loop.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { JobStore, StoreRetry } from "steadfast"
 *
 * const now = Effect.gen(function*() {
 *   const store = yield* JobStore.JobStore
 *   return yield* Effect.retry(store.now, StoreRetry.default)
 * })
 * ```
 *
 * @since 0.1.0
 */
export const defaultSchedule: Schedule.Schedule<Duration.Duration, unknown> = policy()

export {
  /**
   * `StoreRetry.default`: the same value as `defaultSchedule`.
   *
   * @since 0.1.0
   */
  defaultSchedule as default
}

/**
 * Wraps a store so that every operation is retried under `schedule`
 * (`StoreRetry.default` unless given); the `changes` stream is re-subscribed
 * under it too. Domain errors (`JobNotFound`, `JobExists`) and non-retryable
 * `StoreError`s are not retried by the policies of this module.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { JobStore, StoreRetry } from "steadfast"
 *
 * const program = Effect.gen(function*() {
 *   const store = StoreRetry.retrying(yield* JobStore.JobStore)
 *   return yield* store.list
 * })
 * ```
 *
 * @since 0.1.0
 */
export const retrying = (
  store: JobStore["Service"],
  schedule: Schedule.Schedule<unknown, StoreError | JobNotFound | JobExists> = defaultSchedule
): JobStore["Service"] => {
  const retry = <A, E extends StoreError | JobNotFound | JobExists>(
    effect: Effect.Effect<A, E>
  ): Effect.Effect<A, E> => Effect.retry(effect, schedule)
  return {
    now: retry(store.now),
    register: (jobs, options) => retry(store.register(jobs, options)),
    add: (job) => retry(store.add(job)),
    addMany: (jobs) => retry(store.addMany(jobs)),
    update: (job) => retry(store.update(job)),
    setPaused: (id, paused) => retry(store.setPaused(id, paused)),
    remove: (id) => retry(store.remove(id)),
    get: (id) => retry(store.get(id)),
    list: retry(store.list),
    triggerNow: (id, payload) => retry(store.triggerNow(id, payload)),
    claim: (request) => retry(store.claim(request)),
    nextWake: (tasks, aheadMs, share) => retry(store.nextWake(tasks, aheadMs, share)),
    finish: (outcomes) => retry(store.finish(outcomes)),
    renew: (node, leases, leaseMs) => retry(store.renew(node, leases, leaseMs)),
    adopt: (node, tokens, leaseMs) => retry(store.adopt(node, tokens, leaseMs)),
    release: (node, leases) => retry(store.release(node, leases)),
    reap: retry(store.reap),
    history: (query) => retry(store.history(query)),
    prune: (retention) => retry(store.prune(retention)),
    historyPage: (query) => retry(store.historyPage(query)),
    listJobs: (query) => retry(store.listJobs(query)),
    getRun: (id) => retry(store.getRun(id)),
    // Its domain errors pass by the schedule (typed for the older ones): only a StoreError is retried.
    cancel: (id) =>
      Effect.flatMap(
        retry(Effect.catch(Effect.map(store.cancel(id), Result.succeed), (error) =>
          error instanceof StoreError ? Effect.fail(error) : Effect.succeed(Result.fail(error)))),
        Effect.fromResult
      ),
    stateCounts: (jobId, sinceMs) => retry(store.stateCounts(jobId, sinceMs)),
    heartbeat: (info) => retry(store.heartbeat(info)),
    nodes: (staleAfterMs) => retry(store.nodes(staleAfterMs)),
    leave: (node, instance) => retry(store.leave(node, instance)),
    changes: Stream.retry(store.changes, schedule),
    notifications: store.notifications,
    cancelRequests: store.cancelRequests === undefined ? undefined : Stream.retry(store.cancelRequests, schedule)
  }
}
