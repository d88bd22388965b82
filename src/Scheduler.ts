/**
 * The scheduler: a supervised runtime embedded as a Layer.
 *
 * Building `Scheduler.layer` starts, under one root supervisor, the loops of
 * one node: the registrar (upserts the jobs declared in code), the dispatcher
 * (sleeps until the next due fire or a change, claims due fires in batches,
 * hands them to the executor, which starts each run when it is due), the
 * recorder (writes outcomes in batches),
 * the lease keeper, the reaper (takes over runs of dead nodes), the janitor
 * (prunes history) and the listener (wake-ups from other processes). Every
 * store call is retried under `storeRetry` while its error is retryable;
 * every loop is restarted under `restart` when it fails anyway. Closing the
 * layer's scope shuts down gracefully: stop claiming, let running handlers
 * finish within the grace period, interrupt the rest, record outcomes.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as os from "node:os"
import { Event } from "./Event.ts"
import * as Executor from "./Executor.ts"
import * as Job from "./Job.ts"
import { JobStore } from "./JobStore.ts"
import type * as JobStoreNs from "./JobStore.ts"
import type * as Run from "./Run.ts"
import { StoreError } from "./StoreError.ts"
import * as StoreRetry from "./StoreRetry.ts"
import * as Supervisor from "./Supervisor.ts"
import type * as Task from "./Task.ts"
import * as Trigger from "./Trigger.ts"

/**
 * A job failed its schema (bad id, negative timeout, ...).
 *
 * @since 0.1.0
 */
export class InvalidJob extends Schema.TaggedError<InvalidJob>()("InvalidJob", {
  id: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `job ${JSON.stringify(this.id.slice(0, 100))} is invalid: ${this.issue}`
  }
}

/**
 * A job names a task this process does not have.
 *
 * @since 0.1.0
 */
export class UnknownTask extends Schema.TaggedError<UnknownTask>()("UnknownTask", {
  jobId: Schema.String,
  task: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `job ${this.jobId} names task ${this.task}, which this process does not register (known: ${this.known.join(", ")})`
  }
}

/**
 * Every way a job definition can be rejected.
 *
 * @since 0.1.0
 */
export type JobRejected = InvalidJob | UnknownTask | Task.InvalidPayload | Trigger.InvalidTrigger

/**
 * How a scheduler instance runs. Durations accept `Duration.Input`.
 *
 * @since 0.1.0
 */
