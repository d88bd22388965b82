/**
 * Where the PostgreSQL store keeps its data: the schema and table names
 * (configurable), the notification channel, and the database clock.
 *
 * @internal
 */
import type * as SqlClient from "effect/sql/SqlClient"
import type * as Statement from "effect/sql/Statement"

/** @internal */
export interface Options {
  /** The schema of the store's tables. Default `"steadfast"`. */
  readonly schema?: string | undefined
  /** Prepended to every table name, e.g. `"sf_"` for `sf_jobs`. Default `""`. */
  readonly tablePrefix?: string | undefined
}

/** @internal */
export interface Tables {
  readonly schema: string
  readonly prefix: string
  readonly jobs: Statement.Identifier
  readonly runs: Statement.Identifier
  /** The live nodes (migration 6). */
  readonly nodes: Statement.Identifier
  readonly migrations: Statement.Identifier
  readonly schemaIdentifier: Statement.Identifier
  /** An index name (indexes live in the schema of their table). */
  readonly index: (name: string) => Statement.Identifier
  /** The LISTEN/NOTIFY channel of this store. */
  readonly channel: string
  /** Key of the transaction-scoped advisory lock that serialises migrations. */
  readonly migrationLock: string
}

const schemaPattern = /^[A-Za-z_][A-Za-z0-9_]{0,29}$/
const prefixPattern = /^[A-Za-z0-9_]{0,20}$/

/**
 * Why the configured names are unusable, if they are. Identifiers are quoted
 * by the SQL compiler too; the patterns keep them free of dots (the compiler
 * splits on them) and short enough for derived index and channel names.
 *
 * @internal
 */
export const invalid = (options: Options): string | undefined => {
  if (options.schema !== undefined && !schemaPattern.test(options.schema)) {
    return `invalid schema name ${JSON.stringify(options.schema)} (letters, digits and _, at most 30)`
  }
  if (options.tablePrefix !== undefined && !prefixPattern.test(options.tablePrefix)) {
    return `invalid table prefix ${JSON.stringify(options.tablePrefix)} (letters, digits and _, at most 20)`
  }
  return undefined
}

/**
 * The names of a store's tables (options already checked by `invalid`).
 *
 * @internal
 */
export const make = (sql: SqlClient.SqlClient, options: Options = {}): Tables => {
  const schema = options.schema ?? "steadfast"
  const prefix = options.tablePrefix ?? ""
  const table = (name: string) => sql(`${schema}.${prefix}${name}`)
  return {
    schema,
    prefix,
    jobs: table("jobs"),
    runs: table("runs"),
    nodes: table("nodes"),
    migrations: table("migrations"),
    schemaIdentifier: sql(schema),
    index: (name) => sql(`${prefix}${name}`),
    channel: `steadfast:${schema}:${prefix}`,
    migrationLock: `steadfast:migrate:${schema}:${prefix}`
  }
}

/**
 * The database clock in epoch milliseconds (whole ms, like `Clock`).
 * `clock_timestamp()` is the real time, not the start of the transaction.
 *
 * @internal
 */
export const nowMs = "floor(extract(epoch from clock_timestamp()) * 1000)::bigint"

/**
 * Epoch milliseconds from a `bigint` column (the driver decodes int8 as
 * `bigint`).
 *
 * @internal
 */
export const ms = (value: unknown): number => Number(value)

/** @internal */
export const msOrNull = (value: unknown): number | null => value === null || value === undefined ? null : Number(value)
