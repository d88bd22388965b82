/**
 * The listener: turns the store's change feed into wake-ups of the
 * dispatcher, so a change made by another process (a job added, triggered,
 * a slot freed) is acted on at once instead of at the next poll.
 *
 * The feed drops with its connection (a restart of the database, a killed or
 * silent connection: the PostgreSQL store probes its own notifications to
 * notice the silent kind). That is the store being unavailable, not the loop
 * failing: the drop is reported as `store-unavailable`, the feed is
 * subscribed again under `reconnect` (a capped backoff that starts afresh
 * after every successful subscription, so routine reconnects hours apart each
 * cost a short pause), and the first change of the new subscription reports
 * the store recovered. Only a fatal error fails the loop. Between changes the
 * listener is idle by design; the watchdog does not watch it.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { JobStore } from "../JobStore.ts"
import { StoreError } from "../StoreError.ts"
import type * as Supervisor from "../Supervisor.ts"
import type { Loop } from "./Loop.ts"

/**
 * What the listener needs.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly store: JobStore["Service"]
  readonly supervisor: Supervisor.Supervisor
  /** Wakes the dispatcher. */
  readonly wake: Effect.Effect<void>
  /** The delays between subscriptions after a drop; restarted after each successful one. */
  readonly reconnect: Schedule.Schedule<unknown, unknown>
}

/**
 * The listener loop.
 *
 * @since 0.2.0
 */
export const make = (options: Options): Loop => {
  const { store, supervisor } = options
  const name = "listener"

  // One subscription: its exit, and whether it was ever confirmed.
  const subscription = Effect.gen(function*() {
    let confirmed = false
    const exit = yield* Effect.exit(Stream.runForEach(store.changes, () =>
      Effect.gen(function*() {
        if (!confirmed) {
          confirmed = true
          yield* supervisor.storeSucceeded
        }
        yield* options.wake
        yield* supervisor.progress(name)
        yield* supervisor.idle(name)
      })))
    return { exit, confirmed }
  })

  const body = Effect.gen(function*() {
    let step = yield* Schedule.toStepWithMetadata(options.reconnect)
    while (true) {
      yield* supervisor.idle(name)
      const { confirmed, exit } = yield* subscription
      if (Exit.isFailure(exit)) {
        const error = Cause.findErrorOption(exit.cause)
        const retryable = error._tag === "Some" && error.value instanceof StoreError && error.value.retryable
        if (!retryable) return yield* exit
        yield* supervisor.storeFailed("changes", error.value)
      }
      if (confirmed) step = yield* Schedule.toStepWithMetadata(options.reconnect)
      // A schedule that ends would leave the feed unsubscribed: start it over.
      yield* step(undefined).pipe(
        Effect.catchCause(() =>
          Effect.flatMap(Schedule.toStepWithMetadata(options.reconnect), (fresh) => {
            step = fresh
            return Effect.asVoid(Effect.exit(fresh(undefined)))
          })
        )
      )
    }
  })
  return { name, stallAfterMs: null, body }
}
