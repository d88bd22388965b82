/**
 * A job is data: a schedule that says which task runs, with which payload,
 * when (a `Trigger`), and under which policies.
 *
 * Jobs are declared in code (`Job.make`) or added at run time, and persisted
 * by the store in their encoded (JSON) form, so every field here is plain data
 * with a `Schema`. Policies have defaults chosen for the common case: one run
 * at a time, a minute of misfire grace then one coalesced catch-up run, no
 * retry, no timeout, and a lost run recorded rather than repeated.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as DurationInput from "./internal/durationInput.ts"
import * as JobProblems from "./internal/jobProblems.ts"
import * as Payload from "./internal/payload.ts"
import * as CronSearch from "./internal/triggerCron.ts"
import type * as Task from "./Task.ts"
import * as Trigger from "./Trigger.ts"

/**
 * Non-negative whole milliseconds.
 *
 * @since 0.1.0
 */
export const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * A job id: 1 to 200 characters of letters, digits and `._:/@-`, starting with a
 * letter or digit, so it is safe in URLs, logs and CLI arguments.
 *
 * @since 0.1.0
 */
export const JobId = Schema.String.check(
  Schema.isBetweenLength(1, 200),
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/)
)

/**
 * A task name: 1 to 200 characters, no whitespace, no control characters
 * (`\u0000` included) and no lone UTF-16 surrogates, so the store can hold it.
 *
 * @since 0.1.0
 */
export const TaskName = Schema.String.check(
  Schema.isBetweenLength(1, 200),
  Schema.isPattern(/^(?:[^\s\u0000-\u001f\u007f\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])+$/)
)

/**
 * How many runs of one job may be in progress at once, cluster-wide, and what
 * happens to a fire that finds the limit reached: `skip` records it as
 * skipped, `wait` keeps it pending until a slot frees.
 *
 * @since 0.1.0
 */
export const OverlapPolicy = Schema.Struct({
  // The store keeps it in a 32-bit integer.
  max: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 2_147_483_647 })),
  onLimit: Schema.Literals(["skip", "wait"])
})
export type OverlapPolicy = typeof OverlapPolicy.Type

/**
 * What to do with fires found later than the grace period (the scheduler or
 * the database was down, the job was paused):
 * - `Coalesce`: run once, for the latest (or earliest) missed fire; the other
 *   fires are recorded as coalesced into it;
 * - `Skip`: record every missed fire as missed and run none (nor a fire
 *   claimed on time that its node could not start within the grace: see
 *   `Run.Claimed.misfire`);
 * - `CatchUp`: run the `max` most recent missed fires, record older ones as missed.
 *
 * @since 0.1.0
 */
export const Misfire = Schema.Union([
  Schema.TaggedStruct("Coalesce", { keep: Schema.Literals(["latest", "earliest"]) }),
  Schema.TaggedStruct("Skip", {}),
  Schema.TaggedStruct("CatchUp", { max: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 })) })
])
export type Misfire = typeof Misfire.Type

/**
 * A fire is on time while it starts within `grace` ms of being due; later
 * fires are handled by `then`.
 *
 * @since 0.1.0
 */
export const MisfirePolicy = Schema.Struct({ grace: Millis, then: Misfire })
export type MisfirePolicy = typeof MisfirePolicy.Type

/**
 * Retry of a failed run inside its lease: at most `attempts` attempts in all,
 * delays growing from `base` by `factor` up to `cap`, optionally jittered.
 * `RetryPolicy.toSchedule` turns it into an Effect `Schedule`.
 *
 * @since 0.1.0
 */
export const RetryPolicy = Schema.Struct({
  attempts: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 })),
  base: Millis,
  factor: Schema.Finite.check(Schema.isBetween({ minimum: 1, maximum: 100 })),
  cap: Millis,
  jitter: Schema.Boolean
})
export type RetryPolicy = typeof RetryPolicy.Type

/**
 * What happens to a run whose node died (its lease expired): `record` marks it
 * lost; `retry` runs it again (at-least-once) with the same fire time.
 *
 * @since 0.1.0
 */
export const LostPolicy = Schema.Literals(["record", "retry"])
export type LostPolicy = typeof LostPolicy.Type

/**
 * The job, as stored.
 *
 * @since 0.1.0
 */
export const Job = Schema.Struct({
  id: JobId,
  task: TaskName,
  payload: Schema.Json,
  trigger: Trigger.Trigger,
  overlap: OverlapPolicy,
  misfire: MisfirePolicy,
  retry: RetryPolicy,
  timeout: Schema.NullOr(Millis.check(Schema.isGreaterThan(0))),
  onLost: LostPolicy,
  paused: Schema.Boolean
})
export type Job = typeof Job.Type

/**
 * The policies a job gets when it names none.
 *
 * @since 0.1.0
 */
export const defaults = {
  overlap: { max: 1, onLimit: "skip" },
  misfire: { grace: 60_000, then: { _tag: "Coalesce", keep: "latest" } },
  retry: { attempts: 1, base: 1_000, factor: 2, cap: 60_000, jitter: true },
  timeout: null,
  onLost: "record",
  paused: false
} as const satisfies Pick<Job, "overlap" | "misfire" | "retry" | "timeout" | "onLost" | "paused">

/**
 * Options for `make`: durations accept `Duration.Input` ("30 seconds", 5000).
 *
 * @since 0.1.0
 */
