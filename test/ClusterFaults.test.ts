/**
 * Faults that send no error, across real scheduler processes and a real
 * PostgreSQL: every connection going silent for 20 s (a TCP proxy that
 * swallows bytes without RST), and wall clocks stepped an hour back and an
 * hour forward mid-run (libfaketime in the processes, their monotonic clocks
 * untouched). Handlers write ledgers of their own (a file per process, and in
 * (f) a table without unique key stamped by the database's clock), which is
 * what these tests count.
 */
import { assert, beforeAll, describe, it } from "vitest"
import * as Trigger from "../src/Trigger.ts"
import { readLedger, spawnWorker, startsByFire, stopAll, tempLedgerDir, until, withSql, type Worker } from "./support/Cluster.ts"
import * as Faketime from "./support/Faketime.ts"
import * as Pg from "./support/Pg.ts"
import * as TcpProxy from "./support/TcpProxy.ts"
import type { WorkerJob } from "./support/worker.ts"

let url: string

beforeAll(async () => {
  url = await Pg.databaseUrl()
}, 120_000)

let schemaCounter = 0
const freshSchema = () => `faults_${++schemaCounter}_${Date.now().toString(36)}`

type Line = Worker["lines"][number]

const atOf = (line: Line): number => typeof line.at === "number" ? line.at : Number.NaN

/** The first line tagged `tag` that the worker printed at or after `after` (its `at`, epoch ms). */
const firstAfter = (worker: Worker, tag: string, after: number): Line | undefined =>
  worker.lines.find((line) => line._tag === tag && atOf(line) >= after)

/** The loop events (failed, stalled, restarted) each worker printed, for the summary. */
const loopEvents = (workers: ReadonlyArray<Worker>) =>
  Object.fromEntries(workers.map((w) => [
    w.node,
    w.lines.filter((line) => line._tag.startsWith("Loop")).map((line) => `${line._tag} ${String(line.loop)}`)
  ]))

const noFatal = (workers: ReadonlyArray<Worker>) => {
  for (const worker of workers) {
    const fatal = worker.lines.find((line) => line._tag === "Fatal")
    assert.isUndefined(fatal, `${worker.node}: ${JSON.stringify(fatal)} ${worker.stderr().slice(-2_000)}`)
  }
}

interface RunRow {
  readonly job_id: string
  readonly fire_time: number
  readonly due_at: number
  readonly state: string
  readonly started_at: number | null
  readonly note: string | null
}

// bigint columns arrive as strings or BigInts: numbers here (epoch ms fit).
const runsOf = async (schema: string): Promise<ReadonlyArray<RunRow>> =>
  (await withSql(url, (sql) =>
    sql<{ job_id: string; fire_time: unknown; due_at: unknown; state: string; started_at: unknown; note: string | null }>`
      SELECT job_id, fire_time, due_at, state, started_at, note FROM ${sql(schema)}.runs ORDER BY job_id, fire_time`))
    .map((r) => ({
      ...r,
      fire_time: Number(r.fire_time),
      due_at: Number(r.due_at),
      started_at: r.started_at === null ? null : Number(r.started_at)
    }))

/** Every fire of each job, from its first record to its last, has a record: one per second. */
const assertNoGap = (runs: ReadonlyArray<RunRow>, jobs: ReadonlyArray<{ readonly id: string }>, atLeast: number) => {
  for (const job of jobs) {
    const fires = runs.filter((r) => r.job_id === job.id).map((r) => r.fire_time)
    assert.isAtLeast(fires.length, atLeast, `${job.id}: ${fires.length} records`)
    for (let i = 1; i < fires.length; i++) assert.strictEqual(fires[i]! - fires[i - 1]!, 1_000, `${job.id}: record gap`)
  }
}

/**
 * The silence test's jobs: two per misfire policy, every second. A fire that
 * comes due while the previous run is still recorded as running waits for it
 * (with `skip`, recorder lag can skip one: see the outage test in
 * `Cluster.test.ts`).
 */
