/**
 * No poison rows (issue 11, item 6): whatever the store accepts, it can
 * claim, and a stored job that a claim cannot decode or plan anyway (a
 * definition written by hand) is set aside — paused, with a note, reported —
 * while the claim goes on with every other job. Before, one such row failed
 * every claim of the cluster, for good.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql"
import type { Event } from "../src/Event.ts"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as MemoryJobStore from "../src/MemoryJobStore.ts"
import { maxValueBytes, migrations } from "../src/internal/pg/migrations.ts"
import * as Tables from "../src/internal/pg/Tables.ts"
import * as Scheduler from "../src/Scheduler.ts"
import { StoreError } from "../src/StoreError.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import { realWait } from "./support/Harness.ts"
import * as Pg from "./support/Pg.ts"

let counter = 0
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${++counter}`
const taskNamed = (name: string) => Task.make(name, Schema.Unknown, () => Effect.void)
const claimOf = (task: string, limit = 10) => ({ node: "n", tasks: [task], limit, leaseMs: 30_000 })

// A job row as a person might write it by hand: due now, its definition whatever they typed.
const writeJob = (sql: SqlClient.SqlClient, t: Tables.Tables, row: { id: string; task: string; definition: string; due: number }) =>
  sql`INSERT INTO ${t.jobs} (id, task, definition, source, next_fire, next_due, overlap_max, on_limit, on_lost, created_at, updated_at)
    VALUES (${row.id}, ${row.task}, ${row.definition}::jsonb, 'dynamic', ${row.due}, ${row.due}, 1, 'skip', 'record', ${row.due}, ${row.due})`

// Wakes a scheduler's dispatcher at once, as the store's own writes do.
const wake = (sql: SqlClient.SqlClient, t: Tables.Tables) => sql`SELECT pg_notify(${t.channel}, 'test')`

const setAsideOf = (sql: SqlClient.SqlClient, t: Tables.Tables, id: string) =>
  Effect.map(
    sql<{ readonly paused: boolean; readonly set_aside: string | null }>`SELECT paused, set_aside FROM ${t.jobs} WHERE id = ${id}`,
    (rows) => rows[0]
  )

// Every message down a failure's chain of causes.
const messages = (u: unknown): string =>
  u instanceof Error || (typeof u === "object" && u !== null)
    ? [u instanceof Error ? u.message : "", "cause" in u ? messages(u.cause) : "", "reason" in u ? messages(u.reason) : ""].join(" | ")
    : ""

// A JSON array that jsonb spells out at 311 bytes a number: small as JSON, over the store's limit as JSON text.
const bigNumbers = (count: number) => Array.from({ length: count }, () => 1e308)

describe("poison rows", () => {
  it.live("a job whose definition does not decode is set aside; the claim goes on with the others, and resuming tries it again", () =>
    Effect.gen(function*() {
      const sql: SqlClient.SqlClient = yield* Pg.makeClient({ maxConnections: 1 })
      const store = yield* Pg.makeStore({ schema: "poison" })
      const t = Tables.make(sql, { schema: "poison" })
      const task = unique("task")
      const now = yield* store.now
      const healthy = Job.make(taskNamed(task), { id: unique("healthy"), payload: null, trigger: Trigger.once(now - 1) })
      yield* store.add(healthy)
      // Written by hand, due before the healthy job: the first a claim locks.
      const poison = unique("poison")
      yield* writeJob(sql, t, { id: poison, task, definition: `{"task": "${task}", "trigger": {"_tag": "Fortnightly"}}`, due: now - 10 })

      // A claim of one job at a time: the poison row first, set aside, then the healthy job.
      const first = yield* store.claim(claimOf(task, 1))
      assert.deepStrictEqual(first.runs, [])
      assert.deepStrictEqual(first.setAside?.map((s) => [s.jobId, s.reason]), [[poison, "undecodable"]])
      assert.include(first.setAside![0]!.detail, "does not decode")
      const second = yield* store.claim(claimOf(task, 1))
      assert.deepStrictEqual(second.runs.map((run) => run.jobId), [healthy.id])
      assert.deepStrictEqual(second.setAside, [])
      // Set aside: paused, with its note; no claim locks or reports it again.
      const row = yield* setAsideOf(sql, t, poison)
      assert.isTrue(row?.paused)
      assert.match(row?.set_aside ?? "", /^undecodable: its definition does not decode/)
      assert.deepStrictEqual((yield* store.claim(claimOf(task))).setAside, [])
      assert.isTrue(Option.isNone(yield* store.nextWake([task])))

      // Resuming clears the note and lets the next claim try it: still undecodable, set aside again.
      yield* sql`UPDATE ${t.jobs} SET next_due = ${now - 10} WHERE id = ${poison}`
      yield* store.setPaused(poison, false).pipe(Effect.ignore)
      assert.isNull((yield* setAsideOf(sql, t, poison))?.set_aside)
      const again = yield* store.claim(claimOf(task))
      assert.deepStrictEqual(again.setAside?.map((s) => s.jobId), [poison])
      // Replacing its definition (a person fixes it) clears the note: it runs.
      yield* store.update(Job.make(taskNamed(task), { id: poison, payload: null, trigger: Trigger.once(now - 1) }))
      assert.deepStrictEqual((yield* store.claim(claimOf(task))).runs.map((run) => run.jobId), [poison])
      assert.isNull((yield* setAsideOf(sql, t, poison))?.set_aside)
    }), 30_000)

  it.live("a job whose fires cannot be planned (instants out of range) is set aside, in both stores", () =>
    Effect.gen(function*() {
      const task = unique("task")
      const make = (id: string) => Job.make(taskNamed(task), { id, payload: null, trigger: Trigger.every(1_000) })
      // A jitter no store can add to an instant: due times beyond ±2^53.
      const unplannable = (job: Job.Job): Job.Job => ({ ...job, trigger: { _tag: "Interval", every: 1_000, anchor: 0, jitter: 1e300 } })
      // PostgreSQL: written by hand, next fire due now.
      const sql: SqlClient.SqlClient = yield* Pg.makeClient({ maxConnections: 1 })
      const store = yield* Pg.makeStore({ schema: "poison" })
      const t = Tables.make(sql, { schema: "poison" })
      const now = yield* store.now
      const [bad, good] = [unique("bad"), unique("good")]
      yield* store.add(make(good))
      yield* sql`UPDATE ${t.jobs} SET next_due = ${now - 1}, next_fire = ${now - 1} WHERE id = ${good}`
      const definition = JSON.stringify(Schema.encodeSync(Job.Job)(unplannable(make(bad))))
      yield* writeJob(sql, t, { id: bad, task, definition, due: now - 1 })
      const claimed = yield* store.claim(claimOf(task))
      assert.deepStrictEqual(claimed.runs.map((run) => run.jobId), [good])
      assert.deepStrictEqual(claimed.setAside?.map((s) => [s.jobId, s.reason]), [[bad, "unplannable"]])
      assert.include(claimed.setAside![0]!.detail, "within ±2^53")
      assert.isTrue((yield* setAsideOf(sql, t, bad))?.paused)

      // Memory: a one-off at an instant beyond 2^53, handed to the store directly.
      const memory = yield* Effect.map(Layer.build(MemoryJobStore.layer), (context) => Context.get(context, JobStore))
      yield* memory.add({ ...make(bad), trigger: { _tag: "Once", at: 2 ** 60 } })
      yield* memory.add({ ...make(good), trigger: Trigger.once(yield* memory.now) })
      const result = yield* memory.claim(claimOf(task))
      assert.deepStrictEqual(result.runs.map((run) => run.jobId), [good])
      assert.deepStrictEqual(result.setAside?.map((s) => [s.jobId, s.reason]), [[bad, "unplannable"]])
      const stored = Option.getOrThrow(yield* memory.get(bad))
      assert.isTrue(stored.paused)
      assert.match(stored.setAside ?? "", /^unplannable: /)
    }), 30_000)

  it.live("what the store cannot claim it does not accept: a payload over its limit as JSON text is refused, typed, changing nothing", () =>
    Effect.gen(function*() {
      const sql: SqlClient.SqlClient = yield* Pg.makeClient({ maxConnections: 1 })
      const store = yield* Pg.makeStore({ schema: "poison" })
      const t = Tables.make(sql, { schema: "poison" })
      const task = unique("task")
      const id = unique("job")
      const now = yield* store.now
      yield* store.add(Job.make(taskNamed(task), { id, payload: null, trigger: Trigger.once(now - 1) }))
      // 60,000 numbers: 420 KB as JSON, 18 MB as jsonb spells them.
      const payload = bigNumbers(60_000)
      assert.isBelow(JSON.stringify(payload).length, 1_048_576)
      const refused = yield* Effect.flip(store.triggerNow(id, payload))
      assert.instanceOf(refused, StoreError)
      assert.isFalse(refused.retryable)
      assert.strictEqual(refused.reason, "UnknownError 54000")
      assert.include(messages(refused), `over the store's limit of ${maxValueBytes} bytes`)
      assert.deepStrictEqual((yield* store.history({ jobId: id })).length, 0)
      // Nor may anyone write one by hand.
      const byHand = yield* Effect.flip(sql`
        INSERT INTO ${t.runs} (job_id, fire_time, due_at, state, manual, payload)
        SELECT ${id}, 1, 1, 'pending', true, jsonb_agg(1e308::numeric) FROM generate_series(1, 60000)`)
      assert.include(messages(byHand), "over the store's limit")
      const job = yield* Effect.flip(writeJob(sql, t, {
        id: unique("huge"),
        task,
        definition: JSON.stringify({ task, payload, trigger: { _tag: "Once", at: now } }),
        due: now
      }))
      assert.include(messages(job), "over the store's limit")
      // Claims go on.
      assert.deepStrictEqual((yield* store.claim(claimOf(task))).runs.map((run) => run.jobId), [id])
    }), 30_000)

  it.live("rows stored before the limit that a claim could not read back are set aside by the migration", () =>
    Effect.gen(function*() {
      const sql: SqlClient.SqlClient = yield* Pg.makeClient({ maxConnections: 1 })
      const schema = "poison_migration"
      const t = Tables.make(sql, { schema })
      // A store as migration 1 left it.
      yield* sql`CREATE SCHEMA ${sql(schema)}`
      yield* sql`CREATE TABLE ${t.migrations} (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`
      yield* migrations[0]!.up(sql, t)
      yield* sql`INSERT INTO ${t.migrations} (id, name) VALUES (1, 'jobs_and_runs')`
      const task = unique("task")
      const huge = sql`jsonb_build_object('task', ${task}::text, 'payload', (SELECT jsonb_agg(1e308::numeric) FROM generate_series(1, 60000)),
        'trigger', jsonb_build_object('_tag', 'Once', 'at', 1))`
      yield* sql`INSERT INTO ${t.jobs} (id, task, definition, source, next_fire, next_due, overlap_max, on_limit, on_lost, created_at, updated_at)
        SELECT 'huge', ${task}, ${huge}, 'dynamic', 1, 1, 1, 'skip', 'record', 1, 1`
      yield* sql`INSERT INTO ${t.runs} (job_id, fire_time, due_at, state, manual, payload)
        SELECT 'manual', 1, 1, 'pending', true, jsonb_agg(1e308::numeric) FROM generate_series(1, 60000)`
      // A record written by a node whose clock ran behind.
      yield* sql`INSERT INTO ${t.runs} (job_id, fire_time, due_at, state, started_at, ended_at) VALUES ('skewed', 1, 1, 'succeeded', 10000, 2000)`

      const store = yield* Pg.makeStore({ schema })
      const now = yield* store.now
      const [job] = yield* sql<{ paused: boolean; set_aside: string | null }>`SELECT paused, set_aside FROM ${t.jobs} WHERE id = 'huge'`
      assert.isTrue(job?.paused)
      assert.match(job?.set_aside ?? "", /^oversized: the definition is \d+ bytes as JSON text/)
      const [run] = yield* store.history({ jobId: "manual" })
      assert.strictEqual(run?.state, "failed")
      assert.match(run?.error ?? "", /^oversized: the payload is \d+ bytes/)
      const [skewed] = yield* store.history({ jobId: "skewed" })
      assert.strictEqual(skewed?.endedAt, skewed?.startedAt)
      // Claims go on: a new job of the same task runs.
      yield* store.add(Job.make(taskNamed(task), { id: "fine", payload: null, trigger: Trigger.once(now - 1) }))
      assert.deepStrictEqual((yield* store.claim(claimOf(task))).runs.map((r) => r.jobId), ["fine"])
    }), 60_000)

  it.live("(g) a row no claim can take, written into the table under a running scheduler: the other jobs keep running, the row is reported", () =>
    Effect.gen(function*() {
      const sql: SqlClient.SqlClient = yield* Pg.makeClient({ maxConnections: 1 })
      const schema = "poison_live"
      const store = yield* Pg.makeStore({ schema })
      const t = Tables.make(sql, { schema })
      let runs = 0
      const task = Task.make("tick", Schema.Unknown, () => Effect.sync(() => void runs++))
      const context = yield* Layer.build(
        Scheduler.layer({
          tasks: [task],
          jobs: [0, 1].map((i) => Job.make(task, { id: `tick-${i}`, payload: null, trigger: Trigger.every(200) })),
          pollInterval: "200 millis",
          shutdownGrace: 0
        }).pipe(Layer.provide(Layer.succeed(JobStore, store)))
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      const events: Array<Event> = []
      const collecting = yield* Effect.forkChild(Stream.runForEach(scheduler.events, (event) => Effect.sync(() => void events.push(event))))
      yield* scheduler.awaitReady("20 seconds")
      for (let i = 0; i < 100 && runs < 2; i++) yield* realWait(50)
      assert.isAtLeast(runs, 2, "the healthy jobs never ran")

      // Due at once, and earlier than anything else: every claim locks it first.
      const now = yield* store.now
      yield* writeJob(sql, t, { id: "poison", task: "tick", definition: `{"task": "tick", "trigger": "every full moon"}`, due: now - 60_000 })
      yield* wake(sql, t)
      const before = runs
      for (let i = 0; i < 200 && (runs < before + 6 || !events.some((e) => e._tag === "JobSetAside")); i++) yield* realWait(50)
      yield* Fiber.interrupt(collecting)

      assert.isAtLeast(runs - before, 6, "the healthy jobs stopped running")
      const reported = events.filter((e) => e._tag === "JobSetAside")
      assert.deepStrictEqual(reported.map((e) => [e.jobId, e.reason]), [["poison", "undecodable"]])
      assert.deepStrictEqual(events.filter((e) => e._tag === "LoopFailed" || e._tag === "StoreUnavailable"), [])
      assert.strictEqual((yield* scheduler.health).status, "healthy")
      assert.match((yield* setAsideOf(sql, t, "poison"))?.set_aside ?? "", /^undecodable: /)
      // Each healthy fire ran once and was recorded.
      const records = yield* scheduler.history({ states: ["succeeded"], limit: 10_000 })
      assert.strictEqual(new Set(records.map((r) => `${r.jobId}|${r.fireTime}`)).size, records.length)
    }), 60_000)
})
