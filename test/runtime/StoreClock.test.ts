import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as StoreClock from "../../src/runtime/StoreClock.ts"

// The "database": a clock of its own, 5 s ahead of this process's monotonic
// clock and unmoved by any step of the wall clock.
const storeAhead = 5_000
const fakeStore = () => {
  let measurements = 0
  const measure = Effect.map(Clock.monotonicTimeNanos, (nanos) => {
    measurements++
    return Math.floor(Number(nanos) / 1_000_000) + storeAhead
  })
  return { measure, measurements: () => measurements }
}

describe("StoreClock", () => {
  it.effect("measures once, then follows the monotonic clock without round trips until the resync interval", () =>
    Effect.gen(function*() {
      const store = fakeStore()
      const clock = yield* StoreClock.make({ measure: store.measure, resyncAfter: "60 seconds" })
      assert.strictEqual(yield* clock.now, storeAhead)
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* clock.now, 30_000 + storeAhead)
      assert.strictEqual(store.measurements(), 1)
      yield* TestClock.adjust("31 seconds")
      assert.strictEqual(yield* clock.now, 61_000 + storeAhead)
      assert.strictEqual(store.measurements(), 2)
    }))

  it.effect("atLeast: the estimate less half the measuring round trip, never ahead of the store however the reply was delayed", () =>
    Effect.gen(function*() {
      // The request takes 40 ms to arrive, the store reads its clock then, and the reply is
      // instant: the midpoint estimate is 20 ms ahead of the store; the lower bound is not.
      const measure = Effect.andThen(
        Effect.sleep("40 millis"),
        Effect.map(Clock.monotonicTimeNanos, (nanos) => Math.floor(Number(nanos) / 1_000_000) + storeAhead)
      )
      const clock = yield* StoreClock.make({ measure })
      const measuring = yield* Effect.forkChild(clock.now)
      // (Round trips that slow are sampled three times: all alike, the first is kept.)
      yield* TestClock.adjust("120 millis")
      yield* Fiber.join(measuring)
      const truth = 120 + storeAhead
      assert.strictEqual(yield* clock.estimate, truth + 20)
      assert.strictEqual(yield* clock.atLeast, truth)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* clock.atLeast, truth + 1_000)
    }))

  it.effect("a wall clock stepped back an hour neither stretches a sleep nor goes unnoticed", () =>
    Effect.gen(function*() {
      const store = fakeStore()
      const clock = yield* StoreClock.make({ measure: store.measure })
      yield* TestClock.adjust("2 hours")
      const start = yield* clock.now
      assert.strictEqual(store.measurements(), 1)
      yield* TestClock.setTime((yield* Clock.currentTimeMillis) - 3_600_000)
      // the step is seen at the next read and the offset measured again; the estimate did not move
      assert.strictEqual(yield* clock.now, start)
      assert.strictEqual(store.measurements(), 2)
      const sleeper = yield* Effect.forkChild(clock.sleepUntil(start + 1_000))
      yield* Effect.yieldNow
      yield* TestClock.adjust("1 second")
      assert.isDefined(sleeper.pollUnsafe(), "woke after one second, not an hour")
      assert.strictEqual(yield* clock.now, start + 1_000)
    }))

  it.effect("a wall clock stepped forward an hour never makes the estimate run ahead of the store", () =>
    Effect.gen(function*() {
      const store = fakeStore()
      const clock = yield* StoreClock.make({ measure: store.measure })
      const start = yield* clock.now
      yield* TestClock.setTime((yield* Clock.currentTimeMillis) + 3_600_000)
      // TestClock moves monotonic time forward with a forward step; the store's clock moved with it
      const after = yield* clock.now
      assert.strictEqual(after, start + 3_600_000)
      const estimate = yield* clock.estimate
      assert.isAtMost(estimate, Math.floor(Number(yield* Clock.monotonicTimeNanos) / 1_000_000) + storeAhead)
    }))

  it.effect("suspect re-measures within the given time", () =>
    Effect.gen(function*() {
      const store = fakeStore()
      const clock = yield* StoreClock.make({ measure: store.measure })
      yield* clock.now
      yield* clock.suspect(1_000)
      yield* TestClock.adjust("999 millis")
      yield* clock.now
      assert.strictEqual(store.measurements(), 1)
      yield* TestClock.adjust("1 milli")
      yield* clock.now
      assert.strictEqual(store.measurements(), 2)
    }))

  it.effect("sleepUntil wakes at the instant, never before", () =>
    Effect.gen(function*() {
      const store = fakeStore()
      const clock = yield* StoreClock.make({ measure: store.measure })
      const start = yield* clock.now
      const fiber = yield* Effect.forkChild(clock.sleepUntil(start + 2_500))
      yield* Effect.yieldNow
      yield* TestClock.adjust("2499 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 milli")
      assert.isDefined(fiber.pollUnsafe())
      yield* Fiber.join(fiber)
    }))
})