const silenceJobs = (graceMs: number): ReadonlyArray<WorkerJob> =>
  ([
    ["coalesce", { _tag: "Coalesce", keep: "latest" }],
    ["skip", { _tag: "Skip" }],
    ["catchup", { _tag: "CatchUp", max: 2 }]
  ] as const).flatMap(([name, misfire]) =>
    [0, 1].map((i) => ({
      id: `silent-${name}-${i}`,
      trigger: Trigger.every("1 second"),
      graceMs,
      misfire,
      overlap: { max: 1, onLimit: "wait" as const }
    }))
  )

/**
 * Each worker reported the silence (`StoreUnavailable`) within `boundMs` of
 * its start, and its health was not `healthy` from then to the silence's end.
 * Returns how long each took to notice.
 */
const assertNoticed = (
  workers: ReadonlyArray<Worker>,
  t: { readonly silenceStart: number; readonly silenceEnd: number; readonly boundMs: number }
): ReadonlyArray<number> =>
  workers.map((worker) => {
    const noticedAt = atOf(firstAfter(worker, "StoreUnavailable", t.silenceStart)!)
    assert.isAtMost(noticedAt - t.silenceStart, t.boundMs, `${worker.node} noticed after ${noticedAt - t.silenceStart} ms`)
    const statuses = worker.lines.filter((line) => line._tag === "Status")
    const inForce = (at: number) => statuses.filter((line) => atOf(line) <= at).at(-1)?.health
    const during = statuses.filter((line) => atOf(line) > noticedAt && atOf(line) < t.silenceEnd)
    // The status is sampled every 200 ms: it says so within that of the event.
    assert.notStrictEqual(inForce(noticedAt + 500), "healthy", `${worker.node} health after it noticed`)
    assert.deepStrictEqual(during.filter((line) => line.health === "healthy"), [], `${worker.node} said healthy in the silence`)
    assert.strictEqual(inForce(t.silenceEnd - 1), "store-unavailable", `${worker.node} health at the end of the silence`)
    return noticedAt - t.silenceStart
  })

/**
 * Every fire of the silence test's jobs has a record, in the state its misfire
 * policy gives it, and what ran is what the handlers' ledger says ran.
 */
const assertMisfirePolicies = (
  runs: ReadonlyArray<RunRow>,
  jobs: ReadonlyArray<WorkerJob>,
  starts: ReadonlyMap<string, ReadonlyArray<unknown>>,
  t: { readonly silenceStart: number; readonly silenceEnd: number; readonly stoppedAt: number; readonly graceMs: number }
) => {
  assertNoGap(runs, jobs, 20)
  // (A fire that came due as the processes were told to stop may be left pending, for the next start.)
  const odd = runs.filter((r) =>
    !["succeeded", "missed", "coalesced"].includes(r.state) && !(r.state === "pending" && r.due_at >= t.stoppedAt - 1_000)
  )
  assert.deepStrictEqual(odd.map((r) => ({ ...r, ...t })), [])
  // What ran is what the ledger says ran, once each.
  const ran = runs.filter((r) => r.state === "succeeded").map((r) => `${r.job_id}|${r.fire_time}`).sort()
  assert.deepStrictEqual([...starts.keys()].sort(), ran)
  // A fire claimed within its grace starts a claim round trip and a turn of
  // its process later (its record starts when the handler does): on a loaded
  // machine that can pass the grace by tens of milliseconds.
  const startSlackMs = 500
  const late = (r: RunRow) => r.started_at !== null && r.started_at - r.due_at > t.graceMs + startSlackMs
  const silent = (r: RunRow) => r.due_at > t.silenceStart && r.due_at < t.silenceEnd - t.graceMs - 500
  const byPolicy = (name: string) => runs.filter((r) => r.job_id.startsWith(`silent-${name}-`))
  // Skip: the fires due in the silence are recorded missed; nothing ran late.
  for (const r of byPolicy("skip").filter(silent)) assert.strictEqual(r.state, "missed", `skip ${r.fire_time}`)
  assert.deepStrictEqual(byPolicy("skip").filter(late), [])
  // Coalesce: they became one run per job (its note says how many), the rest are recorded coalesced.
  const coalescedRuns = byPolicy("coalesce").filter((r) => (r.note ?? "").startsWith("coalesced ") && r.state === "succeeded")
  assert.strictEqual(coalescedRuns.length, 2, JSON.stringify(coalescedRuns))
  for (const r of byPolicy("coalesce").filter(silent)) assert.include(["coalesced", "succeeded"], r.state, `coalesce ${r.fire_time}`)
  // Catch up (max 2): the two latest late fires of each job ran, the older ones are recorded missed.
  const caughtUp = byPolicy("catchup").filter((r) => r.note === "catch-up of a late fire" && r.state === "succeeded")
  assert.strictEqual(caughtUp.length, 4, JSON.stringify(caughtUp))
  assert.isAtLeast(byPolicy("catchup").filter((r) => silent(r) && r.state === "missed").length, 2 * 14)
}

