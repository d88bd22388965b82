/**
 * The demo scheduler: two jobs, a line per run, Ctrl-C stops it cleanly.
 *
 *   npm start
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schema, Stream } from "effect"
import { Job, MemoryJobStore, Scheduler, Task, Trigger } from "../src/index.ts"

const syncDevice = Task.make(
  "syncDevice",
  Schema.Struct({ deviceId: Schema.String }),
  ({ deviceId }, { fireTime, attempt }) =>
    Effect.log(`sync device ${deviceId} (fire ${new Date(fireTime).toISOString()}, attempt ${attempt})`)
)

const heartbeat = Task.unit("heartbeat", ({ fireTime }) => Effect.log(`heartbeat for ${new Date(fireTime).toISOString()}`))

const jobs = [
  Job.make(syncDevice, { id: "sync-device-42", payload: { deviceId: "42" }, trigger: Trigger.every("5 seconds") }),
  Job.make(heartbeat, { id: "heartbeat", payload: null, trigger: Trigger.cron("*/3 * * * * *") })
]

const program = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  yield* Effect.log(`node ${scheduler.node} running ${jobs.length} jobs; Ctrl-C to stop`)
  yield* scheduler.events.pipe(
    Stream.filter((event) => event._tag === "RunSucceeded" || event._tag === "RunFailed"),
    Stream.runForEach((event) => Effect.log(`${event._tag} ${event.jobId}`))
  )
})

program.pipe(
  Effect.provide(Scheduler.layer({ tasks: [syncDevice, heartbeat], jobs }).pipe(Layer.provide(MemoryJobStore.layer))),
  NodeRuntime.runMain
)
