/**
 * The lease keeper: every heartbeat, renews the leases of the runs this node
 * holds (running, or waiting for their outcome to be written), and revokes
 * the ones the store says this node lost (another node took them over): their
 * handlers are interrupted and their outcomes never written. Revoking never
 * waits for a handler to end, so one handler that ignores interruption cannot
 * delay the renewal of the node's other leases. Leases are revoked as they
 * were sent (run and token): a run this node claimed anew meanwhile keeps its
 * new attempt. A renewal also reports the runs an operator asked to cancel
 * (`JobStore.cancel`): their handlers are interrupted and they are recorded
 * `cancelled` (see `Executor.cancel`). So a node learns of a cancel request
 * at its next renewal even where notifications do not arrive (PgBouncer);
 * `cancelRequests` makes it renew at once where they do (see `CancelWatch`).
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Executor } from "../Executor.ts"
import type { JobStore } from "../JobStore.ts"
import type * as Supervisor from "../Supervisor.ts"
import type { Loop } from "./Loop.ts"
import type { StoreGuard } from "./StoreGuard.ts"

/**
 * What the lease keeper needs.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly node: string
  readonly store: JobStore["Service"]
  readonly guard: StoreGuard
  readonly supervisor: Supervisor.Supervisor
  readonly executor: Pick<Executor, "leases" | "revoke" | "cancel">
  readonly heartbeatMs: number
  readonly leaseMs: number
}

/**
 * The lease keeper loop. Watched: past a lease without renewing, the node's
 * leases are lost anyway, so a keeper that long without progress is restarted.
 *
 * @since 0.2.0
 */
export const make = (options: Options & { readonly renewal: Renewal }): Loop => {
  const { supervisor } = options
  const name = "lease-keeper"
  const body = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(options.heartbeatMs)
      yield* options.renewal.renew
      yield* supervisor.progress(name)
    }
  })
  return { name, stallAfterMs: options.leaseMs + options.heartbeatMs, body }
}

/**
 * Renewing every lease this node holds, once, revoking the ones the store
 * says it lost: `renew` (the lease keeper, every heartbeat) and
 * `renewIfStale` (the reaper, right before it reaps: when no renewal
 * succeeded for longer than `staleMs`, as after an outage longer than a
 * lease, this node's own runs, their outcomes waiting to be written, are
 * renewed before its reaper could take them for lost and run them again).
 *
 * @since 0.3.0
 */
export interface Renewal {
  readonly renew: Effect.Effect<void, unknown>
  readonly renewIfStale: (staleMs: number) => Effect.Effect<void, unknown>
}

/**
 * A renewal shared by the lease keeper and the reaper of one scheduler.
 *
 * @since 0.3.0
 */
export const renewal = (
  options: Pick<Options, "node" | "store" | "guard" | "executor" | "leaseMs"> & {
    /** How long a cancelled run's handler may take to end before it is recorded anyway (see `Executor.cancel`). */
    readonly cancelGraceMs?: number | undefined
  }
): Effect.Effect<Renewal> =>
  Effect.map(Clock.currentTimeMillis, (start) => {
    let renewedAt = start
    const renew = Effect.gen(function*() {
      const leases = yield* options.executor.leases
      if (leases.length > 0) {
        const renewed = yield* options.guard("renew", options.store.renew(options.node, leases, options.leaseMs))
        const lost = new Set(renewed.lost)
        // By the lease sent: a run claimed anew by this node while the renewal
        // was on its way (another token) keeps its new attempt.
        if (lost.size > 0) yield* options.executor.revoke(leases.filter((lease) => lost.has(lease.id)))
        const cancel = new Set(renewed.cancel)
        if (cancel.size > 0) yield* options.executor.cancel(leases.filter((lease) => cancel.has(lease.id)), options.cancelGraceMs)
      }
      renewedAt = yield* Clock.currentTimeMillis
    })
    const renewIfStale = (staleMs: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => now - renewedAt > staleMs ? renew : Effect.void)
    return { renew, renewIfStale }
  })
