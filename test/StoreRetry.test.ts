import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Option, Schema } from "effect"
import { SqlError } from "effect/sql"
import { TestClock } from "effect/testing"
import { JobNotFound, type JobStore } from "../src/JobStore.ts"
import * as MemoryJobStore from "../src/MemoryJobStore.ts"
import { StoreError } from "../src/StoreError.ts"
import * as StoreRetry from "../src/StoreRetry.ts"

const withCode = (code: string) => Object.assign(new Error(`failure ${code}`), { code })

/** Builds the `SqlError` the PostgreSQL driver produces for each kind of fault. */
const sqlError = (fault: Fault): SqlError.SqlError => {
  const cause = new Error(fault)
  switch (fault) {
    case "ConnectionError":
      return new SqlError.SqlError({ reason: new SqlError.ConnectionError({ cause }) })
    case "DeadlockError":
      return new SqlError.SqlError({ reason: new SqlError.DeadlockError({ cause: withCode("40P01") }) })
    case "SerializationError":
      return new SqlError.SqlError({ reason: new SqlError.SerializationError({ cause: withCode("40001") }) })
    case "LockTimeoutError":
      return new SqlError.SqlError({ reason: new SqlError.LockTimeoutError({ cause: withCode("55P03") }) })
    case "StatementTimeoutError":
      return new SqlError.SqlError({ reason: new SqlError.StatementTimeoutError({ cause: withCode("57014") }) })
    case "SqlSyntaxError":
      return new SqlError.SqlError({ reason: new SqlError.SqlSyntaxError({ cause: withCode("42601") }) })
    case "UniqueViolation":
      return new SqlError.SqlError({ reason: new SqlError.UniqueViolation({ cause: withCode("23505"), constraint: "k" }) })
    case "AuthenticationError":
      return new SqlError.SqlError({ reason: new SqlError.AuthenticationError({ cause: withCode("28P01") }) })
    default:
      return new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause: withCode(fault) }) })
  }
}

const retryableFaults = [
  "ConnectionError",
  "DeadlockError",
  "SerializationError",
  "LockTimeoutError",
  "StatementTimeoutError",
  "57P01",
  "57P02",
  "57P03",
  "57P05",
  "08000",
  "08003",
  "08006",
  "08P01",
  "25P03",
  "53300",
  "40001",
  "40P01",
  "55P03",
  "57014",
  // Behind a transaction pooler: a prepared statement missing on the server
  // connection, then the rest of that aborted transaction.
  "26000",
  "25P02",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT"
] as const
const fatalFaults = ["SqlSyntaxError", "UniqueViolation", "AuthenticationError", "22P02", "42P01", "23502", "XX000"] as const
type Fault = typeof retryableFaults[number] | typeof fatalFaults[number]
const retryableSet: ReadonlySet<string> = new Set(retryableFaults)
const isRetryableFault = (fault: Fault): boolean => retryableSet.has(fault)

describe("StoreRetry.classify", () => {
  it.effect.each([...retryableFaults, ...fatalFaults])("%s", (fault) =>
    Effect.sync(() => {
      const error = StoreRetry.classify("claim", sqlError(fault))
      assert.strictEqual(error.operation, "claim")
      assert.strictEqual(error.retryable, isRetryableFault(fault), `${fault} retryable`)
      assert.isTrue(error.reason.includes(sqlError(fault).reason._tag))
      if (/^[0-9A-Z]{5}$/.test(fault) || fault.startsWith("E")) assert.isTrue(error.reason.endsWith(fault), error.reason)
    }))

  it("documents the UnknownError SQLSTATEs as transient", () => {
    for (const code of StoreRetry.transientSqlStates) {
      const error = StoreRetry.classify("op", new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause: withCode(code) }) }))
      assert.isTrue(error.retryable, code)
      assert.strictEqual(error.reason, `UnknownError ${code}`)
    }
  })

  it("classifies socket errors and other failures", () => {
    assert.isTrue(StoreRetry.classify("op", withCode("ECONNREFUSED")).retryable)
    assert.isFalse(StoreRetry.classify("op", new Error("boom")).retryable)
    assert.strictEqual(StoreRetry.classify("op", new Error("boom")).reason, "Defect")
    const existing = new StoreError({ operation: "x", reason: "y", retryable: true, cause: null })
    assert.strictEqual(StoreRetry.classify("op", existing), existing)
  })
})

const Faults = Schema.Array(Schema.Literals([...retryableFaults, ...fatalFaults])).check(Schema.isMaxLength(14))

interface Run {
  readonly attempts: ReadonlyArray<number>
  readonly exit: Exit.Exit<string, StoreError>
}

/** Fails with `faults[i]` at attempt i, succeeds once they are used up; retried under `schedule` on TestClock. */
const runFaults = (faults: ReadonlyArray<Fault>, schedule: typeof StoreRetry.defaultSchedule) =>
  Effect.gen(function*() {
    const attempts: Array<number> = []
    const operation = Effect.gen(function*() {
      attempts.push(yield* Clock.currentTimeMillis)
      const fault = faults[attempts.length - 1]
      if (fault !== undefined) return yield* Effect.fail(StoreRetry.classify("op", sqlError(fault)))
      return "ok"
    })
    const fiber = yield* Effect.forkChild(Effect.exit(Effect.retry(operation, schedule)))
    yield* TestClock.adjust("1 hour")
    const exit = yield* Fiber.join(fiber)
    return { attempts, exit } satisfies Run
  })

