/**
 * The registrar: upserts the jobs this process declares in code, once per
 * start, retried until the store answers. Every process of a service runs it
 * with the same declarations: the store makes it idempotent (no unique-key
 * crash), and a newer `version` replaces what an older one stored. When it is
 * done it completes `registered` (the dispatcher waits for it) and idles:
 * there is nothing more for it to do, and the watchdog stops watching it.
 *
 * @since 0.2.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { Event } from "../Event.ts"
import type * as Job from "../Job.ts"
import type { JobStore } from "../JobStore.ts"
import type * as Supervisor from "../Supervisor.ts"
import type { Loop } from "./Loop.ts"
import type { StoreGuard } from "./StoreGuard.ts"

/**
 * What the registrar needs.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly store: JobStore["Service"]
  readonly guard: StoreGuard
  readonly supervisor: Supervisor.Supervisor
  readonly publish: (event: Event) => Effect.Effect<void>
  readonly declared: ReadonlyArray<Job.Job>
  readonly version: number
  readonly orphans: "keep" | "pause" | "remove"
  /** Completed once the declarations are stored. */
  readonly registered: Deferred.Deferred<void>
  /** How long one registration may take, retries included, before the watchdog restarts it. */
  readonly stallAfterMs: number
}

/**
 * The registrar loop.
 *
 * @since 0.2.0
 */
export const make = (options: Options): Loop => {
  const { guard, store, supervisor, registered, publish, version, orphans } = options
  // Held until they are stored, then let go: an idle scheduler keeps no
  // reference to 100,000 declarations (the loop's closure does not hold
  // `options` either).
  let declared: ReadonlyArray<Job.Job> = options.declared
  const name = "registrar"
  const body = Effect.gen(function*() {
    if (!Deferred.isDoneUnsafe(registered)) {
      const report = yield* guard("register", store.register(declared, { version, orphans }))
      const registration: Supervisor.Registration = {
        inserted: report.inserted.length,
        updated: report.updated.length,
        unchanged: report.unchanged.length,
        superseded: report.superseded.length,
        orphaned: report.orphaned.length,
        at: yield* guard("now", store.now)
      }
      declared = []
      yield* supervisor.registered(registration)
      yield* publish(Event.JobsRegistered(registration))
      yield* supervisor.progress(name)
      yield* Deferred.succeed(registered, undefined)
    }
    yield* supervisor.idle(name)
    return yield* Effect.never
  })
  return { name, stallAfterMs: options.stallAfterMs, body }
}
