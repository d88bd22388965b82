/**
 * The scheduler: a supervised runtime embedded as a Layer.
 *
 * Building `Scheduler.layer` starts, under one root supervisor, the loops of
 * one node, each a module of its own under `runtime/`:
 *
 * - `Registrar`: upserts the jobs declared in code;
 * - `Dispatcher`: sleeps until the next due fire or a change, claims due fires
 *   in batches, hands them to the executor (which starts each run when due);
 * - `Recorder`: writes outcomes in batches;
 * - `LeaseKeeper`: renews the leases of the runs this node holds;
 * - `Reaper`: takes over runs of nodes that died;
 * - `Janitor`: prunes history;
 * - `Listener`: wake-ups from other processes;
 * - `NodeHeartbeat`: this node's row in the nodes table (`nodes`);
 * - `CancelWatch`: cancel requests for runs this node holds (`cancel`);
 * - `Watchdog`: restarts any of them that goes past its bound without progress.
 *
 * Every store call goes through `StoreGuard` (retried under `storeRetry`
 * while its error is retryable; health follows). Every loop is restarted
 * under `restart` whenever it ends. The store's clock is estimated by
 * `StoreClock` on the monotonic clock. Closing the layer's scope shuts down
 * gracefully and within a bound: stop claiming, hand back the runs claimed
 * but not started, let running handlers finish
 * within `shutdownGrace`, interrupt the rest, record outcomes, stop the loops
 * — at most `shutdownGrace + shutdownMarginMs` whatever the database does.
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
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as os from "node:os"
import { Event } from "./Event.ts"
import * as Executor from "./Executor.ts"
import * as Job from "./Job.ts"
import { JobNotFound, JobStore } from "./JobStore.ts"
import type * as JobStoreNs from "./JobStore.ts"
import * as HistoryQuery from "./internal/historyQuery.ts"
import {
  InvalidJob,
  type JobRejected,
  type UnknownTask,
  validateDeclared,
  validateJob
} from "./internal/jobValidation.ts"
import * as Payload from "./internal/payload.ts"
import { type BatchRejected, checkManualPayload, validateBatch } from "./internal/submission.ts"
import * as SchedulerOptions from "./internal/schedulerOptions.ts"
import type { Options } from "./internal/schedulerOptions.ts"
import type * as Run from "./Run.ts"
import * as Bounded from "./runtime/Bounded.ts"
import * as CancelWatch from "./runtime/CancelWatch.ts"
import * as NodeHeartbeat from "./runtime/NodeHeartbeat.ts"
import * as OperatorQueries from "./internal/operatorQueries.ts"
import * as Dispatcher from "./runtime/Dispatcher.ts"
import * as Janitor from "./runtime/Janitor.ts"
import * as LeaseKeeper from "./runtime/LeaseKeeper.ts"
import * as Listener from "./runtime/Listener.ts"
import * as Loop from "./runtime/Loop.ts"
import * as Readiness from "./runtime/Readiness.ts"
import * as Reaper from "./runtime/Reaper.ts"
import * as Recorder from "./runtime/Recorder.ts"
import * as Registrar from "./runtime/Registrar.ts"
import * as StoreClock from "./runtime/StoreClock.ts"
import * as StoreGuard from "./runtime/StoreGuard.ts"
import * as Watchdog from "./runtime/Watchdog.ts"
import { StoreError } from "./StoreError.ts"
import * as StoreRetry from "./StoreRetry.ts"
import * as Supervisor from "./Supervisor.ts"
import type * as Task from "./Task.ts"

export {
  /**
   * A job failed its schema (bad id, negative timeout, a duration that does not decode, ...).
   *
   * @since 0.1.0
   */
  InvalidJob,
  /**
   * Every way a job definition can be rejected.
   *
   * @since 0.1.0
   */
  type JobRejected,
  /**
   * A job names a task this process does not have.
   *
   * @since 0.1.0
   */
  UnknownTask,
  /**
   * Checks a job against its schema, its trigger, this process's tasks and
   * what the store can hold (never throws, never dies).
   *
   * @since 0.1.0
   */
  validateJob
} from "./internal/jobValidation.ts"