const nominal = (base: number, cap: number, retry: number) => Math.min(cap, base * 2 ** (retry - 1))

describe("StoreRetry.policy", () => {
  it.effect.prop(
    "retries exactly the retryable faults, within [base, cap] ± jitter, gives up only as configured",
    {
      faults: Faults,
      base: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 40 })),
      extra: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 200 })),
      jitterPercent: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 50 })),
      times: Schema.UndefinedOr(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 10 }))),
      maxElapsed: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 600 }))
    },
    ({ faults, base, extra, jitterPercent, times, maxElapsed }) =>
      Effect.gen(function*() {
        const cap = base + extra
        const jitter = jitterPercent / 100
        const { attempts, exit } = yield* runFaults(
          faults,
          StoreRetry.policy({ base, cap, jitter, times, maxElapsed })
        )
        const retries = attempts.length - 1
        // Each delay is the capped exponential one, jittered within bounds.
        for (let i = 1; i < attempts.length; i++) {
          const delay = attempts[i]! - attempts[i - 1]!
          const expected = nominal(base, cap, i)
          assert.isAtLeast(delay, Math.floor(expected * (1 - jitter)) - 1, `delay ${i}`)
          assert.isAtMost(delay, Math.ceil(expected * (1 + jitter)) + 1, `delay ${i}`)
          assert.isAtLeast(delay, Math.floor(base * (1 - jitter)) - 1)
          assert.isAtMost(delay, Math.ceil(cap * (1 + jitter)) + 1)
        }
        // Only retryable faults were retried.
        for (let i = 0; i < retries; i++) assert.isTrue(isRetryableFault(faults[i]!), `retried ${faults[i]}`)
        if (Exit.isSuccess(exit)) {
          // It succeeds as soon as the faults clear: one attempt more than there were faults.
          assert.strictEqual(retries, faults.length)
          return
        }
        const last = faults[retries]!
        const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
        assert.isDefined(error)
        const elapsed = attempts[retries]! - attempts[0]!
        if (isRetryableFault(last)) {
          // A retryable fault was given up on: only because a limit was reached.
          assert.isTrue((times !== undefined && retries >= times) || elapsed > maxElapsed, `gave up on ${last}`)
        }
        // And a limit never stopped it early.
        if (times !== undefined) assert.isAtMost(retries, times)
        for (let i = 1; i <= retries; i++) assert.isAtMost(attempts[i - 1]! - attempts[0]!, maxElapsed)
      }),
    { timeout: 30_000, arbitrary: { runs: 300 } }
  )

  it.effect("StoreRetry.default: 10 ms doubling to 80 ms, ±20 %, then gives up after 30 s of retrying", () =>
    Effect.gen(function*() {
      const faults = Array.from({ length: 1_000 }, (): Fault => "57P01")
      const { attempts, exit } = yield* runFaults(faults, StoreRetry.default)
      assert.isTrue(Exit.isFailure(exit))
      const delays = attempts.slice(1).map((t, i) => t - attempts[i]!)
      const bounds = [10, 20, 40, 80, 80, 80]
      bounds.forEach((b, i) => {
        assert.isAtLeast(delays[i]!, b * 0.8 - 1)
        assert.isAtMost(delays[i]!, b * 1.2 + 1)
      })
      assert.isTrue(delays.every((d) => d <= 96 + 1), "every delay under 0.1 s")
      const elapsed = attempts[attempts.length - 1]! - attempts[0]!
      assert.isAbove(elapsed, 30_000)
      assert.isBelow(elapsed, 30_000 + 100)
    }))

  it.effect("a fatal fault is never retried", () =>
    Effect.gen(function*() {
      const { attempts, exit } = yield* runFaults(["UniqueViolation"], StoreRetry.default)
      assert.strictEqual(attempts.length, 1)
      assert.isTrue(Exit.isFailure(exit))
    }))
})

describe("StoreRetry.retrying", () => {
  it.effect("retries every operation of a store under the schedule, not its domain errors", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryJobStore.make
      let calls = 0
      const flaky: JobStore["Service"] = {
        ...memory,
        now: Effect.suspend(() =>
          ++calls <= 3 ? Effect.fail(StoreRetry.classify("now", sqlError("57P01"))) : memory.now
        ),
        get: (id) => Effect.suspend(() => (++calls, memory.get(id)))
      }
      const store = StoreRetry.retrying(flaky)
      const fiber = yield* Effect.forkChild(store.now)
      yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
      assert.strictEqual(calls, 4)
      calls = 0
      assert.isTrue(Option.isNone(yield* store.get("missing")))
      assert.strictEqual(calls, 1)
      const missing = yield* Effect.flip(store.setPaused("missing", true))
      assert.instanceOf(missing, JobNotFound)
    }))
})
