import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Effect, Exit, Layer, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as Task from "../../src/Task.ts"
import * as TestScheduler from "../../src/testing/TestScheduler.ts"
import * as Trigger from "../../src/Trigger.ts"

const second = 1_000

// Builds the layer in a scope of its own, so the test can close it (shut the
// scheduler down) and look at the store afterwards.
const open = (options: TestScheduler.Options<never>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(TestScheduler.layer(options), scope)
    return { scope, store: Context.get(context, JobStore) }
  })

describe("TestScheduler", () => {
  it.effect("shuts down under a TestClock while a run claimed ahead waits for its instant: handed back, pending", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      const tick = Task.make("tick", Schema.Null, (_, { fireTime }) => Effect.sync(() => started.push(fireTime)))
      const { scope, store } = yield* open({
        tasks: [tick],
        jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.once(10 * second) })],
        claimAhead: "1 second"
      })
      yield* TestClock.adjust(9_500)
      const [claimed] = yield* store.history({ jobId: "tick" })
      assert.strictEqual(claimed?.state, "running", "claimed ahead, waiting in the queue")
      // The shutdown's bounded steps wait on the TestClock: the layer moves it on.
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(started, [], "never started before its instant")
      const [record] = yield* store.history({ jobId: "tick" })
      assert.deepStrictEqual([record?.state, record?.node], ["pending", null])
    }))

  it.effect("honours shutdownGrace under a TestClock: a handler past the grace period is interrupted and recorded failed", () =>
    Effect.gen(function*() {
      const slow = Task.make("slow", Schema.Null, () => Effect.sleep(60 * second))
      const { scope, store } = yield* open({
        tasks: [slow],
        jobs: [Job.make(slow, { id: "slow", payload: null, trigger: Trigger.once(1 * second) })],
        shutdownGrace: "2 seconds"
      })
      yield* TestClock.adjust(2 * second)
      const before = yield* Clock.currentTimeMillis
      yield* Scope.close(scope, Exit.void)
      const [record] = yield* store.history({ jobId: "slow" })
      assert.strictEqual(record?.state, "failed")
      assert.include(record?.error ?? "", "interrupted: the node shut down")
      // Ended after the grace period, on the test's clock.
      assert.isAtLeast((record?.endedAt ?? 0) - before, 2 * second)
    }))
})
