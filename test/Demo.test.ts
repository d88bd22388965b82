/**
 * The demo (`npm start`, `scripts/demo.ts`) after a long stop: one summary
 * line per job for the fires that were coalesced meanwhile (how many, the
 * run they were folded into, first and last in ISO time), not one line per
 * fire (1,412 lines with raw epoch milliseconds before). Real processes on
 * this file's own database; the stop is made long by moving the stored jobs'
 * next fires back by hours, as if the demo had been stopped that long.
 */
import { Schema } from "effect"
import { assert, describe, it } from "vitest"
import { Event } from "../src/index.ts"
import * as LateFires from "../scripts/lib/LateFires.ts"
import { withSql } from "./support/Cluster.ts"
import { databaseUrl } from "./support/Pg.ts"
import * as Script from "./support/Script.ts"

const hour = 3_600_000
const stopped = 2 * hour
/** The demo's jobs and their periods (`scripts/demo.ts`). */
const periods: Record<string, number> = { heartbeat: 3_000, "sync-device-42": 5_000, "sync-device-7": 7_000 }
/** The jobs' misfire grace (the default): fires later than this are late. */
const grace = 60_000

const summaryPattern =
  /summary\s+(\S+): ([\d,]+) late fires coalesced into the run of fire (\S+Z) \(first (\S+Z), last (?:recorded )?(\S+Z)(?:; ([\d,]+) more not recorded one by one)?\)/

describe("demo (real processes)", () => {
  it("after a long stop: one summary line per job, with the count and ISO times, and no line per fire", async () => {
    const url = await databaseUrl()
    // Port 0: a free port, so a demo already running here does not matter.
    const env = { DATABASE_URL: url, STEADFAST_ADMIN_PORT: "0" }

    const first = Script.start("demo.ts", [], env)
    try {
      // It prints the dashboard's URL and a token, and both work.
      const announced = await first.waitFor((line) => line.includes("dashboard: "), 60_000)
      const [, ui, api, token] = /dashboard: (\S+) +\(API under (\S+), token: ([^)\s]+)\)/.exec(announced) ?? []
      assert.isDefined(token, announced)
      const login = await fetch(`${ui}/login`)
      assert.strictEqual(login.status, 200)
      assert.include(await login.text(), "<form")
      await first.waitFor((line) => line.includes("running; Ctrl-C to stop"), 60_000)
      // The declared jobs are registered once a heartbeat ran.
      await first.waitFor((line) => /succeeded\s+heartbeat/.test(line), 30_000)
      const jobs = await fetch(`${api}/jobs`, { headers: { authorization: `Bearer ${token}` } })
      assert.strictEqual(jobs.status, 200)
      const page = Schema.decodeUnknownSync(Schema.Struct({ jobs: Schema.Array(Schema.Struct({ id: Schema.String })) }))(
        await jobs.json()
      )
      assert.deepStrictEqual(page.jobs.map((job) => job.id).sort(), Object.keys(periods).sort())
      assert.strictEqual((await fetch(`${api}/jobs`)).status, 401)
    } finally {
      await first.stop(30_000)
    }
    assert.isTrue(first.lines.some((line) => line.includes("stopped cleanly")), first.lines.join("\n"))

    // As if the demo had been stopped for two hours.
    const moved = await withSql(url, (sql) =>
      sql<{ id: string; next_fire: string }>`
        UPDATE steadfast_demo.jobs
        SET next_fire = next_fire - ${stopped}, next_due = next_due - ${stopped}
        RETURNING id, next_fire::text AS next_fire`)
    const firstLate = new Map(moved.map((row) => [row.id, Number(row.next_fire)]))
    assert.deepStrictEqual([...firstLate.keys()].sort(), Object.keys(periods).sort())

    const second = Script.start("demo.ts", [], env)
    const restartedAt = Date.now()
    try {
      const summaries = new Map<string, RegExpExecArray>()
      for (let found = 0; found < firstLate.size; found++) {
        const line = await second.waitFor(
          (line) => summaryPattern.test(line) && !summaries.has(summaryPattern.exec(line)![1]!),
          30_000
        )
        const match = summaryPattern.exec(line)!
        summaries.set(match[1]!, match)
      }
      // Normal runs are still printed one by one after the summaries, and no summary comes twice.
      const after = second.lines.length
      await second.waitFor((line) => /succeeded\s+heartbeat/.test(line), 15_000, after)
      const output = second.lines.join("\n")
      for (const [job, nextFire] of firstLate) {
        const lines = second.lines.filter((line) => line.includes(`summary   ${job}:`))
        assert.strictEqual(lines.length, 1, `${job}: one summary line\n${output}`)
        const [, , count, kept, firstIso, lastIso, unrecorded] = summaries.get(job)!
        const coalesced = Number(count!.replaceAll(",", ""))
        // The stop was two hours long (and the restart a few seconds); fires within the grace are on time.
        const period = periods[job]!
        const restartMs = Date.now() - restartedAt + 30_000
        assert.isAtLeast(coalesced, Math.floor((stopped - grace) / period) - 2, context(job, output))
        assert.isAtMost(coalesced, Math.ceil((stopped - grace + restartMs) / period), context(job, output))
        assert.strictEqual(firstIso, new Date(nextFire).toISOString(), "the first late fire is the stored next fire")
        assert.isTrue(Date.parse(lastIso!) >= Date.parse(firstIso!))
        // The count is the kept run's own (the store records at most 1,000 late fires one by one).
        const [keptRun] = await withSql(url, (sql) =>
          sql<{ note: string | null }>`
            SELECT note FROM steadfast_demo.runs WHERE job_id = ${job} AND fire_time = ${Date.parse(kept!)}`)
        assert.strictEqual(keptRun?.note, `coalesced ${coalesced} late fires into this one`)
        const [recorded] = await withSql(url, (sql) =>
          sql<{ n: number }>`SELECT count(*)::int AS n FROM steadfast_demo.runs WHERE job_id = ${job} AND state = 'coalesced'`)
        assert.strictEqual(coalesced - recorded!.n, Number((unrecorded ?? "0").replaceAll(",", "")))
      }
      // No line per fire, no epoch milliseconds.
      assert.isFalse(/coalesced into fire|coalesced\s+(heartbeat|sync-device)/.test(output), output)
      assert.isFalse(/\b1\d{12}\b/.test(output), `no epoch milliseconds\n${output}`)
      // Thousands of fires were coalesced; the lines are the start-up's, the summaries and the runs
      // (the fires within the grace period run one by one, as on-time fires do).
      assert.isBelow(second.lines.length, 200, output)
    } finally {
      await second.stop(30_000)
    }
  }, 180_000)
})

