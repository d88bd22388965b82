/**
 * The reaper: every `reapMs`, takes over the runs whose node stopped renewing
 * their lease (it died, or was paused past the lease). Each job's `onLost`
 * policy says whether such a run is recorded `lost` or retried; a retried run
 * wakes the dispatcher. A run an operator asked to cancel (`JobStore.cancel`)
 * whose node died before it learned of it is recorded `cancelled` instead
 * (event `RunCancelled`). Any node may reap: the store decides by its clock and
 * row locks, so two reapers never take the same run.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import { Event } from "../Event.ts"
import type { JobStore } from "../JobStore.ts"
import type * as Supervisor from "../Supervisor.ts"
import * as LeaseKeeper from "./LeaseKeeper.ts"
import type { Loop } from "./Loop.ts"
import type { StoreGuard } from "./StoreGuard.ts"
import * as Telemetry from "./Telemetry.ts"

/**
 * What the reaper needs.
 *
 * @since 0.2.0
 */
export interface Options {
  /** This node's lease renewal (see `LeaseKeeper.Renewal`), and how old a renewal may be before reaping. */
  readonly renewal: LeaseKeeper.Renewal
  readonly heartbeatMs: number
  readonly store: JobStore["Service"]
  readonly guard: StoreGuard
  readonly supervisor: Supervisor.Supervisor
  readonly publish: (event: Event) => Effect.Effect<void>
  /** Wakes the dispatcher: a reaped run to retry is due now. */
  readonly wake: Effect.Effect<void>
  readonly reapMs: number
  readonly stallAfterMs: number
}

/**
 * The reaper loop.
 *
 * @since 0.2.0
 */
export const make = (options: Options): Loop => {
  const { guard, store, supervisor } = options
  const name = "reaper"
  const body = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(options.reapMs)
      // This node's own runs first: alive, it must not reap what it holds
      // because an outage kept its renewals from landing. Checked again on
      // every retry of the reap: a reap sent before an outage and retried
      // through it must not land ahead of the renewal after it.
      const reaped = yield* guard("reap", Effect.andThen(options.renewal.renewIfStale(options.heartbeatMs), store.reap))
      yield* Telemetry.reaped(reaped)
      for (const record of reaped) {
        if (record.state === "cancelled") {
          yield* options.publish(Event.RunCancelled({
            jobId: record.jobId,
            fireTime: record.fireTime,
            runId: record.id,
            attempt: record.attempt,
            at: record.endedAt ?? (yield* guard("now", store.now))
          }))
          continue
        }
        yield* options.publish(Event.RunLost({
          jobId: record.jobId,
          fireTime: record.fireTime,
          retried: record.state === "pending",
          note: record.note,
          at: record.endedAt ?? (yield* guard("now", store.now))
        }))
      }
      if (reaped.some((record) => record.state === "pending")) yield* options.wake
      yield* supervisor.progress(name)
    }
  })
  return { name, stallAfterMs: options.reapMs + options.stallAfterMs, body }
}