interface DbLedgerRow {
  readonly job_id: string
  readonly fire_time: number
  readonly node: string
  /** When the handler wrote it, by the database's clock (epoch ms). */
  readonly at: number
}

/** The handlers' ledger table, for fires due before `before` (a later one may have been claimed, not run). */
const dbLedger = async (table: string, before: number): Promise<ReadonlyArray<DbLedgerRow>> =>
  (await withSql(url, (sql) =>
    sql<{ job_id: string; fire_time: unknown; node: string; at: unknown }>`
      SELECT job_id, fire_time, node, at FROM ${sql(table)} ORDER BY job_id, fire_time`))
    .map((r) => ({ ...r, fire_time: Number(r.fire_time), at: Number(r.at) }))
    .filter((r) => r.fire_time < before)

/**
 * The clock-jump test's ledger: every fire of every job once, without a gap,
 * from before the jump to 7 s past it; each process ran its own jobs after
 * the jump; every start on time by the database's clock (never early, late
 * by less than 1 s).
 */
const assertOnceOnTime = (rows: ReadonlyArray<DbLedgerRow>, jobs: ReadonlyArray<WorkerJob>, jumpedAt: number) => {
  const counts = new Map<string, number>()
  for (const row of rows) counts.set(`${row.job_id}|${row.fire_time}`, (counts.get(`${row.job_id}|${row.fire_time}`) ?? 0) + 1)
  assert.deepStrictEqual([...counts.entries()].filter(([, n]) => n > 1), [])
  for (const job of jobs) {
    const fires = rows.filter((r) => r.job_id === job.id).map((r) => r.fire_time)
    for (let i = 1; i < fires.length; i++) assert.strictEqual(fires[i]! - fires[i - 1]!, 1_000, `${job.id}: gap`)
    assert.isBelow(fires[0]!, jumpedAt, `${job.id} ran before the jump`)
    assert.isAbove(fires.at(-1)!, jumpedAt + 7_000, `${job.id} ran after the jump`)
  }
  for (const node of ["back", "ahead"]) {
    const mine = rows.filter((r) => r.job_id.startsWith(`${node}-`))
    assert.isTrue(mine.every((r) => r.node === node))
    assert.isAtLeast(mine.filter((r) => r.fire_time > jumpedAt).length, 2 * 7, `${node} after the jump`)
  }
  const lateness = rows.map((r) => ({ ...r, lateMs: r.at - r.fire_time }))
  assert.deepStrictEqual(lateness.filter((r) => r.lateMs < 0), [], "early")
  assert.deepStrictEqual(lateness.filter((r) => r.lateMs >= 1_000), [], "late by a second or more")
}

/** Waits until `condition` resolves true, polling every 200 ms; rejects after `timeoutMs`. */
const untilAsync = async (condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN
}

