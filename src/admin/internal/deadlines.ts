/**
 * How long the admin API and the dashboard wait for the store. The store
 * guard retries an unreachable database for half a minute, and a store of
 * the user's own may not bound its calls at all: a request must hear sooner
 * that the store does not answer.
 *
 * - A read answers within 8 s, or 503 (`StoreUnavailable`).
 * - A change answers within `WriteDeadline` (15 s), or 503 saying that the
 *   change may have been made or not: it may have been committed just
 *   before the answer was given up on.
 * - A bulk pause or resume works for `BulkDeadline` (10 s), then says where
 *   it stopped (`BulkResult.next`).
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as AdminSchema from "../AdminSchema.ts"

const readDeadlineMs = 8_000

/**
 * How long a change waits for the store, ms.
 *
 * @internal
 */
export const WriteDeadline = Context.Reference<number>("steadfast/admin/WriteDeadline", { defaultValue: () => 15_000 })

/**
 * How long a bulk pause or resume works before it answers with where it
 * stopped (`BulkResult.next`), ms.
 *
 * @internal
 */
export const BulkDeadline = Context.Reference<number>("steadfast/admin/BulkDeadline", { defaultValue: () => 10_000 })

const deadline = (operation: string, ms: number, message: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutOrElse(effect, {
    duration: ms,
    orElse: () => Effect.fail(new AdminSchema.StoreUnavailable({ operation, reason: "Deadline", retryable: true, message }))
  })

/**
 * A read for the API answers within 8 s, or 503 (`StoreUnavailable`).
 *
 * @internal
 */
export const within = (operation: string) =>
  deadline(operation, readDeadlineMs, `the store did not answer within ${readDeadlineMs} ms`)

/**
 * What a change past its deadline says, in the API and on the dashboard.
 *
 * @internal
 */
export const changeLate = (ms: number) =>
  `the store did not answer within ${ms} ms: the change may have been made or not; read it back before asking again`

/**
 * A change answers within `ms`, or 503 (`StoreUnavailable`) saying that it
 * may have been made.
 *
 * @internal
 */
export const changeWithin = (operation: string, ms: number) => deadline(operation, ms, changeLate(ms))
