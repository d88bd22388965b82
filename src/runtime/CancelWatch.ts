/**
 * The cancel watch: hears the store's cancel requests (`JobStore.cancelRequests`,
 * sent when an operator cancels a running run) and, when this node holds the
 * run, renews its leases at once: the renewal reports the request and the
 * run is interrupted and recorded `cancelled` (see `LeaseKeeper.Renewal`),
 * within a round trip instead of at the next lease heartbeat. Best effort:
 * the feed may drop (it is subscribed again) or deliver nothing at all
 * (behind PgBouncer), and the lease keeper's renewals report the request anyway.
 *
 * @since 0.4.0
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { Executor } from "../Executor.ts"
import type { JobStore } from "../JobStore.ts"
import type * as Supervisor from "../Supervisor.ts"
import type * as LeaseKeeper from "./LeaseKeeper.ts"
import type { Loop } from "./Loop.ts"

/**
 * What the cancel watch needs.
 *
 * @since 0.4.0
 */
export interface Options {
  readonly store: JobStore["Service"]
  readonly supervisor: Supervisor.Supervisor
  readonly executor: Pick<Executor, "holding">
  readonly renewal: LeaseKeeper.Renewal
  /** The delays between subscriptions after the feed drops. */
  readonly reconnect: Schedule.Schedule<unknown, unknown>
}

/**
 * The cancel watch loop. Not watched (it waits for requests by design); a
 * feed that fails is subscribed again after `reconnect`'s delay.
 *
 * @since 0.4.0
 */
export const make = (options: Options): Loop => {
  const { executor, renewal, store, supervisor } = options
  const name = "cancel-watch"
  const requests = store.cancelRequests
  // The requests that came together (a bulk cancel) cost one renewal, not
  // one each: a renewal writes every lease the node holds.
  const heard = (ids: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      if ((yield* executor.holding(ids)).size > 0) yield* renewal.renew
      yield* supervisor.progress(name)
      yield* supervisor.idle(name)
    })
  const body = Effect.gen(function*() {
    yield* supervisor.idle(name)
    if (requests === undefined) return yield* Effect.never
    // A renewal that fails is the lease keeper's to retry: the watch goes on.
    yield* Stream.runForEachArray(requests, (ids) => Effect.catchCause(heard(ids), () => Effect.void)).pipe(
      Effect.retry(options.reconnect),
      Effect.forever
    )
  })
  return { name, stallAfterMs: null, body }
}
