/**
 * Checks a scheduler's options before anything starts: every duration
 * decodes (through `Schema`, see `durationInput.ts`), every count is a
 * positive whole number, names can be stored, and the options agree with
 * each other (a heartbeat shorter than the lease it renews).
 *
 * `Scheduler.make` fails with the first problem, as `InvalidOptions`.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Job from "../Job.ts"
import type * as JobStoreNs from "../JobStore.ts"
import type { StoreError } from "../StoreError.ts"
import type * as Task from "../Task.ts"
import * as DurationInput from "./durationInput.ts"
import * as Payload from "./payload.ts"

/**
 * How a scheduler instance runs (`Scheduler.Options`, exported there).
 * Durations accept `Duration.Input`.
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
  /** Most runs claimed per store round trip. Default 512. */
  readonly batchSize?: number | undefined
  /**
   * Most handlers running at once in this process. Default 10,000. Claims
   * are apart from it: runs are claimed in batches into a local queue,
   * bounded by what the handlers can start within a second or so (measured
   * as they run), and start in fire-time order as slots free up.
   */
  readonly maxInFlight?: number | undefined
  /**
   * Early claiming: a job's next fire is claimed up to this long before it
   * is due (when the job has no run in progress), so that its handler starts
   * at its instant, by the database's clock, rather than a claim round trip
   * after it; never before. `"auto"` (the default) sizes it from the
   * claims' own round trips (four times the slowest recent one, in steps of
   * 50, 100, 200 ms and so on up to a tenth of the lease, at most 1 s); a
   * duration sets it, at most the lease; `0` claims fires once due.
   */
  readonly claimAhead?: Duration.Input | "auto" | undefined
  /**
   * Largest payload, in bytes of its UTF-8 JSON encoding, that `add`,
   * `update`, `trigger` and declared jobs may carry: a larger one is an
   * `InvalidPayload` (`too-large`). Default 1 MiB, at most 8 MiB.
   */
  readonly maxPayloadBytes?: number | undefined
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
  /** How long `awaitReady` waits when not told otherwise. Default 30 s. */
  readonly readyTimeout?: Duration.Input | undefined
  /**
   * The poll interval while the store reports that its change notifications
   * do not arrive (e.g. behind PgBouncer in transaction mode): a change made
   * by another process is then seen within this. Default 1 s.
   */
  readonly fallbackPollInterval?: Duration.Input | undefined
  /**
   * How long a loop may spend on one unit of work (a claim, a renewal, a
   * registration, store retries included) before the watchdog reports it
   * stalled and restarts it. Loops that sleep between units (the dispatcher's
   * poll, the reaper's and janitor's intervals) get their interval on top.
   * Default 60 s.
   */
  readonly stallAfter?: Duration.Input | undefined
  /**
   * How long one store call of the scheduler's user or operators (`add`,
   * `get`, `cancel`, ...) may go unanswered before it fails as a retryable
   * `StoreError` (reason `"Deadline"`) and is abandoned: a bound for stores
   * without deadlines of their own, so that none of those calls waits for
   * ever (the loops' own calls are the watchdog's, `stallAfter`).
   * `PgJobStore` bounds each operation sooner (`PgJobStore.Options.deadlines`):
   * keep this above those, or calls the store would still answer are
   * abandoned and retried. Default 90 s.
   */
  readonly storeCallTimeout?: Duration.Input | undefined
  /**
   * How often this node writes its row of the nodes table (`nodes`): host,
   * pid, version, tasks, runs in progress, health. `nodes` lists the nodes
   * heard from within three of these. Default 30 s: an idle cluster's
   * statements stay within one every two seconds for two processes; a node
   * that stopped cleanly leaves the list at once, one that died within 90 s.
   */
  readonly nodeHeartbeatInterval?: Duration.Input | undefined
  /**
   * How long the handler of a run an operator cancelled (`cancel`) may take
   * to end once interrupted: then the run is recorded `cancelled` anyway and
   * a handler that ignores interruption is abandoned. Default 2 s.
   */
  readonly cancelGrace?: Duration.Input | undefined
}

