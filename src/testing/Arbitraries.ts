/**
 * Generators for property tests of jobs and of the scheduler under faults:
 * store errors as the PostgreSQL store produces them, failure plans, and
 * valid triggers. They are Effect `Arbitrary` values, so they plug straight
 * into `@effect/vitest`'s `it.effect.prop`.
 *
 * @since 0.1.0
 */
import * as Arbitrary from "effect/Arbitrary"
import * as Schema from "effect/Schema"
import * as SqlError from "effect/sql/SqlError"
import type { StoreError } from "../StoreError.ts"
import { classify } from "../StoreRetry.ts"
import * as Trigger from "../Trigger.ts"
import type * as FaultyJobStore from "./FaultyJobStore.ts"

const int = (minimum: number, maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))

const oneOf = <const A extends ReadonlyArray<unknown>>(values: A): Arbitrary.Arbitrary<A[number]> =>
  Arbitrary.map(int(0, values.length - 1), (i) => values[i])

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code })

/**
 * The store errors the PostgreSQL store produces, each built the way it
 * builds them (a driver `SqlError` classified by `StoreRetry.classify`).
 *
 * @since 0.1.0
 */
export const knownErrors = {
  retryable: [
    () => classify("claim", new SqlError.SqlError({ reason: new SqlError.ConnectionError({ cause: withCode("connect ECONNREFUSED", "ECONNREFUSED") }) })),
    () => classify("claim", new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause: withCode("terminating connection due to administrator command", "57P01") }) })),
    () => classify("claim", new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause: withCode("the database system is starting up", "57P03") }) })),
    () => classify("claim", new SqlError.SqlError({ reason: new SqlError.DeadlockError({ cause: withCode("deadlock detected", "40P01") }) })),
    () => classify("claim", new SqlError.SqlError({ reason: new SqlError.SerializationError({ cause: withCode("could not serialize access", "40001") }) })),
    () => classify("claim", new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause: withCode("too many connections", "53300") }) })),
    () => classify("claim", new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause: withCode("connection failure", "08006") }) }))
  ],
  fatal: [
    () => classify("claim", new SqlError.SqlError({ reason: new SqlError.SqlSyntaxError({ cause: withCode("syntax error", "42601") }) })),
    () => classify("claim", new SqlError.SqlError({ reason: new SqlError.ConstraintError({ cause: withCode("check constraint violated", "23514") }) })),
    () => classify("claim", new SqlError.SqlError({ reason: new SqlError.AuthenticationError({ cause: withCode("password authentication failed", "28P01") }) }))
  ]
} as const

/**
 * A retryable store error (connection lost, server restarting, deadlock, ...).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { it } from "@effect/vitest"
 * import { Arbitraries } from "steadfast/testing"
 *
 * it.effect.prop("retryable errors are retryable", [Arbitraries.retryableError], ([error]) =>
 *   Effect.sync(() => error.retryable))
 * ```
 *
 * @since 0.1.0
 */
export const retryableError: Arbitrary.Arbitrary<StoreError> = Arbitrary.map(
  oneOf(knownErrors.retryable),
  (make) => make()
)

/**
 * A fatal store error (syntax, constraint, authentication).
 *
 * @since 0.1.0
 */
export const fatalError: Arbitrary.Arbitrary<StoreError> = Arbitrary.map(oneOf(knownErrors.fatal), (make) => make())

/**
 * Any store error, retryable or fatal.
 *
 * @since 0.1.0
 */
export const storeError: Arbitrary.Arbitrary<StoreError> = Arbitrary.flatMap(
  Arbitrary.schema(Schema.Boolean),
  (retryable) => retryable ? retryableError : fatalError
)

/**
 * Operations the scheduler's loops call on every cycle: the ones a failure
 * plan usually targets.
 *
 * @since 0.1.0
 */
export const loopOperations: ReadonlyArray<FaultyJobStore.Operation> = [
  "claim",
  "nextWake",
  "finish",
  "renew",
  "reap",
  "now"
]