describe("Cluster faults (real processes, real PostgreSQL)", () => {
  it("(a) every connection of 2 processes silent for 20 s: each reports it within its deadline and is not healthy meanwhile; scheduling resumes within 5 s; nothing lost beyond the misfire policy, nothing run twice", async () => {
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const target = new URL(url)
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) })
    const deadlineMs = 2_000
    const pollMs = 500
    const graceMs = 1_500
    const silenceMs = 20_000
    const jobs = silenceJobs(graceMs)
    const workers = Array.from({ length: 2 }, (_, i) =>
      spawnWorker({
        url: proxy.via(url),
        node: `silent-${i}`,
        ledgerDir,
        schema,
        jobs,
        pollMs,
        deadlines: { default: `${deadlineMs} millis` },
        reportStatus: true
      }))
    let codes: Array<number | null> = []
    let silenceStart = 0
    let silenceEnd = 0
    let stoppedAt = 0
    try {
      await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "JobsRegistered", 60_000)))
      const warm = Date.now()
      await until(() => readLedger(ledgerDir).some((line) => line.at > warm + 2_000), 15_000, "fires before the silence")
      proxy.setBlackhole(true)
      silenceStart = Date.now()
      await until(
        () => workers.every((w) => firstAfter(w, "StoreUnavailable", silenceStart) !== undefined),
        silenceMs,
        "both processes to report the silence"
      )
      await until(() => Date.now() - silenceStart >= silenceMs, silenceMs + 5_000, "the end of the silence")
      proxy.setBlackhole(false)
      silenceEnd = Date.now()
      await until(
        () => workers.every((w) => firstAfter(w, "StoreRecovered", silenceEnd) !== undefined),
        10_000,
        "both processes to recover"
      )
      // Then the backlog drains: every job runs a fire due 2 s after both recovered.
      const recovered = Math.max(...workers.map((w) => atOf(firstAfter(w, "StoreRecovered", silenceEnd)!)))
      await until(() => {
        const ran = new Set(readLedger(ledgerDir).filter((line) => line.fireTime >= recovered + 2_000).map((line) => line.jobId))
        return jobs.every((job) => ran.has(job.id))
      }, 15_000, "every job to run on time again")
    } finally {
      stoppedAt = Date.now()
      codes = await stopAll(workers)
      await proxy.close()
    }
    noFatal(workers)
    assert.deepStrictEqual(codes, [130, 130])

    // Noticed: the first store call after the silence began fails at its
    // deadline, and the dispatcher calls at least every poll (and every fire).
    const noticedMs = assertNoticed(workers, { silenceStart, silenceEnd, boundMs: deadlineMs + pollMs + 1_000 })
    // Recovered, and scheduling again, within 5 s of the silence ending.
    const recoveredMs = workers.map((w) => atOf(firstAfter(w, "StoreRecovered", silenceEnd)!) - silenceEnd)
    for (const [i, ms] of recoveredMs.entries()) assert.isAtMost(ms, 5_000, `${workers[i]!.node} recovered after ${ms} ms`)
    // ... and healthy again: the silence was a store outage, no loop failed over it.
    for (const worker of workers) {
      const last = worker.lines.filter((line) => line._tag === "Status").at(-1)
      assert.strictEqual(last?.health, "healthy", `${worker.node}: ${JSON.stringify(loopEvents([worker]))}`)
    }
    const lines = readLedger(ledgerDir)
    const firstRunMs = Math.min(...lines.filter((line) => line.kind === "start" && line.at >= silenceEnd).map((line) => line.at)) -
      silenceEnd
    assert.isAtMost(firstRunMs, 5_000)

    // Nothing ran twice (the handlers' own ledger).
    const starts = startsByFire(lines)
    assert.deepStrictEqual([...starts.entries()].filter(([, group]) => group.length > 1), [])
    // Every fire has a record, and it is what its policy says.
    const runs = await runsOf(schema)
    assertMisfirePolicies(runs, jobs, starts, { silenceStart, silenceEnd, stoppedAt, graceMs })
    console.log(JSON.stringify({
      test: "silence",
      silenceMs: silenceEnd - silenceStart,
      noticedMs,
      recoveredMs,
      firstRunAfterSilenceMs: firstRunMs,
      records: Object.fromEntries([...new Set(runs.map((r) => r.state))].map((state) => [state, runs.filter((r) => r.state === state).length])),
      loopEvents: loopEvents(workers)
    }))
  }, 120_000)

  it("(f) one process's wall clock jumps back 1 hour and another's forward 1 hour: both keep running every fire once, on time by the database's clock", async () => {
    assert.isTrue(Faketime.installed(), `libfaketime is missing (${Faketime.library}): apt-get install -y faketime (.ci/run does)`)
    const schema = freshSchema()
    const ledgerDir = tempLedgerDir()
    const table = `ledger_${schema}`
    await withSql(url, (sql) => sql`CREATE TABLE ${sql(table)} (job_id text, fire_time bigint, node text, at bigint)`)
    const shared: ReadonlyArray<WorkerJob> = Array.from({ length: 4 }, (_, i) => ({ id: `shared-${i}`, trigger: Trigger.every("1 second") }))
    // Jobs only one of the two can run (their task is its alone): each process
    // must keep scheduling by itself, not lean on the other.
    const own = (node: string): ReadonlyArray<WorkerJob> =>
      [0, 1].map((i) => ({ id: `${node}-${i}`, trigger: Trigger.every("1 second"), task: `only-${node}` }))
    const clocks = { back: Faketime.make(), ahead: Faketime.make() }
    const workers = (["back", "ahead"] as const).map((node) =>
      spawnWorker({
        url,
        node,
        ledgerDir,
        schema,
        jobs: [...shared, ...own(node)],
        pollMs: 1_000,
        dbLedger: table,
        env: clocks[node].env()
      }))
    let codes: Array<number | null> = []
    let jumpedAt = 0
    let stoppedAt = 0
    const nowDb = async () =>
      Number((await withSql(url, (sql) => sql<{ t: string }>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS t`))[0]!.t)
    const nodesWithFiresAfter = async (t: number) =>
      (await withSql(url, (sql) => sql<{ node: string }>`SELECT DISTINCT node FROM ${sql(table)} WHERE fire_time > ${t}`)).length
    try {
      await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "JobsRegistered", 60_000)))
      const warm = await nowDb()
      // Both processes ran fires (the ledger is the database's) before the jump ...
      await untilAsync(async () => (await nodesWithFiresAfter(warm + 2_000)) === 2, 15_000, "fires of both before the jump")
      clocks.back.set("-1h")
      clocks.ahead.set("+1h")
      jumpedAt = await nowDb()
      // ... and 8 s past it.
      await untilAsync(async () => (await nodesWithFiresAfter(jumpedAt + 8_000)) === 2, 30_000, "fires of both 8 s after the jump")
    } finally {
      stoppedAt = await nowDb()
      codes = await stopAll(workers)
      clocks.back.dispose()
      clocks.ahead.dispose()
    }
    noFatal(workers)
    assert.deepStrictEqual(codes, [130, 130])

    const rows = await dbLedger(table, stoppedAt)
    const jobs = [...shared, ...own("back"), ...own("ahead")]
    assertOnceOnTime(rows, jobs, jumpedAt)
    // The store agrees: every fire succeeded, none missed or skipped.
    const runs = (await runsOf(schema)).filter((r) => r.fire_time < stoppedAt)
    assert.deepStrictEqual(runs.filter((r) => r.state !== "succeeded"), [])
    assert.strictEqual(runs.length, rows.length)
    // The file ledgers (the processes' own, stepped, clocks) count the same starts, once each.
    const starts = startsByFire(readLedger(ledgerDir).filter((line) => line.fireTime < stoppedAt))
    assert.deepStrictEqual([...starts.entries()].filter(([, group]) => group.length > 1), [])
    assert.strictEqual(starts.size, rows.length)

    const lateness = rows.map((r) => ({ ...r, lateMs: r.at - r.fire_time }))
    const summary = (node: string, phase: "before" | "after") => {
      const ms = lateness.filter((r) => r.node === node && (phase === "before" ? r.fire_time < jumpedAt : r.fire_time > jumpedAt))
        .map((r) => r.lateMs)
      return { fires: ms.length, p50: percentile(ms, 0.5), p99: percentile(ms, 0.99), max: Math.max(...ms) }
    }
    console.log(JSON.stringify({
      test: "clock-jumps",
      latenessMs: Object.fromEntries(["back", "ahead"].map((node) => [node, { before: summary(node, "before"), after: summary(node, "after") }])),
      loopEvents: loopEvents(workers)
    }))
  }, 120_000)
})
