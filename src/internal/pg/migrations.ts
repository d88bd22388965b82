/**
 * The store's schema, as numbered, immutable migrations.
 *
 * Never edit a migration that has shipped: add the next number. Each
 * migration runs once per schema and prefix, recorded in the `migrations`
 * table. All processes run `migrate` at start; a transaction-scoped advisory
 * lock (`pg_advisory_xact_lock`, released at commit, so it works behind a
 * transaction-pooling proxy) makes them take turns, and the ones that come
 * second find nothing to do.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import type { Guards } from "./deadline.ts"
import type { Tables } from "./Tables.ts"
import { transaction } from "./transaction.ts"

/** @internal */
export interface Migration {
  readonly id: number
  readonly name: string
  readonly up: (sql: SqlClient.SqlClient, t: Tables) => Effect.Effect<void, SqlError.SqlError>
}

const statements = (...list: ReadonlyArray<Effect.Effect<unknown, SqlError.SqlError>>) =>
  Effect.forEach(list, (statement) => statement, { discard: true })

/**
 * The migrations, in order.
 *
 * Times are epoch milliseconds (`bigint`), as in the API; the database clock
 * decides what is due. `jobs.definition` is the encoded job without `id` and
 * `paused` (both columns of their own); the columns beside it are what
 * claims filter and lock on. `jobs.next_due` is the next fire plus the job's
 * deterministic jitter: the index on it finds due jobs without touching the
 * others. `runs` has one row per fire, `(job_id, fire_time)` unique: the
 * store's exactly-once key. Runs have no foreign key to jobs: history
 * outlives a removed job.
 *
 * @internal
 */
export const migrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "jobs_and_runs",
    up: (sql, t) =>
      statements(
        sql`CREATE TABLE ${t.jobs} (
          id text PRIMARY KEY,
          task text NOT NULL,
          definition jsonb NOT NULL,
          paused boolean NOT NULL DEFAULT false,
          source text NOT NULL CHECK (source IN ('code', 'dynamic')),
          version double precision NOT NULL DEFAULT 0,
          next_fire bigint,
          next_due bigint,
          overlap_max integer NOT NULL CHECK (overlap_max >= 1),
          on_limit text NOT NULL CHECK (on_limit IN ('skip', 'wait')),
          on_lost text NOT NULL CHECK (on_lost IN ('record', 'retry')),
          created_at bigint NOT NULL,
          updated_at bigint NOT NULL
        )`,
        sql`CREATE INDEX ${t.index("jobs_due")} ON ${t.jobs} (next_due) WHERE NOT paused AND next_due IS NOT NULL`,
        sql`CREATE TABLE ${t.runs} (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          job_id text NOT NULL,
          fire_time bigint NOT NULL,
          due_at bigint NOT NULL,
          state text NOT NULL CHECK (state IN (
            'pending', 'running', 'succeeded', 'failed', 'timed-out', 'lost',
            'skipped', 'missed', 'coalesced', 'cancelled'
          )),
          attempt integer NOT NULL DEFAULT 1,
          node text,
          token text,
          lease_until bigint,
          started_at bigint,
          ended_at bigint,
          error text,
          note text,
          manual boolean NOT NULL DEFAULT false,
          catch_up boolean NOT NULL DEFAULT false,
          payload jsonb,
          UNIQUE (job_id, fire_time)
        )`,
        sql`CREATE INDEX ${t.index("runs_pending")} ON ${t.runs} (due_at) WHERE state = 'pending'`,
        sql`CREATE INDEX ${t.index("runs_running")} ON ${t.runs} (job_id) WHERE state = 'running'`,
        sql`CREATE INDEX ${t.index("runs_lease")} ON ${t.runs} (lease_until) WHERE state = 'running'`,
        sql`CREATE INDEX ${t.index("runs_fire")} ON ${t.runs} (fire_time)`
      )
  }
]

/**
 * Brings the schema up to date; returns the ids of the migrations it ran.
 * One guarded transaction (see `transaction.ts`): its `lock_timeout` bounds
 * the wait for another process's migration too.
 *
 * @internal
 */
export const migrate = (
  sql: SqlClient.SqlClient,
  t: Tables,
  guards: Guards
): Effect.Effect<ReadonlyArray<number>, SqlError.SqlError> =>
  transaction(sql, guards, Effect.gen(function*() {
    yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${t.migrationLock}, 0))`
    yield* sql`CREATE SCHEMA IF NOT EXISTS ${t.schemaIdentifier}`
    yield* sql`CREATE TABLE IF NOT EXISTS ${t.migrations} (
      id integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`
    const rows = yield* sql<{ readonly id: number }>`SELECT id FROM ${t.migrations}`
    const applied = new Set(rows.map((row) => row.id))
    const ran: Array<number> = []
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue
      yield* migration.up(sql, t)
      yield* sql`INSERT INTO ${t.migrations} (id, name) VALUES (${migration.id}, ${migration.name})`
      ran.push(migration.id)
    }
    return ran
  }))
