/**
 * The benchmark's PostgreSQL: an embedded server with durable settings (the
 * defaults: `fsync`, `synchronous_commit` and `full_page_writes` on) in a
 * temporary folder, with `pg_stat_statements` preloaded so statements can be
 * counted; or the `DATABASE_URL` server. Each scenario works in a fresh
 * schema of one `steadfast_bench` database.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import * as EmbeddedPg from "../lib/EmbeddedPg.ts"
import type * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as PgJobStore from "../../src/PgJobStore.ts"

export interface StatementCount {
  /** How statements were counted. */
  readonly method: "pg_stat_statements" | "pg_stat_database.xact_commit"
  readonly total: number
  /** Every statement of the bench database, most frequent first (empty without `pg_stat_statements`). */
  readonly rows: ReadonlyArray<{ readonly query: string; readonly calls: number; readonly meanMs: number }>
}

/** The most frequent statements, their text shortened, for printing. */
export const top = (count: StatementCount, n = 8) =>
  count.rows.slice(0, n).map((row) => ({
    query: row.query.replace(/\s+/g, " ").trim().slice(0, 80),
    calls: row.calls,
    meanMs: Math.round(row.meanMs * 1_000) / 1_000
  }))

/** A store of the orchestrator's own on one schema, built once, kept open between calls. */
export interface Producer {
  /**
   * `JobStore.addMany` in one call: the jobs added, the elapsed ms and the
   * CPU this process spent meanwhile (µs, user + system; the orchestrator
   * does nothing else while it waits).
   */
  readonly addMany: (jobs: ReadonlyArray<Job.Job>) => Promise<{ readonly added: number; readonly ms: number; readonly cpuUs: number }>
  /** Runs the store's migrations (its first operation), so that a timed call does not pay for them. */
  readonly warm: () => Promise<void>
  /** Runs `effect` with the store. */
  readonly run: <A>(effect: Effect.Effect<A, unknown, JobStore>) => Promise<A>
  readonly dispose: () => Promise<void>
}

/** Marks the orchestrator's own probes, which statement counts leave out. */
export const probeMarker = "/* bench-probe */"

export interface BenchDb {
  readonly server: EmbeddedPg.Handle
  readonly url: string
  readonly settings: Record<string, string>
  /** Whether statements are counted by `pg_stat_statements` (else by transaction counts). */
  readonly statementStats: boolean
  /** Starts counting statements of the bench database from zero. */
  readonly resetStatements: () => Promise<void>
  readonly statements: () => Promise<StatementCount>
  /** Registers jobs through a store of its own (one transaction, batched statements); returns the elapsed ms. */
  readonly register: (schema: string, jobs: ReadonlyArray<Job.Job>) => Promise<number>
  /** A store of the orchestrator's own on `schema` (2 connections), for `addMany`. */
  readonly producer: (schema: string) => Promise<Producer>
  readonly query: <A extends object>(text: string) => Promise<ReadonlyArray<A>>
  readonly dispose: () => Promise<void>
}

const databaseName = "steadfast_bench"

const withSql = <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function*() {
      return yield* f(yield* SqlClient.SqlClient)
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })), Effect.orDie)
  )

export const launch = async (): Promise<BenchDb> => {
  const server = await EmbeddedPg.launch({
    postgresFlags: [
      "-c",
      "shared_preload_libraries=pg_stat_statements",
      "-c",
      "pg_stat_statements.track=all",
      // More flags for a diagnosis, e.g. BENCH_PG_FLAGS="-c log_min_duration_statement=10".
      ...(process.env["BENCH_PG_FLAGS"] ?? "").split(" ").filter((flag) => flag.length > 0)
    ]
  })
  const adminUrl = server.url
  await withSql(adminUrl, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`))
  const url = await Effect.runPromise(EmbeddedPg.createDatabase(adminUrl, databaseName))
  const statementStats = await withSql(adminUrl, (sql) =>
    sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`.pipe(Effect.as(true), Effect.catch(() => Effect.succeed(false))))
  const settingRows = await withSql(adminUrl, (sql) =>
    sql<{ name: string; setting: string }>`
      SELECT name, setting FROM pg_settings
      WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'max_connections', 'server_version',
        'pg_stat_statements.track', 'pg_stat_statements.track_utility')`)
  const settings = Object.fromEntries(settingRows.map((row) => [row.name, row.setting]))

  let xactBase = 0
  const xacts = () =>
    withSql(adminUrl, (sql) =>
      sql<{ n: string }>`SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = ${databaseName}`
    ).then((rows) => Number(rows[0]?.n ?? 0))

  return {
    server,
    url,
    settings,
    statementStats,
    resetStatements: async () => {
      if (statementStats) await withSql(adminUrl, (sql) => sql`SELECT pg_stat_statements_reset()`)
      xactBase = await xacts()
    },
    statements: async () => {
      if (!statementStats) {
        return { method: "pg_stat_database.xact_commit", total: (await xacts()) - xactBase, rows: [] }
      }
      const rows = await withSql(adminUrl, (sql) =>
        sql<{ query: string; calls: string; mean: number }>`
          SELECT s.query, s.calls::text AS calls, s.mean_exec_time AS mean
          FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
          WHERE d.datname = ${databaseName}
          ORDER BY s.calls DESC`)
      const all = rows.filter((row) => !row.query.includes(probeMarker)).map((row) => ({ query: row.query, calls: Number(row.calls), meanMs: row.mean }))
      return { method: "pg_stat_statements", total: all.reduce((sum, row) => sum + row.calls, 0), rows: all }
    },
    register: (schema, jobs) =>
      Effect.runPromise(
        Effect.gen(function*() {
          const store = yield* JobStore
          const started = performance.now()
          yield* store.register(jobs, { version: 0, orphans: "keep" })
          return performance.now() - started
        }).pipe(
          Effect.provide(PgJobStore.layer({ schema }).pipe(
            Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 }))
          )),
          Effect.orDie
        )
      ),
    producer: async (schema) => {
      const runtime = ManagedRuntime.make(
        PgJobStore.layer({ schema }).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })))
      )
      const run = <A>(effect: Effect.Effect<A, unknown, JobStore>) => runtime.runPromise(Effect.orDie(effect))
      return {
        warm: () => run(Effect.gen(function*() {
            const store = yield* JobStore
            yield* store.now
          })),
        addMany: (jobs) =>
          run(Effect.gen(function*() {
            const store = yield* JobStore
            const cpu = process.cpuUsage()
            const started = performance.now()
            const added = yield* store.addMany(jobs)
            const ms = performance.now() - started
            const spent = process.cpuUsage(cpu)
            return { added, ms, cpuUs: spent.user + spent.system }
          })),
        run,
        dispose: () => runtime.dispose()
      }
    },
    query: <A extends object>(text: string) => withSql(url, (sql) => sql.unsafe<A>(text)),
    dispose: async () => {
      await withSql(adminUrl, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`)).catch(() => undefined)
      await server.dispose()
    }
  }
}
