/**
 * The outcomes the executor writes for runs whose handler did not end on its
 * own: cancelled by an operator, interrupted by shutdown, or found too late
 * to start (a `Skip` job's fire past its grace). Each is an outcome for the
 * store and the event told once the store accepts it.
 *
 * @since 0.5.0
 */
import { Event } from "../Event.ts"
import type * as Run from "../Run.ts"

/**
 * A run's outcome on its way to the store, with the event told once it is accepted.
 *
 * @since 0.5.0
 */
export interface Finished {
  readonly run: Run.Claimed
  readonly outcome: Run.Outcome
  readonly event: Event
}

/**
 * An operator cancelled it (`JobStore.cancel`): its handler never started,
 * or was interrupted.
 *
 * @since 0.5.0
 */
export const cancelled = (run: Run.Claimed, endedAt: number): Finished => ({
  run,
  outcome: { id: run.id, token: run.token, state: "cancelled", attempt: run.attempt, error: null, note: "cancelled by operator", endedAt },
  event: Event.RunCancelled({ jobId: run.jobId, fireTime: run.fireTime, runId: run.id, attempt: run.attempt, at: endedAt })
})

/**
 * Interrupted by shutdown after the grace period: recorded honestly, as a failure.
 *
 * @since 0.5.0
 */
export const interrupted = (run: Run.Claimed, endedAt: number): Finished => {
  const error = "interrupted: the node shut down before the handler finished"
  return {
    run,
    outcome: { id: run.id, token: run.token, state: "failed", attempt: run.attempt, error, endedAt },
    event: Event.RunFailed({ jobId: run.jobId, fireTime: run.fireTime, runId: run.id, attempt: run.attempt, error, at: endedAt })
  }
}

/**
 * How late a node may start a run for its own reasons (timers, a burst of
 * starts at one instant, a claim's answer retried) without that being a
 * misfire, whatever the grace: a `Skip` job with a grace of 0, claimed ahead
 * of its instant, still runs when started a fraction of a millisecond after it.
 *
 * @since 0.5.0
 */
export const nodeSlackMs = 1_000

/**
 * When a claimed run becomes a missed fire rather than a late start: a
 * `Skip` job's scheduled fire (first attempt, not manual) that its node
 * cannot start within its grace (and `nodeSlackMs`) of the start its claim
 * recorded, as the claim would have recorded it missed had it found it that
 * late. (A claim whose answer was lost in an outage is found again, by its
 * token, only when the store answers; a run may also wait in the queue for
 * a slot.) The claim's start, not the due instant: a fire the claim started
 * late on purpose (waiting for the overlap slot) is not late for its node.
 *
 * @since 0.5.0
 */
export const missedAfter = (run: Run.Claimed): number =>
  run.misfire !== undefined && run.misfire.then._tag === "Skip" && run.attempt === 1 && run.manual !== true
    ? run.startedAt + Math.max(run.misfire.grace, nodeSlackMs)
    : Number.POSITIVE_INFINITY

/**
 * Found `lateMs` after its claimed start, past `missedAfter`: recorded
 * missed, its handler never run.
 *
 * @since 0.5.0
 */
export const missed = (run: Run.Claimed, lateMs: number, endedAt: number): Finished => {
  const note = `late beyond grace, misfire policy skip: its node could not start it sooner (${lateMs} ms after its claimed start)`
  return {
    run,
    outcome: { id: run.id, token: run.token, state: "missed", attempt: run.attempt, error: null, note, endedAt },
    event: Event.RunMissed({ jobId: run.jobId, fireTime: run.fireTime, note, at: endedAt })
  }
}
