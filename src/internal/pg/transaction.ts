/**
 * The store's transactions: short, guarded on the server, and interruptible
 * at every statement.
 *
 * `SqlClient.withTransaction` runs `BEGIN`, `COMMIT` and `ROLLBACK`
 * uninterruptibly; on a connection that has gone silent (no RST: a dead link,
 * a NAT that forgot it, a failover) each of them waits for ever, and so does
 * whoever closes the scope around it. Here every statement, those three
 * included, is an ordinary statement on the reserved connection: interrupting
 * it cancels it, and `@effect/sql-pg` closes a session that does not confirm
 * the cancel within 5 seconds, so the pool never hands it out again.
 *
 * The first statement after `BEGIN` sets the transaction's server-side guards
 * with `set_config(..., true)` (`SET LOCAL`: it ends with the transaction, so
 * it works through a transaction pooler too): `statement_timeout`,
 * `lock_timeout` and `idle_in_transaction_session_timeout`. A client that goes
 * silent in the middle of a claim thus holds its row locks for a few seconds,
 * not until TCP gives up (hours).
 *
 * A transaction that fails (an aborted transaction, `25P02`, included) is
 * rolled back before its connection is released; a `ROLLBACK` that cannot
 * finish within `rollbackMs` is interrupted, which closes the session.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlConnection from "effect/sql/SqlConnection"
import { SqlError, UnknownError } from "effect/sql/SqlError"
import type { Guards } from "./deadline.ts"

// Also custom plans for the transaction's statements: a generic plan, cached
// once a statement ran five times, is planned with the statistics of that
// moment, and a table that grew since (a runs table filling during a drain,
// before autovacuum analyzes it) was then read whole by every claim.
const setGuards = "SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true), " +
  "set_config('idle_in_transaction_session_timeout', $3, true), set_config('plan_cache_mode', 'force_custom_plan', true)"

// PostgreSQL answers `COMMIT` with the tag `ROLLBACK` when the transaction
// was aborted: that is a failure, as `@effect/sql-pg`'s own commit says.
const commit = (conn: SqlConnection.Connection): Effect.Effect<void, SqlError> =>
  Effect.flatMap(conn.executeRaw("COMMIT", []), (result) =>
    Predicate.hasProperty(result, "command") && result.command === "ROLLBACK"
      ? Effect.fail(
        new SqlError({
          reason: new UnknownError({
            cause: new Error("COMMIT rolled back an aborted transaction"),
            message: "COMMIT rolled back an aborted transaction",
            operation: "commit"
          })
        })
      )
      : Effect.void)

/**
 * Runs `body` in a transaction on a connection of its own, with the guards
 * set. Statements of `body` written with `sql` run in it (the transaction is
 * provided as `sql.transactionService`, so a nested `withTransaction` becomes
 * a savepoint).
 *
 * @internal
 */
export const transaction = <A, E, R>(
  sql: SqlClient.SqlClient,
  guards: Guards,
  body: Effect.Effect<A, E, R>,
  rollbackMs = 5_000
): Effect.Effect<A, E | SqlError, R> =>
  Effect.scoped(Effect.gen(function*() {
    const conn = yield* sql.reserve
    // An interrupted or failed transaction is rolled back here, interruptibly
    // and within a bound (this runs as a finalizer, uninterruptible by
    // default): past it, interrupting the ROLLBACK closes the session. `BEGIN`
    // is inside: interrupted once the server had run it, it would otherwise
    // hand the pool a connection in an open transaction.
    const rollback = Effect.ignore(Effect.timeoutOption(
      Effect.interruptible(conn.executeUnprepared("ROLLBACK", [], undefined)),
      rollbackMs
    ))
    return yield* Effect.onError(
      Effect.gen(function*() {
        yield* conn.executeUnprepared("BEGIN", [], undefined)
        yield* conn.executeUnprepared(
          setGuards,
          [String(guards.statementMs), String(guards.lockMs), String(guards.idleMs)],
          undefined
        )
        const result = yield* Effect.provideService(body, sql.transactionService, [conn, 0])
        yield* commit(conn)
        return result
      }),
      () => rollback
    )
  }))
