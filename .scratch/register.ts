import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { PgClient } from "@effect/sql-pg"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import { JobStore } from "../src/JobStore.ts"
import * as Job from "../src/Job.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import { toValues } from "../src/internal/pg/rows.ts"
import * as FirePlan from "../src/FirePlan.ts"

const N = Number(process.env.N ?? 100000)
const pg = await EmbeddedPg.launch({ postgresFlags: ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all"] })
const task = Task.make("t", Schema.Unknown, () => Effect.void)
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const sql = Context.get(yield* Layer.build(PgClient.layer({ url: Redacted.make(pg.url) })), PgClient.PgClient)
  yield* sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`
  const stats = Effect.gen(function*() {
    const rows = yield* sql`SELECT calls, round(total_exec_time)::int AS ms, round(total_plan_time)::int AS plan, rows, left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 70) AS q FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 6`
    for (const r of rows) console.log("   ", r.calls, r.ms, r.plan, r.rows, r.q)
    yield* sql`SELECT pg_stat_statements_reset()`
  })
  const store = Context.get(yield* Layer.build(PgJobStore.layer({ schema: "reg" }).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(pg.url) })))), JobStore)
  const now = yield* store.now
  const jobs = Array.from({ length: N }, (_, i) => Job.make(task, { id: `job-${i}`, payload: { device: i }, trigger: i % 2 ? Trigger.every("2 hours", { anchor: now }) : Trigger.cron("0 3 * * *", { timeZone: "Europe/Berlin" }) }))
  yield* sql`SELECT pg_stat_statements_reset()`
  let t0 = performance.now()
  for (const j of jobs) toValues(j)
  console.log("encode", Math.round(performance.now() - t0))
  t0 = performance.now()
  for (const j of jobs) FirePlan.initialFire(j.trigger, now)
  console.log("initialFire", Math.round(performance.now() - t0))
  t0 = performance.now()
  for (const j of jobs) JSON.stringify(toValues(j))
  console.log("encode+json", Math.round(performance.now() - t0))
  t0 = performance.now()
  const r = yield* store.register(jobs, { version: 1, orphans: "keep" })
  console.log("register", r.inserted.length, Math.round(performance.now() - t0), "ms")
  yield* stats
  t0 = performance.now()
  const r2 = yield* store.register(jobs, { version: 1, orphans: "keep" })
  console.log("re-register", r2.unchanged.length, Math.round(performance.now() - t0), "ms")
  yield* stats
  t0 = performance.now()
  const l = yield* store.list
  console.log("list", l.length, Math.round(performance.now() - t0), "ms")
  console.log("rss MB", Math.round(process.memoryUsage().rss / 1e6))
})))
await pg.dispose()
