import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, Layer, Option, Queue, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as Browse from "../src/internal/pg/browse.ts"
import { migrations } from "../src/internal/pg/migrations.ts"
import * as Tables from "../src/internal/pg/Tables.ts"
import type * as Run from "../src/Run.ts"
import { StoreError } from "../src/StoreError.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as StoreRetry from "../src/StoreRetry.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import { contract } from "./JobStoreContract.ts"
import { realWait } from "./support/Harness.ts"
import * as Pg from "./support/Pg.ts"
import { oneOff, outcome, taskNamed, unique } from "./support/StoreFixtures.ts"

contract("postgres", Pg.layerStore({ schema: "contract" }), { elapse: realWait })

const claimOf = (task: string, node: string, limit = 25, leaseMs = 30_000) => ({ node, tasks: [task], limit, leaseMs })
const stores = (n: number, options: Parameters<typeof Pg.makeStore>[0], config: Parameters<typeof Pg.makeStore>[1] = {}) =>
  Effect.all(Array.from({ length: n }, () => Pg.makeStore(options, config)), { concurrency: "unbounded" })

describe("PgJobStore", () => {
  it.live("racing claimers in four processes never claim a (job, fire) twice, and miss none", () =>
    Effect.gen(function*() {
      const processes = yield* stores(4, { schema: "claims" }, { maxConnections: 3 })
      const [first] = processes
      const task = unique("task")
      const now = yield* first!.now
      const once = Array.from({ length: 400 }, (_, i) => oneOff(task, `${task}-once-${i}`, now - 10))
      const every = Array.from({ length: 10 }, (_, i) =>
        Job.make(taskNamed(task), {
          id: `${task}-every-${i}`,
          payload: null,
          trigger: Trigger.every(50, { anchor: now }),
          overlap: { max: 100, onLimit: "wait" },
          misfire: { grace: 60_000 }
        }))
      yield* first!.register([...once, ...every], { version: 1, orphans: "keep" })
      const claimed: Array<Run.Claimed> = []
      // Claimed runs per job: the race goes on until every one-off job and 20
      // fires of each repeating one were claimed (or a deadline passed, and
      // the assertions say what is missing), however loaded the machine.
      const perJob = new Map<string, number>()
      const enough = () =>
        once.every((job) => perJob.has(job.id)) && every.every((job) => (perJob.get(job.id) ?? 0) >= 20)
      const deadline = Date.now() + 20_000
      const worker = (store: JobStore["Service"], node: string) =>
        Effect.gen(function*() {
          while (!enough() && Date.now() < deadline) {
            const { runs } = yield* store.claim(claimOf(task, node))
            claimed.push(...runs)
            for (const run of runs) perJob.set(run.jobId, (perJob.get(run.jobId) ?? 0) + 1)
            if (runs.length > 0) yield* store.finish(runs.map((run) => outcome(run)))
            else yield* Effect.sleep(5)
          }
        })
      yield* Effect.all(processes.flatMap((store, p) => [worker(store, `p${p}a`), worker(store, `p${p}b`)]), {
        concurrency: "unbounded"
      })
      const keys = claimed.map((run) => `${run.jobId}|${run.fireTime}`)
      assert.strictEqual(new Set(keys).size, keys.length, "no (job, fire) claimed twice")
      assert.strictEqual(new Set(claimed.map((run) => run.id)).size, claimed.length)
      for (const job of once) assert.strictEqual(claimed.filter((run) => run.jobId === job.id).length, 1, job.id)
      for (const job of every) {
        const fires = claimed.filter((run) => run.jobId === job.id).map((run) => run.fireTime).sort((a, b) => a - b)
        assert.isAtLeast(fires.length, 20, job.id)
        assert.isTrue(fires.every((fire, i) => i === 0 || fire - fires[i - 1]! === 50), `${job.id}: no fire missed`)
      }
    }), 30_000)

  it.live("the overlap limit holds across two processes", () =>
    Effect.gen(function*() {
      const processes = yield* stores(2, { schema: "overlap" })
      const task = unique("task")
      const now = yield* processes[0]!.now
      const limits = new Map([[`${task}-wait2`, 2], [`${task}-skip1`, 1]])
      yield* processes[0]!.register(
        [...limits].map(([id, max]) =>
          Job.make(taskNamed(task), {
            id,
            payload: null,
            trigger: Trigger.every(20, { anchor: now }),
            overlap: { max, onLimit: max === 2 ? "wait" : "skip" },
            misfire: { grace: 60_000 }
          })
        ),
        { version: 1, orphans: "keep" }
      )
      // The ledger counts runs from claim until just before their finish: the
      // store may only hand out a slot after that finish commits.
      const active = new Map<string, number>()
      const highest = new Map<string, number>()
      // At least 1.5 s of racing, and on until both limits were reached (a
      // loaded machine claims less in that time), within 20 s.
      const racing = Date.now() + 1_500
      const deadline = Date.now() + 20_000
      const reached = () => (highest.get(`${task}-wait2`) ?? 0) >= 2 && (highest.get(`${task}-skip1`) ?? 0) >= 1
      const worker = (store: JobStore["Service"], node: string) =>
        Effect.gen(function*() {
          while ((Date.now() < racing || !reached()) && Date.now() < deadline) {
            const { runs } = yield* store.claim(claimOf(task, node, 5))
            for (const run of runs) {
              const n = (active.get(run.jobId) ?? 0) + 1
              active.set(run.jobId, n)
              highest.set(run.jobId, Math.max(n, highest.get(run.jobId) ?? 0))
              assert.isAtMost(n, limits.get(run.jobId)!, `${run.jobId} over its limit`)
            }
            yield* Effect.sleep(runs.length > 0 ? 30 : 3)
            for (const run of runs) active.set(run.jobId, active.get(run.jobId)! - 1)
            if (runs.length > 0) yield* store.finish(runs.map((run) => outcome(run)))
          }
        })
      yield* Effect.all(processes.flatMap((store, p) => [worker(store, `p${p}a`), worker(store, `p${p}b`)]), {
        concurrency: "unbounded"
      })
      assert.strictEqual(highest.get(`${task}-wait2`), 2, "the test reached the limit")
      assert.strictEqual(highest.get(`${task}-skip1`), 1)
      const skipped = yield* processes[0]!.history({ jobId: `${task}-skip1`, states: ["skipped"], limit: 1_000 })
      assert.isAbove(skipped.length, 0)
    }), 30_000)

  it.live("eight processes migrating a fresh schema at the same instant: each migration runs once", () =>
    Effect.gen(function*() {
      const schema = `migrate_${Date.now().toString(36)}`
      const eight = yield* stores(8, { schema, tablePrefix: "x_" }, { maxConnections: 1 })
      // Building a store asks nothing of the database: the first operation migrates.
      yield* Effect.forEach(eight, (store) => store.list, { concurrency: "unbounded" })
      const sql = yield* Pg.makeClient()
      const applied = yield* sql<{ readonly id: number }>`SELECT id FROM ${sql(`${schema}.x_migrations`)} ORDER BY id`
      assert.deepStrictEqual(applied.map((row) => row.id), migrations.map((m) => m.id))
      const tables = yield* sql<{ readonly name: string }>`
        SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ${schema} ORDER BY table_name`
      assert.deepStrictEqual(tables.map((row) => row.name), ["x_jobs", "x_migrations", "x_nodes", "x_runs"])
    }), 30_000)

  it.effect("an unusable schema name fails the layer with a StoreError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Pg.makeStore({ schema: "no.dots" }))
      assert.instanceOf(error, StoreError)
      assert.strictEqual(error.reason, "InvalidOptions")
    }))

  it.live("history pages in numeric id order: runs at one fire time whose ids cross a digit boundary are each listed once", () =>
    Effect.gen(function*() {
      const store = yield* Pg.makeStore({ schema: "pages_ids" })
      const task = unique("task")
      // (The schema is made at the store's first call.)
      const now = yield* store.now
      const sql = yield* Pg.makeClient({ maxConnections: 1 })
      // Ids 95 to 105: as text, "99" sorts after "105".
      yield* sql`ALTER TABLE pages_ids.runs ALTER COLUMN id RESTART WITH 95`
      yield* store.addMany(Array.from({ length: 11 }, (_, i) =>
        Job.make(taskNamed(task), { id: `same-instant-${i}`, payload: null, trigger: Trigger.once(now - 1_000) })))
      const { runs } = yield* store.claim({ node: "n", tasks: [task], limit: 100, leaseMs: 30_000 })
      assert.deepStrictEqual(runs.map((run) => Number(run.id)).sort((a, b) => a - b), Array.from({ length: 11 }, (_, i) => 95 + i))
      const seen: Array<string> = []
      let before: string | undefined = undefined
      for (let page = 0; page < 5; page++) {
        const result: { readonly runs: ReadonlyArray<Run.RunRecord>; readonly next: string | null } = yield* store.historyPage({ limit: 5, before })
        seen.push(...result.runs.map((run) => run.id))
        if (result.next === null) break
        before = result.next
      }
      assert.deepStrictEqual(seen, Array.from({ length: 11 }, (_, i) => String(105 - i)))
    }))

  it.live("manual and catch-up runs wait for an overlap slot instead of being skipped", () =>
    Effect.gen(function*() {
      const store = yield* Pg.makeStore({ schema: "exempt" })
      const task = unique("task")
      const id = unique("job")
      const now = yield* store.now
      yield* store.add(
        Job.make(taskNamed(task), {
          id,
          payload: { from: "job" },
          trigger: Trigger.once(now - 120_000),
          overlap: { max: 1, onLimit: "skip" },
          misfire: { grace: 1_000, then: { _tag: "Coalesce", keep: "latest" } }
        })
      )
      const first = yield* store.claim(claimOf(task, "n"))
      assert.strictEqual(first.runs.length, 1, "the coalesced late fire runs")
      yield* store.triggerNow(id, { from: "manual" })
      const blocked = yield* store.claim(claimOf(task, "n"))
      assert.strictEqual(blocked.runs.length + blocked.settled.length, 0, "the manual run waits")
      assert.deepStrictEqual((yield* store.history({ jobId: id, states: ["pending"] })).map((r) => r.manual), [true])
      assert.isTrue(Option.isNone(yield* store.nextWake([task])), "nothing claimable while the slot is taken")
      yield* store.finish(first.runs.map((run) => outcome(run)))
      const next = yield* store.claim(claimOf(task, "n"))
      assert.deepStrictEqual(next.runs.map((r) => r.payload), [{ from: "manual" }])
    }), 30_000)

  it.live("a definition stored in full (as before defaults were left out) reads as the same job; declared again, it is stored without them, its next fire kept", () =>
    Effect.gen(function*() {
      const store = yield* Pg.makeStore({ schema: "sparse" })
      const sql = yield* Pg.makeClient({ maxConnections: 1 })
      const t = Tables.make(sql, { schema: "sparse" })
      const now = yield* store.now
      const job = Job.make(taskNamed(unique("task")), {
        id: unique("job"),
        payload: { n: 1 },
        trigger: Trigger.every(60_000, { anchor: now })
      })
      const row = () =>
        Effect.map(
          sql<{ readonly d: string; readonly next_fire: string }>`
            SELECT definition::text AS d, next_fire::text AS next_fire FROM ${t.jobs} WHERE id = ${job.id}`,
          ([r]) => ({ keys: Object.keys(JSON.parse(r?.d ?? "{}")).sort(), nextFire: r?.next_fire })
        )
      yield* store.register([job], { version: 1, orphans: "keep" })
      const first = yield* row()
      assert.deepStrictEqual(first.keys, ["payload", "task", "trigger"])
      // As an earlier version stored it: every policy spelled out.
      const { id: _id, paused: _paused, ...full } = Schema.encodeSync(Job.Job)(job)
      yield* sql`UPDATE ${t.jobs} SET definition = ${JSON.stringify(full)}::jsonb WHERE id = ${job.id}`
      const read = Option.getOrThrow(yield* store.get(job.id))
      const { source: _source, version: _version, nextFire: _nextFire, createdAt: _c, updatedAt: _u, setAside: _s, ...asJob } = read
      assert.deepStrictEqual(asJob, job)
      const report = yield* store.register([job], { version: 1, orphans: "keep" })
      assert.deepStrictEqual(report.updated, [job.id])
      assert.deepStrictEqual(yield* row(), first)
      assert.deepStrictEqual((yield* store.register([job], { version: 1, orphans: "keep" })).unchanged, [job.id])
    }), 30_000)

  it.live("eight processes registering the same jobs at once: no error, each job stored once", () =>
    Effect.gen(function*() {
      const schema = `race_${Date.now().toString(36)}`
      const processes = yield* stores(8, { schema, tablePrefix: "sf_" }, { maxConnections: 2 })
      const sql = yield* Pg.makeClient()
      const task = unique("task")
      const now = yield* processes[0]!.now
      const declare = (offset: number) =>
        Array.from({ length: 200 }, (_, i) =>
          Job.make(taskNamed(task), {
            id: `${task}-${i}`,
            payload: { i },
            trigger: i % 2 === 0 ? Trigger.every(60_000 + offset, { anchor: now }) : Trigger.cron("*/5 * * * *")
          }))
      const v1 = declare(0)
      const reports = yield* Effect.all(processes.map((store) => store.register(v1, { version: 1, orphans: "keep" })), {
        concurrency: "unbounded"
      })
      const ids = v1.map((job) => job.id).sort()
      assert.strictEqual(reports.reduce((n, r) => n + r.inserted.length, 0), 200)
      for (const report of reports) {
        assert.deepStrictEqual([...report.inserted, ...report.unchanged].sort(), ids)
        assert.strictEqual(report.updated.length + report.superseded.length, 0)
      }
      const [count] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(`${schema}.sf_jobs`)}`
      assert.strictEqual(count!.n, 200)
      // A rolling deploy: old and new code register at once; the newer declaration wins and stays.
      const v2 = declare(1_000)
      yield* Effect.all(
        processes.map((store, i) =>
          i % 2 === 0
            ? store.register(v1, { version: 1, orphans: "keep" })
            : store.register(v2, { version: 2, orphans: "keep" })
        ),
        { concurrency: "unbounded" }
      )
      const stored = (yield* processes[0]!.list).filter((job) => job.task === task)
      assert.strictEqual(stored.length, 200)
      assert.isTrue(stored.every((job) => job.version === 2))
      assert.isTrue(stored.every((job) => job.trigger._tag !== "Interval" || job.trigger.every === 61_000))
    }), 30_000)

  it.live("a stale node's writes are refused after another process reaped and took over its run", () =>
    Effect.gen(function*() {
      const [stale, fresh] = yield* stores(2, { schema: "fencing" })
      const task = unique("task")
      const now = yield* stale!.now
      yield* stale!.add(oneOff(task, unique("job"), now - 1, { onLost: "retry" }))
      const [run] = (yield* stale!.claim(claimOf(task, "stale", 10, 100))).runs
      yield* Effect.sleep(200)
      const reaped = yield* fresh!.reap
      assert.isTrue(reaped.some((r) => r.id === run!.id && r.state === "pending" && r.attempt === 2))
      const [taken] = (yield* fresh!.claim(claimOf(task, "fresh"))).runs
      assert.strictEqual(taken!.id, run!.id)
      assert.deepStrictEqual((yield* stale!.renew("stale", [{ id: run!.id, token: run!.token }], 30_000)).lost, [run!.id])
      assert.deepStrictEqual(yield* stale!.finish([outcome(run!)]), [false])
      assert.deepStrictEqual(yield* fresh!.finish([outcome(taken!)]), [true])
      const [record] = yield* fresh!.history({ jobId: run!.jobId })
      assert.strictEqual(record!.node, "fresh")
      assert.strictEqual(record!.attempt, 2)
    }), 30_000)

  it.live("lease renewals rewrite the running runs in place: no index entry per renewal (HOT updates)", () =>
    Effect.gen(function*() {
      // A schema of its own: its runs table sees only the updates below.
      const schema = `renew_${Date.now().toString(36)}`
      // One connection: the one backend whose counts are awaited below.
      const store = yield* Pg.makeStore({ schema }, { maxConnections: 1 })
      const sql = yield* Pg.makeClient()
      const task = unique("task")
      const now = yield* store.now
      yield* store.addMany(Array.from({ length: 10 }, (_, i) => oneOff(task, `${task}-${i}`, now - 1)))
      const { runs } = yield* store.claim(claimOf(task, "n1", 10))
      assert.strictEqual(runs.length, 10)
      const leases = runs.map((run) => ({ id: run.id, token: run.token }))
      for (let round = 0; round < 3; round++) {
        assert.deepStrictEqual((yield* store.renew("n1", leases, 30_000)).lost, [])
      }
      // A backend reports its counts at the end of a statement at most once a
      // second (else 10 s later): a statement on the store's connection every
      // 100 ms has them reported within about a second.
      const counts = sql<{ readonly updated: string; readonly hot: string }>`
        SELECT n_tup_upd::text AS updated, n_tup_hot_upd::text AS hot FROM pg_stat_user_tables
        WHERE schemaname = ${schema} AND relname = 'runs'`
      const deadline = Date.now() + 25_000
      let seen = { updated: 0, hot: 0 }
      while (seen.updated < 30 && Date.now() < deadline) {
        const [row] = yield* counts
        seen = { updated: Number(row?.updated ?? 0), hot: Number(row?.hot ?? 0) }
        if (seen.updated < 30) yield* Effect.andThen(Effect.sleep(100), store.now)
      }
      // With `lease_until` indexed, not one of them could be a HOT update.
      assert.deepStrictEqual(seen, { updated: 30, hot: 30 })
    }), 40_000)

  it.live("LISTEN/NOTIFY: an add, a trigger and a finish in one process wake another within milliseconds", () =>
    Effect.gen(function*() {
      const writer = yield* Pg.makeStore({ schema: "notify" })
      const listener = yield* Pg.makeStore({ schema: "notify" }, { applicationName: "listener" })
      const sql = yield* Pg.makeClient()
      const wakeups = yield* Queue.unbounded<number>()
      yield* Effect.forkScoped(Stream.runForEach(listener.changes, () => Queue.offer(wakeups, Date.now())))
      for (let listening = 0; listening === 0; yield* Effect.sleep(10)) {
        const [row] = yield* sql<{ readonly n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE application_name = 'listener' AND query LIKE 'LISTEN %' AND datname = current_database()`
        listening = row!.n
      }
      const task = unique("task")
      const id = unique("job")
      const woken = (action: Effect.Effect<unknown, unknown>) =>
        Effect.gen(function*() {
          yield* Queue.clear(wakeups)
          const start = Date.now()
          yield* action
          const at = yield* Queue.take(wakeups).pipe(Effect.timeout("2 seconds"))
          return at - start
        })
      const now = yield* writer.now
      const latencies = [
        yield* woken(writer.add(oneOff(task, id, now + 3_600_000))),
        yield* woken(writer.triggerNow(id)),
        yield* woken(Effect.flatMap(writer.claim(claimOf(task, "w")), ({ runs }) => writer.finish(runs.map((run) => outcome(run)))))
      ]
      assert.isTrue(latencies.every((ms) => ms < 500), `latencies ${latencies}`)
    }), 30_000)

  it.live("a beat racing its node's leave (begun before the leave committed, waiting on its row) does not bring the node back", () =>
    Effect.gen(function*() {
      const schema = "leaving"
      const beating = yield* Pg.makeStore({ schema }, { applicationName: "beating" })
      const sql = yield* Pg.makeClient()
      const id = unique("node")
      const info = { id, host: "h", pid: 7, version: "1", tasks: ["t"], startedAt: 1_000, running: 0, health: null, store: "up" as const }
      yield* beating.heartbeat(info)
      // The leave, as the store writes it, in a transaction held open: it holds the node's row.
      const left = yield* Deferred.make<void>()
      const commit = yield* Deferred.make<void>()
      const leaving = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
        yield* Browse.leave(sql, Tables.make(sql, { schema }), id, info)
        yield* Deferred.succeed(left, undefined)
        yield* Deferred.await(commit)
      })))
      yield* Deferred.await(left)
      // A beat of the same process (stuck on its way, say) reaches the row now, and waits for it.
      const beat = yield* Effect.forkChild(beating.heartbeat(info))
      const deadline = Date.now() + 10_000
      for (let waiting = 0; waiting === 0; yield* realWait(10)) {
        if (Date.now() > deadline) return assert.fail("the beat never waited for the leave's row")
        const [row] = yield* sql<{ readonly n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE application_name = 'beating' AND wait_event_type = 'Lock' AND datname = current_database()`
        waiting = row!.n
      }
      yield* Deferred.succeed(commit, undefined)
      yield* Fiber.join(leaving)
      yield* Fiber.join(beat)
      assert.deepStrictEqual((yield* beating.nodes(60_000)).filter((n) => n.id === id), [], "no ghost")
      // The next process of the id beats as usual.
      yield* beating.heartbeat({ ...info, pid: 8 })
      assert.deepStrictEqual((yield* beating.nodes(60_000)).filter((n) => n.id === id).map((n) => n.pid), [8])
    }), 30_000)

  it.effect("the database clock decides what is due, whatever the caller's clock says", () =>
    Effect.gen(function*() {
      const dbNow = yield* Effect.scoped(Effect.flatMap(Pg.makeStore({ schema: "clock" }), (store) => store.now))
      assert.isBelow(Math.abs(dbNow - Date.now()), 5_000, "database and host clocks agree here")
      // The caller's clock is an hour ahead: a job due in ten minutes by the database must not run.
      yield* TestClock.setTime(dbNow + 3_600_000)
      const store = yield* Pg.makeStore({ schema: "clock" })
      assert.isAbove(yield* Clock.currentTimeMillis, dbNow + 3_000_000)
      const task = unique("task")
      yield* store.add(oneOff(task, unique("later"), dbNow + 600_000))
      const due = unique("due")
      yield* store.add(oneOff(task, due, dbNow - 5))
      const { runs } = yield* store.claim(claimOf(task, "n"))
      assert.deepStrictEqual(runs.map((run) => run.jobId), [due])
      assert.isAtLeast(runs[0]!.startedAt, dbNow)
      assert.isBelow(runs[0]!.startedAt, dbNow + 60_000)
      assert.deepStrictEqual(yield* store.nextWake([task]), Option.some(dbNow + 600_000))
    }), 30_000)

  it.live("a killed connection is a retryable StoreError, and the retried store recovers", () =>
    Effect.gen(function*() {
      const victim = yield* Pg.makeStore({ schema: "kill" }, { applicationName: "victim", maxConnections: 3 })
      const admin = yield* Pg.makeClient({ applicationName: "admin" })
      const terminate = admin`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'victim' AND datname = current_database()`
      // Waits until a victim connection is in the given situation (a statement blocked on a lock, a LISTEN).
      const victimSeen = (where: "lock" | "listen") =>
        Effect.gen(function*() {
          for (let i = 0; i < 250; i++) {
            const [row] = yield* admin<{ readonly n: number }>`
              SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE application_name = 'victim' AND datname = current_database()
                AND ${where === "lock" ? admin`wait_event_type = 'Lock'` : admin`query LIKE 'LISTEN %'`}`
            if (row!.n > 0) return
            yield* Effect.sleep(20)
          }
          assert.fail(`the victim never reached ${where}`)
        })
      const task = unique("task")
      const id = unique("job")
      const now = yield* victim.now
      yield* victim.add(oneOff(task, id, now + 3_600_000))

      // Hold the job's row lock so that `remove` waits inside the server, then kill its connection.
      const release = yield* Deferred.make<void>()
      const locked = yield* Deferred.make<void>()
      yield* Effect.forkScoped(admin.withTransaction(Effect.gen(function*() {
        yield* admin`SELECT 1 FROM ${admin("kill.jobs")} WHERE id = ${id} FOR UPDATE`
        yield* Deferred.succeed(locked, undefined)
        yield* Deferred.await(release)
      })))
      yield* Deferred.await(locked)
      const removing = yield* Effect.forkScoped(Effect.flip(victim.remove(id)))
      yield* victimSeen("lock")
      yield* terminate
      const error = yield* Fiber.join(removing)
      assert.instanceOf(error, StoreError)
      assert.strictEqual(error.operation, "remove")
      assert.isTrue(error.retryable, error.reason)
      yield* Deferred.succeed(release, undefined)
      const retried = StoreRetry.retrying(victim)
      assert.isTrue(yield* retried.remove(id))

      // The listener's connection dies too: the stream fails with a retryable StoreError.
      const listening = yield* Effect.forkScoped(Stream.runDrain(victim.changes))
      yield* victimSeen("listen")
      yield* terminate
      const exit = yield* Fiber.await(listening)
      assert.isTrue(Exit.isFailure(exit))
      const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
      assert.isTrue(failure !== undefined && failure._tag === "Fail" && StoreRetry.classify("x", failure.error).retryable)

      // Connections killed again and again, at random points of the store's
      // work: a retrying store keeps working. Each kill waits until an
      // operation has succeeded since the previous one: kills on a fixed
      // 15 ms beat starved it on a busy machine (a claim on a new connection
      // could not finish between two kills, for 30 s), which measured the
      // machine, not the store.
      let progress = 0
      let kills = 0
      const tracked = <A, E>(operation: Effect.Effect<A, E>) =>
        Effect.tap(operation, () => Effect.sync(() => void progress++))
      const hammer = yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
        yield* terminate
        kills++
        const seen = progress
        while (progress === seen) yield* Effect.sleep(2)
        yield* Effect.sleep(Math.random() * 15)
      })))
      yield* tracked(retried.add(oneOff(task, unique("job"), now - 1)))
      for (let i = 0; i < 40 || kills < 40; i++) {
        yield* tracked(retried.now)
        const { runs } = yield* tracked(retried.claim(claimOf(task, "victim")))
        yield* tracked(retried.finish(runs.map((run) => outcome(run))))
        yield* tracked(retried.list)
      }
      yield* Fiber.interrupt(hammer)
      assert.isAtLeast(kills, 40)
    }), 30_000)
})

describe("PgJobStore claim ahead (ClaimRequest.aheadMs)", () => {
  it.live("a job with no run in progress has its next fire claimed within the window, to start when due", () =>
    Effect.gen(function*() {
      const store = yield* Pg.makeStore({ schema: "ahead" })
      const task = unique("task")
      const now = yield* store.now
      const soon = unique("soon")
      yield* store.add(oneOff(task, soon, now + 1_000))
      yield* store.add(oneOff(task, unique("later"), now + 60_000))
      // Claimable from 2 s before it is due.
      assert.deepStrictEqual(yield* store.nextWake([task], 2_000), Option.some(now + 1_000 - 2_000))
      const { runs } = yield* store.claim({ ...claimOf(task, "n"), aheadMs: 2_000 })
      assert.deepStrictEqual(runs.map((run) => [run.jobId, run.fireTime, run.startedAt]), [[soon, now + 1_000, now + 1_000]])
      // It ran at its instant: ended once the store's clock passed it.
      while ((yield* store.now) < now + 1_000) yield* realWait(now + 1_000 - (yield* store.now))
      yield* store.finish(runs.map((run) => outcome(run)))
      const [record] = yield* store.history({ jobId: soon })
      assert.strictEqual(record?.startedAt, now + 1_000)
    }), 30_000)

  it.live("a job with a run in progress is claimed once due, as without the window: overlap decides then", () =>
    Effect.gen(function*() {
      const store = yield* Pg.makeStore({ schema: "ahead" })
      const task = unique("task")
      const now = yield* store.now
      const id = unique("every")
      // Fires every 500 ms; overlap max 1, skip.
      yield* store.add(Job.make(taskNamed(task), { id, payload: null, trigger: Trigger.every(500, { anchor: now }) }))
      const first = yield* store.claim({ ...claimOf(task, "n"), aheadMs: 2_000 })
      assert.strictEqual(first.runs.length, 1)
      // Its first run is in progress: the next fire is not claimed ahead, nor reported early.
      assert.deepStrictEqual((yield* store.claim({ ...claimOf(task, "n"), aheadMs: 2_000 })).runs, [])
      const next = Option.getOrThrow(yield* store.nextWake([task], 2_000))
      assert.strictEqual(next, first.runs[0]!.fireTime + 500)
      // Once due, with the first still running, it is skipped (the fire found a run in progress).
      yield* realWait(Math.max(0, next - (yield* store.now)) + 20)
      const { runs, settled } = yield* store.claim({ ...claimOf(task, "n"), aheadMs: 2_000 })
      assert.deepStrictEqual(runs, [])
      assert.deepStrictEqual(settled.map((record) => [record.fireTime, record.state]), [[next, "skipped"]])
    }), 30_000)

  it.live("a scheduler starts a run claimed ahead at its due instant, not before", () =>
    Effect.gen(function*() {
      const task = unique("task")
      const starts: Array<{ readonly fireTime: number; readonly at: number }> = []
      const recording = Task.make(task, Schema.Unknown, (_, context) =>
        Effect.sync(() => {
          starts.push({ fireTime: context.fireTime, at: Date.now() })
        }))
      const store = yield* Pg.makeStore({ schema: "ahead" })
      const now = yield* store.now
      const jobs = [0, 1, 2].map((i) =>
        Job.make(recording, { id: unique(`soon-${i}`), payload: null, trigger: Trigger.once(now + 700 + 100 * i) })
      )
      yield* Layer.build(Scheduler.layer({ tasks: [recording], jobs, shutdownGrace: 0, claimAhead: 500 }).pipe(
        Layer.provide(Layer.succeed(JobStore, store))
      ))
      for (let i = 0; i < 100 && starts.length < 3; i++) yield* realWait(20)
      assert.strictEqual(starts.length, 3)
      for (const { fireTime, at } of starts) {
        assert.isAtLeast(at, fireTime, "never early")
        assert.isBelow(at - fireTime, 100, "on time")
      }
    }), 30_000)
})
