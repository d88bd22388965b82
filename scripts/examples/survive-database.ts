/**
 * Example: surviving the database.
 *
 * Three jobs fire every 1, 2 and 3 seconds on an embedded PostgreSQL that
 * this script starts itself (always its own server, even when DATABASE_URL is
 * set: it has to stop it). After 6 s the server is stopped for 15 s, then
 * started again on the same port and data folder. Every second the script
 * prints the scheduler's health (`healthy`, `store-unavailable` or
 * `degraded`, from `scheduler.health`), and each run as it starts, so you
 * see the scheduler wait out the outage without stopping, then pick up where
 * it left off. The fires due during the outage follow each job's misfire
 * policy (grace 2 s, then Coalesce / CatchUp / Skip): the summary shows the
 * runs before, during and after the outage, the misfire records, and how long
 * after the server came back the first run started. About 35 s in all.
 *
 *   npm exec -- node scripts/examples/survive-database.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, References, Schedule, Stream } from "effect"
import { Job, PgJobStore, Scheduler, Supervisor, Task, Trigger } from "../../src/index.ts"
import type { Run } from "../../src/index.ts"
import * as EmbeddedPg from "../lib/EmbeddedPg.ts"

const before = 6_000
const outage = 15_000
const after = 10_000

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23)
const say = (line: string) => Effect.sync(() => console.log(line))

// ---------------------------------------------------------------------------
// The jobs: each run is remembered (and printed) when its handler starts

type Phase = "before" | "outage" | "after"

const timeline: { phase: Phase; startedAt: number; stoppedAt: number; restartedAt: number } = {
  phase: "before",
  startedAt: Date.now(),
  stoppedAt: 0,
  restartedAt: 0
}
const since = (ms: number) => `t+${((ms - timeline.startedAt) / 1000).toFixed(1).padStart(4)}s`

const runs: Array<{ readonly jobId: string; readonly fireTime: number; readonly at: number; readonly phase: Phase }> = []

const pulse = Task.unit("pulse", ({ jobId, fireTime }) =>
  Effect.suspend(() => {
    const at = Date.now()
    runs.push({ jobId, fireTime, at, phase: timeline.phase })
    const lateness = at - fireTime
    return say(`           run ${jobId.padEnd(17)} fire ${clock(fireTime)}  started ${lateness > 2_000 ? `${(lateness / 1000).toFixed(1)} s late (misfire policy)` : `+${lateness} ms`}`)
  }))

const grace = "2 seconds"
const jobs = [
  Job.make(pulse, { id: "every-1s-coalesce", payload: null, trigger: Trigger.every("1 second"),
    misfire: { grace, then: { _tag: "Coalesce", keep: "latest" } } }),
  Job.make(pulse, { id: "every-2s-catch-up", payload: null, trigger: Trigger.every("2 seconds"),
    misfire: { grace, then: { _tag: "CatchUp", max: 2 } } }),
  Job.make(pulse, { id: "every-3s-skip", payload: null, trigger: Trigger.every("3 seconds"),
    misfire: { grace, then: { _tag: "Skip" } } })
]

// ---------------------------------------------------------------------------
// Watching: health every second, store and loop events as they happen

const describeHealth = (health: Supervisor.Health) => {
  const restarts = health.loops.reduce((sum, loop) => sum + loop.restarts, 0)
  const restarting = health.loops.filter((loop) => loop.state === "restarting").map((loop) => loop.name)
  const details = [
    health.store.available ? null : `store down since ${since(health.store.since)}: ${health.store.lastError ?? "?"}`,
    restarts === 0 ? null : `loop restarts ${restarts}`,
    restarting.length === 0 ? null : `restarting: ${restarting.join(", ")}`
  ].filter((detail) => detail !== null)
  return `${health.status.padEnd(17)}${details.length === 0 ? "" : ` (${details.join("; ")})`}`
}

const statuses: Array<{ readonly at: number; readonly status: Supervisor.Health["status"] }> = []

const watch = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  const healthLine = Effect.gen(function*() {
    const health = yield* scheduler.health
    const now = Date.now()
    const last = statuses.at(-1)
    if (last === undefined || last.status !== health.status) statuses.push({ at: now, status: health.status })
    yield* say(`${clock(now)} ${since(now)} [${timeline.phase.padEnd(6)}] health: ${describeHealth(health)}`)
  })
  yield* Effect.forkScoped(Effect.repeat(healthLine, Schedule.spaced("1 second")))

  // Fires settled without running arrive in a batch from one claim: summarise them.
  const settled = new Map<string, number>()
  const flush = Effect.suspend(() => {
    if (settled.size === 0) return Effect.void
    const text = [...settled.entries()].map(([key, count]) => `${count} ${key}`).join(", ")
    settled.clear()
    return say(`           settled without running: ${text}`)
  })
  yield* Effect.forkScoped(Effect.repeat(flush, Schedule.spaced("250 millis")))
  yield* Effect.forkScoped(scheduler.events.pipe(
    Stream.runForEach((event) => {
      switch (event._tag) {
        case "RunMissed":
        case "RunCoalesced":
        case "RunSkipped": {
          const key = `${event._tag.slice(3).toLowerCase()} (${event.jobId})`
          return Effect.sync(() => settled.set(key, (settled.get(key) ?? 0) + 1))
        }
        case "StoreUnavailable":
          return say(`           event StoreUnavailable: ${event.operation}: ${event.error}`)
        case "StoreRecovered":
          return say(`           event StoreRecovered after ${event.downtimeMs} ms`)
        case "LoopFailed":
          return say(`           event LoopFailed ${event.loop}: ${event.error}`)
        case "LoopRestarted":
          return say(`           event LoopRestarted ${event.loop} (${event.restarts} restarts)`)
        case "RunFailed":
          return say(`           event RunFailed ${event.jobId}: ${event.error}`)
        default:
          return Effect.void
      }
    })
  ))
})

// ---------------------------------------------------------------------------
// The scenario

const scenario = (pg: EmbeddedPg.Handle) =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler.Scheduler
    yield* watch

    yield* Effect.sleep(before)
    yield* say(`\n${clock(Date.now())} >>> stopping PostgreSQL for ${outage / 1000} s\n`)
    timeline.phase = "outage"
    yield* Effect.promise(() => pg.stop())
    timeline.stoppedAt = Date.now()
    yield* Effect.sleep(outage)
    yield* Effect.promise(() => pg.start())
    timeline.restartedAt = Date.now()
    timeline.phase = "after"
    yield* say(`\n${clock(Date.now())} >>> PostgreSQL is up again (same port, same data)\n`)
    yield* Effect.sleep(after)

    // -- summary, from the handlers' own record and from the store's history
    const health = yield* scheduler.health
    const history = yield* Effect.forEach(jobs, (job) =>
      Effect.map(scheduler.history({ jobId: job.id, limit: 1_000 }), (records) => ({ job, records })))
    const firstAfter = runs.find((run) => run.at >= timeline.restartedAt)
    yield* say(`\n== summary (outage ${clock(timeline.stoppedAt)} to ${clock(timeline.restartedAt)})`)
    yield* say(`  ${"job".padEnd(18)} runs before / during / after   records: ${["succeeded", "coalesced", "missed"].join(" / ")}   late runs   fires without a record`)
    let problems = 0
    for (const { job, records } of history) {
      const mine = runs.filter((run) => run.jobId === job.id)
      const count = (phase: Phase) => mine.filter((run) => run.phase === phase).length
      const state = (s: Run.State) => records.filter((record) => record.state === s).length
      const late = records.filter((record) => record.startedAt !== null && record.startedAt - record.dueAt > 2_000).length
      // Every fire between the first and the last recorded one must have exactly one record.
      const every = job.trigger._tag === "Interval" ? job.trigger.every : 1
      const fires = new Set(records.map((record) => record.fireTime))
      const first = Math.min(...fires)
      const last = Math.max(...fires)
      let absent = 0
      for (let fire = first; fire <= last; fire += every) if (!fires.has(fire)) absent++
      const duplicated = mine.length - new Set(mine.map((run) => run.fireTime)).size
      if (absent > 0 || duplicated > 0 || count("after") === 0) problems++
      yield* say(`  ${job.id.padEnd(18)} ${String(count("before")).padStart(4)} / ${String(count("outage")).padStart(6)} / ${String(count("after")).padStart(5)}   ${String(state("succeeded")).padStart(18)} / ${String(state("coalesced")).padStart(9)} / ${String(state("missed")).padStart(6)}   ${String(late).padStart(9)}   ${absent}${duplicated > 0 ? `  (${duplicated} fires ran twice!)` : ""}`)
    }
    for (const { job, records } of history) {
      const notes = new Set(records.filter((record) => record.note !== null).map((record) => `${record.state}: ${record.note}`))
      for (const note of notes) yield* say(`    ${job.id}: ${note}`)
    }
    yield* say(`  health states: ${statuses.map((s) => `${s.status} from ${since(s.at)}`).join(" -> ")}`)
    yield* say(`  loop restarts: ${health.loops.filter((loop) => loop.restarts > 0).map((loop) => `${loop.name} ${loop.restarts}`).join(", ") || "none"}`)
    yield* say(`  first run after the server started: ${firstAfter === undefined ? "none!" : `${firstAfter.at - timeline.restartedAt} ms later (${firstAfter.jobId})`}`)
    if (problems > 0) return yield* Effect.die(new Error("some fire was lost, duplicated, or nothing ran after the outage"))
    yield* say("\nstopping: the scheduler drains, PostgreSQL stops, its data folder is removed")
  })

const program = Effect.gen(function*() {
  // `databaseUrl: ""`: never the DATABASE_URL server; this script must own the server it stops.
  const pg = yield* Effect.acquireRelease(
    Effect.promise(() => EmbeddedPg.launch({ databaseUrl: "", fast: true })),
    (handle) => Effect.promise(() => handle.dispose())
  )
  timeline.startedAt = Date.now()
  yield* say(`embedded PostgreSQL on port ${pg.port}; jobs: ${jobs.map((job) => job.id).join(", ")}\n`)
  const SchedulerLive = Scheduler.layer({ tasks: [pulse], jobs, shutdownGrace: "2 seconds" }).pipe(
    Layer.provide(PgJobStore.layer()),
    Layer.provide(PgClient.layer({ url: Redacted.make(pg.url) }))
  )
  yield* Effect.scoped(scenario(pg)).pipe(Effect.provide(SchedulerLive))
})

Effect.scoped(program).pipe(
  // The scheduler also logs what its events say (store unavailable, loop restarted): the events
  // are printed above, one line each, so its warnings would only repeat them.
  Effect.provideService(References.MinimumLogLevel, "Error"),
  NodeRuntime.runMain
)
