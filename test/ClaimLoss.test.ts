/**
 * No claimed fire is lost on a live node, and revoking a lease never blocks
 * renewal (issue 11, items 1 and 2).
 *
 * On real PostgreSQL, through the project's TCP proxy where a reply must go
 * missing, with real processes where another node must run what one node
 * handed back:
 *
 * - (a) the COMMIT reply of a claim is lost: every claimed fire runs once,
 *   on the node that claimed it, within seconds (the lease is 60 s);
 * - (b) the scope closes while a claim's reply is in flight, and during a
 *   drain (50 shutdowns), and while runs claimed ahead wait for their
 *   instant: no run is left `running`, and another node runs what was handed
 *   back within seconds;
 * - (c) a handler that ignores interruption while its lease is taken over:
 *   the node's other leases are renewed on time, none is taken over, and no
 *   fire runs twice at once.
 *
 * In process, with the in-memory store and `TestClock`: a claim's answer lost
 * after it committed (adopted at once), and a run re-claimed by the same node
 * while its earlier attempt ignores interruption (the earlier attempt's
 * bookkeeping never overwrites the new one's).
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Deferred, Effect, Exit, Layer, Redacted, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import { PgClient } from "@effect/sql-pg"
import type { SqlClient } from "effect/sql"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as MemoryJobStore from "../src/MemoryJobStore.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import { FaultyJobStore } from "../src/testing/index.ts"
import * as Trigger from "../src/Trigger.ts"
import { readLedger, spawnWorker, startsByFire, stopAll, tempLedgerDir } from "./support/Cluster.ts"
import { collectEvents, schedulerOn } from "./support/Harness.ts"
import * as Pg from "./support/Pg.ts"
import { memoryWith } from "./support/Runtime.ts"
import * as TcpProxy from "./support/TcpProxy.ts"

const second = 1_000

// ---------------------------------------------------------------------------
// Real PostgreSQL: in-process nodes, each on its own pool (one "process").

/** Every handler start, as the handlers saw it. */
interface Start {
  readonly jobId: string
  readonly fireTime: number
  readonly node: string
  readonly attempt: number
  readonly at: number
}

// The workers' task (`test/support/worker.ts`): same name and payload, so a
// worker process runs what an in-process node hands back.
const ledgerTask = (starts: Array<Start>, name = "ledger") =>
  Task.make(name, Schema.Struct({ sleepMs: Schema.Number }), ({ sleepMs }, context) =>
    Effect.gen(function*() {
      starts.push({ jobId: context.jobId, fireTime: context.fireTime, node: context.node, attempt: context.attempt, at: Date.now() })
      if (sleepMs > 0) yield* Effect.sleep(sleepMs)
    }))

const oneOffs = (task: Task.Any<never>, ids: ReadonlyArray<string>, at: number, sleepMs = 0) =>
  ids.map((id) =>
    Job.make(task, { id, payload: { sleepMs }, trigger: Trigger.once(at), misfire: { grace: "1 hour" } })
  )

const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`)

/** A scheduler node of its own, closed with the test's scope (or earlier, by `close`). */
const startNode = (options: {
  readonly node: string
  readonly url: string
  readonly schema: string
  readonly tasks: ReadonlyArray<Task.Any<never>>
  readonly store?: Omit<PgJobStore.Options, "schema">
  readonly client?: Omit<PgClient.PgPoolConfig, "url">
  readonly scheduler?: Omit<Scheduler.Options<never>, "tasks" | "node">
  /** Called as each claim begins (when a test wants to stop a node in the middle of one). */
  readonly onClaim?: () => void
}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const onClaim = options.onClaim ?? (() => {})
    const watched = Layer.effect(
      JobStore,
      Effect.map(JobStore, (store) =>
        JobStore.of({ ...store, claim: (request) => Effect.andThen(Effect.sync(onClaim), store.claim(request)) }))
    )
    const context = yield* Layer.buildWithScope(
      Scheduler.layer({ tasks: options.tasks, node: options.node, shutdownGrace: "200 millis", ...options.scheduler }).pipe(
        Layer.provideMerge(watched),
        Layer.provideMerge(PgJobStore.layer({ schema: options.schema, ...options.store })),
        Layer.provide(PgClient.layer({ url: Redacted.make(options.url), ...options.client }))
      ),
      scope
    ).pipe(Effect.orDie)
    const scheduler = Context.get(context, Scheduler.Scheduler)
    // How long closing the scope took (ms).
    const close = Effect.gen(function*() {
      const start = performance.now()
      yield* Scope.close(scope, Exit.void)
      return performance.now() - start
    })
    return { scheduler, store: Context.get(context, JobStore), close }
  })

/** Waits until `condition` holds, checking every 50 ms; dies after `ms`. */
const waitUntil = <E, R>(condition: Effect.Effect<boolean, E, R>, ms: number, what: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!(yield* condition)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out after ${ms} ms waiting for ${what}`))
      yield* Effect.sleep(50)
    }
  })

