import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import { StoreError } from "../../src/StoreError.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Trigger from "../../src/Trigger.ts"
import { collectEvents, Ledger, recordingTask, schedulerOn } from "../support/Harness.ts"
import { memoryWith } from "../support/Runtime.ts"

const second = 1_000
const work = recordingTask("work", new Ledger())
const job = (id: string) => Job.make(work, { id, payload: null, trigger: Trigger.once(3_600 * second) })

// A store without deadlines of its own, whose call ignores interruption and
// never answers: what the scheduler must not wait on for ever.
const stuck = Effect.uninterruptible(Effect.never)

describe("StoreGuard (storeCallTimeout)", () => {
  it.effect("a store call that never answers fails after storeCallTimeout as a retryable Deadline, is retried, and the user's add completes", () => {
    let adds = 0
    // Counted per attempt: a retry runs the same effect again.
    const store = memoryWith((inner) => ({ add: (j) => Effect.suspend(() => adds++ === 0 ? stuck : inner.add(j)) }))
    return Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const { events } = yield* collectEvents
      const adding = yield* Effect.forkChild(scheduler.add(job("late")))
      yield* TestClock.adjust(5 * second - 1)
      assert.isUndefined(adding.pollUnsafe(), "still waiting just before the bound")
      // Past it: the first attempt is abandoned, the retry (after the
      // schedule's first backoff, at most 12 ms) is answered.
      yield* TestClock.adjust(second)
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(adding)))
      assert.strictEqual(adds, 2)
      assert.isTrue(Option.isSome(yield* scheduler.get("late")))
      const unavailable = events.filter((e) => e._tag === "StoreUnavailable")
      assert.strictEqual(unavailable.length, 1)
      assert.strictEqual(unavailable[0]!._tag === "StoreUnavailable" && unavailable[0]!.operation, "add")
      assert.match(unavailable[0]!._tag === "StoreUnavailable" ? unavailable[0]!.error : "", /within 5000 ms/)
    }).pipe(Effect.provide(schedulerOn(store, { tasks: [work], storeCallTimeout: "5 seconds" })))
  })

  it.effect("a store that never answers at all: the user's call fails with the Deadline StoreError once the retries are spent, and the scheduler goes on", () => {
    const store = memoryWith(() => ({ get: () => stuck }))
    return Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const getting = yield* Effect.forkChild(scheduler.get("any"))
      // Attempts of 2 s each, retried for the default schedule's 30 s.
      for (let t = 0; getting.pollUnsafe() === undefined; t += second) {
        if (t > 60 * second) return assert.fail("the call was still waiting after a minute")
        yield* TestClock.adjust(second)
      }
      const exit = yield* Fiber.await(getting)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      const failure = error !== undefined && error._tag === "Fail" ? error.error : undefined
      assert.instanceOf(failure, StoreError)
      assert.strictEqual(failure instanceof StoreError && failure.reason, "Deadline")
      assert.strictEqual(failure instanceof StoreError && failure.operation, "get")
      // Other calls were never held up by the stuck ones.
      yield* scheduler.add(job("other"))
      assert.isTrue((yield* scheduler.list).some((job) => job.id === "other"))
    }).pipe(Effect.provide(schedulerOn(store, { tasks: [work], storeCallTimeout: "2 seconds" })))
  })
})