/**
 * Scheduler options that cannot work: a duration that does not decode
 * ("ten seconds", `NaN`, negative), a count that is not a positive whole
 * number, a name the store cannot hold, or options that disagree (a
 * `heartbeatInterval` not shorter than the `leaseDuration`). `option` names
 * the option (`retention.maxAgeMs` for a nested one).
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { MemoryJobStore, Scheduler } from "steadfast"
 *
 * const program = Layer.build(Scheduler.layer({ tasks: [], heartbeatInterval: "1 minute", leaseDuration: "30 seconds" })).pipe(
 *   Effect.provide(MemoryJobStore.layer),
 *   Effect.scoped,
 *   Effect.catchTag("InvalidOptions", (error) => Effect.succeed(error.option)) // "heartbeatInterval"
 * )
 * ```
 *
 * @since 0.2.0
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  option: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `scheduler option ${this.option} is invalid: ${this.issue}`
  }
}

// The first problem found: which option, and why.
interface Problem {
  readonly option: string
  readonly issue: string
}

/**
 * The options as checked here (a structural subset of `Scheduler.Options`,
 * typed loosely: they may come from JavaScript or from configuration).
 *
 * @internal
 */
export interface Input {
  readonly tasks?: unknown
  readonly jobs?: unknown
  readonly node?: unknown
  readonly version?: unknown
  readonly orphans?: unknown
  readonly batchSize?: unknown
  readonly maxInFlight?: unknown
  readonly maxPayloadBytes?: unknown
  readonly pollInterval?: unknown
  readonly leaseDuration?: unknown
  readonly heartbeatInterval?: unknown
  readonly nodeHeartbeatInterval?: unknown
  readonly cancelGrace?: unknown
  readonly reapInterval?: unknown
  readonly retention?: unknown
  readonly janitorInterval?: unknown
  readonly shutdownGrace?: unknown
  readonly storeRetry?: unknown
  readonly restart?: unknown
  readonly readyTimeout?: unknown
  readonly fallbackPollInterval?: unknown
  readonly stallAfter?: unknown
  readonly storeCallTimeout?: unknown
  readonly claimAhead?: unknown
}

// A name the store keeps in a text column: printable, valid Unicode, bounded.
const Name = Schema.String.check(
  Schema.isBetweenLength(1, 200),
  Schema.isPattern(/^(?:[^\s\u0000-\u001f\u007f\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])+$/)
)
const isName = Schema.is(Name)

const show = (value: unknown): string =>
  typeof value === "string" ? JSON.stringify(value.slice(0, 100)) : typeof value === "bigint" ? `${value}n` : String(value)

const count = (option: string, value: unknown, maximum: number): Problem | undefined =>
  value === undefined || (typeof value === "number" && Number.isSafeInteger(value) && value >= 1 && value <= maximum)
    ? undefined
    : { option, issue: `must be a whole number from 1 to ${maximum}, got ${show(value)}` }

// Whole milliseconds: the store keeps lease lengths in integer columns.
const duration = (option: string, value: unknown, positive: boolean): Result.Result<number | undefined, Problem> => {
  if (value === undefined) return Result.succeed(undefined)
  const millis = DurationInput.toMillis(value, { positive })
  if (Result.isFailure(millis)) return Result.fail({ option, issue: millis.failure })
  return Number.isInteger(millis.success)
    ? Result.succeed(millis.success)
    : Result.fail({ option, issue: `must be a whole number of milliseconds, got ${millis.success} ms` })
}

const durations = [
  ["pollInterval", true],
  ["leaseDuration", true],
  ["heartbeatInterval", true],
  ["nodeHeartbeatInterval", true],
  ["cancelGrace", false],
  ["reapInterval", true],
  ["janitorInterval", true],
  ["shutdownGrace", false],
  ["readyTimeout", false],
  ["fallbackPollInterval", true],
  ["stallAfter", true],
  ["storeCallTimeout", true]
] as const