describe("StoreClock: delayed replies", () => {
  it.effect("a measurement whose round trip is over 2 ms is taken again, and the shortest sets atLeast", () =>
    Effect.gen(function*() {
      // Round trips of 1 ms, then (at the resync) 30 ms and 1 ms: the store
      // reads its clock at once, and the reply takes that long to come back,
      // so a slow sample's bound lags the store by its whole round trip.
      const delays = [1, 30, 1]
      let calls = 0
      const measure = Effect.suspend(() => {
        const delay = delays[calls++] ?? 1
        return Effect.flatMap(
          Effect.map(Clock.monotonicTimeNanos, (nanos) => Math.floor(Number(nanos) / 1_000_000) + storeAhead),
          (store) => Effect.as(Effect.sleep(delay), store)
        )
      })
      const clock = yield* StoreClock.make({ measure, resyncAfter: "60 seconds" })
      const first = yield* Effect.forkChild(clock.now)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(first)
      yield* TestClock.adjust("60 seconds")
      const second = yield* Effect.forkChild(clock.now)
      yield* TestClock.adjust("31 millis")
      yield* Fiber.join(second)
      assert.strictEqual(calls, 3, "the slow sample was taken again")
      // The store's clock is `now + storeAhead`: the kept sample (1 ms) lags
      // it by 1 ms, where the slow one would have lagged by 30.
      const now = yield* Clock.currentTimeMillis
      assert.strictEqual(yield* clock.atLeast, now + storeAhead - 1)
    }))

  it.effect("a wide measurement is taken again within 1 s, then 2 s, and each narrows the bounds the earlier ones set", () =>
    Effect.gen(function*() {
      // Every sample's reply is delayed: 20 ms (the three samples of each of
      // the first two measurements), then 8 ms with the store reading its
      // clock half-way: the third measurement narrows the lower bound to 4 ms.
      const replies: Array<{ readonly readAfter: number; readonly reply: number }> = Array.from(
        { length: 6 },
        () => ({ readAfter: 0, reply: 20 })
      )
      let calls = 0
      const measure = Effect.suspend(() => {
        const { readAfter, reply } = replies[calls++] ?? { readAfter: 4, reply: 4 }
        return Effect.andThen(
          readAfter > 0 ? Effect.sleep(readAfter) : Effect.void,
          Effect.flatMap(
            Effect.map(Clock.monotonicTimeNanos, (nanos) => Math.floor(Number(nanos) / 1_000_000) + storeAhead),
            (store) => Effect.as(Effect.sleep(reply), store)
          )
        )
      })
      const clock = yield* StoreClock.make({ measure, resyncAfter: "60 seconds" })
      const lag = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        return now + storeAhead - (yield* clock.atLeast)
      })
      const measured = (ms: number) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(clock.now)
          yield* TestClock.adjust(ms)
          yield* Fiber.join(fiber)
        })
      yield* measured(60)
      assert.deepStrictEqual([calls, yield* lag], [3, 20], "three samples, each 20 ms late")
      // Not 60 s: another measurement a second after it ended (at 60 ms).
      yield* TestClock.adjust(998)
      yield* clock.now
      assert.strictEqual(calls, 3, "not yet")
      yield* TestClock.adjust(2)
      yield* measured(60)
      assert.deepStrictEqual([calls, yield* lag], [6, 20])
      // Then 2 s after that one: faster replies, and the bounds narrow to them.
      yield* TestClock.adjust(2_000)
      yield* measured(24)
      assert.deepStrictEqual([calls, yield* lag], [9, 4])
    }))
})
