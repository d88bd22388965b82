import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { PgClient } from "@effect/sql-pg"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import { JobStore } from "../src/JobStore.ts"
import * as Job from "../src/Job.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import * as Claim from "../src/internal/pg/claim.ts"
import * as Runs from "../src/internal/pg/runs.ts"
import * as Tables from "../src/internal/pg/Tables.ts"
import * as FirePlan from "../src/FirePlan.ts"
import { toJob, dueOf } from "../src/internal/pg/rows.ts"

const pg = await EmbeddedPg.launch({ fast: false })
const task = Task.make("drain", Schema.Unknown, () => Effect.void)
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const ctx = yield* Layer.build(PgJobStore.layer({ schema: "bench" }).pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(pg.url) }))))
  const store = Context.get(ctx, JobStore)
  const sql = Context.get(ctx, PgClient.PgClient)
  const t = Tables.make(sql, { schema: "bench" })
  const now = yield* store.now
  yield* store.register(Array.from({ length: 5000 }, (_, i) => Job.make(task, { id: `j${i}`, payload: { i }, trigger: Trigger.once(now - 10) })), { version: 1, orphans: "keep" })
  for (let round = 0; round < 3; round++) {
  yield* sql.withTransaction(Effect.gen(function*() {
    const locked = yield* Claim.lockClaimable(sql, t, { tasks: ["drain"], limit: 512 })
    const at = Tables.ms(locked[0]!.t)
    const fires: any[] = [], advances: any[] = [], ids: string[] = []
    for (const row of locked) {
      const job = yield* Effect.fromResult(toJob(row as any))
      ids.push(job.id)
      const plan = FirePlan.plan(job, Tables.ms(row.next_fire), at)
      for (const f of plan.fires) fires.push({ ord: fires.length, job_id: job.id, fire_time: f.fireTime, due_at: f.dueAt, state: f.state, note: f.note, catch_up: f.catchUp })
      advances.push({ id: job.id, next_fire: plan.nextFire, next_due: dueOf(job, plan.nextFire) })
    }
    const stmt = Claim.settle(sql, t, { t: at, node: "n", limit: 512, leaseMs: 30000, jobIds: ids, fires, advances })
    const [text, params] = stmt.compile()
    const plan = yield* sql.unsafe<{ "QUERY PLAN": string }>("EXPLAIN (ANALYZE, BUFFERS, TIMING) " + text, params)
    if (round === 2) console.log(plan.map((r) => r["QUERY PLAN"]).join("\n"))
    else console.log(plan[plan.length - 1]!["QUERY PLAN"], plan[plan.length - 2]!["QUERY PLAN"])
  }))
  }
})))
await pg.dispose()
