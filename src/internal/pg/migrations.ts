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
import { nowMs, type Tables } from "./Tables.ts"
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
 * The most bytes a job's definition or a run's payload may take as JSON text
 * (as `jsonb::text` spells it): 15 MiB. A claim reads each as one row of one
 * message, and a client reads messages of up to 16 MiB (`@effect/sql-pg`'s
 * default `maxMessageSize`, which the store requires): whatever the store
 * accepts, it can claim. The database enforces it (migration 5).
 *
 * @internal
 */
export const maxValueBytes = 15 * 1_048_576

/**
 * The migrations, in order.
 *
 * Times are epoch milliseconds (`bigint`), as in the API; the database clock
 * decides what is due. `jobs.definition` is the encoded job without `id` and
 * `paused` (both columns of their own); the columns beside it are what
 * claims filter and lock on. `jobs.next_due` is the next fire plus the job's
 * deterministic jitter: the index on it finds due jobs without touching the
 * others. `runs` has one row per fire, `(job_id, fire_time, manual)`
 * unique (since migration 2; `(job_id, fire_time)` before): the store's
 * exactly-once key, in which manual runs have a key space of their own. Runs
 * have no foreign key to jobs: history outlives a removed job.
 * `jobs.set_aside` (migration 3) says why a claim set a job aside (paused it):
 * its stored definition could not be decoded or planned.
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
  },
  {
    id: 2,
    name: "manual_runs_key_space",
    up: (sql, t) =>
      Effect.gen(function*() {
        // The unique key of migration 1, whatever PostgreSQL named it.
        const old = yield* sql<{ readonly name: string }>`
          SELECT c.conname AS name FROM pg_constraint c
          WHERE c.conrelid = to_regclass(quote_ident(${t.schema}) || '.' || quote_ident(${`${t.prefix}runs`}))
            AND c.contype = 'u'
            AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
              WHERE a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)) = ARRAY['fire_time', 'job_id']`
        // Existing rows keep their fire times: every pair that was unique stays unique.
        yield* sql`ALTER TABLE ${t.runs} ADD CONSTRAINT ${t.index("runs_key")} UNIQUE (job_id, fire_time, manual)`
        for (const { name } of old) yield* sql`ALTER TABLE ${t.runs} DROP CONSTRAINT ${sql(name)}`
      })
  },
  {
    id: 3,
    name: "jobs_set_aside",
    up: (sql, t) => statements(sql`ALTER TABLE ${t.jobs} ADD COLUMN set_aside text`)
  },
  {
    id: 4,
    name: "no_negative_durations",
    // Outcomes written before this step carried the finishing node's clock:
    // an end before the start (a node whose clock ran behind) is clamped to
    // the start. Ends that a clock running ahead pushed later cannot be told
    // from long runs, and stay.
    up: (sql, t) =>
      statements(sql`UPDATE ${t.runs} SET ended_at = started_at WHERE ended_at < started_at`)
  },
  {
    id: 5,
    name: "bounded_values",
    up: (sql, t) => {
      const limit = sql.literal(String(maxValueBytes))
      const refuse = sql(`${t.schema}.${t.prefix}refuse_oversized`)
      const note = (what: string) =>
        sql`'oversized: the ${sql.literal(what)} is ' || octet_length(${sql.literal(what)}::text) ||
          ' bytes as JSON text, over the store''s limit of ${limit}'`
      return statements(
        // What was stored before this step and cannot be read back within a
        // client's message limit is set aside, as a claim sets aside what it
        // cannot decode: the job paused with a note, a waiting run failed.
        sql`UPDATE ${t.jobs} SET paused = true, set_aside = ${note("definition")}
          WHERE octet_length(definition::text) > ${limit}`,
        sql`UPDATE ${t.runs} SET state = 'failed', ended_at = ${sql.literal(nowMs)},
          error = ${note("payload")}, note = 'set aside: its payload cannot be claimed'
          WHERE state = 'pending' AND payload IS NOT NULL AND octet_length(payload::text) > ${limit}`,
        // From now on the database refuses them, whoever writes them. Checked
        // as JSON text, the form a claim reads: jsonb spells numbers out in
        // full (1e308 becomes 309 digits), so the encoded size does not bound it.
        sql`CREATE FUNCTION ${refuse}() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            RAISE EXCEPTION 'the % of job % is % bytes as JSON text, over the store''s limit of ${limit} bytes',
              TG_ARGV[0], to_jsonb(NEW) ->> TG_ARGV[1], octet_length((to_jsonb(NEW) -> TG_ARGV[0])::text)
              USING ERRCODE = 'program_limit_exceeded';
          END
        $$`,
        sql`CREATE TRIGGER ${t.index("jobs_bounded")} BEFORE INSERT OR UPDATE OF definition ON ${t.jobs}
          FOR EACH ROW WHEN (octet_length(NEW.definition::text) > ${limit})
          EXECUTE FUNCTION ${refuse}('definition', 'id')`,
        sql`CREATE TRIGGER ${t.index("runs_bounded")} BEFORE INSERT OR UPDATE OF payload ON ${t.runs}
          FOR EACH ROW WHEN (NEW.payload IS NOT NULL AND octet_length(NEW.payload::text) > ${limit})
          EXECUTE FUNCTION ${refuse}('payload', 'job_id')`
      )
    }
  },
  {
    id: 6,
    name: "cluster_state",
    // The live nodes (each upserts its row at its node heartbeat and deletes
    // it at a clean shutdown); a run's cancel request (`cancel_requested`,
    // read back by its node's lease renewal); and job pages in code point
    // order (`id COLLATE "C"`, whatever the database's collation).
    up: (sql, t) =>
      statements(
        sql`CREATE TABLE ${t.nodes} (
          id text PRIMARY KEY,
          host text NOT NULL,
          pid integer NOT NULL,
          version text NOT NULL,
          tasks text[] NOT NULL,
          started_at bigint NOT NULL,
          running integer NOT NULL,
          health jsonb NOT NULL,
          store text NOT NULL CHECK (store IN ('up', 'degraded')),
          heartbeat_at bigint NOT NULL
        )`,
        sql`ALTER TABLE ${t.runs} ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false`,
        sql`CREATE INDEX ${t.index("jobs_id_c")} ON ${t.jobs} ((id COLLATE "C"))`
      )
  },
  {
    id: 7,
    name: "history_pages",
    // History across jobs pages by (fire time, id), newest first: with the
    // id in the index, a page of runs that share a fire time (100,000 cron
    // jobs at 03:00) is read from the index, not re-sorted from the whole
    // group for every page. It replaces the index on fire time alone, so a
    // run costs no more to write.
    up: (sql, t) =>
      statements(
        sql`CREATE INDEX ${t.index("runs_fire_id")} ON ${t.runs} (fire_time, id)`,
        // Index names live in the table's schema: named with it.
        sql`DROP INDEX ${sql(`${t.schema}.${t.prefix}runs_fire`)}`
      )
  },
  {
    id: 8,
    name: "node_left",
    // A node's row stays after it left cleanly, marked left (its process in
    // host, pid and started_at): a beat of that process that lands later
    // (stuck on its way past shutdown) changes nothing, so it never comes
    // back as a ghost that peers count in their shares. One row per id, so
    // a beat and a leave racing each other are serialised by its lock.
    up: (sql, t) => statements(sql`ALTER TABLE ${t.nodes} ADD COLUMN left_at bigint`)
  },
  {
    id: 9,
    name: "renewals_in_place",
    // A lease renewal changes only `lease_until`. With that column indexed,
    // every renewal wrote a new entry into each of the runs' indexes; without
    // it, and with room left on each page, PostgreSQL rewrites the row in
    // place (a HOT update): renewing 10,000 running runs cost 25 µs a run,
    // now 8, and the indexes grow a quarter as much (`npm run bench -- renew`).
    // The reaper finds expired leases among the running runs through
    // `runs_running`, as few as the runs in flight.
    up: (sql, t) =>
      statements(
        sql`DROP INDEX ${sql(`${t.schema}.${t.prefix}runs_lease`)}`,
        // Room on each page for the renewed versions of its rows (new pages only).
        sql`ALTER TABLE ${t.runs} SET (fillfactor = 80)`
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
