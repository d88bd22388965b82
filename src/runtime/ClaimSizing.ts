/**
 * How much the dispatcher claims, and how early.
 *
 * Claims are apart from handler slots: the dispatcher keeps a local queue of
 * claimed runs, so that a slot that frees up starts the next run at once
 * instead of after a claim round trip, and a claim carries a whole batch
 * however few slots there are. The queue is bounded by what the slots can
 * start within `windowMs` (from the mean time a run holds its slot), so a
 * claimed run never waits long for a slot while another node could have run
 * it: never more than `2 × batchSize`, never less than the free slots.
 * Before any run ended here, nothing is known of the handlers: the claim
 * takes only what the free slots can start now.
 *
 * A claim is worth its round trip when it can take a good part of a batch:
 * with runs still queued, the dispatcher waits until half a batch fits.
 *
 * Early claiming: a job's next fire is claimed `aheadMs` before it is due
 * (when the job has no run in progress), so its handler starts at its
 * instant, not a claim round trip after it. Sized from the claims' own round
 * trips: four times the slowest recent one, rounded up to a step of 50 ms
 * doubled (so that nodes whose claims take about as long pick the same
 * window and wake together), at most `windowMs`.
 *
 * @since 0.3.0
 */

/**
 * What a claim's size depends on.
 *
 * @since 0.3.0
 */
export interface Input {
  /** `maxInFlight`: handlers at once. */
  readonly slots: number
  readonly batchSize: number
  /** Handlers running now. */
  readonly running: number
  /** Claimed runs waiting for a slot or their instant. */
  readonly waiting: number
  /** Mean time a run holds its slot, ms; `undefined` before any ended. */
  readonly meanRunMs: number | undefined
  /** How long a claimed run may wait for a slot, at most, in the normal course. */
  readonly windowMs: number
}

/**
 * The claim to make now.
 *
 * @since 0.3.0
 */
export interface Sizing {
  /** Runs to claim now; 0: do not claim. */
  readonly limit: number
  /**
   * Wake the dispatcher when the queue has this many runs or fewer (a claim
   * worth its trip fits then); -1: a slot freeing up wakes it.
   */
  readonly wakeAt: number
}

/**
 * Most runs that may wait in the local queue.
 *
 * @since 0.3.0
 */
export const queueBound = (input: Input): number => {
  const free = Math.max(0, input.slots - input.running)
  if (input.meanRunMs === undefined) return free
  // A run of 0 ms (faster than the clock counts) still costs something: 0.05 ms.
  const startable = Math.floor((input.slots * input.windowMs) / Math.max(input.meanRunMs, 0.05))
  return Math.max(free, Math.min(2 * input.batchSize, startable))
}

/**
 * How many runs to claim now, and when to look again if none.
 *
 * @since 0.3.0
 */
export const size = (input: Input): Sizing => {
  const bound = queueBound(input)
  const room = Math.max(0, bound - input.waiting)
  const worth = Math.max(1, Math.ceil(Math.min(input.batchSize, bound) / 2))
  const limit = Math.min(input.batchSize, room)
  if (limit > 0 && (input.waiting === 0 || limit >= worth)) return { limit, wakeAt: -1 }
  // No room for a claim worth its trip: once the queue runs down to where
  // one fits; with the queue that low already, the slots are what is
  // missing, and a run's end wakes the dispatcher.
  const level = bound - worth
  return { limit: 0, wakeAt: level >= 0 && input.waiting > level ? level : -1 }
}

/**
 * The claim-ahead window, ms, from the recent claim round trips (a decaying
 * peak; none measured yet: the floor).
 *
 * @since 0.3.0
 */
export const aheadMs = (claimMs: number | undefined, windowMs: number): number => {
  const wanted = 4 * (claimMs ?? 0)
  // In steps (50, 100, 200, ... ms): nodes whose claims take about as long
  // pick the same window, wake together, and share the fires due then.
  let step = 50
  while (step < wanted && step < windowMs) step *= 2
  return Math.min(windowMs, step)
}
