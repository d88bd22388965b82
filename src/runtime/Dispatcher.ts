/**
 * The dispatcher: claims due fires in batches and hands them to the executor.
 *
 * It claims when something is due; otherwise it asks the store when something
 * will be (one cheap statement) and sleeps until then, or until a wake-up (a
 * change here or in another process), or at most the poll interval. A
 * wake-up or a poll asks before claiming: an idle cluster costs one statement
 * per process and poll interval. When the store says its change notifications
 * do not arrive (a transaction pooler drops them), the poll interval shrinks
 * to `fallbackPollMs`, so a change made by another process is seen within it.
 * Sleeps are timed by the store clock's estimate on the monotonic clock; the
 * store decides what is due.
 *
 * No claimed fire is lost on a live node: a claim that fails or is
 * interrupted may have committed all the same, so its runs are looked for and
 * adopted, and at shutdown what was claimed and will not start is handed back
 * (see `Claims`).
 *
 * @since 0.2.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import { Event } from "../Event.ts"
import type { Executor } from "../Executor.ts"
import type { JobStore, Share } from "../JobStore.ts"
import type * as Run from "../Run.ts"
import type * as Supervisor from "../Supervisor.ts"
import * as ClaimSizing from "./ClaimSizing.ts"
import * as Claims from "./Claims.ts"
import type { Loop } from "./Loop.ts"
import type { StoreClock } from "./StoreClock.ts"
import type { StoreGuard } from "./StoreGuard.ts"

/**
 * What the dispatcher needs.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly node: string
  readonly tasks: ReadonlyArray<string>
  readonly store: JobStore["Service"]
  readonly guard: StoreGuard
  readonly supervisor: Supervisor.Supervisor
  readonly publish: (event: Event) => Effect.Effect<void>
  readonly executor: Pick<Executor, "load" | "wakeBelow" | "ended" | "submit" | "adopt" | "withdraw" | "holding">
  readonly clock: StoreClock
  /** This node's share of the jobs claimed ahead (`ClaimRequest.share`); absent: every job. */
  readonly share?: Share | undefined
  /** Offered to wake the dispatcher (a change, a freed slot). */
  readonly wakeups: Queue.Queue<true>
  /** The dispatcher waits for the registrar. */
  readonly registered: Deferred.Deferred<void>
  /** Called after every pass (readiness). */
  readonly dispatched: Effect.Effect<void>
  readonly batchSize: number
  readonly maxInFlight: number
  /** How long before its due instant a job's next fire is claimed, ms; `"auto"`: sized from the claims' round trips. */
  readonly claimAhead: number | "auto"
  readonly leaseMs: number
  readonly pollMs: number
  readonly fallbackPollMs: number
  readonly stallAfterMs: number
}

/**
 * The dispatcher loop, and what shutdown asks of it once the loop stopped.
 *
 * @since 0.2.0
 */
export interface Dispatcher extends Loop {
  /**
   * Hands back what this node claimed and will not start: the executor's
   * runs not started yet, and the runs of claims whose answer never arrived.
   * Called at shutdown after the loop stopped (twice: before the grace period
   * and after it, for a COMMIT that landed late). Retries under the guard:
   * the caller bounds it.
   */
  readonly handBack: Effect.Effect<void, unknown>
}

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

/**
 * The dispatcher loop.
 *
 * @since 0.2.0
 */
