/**
 * The real scheduler runtime on the in-memory store, for tests driven by
 * `TestClock`: declare jobs, advance time, inspect every fire record, event
 * and health state. Optionally the store fails by a plan (`FaultyJobStore`).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as TestClock from "effect/testing/TestClock"
import type { Event } from "../Event.ts"
import type { JobStore } from "../JobStore.ts"
import * as MemoryJobStore from "../MemoryJobStore.ts"
import * as Scheduler from "../Scheduler.ts"
import * as FaultyJobStore from "./FaultyJobStore.ts"

/**
 * Scheduler options plus an optional fault plan for the store.
 *
 * @since 0.1.0
 */
export interface Options<R> extends Scheduler.Options<R> {
  readonly faults?: FaultyJobStore.Plan | undefined
}

/**
 * The scheduler over an in-memory store (wrapped in the fault plan, if any).
 * Both services are in the output, so a test can also look at the store.
 * Shutdown does not wait for running handlers unless `shutdownGrace` says so;
 * under a `TestClock`, the layer moves the clock on while the scheduler shuts
 * down, so shutdown's bounded waits end as they would in real time.
 *
 * @example
 * ```ts
 * import { assert, it } from "@effect/vitest"
 * import { Effect, Schema } from "effect"
 * import { TestClock } from "effect/testing"
 * import { Job, Scheduler, Task, Trigger } from "steadfast"
 * import { TestScheduler } from "steadfast/testing"
 *
 * const tick = Task.make("tick", Schema.Null, () => Effect.void)
 *
 * it.effect("ticks every second", () =>
 *   Effect.gen(function*() {
 *     yield* TestClock.adjust("10 seconds")
 *     const scheduler = yield* Scheduler.Scheduler
 *     const runs = yield* scheduler.history({ jobId: "tick" })
 *     assert.strictEqual(runs.length, 10)
 *   }).pipe(Effect.provide(TestScheduler.layer({
 *     tasks: [tick],
 *     jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.every("1 second") })]
 *   }))))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <R>(
  options: Options<R>
): Layer.Layer<Scheduler.Scheduler | JobStore, Scheduler.JobRejected | Scheduler.InvalidOptions, R> => {
  const { faults, ...rest } = options
  const store = faults === undefined
    ? MemoryJobStore.layer
    : FaultyJobStore.layer(faults).pipe(Layer.provideMerge(MemoryJobStore.layer))
  const scheduler = Scheduler.layer({ shutdownGrace: 0, node: "test-node", ...rest }).pipe(Layer.provideMerge(store))
  return Layer.effectContext(Effect.gen(function*() {
    // Finalizers run in reverse: the clock starts moving right before the
    // scheduler shuts down, and stops once it has.
    let shutDown = false
    yield* Effect.addFinalizer(() => Effect.sync(() => void (shutDown = true)))
    const context = yield* Layer.build(scheduler)
    yield* Effect.addFinalizer(() => advanceWhile(() => !shutDown))
    return context
  }))
}

/**
 * Under a `TestClock`, moves it forward in small steps, in a fiber of its
 * own, while `going()` holds: shutdown's bounded waits (grace period, the
 * wait for a claim's late COMMIT, each step's margin) are on that clock, and
 * would otherwise wait forever once the test stopped adjusting it. Under a
 * live clock, does nothing.
 */
const advanceWhile = (going: () => boolean): Effect.Effect<void> =>
  Effect.clockWith((clock) =>
    isTestClock(clock)
      ? Effect.asVoid(Effect.forkDetach(Effect.whileLoop({
        while: going,
        body: () => Effect.andThen(clock.adjust(shutdownStepMs), Effect.yieldNow),
        step: () => {}
      })))
      : Effect.void
  )

// Small beside shutdown's bounds (a second), so none is overshot by much.
const shutdownStepMs = 10

const isTestClock = (clock: Clock.Clock): clock is TestClock.TestClock => "adjust" in clock && "withLive" in clock

/**
 * Starts recording every event the scheduler emits from now on, into the
 * returned array (for the life of the scope).
 *
 * @since 0.1.0
 */
export const recordEvents: Effect.Effect<ReadonlyArray<Event>, never, Scheduler.Scheduler | Scope.Scope> = Effect.gen(
  function*() {
    const scheduler = yield* Scheduler.Scheduler
    const events: Array<Event> = []
    yield* Effect.forkScoped(Stream.runForEach(scheduler.events, (event) => Effect.sync(() => events.push(event))))
    // Let the subscriber attach before anything is published.
    for (let i = 0; i < 5; i++) yield* Effect.yieldNow
    return events
  }
)

/**
 * Waits until `condition` holds, letting the scheduler's fibers run: for work
 * started by an API call rather than by time (`scheduler.trigger`), which
 * `TestClock.adjust` does not wait for. Dies after `maxTurns` scheduler turns.
 *
 * @since 0.1.0
 */
export const eventually = (condition: () => boolean, maxTurns = 10_000): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let turn = 0; turn < maxTurns; turn++) {
      if (condition()) return
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error(`condition not met after ${maxTurns} scheduler turns`))
  })