export {
  /**
   * A job of an `addMany` batch was rejected (nothing was stored): its
   * index, its id, and why.
   *
   * @since 0.2.0
   */
  BatchRejected
} from "./internal/submission.ts"

export {
  /**
   * `awaitReady` gave up: see `Readiness.NotReady`.
   *
   * @since 0.2.0
   */
  NotReady
} from "./runtime/Readiness.ts"

export {
  /**
   * A history query that cannot be answered: see `maxHistoryLimit`.
   *
   * @since 0.2.0
   */
  InvalidQuery,
  /**
   * The most records one `history` call returns: 100,000.
   *
   * @since 0.2.0
   */
  maxHistoryLimit
} from "./internal/historyQuery.ts"

export {
  /**
   * Scheduler options that cannot work, naming the option.
   *
   * @since 0.2.0
   */
  InvalidOptions,
  /**
   * How a scheduler instance runs. Durations accept `Duration.Input`.
   *
   * @since 0.1.0
   */
  type Options
} from "./internal/schedulerOptions.ts"

/**
 * The scheduler service.
 *
 * @since 0.1.0
 */
export class Scheduler extends Context.Service<Scheduler, {
  readonly node: string
  readonly add: (job: Job.Job) => Effect.Effect<JobStoreNs.StoredJob, JobRejected | JobStoreNs.JobExists | StoreError>
  /**
   * Adds many jobs at once, all or nothing, and returns how many. Every job
   * is checked first, as `add` checks one: the first that fails makes the
   * call fail with `BatchRejected` (its index, id and error) before the store
   * is asked. Then one store call (`JobStore.addMany`): an id that exists,
   * or appears twice in the batch, fails it with `JobExists` naming the id
   * and its `index`, and nothing is stored.
   *
   * @example
   * ```ts
   * import { Effect, Schema } from "effect"
   * import { Job, Scheduler, Task, Trigger } from "steadfast"
   *
   * const report = Task.make("report", Schema.Struct({ customer: Schema.String }), () => Effect.void)
   *
   * const scheduleReports = (customers: ReadonlyArray<string>) =>
   *   Effect.gen(function*() {
   *     const scheduler = yield* Scheduler.Scheduler
   *     const at = Date.now() + 60_000
   *     return yield* scheduler.addMany(customers.map((customer) =>
   *       Job.make(report, { id: `report-${customer}`, payload: { customer }, trigger: Trigger.once(at) })
   *     ))
   *   }).pipe(
   *     Effect.catchTag("BatchRejected", (error) => Effect.logError(`job ${error.index}: ${error.error.message}`))
   *   )
   * ```
   */
  readonly addMany: (
    jobs: ReadonlyArray<Job.Job>
  ) => Effect.Effect<number, BatchRejected | JobStoreNs.JobExists | StoreError>
  readonly update: (job: Job.Job) => Effect.Effect<JobStoreNs.StoredJob, JobRejected | JobStoreNs.JobNotFound | StoreError>
  /**
   * An id that is not a valid job id (`Job.JobId`) names no job: `pause`,
   * `resume` and `trigger` fail with `JobNotFound`, `remove` returns false,
   * `get` none and `history` fails with `InvalidQuery`, without asking the store.
   */
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
  readonly history: (
    query: JobStoreNs.HistoryQuery
  ) => Effect.Effect<ReadonlyArray<Run.RunRecord>, HistoryQuery.InvalidQuery | StoreError>
  /** Every event from now on. What happened before is in `health` (`ready`, `registration`). */
  readonly events: Stream.Stream<Event>
  readonly health: Effect.Effect<Supervisor.Health>
  /**
   * Waits until this process has registered its declared jobs and its
   * dispatcher has made its first pass (claimed what was due), for at most
   * `timeout` (default: the `readyTimeout` option, 30 s). Succeeds at once
   * when already ready. Failing with `NotReady` stops nothing: the scheduler
   * keeps trying, and a later call may succeed.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Scheduler } from "steadfast"
   *
   * // Start serving only once the jobs are registered and dispatching.
   * const startup = Effect.gen(function*() {
   *   const scheduler = yield* Scheduler.Scheduler
   *   yield* scheduler.awaitReady("10 seconds")
   *   const health = yield* scheduler.health
   *   yield* Effect.log(`ready: ${health.registration?.inserted ?? 0} jobs inserted`)
   * }).pipe(
   *   Effect.catchTag("NotReady", (error) => Effect.logError(error.message))
   * )
   * ```
   */
  readonly awaitReady: (timeout?: Duration.Input) => Effect.Effect<void, Readiness.NotReady | SchedulerOptions.InvalidOptions>
} & OperatorQueries.Operations>()("steadfast/Scheduler") {}