export const make = (options: Options): Dispatcher => {
  const { clock, executor, guard, store, supervisor, wakeups } = options
  const name = "dispatcher"
  const claims = Claims.make(options)
  const notifications = store.notifications
  const pollInterval: Effect.Effect<number> = notifications === undefined
    ? Effect.succeed(options.pollMs)
    : Effect.map(notifications, (status) =>
      status === "unavailable" ? Math.min(options.pollMs, options.fallbackPollMs) : options.pollMs)
  const passed = Effect.andThen(supervisor.progress(name), options.dispatched)
  // How long a claimed run may wait in the queue, and the widest claim-ahead window.
  const windowMs = Math.min(1_000, Math.max(50, Math.floor(options.leaseMs / 10)))

  const body = Effect.gen(function*() {
    if (!Deferred.isDoneUnsafe(options.registered)) {
      yield* supervisor.idle(name)
      yield* Deferred.await(options.registered)
      yield* supervisor.progress(name)
    }
    yield* clock.now
    let mustClaim = true
    // The last claim came back full: more is due than this node had room for.
    let backlog = false
    // Claiming fires once due (no claim-ahead window), claims start small and
    // double while they come back full: many fires due at one instant are
    // shared by the nodes claiming them at once (the first to claim would
    // otherwise take them all, and start them one after the other), while a
    // drain reaches whole batches within a few claims. Claiming ahead, each
    // node claims its share of an instant's fires (`ClaimRequest.share`) in
    // one claim, and the nodes do not compete for them.
    const firstClaim = Math.max(1, Math.ceil(options.batchSize / 8))
    let ramp = firstClaim
    while (true) {
      yield* Queue.clear(wakeups)
      yield* claims.adopt
      const load = yield* executor.load
      const sizing = ClaimSizing.size({ ...load, slots: options.maxInFlight, batchSize: options.batchSize, windowMs })
      const aheadMs = options.claimAhead === "auto" ? ClaimSizing.aheadMs(yield* claims.claimMs, windowMs) : options.claimAhead
      const share = aheadMs > 0 ? options.share : undefined
      const limit = share === undefined ? Math.min(sizing.limit, ramp) : sizing.limit
      let claimed = 0
      if (limit > 0 && mustClaim) {
        const failedBefore = yield* claims.failures
        const result = yield* claims.claim(limit, aheadMs, share)
        yield* Effect.forEach(result.settled, (record) => options.publish(settledEvent(record)), { discard: true })
        // A job the store could not claim and paused: an operator must look at it.
        yield* Effect.forEach(result.setAside ?? [], (aside) =>
          Effect.andThen(
            Effect.logWarning(`job ${aside.jobId} set aside and paused (${aside.reason}): ${aside.detail}`),
            options.publish(Event.JobSetAside(aside))
          ), { discard: true })
        claimed = result.runs.length + result.settled.length
        backlog = claimed >= limit
        ramp = backlog ? Math.min(options.batchSize, 2 * ramp) : firstClaim
        // A failed attempt may have taken runs: look for them now, not after a sleep.
        if ((yield* claims.failures) > failedBefore) continue
        if (backlog) {
          // A full batch: more may be due right now.
          yield* passed
          yield* Effect.yieldNow
          continue
        }
      }
      // The queue is full: a run starting (the queue running down) or ending wakes us.
      if (sizing.wakeAt >= 0) yield* executor.wakeBelow(sizing.wakeAt)
      yield* passed
      const pollMs = yield* pollInterval
      let sleep: Effect.Effect<void, unknown> = Effect.sleep(pollMs)
      let dueWhenWoken = false
      if (limit > 0) {
        const next = yield* guard("nextWake", store.nextWake(options.tasks, aheadMs, share))
        if (Option.isSome(next)) {
          const now = yield* clock.now
          if (next.value <= now) {
            if (!mustClaim || claimed > 0) {
              // Due (and not claimed yet, or more may be): claim now.
              mustClaim = true
              continue
            }
            // Due, yet the claim found nothing: another process holds the job
            // right now, or this clock estimate runs ahead of the store's
            // (measure it again within a second). Poll briefly.
            yield* clock.suspect(1_000)
            sleep = Effect.sleep(50)
            dueWhenWoken = true
          } else if (next.value - now < pollMs) {
            sleep = clock.sleepUntil(next.value)
            dueWhenWoken = true
          }
        }
      }
      // While an unanswered claim's COMMIT may still land, look again soon.
      const recheck = (yield* claims.unanswered) ? Effect.as(Effect.sleep(Claims.recheckMs), true) : Effect.never
      const woken = yield* Effect.raceAllFirst([Effect.as(sleep, false), Effect.as(Queue.take(wakeups), true), recheck])
      // Woken with a backlog (the queue ran down, a slot freed up): claim at once.
      mustClaim = woken ? backlog : dueWhenWoken
    }
  })
  return { name, stallAfterMs: options.stallAfterMs, body, handBack: claims.handBack }
}
