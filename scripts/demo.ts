/**
 * The demo scheduler: `npm start`.
 *
 * Starts an embedded PostgreSQL in STEADFAST_DATA_DIR (default `.data/pg`,
 * git-ignored; or uses DATABASE_URL), declares two jobs in code, adds one at
 * run time, and prints a line per run. It serves the admin API and the
 * dashboard (their URL and token are printed at start). Ctrl-C stops it cleanly: running
 * handlers finish, the server stops. Start it again: the schedules and the
 * history are still there. After a long stop, the fires missed meanwhile are
 * settled by each job's misfire policy: one summary line per job says how
 * many, and when the first and last of them were due.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { PgClient } from "@effect/sql-pg"
import { Cause, Effect, Exit, Fiber, Layer, Option, Redacted, Schema, Stream } from "effect"
import { HttpServer } from "effect/http"
import { randomBytes } from "node:crypto"
import * as path from "node:path"
import { Admin, Dashboard } from "../src/admin/index.ts"
import { type Event, Job, PgJobStore, Scheduler, Task, Trigger } from "../src/index.ts"
import * as EmbeddedPg from "./lib/EmbeddedPg.ts"
import * as LateFires from "./lib/LateFires.ts"

const syncDevice = Task.make(
  "syncDevice",
  Schema.Struct({ deviceId: Schema.String }),
  ({ deviceId }, { attempt }) => Effect.log(`  syncing device ${deviceId} (attempt ${attempt})`)
)

const heartbeat = Task.unit("heartbeat", () => Effect.void)

const jobs = [
  Job.make(syncDevice, { id: "sync-device-42", payload: { deviceId: "42" }, trigger: Trigger.every("5 seconds") }),
  Job.make(heartbeat, { id: "heartbeat", payload: null, trigger: Trigger.cron("*/3 * * * * *", { timeZone: "Europe/Berlin" }) })
]

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23)

const settledStates = ["pending", "running", "succeeded", "failed", "timed-out", "lost"] as const

/**
 * The summary line of a burst. A coalesced burst names the run it was
 * folded into, whose note has the full count (a long stop records only the
 * first `FirePlan.maxLateRecords` late fires one by one).
 */
const summarise = (scheduler: Scheduler.Scheduler["Service"], burst: LateFires.Burst) =>
  Effect.gen(function*() {
    const kept = burst.keptFire
    const total = kept === undefined ? undefined : yield* scheduler.history({
      jobId: burst.jobId,
      states: settledStates,
      limit: 200
    }).pipe(
      Effect.map((records) => LateFires.coalescedTotal(records.find((r) => r.fireTime === kept)?.note ?? null)),
      // The count of the events is still worth printing.
      Effect.orElseSucceed(() => undefined)
    )
    yield* Effect.log(`${"summary".padEnd(9)} ${LateFires.line(burst, total)}`)
  })

/**
 * A line per run; fires that settled without running (coalesced, missed,
 * skipped) are gathered per job and printed as one summary line per burst.
 * The events are merged with a clock tick, so a burst is reported once it is
 * over even when no other event follows.
 */
const printEvents = (scheduler: Scheduler.Scheduler["Service"]) => {
  const bursts = LateFires.make({ quietMs: 1_000, maxHoldMs: 10_000 })
  const ticks = Stream.tick("250 millis").pipe(Stream.map(() => "tick" as const))
  return Stream.merge(scheduler.events, ticks).pipe(
    Stream.runForEach((input: Event.Event | "tick") => {
      if (input === "tick") {
        return Effect.forEach(bursts.due(Date.now()), (burst) => summarise(scheduler, burst), { discard: true })
      }
      if (LateFires.isSettled(input)) return Effect.sync(() => bursts.add(input, Date.now()))
      switch (input._tag) {
        case "RunSucceeded":
        case "RunFailed":
        case "RunTimedOut":
          return Effect.log(
            `${input._tag.slice(3).toLowerCase().padEnd(9)} ${input.jobId.padEnd(15)} fire ${time(input.fireTime)} ended ${
              time(input.at)
            }`
          )
        case "RunLost":
          return Effect.log(`${"lost".padEnd(9)} ${input.jobId.padEnd(15)} fire ${time(input.fireTime)} (${input.note ?? ""})`)
        case "StoreUnavailable":
        case "StoreRecovered":
        case "LoopRestarted":
          return Effect.log(`${input._tag}`)
        default:
          return Effect.void
      }
    })
  )
}

