/**
 * The PostgreSQL store behind PgBouncer in transaction mode (the Debian
 * package; `.ci/run` installs it): no prepared statements, no session state,
 * and notifications that never arrive, detected and reported.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schema, Stream } from "effect"
import { PgClient } from "@effect/sql-pg"
import { afterAll, beforeAll } from "vitest"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import type * as Run from "../src/Run.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import { readLedger, spawnWorker, startsByFire, stopAll, tempLedgerDir, type Worker } from "./support/Cluster.ts"
import * as Pg from "./support/Pg.ts"
import * as PgBouncer from "./support/PgBouncer.ts"

let bouncer: PgBouncer.PgBouncer
let url: string

beforeAll(async () => {
  const direct = await Pg.databaseUrl()
  bouncer = await PgBouncer.start(direct, { poolSize: 4 })
  url = bouncer.via(direct)
}, 60_000)

afterAll(async () => {
  await bouncer?.dispose()
}, 30_000)

const taskNamed = (name: string) => Task.make(name, Schema.Unknown, () => Effect.void)

/** A store through PgBouncer, on a pool of its own (one "process"), without prepared statements. */
const storeThroughPooler = (schema: string, options: PgJobStore.Options = { pooler: "transaction" }) =>
  Effect.map(
    Layer.build(
      PgJobStore.layer({ schema, ...options }).pipe(
        Layer.provide(PgClient.layer(PgJobStore.clientConfig({ url: Redacted.make(url), pooler: "transaction", maxConnections: 4 })))
      )
    ),
    (context) => Context.get(context, JobStore)
  )

/** Waits until the store's notification status is `status`; fails the test after `ms`. */
const statusBecomes = (store: JobStore["Service"], status: string, ms: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while ((yield* store.notifications!) !== status) {
      if (Date.now() > deadline) return assert.fail(`notifications never ${status}`)
      yield* Effect.sleep(50)
    }
  })

describe("PgJobStore behind PgBouncer (transaction mode)", () => {
  it.live("four processes claim through the pooler: every fire once, none missed; notifications reported unavailable", () =>
    Effect.gen(function*() {
      const stores = yield* Effect.all(
        Array.from({ length: 4 }, () => storeThroughPooler("bouncer")),
        { concurrency: "unbounded" }
      )
      const [first] = stores
      const task = `task-${Date.now().toString(36)}`
      const now = yield* first!.now
      const jobs = Array.from({ length: 200 }, (_, i) =>
        Job.make(taskNamed(task), { id: `${task}-${i}`, payload: null, trigger: Trigger.once(now - 10) }))
      // Every process registers at once, as at start-up: transactions on
      // whatever server connection the pooler hands out.
      yield* Effect.all(stores.map((store) => store.register(jobs, { version: 1, orphans: "keep" })), { concurrency: "unbounded" })

      const claimed: Array<Run.Claimed> = []
      const worker = (store: JobStore["Service"], node: string) =>
        Effect.gen(function*() {
          for (let round = 0; round < 50 && claimed.length < jobs.length; round++) {
            const { runs } = yield* store.claim({ node, tasks: [task], limit: 20, leaseMs: 30_000 })
            claimed.push(...runs)
            const accepted = yield* store.finish(runs.map((run) => ({
              id: run.id,
              token: run.token,
              state: "succeeded" as const,
              attempt: run.attempt,
              error: null,
              endedAt: run.startedAt + 1
            })))
            assert.isTrue(accepted.every((ok) => ok))
          }
        })
      yield* Effect.all(stores.map((store, i) => worker(store, `n${i}`)), { concurrency: "unbounded" })
      const keys = claimed.map((run) => `${run.jobId}|${run.fireTime}`)
      assert.strictEqual(new Set(keys).size, keys.length, "a fire claimed twice")
      assert.strictEqual(keys.length, jobs.length, "a fire missed")

      // With `pooler: "transaction"` the store does not LISTEN (session
      // state), and says notifications are unavailable at once.
      yield* Effect.forkChild(Stream.runDrain(first!.changes))
      yield* statusBecomes(first!, "unavailable", 1_000)
    }), 60_000)

  it.live("without the pooler option, the notification probe finds that notifications do not pass the pooler", () =>
    Effect.gen(function*() {
      const store = yield* storeThroughPooler("bouncerprobe", { notificationProbe: { timeout: "1 second" } })
      assert.strictEqual(yield* store.notifications!, "unknown")
      yield* Effect.forkChild(Stream.runDrain(store.changes))
      yield* statusBecomes(store, "unavailable", 5_000)
    }), 30_000)
})

describe("Cluster behind PgBouncer (real processes)", () => {
  it("(g) three processes through PgBouncer in transaction mode: 0 duplicates, 0 lost, healthy, notifications unavailable", async () => {
    const ledgerDir = tempLedgerDir()
    const schema = `bouncer_cluster_${Date.now().toString(36)}`
    const jobs = Array.from({ length: 20 }, (_, i) => ({ id: `b-${i}`, trigger: Trigger.every("1 second") }))
    const workers: Array<Worker> = Array.from({ length: 3 }, (_, i) =>
      spawnWorker({ url, node: `bouncer-${i}`, ledgerDir, schema, jobs, pooler: "transaction", reportStatus: true }))
    try {
      await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "Ready", 30_000)))
      await Promise.all(workers.map((w) =>
        w.waitFor((line) => line._tag === "Status" && line["notifications"] === "unavailable", 20_000)
      ))
      // Ten seconds of every-second fires.
      const until = Date.now() + 10_000
      while (Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 250))
      for (const worker of workers) {
        const statuses = worker.lines.filter((line) => line._tag === "Status")
        assert.strictEqual(statuses.at(-1)?.["health"], "healthy", `${worker.node}: ${JSON.stringify(statuses)}`)
        assert.isUndefined(worker.lines.find((line) => line._tag === "Fatal"), worker.stderr().slice(-2_000))
        assert.isFalse(/26000|25P02/.test(worker.stderr()), worker.stderr().slice(-2_000))
      }
    } finally {
      await stopAll(workers)
    }
    const groups = startsByFire(readLedger(ledgerDir))
    for (const [key, starts] of groups) assert.strictEqual(starts.length, 1, `${key} ran ${starts.length} times`)
    for (const job of jobs) {
      const fires = [...groups.keys()].filter((key) => key.startsWith(`${job.id}|`)).map((key) => Number(key.split("|")[1]))
        .sort((a, b) => a - b)
      assert.isAtLeast(fires.length, 9, `${job.id} ran ${fires.length} fires`)
      for (let i = 1; i < fires.length; i++) assert.strictEqual(fires[i]! - fires[i - 1]!, 1_000, `${job.id}: a fire lost`)
    }
  }, 90_000)
})
