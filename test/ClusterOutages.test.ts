/**
 * Multi-process behaviour through outages, with real OS processes against a
 * real PostgreSQL server of this file's own (stopped and started by the
 * tests): the database going away mid-write, every connection killed,
 * server restarts, a database down at start. Handlers write an independent
 * ledger (files, not the database), which is what these tests count.
 */
import { Effect } from "effect"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"
import * as Trigger from "../src/Trigger.ts"
import {
  addJobs,
  assertEverySecond,
  everySecond,
  freshSchema,
  noFatal,
  readLedger,
  spawnWorker,
  startsByFire,
  stopAll,
  tempLedgerDir,
  until,
  withSql,
  within,
  type Worker
} from "./support/Cluster.ts"
import * as TcpProxy from "./support/TcpProxy.ts"

let server: EmbeddedPg.Handle
let url: string
let databaseName: string

beforeAll(async () => {
  // Its own server, so stopping and starting it disturbs no other test file.
  server = await EmbeddedPg.launch({ fast: true })
  databaseName = `steadfast_cluster_${Date.now().toString(36)}`
  url = await Effect.runPromise(EmbeddedPg.createDatabase(server.url, databaseName))
}, 120_000)

afterAll(async () => {
  await server?.dispose()
}, 60_000)

describe("Cluster through outages (real processes, real PostgreSQL)", () => {
  it("the bug this project exists to fix: the database goes away exactly while a fire's next time is being written; scheduling resumes, nothing duplicated", async () => {
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const proxy = await TcpProxy.start({ host: "127.0.0.1", port: server.port })
    // A fire that comes due while the job's previous run is still recorded as
    // running waits for it: with the default `skip`, the last late run after
    // the outage can end just before the next fire is due and yet have its
    // outcome written just after that fire's claim (under load), and the fire
    // is skipped for an overlap that did not happen. Not what this test is about.
    const jobs = everySecond(5, "bug").map((job) => ({ ...job, overlap: { max: 1, onLimit: "wait" as const } }))
    // The jobs come later, from this process: nothing is due before both
    // processes are up and listening to their events.
    const workers = Array.from({ length: 2 }, (_, i) =>
      spawnWorker({ url: proxy.via(url), node: `bug-${i}`, ledgerDir, schema, jobs: [] }))
    const saw = (worker: Worker, tag: string) => worker.lines.some((line) => line._tag === tag)
    let codes: Array<number | null> = []
    let restoredAt = 0
    try {
      await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "JobsRegistered", 60_000)))
      // Armed before the first fire is due: the first statement that writes a
      // job's next fire time is cut off before it reaches the server.
      const cut = proxy.cutOn("SET next_fire = x.next_fire")
      await addJobs(url, schema, jobs)
      await within(cut, 30_000, "a claim to write a next fire time")
      // ... and the database stays away for 3 s, and until both processes said so.
      proxy.setDown(true)
      proxy.dropAll()
      const cutAt = Date.now()
      await until(
        () => Date.now() - cutAt > 3_000 && workers.every((w) => saw(w, "StoreUnavailable")),
        30_000,
        "both processes to report the outage"
      )
      proxy.setDown(false)
      restoredAt = Date.now()
      await until(() => workers.every((w) => saw(w, "StoreRecovered")), 30_000, "both processes to recover")
      await until(() => readLedger(ledgerDir).some((line) => line.at > restoredAt + 3_000), 30_000, "fires after the outage")
    } finally {
      codes = await stopAll(workers)
      await proxy.close()
    }
    noFatal(workers)
    assert.deepStrictEqual(codes, [130, 130])
    const lines = readLedger(ledgerDir)
    const groups = startsByFire(lines)
    assert.deepStrictEqual([...groups.entries()].filter(([, starts]) => starts.length > 1), [])
    const firstAfter = Math.min(...lines.filter((line) => line.at >= restoredAt).map((line) => line.at))
    // Every fire from the first to the last ran exactly once: the ones due
    // during the outage were within the misfire grace, so they ran late, once.
    assertEverySecond(groups, jobs, 0)
    console.log(JSON.stringify({ test: "outage", firstRunAfterRestoreMs: firstAfter - restoredAt }))
  }, 120_000)

  it("pg_terminate_backend of every connection, repeatedly: no process stops, no fire lost or duplicated", async () => {
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const jobs = everySecond(10, "term")
    const workers = Array.from({ length: 3 }, (_, i) =>
      spawnWorker({ url, node: `term-${i}`, ledgerDir, schema, jobs }))
    let codes: Array<number | null> = []
    let terminated = 0
    try {
      await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "JobsRegistered", 60_000)))
      for (let round = 0; round < 12; round++) {
        await new Promise((resolve) => setTimeout(resolve, 400 + (round % 3) * 150))
        const killed = await withSql(server.url, (sql) =>
          sql<{ n: number }>`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
            WHERE datname = ${databaseName} AND pid <> pg_backend_pid()`)
        terminated += killed[0]?.n ?? 0
      }
      const calm = Date.now()
      await until(() => readLedger(ledgerDir).some((line) => line.at > calm + 2_000), 30_000, "fires after the storm")
    } finally {
      codes = await stopAll(workers)
    }
    noFatal(workers)
    assert.deepStrictEqual(codes, [130, 130, 130])
    assert.isTrue(terminated >= 12, `terminated ${terminated} connections`)
    const groups = startsByFire(readLedger(ledgerDir))
    assert.deepStrictEqual([...groups.entries()].filter(([, starts]) => starts.length > 1), [])
    assertEverySecond(groups, jobs, 6)
  }, 120_000)

  it("server restarts mid-run, several times: every process stays alive and scheduling; fires due during the outage follow each job's misfire policy", async () => {
    if (!server.managed) return // DATABASE_URL names a server these tests cannot stop
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const graceMs = 1_500
    const jobs = [
      { id: "restart-coalesce", trigger: Trigger.every("1 second"), graceMs, misfire: { _tag: "Coalesce", keep: "latest" } as const },
      { id: "restart-skip", trigger: Trigger.every("1 second"), graceMs, misfire: { _tag: "Skip" } as const },
      { id: "restart-catchup", trigger: Trigger.every("1 second"), graceMs, misfire: { _tag: "CatchUp", max: 2 } as const }
    ]
    const workers = Array.from({ length: 3 }, (_, i) =>
      spawnWorker({ url, node: `restart-${i}`, ledgerDir, schema, jobs }))
    let codes: Array<number | null> = []
    let lastStart = 0
    try {
      await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "JobsRegistered", 60_000)))
      for (let round = 0; round < 3; round++) {
        await new Promise((resolve) => setTimeout(resolve, 1_500))
        await server.stop()
        // Long enough that, besides the fire claimed ahead before it, more
        // fires pass their grace than catch-up's max: some must be missed.
        await new Promise((resolve) => setTimeout(resolve, 6_000))
        await server.start()
        lastStart = Date.now()
      }
      await until(() => readLedger(ledgerDir).filter((line) => line.at > lastStart + 2_500).length >= 6, 30_000, "fires after the last restart")
    } finally {
      codes = await stopAll(workers)
    }
    noFatal(workers)
    assert.deepStrictEqual(codes, [130, 130, 130])
    for (const worker of workers) assert.isTrue(worker.lines.some((line) => line._tag === "StoreRecovered"), worker.node)
    const groups = startsByFire(readLedger(ledgerDir))
    assert.deepStrictEqual([...groups.entries()].filter(([, starts]) => starts.length > 1), [])
    const runs = await withSql(url, (sql) =>
      sql<{ job_id: string; fire_time: string; state: string; started_at: string | null; due_at: string; note: string | null }>`
        SELECT job_id, fire_time, state, started_at, due_at, note FROM ${sql(schema)}.runs ORDER BY job_id, fire_time`)
    const byJob = (id: string) => runs.filter((r) => r.job_id === id)
    for (const job of jobs) {
      // Every fire left exactly one record: no gaps in the fire times.
      const fires = byJob(job.id).map((r) => Number(r.fire_time))
      for (let i = 1; i < fires.length; i++) assert.strictEqual(fires[i]! - fires[i - 1]!, 1_000, `${job.id} record gap`)
    }
    // A fire claimed within its grace starts a claim round trip and a turn of
    // its process later (its record starts when the handler does): on a
    // loaded machine that can pass the grace by tens of milliseconds.
    const startSlackMs = 500
    const late = (r: { started_at: string | null; due_at: string }) =>
      r.started_at !== null && Number(r.started_at) - Number(r.due_at) > graceMs + startSlackMs
    // Skip: late fires are recorded missed and never run.
    const skipped = byJob("restart-skip").filter((r) => r.state === "missed").length
    assert.isTrue(skipped >= 3, `${skipped} missed skip fires`)
    assert.deepStrictEqual(byJob("restart-skip").filter(late), [])
    // Coalesce: the late fires of an outage become one run, the rest are recorded coalesced.
    const coalesced = byJob("restart-coalesce").filter((r) => r.state === "coalesced").length
    assert.isTrue(coalesced >= 3, `${coalesced} coalesced fires`)
    // One coalesced run per outage (its note says so); a fire that was on time when
    // claimed may still start late, waiting behind it for the overlap slot.
    const coalescedRuns = byJob("restart-coalesce").filter((r) => (r.note ?? "").startsWith("coalesced") && r.state === "succeeded")
    assert.isTrue(coalescedRuns.length >= 1 && coalescedRuns.length <= 3, `${coalescedRuns.length} coalesced runs`)
    // Catch up (max 2): at most two late fires per outage run, older ones are recorded missed.
    const caughtUp = byJob("restart-catchup").filter((r) => r.note === "catch-up of a late fire")
    assert.isTrue(caughtUp.length >= 2 && caughtUp.length <= 6, `${caughtUp.length} caught-up runs`)
    const missed = byJob("restart-catchup").filter((r) => r.state === "missed").length
    assert.isTrue(missed >= 1, `${missed} missed catch-up fires`)
  }, 120_000)

  it("a process started while the database is down waits for it, then schedules", async () => {
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const proxy = await TcpProxy.start({ host: "127.0.0.1", port: server.port })
    proxy.setDown(true)
    const worker = spawnWorker({ url: proxy.via(url), node: "early", ledgerDir, schema, jobs: everySecond(1, "early") })
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_000))
      assert.isTrue(worker.alive())
      proxy.setDown(false)
      await worker.waitFor((line) => line._tag === "JobsRegistered", 30_000)
      await until(() => readLedger(ledgerDir).length > 0, 10_000, "a run")
    } finally {
      await stopAll([worker])
      await proxy.close()
    }
    noFatal([worker])
  }, 60_000)
})