export interface Options<R> {
  readonly tasks: ReadonlyArray<Task.Any<R>>
  /** Jobs declared in code: upserted at start by every process. */
  readonly jobs?: ReadonlyArray<Job.Job> | undefined
  /** This node's id; default `hostname-pid-random`. */
  readonly node?: string | undefined
  /** The code's version, for rolling deploys (see `JobStore.RegisterOptions`). Default 0. */
  readonly version?: number | undefined
  /** Stored code jobs of older versions that this code no longer declares. Default `keep`. */
  readonly orphans?: "keep" | "pause" | "remove" | undefined
  /** Runs claimed per store round trip. Default 512. */
  readonly batchSize?: number | undefined
  /** Most runs in progress at once in this process. Default 10,000. */
  readonly maxInFlight?: number | undefined
  /**
   * Longest sleep of the dispatcher when nothing is due sooner and nothing
   * wakes it: then it asks the store when something will be due (one
   * statement), and claims only if something is. Default 10 s.
   */
  readonly pollInterval?: Duration.Input | undefined
  /** Run lease: a run whose node stops renewing it for this long is taken over. Default 30 s. */
  readonly leaseDuration?: Duration.Input | undefined
  /** Default: a third of the lease. */
  readonly heartbeatInterval?: Duration.Input | undefined
  /** How often expired leases are looked for. Default 15 s. */
  readonly reapInterval?: Duration.Input | undefined
  /** History retention. Default 30 days and 1,000 records per job. */
  readonly retention?: JobStoreNs.Retention | undefined
  readonly janitorInterval?: Duration.Input | undefined
  /** How long running handlers may finish at shutdown before they are interrupted. Default 10 s. */
  readonly shutdownGrace?: Duration.Input | undefined
  /** Retry of retryable store errors. Default `StoreRetry.default`. */
  readonly storeRetry?: Schedule.Schedule<unknown, StoreError> | undefined
  /** Restart of failed loops. Default `Supervisor.restart`. */
  readonly restart?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * The scheduler service.
 *
 * @since 0.1.0
 */
export class Scheduler extends Context.Service<Scheduler, {
  readonly node: string
  readonly add: (job: Job.Job) => Effect.Effect<JobStoreNs.StoredJob, JobRejected | JobStoreNs.JobExists | StoreError>
  readonly update: (job: Job.Job) => Effect.Effect<JobStoreNs.StoredJob, JobRejected | JobStoreNs.JobNotFound | StoreError>
  readonly pause: (id: string) => Effect.Effect<JobStoreNs.StoredJob, JobStoreNs.JobNotFound | StoreError>
  readonly resume: (id: string) => Effect.Effect<JobStoreNs.StoredJob, JobStoreNs.JobNotFound | StoreError>
  /** Runs the job now (with another payload if given), besides its schedule. */
  readonly trigger: (
    id: string,
    payload?: Job.Job["payload"]
  ) => Effect.Effect<Run.RunRecord, JobStoreNs.JobNotFound | Task.InvalidPayload | UnknownTask | StoreError>
  readonly remove: (id: string) => Effect.Effect<boolean, StoreError>
  readonly get: (id: string) => Effect.Effect<Option.Option<JobStoreNs.StoredJob>, StoreError>
  readonly list: Effect.Effect<ReadonlyArray<JobStoreNs.StoredJob>, StoreError>
  readonly history: (query: JobStoreNs.HistoryQuery) => Effect.Effect<ReadonlyArray<Run.RunRecord>, StoreError>
  /** Every event from now on. */
  readonly events: Stream.Stream<Event>
  readonly health: Effect.Effect<Supervisor.Health>
}>()("steadfast/Scheduler") {}

const millis = (input: Duration.Input | undefined, fallback: number) =>
  input === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(input))

const defaultNode = () => `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`

/**
 * Checks a job against its schema, its trigger and this process's tasks.
 * A well-formed job is checked in place and returned as it is (declaring
 * 100,000 jobs does not copy them); each distinct trigger is checked once.
 *
 * @since 0.1.0
 */
export const validateJob = <R>(tasks: ReadonlyMap<string, Task.Any<R>>) => {
  const isJob = Schema.is(Job.Job)
  const decode = Schema.decodeUnknownEffect(Schema.toType(Job.Job))
  const validTriggers = new Set<string>()
  return Effect.fnUntraced(function*(job: Job.Job): Effect.fn.Return<Job.Job, JobRejected> {
    const id = String(job.id)
    // Decoding says what is wrong with a job that is not well-formed.
    const valid = isJob(job)
      ? job
      : yield* decode(job).pipe(Effect.mapError((error) => new InvalidJob({ id, issue: error.message })))
    const trigger = JSON.stringify(valid.trigger)
    if (!validTriggers.has(trigger)) {
      yield* Trigger.validate(valid.trigger)
      if (validTriggers.size < 10_000) validTriggers.add(trigger)
    }
    const task = tasks.get(valid.task)
    if (task === undefined) {
      return yield* new UnknownTask({ jobId: valid.id, task: valid.task, known: [...tasks.keys()] })
    }
    yield* task.validate(valid.payload)
    return valid
  })
}

