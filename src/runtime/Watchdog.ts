/**
 * The watchdog: once a `checkEvery`, restarts every supervised loop that went
 * past its own `stallAfter` without progress (see `Supervisor.checkStalls`).
 * It is what turns "the loop is stuck" — a call with no deadline, a handler
 * that ignores interruption, a bug — from a silent stop into an event, a log
 * line, a `stalled` state in health, and a restart. It keeps no state of its
 * own and is not watched itself: it only sleeps and reads memory.
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
export const make = (options: {
  readonly supervisor: Supervisor.Supervisor
  readonly checkEveryMs: number
}): Loop => ({
  name: "watchdog",
  stallAfterMs: null,
  body: Effect.forever(Effect.andThen(Effect.sleep(options.checkEveryMs), options.supervisor.checkStalls))
})
