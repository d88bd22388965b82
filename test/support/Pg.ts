/**
 * A real PostgreSQL for a test file: each file that imports this gets its own
 * fresh database, dropped when the file's tests end.
 *
 * The server is, in order of preference: the one `test/support/globalSetup.ts`
 * started for the whole run (handed over with vitest's `provide`/`inject`),
 * the one `DATABASE_URL` names, or an embedded server started for this file.
 */
import { Context, Effect, Layer, Redacted } from "effect"
import { PgClient } from "@effect/sql-pg"
import { afterAll, inject } from "vitest"
import { JobStore } from "../../src/JobStore.ts"
import * as PgJobStore from "../../src/PgJobStore.ts"
import * as EmbeddedPg from "../../scripts/lib/EmbeddedPg.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the server started by `test/support/globalSetup.ts`. */
    steadfastPgUrl?: string
  }
}

let server: Promise<EmbeddedPg.Handle> | undefined
let database: Promise<{ readonly url: string; readonly name: string; readonly serverUrl: string }> | undefined

const startServer = (): Promise<EmbeddedPg.Handle> => {
  const provided = inject("steadfastPgUrl")
  server ??= provided !== undefined
    ? EmbeddedPg.launch({ databaseUrl: provided })
    : EmbeddedPg.launch({ fast: true })
  return server
}

/**
 * The URL of this file's own database (created on first use).
 */
export const databaseUrl = (): Promise<string> => {
  database ??= startServer().then(async (handle) => {
    const name = `steadfast_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
    const url = await Effect.runPromise(EmbeddedPg.createDatabase(handle.url, name))
    return { url, name, serverUrl: handle.url }
  })
  return database.then((db) => db.url)
}

/**
 * The URL of the server's `postgres` database (for administrative statements
 * such as `pg_terminate_backend`).
 */
export const serverUrl = (): Promise<string> => startServer().then((handle) => handle.url)

afterAll(async () => {
  const db = await database?.catch(() => undefined)
  if (db !== undefined) await Effect.runPromise(Effect.ignore(EmbeddedPg.dropDatabase(db.serverUrl, db.name)))
  await (await server?.catch(() => undefined))?.dispose()
}, 60_000)

/** This file's database URL, as an Effect. */
export const url: Effect.Effect<string> = Effect.promise(databaseUrl)

/**
 * A connection pool on this file's database: one "process".
 */
export const layerClient = (
  config: Omit<PgClient.PgPoolConfig, "url"> = {}
): Layer.Layer<PgClient.PgClient, unknown> =>
  Layer.unwrap(Effect.map(url, (u) => PgClient.layer({ url: Redacted.make(u), ...config })))

/**
 * A store on its own pool (one "process"), for the life of the layer.
 */
export const layerStore = (
  options: PgJobStore.Options = {},
  config: Omit<PgClient.PgPoolConfig, "url"> = {}
): Layer.Layer<JobStore, unknown> => PgJobStore.layer(options).pipe(Layer.provide(layerClient(config)))

/**
 * A store on its own pool (one "process"), for the life of the scope.
 */
export const makeStore = (options: PgJobStore.Options = {}, config: Omit<PgClient.PgPoolConfig, "url"> = {}) =>
  Effect.map(Layer.build(layerStore(options, config)), (context) => Context.get(context, JobStore))

/**
 * A pool for the life of the scope, e.g. to inspect tables in a test.
 */
export const makeClient = (config: Omit<PgClient.PgPoolConfig, "url"> = {}) =>
  Effect.map(Layer.build(layerClient(config)), (context) => Context.get(context, PgClient.PgClient))
