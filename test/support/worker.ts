/**
 * One scheduler process for multi-process tests, started with
 * `process.execPath test/support/worker.ts '<config json>'`.
 *
 * Its handlers write an independent ledger: one JSON line per handler start
 * (and end) appended to a file of its own, outside the database, so the
 * tests count what really ran, not what the library says it ran. Events go to
 * stdout as JSON lines.
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Clock, Effect, Layer, Redacted, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql"
import * as fs from "node:fs"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as PgJobStore from "../../src/PgJobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Task from "../../src/Task.ts"
import type * as Trigger from "../../src/Trigger.ts"

export interface WorkerJob {
  readonly id: string
  readonly trigger: Trigger.Trigger
  readonly sleepMs?: number
  readonly onLost?: Job.LostPolicy
  readonly misfire?: Job.Misfire
  readonly graceMs?: number
  readonly overlap?: Job.OverlapPolicy
  /** The job's task (default `"ledger"`): a process claims only jobs whose task it registers. */
  readonly task?: string
}

export interface WorkerConfig {
  readonly url: string
  readonly node: string
  readonly ledger: string
  readonly jobs: ReadonlyArray<WorkerJob>
  readonly schema?: string
  readonly version?: number
  readonly leaseMs?: number
  readonly heartbeatMs?: number
  readonly reapMs?: number
  readonly pollMs?: number
  /** This process's Effect clock runs this far ahead (or, negative, behind). */
  readonly clockSkewMs?: number
  /** Print every event (default: only lifecycle events). */
  readonly verbose?: boolean
  /** Behind a transaction pooler: the store's `pooler` option, and a client without prepared statements. */
  readonly pooler?: "transaction"
  /** Print `Status` lines (health and the store's notification status) whenever they change. */
  readonly reportStatus?: boolean
  /** The store's deadlines per operation (`PgJobStore.Options.deadlines`). */
  readonly deadlines?: PgJobStore.Deadlines
  /**
   * A table (created by the test, no unique key) that every handler start is
   * also written to, stamped with the database's clock:
   * `(job_id text, fire_time bigint, node text, at bigint)`.
   */
  readonly dbLedger?: string
  /** History retention (`Scheduler.Options.retention`). */
  readonly retention?: { readonly maxAgeMs?: number; readonly maxPerJob?: number }
  /** How often the janitor prunes (`Scheduler.Options.janitorInterval`). */
  readonly janitorMs?: number
}

export interface LedgerLine {
  readonly kind: "start" | "end"
  readonly jobId: string
  readonly fireTime: number
  readonly attempt: number
  readonly node: string
  readonly pid: number
  readonly at: number
}

const config: WorkerConfig = JSON.parse(process.argv[2] ?? "{}")

const write = (line: LedgerLine) => fs.appendFileSync(config.ledger, `${JSON.stringify(line)}\n`)

// The start, stamped by the database's clock (`clock_timestamp()`: when the statement runs).
const writeDb = (table: string, line: { readonly jobId: string; readonly fireTime: number; readonly node: string }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO ${sql(table)} (job_id, fire_time, node, at)
      VALUES (${line.jobId}, ${line.fireTime}, ${line.node}, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)`
  })

const makeLedgerTask = (name: string) => Task.make(
  name,
  Schema.Struct({ sleepMs: Schema.Number }),
  ({ sleepMs }, context) =>
    Effect.gen(function*() {
      const line = { jobId: context.jobId, fireTime: context.fireTime, attempt: context.attempt, node: context.node, pid: process.pid }
      write({ kind: "start", ...line, at: Date.now() })
      if (config.dbLedger !== undefined) yield* writeDb(config.dbLedger, line)
      if (sleepMs > 0) yield* Effect.sleep(sleepMs)
      write({ kind: "end", ...line, at: Date.now() })
    })
)

const ledgerTasks = new Map(
  ["ledger", ...config.jobs.map((spec) => spec.task ?? "ledger")].map((name) => [name, makeLedgerTask(name)])
)
const jobs = config.jobs.map((spec) =>
  Job.make(ledgerTasks.get(spec.task ?? "ledger")!, {
    id: spec.id,
    payload: { sleepMs: spec.sleepMs ?? 0 },
    trigger: spec.trigger,
    onLost: spec.onLost,
    overlap: spec.overlap,
    misfire: { grace: spec.graceMs, then: spec.misfire }
  })
)

const print = (value: unknown) => Effect.sync(() => process.stdout.write(`${JSON.stringify(value)}\n`))

const quiet = new Set(["RunStarted", "RunSucceeded"])

// Health and notification status, printed when they change.
const reportStatus = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  const store = yield* JobStore
  let last = ""
  while (true) {
    const health = yield* scheduler.health
    const notifications = store.notifications === undefined ? "working" : yield* store.notifications
    const status = { _tag: "Status", health: health.status, notifications }
    const line = JSON.stringify(status)
    // `at` (this process's wall clock) lets a test time health against a fault.
    if (line !== last) yield* print({ ...status, at: Date.now() })
    last = line
    yield* Effect.sleep(200)
  }
})

const program = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  yield* print({ _tag: "Ready", node: scheduler.node, pid: process.pid })
  if (config.reportStatus === true) yield* Effect.forkChild(reportStatus)
  yield* scheduler.events.pipe(
    Stream.filter((event) => config.verbose === true || !quiet.has(event._tag)),
    Stream.runForEach(print)
  )
})

const SchedulerLive = Scheduler.layer({
  tasks: [...ledgerTasks.values()],
  jobs,
  node: config.node,
  version: config.version,
  leaseDuration: config.leaseMs,
  heartbeatInterval: config.heartbeatMs,
  reapInterval: config.reapMs,
  pollInterval: config.pollMs,
  shutdownGrace: "2 seconds",
  retention: config.retention,
  janitorInterval: config.janitorMs
}).pipe(
  Layer.provideMerge(PgJobStore.layer({ schema: config.schema, pooler: config.pooler, deadlines: config.deadlines })),
  Layer.provide(PgClient.layer(PgJobStore.clientConfig({ url: Redacted.make(config.url), pooler: config.pooler })))
)

// A clock that is wrong by `skew`: the scheduler must not care, because the
// database's clock decides what is due.
const skewed = (base: Clock.Clock, skew: number): Clock.Clock => ({
  currentTimeMillisUnsafe: () => base.currentTimeMillisUnsafe() + skew,
  currentTimeMillis: Effect.sync(() => base.currentTimeMillisUnsafe() + skew),
  currentTimeNanosUnsafe: () => base.currentTimeNanosUnsafe() + BigInt(skew) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => base.currentTimeNanosUnsafe() + BigInt(skew) * 1_000_000n),
  monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe(),
  monotonicTimeNanos: base.monotonicTimeNanos,
  sleep: (duration) => base.sleep(duration)
})

program.pipe(
  Effect.provide(SchedulerLive),
  (effect) =>
    config.clockSkewMs === undefined
      ? effect
      : Effect.flatMap(Clock.clockWith(Effect.succeed), (base) =>
        Effect.provideService(effect, Clock.Clock, skewed(base, config.clockSkewMs ?? 0))),
  Effect.tapCause((cause) => print({ _tag: "Fatal", cause: String(cause) })),
  NodeRuntime.runMain
)
