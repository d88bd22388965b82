/**
 * A run is one fire of a job: `(jobId, fireTime)` is its unique key among
 * the fires of its trigger, and manual runs (`Scheduler.trigger`) have a key
 * space of their own, so a manual run never takes a scheduled fire's key.
 *
 * Every fire leaves a record, including the ones that did not run (skipped for
 * overlap, missed, coalesced into another), so "did the 03:00 run happen, and
 * if not, why?" always has an answer in `Scheduler.history`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Job from "./Job.ts"

/**
 * The life of a run:
 * `pending` → `running` → `succeeded` | `failed` | `timed-out` | `lost`;
 * fires that never run end as `skipped` (overlap limit), `missed` (misfire
 * policy), `coalesced` (merged into another fire's run) or `cancelled`
 * (their job was removed before they started, or an operator cancelled them:
 * `JobStore.cancel`, which also ends a running run as `cancelled`).
 *
 * @since 0.1.0
 */
export const State = Schema.Literals([
  "pending",
  "running",
  "succeeded",
  "failed",
  "timed-out",
  "lost",
  "skipped",
  "missed",
  "coalesced",
  "cancelled"
])
export type State = typeof State.Type

/**
 * States a run never leaves.
 *
 * @since 0.1.0
 */
export const finalStates: ReadonlySet<State> = new Set<State>(
  State.literals.filter((state) => state !== "pending" && state !== "running")
)
/**
 * The record of one fire.
 *
 * @since 0.1.0
 */
export const RunRecord = Schema.Struct({
  id: Schema.String,
  jobId: Schema.String,
  /** Nominal fire time (epoch ms): the dedup key handed to the handler. */
  fireTime: Schema.Number,
  /** When it became due: fire time plus the job's deterministic jitter. */
  dueAt: Schema.Number,
  state: State,
  attempt: Schema.Int,
  node: Schema.NullOr(Schema.String),
  /**
   * When it started, by the store's clock (the database's for PostgreSQL),
   * like every instant of a record: never a node's, so a node whose clock is
   * wrong cannot make a duration negative or age a record early.
   */
  startedAt: Schema.NullOr(Schema.Number),
  /** When it ended (when the store recorded its outcome), by the store's clock; never before `startedAt`. */
  endedAt: Schema.NullOr(Schema.Number),
  error: Schema.NullOr(Schema.String),
  /** Why it ended as it did when that is not obvious ("coalesced into 1700000000000", "overlap limit 1"). */
  note: Schema.NullOr(Schema.String),
  /** Started by `triggerNow` rather than by the trigger. */
  manual: Schema.Boolean,
  /**
   * The payload a manual run was given (`Scheduler.trigger`), else null (it
   * runs with its job's). Only in the record of one run (`getRun`, and what
   * `trigger` returns): lists leave it out, as a payload may be megabytes.
   * @since 0.4.0
   */
  payload: Schema.optionalKey(Schema.NullOr(Schema.Json))
})
export type RunRecord = typeof RunRecord.Type

/**
 * A run this node has claimed and must execute: the run plus the part of its
 * job the executor needs, so no second read is needed.
 *
 * @since 0.1.0
 */
export interface Claimed {
  readonly id: string
  readonly jobId: string
  readonly fireTime: number
  readonly dueAt: number
  readonly attempt: number
  /** Fencing token: every write about this run must carry it. */
  readonly token: string
  readonly task: string
  readonly payload: Schema.Json
  readonly retry: Job.RetryPolicy
  readonly timeout: number | null
  readonly startedAt: number
  /** A run started by `Scheduler.trigger` (its own key space: it may share its fire time with a scheduled fire). */
  readonly manual?: boolean | undefined
  /**
   * Its job's misfire policy. With `Skip`, a scheduled fire's first attempt
   * that its node cannot start within `grace` (and at least a second) of
   * the start its claim recorded (the claim's answer was lost and found
   * again after an outage, or it waited that long for a handler slot) is
   * recorded `missed`, never run. A store that leaves it out gets every
   * claimed run started, however late.
   * @since 0.5.0
   */
  readonly misfire?: Job.MisfirePolicy | undefined
}

/**
 * How an executed run ended.
 *
 * @since 0.1.0
 */
export interface Outcome {
  readonly id: string
  readonly token: string
  /**
   * `cancelled`: an operator cancelled it (`JobStore.cancel`) and its
   * handler was interrupted. `missed`: it never started, its node could not
   * start it within its misfire grace (see `Claimed.misfire`; since 0.5.0):
   * the store records no start.
   */
  readonly state: "succeeded" | "failed" | "timed-out" | "cancelled" | "missed"
  readonly attempt: number
  readonly error: string | null
  /** Why it ended so, when that is not obvious (`"cancelled by operator"`); absent: the record's note stays. @since 0.4.0 */
  readonly note?: string | null | undefined
  /**
   * When the handler ended, by the finishing node's clock: for its events.
   * Stores record the end by their own clock instead (see `RunRecord.endedAt`).
   */
  readonly endedAt: number
  /**
   * When the handler started, by the node's estimate of the store's clock: a
   * claimed run may wait in the node's queue for a handler slot, so this can
   * be later than the start recorded at the claim, which the store then
   * moves to it (never before the claim's start, never past the store's
   * now, which is the recorded end).
   */
  readonly startedAt?: number | undefined
}
