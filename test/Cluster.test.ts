/**
 * Multi-process behaviour with real OS processes against a real PostgreSQL:
 * start-up races, exactly-once fires, killed and paused processes, wrong
 * clocks. Handlers write an independent ledger (files, not the database),
 * which is what these tests count. Outages and killed connections:
 * `ClusterOutages.test.ts`.
 */
import { assert, beforeAll, describe, it } from "vitest"
import * as Trigger from "../src/Trigger.ts"
import {
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
  type Worker
} from "./support/Cluster.ts"
import * as Pg from "./support/Pg.ts"

let url: string

beforeAll(async () => {
  url = await Pg.databaseUrl()
}, 120_000)

describe("Cluster (real processes, real PostgreSQL)", () => {
  it("start-up race: 8 processes starting at once with the same jobs: no error, each job stored once", async () => {
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const jobs = everySecond(20, "race")
    const workers = Array.from({ length: 8 }, (_, i) =>
      spawnWorker({ url, node: `race-${i}`, ledgerDir, schema, jobs, pollMs: 1_000 }))
    try {
      await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "JobsRegistered", 60_000)))
      noFatal(workers)
      const rows = await withSql(url, (sql) =>
        sql<{ id: string; n: number }>`SELECT id, count(*)::int AS n FROM ${sql(schema)}.jobs GROUP BY id`)
      assert.strictEqual(rows.length, 20)
      assert.isTrue(rows.every((row) => row.n === 1))
      for (const worker of workers) assert.isFalse(worker.stderr().includes("duplicate key"), worker.stderr())
    } finally {
      const codes = await stopAll(workers)
      // 130: the program was interrupted by the signal and shut down cleanly (Effect's convention).
      assert.deepStrictEqual(codes, Array(8).fill(130))
    }
  }, 120_000)

  it("exactly once: 4 processes, 50 jobs firing every second for 20 s: every fire ran exactly once", async () => {
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const jobs = everySecond(50, "tick")
    const workers = Array.from({ length: 4 }, (_, i) =>
      spawnWorker({ url, node: `tick-${i}`, ledgerDir, schema, jobs }))
    let codes: Array<number | null> = []
    try {
      await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "JobsRegistered", 60_000)))
      const started = Date.now()
      await until(() => Date.now() - started > 20_000, 25_000, "20 s of fires")
    } finally {
      codes = await stopAll(workers)
    }
    noFatal(workers)
    assert.deepStrictEqual(codes, [130, 130, 130, 130])
    const groups = startsByFire(readLedger(ledgerDir))
    const duplicates = [...groups.entries()].filter(([, starts]) => starts.length > 1)
    assert.deepStrictEqual(duplicates, [])
    // No gaps: each job's fires are every second from its first to its last.
    assertEverySecond(groups, jobs, 19)
    // The work was shared: claiming ahead, each process claims its share of
    // every instant's fires (its place among the nodes of the nodes table),
    // so each of the four ran some.
    const tally: Record<string, number> = {}
    for (const [start] of groups.values()) tally[start!.node] = (tally[start!.node] ?? 0) + 1
    assert.deepStrictEqual(Object.keys(tally).sort(), ["tick-0", "tick-1", "tick-2", "tick-3"], `runs came from ${JSON.stringify(tally)}`)
  }, 120_000)

  it("a process killed with SIGKILL mid-run: after its lease, its run is retried elsewhere (retry) or recorded lost (record)", async () => {
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const at = Date.now() + 3_000
    const jobs = [
      { id: "killed-retry", trigger: Trigger.once(at), sleepMs: 5_000, onLost: "retry" as const },
      { id: "killed-record", trigger: Trigger.once(at), sleepMs: 5_000, onLost: "record" as const }
    ]
    const timing = { leaseMs: 1_500, heartbeatMs: 300, reapMs: 300 }
    const victim = spawnWorker({ url, node: "victim", ledgerDir, schema, jobs, ...timing })
    let survivor: Worker | undefined
    try {
      await until(() => readLedger(ledgerDir).filter((line) => line.kind === "start").length === 2, 30_000, "both runs started")
      // Killed as soon as both runs started, before the survivor is spawned:
      // a survivor slow to start (seconds on a loaded machine) must not let
      // the victim's runs finish before the kill.
      victim.signal("SIGKILL")
      await victim.exited
      assert.deepStrictEqual(readLedger(ledgerDir).filter((line) => line.kind === "end"), [], "the victim was killed mid-run")
      survivor = spawnWorker({ url, node: "survivor", ledgerDir, schema, jobs, ...timing })
      await until(
        () => readLedger(ledgerDir).some((line) => line.kind === "end" && line.node === "survivor"),
        60_000,
        "the survivor to finish the retried run",
        [victim, survivor]
      )
    } finally {
      await stopAll([victim, ...(survivor ? [survivor] : [])])
    }
    const lines = readLedger(ledgerDir)
    const retried = lines.filter((line) => line.jobId === "killed-retry" && line.kind === "start")
      .sort((a, b) => a.attempt - b.attempt)
    assert.deepStrictEqual(retried.map((line) => [line.node, line.attempt, line.fireTime]), [["victim", 1, at], ["survivor", 2, at]])
    assert.isFalse(lines.some((line) => line.jobId === "killed-record" && line.node === "survivor"))
    const runs = await withSql(url, (sql) =>
      sql<{ job_id: string; state: string; node: string | null; attempt: number }>`
        SELECT job_id, state, node, attempt FROM ${sql(schema)}.runs ORDER BY job_id`)
    assert.deepStrictEqual(runs.map((r) => [r.job_id, r.state, r.node, r.attempt]), [
      ["killed-record", "lost", "victim", 1],
      ["killed-retry", "succeeded", "survivor", 2]
    ])
    assert.isTrue(survivor!.lines.some((line) => line._tag === "RunLost" && line.jobId === "killed-record"))
  }, 120_000)

  it("a process paused past its lease (SIGSTOP, SIGCONT) cannot overwrite the newer outcome", async () => {
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const at = Date.now() + 3_000
    const jobs = [{ id: "paused", trigger: Trigger.once(at), sleepMs: 3_000, onLost: "retry" as const }]
    const timing = { leaseMs: 1_500, heartbeatMs: 300, reapMs: 300 }
    const sleeper = spawnWorker({ url, node: "sleeper", ledgerDir, schema, jobs, ...timing })
    let other: Worker | undefined
    try {
      await until(() => readLedger(ledgerDir).some((line) => line.kind === "start"), 30_000, "the run to start")
      sleeper.signal("SIGSTOP")
      other = spawnWorker({ url, node: "other", ledgerDir, schema, jobs, ...timing })
      await until(
        () => readLedger(ledgerDir).some((line) => line.kind === "end" && line.node === "other"),
        30_000,
        "the take-over to finish"
      )
      sleeper.signal("SIGCONT")
      await sleeper.waitFor((line) => line._tag === "RunLeaseLost", 30_000)
    } finally {
      await stopAll([sleeper, ...(other ? [other] : [])])
    }
    const runs = await withSql(url, (sql) =>
      sql<{ state: string; node: string | null; attempt: number }>`SELECT state, node, attempt FROM ${sql(schema)}.runs`)
    assert.deepStrictEqual(runs.map((r) => [r.state, r.node, r.attempt]), [["succeeded", "other", 2]])
    // The paused node came back, learnt it lost the lease, and its outcome was never written.
    assert.isFalse(sleeper.lines.some((line) => line._tag === "RunSucceeded"))
  }, 120_000)

  it("nodes whose clocks are wrong by minutes neither fire early nor duplicate: the database clock decides", async () => {
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const jobs = everySecond(5, "skew")
    const workers = [
      spawnWorker({ url, node: "ahead", ledgerDir, schema, jobs, clockSkewMs: 5 * 60_000 }),
      spawnWorker({ url, node: "behind", ledgerDir, schema, jobs, clockSkewMs: -5 * 60_000 })
    ]
    try {
      await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "JobsRegistered", 60_000)))
      const started = Date.now()
      await until(() => Date.now() - started > 6_000, 10_000, "6 s of fires")
    } finally {
      await stopAll(workers)
    }
    noFatal(workers)
    const lines = readLedger(ledgerDir).filter((line) => line.kind === "start")
    // Handlers record the real time: no fire started before it was due.
    const early = lines.filter((line) => line.at < line.fireTime)
    assert.deepStrictEqual(early, [])
    const groups = startsByFire(lines)
    assert.deepStrictEqual([...groups.entries()].filter(([, starts]) => starts.length > 1), [])
    assertEverySecond(groups, jobs, 5)
  }, 60_000)
})
