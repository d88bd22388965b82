/**
 * `changes`: the store's LISTEN, checked by a probe.
 *
 * A notification that does not arrive says nothing, so the store checks:
 * once LISTEN is confirmed, and then every `probeIntervalMs`, it sends a
 * notification of its own (`NOTIFY` on a pooled connection) and waits for it
 * to come back on the listening one.
 *
 * - It came back: notifications are `"working"`.
 * - The first probe of a subscription did not come back within
 *   `probeTimeoutMs`: notifications do not reach this process at all (PgBouncer
 *   in transaction mode drops them). They are `"unavailable"`: said once in
 *   the log, readable as the store's `notifications` status (a scheduler then
 *   polls more often), and the stream stays open and keeps probing.
 * - A later probe did not come back: the listening connection has gone silent
 *   (a dead link sends no RST). The stream fails with a retryable
 *   `StoreError` (reason `"Deadline"`), and a new subscription listens on a
 *   new connection.
 *
 * The listening connection is a connection of its own (`PgConnection.make`
 * with the client's configuration), not one of the pool: closing it is
 * immediate, and it is closed before the listener is released, so ending a
 * subscription never sends `UNLISTEN` into a silent connection and never
 * waits for it.
 *
 * Probes carry a payload of their own and are never emitted as changes.
 *
 * Behind a transaction pooler (`pooler: "transaction"`) the store does not
 * LISTEN at all: LISTEN is session state, which would stay on whichever
 * server connection the pooler lent, and PgBouncer drops what it receives.
 * Notifications are `"unavailable"` from the first subscription on.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { PgConnection, type PgClient } from "@effect/sql-pg"
import type { NotificationStatus } from "../../JobStore.ts"
import { StoreError } from "../../StoreError.ts"
import { classify } from "../../StoreRetry.ts"
import * as Deadline from "./deadline.ts"

const probePrefix = "steadfast-probe:"
// Sent by `cancel` (see browse.ts) for a running run.
const cancelPrefix = "cancel:"

/** @internal */
export interface Options {
  readonly channel: string
  /** How long a probe may take to come back. */
  readonly probeTimeoutMs: number
  /** How often a subscription probes again. */
  readonly probeIntervalMs: number
  /** Deadline of connecting and confirming LISTEN. */
  readonly listenMs: number
  /** Sends a notification on the channel, through the pool (with its deadline). */
  readonly notify: (payload: string) => Effect.Effect<void, StoreError>
  /** Behind a transaction pooler: no LISTEN (see the module header). */
  readonly pooled: boolean
  /** Hears a cancel request (`cancel:<run id>`, see `JobStore.cancelRequests`); not a change. */
  readonly cancelled: (id: string) => Effect.Effect<void>
}

/** @internal */
export interface Listener {
  readonly changes: Stream.Stream<void, StoreError>
  readonly status: Effect.Effect<NotificationStatus>
}

/** @internal */
export const make = (sql: PgClient.PgClient, options: Options): Listener => {
  let status: NotificationStatus = "unknown"
  const setStatus = (next: NotificationStatus) =>
    Effect.suspend(() => {
      const previous = status
      status = next
      if (next === "unavailable" && previous !== "unavailable") {
        return Effect.logWarning(
          options.pooled
            ? `steadfast: behind a transaction pooler the store does not LISTEN on ${options.channel}; ` +
              "wake-ups from other processes wait for the poll"
            : `steadfast: a notification sent on ${options.channel} did not arrive within ${options.probeTimeoutMs} ms ` +
              "(a transaction pooler drops them); wake-ups from other processes wait for the poll"
        )
      }
      if (next === "working" && previous === "unavailable") {
        return Effect.logInfo(`steadfast: notifications on ${options.channel} arrive again`)
      }
      return Effect.void
    })

  const subscribe = Effect.gen(function*() {
    // The connection is closed before the listener's scope: see the module header.
    const connectionScope = yield* Scope.make()
    const listenScope = yield* Scope.make()
    yield* Effect.addFinalizer(() =>
      Effect.andThen(Scope.close(connectionScope, Exit.void), Scope.close(listenScope, Exit.void))
    )
    const notifications = yield* Deadline.within("listen", options.listenMs)(Effect.gen(function*() {
      const connection = yield* Scope.provide(PgConnection.make(sql.config), connectionScope)
      return yield* Scope.provide(connection.listen(options.channel), listenScope)
    })).pipe(Effect.mapError((error) => classify("changes", error)))

    const out = yield* Queue.unbounded<void, StoreError>()
    let waiting: { readonly token: string; readonly heard: Deferred.Deferred<void> } | undefined
    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(Queue.take(notifications), (notification) => {
        if (notification.payload.startsWith(cancelPrefix)) {
          return options.cancelled(notification.payload.slice(cancelPrefix.length))
        }
        if (!notification.payload.startsWith(probePrefix)) return Queue.offer(out, undefined)
        if (waiting !== undefined && notification.payload === waiting.token) return Deferred.succeed(waiting.heard, undefined)
        return Effect.void
      })).pipe(Effect.catch((error) => Queue.fail(out, classify("changes", error))))
    )

    const probe = Effect.gen(function*() {
      const token = `${probePrefix}${Date.now().toString(36)}:${Math.random().toString(36).slice(2)}`
      const heard = yield* Deferred.make<void>()
      waiting = { token, heard }
      // A probe that could not be sent says nothing about notifications.
      if (Exit.isFailure(yield* Effect.exit(options.notify(token)))) return "unsent" as const
      const back = yield* Effect.timeoutOption(Deferred.await(heard), options.probeTimeoutMs)
      return Option.isSome(back) ? "heard" as const : "lost" as const
    })
    // A probe lost after one came back: the listening connection is silent,
    // and the subscription ends so that a new one listens on a new connection.
    let heardBefore = false
    const check = Effect.gen(function*() {
      const result = yield* probe
      if (result === "heard") {
        heardBefore = true
        return yield* setStatus("working")
      }
      if (result !== "lost") return
      if (!heardBefore) return yield* setStatus("unavailable")
      return yield* new StoreError({
        operation: "changes",
        reason: "Deadline",
        retryable: true,
        cause: new Error(
          `a notification sent on ${options.channel} did not come back within ${options.probeTimeoutMs} ms: ` +
            "the listening connection is silent"
        )
      })
    })
    yield* Effect.forkScoped(
      Effect.repeat(check, Schedule.spaced(options.probeIntervalMs)).pipe(
        Effect.catch((error) => Queue.fail(out, error))
      )
    )
    // Whatever was notified while this process was not listening (start-up,
    // a connection being replaced) is looked at: one change at once.
    return Stream.concat(Stream.make(undefined), Stream.fromQueue(out))
  })

  // One change at once, as a subscription does; then only the poll.
  const withoutListen = Stream.concat(
    Stream.make(undefined),
    Stream.unwrap(Effect.as(setStatus("unavailable"), Stream.never))
  )

  return {
    changes: options.pooled ? withoutListen : Stream.unwrap(subscribe),
    status: Effect.sync(() => status)
  }
}
