/**
 * Manual runs have a key space of their own (issue 11, item 5): a manual
 * trigger whose fire time is exactly a scheduled fire's never takes that
 * fire's `(job, fire time)` key. Both run, through a real scheduler on a real
 * PostgreSQL, each with its own record and its own payload.
 *
 * The contract suite (`JobStoreContract.ts`) shows the same of both stores
 * directly; this shows it end to end, and the migration that moves an
 * existing store to the new key keeping its records.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import { migrations } from "../src/internal/pg/migrations.ts"
import * as Tables from "../src/internal/pg/Tables.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import { realWait } from "./support/Harness.ts"
import * as Pg from "./support/Pg.ts"

describe("manual runs", () => {
  it.live("a manual trigger at exactly a scheduled fire's time: both run, each with its own record and payload", () =>
    Effect.gen(function*() {
      const ran: Array<{ readonly fireTime: number; readonly from: string; readonly manual: boolean }> = []
      const task = Task.make("nightly-report", Schema.Struct({ from: Schema.String }), ({ from }, context) =>
        Effect.sync(() => {
          ran.push({ fireTime: context.fireTime, from, manual: context.manual })
        }))
      const store = yield* Pg.makeStore({ schema: "manual" })
      const context = yield* Layer.build(
        Scheduler.layer({ tasks: [task], shutdownGrace: 0 }).pipe(Layer.provide(Layer.succeed(JobStore, store)))
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      const job = (at: number) => Job.make(task, { id: "report", payload: { from: "job" }, trigger: Trigger.once(at) })
      yield* scheduler.add(job((yield* store.now) + 3_600_000))
      const manual = yield* scheduler.trigger("report", { from: "trigger" })
      // The schedule's one fire comes at the very millisecond of the manual run.
      yield* scheduler.update(job(manual.fireTime))

      const finished = scheduler.history({ jobId: "report", states: ["succeeded"] })
      for (let i = 0; i < 200 && (ran.length < 2 || (yield* finished).length < 2); i++) yield* realWait(50)
      // The handler can tell them apart: (jobId, fireTime, manual) is the dedup key.
      assert.sameDeepMembers(ran, [
        { fireTime: manual.fireTime, from: "trigger", manual: true },
        { fireTime: manual.fireTime, from: "job", manual: false }
      ])
      const records = yield* scheduler.history({ jobId: "report" })
      assert.strictEqual(records.length, 2, JSON.stringify(records))
      assert.sameMembers(records.map((record) => record.manual), [true, false])
      assert.isTrue(records.every((record) => record.fireTime === manual.fireTime && record.state === "succeeded"))
      assert.notStrictEqual(records[0]!.id, records[1]!.id)
      assert.strictEqual(records.find((record) => record.manual)?.id, manual.id)
    }), 30_000)

  it.live("the migration to the manual key space keeps existing runs, and frees their scheduled fire times", () =>
    Effect.gen(function*() {
      const sql = yield* Effect.map(Pg.makeClient({ maxConnections: 1 }), (client): SqlClient.SqlClient => client)
      const schema = "manual_migration"
      const t = Tables.make(sql, { schema })
      // A store as migration 1 left it, with a manual run that took the fire time 5000 of job "old".
      yield* sql`CREATE SCHEMA ${sql(schema)}`
      yield* sql`CREATE TABLE ${t.migrations} (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`
      yield* migrations[0]!.up(sql, t)
      yield* sql`INSERT INTO ${t.migrations} (id, name) VALUES (1, 'jobs_and_runs')`
      yield* sql`INSERT INTO ${t.runs} (job_id, fire_time, due_at, state, manual, started_at, ended_at)
        VALUES ('old', 5000, 5000, 'succeeded', true, 5000, 5010)`
      const fireTaken = Effect.flip(sql`INSERT INTO ${t.runs} (job_id, fire_time, due_at, state) VALUES ('old', 5000, 5000, 'missed')`)
      assert.strictEqual((yield* fireTaken)._tag, "SqlError")

      // The store's first operation runs the later migrations.
      const store = yield* Pg.makeStore({ schema })
      yield* store.now
      const history = yield* store.history({ jobId: "old" })
      assert.deepStrictEqual(history.map((r) => [r.fireTime, r.manual, r.state]), [[5000, true, "succeeded"]])
      // The scheduled fire 5000 has its own key now; a second scheduled one still has not.
      yield* sql`INSERT INTO ${t.runs} (job_id, fire_time, due_at, state) VALUES ('old', 5000, 5000, 'missed')`
      assert.strictEqual((yield* fireTaken)._tag, "SqlError")
      const keys = yield* sql<{ readonly definition: string }>`
        SELECT pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c
        WHERE c.conrelid = ${`${schema}.runs`}::regclass AND c.contype = 'u'`
      assert.deepStrictEqual(keys.map((k) => k.definition), ["UNIQUE (job_id, fire_time, manual)"])
    }), 30_000)
})
