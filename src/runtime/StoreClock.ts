/**
 * The store's clock as this process estimates it.
 *
 * The database decides what is due; this estimate only times the
 * dispatcher's sleeps and the start of runs claimed ahead, without a round
 * trip each time. It is the monotonic clock plus an offset measured with a
 * `now` round trip (against its midpoint). Intervals come from the monotonic
 * clock, so a wall-clock step (NTP, a VM resume, a hand-set clock) cannot
 * stretch a sleep by the size of the step; the wall clock only tells when to
 * measure again: when wall and monotonic time disagree with what they said at
 * the last measurement (a step in either direction, or a suspended host whose
 * monotonic clock stood still), the next read re-measures at once. Otherwise
 * the offset is re-measured once `resyncAfter` of monotonic time has passed,
 * or sooner (1 s, 2 s, 4 s and so on) while measurements come back wider than
 * 2 ms, each narrowing the bounds the earlier ones set.
 *
 * The store reports whole milliseconds, so the estimate runs behind rather
 * than ahead: late by a fraction of a millisecond, never early.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * The estimate of one scheduler instance.
 *
 * @since 0.2.0
 */
export interface StoreClock {
  /** The store's time (epoch ms), measuring the offset first when it is stale or the wall clock stepped. */
  readonly now: Effect.Effect<number, unknown>
  /** The store's time as last measured: never a round trip (before any measurement: the local clock). */
  readonly estimate: Effect.Effect<number>
  /**
   * The least the store's time can be, as last measured: the estimate less
   * half the measuring round trip (how far the estimate can be ahead). What
   * must never happen before an instant (a run claimed ahead starting) waits
   * for this to reach it.
   */
  readonly atLeast: Effect.Effect<number>
  /** Measures the offset again within `withinMs` (e.g. when the store found nothing due that the estimate said was). */
  readonly suspect: (withinMs: number) => Effect.Effect<void>
  /** Sleeps until the store's clock reaches `instant` (epoch ms), by the estimate. */
  readonly sleepUntil: (instant: number) => Effect.Effect<void, unknown>
  /** When the offset was last measured (monotonic ms), `null` before the first measurement. */
  readonly measuredAt: Effect.Effect<number | null>
}

/**
 * How the estimate is kept.
 *
 * @since 0.2.0
 */
export interface Options<E> {
  /** Reads the store's clock (epoch ms): one round trip. */
  readonly measure: Effect.Effect<number, E>
  /** Re-measure after this much monotonic time. Default 60 s. */
  readonly resyncAfter?: Duration.Input | undefined
  /** A disagreement between wall and monotonic time larger than this is a clock step. Default 1 s. */
  readonly stepTolerance?: Duration.Input | undefined
}

// A measurement this tight (half of it is how late a run claimed ahead may
// start) needs no other soon.
const tightMs = 2

const monotonicMillis = Effect.map(Clock.monotonicTimeNanos, (nanos) => Number(nanos) / 1_000_000)
const wallMillis = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos) / 1_000_000)

/**
 * Creates an estimate that measures through `measure`.
 *
 *
 * @since 0.2.0
 */
export const make = <E>(options: Options<E>): Effect.Effect<StoreClock> =>
  Effect.sync(() => {
    const resyncMs = Duration.toMillis(Duration.fromInputUnsafe(options.resyncAfter ?? "60 seconds"))
    const toleranceMs = Duration.toMillis(Duration.fromInputUnsafe(options.stepTolerance ?? "1 second"))
    // What the measurements say of the offset (store time less monotonic
    // time): at least `lo`, and about `hi` at most (see `measure`); the
    // estimate is their midpoint. Meaningless while `measuredAt` is null.
    let lo = 0
    let hi = 0
    let measuredAt: number | null = null
    let wallMinusMonotonic = 0
    let dueAt = Number.NEGATIVE_INFINITY
    // The next measurement may narrow the bounds kept (not after a clock
    // step or a suspicion, which may have invalidated them).
    let narrowing = false
    // A wide measurement (a busy process or database) is followed by another
    // soon, then less and less soon: 1 s, 2 s, 4 s... up to `resyncMs`.
    let retryMs = 1_000

    // One reading of the store's clock, between two of the monotonic one.
    const sample = Effect.gen(function*() {
      const before = yield* monotonicMillis
      const store = yield* options.measure
      const after = yield* monotonicMillis
      return { before, store, after }
    })
    const measure = Effect.gen(function*() {
      // A reply delayed on its way (a busy process, a queue in front of the
      // connection) widens the bound `atLeast` keeps, and every run claimed
      // ahead starts later by half of it: a round trip over `tightMs` is
      // measured again, twice at most, and the shortest kept.
      let best = yield* sample
      for (let again = 0; again < 2 && best.after - best.before > tightMs; again++) {
        const next = yield* sample
        if (next.after - next.before < best.after - best.before) best = next
      }
      const { after, before, store } = best
      // The store read its clock between `before` and `after`: the offset is
      // at least `store - after`, and at most `store - before` (give or take
      // the millisecond the store's whole-ms reading drops).
      let low = store - after
      let high = store - before
      // Each bound holds for every measurement (the clocks do not drift
      // apart measurably within `resyncMs`): the tightest of recent ones
      // are kept together, unless they disagree (a step of either clock).
      if (narrowing && measuredAt !== null && after - measuredAt < resyncMs && Math.max(lo, low) <= Math.min(hi, high) + 1) {
        low = Math.max(lo, low)
        high = Math.max(low, Math.min(hi, high))
      }
      lo = low
      hi = high
      measuredAt = after
      narrowing = true
      // (Counted from the end of the measurement, its last sample.)
      const ended = yield* monotonicMillis
      if (high - low > tightMs) {
        dueAt = ended + Math.min(retryMs, resyncMs)
        retryMs = Math.min(2 * retryMs, resyncMs)
      } else {
        dueAt = ended + resyncMs
        retryMs = 1_000
      }
      wallMinusMonotonic = (yield* wallMillis) - ended
    })

    const stale = Effect.gen(function*() {
      const mono = yield* monotonicMillis
      if (measuredAt === null || mono >= dueAt) return true
      // A wall-clock step (or a host suspended while monotonic time stood still).
      const stepped = Math.abs((yield* wallMillis) - mono - wallMinusMonotonic) > toleranceMs
      if (stepped) narrowing = false
      return stepped
    })

    // On every run's start: combinators, not a generator (a few µs less).
    const estimate = Effect.suspend(() => {
      const mid = (lo + hi) / 2
      return measuredAt === null ? wallMillis : Effect.map(monotonicMillis, (mono) => mono + mid)
    })

    const atLeast = Effect.suspend(() => {
      const least = lo
      return measuredAt === null ? wallMillis : Effect.map(monotonicMillis, (mono) => mono + least)
    })

    const now: Effect.Effect<number, E> = Effect.flatMap(
      stale,
      (isStale) => isStale ? Effect.andThen(measure, estimate) : estimate
    )

    const suspect = (withinMs: number) =>
      Effect.map(monotonicMillis, (mono) => {
        dueAt = Math.min(dueAt, mono + withinMs)
        narrowing = false
      })

    // Timers may fire early by up to a millisecond (they count whole ones): check, and wait on.
    const sleepUntil = (instant: number): Effect.Effect<void, E> =>
      Effect.flatMap(now, (current) =>
        current >= instant ? Effect.void : Effect.andThen(Effect.sleep(Math.ceil(instant - current)), sleepUntil(instant)))

    return {
      now,
      estimate,
      atLeast,
      suspect,
      sleepUntil,
      measuredAt: Effect.sync(() => measuredAt)
    }
  })
