/**
 * The lease keeper: every heartbeat, renews the leases of the runs this node
 * holds (running, or waiting for their outcome to be written), and revokes
 * the ones the store says this node lost (another node took them over): their
 * handlers are interrupted and their outcomes never written. Revoking never
 * waits for a handler to end, so one handler that ignores interruption cannot
 * delay the renewal of the node's other leases. Leases are revoked as they
 * were sent (run and token): a run this node claimed anew meanwhile keeps its
 * new attempt.
 *
 * @since 0.2.0
 */
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
  readonly executor: Pick<Executor, "leases" | "revoke">
  readonly heartbeatMs: number
  readonly leaseMs: number
}

/**
 * The lease keeper loop. Watched: past a lease without renewing, the node's
 * leases are lost anyway, so a keeper that long without progress is restarted.
 *
 * @since 0.2.0
 */
export const make = (options: Options): Loop => {
  const { executor, guard, store, supervisor } = options
  const name = "lease-keeper"
  const body = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(options.heartbeatMs)
      const leases = yield* executor.leases
      if (leases.length > 0) {
        const lost = new Set(yield* guard("renew", store.renew(options.node, leases, options.leaseMs)))
        // By the lease sent: a run claimed anew by this node while the renewal
        // was on its way (another token) keeps its new attempt.
        if (lost.size > 0) yield* executor.revoke(leases.filter((lease) => lost.has(lease.id)))
      }
      yield* supervisor.progress(name)
    }
  })
  return { name, stallAfterMs: options.leaseMs + options.heartbeatMs, body }
}
