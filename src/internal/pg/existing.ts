/**
 * A store that must already exist: the check that a schema holds the
 * store's tables, migrated up to what this version needs, without creating
 * or altering anything (`PgJobStore.layerExisting`). Tools that only look
 * (the CLI's read-only commands) use it, so that a misspelled schema is an
 * error instead of a new, empty store.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { StoreError } from "../../StoreError.ts"
import { classify } from "../../StoreRetry.ts"
import * as Deadline from "./deadline.ts"
import { migrations } from "./migrations.ts"
import * as Startup from "./startup.ts"
import * as Tables from "./Tables.ts"

/**
 * The schema holds no store (`missing` lists every migration), or one that
 * lacks migrations this version needs (`missing` lists them). Nothing was
 * created or altered: run the migrations (`PgJobStore.layer`, whose first
 * operation runs them, or `steadfast migrate`).
 *
 * @example
 * ```ts
 * import { PgJobStore } from "steadfast"
 *
 * const error = new PgJobStore.StoreNotMigrated({ schema: "steadfats", exists: false, missing: [1, 2, 3] })
 * error.message // schema steadfats holds no Steadfast store
 * ```
 *
 * @since 0.4.0
 */
export class StoreNotMigrated extends Schema.TaggedError<StoreNotMigrated>()("StoreNotMigrated", {
  schema: Schema.String,
  /** Whether the schema holds a store at all (its `migrations` table). */
  exists: Schema.Boolean,
  /** The ids of the migrations not applied. */
  missing: Schema.Array(Schema.Number),
  /** Which database was asked (`PostgreSQL at host:port/database`). */
  target: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const where = this.target === undefined ? "" : ` [${this.target}]`
    return this.exists
      ? `the store in schema ${this.schema} lacks migrations ${this.missing.join(", ")}${where}`
      : `schema ${this.schema} holds no Steadfast store${where}`
  }
}

/**
 * Which migrations a schema has: `undefined` when it holds no store (no
 * `migrations` table). Reads the catalog only.
 *
 * @internal
 */
export const applied = (
  sql: SqlClient.SqlClient,
  t: Tables.Tables
): Effect.Effect<ReadonlyArray<number> | undefined, SqlError.SqlError> =>
  Effect.gen(function*() {
    const [found] = yield* sql<{ readonly present: boolean }>`
      SELECT to_regclass(quote_ident(${t.schema}) || '.' || quote_ident(${`${t.prefix}migrations`})) IS NOT NULL AS present`
    if (found?.present !== true) return undefined
    const rows = yield* sql<{ readonly id: number }>`SELECT id FROM ${t.migrations} ORDER BY id`
    return rows.map((row) => Number(row.id))
  })

/**
 * Fails with `StoreNotMigrated` unless the schema holds a store with every
 * migration of this version applied.
 *
 * @internal
 */
export const require = (
  sql: SqlClient.SqlClient,
  t: Tables.Tables,
  target: string
): Effect.Effect<void, SqlError.SqlError | StoreNotMigrated> =>
  Effect.flatMap(applied(sql, t), (ids) => {
    const have = new Set(ids ?? [])
    const missing = migrations.map((migration) => migration.id).filter((id) => !have.has(id))
    return missing.length === 0
      ? Effect.void
      : Effect.fail(new StoreNotMigrated({ schema: t.schema, exists: ids !== undefined, missing, target }))
  })

const named = (error: StoreError, target: string): StoreError =>
  error.target !== undefined ? error : new StoreError({
    operation: error.operation,
    reason: error.reason,
    retryable: error.retryable,
    cause: error.cause,
    target
  })

/**
 * `require` for a store's options, on the `PgClient` in context, within the
 * store's `now` deadline; a failure to reach the database is a classified
 * `StoreError` (operation `"check"`) naming the database.
 *
 * @internal
 */
export const check = (options: Tables.Options & { readonly deadlines?: Deadline.Input | undefined }) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const target = Startup.target(sql.config)
    const deadline = Deadline.resolve(options.deadlines)
    const ms = typeof deadline === "string" ? 5_000 : deadline("now")
    return yield* Deadline.within("check", ms)(require(sql, Tables.make(sql, options), target)).pipe(
      Effect.mapError((error) =>
        error instanceof StoreNotMigrated
          ? error
          : named(error instanceof StoreError ? error : classify("check", error), target)
      )
    )
  })