/**
 * A failure plan as data: outages (every call of the listed operations fails
 * with a retryable error while the store clock is in `[from, until)`) and
 * single failures (the `call`-th call of an operation, before or after it
 * takes effect). `FaultyJobStore.fromPlan` turns it into a `Plan`.
 *
 * @since 0.1.0
 */
export interface FailurePlan {
  readonly outages: ReadonlyArray<{ readonly from: number; readonly until: number; readonly error: StoreError }>
  readonly single: ReadonlyArray<{
    readonly operation: FaultyJobStore.Operation
    readonly call: number
    readonly when: "before" | "after"
    readonly error: StoreError
  }>
}

/**
 * Failure plans within `[0, horizon)` of store time: up to `maxOutages`
 * outages of up to `maxOutage` ms each, and up to `maxSingle` single
 * retryable failures of the loop operations.
 *
 * @example
 * ```ts
 * import { Arbitraries } from "steadfast/testing"
 *
 * const plans = Arbitraries.failurePlan({ horizon: 60_000, maxOutage: 10_000 })
 * ```
 *
 * @since 0.1.0
 */
export const failurePlan = (options: {
  readonly horizon: number
  readonly maxOutages?: number | undefined
  readonly maxOutage?: number | undefined
  readonly maxSingle?: number | undefined
  readonly operations?: ReadonlyArray<FaultyJobStore.Operation> | undefined
}): Arbitrary.Arbitrary<FailurePlan> => {
  const operations = options.operations ?? loopOperations
  const outage = Arbitrary.map(
    Arbitrary.all([int(0, options.horizon - 1), int(1, options.maxOutage ?? 10_000), retryableError]),
    ([from, length, error]) => ({ from, until: Math.min(options.horizon, from + length), error })
  )
  const single = Arbitrary.map(
    Arbitrary.all([oneOf(operations), int(1, 50), oneOf(["before", "after"] as const), retryableError]),
    ([operation, call, when, error]) => ({ operation, call, when, error })
  )
  return Arbitrary.map(
    Arbitrary.all([
      Arbitrary.array(outage, { maxLength: options.maxOutages ?? 3 }),
      Arbitrary.array(single, { maxLength: options.maxSingle ?? 5 })
    ]),
    ([outages, singles]) => ({ outages, single: singles })
  )
}

/**
 * Valid triggers: intervals of 1 s to 1 h anchored anywhere, crons built from
 * safe fields (and `L`, `15W`, `FRIL`, `MON#1`, `?`, `H`) in a few real zones
 * with daylight saving of every kind, calendar intervals (days in a zone,
 * months, years) anchored anywhere, and one-off dates.
 *
 * @since 0.1.0
 */
export const trigger: Arbitrary.Arbitrary<Trigger.Trigger> = Arbitrary.flatMap(int(0, 3), (kind) => {
  switch (kind) {
    case 0:
      return Arbitrary.map(
        Arbitrary.all([int(1, 3_600), int(0, 86_400_000)]),
        ([seconds, anchor]) => Trigger.every(seconds * 1_000, { anchor })
      )
    case 1:
      return Arbitrary.map(
        Arbitrary.all([
          oneOf(["*", "*/5", "0", "15,45", "0-30/10", "H"]),
          oneOf(["*", "*/2", "3", "9-17", "0,12", "H(8-18)"]),
          oneOf(["*", "1", "1-15", "L", "15W", "?"]),
          oneOf(["*", "1-5", "0,6", "FRIL", "MON#1", "SAT-SUN"]),
          oneOf(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Santiago"])
        ]),
        ([minute, hour, day, weekday, timeZone]) =>
          Trigger.cron(`${minute} ${hour} ${day} * ${day === "?" ? "MON" : weekday}`, { timeZone, seed: "arbitrary" })
      )
    case 2:
      return Arbitrary.map(
        Arbitrary.all([
          oneOf(["1 day", "2 weeks", "1 month", "3 months", "1 year"] as const),
          int(-86_400_000 * 365, 86_400_000 * 365 * 40),
          oneOf(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
        ]),
        ([interval, anchor, timeZone]) => Trigger.every(interval, { anchor, timeZone })
      )
    default:
      return Arbitrary.map(int(0, 10 * 86_400_000), (at) => Trigger.once(at))
  }
})