const millis = (input: Duration.Input | undefined, fallback: number) =>
  input === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(input))

const defaultNode = () => `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`

const isJobId = Schema.is(Job.JobId)
const notFound = (id: unknown) => new JobNotFound({ id: typeof id === "string" ? id : `(${typeof id})` })

/**
 * The scheduler as a Layer over a `JobStore` and the handlers' requirements.
 * Fails to build, changing nothing, when an option is invalid
 * (`InvalidOptions`) or a declared job is (`JobRejected`, naming the job).
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
export const layer = <R>(
  options: Options<R>
): Layer.Layer<Scheduler, JobRejected | SchedulerOptions.InvalidOptions, JobStore | R> =>
  Layer.effect(Scheduler, make(options))

// Shutdown waits at most this long for each of its steps beyond the grace
// period (stop the dispatcher, hand back what was claimed and not started,
// interrupt handlers, write outcomes, hand back again, stop the loops, close
// the executor; one step spare): closing the scope ends within `shutdownGrace`
// plus `shutdownMarginMs`, whatever the database or a handler does.
const stepMarginMs = 1_000

/**
 * How much longer than `shutdownGrace` closing a scheduler's scope may take,
 * at most.
 *
 * @since 0.2.0
 */
export const shutdownMarginMs = 8 * stepMarginMs

