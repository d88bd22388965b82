/**
 * Example: dynamic schedules over HTTP.
 *
 * One task, `storeDeviceData`, with a `{ deviceId }` payload. No job is
 * declared in code: an HTTP API adds one job per device at run time (every
 * 2 s), pauses, resumes and removes it, lists the devices and shows a
 * device's fire history. Failures come back as the library's typed errors,
 * with a 4xx status and their `_tag` in the body.
 *
 * The script starts the server on an embedded PostgreSQL (or on a fresh
 * database of the server `DATABASE_URL` names), then drives it itself with
 * `fetch`: add devices 1 and 2, pause 1 (only 2 runs), resume 1, remove 2
 * (only 1 runs), a few bad requests, then the history of each device. It
 * stops by itself after about 20 s.
 *
 *   npm exec -- node scripts/examples/dynamic-schedules.ts
 *
 * The API:
 *
 *   GET    /devices                 the devices and their schedules
 *   POST   /devices/:id             store device :id's data every 2 s (201)
 *   POST   /devices/:id/pause       pause it
 *   POST   /devices/:id/resume      resume it
 *   DELETE /devices/:id             remove it (204)
 *   GET    /devices/:id/history     its fires, newest first
 */
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { createServer } from "node:http"
import { Job, JobStore, PgJobStore, Run, Scheduler, StoreError, Task, Trigger } from "../../src/index.ts"
import * as EmbeddedPg from "../lib/EmbeddedPg.ts"

// ---------------------------------------------------------------------------
// The task and its jobs

/** Device ids are 1 to 6 digits: the task's payload schema says so. */
const DeviceId = Schema.String.check(Schema.isPattern(/^[0-9]{1,6}$/))

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23)
const say = (line: string) => Effect.sync(() => console.log(line))

/** What the handlers ran, for the phase summaries (a real task would write the readings somewhere). */
const ran: Array<{ readonly deviceId: string; readonly fireTime: number }> = []

const storeDeviceData = Task.make(
  "storeDeviceData",
  Schema.Struct({ deviceId: DeviceId }),
  ({ deviceId }, { fireTime, attempt }) =>
    Effect.suspend(() => {
      ran.push({ deviceId, fireTime })
      return say(`    [run] ${clock(Date.now())}  storeDeviceData device ${deviceId}  (fire ${clock(fireTime)}, attempt ${attempt})`)
    })
)

const jobId = (deviceId: string) => `device-${deviceId}`

const deviceJob = (deviceId: string) =>
  Job.make(storeDeviceData, {
    id: jobId(deviceId),
    payload: { deviceId },
    trigger: Trigger.every("2 seconds"),
    // Fires due while the device was paused are recorded as missed, not run on resume.
    misfire: { grace: "1 second", then: { _tag: "Skip" } }
  })

// ---------------------------------------------------------------------------
// The HTTP API: schema first, errors are the library's own tagged errors

const Device = Schema.Struct({
  deviceId: Schema.String,
  jobId: Schema.String,
  paused: Schema.Boolean,
  every: Schema.String,
  nextFire: Schema.NullOr(Schema.String)
})

const Params = { id: Schema.String }

const DeviceNotFound = JobStore.JobNotFound.pipe(HttpApiSchema.status(404))
const Unavailable = StoreError.StoreError.pipe(HttpApiSchema.status(503))