/**
 * The admin API and dashboard on STEADFAST_ADMIN_PORT (default 7070; 0 picks
 * a free port) of 127.0.0.1, with one operator token: STEADFAST_ADMIN_TOKEN,
 * or a random one printed at start (this demo's only secret, printed so that
 * you can log in; a real deployment passes its tokens as `Redacted` values
 * and never prints them).
 */
const adminPort = Number(process.env["STEADFAST_ADMIN_PORT"] ?? "7070")
const adminToken = process.env["STEADFAST_ADMIN_TOKEN"] || randomBytes(18).toString("base64url")
const AdminLive = Admin.serve({
  port: Number.isInteger(adminPort) && adminPort >= 0 ? adminPort : 7070,
  prefix: "/admin",
  tokens: [{ name: "demo", role: "operator", secret: Redacted.make(adminToken) }],
  routes: Dashboard.layer()
})

const announceAdmin = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const url = HttpServer.formatAddress(server.address)
  yield* Effect.log(`dashboard: ${url}/admin/ui  (API under ${url}/admin, token: ${adminToken})`)
})

const program = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  yield* announceAdmin
  // Subscribe before this program's first store round trip: the burst of a
  // long stop is published by the dispatcher's first claim, right after
  // registration, and a subscriber made later would miss it.
  const printer = yield* Effect.forkChild(printEvents(scheduler), { startImmediately: true })
  const stored = yield* scheduler.list
  const earlier = yield* scheduler.history({ limit: 100_000 })
  yield* Effect.log(`node ${scheduler.node}: ${stored.length} stored schedules, ${earlier.length} run records from earlier starts`)
  for (const record of earlier.slice(0, 3)) {
    yield* Effect.log(`  earlier: ${record.jobId} fire ${new Date(record.fireTime).toISOString()} ${record.state}`)
  }
  // A schedule added at run time: it survives restarts like the declared ones.
  const device7 = Job.make(syncDevice, { id: "sync-device-7", payload: { deviceId: "7" }, trigger: Trigger.every("7 seconds") })
  if (Option.isNone(yield* scheduler.get(device7.id))) {
    yield* scheduler.add(device7)
    yield* Effect.log(`added ${device7.id} at run time`)
  } else {
    yield* Effect.log(`${device7.id} was added by an earlier start and is still scheduled`)
  }
  yield* Effect.log("running; Ctrl-C to stop")
  return yield* Fiber.join(printer)
})

const database = Layer.unwrap(Effect.gen(function*() {
  const fromEnv = process.env["DATABASE_URL"]
  if (fromEnv !== undefined && fromEnv !== "") return PgClient.layer({ url: Redacted.make(fromEnv) })
  const setting = process.env["STEADFAST_DATA_DIR"]
  const dataDir = setting !== undefined && setting !== ""
    ? path.resolve(setting)
    : path.join(import.meta.dirname, "..", ".data", "pg")
  const pg = yield* EmbeddedPg.make({ dataDir, databaseUrl: "", dataDirSetting: "STEADFAST_DATA_DIR" })
  yield* Effect.log(`embedded PostgreSQL on port ${pg.port}, data in ${path.relative(process.cwd(), dataDir) || "."}`)
  return PgClient.layer({ url: Redacted.make(pg.url) })
}))

const SchedulerLive = Scheduler.layer({ tasks: [syncDevice, heartbeat], jobs, shutdownGrace: "5 seconds" }).pipe(
  Layer.provide(PgJobStore.layer({ schema: "steadfast_demo" })),
  Layer.provide(database)
)

program.pipe(
  Effect.onInterrupt(() => Effect.log("stopping: no new claims, running handlers finish, then the database stops")),
  Effect.provide(AdminLive.pipe(Layer.provideMerge(SchedulerLive))),
  // Stopped by a signal (or ended): not when it could not start.
  Effect.onExit((exit) =>
    Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) ? Effect.void : Effect.log("stopped cleanly")
  ),
  // A data folder the server cannot reach: one line saying what to change, exit code 1, no stack trace.
  EmbeddedPg.reportUnreachable,
  NodeRuntime.runMain
)
