/**
 * The demo scheduler: `npm start`.
 *
 * Starts an embedded PostgreSQL in `.data/pg` (git-ignored; or uses
 * DATABASE_URL), declares two jobs in code, adds one at run time, and prints
 * a line per run. Ctrl-C stops it cleanly: running handlers finish, the
 * server stops. Start it again: the schedules and the history are still there.
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import * as path from "node:path"
import { Job, PgJobStore, Scheduler, Task, Trigger } from "../src/index.ts"
import * as EmbeddedPg from "./lib/EmbeddedPg.ts"

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

const program = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
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
  yield* scheduler.events.pipe(
    Stream.runForEach((event) => {
      switch (event._tag) {
        case "RunSucceeded":
        case "RunFailed":
        case "RunTimedOut":
          return Effect.log(`${event._tag.slice(3).toLowerCase().padEnd(9)} ${event.jobId.padEnd(15)} fire ${time(event.fireTime)} ended ${time(event.at)}`)
        case "RunMissed":
        case "RunCoalesced":
        case "RunSkipped":
        case "RunLost":
          return Effect.log(`${event._tag.slice(3).toLowerCase().padEnd(9)} ${event.jobId.padEnd(15)} fire ${time(event.fireTime)} (${event.note ?? ""})`)
        case "StoreUnavailable":
        case "StoreRecovered":
        case "LoopRestarted":
          return Effect.log(`${event._tag}`)
        default:
          return Effect.void
      }
    })
  )
})

const database = Layer.unwrap(Effect.gen(function*() {
  const fromEnv = process.env["DATABASE_URL"]
  if (fromEnv !== undefined && fromEnv !== "") return PgClient.layer({ url: Redacted.make(fromEnv) })
  const dataDir = path.join(import.meta.dirname, "..", ".data", "pg")
  const pg = yield* EmbeddedPg.make({ dataDir, databaseUrl: "" })
  yield* Effect.log(`embedded PostgreSQL on port ${pg.port}, data in ${path.relative(process.cwd(), dataDir)}`)
  return PgClient.layer({ url: Redacted.make(pg.url) })
}))

const SchedulerLive = Scheduler.layer({ tasks: [syncDevice, heartbeat], jobs, shutdownGrace: "5 seconds" }).pipe(
  Layer.provide(PgJobStore.layer({ schema: "steadfast_demo" })),
  Layer.provide(database)
)

program.pipe(
  Effect.onInterrupt(() => Effect.log("stopping: no new claims, running handlers finish, then the database stops")),
  Effect.provide(SchedulerLive),
  Effect.ensuring(Effect.log("stopped cleanly")),
  NodeRuntime.runMain
)
