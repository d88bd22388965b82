/**
 * A producer: a process that adds jobs and runs none.
 *
 * A web server that schedules work for workers elsewhere needs the store and
 * the same checks as the scheduler (a known task, a payload its schema
 * accepts and the store can hold), but no dispatcher, no handlers, no loops.
 * `Producer.layer` is that: a service over a `JobStore`, whose `add`,
 * `addMany`, `update`, `remove` and `trigger` validate exactly as
 * `Scheduler`'s do (the same code), retry retryable store errors, and
 * return. The store wakes the workers (PostgreSQL `NOTIFY`; they poll too).
 *
 * A producer knows tasks by name and payload schema only: give it the
 * workers' `Task` values (a module both import), or, to keep the handlers'
 * code and dependencies out of the producer, declare them with
 * `Producer.task(name, schema)`, which has no handler.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Job from "./Job.ts"
import { JobNotFound, JobStore } from "./JobStore.ts"
import type * as JobStoreNs from "./JobStore.ts"
import { type JobRejected, type UnknownTask, validateJob } from "./internal/jobValidation.ts"
import * as Payload from "./internal/payload.ts"
import * as SchedulerOptions from "./internal/schedulerOptions.ts"
import { type BatchRejected, checkManualPayload, validateBatch } from "./internal/submission.ts"
import type * as Run from "./Run.ts"
import { StoreError } from "./StoreError.ts"
import * as StoreRetry from "./StoreRetry.ts"
import * as Task from "./Task.ts"

/**
 * Options of `Producer.layer`.
 *
 * @since 0.2.0
 */
export interface Options {
  /**
   * The tasks whose jobs this process adds: their names and payload schemas
   * are what it checks jobs against. Their handlers are never run here (see
   * `Producer.task`).
   */
  readonly tasks: ReadonlyArray<Task.Any<unknown>>
  /** As `Scheduler.Options.maxPayloadBytes`. Default 1 MiB, at most 8 MiB. */
  readonly maxPayloadBytes?: number | undefined
  /** Retry of retryable store errors. Default `StoreRetry.default`. */
  readonly storeRetry?: Schedule.Schedule<unknown, StoreError> | undefined
}

/**
 * The producer service: `Scheduler`'s ways of adding and changing jobs,
 * without the runtime.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Job, Producer, Trigger } from "steadfast"
 *
 * const sendEmail = Producer.task("sendEmail", Schema.Struct({ to: Schema.String }))
 *
 * const welcome = (to: string) =>
 *   Effect.gen(function*() {
 *     const producer = yield* Producer.Producer
 *     return yield* producer.add(Job.make(sendEmail, { id: `welcome-${to}`, payload: { to }, trigger: Trigger.once(Date.now()) }))
 *   })
 * ```
 *
 * @since 0.2.0
 */
export class Producer extends Context.Service<Producer, {
  /** As `Scheduler.add`. */
  readonly add: (job: Job.Job) => Effect.Effect<JobStoreNs.StoredJob, JobRejected | JobStoreNs.JobExists | StoreError>
  /** As `Scheduler.addMany`: every job checked, then all stored or none. */
  readonly addMany: (
    jobs: ReadonlyArray<Job.Job>
  ) => Effect.Effect<number, BatchRejected | JobStoreNs.JobExists | StoreError>
  /** As `Scheduler.update`. */
  readonly update: (job: Job.Job) => Effect.Effect<JobStoreNs.StoredJob, JobRejected | JobNotFound | StoreError>
  /** As `Scheduler.remove`. */
  readonly remove: (id: string) => Effect.Effect<boolean, StoreError>
  /** As `Scheduler.trigger`: a manual run now, with another payload if given (checked against the job's task). */
  readonly trigger: (
    id: string,
    payload?: Job.Job["payload"]
  ) => Effect.Effect<Run.RunRecord, JobNotFound | Task.InvalidPayload | UnknownTask | StoreError>
}>()("steadfast/Producer") {}

/**
 * A task a producer can name and check payloads against, without a handler:
 * for processes that add jobs and never run them. A scheduler given one
 * fails each of its runs with a defect saying so; workers register the
 * `Task.make` of the same name and schema.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Producer } from "steadfast"
 *
 * // shared by producer and workers: the name and the payload schema
 * export const SendEmail = Schema.Struct({ to: Schema.String })
 * export const sendEmail = Producer.task("sendEmail", SendEmail)
 * ```
 *
 * @since 0.2.0
 */
