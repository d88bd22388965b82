/**
 * One clock for records (issue 11, item 4): two real scheduler processes, one
 * whose wall clock runs two hours behind and one two hours ahead
 * (libfaketime; their timers and monotonic clocks keep real time), run jobs
 * of their own against one PostgreSQL, with a short retention. Every record
 * must take its start and end from the database's clock: its duration is
 * never negative and within the handler's real duration (plus the latency of
 * claiming and recording), and the janitor keeps each record for its full
 * retention, then prunes it.
 *
 * What really ran is counted outside the library: each handler appends its
 * start and end to a file (the process's own clock, wrong by two hours but
 * by a constant, so differences are real durations) and stamps its start
 * into a table with the database's clock.
 */
import { Effect } from "effect"
import { assert, beforeAll, it } from "vitest"
import * as Trigger from "../src/Trigger.ts"
import { readLedger, spawnWorker, stopAll, tempLedgerDir, withSql, type Worker } from "./support/Cluster.ts"
import * as Faketime from "./support/Faketime.ts"
import * as Pg from "./support/Pg.ts"
import type { WorkerJob } from "./support/worker.ts"

let url: string

beforeAll(async () => {
  url = await Pg.databaseUrl()
}, 120_000)

/** Retention of the workers' history. */
const maxAgeMs = 6_000
/** How often their janitors prune. */
const janitorMs = 500
/** What each handler does: sleep this long. */
const sleepMs = 150
/** Claiming before the handler starts, plus recording after it ends: at most this much. */
const latencyMs = 1_000
/** How much later than the handler's end the database ledger may place it (its insert comes after the start). */
const ledgerSlackMs = 250

interface RecordRow {
  readonly id: string
  readonly job_id: string
  readonly fire_time: string
  readonly attempt: number
  readonly node: string
  readonly started_at: string
  readonly ended_at: string
}