class DevicesApi extends HttpApiGroup.make("devices")
  .add(
    HttpApiEndpoint.get("list", "/devices", { success: Schema.Array(Device), error: Unavailable }),
    HttpApiEndpoint.post("add", "/devices/:id", {
      params: Params,
      success: Device.pipe(HttpApiSchema.status(201)),
      error: [
        Task.InvalidPayload.pipe(HttpApiSchema.status(400)),
        Scheduler.InvalidJob.pipe(HttpApiSchema.status(400)),
        JobStore.JobExists.pipe(HttpApiSchema.status(409)),
        Unavailable
      ]
    }),
    HttpApiEndpoint.post("pause", "/devices/:id/pause", { params: Params, success: Device, error: [DeviceNotFound, Unavailable] }),
    HttpApiEndpoint.post("resume", "/devices/:id/resume", { params: Params, success: Device, error: [DeviceNotFound, Unavailable] }),
    HttpApiEndpoint.delete("remove", "/devices/:id", { params: Params, error: [DeviceNotFound, Unavailable] }),
    HttpApiEndpoint.get("history", "/devices/:id/history", {
      params: Params,
      success: Schema.Array(Run.RunRecord),
      // A device id that makes no valid job id (`/devices/bad!id/history`).
      error: [Scheduler.InvalidQuery.pipe(HttpApiSchema.status(400)), Unavailable]
    })
  )
{}

class Api extends HttpApi.make("devices-api").add(DevicesApi) {}

const toDevice = (job: JobStore.StoredJob) => ({
  deviceId: job.id.slice("device-".length),
  jobId: job.id,
  paused: job.paused,
  every: job.trigger._tag === "Interval" ? `${job.trigger.every} ms` : job.trigger._tag,
  nextFire: job.nextFire === null ? null : new Date(job.nextFire).toISOString()
})

const DevicesLive = HttpApiBuilder.group(
  Api,
  "devices",
  Effect.fn(function*(handlers) {
    const scheduler = yield* Scheduler.Scheduler
    return handlers.handleAll({
      list: () =>
        Effect.map(scheduler.list, (jobs) => jobs.filter((job) => job.task === storeDeviceData.name).map(toDevice)),
      add: ({ params }) =>
        scheduler.add(deviceJob(params.id)).pipe(
          Effect.map(toDevice),
          // Our own code builds the trigger and names the task: these would be bugs, not bad requests.
          Effect.catchTags({ UnknownTask: Effect.die, InvalidTrigger: Effect.die })
        ),
      pause: ({ params }) => Effect.map(scheduler.pause(jobId(params.id)), toDevice),
      resume: ({ params }) => Effect.map(scheduler.resume(jobId(params.id)), toDevice),
      remove: ({ params }) =>
        Effect.flatMap(
          scheduler.remove(jobId(params.id)),
          (existed) => existed ? Effect.void : Effect.fail(new JobStore.JobNotFound({ id: jobId(params.id) }))
        ),
      history: ({ params }) => scheduler.history({ jobId: jobId(params.id), limit: 50 })
    })
  })
)

// ---------------------------------------------------------------------------
// The server: PostgreSQL, the store, the scheduler, the HTTP server

const PgLive = Layer.unwrap(Effect.gen(function*() {
  const pg = yield* EmbeddedPg.make({ fast: true })
  const name = `steadfast_dynamic_${Date.now().toString(36)}`
  const url = yield* pg.createDatabase(name)
  // On a server we do not own, leave nothing behind.
  if (!pg.managed) yield* Effect.addFinalizer(() => Effect.ignore(pg.dropDatabase(name)))
  yield* say(`PostgreSQL: ${pg.managed ? "embedded server" : "DATABASE_URL server"}, database ${name}`)
  return PgClient.layer({ url: Redacted.make(url) })
}))

const SchedulerLive = Scheduler.layer({ tasks: [storeDeviceData], jobs: [], shutdownGrace: "2 seconds" }).pipe(
  Layer.provide(PgJobStore.layer()),
  Layer.provide(PgLive)
)

const ServerLive = HttpRouter.serve(HttpApiBuilder.layer(Api).pipe(Layer.provide(DevicesLive)), {
  disableLogger: true,
  disableListenLog: true
}).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provide(SchedulerLive)
)

// ---------------------------------------------------------------------------
// The driver: plain HTTP requests, as any client would make them