const proxyToDatabase = Effect.acquireRelease(
  Effect.promise(async () => {
    const url = new URL(await Pg.databaseUrl())
    return TcpProxy.start({ host: url.hostname, port: Number(url.port) })
  }),
  (proxy) => Effect.promise(() => proxy.close())
)

const countRuns = (sql: SqlClient.SqlClient, schema: string, where: string) =>
  Effect.map(
    sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(schema)}.runs WHERE ${sql.literal(where)}`,
    (rows) => rows[0]?.n ?? 0
  )

const statesOf = (sql: SqlClient.SqlClient, schema: string) =>
  Effect.map(
    sql<{ readonly state: string; readonly n: number }>`SELECT state, count(*)::int AS n FROM ${sql(schema)}.runs GROUP BY state`,
    (rows) => Object.fromEntries(rows.map((row) => [row.state, row.n]))
  )

const duplicates = (starts: ReadonlyArray<{ readonly jobId: string; readonly fireTime: number }>) => {
  const seen = new Set<string>()
  const twice: Array<string> = []
  for (const start of starts) {
    const key = `${start.jobId}|${start.fireTime}`
    if (seen.has(key)) twice.push(key)
    seen.add(key)
  }
  return twice
}

// The claim's write (`settle` in src/internal/pg/claim.ts): the COMMIT right
// after it, on the same connection, is a claim's that took runs.
const claimWrite = "WITH fire AS"

const spawnNode = (url: string, schema: string, node: string, ledgerDir: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const worker = spawnWorker({ url, node, ledgerDir, schema, jobs: [], pollMs: 10_000 })
      await worker.waitFor((line) => line._tag === "JobsRegistered", 60_000)
      return worker
    }),
    (worker) => Effect.promise(() => stopAll([worker]))
  )

const ledgerStarts = (dir: string) => readLedger(dir).filter((line) => line.kind === "start")

describe("ClaimLoss: no claimed fire is lost on a live node (PostgreSQL)", () => {
  it.live("(a) the COMMIT reply of a claim is lost: every claimed fire runs once, within seconds, on its node; none lost (lease 60 s)", () =>
    Effect.gen(function*() {
      const schema = "lost_commit"
      const count = 200
      const proxy = yield* proxyToDatabase
      const sql = yield* Pg.makeClient()
      const starts: Array<Start> = []
      const task = ledgerTask(starts)
      // Without prepared statements the claim's SQL travels with every claim,
      // so the proxy can tell the COMMIT of a claim that took runs.
      const a = yield* startNode({
        node: "a",
        url: proxy.via(yield* Pg.url),
        schema,
        tasks: [task],
        client: { prepare: false },
        // One claim takes them all: a first claim is an eighth of a batch (the claims ramp up).
        scheduler: { leaseDuration: "60 seconds", reapInterval: "1 second", batchSize: 8 * count }
      })
      yield* a.scheduler.awaitReady("20 seconds")
      const store = yield* Pg.makeStore({ schema })
      const due = (yield* store.now) + 2 * second
      yield* store.register(oneOffs(task, ids("lost", count), due), { version: 0, orphans: "keep" })
      const withheld = proxy.withholdReplyTo("COMMIT", { after: claimWrite })

      yield* Effect.promise(() => withheld).pipe(Effect.timeout("15 seconds"), Effect.orDie)
      const lostAt = Date.now()
      // The claim committed every fire under this node; its answer never comes.
      yield* waitUntil(
        Effect.map(countRuns(sql, schema, "state = 'running' AND node = 'a'"), (n) => n === count),
        5 * second,
        "the claim to commit"
      )
      assert.strictEqual(starts.length, 0, "nothing runs before the claim is given up")

      yield* waitUntil(Effect.sync(() => starts.length >= count), 30 * second, "every fire to start")
      const recoverMs = Math.max(...starts.map((s) => s.at)) - lostAt
      assert.isBelow(recoverMs, 15 * second, `recovered in ${recoverMs} ms (lease 60 s)`)
      assert.deepStrictEqual(duplicates(starts), [])
      assert.strictEqual(new Set(starts.map((s) => s.jobId)).size, count)
      assert.isTrue(starts.every((s) => s.node === "a" && s.attempt === 1))
      yield* waitUntil(
        Effect.map(countRuns(sql, schema, "state = 'succeeded'"), (n) => n === count),
        10 * second,
        "every outcome"
      )
      assert.deepStrictEqual(yield* statesOf(sql, schema), { succeeded: count })
      console.log(`(a) ${count} fires whose claim's COMMIT reply was lost ran ${recoverMs} ms after it (claim deadline 5 s)`)
      proxy.dropAll()
      yield* a.close
    }), 90_000)

  it.live("(b) the scope closes while a claim's reply is in flight: nothing is left running, another process runs every fire within seconds", () =>
    Effect.gen(function*() {
      const schema = "closed_in_flight"
      const count = 300
      const proxy = yield* proxyToDatabase
      const url = yield* Pg.url
      const sql = yield* Pg.makeClient()
      const starts: Array<Start> = []
      const task = ledgerTask(starts)
      // A claim deadline far beyond the test: the answer is in flight when the scope closes.
      const a = yield* startNode({
        node: "a",
        url: proxy.via(url),
        schema,
        tasks: [task],
        client: { prepare: false },
        store: { deadlines: { claim: "60 seconds" } },
        // One claim takes them all: a first claim is an eighth of a batch (the claims ramp up).
        scheduler: { leaseDuration: "60 seconds", batchSize: 8 * count }
      })
      yield* a.scheduler.awaitReady("20 seconds")
      const store = yield* Pg.makeStore({ schema })
      const due = (yield* store.now) + 2 * second
      yield* store.register(oneOffs(task, ids("flight", count), due), { version: 0, orphans: "keep" })
      const withheld = proxy.withholdReplyTo("COMMIT", { after: claimWrite })
      yield* Effect.promise(() => withheld).pipe(Effect.timeout("15 seconds"), Effect.orDie)
      yield* waitUntil(
        Effect.map(countRuns(sql, schema, "state = 'running' AND node = 'a'"), (n) => n === count),
        5 * second,
        "the claim to commit"
      )

      // Another process, started now: every fire is running under `a`, so it finds nothing to claim.
      const ledgerDir = tempLedgerDir()
      yield* spawnNode(url, schema, "b", ledgerDir)
      assert.strictEqual(yield* countRuns(sql, schema, "state = 'running' AND node = 'a'"), count)

      // Closing waits for the pool too, whose silent connection ends after
      // the driver's cancel bound: handing back happens in the first second.
      const closedAt = Date.now()
      const closeMs = yield* a.close
      assert.isBelow(closeMs, 200 + Scheduler.shutdownMarginMs + 5 * second)
      assert.strictEqual(yield* countRuns(sql, schema, "state = 'running' AND node = 'a'"), 0, "nothing left running")
      yield* waitUntil(Effect.sync(() => ledgerStarts(ledgerDir).length >= count), 20 * second, "b to run every fire")
      const ran = ledgerStarts(ledgerDir)
      const takenOverMs = Math.max(...ran.map((line) => line.at)) - closedAt
      assert.isBelow(takenOverMs, 5 * second, `run by b within ${takenOverMs} ms of the start of the close`)
      assert.deepStrictEqual([...startsByFire(ran).values()].filter((group) => group.length > 1), [])
      assert.strictEqual(new Set(ran.map((line) => line.jobId)).size, count)
      assert.deepStrictEqual(starts, [], "a ran none of them")
      yield* waitUntil(
        Effect.map(countRuns(sql, schema, "state = 'succeeded'"), (n) => n === count),
        10 * second,
        "every outcome"
      )
      assert.deepStrictEqual(yield* statesOf(sql, schema), { succeeded: count })
      console.log(`(b) closed in ${Math.round(closeMs)} ms with a claim of ${count} runs in flight; b ran them all within ${takenOverMs} ms of its start`)
    }), 120_000)

  it.live("(b) runs claimed ahead and waiting for their instant at shutdown: handed back at once, run on time by another process", () =>
    Effect.gen(function*() {
      const schema = "claimed_ahead"
      const count = 100
      const url = yield* Pg.url
      const sql = yield* Pg.makeClient()
      const ledgerDir = tempLedgerDir()
      yield* spawnNode(url, schema, "b", ledgerDir)
      const starts: Array<Start> = []
      const task = ledgerTask(starts)
      // A task more than b's: not b's peer, so a claims every fire ahead,
      // not only its share of them (`ClaimRequest.share`).
      const a = yield* startNode({
        node: "a",
        url,
        schema,
        tasks: [task, Task.make("only-on-a", Schema.Unknown, () => Effect.void)],
        scheduler: { leaseDuration: "60 seconds", shutdownGrace: "5 seconds", claimAhead: "30 seconds" }
      })
      yield* a.scheduler.awaitReady("20 seconds")
      const store = yield* Pg.makeStore({ schema })
      const due = (yield* store.now) + 6 * second
      yield* store.register(oneOffs(task, ids("ahead", count), due), { version: 0, orphans: "keep" })
      yield* waitUntil(
        Effect.map(countRuns(sql, schema, "state = 'running' AND node = 'a'"), (n) => n === count),
        3 * second,
        "a to claim every fire ahead"
      )
      const closeMs = yield* a.close
      // Nothing had started: the grace period waits for nothing.
      assert.isBelow(closeMs, 2 * second)
      assert.isBelow(Date.now(), due, "closed before the fires were due")
      assert.deepStrictEqual(yield* statesOf(sql, schema), { pending: count }, "handed back, none recorded failed")
      yield* waitUntil(Effect.sync(() => ledgerStarts(ledgerDir).length >= count), 15 * second, "b to run every fire")
      const ran = ledgerStarts(ledgerDir)
      const lateness = ran.map((line) => line.at - due)
      assert.isAtLeast(Math.min(...lateness), -50, "none early")
      assert.isBelow(Math.max(...lateness), 3 * second, `run by b at most ${Math.max(...lateness)} ms after due`)
      assert.deepStrictEqual([...startsByFire(ran).values()].filter((group) => group.length > 1), [])
      assert.deepStrictEqual(starts, [])
      yield* waitUntil(
        Effect.map(countRuns(sql, schema, "state = 'succeeded'"), (n) => n === count),
        10 * second,
        "every outcome"
      )
      console.log(`(b) ${count} runs claimed ahead, handed back at shutdown, ran on b at most ${Math.max(...lateness)} ms after due`)
    }), 120_000)

  it.live("(b) 50 shutdowns during a drain: no run is left running; what was handed back runs on another node within seconds, once", () =>
    Effect.gen(function*() {
      const schema = "drain_shutdowns"
      const cycles = 50
      const perCycle = 300
      const url = yield* Pg.url
      const sql = yield* Pg.makeClient()
      const store = yield* Pg.makeStore({ schema })
      const starts: Array<Start> = []
      const task = ledgerTask(starts, "drain")
      // The other node: drains alongside, and takes what each closing node hands back.
      const b = yield* startNode({
        node: "b",
        url,
        schema,
        tasks: [task],
        scheduler: { batchSize: 10, maxInFlight: 10, leaseDuration: "60 seconds" }
      })
      yield* b.scheduler.awaitReady("20 seconds")
      const handedBack = new Map<string, { readonly by: string; readonly closedAt: number }>()
      let withHandBack = 0
      let duringClaim = 0
      for (let cycle = 0; cycle < cycles; cycle++) {
        const node = `a${cycle}`
        // Every other shutdown begins within 10 ms of a claim's start (its
        // round trips take longer): the scope closes with the claim in flight.
        const claiming = Deferred.makeUnsafe<void>()
        let armed = false
        const a = yield* startNode({
          node,
          url,
          schema,
          tasks: [task],
          scheduler: { batchSize: 50, maxInFlight: 150, leaseDuration: "60 seconds", shutdownGrace: "100 millis" },
          onClaim: () => {
            if (armed) Deferred.doneUnsafe(claiming, Exit.void)
          }
        })
        yield* a.scheduler.awaitReady("10 seconds")
        const now = yield* store.now
        yield* store.register(oneOffs(task, ids(`drain-${cycle}`, perCycle), now, 5), { version: 0, orphans: "keep" })
        // In its drain.
        yield* waitUntil(Effect.sync(() => starts.some((s) => s.node === node)), 10 * second, `${node} to run`)
        if (cycle % 2 === 0) {
          armed = true
          const claimed = yield* Effect.timeoutOption(Deferred.await(claiming), "2 seconds")
          if (claimed._tag === "Some") duringClaim++
          yield* Effect.sleep(Math.floor(Math.random() * 10))
        } else {
          yield* Effect.sleep(Math.floor(Math.random() * 60))
        }
        const closedAt = Date.now()
        yield* a.close
        assert.strictEqual(yield* countRuns(sql, schema, `state = 'running' AND node = '${node}'`), 0, `${node} left runs running`)
        // Handed back: pending again and marked so (catch_up); on-time fires of one-off jobs never are.
        const rows = yield* sql<{ readonly id: string }>`SELECT id::text AS id FROM ${sql(schema)}.runs WHERE catch_up`
        const fresh = rows.filter((row) => !handedBack.has(row.id))
        for (const row of fresh) handedBack.set(row.id, { by: node, closedAt })
        if (fresh.length > 0) withHandBack++
      }
      // The drain ends when every fire ran: no job has a fire left to claim, no run is pending or running.
      const left = Effect.map(
        sql<{ readonly n: number }>`SELECT
          (SELECT count(*) FROM ${sql(schema)}.jobs WHERE next_due IS NOT NULL)::int +
          (SELECT count(*) FROM ${sql(schema)}.runs WHERE state IN ('pending', 'running'))::int AS n`,
        (rows) => rows[0]?.n ?? 0
      )
      yield* waitUntil(Effect.map(left, (n) => n === 0), 30 * second, "the drain to end")
      const records = yield* sql<{
        readonly id: string
        readonly job_id: string
        readonly state: string
        readonly node: string
        readonly started_at: string
        readonly error: string | null
      }>`SELECT id::text AS id, job_id, state, node, started_at::text AS started_at, error FROM ${sql(schema)}.runs`
      assert.strictEqual(records.length, cycles * perCycle)
      const states = new Map<string, number>()
      for (const record of records) states.set(record.state, (states.get(record.state) ?? 0) + 1)
      // Every fire ran once: succeeded, or interrupted by a shutdown after its grace period.
      assert.deepStrictEqual([...states.keys()].filter((state) => state !== "succeeded" && state !== "failed"), [])
      assert.isTrue(records.every((r) => r.state === "succeeded" || (r.error ?? "").startsWith("interrupted")))
      assert.deepStrictEqual(duplicates(starts), [])
      const started = new Set(starts.map((s) => s.jobId))
      const never = records.filter((r) => !started.has(r.job_id))
      assert.deepStrictEqual(never.slice(0, 5), [], `${never.length} fires recorded without their handler starting`)
      const takenOver: Array<number> = []
      for (const record of records) {
        const back = handedBack.get(record.id)
        if (back === undefined) continue
        assert.notStrictEqual(record.node, back.by, "run by another node")
        takenOver.push(Number(record.started_at) - back.closedAt)
      }
      const worst = Math.max(0, ...takenOver)
      assert.isAtLeast(duringClaim, cycles / 4, "shutdowns that began during a claim")
      assert.isBelow(worst, 5 * second, `handed-back runs started at most ${worst} ms after their node began to close`)
      console.log(
        `(b) ${cycles} shutdowns during a drain of ${cycles * perCycle} runs (${duringClaim} begun within 10 ms of a claim's start): ` +
          `${handedBack.size} runs handed back in ${withHandBack} shutdowns, run elsewhere at most ${worst} ms after the close began; ` +
          `${states.get("failed") ?? 0} interrupted after the grace period; none left running, none twice`
      )
    }), 240_000)

  it.live("(c) a handler that ignores interruption while its lease is taken over: every other lease is renewed, none taken over, no fire twice at once", () =>
    Effect.gen(function*() {
      const schema = "stubborn_lease"
      const url = yield* Pg.url
      const sql = yield* Pg.makeClient()
      const executions: Array<{ readonly jobId: string; readonly fireTime: number; readonly start: number; end: number | null }> = []
      const release = Deferred.makeUnsafe<void>()
      const track = (name: string, body: Effect.Effect<void>) =>
        Task.make(name, Schema.Unknown, (_payload, context) =>
          Effect.gen(function*() {
            const entry = { jobId: context.jobId, fireTime: context.fireTime, start: Date.now(), end: null as number | null }
            executions.push(entry)
            yield* Effect.ensuring(body, Effect.sync(() => void (entry.end = Date.now())))
          }))
      const steady = track("steady", Effect.sleep(3 * second))
      const stubborn = track("stubborn", Effect.uninterruptible(Deferred.await(release)))
      const leases = { leaseDuration: "2 seconds", heartbeatInterval: "500 millis", reapInterval: "500 millis" } as const
      const a = yield* startNode({
        node: "a",
        url,
        schema,
        tasks: [steady, stubborn],
        scheduler: {
          ...leases,
          jobs: [Job.make(steady, { id: "steady", payload: null, trigger: Trigger.every("1 second"), overlap: { max: 10 }, onLost: "retry" })]
        }
      })
      // Another node: its reaper takes over any lease that expires.
      const idle = Task.make("idle", Schema.Unknown, () => Effect.void)
      yield* startNode({ node: "b", url, schema, tasks: [idle], scheduler: leases })
      yield* a.scheduler.awaitReady("20 seconds")
      const { events } = yield* Effect.provideService(collectEvents, Scheduler.Scheduler, a.scheduler)
      const store = yield* Pg.makeStore({ schema })
      yield* store.add(Job.make(stubborn, { id: "stubborn", payload: null, trigger: Trigger.once((yield* store.now) + 500) }))
      yield* waitUntil(Effect.sync(() => executions.some((e) => e.jobId === "stubborn")), 10 * second, "the stubborn run")
      // Taken over, as a reaper does it (its `record` policy: lost; the token
      // cleared, so the holder's renewal and outcome are refused), in one
      // statement: `a` renews every 500 ms, so an expired lease would race it.
      yield* sql`UPDATE ${sql(schema)}.runs
        SET state = 'lost', token = NULL, lease_until = NULL, note = 'taken over',
          ended_at = floor(extract(epoch from clock_timestamp()) * 1000)
        WHERE job_id = 'stubborn' AND state = 'running'`
      yield* waitUntil(
        Effect.sync(() => events.some((e) => e._tag === "RunLeaseLost" && e.jobId === "stubborn")),
        5 * second,
        "a to be told"
      )
      // For 4 lease durations, every other lease of `a` stays valid by the database's clock.
      const until = Date.now() + 8 * second
      let samples = 0
      while (Date.now() < until) {
        const expired = yield* countRuns(
          sql,
          schema,
          "job_id = 'steady' AND state = 'running' AND lease_until < floor(extract(epoch from clock_timestamp()) * 1000)"
        )
        assert.strictEqual(expired, 0, "a steady lease expired")
        samples++
        yield* Effect.sleep(100)
      }
      const stubbornRun = executions.find((e) => e.jobId === "stubborn")
      assert.strictEqual(stubbornRun?.end, null, "the stubborn handler still runs, ignoring its interruption")
      assert.deepStrictEqual(
        events.filter((e) => e._tag === "RunLeaseLost" || e._tag === "RunLost").map((e) => [e._tag, "jobId" in e ? e.jobId : ""]),
        [["RunLeaseLost", "stubborn"]],
        "no steady run was taken over"
      )
      assert.deepStrictEqual(yield* statesOf(sql, schema).pipe(Effect.map((s) => s["lost"])), 1)
      // No fire ran twice at once (or at all).
      assert.deepStrictEqual(duplicates(executions), [])
      const steadyRuns = executions.filter((e) => e.jobId === "steady")
      assert.isAtLeast(steadyRuns.length, 8)
      // Each steady handler that ended ran its full 3 s: none was interrupted by a lost lease.
      assert.isTrue(steadyRuns.every((e) => e.end === null || e.end - e.start >= 2_900))
      const keeper = (yield* a.scheduler.health).loops.find((loop) => loop.name === "lease-keeper")
      assert.deepStrictEqual([keeper?.restarts, keeper?.stalls], [0, 0])
      console.log(`(c) ${steadyRuns.length} steady runs of 3 s (lease 2 s) beside a revoked handler that ignores interruption: ${samples} samples, no lease expired`)
      yield* Deferred.succeed(release, undefined)
    }), 120_000)
})

