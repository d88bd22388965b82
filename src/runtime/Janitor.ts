/**
 * The janitor: every `janitorMs`, prunes run records beyond the retention
 * policy (older than `maxAgeMs` by the store's clock, or beyond `maxPerJob`
 * records of a job), so history does not grow forever.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type { JobStore, Retention } from "../JobStore.ts"
import type * as Supervisor from "../Supervisor.ts"
import type { Loop } from "./Loop.ts"
import type { StoreGuard } from "./StoreGuard.ts"

/**
 * What the janitor needs.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly store: JobStore["Service"]
  readonly guard: StoreGuard
  readonly supervisor: Supervisor.Supervisor
  readonly retention: Retention
  readonly janitorMs: number
  readonly stallAfterMs: number
}

/**
 * The janitor loop.
 *
 * @since 0.2.0
 */
export const make = (options: Options): Loop => {
  const { guard, store, supervisor } = options
  const name = "janitor"
  const body = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(options.janitorMs)
      const pruned = yield* guard("prune", store.prune(options.retention))
      if (pruned > 0) yield* Effect.logDebug(`pruned ${pruned} run records`)
      yield* supervisor.progress(name)
    }
  })
  return { name, stallAfterMs: options.janitorMs + options.stallAfterMs, body }
}
