import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { PgClient } from "@effect/sql-pg"
import { spawn } from "node:child_process"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import { JobStore } from "../src/JobStore.ts"
import * as Job from "../src/Job.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"

const storeOn = (url: string) => Effect.map(Layer.build(PgJobStore.layer({ schema: "bench" }).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })))), (c) => Context.get(c, JobStore))
const task = Task.make("drain", Schema.Unknown, () => Effect.void)
const N = Number(process.env.N ?? 20000)
const BATCH = Number(process.env.BATCH ?? 512)

if (process.argv[2] === "worker") {
  const url = process.argv[3]!
  const out = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const store = yield* storeOn(url)
    let count = 0, idle = 0, claims = 0, tClaim = 0, tFinish = 0
    const start = Date.now()
    let first = 0, lastDone = 0
    while (true) {
      const t0 = performance.now()
      const { runs } = yield* store.claim({ node: process.pid.toString(), tasks: ["drain"], limit: BATCH, leaseMs: 60000 })
      const t1 = performance.now()
      claims++; tClaim += t1 - t0
      if (runs.length === 0) { if (count > 0 && ++idle > 20) break; yield* Effect.sleep(count > 0 ? 5 : 20); continue }
      idle = 0
      if (first === 0) first = Date.now()
      const now = Date.now()
      yield* store.finish(runs.map((r) => ({ id: r.id, token: r.token, state: "succeeded" as const, attempt: r.attempt, error: null, endedAt: r.startedAt })))
      tFinish += performance.now() - t1
      count += runs.length
      lastDone = Date.now()
      if (Date.now() - start > 60000) break
    }
    return { count, claims, tClaim: Math.round(tClaim), tFinish: Math.round(tFinish), first, last: lastDone }
  })))
  console.log(JSON.stringify(out))
  process.exit(0)
}

const pg = await EmbeddedPg.launch({ fast: process.env.FAST === "1", postgresFlags: process.env.STATS ? ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all"] : [] })
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  if (process.env.STATS) {
    const sql0 = yield* Effect.map(Layer.build(PgClient.layer({ url: Redacted.make(pg.url) })), (c) => Context.get(c, PgClient.PgClient))
    yield* sql0`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`
  }
  const store = yield* storeOn(pg.url)
  const now = yield* store.now
  const due = now + 3000
  const jobs = Array.from({ length: N }, (_, i) => Job.make(task, { id: `j${i}`, payload: { i }, trigger: Trigger.once(due) }))
  const t0 = Date.now()
  yield* store.register(jobs, { version: 1, orphans: "keep" })
  console.log("registered", N, "in", Date.now() - t0, "ms")
  if (process.env.STATS) { const sql1 = yield* Effect.map(Layer.build(PgClient.layer({ url: Redacted.make(pg.url) })), (c) => Context.get(c, PgClient.PgClient)); yield* sql1`SELECT pg_stat_statements_reset()` }
  const workers = [0, 1].map(() => new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [...(process.env.PROF ? ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] : []), process.argv[1]!, "worker", pg.url], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.on("exit", () => resolve(out))
  }))
  const results = (yield* Effect.promise(() => Promise.all(workers))).map((o) => JSON.parse(o.trim().split("\n").pop()!))
  console.log(results)
  const first = Math.min(...results.map((r) => r.first)), last = Math.max(...results.map((r) => r.last))
  const total = results.reduce((n, r) => n + r.count, 0)
  if (process.env.STATS) {
    const sql = yield* Effect.map(Layer.build(PgClient.layer({ url: Redacted.make(pg.url) })), (c) => Context.get(c, PgClient.PgClient))
    const rows = yield* sql`SELECT calls, round(total_exec_time)::int AS ms, round(mean_exec_time::numeric, 2) AS mean, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS q FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12`
    for (const r of rows) console.log(r.calls, r.ms, r.mean, r.rows, r.q)
  }
  console.log({ total, ms: last - first, perSec: Math.round(total / ((last - first) / 1000)), dueToFirst: first - (due - now + t0) })
})))
await pg.dispose()