// ---------------------------------------------------------------------------
// In process: the in-memory store, TestClock.

describe("ClaimLoss: in process", () => {
  it.effect("a claim that committed but whose answer was lost: its runs are adopted and run at once, by its node, none lost (lease 60 s)", () => {
    const starts: Array<Start> = []
    const task = Task.make("quick", Schema.Unknown, (_payload, context) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Effect.sync(() => void starts.push({ jobId: context.jobId, fireTime: context.fireTime, node: context.node, attempt: context.attempt, at }))))
    const jobs = ids("adopt", 20).map((id) => Job.make(task, { id, payload: null, trigger: Trigger.once(2 * second) }))
    const store = FaultyJobStore.layer(
      FaultyJobStore.firstCallAt("claim", 2 * second, (operation) => ({ _tag: "FailAfter", error: FaultyJobStore.connectionLost(operation) }))
    ).pipe(Layer.provideMerge(MemoryJobStore.layer))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(2 * second)
      yield* TestClock.adjust(500)
      assert.strictEqual(starts.length, 20)
      assert.deepStrictEqual(duplicates(starts), [])
      // At 2 s plus the store retry's first delay (about 10 ms): not after a lease.
      assert.isAtMost(Math.max(...starts.map((s) => s.at)), 2 * second + 100)
      yield* TestClock.adjust(120 * second)
      const history = yield* JobStore.use((s) => s.history({ limit: 100 }))
      assert.deepStrictEqual([...new Set(history.map((r) => r.state))], ["succeeded"])
      assert.strictEqual(history.length, 20)
      assert.deepStrictEqual(events.filter((e) => e._tag === "RunLost" || e._tag === "RunLeaseLost"), [])
    }).pipe(Effect.provide(schedulerOn(store, { tasks: [task], jobs, node: "n", leaseDuration: "60 seconds", reapInterval: "1 second" })))
  })

  it.effect("a lost claim answer found again only after an outage: a Skip job's fire past its grace is recorded missed, never run; others run late", () => {
    const starts: Array<Start> = []
    const task = Task.make("quick", Schema.Unknown, (_payload, context) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Effect.sync(() => void starts.push({ jobId: context.jobId, fireTime: context.fireTime, node: context.node, attempt: context.attempt, at }))))
    const due = 2 * second
    const job = (id: string, misfire: Job.Options<unknown>["misfire"]) =>
      Job.make(task, { id, payload: null, trigger: Trigger.once(due), misfire })
    const jobs = [
      job("skip", { grace: "1 second", then: { _tag: "Skip" } }),
      // Found again within its grace: it runs.
      job("skip-wide", { grace: "10 seconds", then: { _tag: "Skip" } }),
      job("coalesce", { grace: "1 second", then: { _tag: "Coalesce", keep: "latest" } })
    ]
    // The claim at the fires' instant commits, its answer is lost, and the
    // store answers nothing more (claims, adoption) until 6 s.
    const store = FaultyJobStore.layer(FaultyJobStore.combine(
      FaultyJobStore.firstCallAt("claim", due, (operation) => ({ _tag: "FailAfter", error: FaultyJobStore.connectionLost(operation) })),
      FaultyJobStore.during(due + 1, 6 * second)
    )).pipe(Layer.provideMerge(MemoryJobStore.layer))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(due)
      for (let t = 0; t < 5 * second; t += 100) yield* TestClock.adjust(100)
      assert.deepStrictEqual(starts.map((s) => s.jobId).sort(), ["coalesce", "skip-wide"])
      assert.isAtLeast(Math.min(...starts.map((s) => s.at)), 6 * second, "run when the store answered again")
      yield* TestClock.adjust(5 * second)
      const history = yield* JobStore.use((s) => s.history({ limit: 100 }))
      const byJob = Object.fromEntries(history.map((r) => [r.jobId, [r.state, r.startedAt === null, r.note]]))
      // Found again when the store answered, 4 s (and the retry's delay) after its claim.
      const note = /^late beyond grace, misfire policy skip: its node could not start it sooner \((\d+) ms after its claimed start\)$/
        .exec(String(byJob["skip"]?.[2]))
      assert.isTrue(Number(note?.[1]) >= 4_000 && Number(note?.[1]) < 4_500, String(byJob["skip"]?.[2]))
      assert.deepStrictEqual(byJob, {
        "skip": ["missed", true, note?.[0] ?? "no such note"],
        "skip-wide": ["succeeded", false, null],
        "coalesce": ["succeeded", false, null]
      })
      assert.deepStrictEqual(
        events.filter((e) => e._tag === "RunMissed").map((e) => [e.jobId, e.fireTime]),
        [["skip", due]]
      )
    }).pipe(Effect.provide(schedulerOn(store, { tasks: [task], jobs, node: "n", leaseDuration: "60 seconds", claimAhead: 0 })))
  })

  it.effect("a run reaped and re-claimed by the same node: the earlier attempt is interrupted at once, and nothing of it touches the new one", () => {
    const executions: Array<{ readonly attempt: number; readonly start: number; end: number | null; interrupted: boolean }> = []
    const task = Task.make("reclaimed", Schema.Unknown, (_payload, context) =>
      Effect.gen(function*() {
        const entry = { attempt: context.attempt, start: yield* Clock.currentTimeMillis, end: null as number | null, interrupted: false }
        executions.push(entry)
        yield* Effect.sleep(context.attempt === 1 ? 100 * second : 10 * second).pipe(
          Effect.onInterrupt(() => Effect.sync(() => void (entry.interrupted = true))),
          Effect.ensuring(Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => void (entry.end = t))))
        )
      }))
    // The first attempt's renewals go nowhere (as on a connection that
    // silently drops them): its lease expires, the node's own reaper retries
    // the run, and the node claims it again while it still holds attempt 1.
    let first: string | undefined
    const store = memoryWith((inner) => ({
      claim: (request) =>
        Effect.tap(inner.claim(request), ({ runs }) => Effect.sync(() => void (first ??= runs[0]?.token))),
      renew: (node, leases, leaseMs) => inner.renew(node, leases.filter((lease) => lease.token !== first), leaseMs)
    }))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(1 * second)
      assert.strictEqual(executions.length, 1)
      yield* TestClock.adjust(5 * second)
      // Lease 3 s from 1 s; reaped at 5 s, claimed again at once.
      assert.deepStrictEqual(executions.map((e) => [e.attempt, e.start, e.end, e.interrupted]), [[1, 1_000, 5_000, true], [2, 5_000, null, false]])
      yield* TestClock.adjust(20 * second)
      assert.deepStrictEqual(executions.map((e) => [e.attempt, e.end]), [[1, 5_000], [2, 15_000]])
      const [record] = yield* JobStore.use((s) => s.history({ jobId: "reclaimed" }))
      assert.deepStrictEqual([record?.state, record?.attempt, record?.endedAt], ["succeeded", 2, 15_000])
      assert.deepStrictEqual(
        events.filter((e) => e._tag.startsWith("Run")).map((e) => [e._tag, "attempt" in e ? e.attempt : null, e.at]),
        [
          ["RunStarted", 1, 1_000],
          ["RunLost", null, 5_000],
          ["RunLeaseLost", null, 5_000],
          ["RunStarted", 2, 5_000],
          ["RunSucceeded", 2, 15_000]
        ]
      )
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [task],
      jobs: [Job.make(task, { id: "reclaimed", payload: null, trigger: Trigger.once(1 * second), onLost: "retry" })],
      node: "n",
      leaseDuration: "3 seconds",
      heartbeatInterval: "1 second",
      reapInterval: "1 second",
      // Claimed once due, so the lease runs from 1 s.
      claimAhead: 0
    })))
  })
})