interface Seen {
  readonly row: RecordRow
  /** The database's clock at the last poll that saw it. */
  lastSeen: number
  /** The database's clock at the first poll that no longer did. */
  goneAt: number | null
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

it("records of nodes 2 h behind and 2 h ahead: durations non-negative and real, each kept for its full retention", async () => {
  assert.isTrue(Faketime.installed(), `libfaketime is missing (${Faketime.library}): apt-get install -y faketime (.ci/run does)`)
  const schema = `records_${Date.now().toString(36)}`
  const ledgerDir = tempLedgerDir()
  const table = `ledger_${schema}`
  await withSql(url, (sql) => sql`CREATE TABLE ${sql(table)} (job_id text, fire_time bigint, node text, at bigint)`)
  const nodes = ["behind", "ahead"] as const
  const clocks = { behind: Faketime.make("-2h"), ahead: Faketime.make("+2h") }
  // Each node runs jobs only it can run: each record is made by one known clock.
  const jobsOf = (node: string): ReadonlyArray<WorkerJob> =>
    [0, 1].map((i) => ({ id: `${node}-${i}`, trigger: Trigger.every(500), sleepMs, task: `only-${node}` }))
  const workers: Array<Worker> = nodes.map((node) =>
    spawnWorker({
      url,
      node,
      ledgerDir,
      schema,
      jobs: jobsOf(node),
      pollMs: 1_000,
      dbLedger: table,
      retention: { maxAgeMs },
      janitorMs,
      env: clocks[node].env()
    })
  )

  // Each poll reads the finished records and the database's clock of its snapshot.
  const poll = () =>
    withSql(url, (sql) =>
      Effect.map(
        sql<RecordRow & { readonly now: string }>`
          SELECT floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint AS now, r.id::text AS id,
            r.job_id, r.fire_time, r.attempt, r.node, r.started_at, r.ended_at
          FROM (SELECT 1) one LEFT JOIN ${sql(`${schema}.runs`)} r ON r.state = 'succeeded'`,
        (rows) => ({ now: Number(rows[0]!.now), rows: rows.filter((row) => row.id !== null) })
      ))
  const seen = new Map<string, Seen>()
  let lastPoll = 0
  try {
    await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "JobsRegistered", 60_000)))
    // Watch for the retention and then some: every record is seen young, and the first ones pruned.
    let firstRecordAt: number | null = null
    const deadline = Date.now() + 60_000
    while (firstRecordAt === null || lastPoll < firstRecordAt + maxAgeMs + 5_000) {
      assert.isBelow(Date.now(), deadline, "the records never came, or the watch never ended")
      const { now, rows } = await poll()
      const present = new Set(rows.map((row) => row.id))
      for (const row of rows) {
        const entry = seen.get(row.id)
        if (entry === undefined) seen.set(row.id, { row, lastSeen: now, goneAt: null })
        else if (entry.goneAt === null) entry.lastSeen = now
        else assert.fail(`record ${row.id} came back after it was pruned`)
      }
      for (const entry of seen.values()) if (entry.goneAt === null && !present.has(entry.row.id)) entry.goneAt = now
      if (firstRecordAt === null && rows.length > 0) firstRecordAt = now
      lastPoll = now
      await sleep(200)
    }
  } finally {
    await stopAll(workers)
    clocks.behind.dispose()
    clocks.ahead.dispose()
  }
  for (const worker of workers) {
    const fatal = worker.lines.find((line) => line._tag === "Fatal")
    assert.isUndefined(fatal, `${worker.node}: ${JSON.stringify(fatal)} ${worker.stderr().slice(-2_000)}`)
  }

  // What really ran: real durations from the files, starts by the database's clock from the table.
  const ledger = readLedger(ledgerDir)
  const key = (jobId: string, fireTime: number | string, attempt: number) => `${jobId}|${fireTime}|${attempt}`
  const starts = new Map(ledger.filter((l) => l.kind === "start").map((l) => [key(l.jobId, l.fireTime, l.attempt), l.at]))
  const real = new Map<string, number>()
  for (const line of ledger) {
    const start = starts.get(key(line.jobId, line.fireTime, line.attempt))
    if (line.kind === "end" && start !== undefined) real.set(key(line.jobId, line.fireTime, line.attempt), line.at - start)
  }
  const dbStarts = new Map(
    (await withSql(url, (sql) => sql<{ job_id: string; fire_time: string; at: string }>`SELECT job_id, fire_time, at FROM ${sql(table)}`))
      .map((row) => [`${row.job_id}|${row.fire_time}`, Number(row.at)])
  )

  const excess: Record<string, Array<number>> = { behind: [], ahead: [] }
  let pruned = 0
  for (const { row, lastSeen, goneAt } of seen.values()) {
    const [startedAt, endedAt, fireTime] = [Number(row.started_at), Number(row.ended_at), Number(row.fire_time)]
    const what = `${row.node}'s ${row.job_id} fire ${fireTime}`
    const duration = real.get(key(row.job_id, fireTime, row.attempt))
    const dbStart = dbStarts.get(`${row.job_id}|${fireTime}`)
    assert.isDefined(duration, `${what}: recorded, but its handler never ended`)
    assert.isDefined(dbStart, `${what}: recorded, but its handler never started`)
    // Durations: never negative, and the handler's real one within the latency.
    assert.isAtLeast(endedAt - startedAt, 0, `${what}: a negative duration`)
    assert.isAtLeast(endedAt - startedAt, duration! - 2, `${what}: shorter than the handler ran`)
    assert.isAtMost(endedAt - startedAt, duration! + latencyMs, `${what}: longer than the handler ran`)
    excess[row.node]!.push(endedAt - startedAt - duration!)
    // Both instants are on the database's clock, not the node's (2 hours off).
    assert.isAtMost(startedAt, dbStart!, `${what}: started after its handler did, by the database's clock`)
    assert.isAtLeast(startedAt, dbStart! - latencyMs, `${what}: started long before its handler did`)
    // Retention: never pruned before it was `maxAgeMs` old by the database's clock (its real end
    // is at most `dbStart + duration`) ...
    const realEnd = dbStart! + duration!
    if (goneAt !== null) {
      pruned++
      assert.isAtLeast(goneAt, realEnd + maxAgeMs - ledgerSlackMs, `${what}: pruned ${realEnd + maxAgeMs - goneAt} ms early`)
    }
    // ... and pruned once it was: within a janitor's interval, the latency and a poll.
    if (realEnd + maxAgeMs + janitorMs + latencyMs + 1_000 < lastPoll) {
      assert.isNotNull(goneAt, `${what}: still there ${lastPoll - realEnd} ms after it ended (last seen ${lastSeen})`)
    }
  }
  for (const node of nodes) assert.isAtLeast(excess[node]!.length, 10, `${node}: too few records`)
  assert.isAtLeast(pruned, 10, "retention pruned nothing")
  console.log(JSON.stringify({
    records: seen.size,
    pruned,
    recordMinusRealMs: Object.fromEntries(nodes.map((node) => [node, { max: Math.max(...excess[node]!), min: Math.min(...excess[node]!) }]))
  }))
}, 120_000)
