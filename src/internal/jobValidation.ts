/**
 * What makes a job acceptable: its schema, its trigger, a task this process
 * registers, and a payload the store can hold. `Scheduler` re-exports the
 * errors and `validateJob`; it runs the check on declared jobs (before
 * anything is stored), on `add` and on `update`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Job from "../Job.ts"
import * as Task from "../Task.ts"
import * as Trigger from "../Trigger.ts"
import * as JobProblems from "./jobProblems.ts"
import * as JobShape from "./jobShape.ts"
import * as Payload from "./payload.ts"

/**
 * A job failed its schema (bad id, negative timeout, a duration that does not decode, ...).
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
 * Checks a job against its schema, its trigger and this process's tasks,
 * and its payload against what the store can hold (JSON without `\u0000` or
 * lone surrogates, at most 100 levels deep and `maxPayloadBytes` long,
 * default 1 MiB). Never throws and never dies, whatever it is given.
 * A well-formed job is checked in place and returned as it is (declaring
 * 100,000 jobs does not copy them); each distinct trigger is checked once.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Job, Scheduler, Task, Trigger } from "steadfast"
 *
 * const hello = Task.make("hello", Schema.Struct({ name: Schema.String }), () => Effect.void)
 * const validate = Scheduler.validateJob(new Map([[hello.name, hello]]), { maxPayloadBytes: 4_096 })
 * const program = validate(Job.make(hello, { id: "hello", payload: { name: "a\u0000b" }, trigger: Trigger.every("1 minute") })).pipe(
 *   Effect.catchTag("InvalidPayload", (error) => Effect.succeed(error.path)) // "$.name"
 * )
 * ```
 *
 * @since 0.1.0
 */
export const validateJob = <R>(
  tasks: ReadonlyMap<string, Task.Any<R>>,
  options?: { readonly maxPayloadBytes?: number | undefined }
): (job: Job.Job) => Effect.Effect<Job.Job, JobRejected> => checker(tasks, options, undefined)

/**
 * `validateJob` over the jobs declared in code, in order, failing with the
 * first rejection. Here a trigger object shared by many jobs (as
 * `Trigger.every(...)` bound once and given to each) is checked once by
 * identity, not spelled out again for each job: nothing can change it
 * between two jobs of one pass.
 *
 * @internal
 */
export const validateDeclared = <R>(
  tasks: ReadonlyMap<string, Task.Any<R>>,
  options?: { readonly maxPayloadBytes?: number | undefined }
) =>
(jobs: ReadonlyArray<Job.Job>): Effect.Effect<ReadonlyArray<Job.Job>, JobRejected> =>
  Effect.gen(function*() {
    const seenTriggers = new WeakSet<object>()
    const check = checker(tasks, options, seenTriggers)
    // Scalar payloads (`null` above all) already accepted, by task name: a
    // task's schema decodes the same value the same way every time.
    const accepted = new Map<string, Set<unknown>>()
    const valid: Array<Job.Job> = []
    for (const job of jobs) {
      // The common case in plain code: a job of exactly the schema's shape,
      // whose trigger and (scalar) payload an earlier job of this pass showed
      // valid for the same task. Anything else goes through every check.
      if (
        JobShape.conforms(job) && JobProblems.get(job) === undefined && seenTriggers.has(job.trigger) &&
        accepted.get(job.task)?.has(job.payload) === true
      ) {
        valid.push(job)
        continue
      }
      const checked = yield* check(job)
      valid.push(checked)
      if (checked.payload === null || typeof checked.payload !== "object") {
        let payloads = accepted.get(checked.task)
        if (payloads === undefined) accepted.set(checked.task, payloads = new Set())
        if (payloads.size < 1_000) payloads.add(checked.payload)
      }
    }
    return valid
  })

const checker = <R>(
  tasks: ReadonlyMap<string, Task.Any<R>>,
  options: { readonly maxPayloadBytes?: number | undefined } | undefined,
  // Trigger objects already checked in this pass (see `validateDeclared`).
  seenTriggers: WeakSet<object> | undefined
) => {
  const isJob = Schema.is(Job.Job)
  const decode = Schema.decodeUnknownEffect(Schema.toType(Job.Job))
  const maxBytes = options?.maxPayloadBytes ?? Payload.defaultMaxBytes
  const validTriggers = new Set<string>()
  return Effect.fnUntraced(function*(job: Job.Job): Effect.fn.Return<Job.Job, JobRejected> {
    const id = fieldOf(job, "id")
    const taskName = fieldOf(job, "task")
    // What `Job.make` could not represent, named as it was given.
    const recorded = JobProblems.get(job)
    if (recorded?._tag === "Payload") return yield* invalidPayload(id, taskName, recorded.problem)
    if (recorded?._tag === "Field") return yield* new InvalidJob({ id, issue: `${recorded.field}: ${recorded.issue}` })
    if (typeof job !== "object" || job === null) return yield* new InvalidJob({ id, issue: "not a job (an object)" })
    // The payload first: what the store cannot hold, wherever it hides, without recursion.
    const payload = Payload.check(job.payload, maxBytes)
    if (payload !== undefined) return yield* invalidPayload(id, taskName, payload)
    // A job of exactly the schema's shape needs no walk of the schema (see
    // `jobShape.ts`); decoding says what is wrong with one that is not well-formed.
    const valid = JobShape.conforms(job) || isJob(job)
      ? job
      : yield* decode(job).pipe(Effect.mapError((error) => new InvalidJob({ id, issue: error.message })))
    if (seenTriggers === undefined || !seenTriggers.has(valid.trigger)) {
      const trigger = JSON.stringify(valid.trigger)
      if (!validTriggers.has(trigger)) {
        yield* Trigger.validate(valid.trigger).pipe(
          Effect.mapError((error) => new Trigger.InvalidTrigger({ reason: error.reason, jobId: valid.id }))
        )
        if (validTriggers.size < 10_000) validTriggers.add(trigger)
      }
      seenTriggers?.add(valid.trigger)
    }
    const task = tasks.get(valid.task)
    if (task === undefined) {
      return yield* new UnknownTask({ jobId: valid.id, task: valid.task, known: [...tasks.keys()] })
    }
    yield* task.validate(valid.payload).pipe(Effect.mapError((error) => withJob(error, valid.id)))
    return valid
  })
}

// A job's string field as it may be shown in an error, whatever the job is.
const fieldOf = (job: unknown, field: "id" | "task"): string => {
  const value: unknown = typeof job === "object" && job !== null ? Reflect.get(job, field) : undefined
  return typeof value === "string" ? value : `(${typeof value})`
}

/** @internal */
export const invalidPayload = (jobId: string, task: string, problem: Payload.Problem) =>
  new Task.InvalidPayload({ task, jobId, reason: problem.reason, path: problem.path, issue: problem.issue })
/** @internal */
export const withJob = (error: Task.InvalidPayload, jobId: string) =>
  new Task.InvalidPayload({ task: error.task, jobId, reason: error.reason, path: error.path, issue: error.issue })