export interface Options<Encoded> {
  readonly id: string
  readonly payload: Encoded
  readonly trigger: Trigger.Trigger
  readonly overlap?: Partial<OverlapPolicy> | undefined
  readonly misfire?: {
    readonly grace?: Duration.Input | undefined
    readonly then?: Misfire | undefined
  } | undefined
  readonly retry?: {
    readonly attempts?: number | undefined
    readonly base?: Duration.Input | undefined
    readonly factor?: number | undefined
    readonly cap?: Duration.Input | undefined
    readonly jitter?: boolean | undefined
  } | undefined
  readonly timeout?: Duration.Input | undefined
  readonly onLost?: LostPolicy | undefined
  readonly paused?: boolean | undefined
}

// `H` in a cron expression is spread by the job's id, unless the trigger
// names a seed of its own: a new trigger, so the caller's value is unchanged.
// What is not a cron trigger with a string expression is left as given (the
// scheduler reports it).
const seeded = (trigger: Trigger.Trigger, id: string): Trigger.Trigger =>
  typeof trigger === "object" && trigger !== null && trigger._tag === "Cron" && trigger.seed === undefined &&
    typeof trigger.expression === "string" && typeof id === "string" && CronSearch.usesHash(trigger.expression)
    ? { ...trigger, seed: id }
    : trigger

/**
 * Declares a job of a task. The payload is typed by the task's schema
 * (its encoded form); it is checked when the scheduler registers the job.
 *
 * `make` never throws. What it cannot represent (a duration such as
 * "5 minutez", a payload holding a BigInt, a cycle or 100,000 levels of
 * nesting) becomes `NaN` in the job, and the scheduler rejects the job with
 * a typed error naming the input (`InvalidJob`, `InvalidPayload`). The
 * payload is copied as JSON would copy it: `undefined` properties are dropped.
 * A cron trigger whose expression uses `H` and names no `seed` gets the
 * job's id as its seed (in a new trigger value), so each job's `H` picks its
 * own values.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Job, Task, Trigger } from "steadfast"
 *
 * const syncDevice = Task.make("syncDevice", Schema.Struct({ deviceId: Schema.String }), () => Effect.void)
 *
 * export const sync42 = Job.make(syncDevice, {
 *   id: "sync-device-42",
 *   payload: { deviceId: "42" },
 *   trigger: Trigger.every("2 hours"),
 *   retry: { attempts: 3, base: "1 second" },
 *   timeout: "5 minutes"
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = <Encoded, R>(task: Task.Task<Encoded, R>, options: Options<Encoded>): Job => {
  const problems: Array<JobProblems.Problem> = []
  const duration = (field: string, input: unknown, fallback: number, positive = false): number =>
    input === undefined ? fallback : Result.match(DurationInput.toMillis(input, { positive }), {
      onSuccess: (millis) => millis,
      onFailure: (issue) => {
        problems.push({ _tag: "Field", field, issue })
        return Number.NaN
      }
    })
  const walked = Payload.walk(options.payload ?? null, { maxBytes: Payload.maxMaxBytes, copy: true })
  if (walked._tag === "Problem") problems.unshift({ _tag: "Payload", problem: walked.problem })
  const job: Job = {
    id: options.id,
    task: task.name,
    payload: walked._tag === "Json" ? walked.copy ?? null : Number.NaN,
    trigger: seeded(options.trigger, options.id),
    overlap: {
      max: options.overlap?.max ?? defaults.overlap.max,
      onLimit: options.overlap?.onLimit ?? defaults.overlap.onLimit
    },
    misfire: {
      grace: duration("misfire.grace", options.misfire?.grace, defaults.misfire.grace),
      then: options.misfire?.then ?? defaults.misfire.then
    },
    retry: {
      attempts: options.retry?.attempts ?? defaults.retry.attempts,
      base: duration("retry.base", options.retry?.base, defaults.retry.base),
      factor: options.retry?.factor ?? defaults.retry.factor,
      cap: duration("retry.cap", options.retry?.cap, defaults.retry.cap),
      jitter: options.retry?.jitter ?? defaults.retry.jitter
    },
    // `null` (as a JavaScript caller may write it) means no timeout, like `undefined`.
    timeout: options.timeout === undefined || options.timeout === null ? null : duration("timeout", options.timeout, 0, true),
    onLost: options.onLost ?? defaults.onLost,
    paused: options.paused ?? defaults.paused
  }
  const first = problems[0]
  if (first !== undefined) JobProblems.record(job, first)
  return job
}

/**
 * The Effect `Schedule` a retry policy describes: recurs `attempts - 1` times,
 * waiting `base * factor^n` capped at `cap`, jittered (within the cap) when asked.
 *
 * @example
 * ```ts
 * import { Job } from "steadfast"
 *
 * const schedule = Job.retrySchedule({ attempts: 3, base: 100, factor: 2, cap: 1_000, jitter: false })
 * // waits 100 ms then 200 ms: three attempts in all
 * ```
 *
 * @since 0.1.0
 */
export const retrySchedule = (policy: RetryPolicy): Schedule.Schedule<Duration.Duration, unknown> => {
  const capped = Schedule.min([Schedule.exponential(policy.base, policy.factor), Schedule.spaced(policy.cap)])
  // Whole milliseconds, and never above the cap even after jitter (which scales by up to 1.2).
  const bounded = (policy.jitter ? Schedule.jittered(capped) : capped).pipe(
    Schedule.modifyDelay(({ duration }) =>
      Effect.succeed(Duration.millis(Math.floor(Math.min(Duration.toMillis(duration), policy.cap))))
    )
  )
  return Schedule.max([bounded, Schedule.recurs(policy.attempts - 1)])
}