const program = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const base = HttpServer.formatAddress(server.address)
  yield* say(`HTTP server listening on ${base}\n`)

  const call = (method: string, path: string) =>
    Effect.promise(async () => {
      const response = await fetch(`${base}${path}`, { method })
      const text = await response.text()
      return { status: response.status, body: text === "" ? undefined : JSON.parse(text) }
    }).pipe(
      Effect.tap(({ status, body }) => say(`  ${method.padEnd(6)} ${path.padEnd(22)} -> ${status} ${body === undefined ? "" : JSON.stringify(body)}`))
    )

  const phase = Effect.fnUntraced(function*(title: string, seconds: number) {
    const from = Date.now()
    yield* say(`\n== ${title}  (${seconds} s from ${clock(from)})`)
    yield* Effect.sleep(`${seconds} seconds`)
    const fired = ran.filter((run) => run.fireTime >= from)
    const byDevice = new Map<string, number>()
    for (const run of fired) byDevice.set(run.deviceId, (byDevice.get(run.deviceId) ?? 0) + 1)
    const summary = [...byDevice.entries()].sort().map(([device, count]) => `device ${device}: ${count} runs`)
    yield* say(`   => in this phase: ${summary.length === 0 ? "no runs" : summary.join(", ")}`)
    return byDevice
  })

  yield* say("== add devices 1 and 2")
  yield* call("POST", "/devices/1")
  yield* call("POST", "/devices/2")
  yield* call("GET", "/devices")
  const both = yield* phase("both devices scheduled", 5)

  yield* say("\n== pause device 1")
  yield* call("POST", "/devices/1/pause")
  const paused = yield* phase("device 1 paused", 5)

  yield* say("\n== resume device 1, remove device 2")
  yield* call("POST", "/devices/1/resume")
  yield* call("DELETE", "/devices/2")
  yield* call("GET", "/devices")
  const resumed = yield* phase("device 1 resumed, device 2 removed", 5)

  yield* say("\n== bad requests get typed errors")
  yield* call("POST", "/devices/not-a-number") // the task's payload schema refuses it: InvalidPayload
  yield* call("POST", "/devices/bad!id") // not a valid job id: InvalidJob
  yield* call("POST", "/devices/1") // already scheduled: JobExists
  yield* call("POST", "/devices/42/pause") // unknown device: JobNotFound
  yield* call("DELETE", "/devices/2") // removed already: JobNotFound

  yield* say("\n== history (newest first)")
  for (const device of ["1", "2"]) {
    const { status, body } = yield* Effect.promise(() =>
      fetch(`${base}/devices/${device}/history`).then(async (r) => ({ status: r.status, body: await r.json() }))
    )
    const records = Schema.decodeUnknownOption(Schema.Array(Run.RunRecord))(body)
    yield* say(`  GET    /devices/${device}/history -> ${status}, ${Option.match(records, { onNone: () => "unreadable", onSome: (r) => `${r.length} records` })}`)
    for (const record of Option.getOrElse(records, () => [])) {
      const late = record.startedAt === null ? "" : `, started ${record.startedAt - record.fireTime} ms after the fire`
      yield* say(`    device ${device}  fire ${clock(record.fireTime)}  ${record.state.padEnd(9)}${late}${record.note === null ? "" : `  (${record.note})`}`)
    }
  }

  const count = (runs: Map<string, number>, device: string) => runs.get(device) ?? 0
  const checks: ReadonlyArray<{ readonly what: string; readonly ok: boolean }> = [
    { what: "both devices ran while both were scheduled", ok: count(both, "1") > 0 && count(both, "2") > 0 },
    { what: "only device 2 ran while device 1 was paused", ok: count(paused, "1") === 0 && count(paused, "2") > 0 },
    { what: "only device 1 ran after resume and removal", ok: count(resumed, "1") > 0 && count(resumed, "2") === 0 }
  ]
  yield* say("\n== summary")
  for (const { what, ok } of checks) yield* say(`  ${ok ? "ok  " : "FAIL"} ${what}`)
  if (checks.some(({ ok }) => !ok)) return yield* Effect.die(new Error("the example did not behave as described"))
  yield* say("\nstopping: the scheduler drains, the HTTP server closes, the example database goes away")
})

program.pipe(Effect.provide(ServerLive), NodeRuntime.runMain)
