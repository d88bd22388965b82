/**
 * What a process checks before it hands the store jobs it did not declare:
 * a batch (`addMany`), all of it before anything is stored, and the payload
 * of a manual run (`trigger`). Shared by `Scheduler` and `Producer`, which
 * re-export `BatchRejected`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Job from "../Job.ts"
import * as Task from "../Task.ts"
import * as Trigger from "../Trigger.ts"
import { InvalidJob, invalidPayload, type JobRejected, UnknownTask, withJob } from "./jobValidation.ts"
import * as Payload from "./payload.ts"

/**
 * A job of a batch (`addMany`) was rejected, so nothing of the batch was
 * stored: `index` is its position in the batch, `id` its id (as given), and
 * `error` why, as `add` would have said it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Scheduler } from "steadfast"
 *
 * const explain = (error: Scheduler.BatchRejected) => `job ${error.index} (${error.id}): ${error.error._tag}`
 * const program = Effect.fail(new Scheduler.BatchRejected({
 *   index: 2,
 *   id: "report-7",
 *   error: new Scheduler.InvalidJob({ id: "report-7", issue: "timeout: must be positive" })
 * })).pipe(Effect.catchTag("BatchRejected", (error) => Effect.succeed(explain(error))))
 * ```
 *
 * @since 0.2.0
 */
export class BatchRejected extends Schema.TaggedError<BatchRejected>()("BatchRejected", {
  index: Schema.Number,
  id: Schema.String,
  error: Schema.Union([InvalidJob, UnknownTask, Task.InvalidPayload, Trigger.InvalidTrigger])
}) {
  override get message(): string {
    return `job ${this.index} of the batch (${JSON.stringify(this.id.slice(0, 100))}) was rejected, and nothing ` +
      `was stored: ${this.error.message}`
  }
}

// A job's id as it may be shown in an error, whatever the job is.
const idOf = (job: unknown): string => {
  const id: unknown = typeof job === "object" && job !== null ? Reflect.get(job, "id") : undefined
  return typeof id === "string" ? id : `(${typeof id})`
}

/**
 * Checks every job of a batch with `validate` (one `validateJob` for the
 * whole batch, so each distinct trigger is checked once), in order; the
 * first rejection fails the batch, naming the job's index.
 *
 * @internal
 */
export const validateBatch = (validate: (job: Job.Job) => Effect.Effect<Job.Job, JobRejected>) =>
(jobs: ReadonlyArray<Job.Job>): Effect.Effect<ReadonlyArray<Job.Job>, BatchRejected> =>
  Effect.forEach(jobs, (job, index) =>
    Effect.mapError(validate(job), (error) => new BatchRejected({ index, id: idOf(job), error })))

/**
 * Checks the payload given to a manual run of a job of task `taskName`, as
 * `validateJob` checks a job's: a task this process has, a payload the
 * store can hold and the task's schema accepts.
 *
 * @internal
 */
export const checkManualPayload = <R>(
  tasks: ReadonlyMap<string, Task.Any<R>>,
  maxPayloadBytes: number
) =>
(jobId: string, taskName: string, payload: Job.Job["payload"]): Effect.Effect<void, UnknownTask | Task.InvalidPayload> => {
  const task = tasks.get(taskName)
  if (task === undefined) return Effect.fail(new UnknownTask({ jobId, task: taskName, known: [...tasks.keys()] }))
  const problem = Payload.check(payload, maxPayloadBytes)
  if (problem !== undefined) return Effect.fail(invalidPayload(jobId, task.name, problem))
  return Effect.mapError(task.validate(payload), (error) => withJob(error, jobId))
}
