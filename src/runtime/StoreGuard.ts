/**
 * Every store call the runtime makes goes through a guard: retryable
 * `StoreError`s are retried under the scheduler's `storeRetry` schedule, and
 * the health view's store status follows what the calls see (the first
 * failure of an outage reports `store-unavailable` once, the first success
 * after it reports recovery). Domain errors (`JobNotFound`, ...) pass through
 * untouched, and are never retried. How long one call may take is the
 * store's deadline (see `PgJobStore.Options.deadlines`). A guard given
 * `callTimeoutMs` bounds each attempt itself, for stores without deadlines
 * of their own: an attempt with no answer by then fails as a retryable
 * `"Deadline"` `StoreError` and is abandoned (interrupted in the
 * background). The scheduler gives one to the calls of its user and
 * operators; its loops' calls are left to the watchdog.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Schedule from "effect/Schedule"
import { StoreError } from "../StoreError.ts"
import type * as Supervisor from "../Supervisor.ts"
import * as Bounded from "./Bounded.ts"
import * as Telemetry from "./Telemetry.ts"

/**
 * A guard: wraps one store call, named by its operation.
 *
 * @since 0.2.0
 */
export type StoreGuard = <A, E>(operation: string, effect: Effect.Effect<A, E | StoreError>) => Effect.Effect<A, E | StoreError>

/**
 * Creates the guard of one scheduler instance.
 *
 *
 * @since 0.2.0
 */
export const make = (options: {
  readonly supervisor: Supervisor.Supervisor
  readonly retry: Schedule.Schedule<unknown, StoreError>
  /**
   * Whether what the calls see is the store's health. `false` for operator
   * reads (history, job pages, counts): a query that times out because it
   * is slow says nothing of the store's availability, and the runtime's own
   * calls, made all the time, tell it anyway. Default true.
   */
  readonly health?: boolean | undefined
  /** The bound on one attempt (`Scheduler.Options.storeCallTimeout`). Default: none. */
  readonly callTimeoutMs?: number | undefined
}): StoreGuard => {
  const health = options.health !== false
  const callMs = options.callTimeoutMs ?? Infinity
  return <A, E>(operation: string, effect: Effect.Effect<A, E | StoreError>): Effect.Effect<A, E | StoreError> =>
    bounded(operation, effect, callMs).pipe(
      Effect.map((value) => Result.succeed(value)),
      Effect.catch((error) => error instanceof StoreError ? Effect.fail(error) : Effect.succeed(Result.fail(error))),
      Effect.tapError((error) =>
        Effect.andThen(
          Telemetry.storeFailed(operation, error),
          health && error.retryable ? options.supervisor.storeFailed(operation, error) : Effect.void
        )
      ),
      Effect.retry(options.retry),
      Effect.tap(() => health ? options.supervisor.storeSucceeded : Effect.void),
      Effect.flatMap((result) => Result.isSuccess(result) ? Effect.succeed(result.success) : Effect.fail(result.failure))
    )
}

// One attempt, waited for at most `ms`.
const bounded = <A, E>(operation: string, effect: Effect.Effect<A, E>, ms: number): Effect.Effect<A, E | StoreError> =>
  ms === Infinity ? effect : Effect.flatMap(
    Bounded.within(effect, ms),
    Option.match({
      onNone: (): Effect.Effect<A, E | StoreError> =>
        Effect.fail(
          new StoreError({
            operation,
            reason: "Deadline",
            retryable: true,
            cause: new Error(`no answer from the store within ${ms} ms (storeCallTimeout); the call is abandoned`)
          })
        ),
      onSome: (exit) => exit
    })
  )