const tasksProblem = (tasks: unknown): Problem | undefined => {
  if (!Array.isArray(tasks)) return { option: "tasks", issue: "must be an array of tasks" }
  for (const task of tasks) {
    const name: unknown = typeof task === "object" && task !== null ? Reflect.get(task, "name") : undefined
    if (!isName(name)) {
      return {
        option: "tasks",
        issue: `task name ${show(name)} must be 1 to 200 characters without whitespace, control characters or lone surrogates`
      }
    }
  }
  return undefined
}

const retentionProblem = (retention: unknown): Problem | undefined => {
  if (retention === undefined) return undefined
  if (typeof retention !== "object" || retention === null) return { option: "retention", issue: "must be an object" }
  for (const field of ["maxAgeMs", "maxPerJob"] as const) {
    const value: unknown = Reflect.get(retention, field)
    if (value !== undefined && !(typeof value === "number" && Number.isSafeInteger(value) && value >= 0)) {
      return { option: `retention.${field}`, issue: `must be a whole number of at least 0, got ${show(value)}` }
    }
  }
  return undefined
}

/**
 * The first problem of `options`, or `undefined` when they are usable.
 *
 * @internal
 */
export const problem = (options: Input): InvalidOptions | undefined => {
  const found = firstProblem(options)
  return found === undefined ? undefined : new InvalidOptions(found)
}

const firstProblem = (options: Input): Problem | undefined => {
  if (typeof options !== "object" || options === null) return { option: "options", issue: "must be an object" }
  const millis: Record<string, number | undefined> = {}
  for (const [option, positive] of durations) {
    const decoded = duration(option, options[option], positive)
    if (Result.isFailure(decoded)) return decoded.failure
    millis[option] = decoded.success
  }
  const lease = millis.leaseDuration ?? 30_000
  const heartbeat = millis.heartbeatInterval
  // The default heartbeat is a third of the lease, in whole milliseconds.
  if (heartbeat === undefined && Math.floor(lease / 3) < 1) {
    return { option: "leaseDuration", issue: `must be at least 3 ms when heartbeatInterval is not given, got ${lease} ms` }
  }
  if (heartbeat !== undefined && heartbeat >= lease) {
    return {
      option: "heartbeatInterval",
      issue: `must be shorter than leaseDuration (${lease} ms), got ${heartbeat} ms: every lease would expire`
    }
  }
  const node = options.node
  if (node !== undefined && !isName(node)) {
    return {
      option: "node",
      issue: `${show(node)} must be 1 to 200 characters without whitespace, control characters or lone surrogates`
    }
  }
  if (options.version !== undefined && !(typeof options.version === "number" && Number.isFinite(options.version))) {
    return { option: "version", issue: `must be a finite number, got ${show(options.version)}` }
  }
  if (options.orphans !== undefined && !["keep", "pause", "remove"].includes(String(options.orphans))) {
    return { option: "orphans", issue: `must be "keep", "pause" or "remove", got ${show(options.orphans)}` }
  }
  if (options.jobs !== undefined && !Array.isArray(options.jobs)) return { option: "jobs", issue: "must be an array of jobs" }
  if (options.claimAhead !== undefined && options.claimAhead !== "auto") {
    const ahead = duration("claimAhead", options.claimAhead, false)
    if (Result.isFailure(ahead)) return ahead.failure
    if ((ahead.success ?? 0) > lease) {
      return { option: "claimAhead", issue: `must be "auto" or at most leaseDuration (${lease} ms), got ${ahead.success} ms` }
    }
  }
  for (const [option, schedule] of [["storeRetry", options.storeRetry], ["restart", options.restart]] as const) {
    if (schedule !== undefined && !Schedule.isSchedule(schedule)) return { option, issue: "must be a Schedule" }
  }
  return tasksProblem(options.tasks) ??
    count("batchSize", options.batchSize, 100_000) ??
    count("maxInFlight", options.maxInFlight, 10_000_000) ??
    count("maxPayloadBytes", options.maxPayloadBytes, Payload.maxMaxBytes) ??
    retentionProblem(options.retention)
}
