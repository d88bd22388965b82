/**
 * How the CLI reaches a store: the `Connection` service, opened per command
 * with the command's deadline. The PostgreSQL one (the bin's) never creates
 * anything except in `migrate`: every other command needs the schema to
 * hold a migrated store (`PgJobStore.layerExisting`).
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { PgClient } from "@effect/sql-pg"
import * as Existing from "../../internal/pg/existing.ts"
import * as Startup from "../../internal/pg/startup.ts"
import * as Tables from "../../internal/pg/Tables.ts"
import { JobStore } from "../../JobStore.ts"
import * as PgJobStore from "../../PgJobStore.ts"
import type { StoreError } from "../../StoreError.ts"
import { classify } from "../../StoreRetry.ts"
import { MissingDatabaseUrl } from "./errors.ts"

/**
 * What `migrate` did: the migrations it applied now (empty when the schema
 * was up to date) and every migration the schema has.
 *
 * @since 0.4.0
 */
export interface MigrateReport {
  readonly schema: string
  readonly applied: ReadonlyArray<number>
  readonly current: ReadonlyArray<number>
  /** Where (for messages), without credentials. */
  readonly target: string
}

/**
 * A store, as one command sees it.
 *
 * @since 0.4.0
 */
export interface Access {
  /** The store, which must exist (nothing is created or migrated). */
  readonly store: Effect.Effect<JobStore["Service"], StoreError | PgJobStore.StoreNotMigrated | MissingDatabaseUrl, Scope.Scope>
  /** Creates the store's schema or brings it up to date. */
  readonly migrate: Effect.Effect<MigrateReport, StoreError | MissingDatabaseUrl, Scope.Scope>
  /** Where the store is, for messages (`schema steadfast on PostgreSQL at host:5432/app`). */
  readonly target: string
}

/**
 * How the CLI's commands reach their store: `open` is called once per
 * command with the command's deadline, which also bounds connecting.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { MemoryJobStore } from "steadfast"
 * import { Cli } from "steadfast/cli"
 *
 * // The CLI on an in-process store (a test, or your own binary).
 * export const connection = Cli.layerStore.pipe(Layer.provide(MemoryJobStore.layer))
 * ```
 *
 * @since 0.4.0
 */
export class Connection extends Context.Service<Connection, {
  readonly open: (options: { readonly timeoutMs: number }) => Access
}>()("steadfast/cli/Connection") {}

/**
 * The CLI on the `JobStore` in context: any backend. `migrate` has nothing
 * to do (an in-process store has no schema).
 *
 * @since 0.4.0
 */
export const layerStore: Layer.Layer<Connection, never, JobStore> = Layer.effect(
  Connection,
  Effect.map(Effect.service(JobStore), (store) =>
    Connection.of({
      open: () => ({
        store: Effect.succeed(store),
        migrate: Effect.succeed({ schema: "(in-process)", applied: [], current: [], target: "the in-process store" }),
        target: "the in-process store"
      })
    }))
)

/**
 * Options of `layerPostgres`.
 *
 * @since 0.4.0
 */
export interface PostgresOptions {
  /** `postgres://user:password@host:5432/database`; absent: every command fails with `MissingDatabaseUrl`. */
  readonly url: string | undefined
  /** The store's schema; default `steadfast`, as `PgJobStore.layer`. */
  readonly schema?: string | undefined
  readonly tablePrefix?: string | undefined
}

// Connecting gives up after this long, or the command's deadline if that is shorter.
const connectMs = 5_000

/**
 * The CLI on PostgreSQL (the `steadfast` bin's).
 *
 * @since 0.4.0
 */
export const layerPostgres = (options: PostgresOptions): Layer.Layer<Connection> =>
  Layer.succeed(Connection, Connection.of({ open: ({ timeoutMs }) => openPostgres(options, timeoutMs) }))

const openPostgres = (options: PostgresOptions, timeoutMs: number): Access => {
  const schema = options.schema ?? "steadfast"
  const url = options.url === undefined || options.url === "" ? undefined : options.url
  const where = url === undefined ? "PostgreSQL" : Startup.target({ url: Redacted.make(url) })
  const storeOptions: PgJobStore.Options = {
    schema,
    ...(options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix }),
    deadlines: { default: timeoutMs, migrate: timeoutMs }
  }
  const client = Effect.suspend((): Effect.Effect<PgClient.PgClient, StoreError | MissingDatabaseUrl, Scope.Scope> =>
    url === undefined ? Effect.fail(new MissingDatabaseUrl()) : Effect.map(
      Layer.build(PgJobStore.layerClient({
        url: Redacted.make(url),
        connectTimeout: Math.min(connectMs, timeoutMs),
        applicationName: "steadfast-cli",
        maxConnections: 2
      })),
      (context) => Context.get(context, PgClient.PgClient)
    ).pipe(Effect.mapError((error) => classify("connect", error)))
  )
  const store = Effect.gen(function*() {
    const sql = yield* client
    const context = yield* Layer.build(PgJobStore.layerExisting(storeOptions)).pipe(
      Effect.provideService(PgClient.PgClient, sql)
    )
    return Context.get(context, JobStore)
  })
  const migrate = Effect.gen(function*() {
    const sql = yield* client
    // Building the store checks the options (and asks nothing); it migrates before its first operation.
    const store = yield* PgJobStore.make(storeOptions).pipe(Effect.provideService(PgClient.PgClient, sql))
    const applied = Existing.applied(sql, Tables.make(sql, storeOptions)).pipe(
      Effect.mapError((error) => classify("migrate", error))
    )
    const before = yield* applied
    yield* store.now
    const after = yield* applied
    const had = new Set(before ?? [])
    return { schema, applied: (after ?? []).filter((id) => !had.has(id)), current: after ?? [], target: where }
  })
  return { store, migrate, target: `schema ${schema} on ${where}` }
}
