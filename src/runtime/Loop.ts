/**
 * The one shape of every background loop of the runtime: a name, how long it
 * may go without progress before the watchdog restarts it, and a body that
 * runs until it fails. The body reports progress (and `idle` while it waits
 * for input by design) through the supervisor; it never catches its own
 * failures: its supervisor records them and restarts it.
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as Supervisor from "../Supervisor.ts"

/**
 * A background loop.
 *
 * @since 0.2.0
 */
export interface Loop<R = never> {
  readonly name: string
  /** The watchdog's bound on time without progress (ms), or `null` when the loop is not watched. */
  readonly stallAfterMs: number | null
  readonly body: Effect.Effect<void, unknown, R>
}

/**
 * Runs a loop under its supervisor, forever (until the fiber is interrupted).
 *
 *
 * @since 0.2.0
 */
export const supervise = <R>(supervisor: Supervisor.Supervisor, loop: Loop<R>): Effect.Effect<never, never, R> =>
  supervisor.supervise(loop.name, loop.body, loop.stallAfterMs === null ? {} : { stallAfter: loop.stallAfterMs })