/**
 * The scheduler as a Layer over a `JobStore` and the handlers' requirements.
 * Fails to build, changing nothing, when a declared job is invalid.
 *
 * @example
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { Job, MemoryJobStore, Scheduler, Task, Trigger } from "steadfast"
 *
 * const hello = Task.make("hello", Schema.Struct({ name: Schema.String }), ({ name }) => Effect.log(`hello ${name}`))
 *
 * export const SchedulerLive = Scheduler.layer({
 *   tasks: [hello],
 *   jobs: [Job.make(hello, { id: "hello-world", payload: { name: "world" }, trigger: Trigger.every("10 seconds") })]
 * }).pipe(Layer.provide(MemoryJobStore.layer))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <R>(options: Options<R>): Layer.Layer<Scheduler, JobRejected, JobStore | R> =>
  Layer.effect(Scheduler, make(options))

const make = <R>(options: Options<R>) => Effect.gen(function*() {
  const rawStore = yield* JobStore
  const context = yield* Effect.context<R>()
  const node = options.node ?? defaultNode()
  const tasks = new Map<string, Task.Any<R>>(options.tasks.map((task) => [task.name, task]))
  const taskNames = [...tasks.keys()]
  const validate = validateJob(tasks)
  const declared = yield* Effect.forEach(options.jobs ?? [], validate)
  const ids = new Set<string>()
  for (const job of declared) {
    if (ids.has(job.id)) return yield* new InvalidJob({ id: job.id, issue: "declared twice" })
    ids.add(job.id)
  }

  const batchSize = options.batchSize ?? 512
  const maxInFlight = options.maxInFlight ?? 10_000
  const pollMs = millis(options.pollInterval, 10_000)
  const leaseMs = millis(options.leaseDuration, 30_000)
  const heartbeatMs = millis(options.heartbeatInterval, Math.floor(leaseMs / 3))
  const reapMs = millis(options.reapInterval, 15_000)
  const janitorMs = millis(options.janitorInterval, 3_600_000)
  const graceMs = millis(options.shutdownGrace, 10_000)
  const retention = options.retention ?? { maxAgeMs: 30 * 86_400_000, maxPerJob: 1_000 }
  const clockSyncMs = 60_000
  const storeRetry = options.storeRetry ?? StoreRetry.defaultSchedule

  const events = yield* PubSub.sliding<Event>(16_384)
  const publish = (event: Event) => Effect.asVoid(PubSub.publish(events, event))
  const supervisor = yield* Supervisor.make({ node, restart: options.restart ?? Supervisor.restart, publish })

  // Every store call: retry retryable errors under the policy, and keep the
  // health view's store status in step with what the calls see.
  // Only `StoreError`s are retried; domain errors (JobNotFound, ...) pass through.
  const guard = <A, E>(operation: string, effect: Effect.Effect<A, E | StoreError>): Effect.Effect<A, E | StoreError> =>
    effect.pipe(
      Effect.map((value) => Result.succeed(value)),
      Effect.catch((error) => error instanceof StoreError ? Effect.fail(error) : Effect.succeed(Result.fail(error))),
      Effect.tapError((error) => error.retryable ? supervisor.storeFailed(operation, error) : Effect.void),
      Effect.retry(storeRetry),
      Effect.tap(() => supervisor.storeSucceeded),
      Effect.flatMap((result) => Result.isSuccess(result) ? Effect.succeed(result.success) : Effect.fail(result.failure))
    )

  // The store's clock as this process estimates it: the local clock (to the
  // microsecond) plus an offset measured with a `now` round trip (against its
  // midpoint), refreshed once a minute and whenever a claim suggests the
  // estimate is off. It decides nothing: the database says what is due. It
  // times the dispatcher's sleeps and the start of runs claimed ahead,
  // without a round trip each time. The store reports whole milliseconds, so
  // the estimate runs behind rather than ahead: late by a fraction of a
  // millisecond, never early.
  const localNow = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos) / 1_000_000)
  let clockOffset = 0
  let clockSyncedAt = Number.NEGATIVE_INFINITY
  const syncClock = Effect.gen(function*() {
    const before = yield* localNow
    const store = yield* guard("now", rawStore.now)
    const after = yield* localNow
    clockOffset = store - (before + after) / 2
    clockSyncedAt = after
    return store
  })
  const storeNow = Effect.flatMap(localNow, (local) =>
    local - clockSyncedAt < clockSyncMs ? Effect.succeed(local + clockOffset) : syncClock)
  // Timers may fire early by up to a millisecond (they count whole ones): check, and wait on.
  const sleepUntil = (instant: number): Effect.Effect<void, StoreError> =>
    Effect.flatMap(storeNow, (now) =>
      now >= instant ? Effect.void : Effect.andThen(Effect.sleep(Math.ceil(instant - now)), sleepUntil(instant)))

  // Queues treat `undefined` specially, so a wake-up is `true`.
  const wakeups = yield* Queue.sliding<true>(1)
  const wake = Effect.asVoid(Queue.offer(wakeups, true))

  const executor = yield* Executor.make<R>({
    node,
    tasks,
    context,
    publish,
    finish: (outcomes) => guard("finish", rawStore.finish(outcomes)),
    onSlotFreed: wake,
    // The offset as last measured: the dispatcher keeps it fresh, and a run
    // waiting for its instant never waits on the store.
    storeNow: Effect.map(localNow, (local) => local + clockOffset)
  })

  const registered = yield* Deferred.make<void>()

  const registrar = Effect.gen(function*() {
    const report = yield* guard(
      "register",
      rawStore.register(declared, { version: options.version ?? 0, orphans: options.orphans ?? "keep" })
    )
    yield* publish(Event.JobsRegistered({
      inserted: report.inserted.length,
      updated: report.updated.length,
      unchanged: report.unchanged.length,
      superseded: report.superseded.length,
      orphaned: report.orphaned.length,
      at: yield* guard("now", rawStore.now)
    }))
    yield* supervisor.progress("registrar")
    yield* Deferred.succeed(registered, undefined)
    return yield* Effect.never
  })

  const settledEvent = (record: Run.RunRecord): Event => {
    const base = { jobId: record.jobId, fireTime: record.fireTime, note: record.note, at: record.endedAt ?? record.dueAt }
    switch (record.state) {
      case "missed":
        return Event.RunMissed(base)
      case "coalesced":
        return Event.RunCoalesced(base)
      default:
        return Event.RunSkipped(base)
    }
  }

  // Claims when something is due; otherwise asks the store when something
  // will be (one cheap statement) and sleeps until then, or until a wake-up
  // (a change here or in another process), or at most `pollInterval`. A
  // wake-up or a poll asks before claiming: an idle cluster costs one
  // statement per process and poll interval.
  const dispatcher = Effect.gen(function*() {
    yield* Deferred.await(registered)
    yield* storeNow
    let mustClaim = true
    while (true) {
      yield* Queue.clear(wakeups)
      const room = maxInFlight - (yield* executor.inFlight)
      let claimed = 0
      if (room > 0 && mustClaim) {
        const result = yield* guard(
          "claim",
          rawStore.claim({ node, tasks: taskNames, limit: Math.min(batchSize, room), leaseMs })
        )
        yield* Effect.forEach(result.settled, (record) => publish(settledEvent(record)), { discard: true })
        yield* executor.submit(result.runs)
        claimed = result.runs.length + result.settled.length
        if (claimed >= Math.min(batchSize, room)) {
          // A full batch: more may be due right now.
          yield* supervisor.progress("dispatcher")
          yield* Effect.yieldNow
          continue
        }
      }
      yield* supervisor.progress("dispatcher")
      let sleep: Effect.Effect<void, StoreError> = Effect.sleep(pollMs)
      let dueWhenWoken = false
      if (room > 0) {
        const next = yield* guard("nextWake", rawStore.nextWake(taskNames))
        if (Option.isSome(next)) {
          const now = yield* storeNow
          if (next.value <= now) {
            if (!mustClaim || claimed > 0) {
              // Due (and not claimed yet, or more may be): claim now.
              mustClaim = true
              continue
            }
            // Due, yet the claim found nothing: another process holds the job
            // right now, or this clock estimate runs ahead of the store's
            // (measure it again within a second). Poll briefly.
            clockSyncedAt = Math.min(clockSyncedAt, now - clockOffset - clockSyncMs + 1_000)
            sleep = Effect.sleep(50)
            dueWhenWoken = true
          } else if (next.value - now < pollMs) {
            sleep = sleepUntil(next.value)
            dueWhenWoken = true
          }
        }
      }
      const woken = yield* Effect.raceFirst(Effect.as(sleep, false), Effect.as(Queue.take(wakeups), true))
      mustClaim = dueWhenWoken && !woken
    }
  })

  const leaseKeeper = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(heartbeatMs)
      const leases = yield* executor.leases
      if (leases.length > 0) {
        const lost = yield* guard("renew", rawStore.renew(node, leases, leaseMs))
        if (lost.length > 0) yield* executor.revoke(lost)
      }
      yield* supervisor.progress("lease-keeper")
    }
  })

  const reaper = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(reapMs)
      const reaped = yield* guard("reap", rawStore.reap)
      for (const record of reaped) {
        yield* publish(Event.RunLost({
          jobId: record.jobId,
          fireTime: record.fireTime,
          retried: record.state === "pending",
          note: record.note,
          at: record.endedAt ?? (yield* guard("now", rawStore.now))
        }))
      }
      if (reaped.some((record) => record.state === "pending")) yield* wake
      yield* supervisor.progress("reaper")
    }
  })

  const janitor = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(janitorMs)
      const pruned = yield* guard("prune", rawStore.prune(retention))
      if (pruned > 0) yield* Effect.logDebug(`pruned ${pruned} run records`)
      yield* supervisor.progress("janitor")
    }
  })

  // The change feed drops with the database: that is the store being
  // unavailable (retried like any store call), not the loop failing.
  const listener = guard(
    "changes",
    Stream.runForEach(rawStore.changes, () => Effect.andThen(wake, supervisor.progress("listener")))
  )

  const dispatcherFiber = yield* Effect.forkScoped(supervisor.supervise("dispatcher", dispatcher))
  yield* Effect.forkScoped(supervisor.supervise("registrar", registrar))
  yield* Effect.forkScoped(supervisor.supervise("recorder", executor.recorder))
  yield* Effect.forkScoped(supervisor.supervise("lease-keeper", leaseKeeper))
  yield* Effect.forkScoped(supervisor.supervise("reaper", reaper))
  yield* Effect.forkScoped(supervisor.supervise("janitor", janitor))
  yield* Effect.forkScoped(supervisor.supervise("listener", listener))

  // Finalizers run in reverse: this one runs first, while the loops above
  // (recorder, lease keeper) still run to record and protect what drains.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* Fiber.interrupt(dispatcherFiber)
      yield* executor.drain(graceMs)
    })
  )

  const dynamic = <A, E>(operation: string, effect: Effect.Effect<A, E>) =>
    Effect.tap(guard(operation, effect), () => wake)

  return Scheduler.of({
    node,
    add: (job) => Effect.flatMap(validate(job), (valid) => dynamic("add", rawStore.add(valid))),
    update: (job) => Effect.flatMap(validate(job), (valid) => dynamic("update", rawStore.update(valid))),
    pause: (id) => dynamic("pause", rawStore.setPaused(id, true)),
    resume: (id) => dynamic("resume", rawStore.setPaused(id, false)),
    trigger: (id, payload) =>
      Effect.gen(function*() {
        if (payload !== undefined) {
          const job = yield* guard("get", rawStore.get(id))
          if (Option.isSome(job)) {
            const task = tasks.get(job.value.task)
            if (task === undefined) {
              return yield* new UnknownTask({ jobId: id, task: job.value.task, known: taskNames })
            }
            yield* task.validate(payload)
          }
        }
        return yield* dynamic("trigger", rawStore.triggerNow(id, payload))
      }),
    remove: (id) => dynamic("remove", rawStore.remove(id)),
    get: (id) => guard("get", rawStore.get(id)),
    list: guard("list", rawStore.list),
    history: (query) => guard("history", rawStore.history(query)),
    events: Stream.fromPubSub(events),
    health: supervisor.health
  })
})
