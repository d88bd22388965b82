/**
 * Waiting for an instant of the store's clock, to within a fraction of a
 * millisecond: how the executor starts runs claimed ahead at their due
 * instant.
 *
 * Timers count whole milliseconds and fire up to one or two late (or a
 * fraction early): a wait of more than `spinAfterMs` sleeps until a
 * millisecond before the instant, then yields to other fibers until it
 * passes (about half a millisecond of CPU per instant), so runs claimed
 * ahead start within a fraction of a millisecond of it. Instants closer
 * together than that are slept to, and checked. The spin takes at most
 * `spinMaxMs` of the process's own time: a clock that stands still, as a
 * test's does, is then slept on.
 *
 * @since 0.5.0
 */
import * as Effect from "effect/Effect"

const spinAfterMs = 5
const spinMaxMs = 3

/**
 * A wait until `instant` by `now` (the store's clock as this process
 * estimates it; never ahead of it, so the wait never ends early).
 *
 * @since 0.5.0
 */
export const make = (now: Effect.Effect<number>) => {
  const sleepUntil = (instant: number): Effect.Effect<void> =>
    Effect.flatMap(now, (current) => {
      const wait = instant - current
      if (wait <= 0) return Effect.void
      if (wait > spinAfterMs) return Effect.andThen(Effect.sleep(Math.floor(wait - 1)), spinUntil(instant))
      return Effect.andThen(Effect.sleep(Math.ceil(wait)), sleepUntil(instant))
    })
  const spinUntil = (instant: number, until = performance.now() + spinMaxMs): Effect.Effect<void> =>
    Effect.flatMap(now, (current) => {
      if (current >= instant) return Effect.void
      if (performance.now() > until) return sleepUntil(instant)
      return Effect.andThen(Effect.yieldNow, spinUntil(instant, until))
    })
  return sleepUntil
}