const context = (job: string, output: string) => `${job}\n${output}`

describe("LateFires (the demo's summary lines)", () => {
  it("counts missed fires the store only counted, and names the overlap limit of skipped ones", () => {
    const bursts = LateFires.make({ quietMs: 1_000, maxHoldMs: 10_000 })
    const note = (last: boolean) => `late beyond grace, misfire policy skip${last ? " (and 500 more late fires not recorded one by one)" : ""}`
    for (let i = 0; i < 1_000; i++) {
      bursts.add(Event.Event.RunMissed({ jobId: "poll", fireTime: i * 1_000, note: note(i === 999), at: 0 }), 0)
    }
    bursts.add(Event.Event.RunSkipped({ jobId: "slow", fireTime: 5_000, note: "overlap limit 1 reached", at: 0 }), 900)
    assert.deepStrictEqual(bursts.due(999).map((b) => b.jobId), [], "both may go on")
    const [poll] = bursts.due(1_000)
    assert.strictEqual(
      LateFires.line(poll!),
      "poll: 1,500 late fires missed (first 1970-01-01T00:00:00.000Z, last recorded 1970-01-01T00:16:39.000Z; 500 more not recorded one by one)"
    )
    const [slow] = bursts.due(1_900)
    assert.strictEqual(LateFires.line(slow!), "slow: 1 fire skipped (overlap limit 1 reached) (fire 1970-01-01T00:00:05.000Z)")
  })

  it("a steady trickle is reported after the longest hold", () => {
    const bursts = LateFires.make({ quietMs: 1_000, maxHoldMs: 10_000 })
    for (let t = 0; t < 10_000; t += 500) {
      bursts.add(Event.Event.RunSkipped({ jobId: "slow", fireTime: t, note: "overlap limit 1 reached", at: t }), t)
      assert.deepStrictEqual(bursts.due(t), [])
    }
    assert.strictEqual(bursts.due(10_000)[0]?.skipped, 20)
  })
})