export const task = <A, I>(name: string, payload: Schema.Codec<A, I>): Task.Task<I> =>
  Task.make(name, payload, () =>
    Effect.die(new Error(`task ${name} was declared with Producer.task, which has no handler: register Task.make(${JSON.stringify(name)}, ...) in the scheduler`)))

const isJobId = Schema.is(Job.JobId)
const notFound = (id: unknown) => new JobNotFound({ id: typeof id === "string" ? id : `(${typeof id})` })

/**
 * Builds a producer on the `JobStore` in context. Fails with
 * `Scheduler.InvalidOptions` when an option cannot work.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { MemoryJobStore, Producer } from "steadfast"
 *
 * const program = Effect.gen(function*() {
 *   const producer = yield* Producer.make({ tasks: [Producer.task("tick", Schema.Null)] })
 *   return yield* producer.remove("tick-1")
 * }).pipe(Effect.provide(MemoryJobStore.layer))
 * ```
 *
 * @since 0.2.0
 */
export const make = Effect.fnUntraced(function*(options: Options) {
  const invalid = SchedulerOptions.problem({
    tasks: options.tasks,
    maxPayloadBytes: options.maxPayloadBytes,
    storeRetry: options.storeRetry
  })
  if (invalid !== undefined) return yield* invalid
  const store = yield* JobStore
  const tasks = new Map(options.tasks.map((task) => [task.name, task]))
  const maxPayloadBytes = options.maxPayloadBytes ?? Payload.defaultMaxBytes
  const validate = validateJob(tasks, { maxPayloadBytes })
  const checkPayload = checkManualPayload(tasks, maxPayloadBytes)
  const schedule = options.storeRetry ?? StoreRetry.defaultSchedule

  // Retryable store errors are retried; the others (`JobExists`, ...) are answers.
  const retried = <A, E>(effect: Effect.Effect<A, E | StoreError>): Effect.Effect<A, E | StoreError> =>
    effect.pipe(
      Effect.map((value) => Result.succeed(value)),
      Effect.catch((error) => error instanceof StoreError ? Effect.fail(error) : Effect.succeed(Result.fail(error))),
      Effect.retry(schedule),
      Effect.flatMap((result) => Result.isSuccess(result) ? Effect.succeed(result.success) : Effect.fail(result.failure))
    )

  return Producer.of({
    add: Effect.fn("Producer.add")((job: Job.Job) => Effect.flatMap(validate(job), (valid) => retried(store.add(valid)))),
    addMany: Effect.fn("Producer.addMany")((jobs: ReadonlyArray<Job.Job>) =>
      Effect.flatMap(
        validateBatch(validateJob(tasks, { maxPayloadBytes }))(jobs),
        (valid) => valid.length === 0 ? Effect.succeed(0) : retried(store.addMany(valid))
      )
    ),
    update: Effect.fn("Producer.update")((job: Job.Job) =>
      Effect.flatMap(validate(job), (valid) => retried(store.update(valid)))
    ),
    // An id that is not a valid job id names no job: answered without the store.
    remove: Effect.fn("Producer.remove")((id: string) => isJobId(id) ? retried(store.remove(id)) : Effect.succeed(false)),
    trigger: Effect.fn("Producer.trigger")(function*(id: string, payload?: Job.Job["payload"]) {
      if (!isJobId(id)) return yield* notFound(id)
      if (payload !== undefined) {
        const job = yield* retried(store.get(id))
        if (Option.isNone(job)) return yield* notFound(id)
        yield* checkPayload(id, job.value.task, payload)
      }
      return yield* retried(store.triggerNow(id, payload))
    })
  })
})

/**
 * The producer as a Layer over a `JobStore`: no loops, nothing to shut down.
 *
 * @example
 * ```ts
 * import { Layer, Redacted, Schema } from "effect"
 * import { PgJobStore, Producer } from "steadfast"
 *
 * export const ProducerLive = Producer.layer({ tasks: [Producer.task("sendEmail", Schema.Struct({ to: Schema.String }))] }).pipe(
 *   Layer.provide(PgJobStore.layer()),
 *   Layer.provide(PgJobStore.layerClient({ url: Redacted.make("postgres://localhost/app") }))
 * )
 * ```
 *
 * @since 0.2.0
 */
export const layer = (options: Options): Layer.Layer<Producer, SchedulerOptions.InvalidOptions, JobStore> =>
  Layer.effect(Producer, make(options))