const make = <R>(options: Options<R>) => Effect.gen(function*() {
  // Before anything starts: a bad option fails the build, naming the option.
  const invalid = SchedulerOptions.problem(options)
  if (invalid !== undefined) return yield* invalid
  const store = yield* JobStore
  const context = yield* Effect.context<R>()
  const node = options.node ?? defaultNode()
  const tasks = new Map<string, Task.Any<R>>(options.tasks.map((task) => [task.name, task]))
  const taskNames = [...tasks.keys()]
  const maxPayloadBytes = options.maxPayloadBytes ?? Payload.defaultMaxBytes
  const validate = validateJob(tasks, { maxPayloadBytes })
  const checkPayload = checkManualPayload(tasks, maxPayloadBytes)
  const declared = yield* validateDeclared(tasks, { maxPayloadBytes })(options.jobs ?? [])
  const ids = new Set<string>()
  for (const job of declared) {
    if (ids.has(job.id)) return yield* new InvalidJob({ id: job.id, issue: "declared twice" })
    ids.add(job.id)
  }

  const pollMs = millis(options.pollInterval, 10_000)
  const leaseMs = millis(options.leaseDuration, 30_000)
  const heartbeatMs = millis(options.heartbeatInterval, Math.floor(leaseMs / 3))
  const reapMs = millis(options.reapInterval, 15_000)
  const graceMs = millis(options.shutdownGrace, 10_000)
  // A loop may spend this long on one unit of work (store deadlines and
  // retries included) before the watchdog gives up on it.
  const workMs = millis(options.stallAfter, 60_000)

  const events = yield* PubSub.sliding<Event>(16_384)
  // Published only while someone listens: a drain publishes two events a
  // run, and with nobody subscribed that is work for nothing.
  let listeners = 0
  const publish = (event: Event) => listeners === 0 ? Effect.void : Effect.asVoid(PubSub.publish(events, event))
  const supervisor = yield* Supervisor.make({ node, restart: options.restart ?? Supervisor.restart, publish })
  const storeRetry = options.storeRetry ?? StoreRetry.defaultSchedule
  // The loops' calls: a call that hangs is the watchdog's (`stallAfter`),
  // which replaces the loop, and what a claim or a handback left behind is
  // theirs to settle, so they are never abandoned here.
  const guard = StoreGuard.make({ supervisor, retry: storeRetry })
  // The user's and operator's calls: bounded, so that none waits for ever on a
  // store without deadlines of its own.
  const callTimeoutMs = millis(options.storeCallTimeout, 90_000)
  const calls = StoreGuard.make({ supervisor, retry: storeRetry, callTimeoutMs })
  // Operator reads: retried alike, but a slow query's timeout is not the store's health.
  const reads = StoreGuard.make({ supervisor, retry: storeRetry, health: false, callTimeoutMs })
  const clock = yield* StoreClock.make({ measure: guard("now", store.now) })

  // Queues treat `undefined` specially, so a wake-up is `true`.
  const wakeups = yield* Queue.sliding<true>(1)
  const wake = Effect.asVoid(Queue.offer(wakeups, true))

  const executor = yield* Executor.make<R>({
    node,
    tasks,
    context,
    publish,
    finish: (outcomes) => guard("finish", store.finish(outcomes)),
    onSlotFreed: wake,
    onRoom: wake,
    maxInFlight: options.maxInFlight ?? 10_000,
    // The store's time as last measured, at its least (a run claimed ahead
    // never starts before its instant by the database's clock): the
    // dispatcher keeps it fresh, and a run waiting for its instant never
    // waits on the store.
    storeNow: clock.atLeast
  })

  const registered = yield* Deferred.make<void>()
  const readiness = yield* Readiness.make({ node, supervisor, registered, timeout: options.readyTimeout ?? "30 seconds" })

  const nodeHeartbeatMs = millis(options.nodeHeartbeatInterval, 30_000)
  const dispatcher = Dispatcher.make({
    node,
    // Peers are the nodes that beat within three heartbeat intervals.
    share: { node, staleAfterMs: 3 * nodeHeartbeatMs },
    tasks: taskNames,
    store,
    guard,
    supervisor,
    publish,
    executor,
    clock,
    wakeups,
    registered,
    dispatched: readiness.dispatched,
    batchSize: options.batchSize ?? 512,
    maxInFlight: options.maxInFlight ?? 10_000,
    claimAhead: options.claimAhead === undefined || options.claimAhead === "auto" ? "auto" : millis(options.claimAhead, 0),
    leaseMs,
    pollMs,
    fallbackPollMs: millis(options.fallbackPollInterval, 1_000),
    stallAfterMs: pollMs + workMs
  })
  // Shared by the lease keeper and the reaper (see `LeaseKeeper.Renewal`).
  const renewal = yield* LeaseKeeper.renewal({
    node,
    store,
    guard,
    executor,
    leaseMs,
    cancelGraceMs: millis(options.cancelGrace, 2_000)
  })
  // When this scheduler started: with the host and pid, which process of the node id it is.
  const startedAt = yield* Clock.currentTimeMillis
  const loops = [
    Registrar.make({
      store,
      guard,
      supervisor,
      publish,
      declared,
      version: options.version ?? 0,
      orphans: options.orphans ?? "keep",
      registered,
      stallAfterMs: workMs
    }),
    Recorder.make({ executor, supervisor, stallAfterMs: workMs }),
    LeaseKeeper.make({ node, store, guard, supervisor, executor, heartbeatMs, leaseMs, renewal }),
    Reaper.make({ renewal, heartbeatMs, store, guard, supervisor, publish, wake, reapMs, stallAfterMs: workMs }),
    Janitor.make({
      store,
      guard,
      supervisor,
      retention: options.retention ?? { maxAgeMs: 30 * 86_400_000, maxPerJob: 1_000 },
      janitorMs: millis(options.janitorInterval, 3_600_000),
      stallAfterMs: workMs
    }),
    Listener.make({ store, supervisor, wake, reconnect: Supervisor.restartSchedule({ base: "50 millis", cap: "5 seconds" }) }),
    NodeHeartbeat.make({
      node,
      tasks: taskNames,
      store,
      retry: storeRetry,
      supervisor,
      executor,
      startedAt,
      version: yield* NodeHeartbeat.packageVersion,
      intervalMs: nodeHeartbeatMs,
      stallAfterMs: workMs
    }),
    CancelWatch.make({ store, supervisor, executor, renewal, reconnect: Supervisor.restartSchedule({ base: "50 millis", cap: "5 seconds" }) }),
    Watchdog.make({ supervisor })
  ]

  // The loops live in a scope of their own, closed by the finalizer below
  // with a bound: a loop stuck where interruption cannot reach must not hold
  // the closing of the scheduler's scope.
  const loopScope = yield* Scope.make()
  const dispatcherFiber = yield* Effect.forkIn(Loop.supervise(supervisor, dispatcher), loopScope)
  yield* Effect.forEach(loops, (loop) => Effect.forkIn(Loop.supervise(supervisor, loop), loopScope), { discard: true })

  // Finalizers run in reverse: this one runs before the executor's own, while
  // the loops (recorder, lease keeper) still run to record and protect what
  // drains. Every step is bounded.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* Bounded.within(Fiber.interrupt(dispatcherFiber), stepMarginMs)
      // Runs claimed but not started go back to pending at once, for another
      // node to run now rather than after their lease; after the grace
      // period, again, for an unanswered claim whose COMMIT landed late.
      yield* Bounded.within(dispatcher.handBack, stepMarginMs)
      yield* executor.drain(graceMs, stepMarginMs)
      yield* Bounded.within(dispatcher.handBack, stepMarginMs)
      const closed = yield* Bounded.close(loopScope, stepMarginMs)
      if (!closed) yield* Effect.logWarning(`some loops did not stop within ${stepMarginMs} ms; abandoned`)
      // After the node heartbeat stopped (it would write the row again): the
      // node leaves the list now, not once its last beat is stale. As this
      // process: a beat of it still on its way lands ignored.
      yield* Bounded.within(store.leave(node, NodeHeartbeat.instance(startedAt)), stepMarginMs)
    })
  )

  const dynamic = <A, E>(operation: string, effect: Effect.Effect<A, E | StoreError>) =>
    Effect.tap(calls(operation, effect), () => wake)

  return Scheduler.of({
    node,
    add: (job) => Effect.flatMap(validate(job), (valid) => dynamic("add", store.add(valid))),
    // One `validateJob` per batch (each distinct trigger checked once), then one store call and one wake.
    addMany: (jobs) =>
      Effect.flatMap(
        validateBatch(validateJob(tasks, { maxPayloadBytes }))(jobs),
        (valid) => valid.length === 0 ? Effect.succeed(0) : dynamic("addMany", store.addMany(valid))
      ),
    update: (job) => Effect.flatMap(validate(job), (valid) => dynamic("update", store.update(valid))),
    // An id that is not a valid job id names no job: answered without the
    // store, which could not even hold it (a NUL character is 22021).
    pause: (id) => isJobId(id) ? dynamic("pause", store.setPaused(id, true)) : Effect.fail(notFound(id)),
    resume: (id) => isJobId(id) ? dynamic("resume", store.setPaused(id, false)) : Effect.fail(notFound(id)),
    trigger: (id, payload) =>
      Effect.gen(function*() {
        if (!isJobId(id)) return yield* notFound(id)
        if (payload !== undefined) {
          const job = yield* calls("get", store.get(id))
          if (Option.isNone(job)) return yield* notFound(id)
          yield* checkPayload(id, job.value.task, payload)
        }
        return yield* dynamic("trigger", store.triggerNow(id, payload))
      }),
    remove: (id) => isJobId(id) ? dynamic("remove", store.remove(id)) : Effect.succeed(false),
    get: (id) => isJobId(id) ? reads("get", store.get(id)) : Effect.succeedNone,
    list: reads("list", store.list),
    history: (query) => {
      const problem = HistoryQuery.problem(query)
      return problem === undefined ? reads("history", store.history(query)) : Effect.fail(problem)
    },
    events: Stream.fromPubSub(events).pipe(
      Stream.onStart(Effect.sync(() => void listeners++)),
      Stream.ensuring(Effect.sync(() => void listeners--))
    ),
    health: supervisor.health,
    awaitReady: readiness.await,
    ...OperatorQueries.make({ store, guard: calls, reads, staleAfterMs: 3 * nodeHeartbeatMs, publish })
  })
})
