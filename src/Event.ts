/**
 * What the scheduler tells the outside world, as typed events.
 *
 * Offered as a `Stream` by `Scheduler.events`. Events are plain data (`at` is
 * epoch ms) so they log and serialise as they are.
 *
 * An event's `at` is the emitting node's clock, except where it comes from
 * the store (`RunStarted`: the run's recorded start; the settled fires;
 * `JobSetAside`), which uses the store's. Records (`Scheduler.history`)
 * always use the store's clock: a node whose clock is wrong shows it in its
 * events, never in the history.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * Every event the scheduler emits.
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  RunStarted: { readonly jobId: string; readonly fireTime: number; readonly runId: string; readonly attempt: number; readonly node: string; readonly at: number }
  RunRetrying: { readonly jobId: string; readonly fireTime: number; readonly runId: string; readonly attempt: number; readonly error: string; readonly at: number }
  RunSucceeded: { readonly jobId: string; readonly fireTime: number; readonly runId: string; readonly attempt: number; readonly at: number }
  RunFailed: { readonly jobId: string; readonly fireTime: number; readonly runId: string; readonly attempt: number; readonly error: string; readonly at: number }
  RunTimedOut: { readonly jobId: string; readonly fireTime: number; readonly runId: string; readonly attempt: number; readonly at: number }
  /**
   * An operator cancelled a running run (`Scheduler.cancel`): its handler was interrupted and it is recorded
   * `cancelled` (by the node that ran it, or by the reaper when that node had died: `attempt` and `runId` are then its record's).
   */
  RunCancelled: { readonly jobId: string; readonly fireTime: number; readonly runId: string; readonly attempt: number; readonly at: number }
  /** The node lost its lease on a run (another node took it over): its handler was interrupted. */
  RunLeaseLost: { readonly jobId: string; readonly fireTime: number; readonly runId: string; readonly at: number }
  /** A fire settled without running: skipped (overlap), missed or coalesced (misfire), or lost (its node died). */
  RunSkipped: { readonly jobId: string; readonly fireTime: number; readonly note: string | null; readonly at: number }
  RunMissed: { readonly jobId: string; readonly fireTime: number; readonly note: string | null; readonly at: number }
  RunCoalesced: { readonly jobId: string; readonly fireTime: number; readonly note: string | null; readonly at: number }
  RunLost: { readonly jobId: string; readonly fireTime: number; readonly retried: boolean; readonly note: string | null; readonly at: number }
  /** A claim could not decode or plan a stored job: the store paused it with a note (`StoredJob.setAside`) and claimed the rest. */
  JobSetAside: { readonly jobId: string; readonly reason: "undecodable" | "unplannable"; readonly detail: string; readonly at: number }
  LoopFailed: { readonly loop: string; readonly error: string; readonly at: number }
  LoopRestarted: { readonly loop: string; readonly restarts: number; readonly at: number }
  /** A loop went past its `stallAfter` without progress: the watchdog interrupts and restarts it. */
  LoopStalled: { readonly loop: string; readonly progressAgeMs: number; readonly at: number }
  StoreUnavailable: { readonly operation: string; readonly error: string; readonly at: number }
  StoreRecovered: { readonly downtimeMs: number; readonly at: number }
  JobsRegistered: { readonly inserted: number; readonly updated: number; readonly unchanged: number; readonly superseded: number; readonly orphaned: number; readonly at: number }
}>

/**
 * Constructors and matchers for `Event`.
 *
 * @example
 * ```ts
 * import { Event } from "steadfast"
 *
 * const e = Event.Event.LoopRestarted({ loop: "dispatcher", restarts: 1, at: 0 })
 * Event.Event.$is("LoopRestarted")(e) // true
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()
