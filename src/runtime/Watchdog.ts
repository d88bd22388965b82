/**
 * The watchdog: restarts every supervised loop that went past its own
 * `stallAfter` without progress (see `Supervisor.checkStalls`), waking at the
 * first instant one can (a loop is flagged 1 ms past its bound, and an idle
 * scheduler wakes it about once a `stallAfter`, not once a second). It is
 * what turns "the loop is stuck" — a call with no deadline, a handler that
 * ignores interruption, a bug — from a silent stop into an event, a log line,
 * a `stalled` state in health, and a restart. It keeps no state of its own
 * and is not watched itself: it only sleeps and reads memory.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type * as Supervisor from "../Supervisor.ts"
import type { Loop } from "./Loop.ts"

/**
 * The watchdog loop.
 *
 * @since 0.2.0
 */
export const make = (options: { readonly supervisor: Supervisor.Supervisor }): Loop => {
  const { supervisor } = options
  return {
    name: "watchdog",
    stallAfterMs: null,
    body: Effect.forever(Effect.flatMap(
      supervisor.checkStalls,
      // A loop supervised meanwhile may have a shorter bound: check again then.
      (nextMs) => Effect.raceFirst(Effect.sleep(nextMs), supervisor.watchedChanged)
    ))
  }
}
