/**
 * One scheduler process of the benchmark, started by `scripts/bench/Workers.ts`
 * with `process.execPath scripts/bench/worker.ts '<config json>'` and an IPC
 * channel.
 *
 * Its handlers write an independent ledger in memory (job, fire time, start
 * time; the last end), which the orchestrator asks for over IPC: the figures
 * count what ran, not what the library says ran. SIGTERM shuts the scheduler
 * down gracefully.
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Redacted } from "effect"
import * as PgJobStore from "../../src/PgJobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Task from "../../src/Task.ts"
import { jobsOf, type ParentMessage, taskName, type WorkerConfig, type WorkerMessage } from "./Protocol.ts"

const config: WorkerConfig = JSON.parse(process.argv[2] ?? "{}")

const now = () => performance.timeOrigin + performance.now()

const ledger: { jobIds: Array<string>; fires: Array<number>; starts: Array<number>; lastEnd: number } = {
  jobIds: [],
  fires: [],
  starts: [],
  lastEnd: 0
}

const task = Task.unit(taskName, (context) =>
  Effect.sync(() => {
    ledger.starts.push(now())
    ledger.jobIds.push(context.jobId)
    ledger.fires.push(context.fireTime)
  }).pipe(Effect.andThen(Effect.sync(() => {
    ledger.lastEnd = now()
  }))))

const send = (message: WorkerMessage) => process.send?.(message)

let health: Effect.Effect<{ readonly status: string; readonly restarts: number }> = Effect.succeed({
  status: "starting",
  restarts: 0
})

process.on("message", (message: ParentMessage) => {
  if (message.type === "count") {
    send({ type: "count", runs: ledger.starts.length })
    return
  }
  if (message.type === "reset") {
    ledger.jobIds = []
    ledger.fires = []
    ledger.starts = []
    ledger.lastEnd = 0
    send({ type: "reset" })
    return
  }
  const memory = process.memoryUsage()
  // Live objects only, when the worker runs with --expose-gc (a measurement, not a remedy).
  const gc: unknown = Reflect.get(globalThis, "gc")
  let liveHeap: number | undefined
  if (message.gc === true && typeof gc === "function") {
    gc()
    liveHeap = process.memoryUsage().heapUsed
  }
  send({
    type: "report",
    node: config.node,
    runs: ledger.starts.length,
    ...(message.ledger ? { ledger } : {}),
    cpu: process.cpuUsage(),
    rss: memory.rss,
    maxRss: process.resourceUsage().maxRSS * 1024,
    heapUsed: memory.heapUsed,
    ...(liveHeap === undefined ? {} : { liveHeap }),
    health: Effect.runSync(health)
  })
})

const StoreLive = PgJobStore.layer({ schema: config.schema }).pipe(
  Layer.provideMerge(PgClient.layer({ url: Redacted.make(config.url), maxConnections: config.maxConnections }))
)

const program = Effect.gen(function*() {
  const store = yield* Layer.build(StoreLive)
  const jobs = config.declare === undefined ? [] : jobsOf(config.declare, task)
  const started = now()
  const built = yield* Layer.build(
    Scheduler.layer({
      tasks: [task],
      jobs,
      node: config.node,
      batchSize: config.batchSize,
      maxInFlight: config.maxInFlight,
      claimAhead: config.claimAheadMs,
      pollInterval: config.pollMs,
      reapInterval: config.reapMs,
      shutdownGrace: "2 seconds"
    }).pipe(Layer.provide(Layer.succeedContext(store)))
  )
  const scheduler = Context.get(built, Scheduler.Scheduler)
  health = Effect.map(scheduler.health, (h) => ({
    status: h.status,
    restarts: h.loops.reduce((sum, loop) => sum + loop.restarts, 0)
  }))
  // Registered once the registrar made its first progress.
  while (true) {
    const h = yield* scheduler.health
    if (h.loops.some((loop) => loop.name === "registrar" && loop.lastProgress !== null)) break
    yield* Effect.sleep(2)
  }
  send({ type: "ready", node: config.node, pid: process.pid, registerMs: now() - started, rss: process.memoryUsage().rss })
  return yield* Effect.never
})

program.pipe(Effect.scoped, NodeRuntime.runMain)
