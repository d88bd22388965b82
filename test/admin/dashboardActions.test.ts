/**
 * The dashboard's actions (src/admin/dashboard/Actions.ts `act`) answer
 * within their deadline whatever the store does: here a store whose pause
 * never answers. The flash says the change may have been made; an action
 * the store answers is told as before.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import { UrlParams } from "effect/http"
import { TestClock } from "effect/testing"
import * as Actions from "../../src/admin/dashboard/Actions.ts"
import * as Job from "../../src/Job.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Trigger from "../../src/Trigger.ts"
import { Ledger, recordingTask, schedulerOn } from "../support/Harness.ts"
import { memoryWith } from "../support/Runtime.ts"

describe("dashboard actions", () => {
  it.effect("an action the store never answers is told at its deadline, as maybe made; others as before", () =>
    Effect.gen(function*() {
      const work = recordingTask("work", new Ledger())
      const store = memoryWith((inner) => ({
        setPaused: (id, paused) => paused ? Effect.never : inner.setPaused(id, paused)
      }))
      const context = yield* Layer.build(schedulerOn(store, {
        tasks: [work],
        jobs: [Job.make(work, { id: "j", payload: null, trigger: Trigger.every("1 hour") })]
      }))
      const scheduler = Context.get(context, Scheduler.Scheduler)
      yield* TestClock.adjust(10)
      const form = UrlParams.fromInput({ id: "j" })
      const pausing = yield* Effect.forkChild(Actions.act(scheduler, "pause", form, 15_000))
      yield* TestClock.adjust(14_999)
      assert.isUndefined(pausing.pollUnsafe(), "still waiting before its deadline")
      yield* TestClock.adjust(1)
      const late = yield* Fiber.join(pausing)
      assert.isTrue(late.error)
      assert.strictEqual(
        late.message,
        "pause: the store did not answer within 15000 ms: the change may have been made or not; read it back before asking again"
      )
      assert.deepStrictEqual(yield* Actions.act(scheduler, "resume", form, 15_000), { message: "Resumed j.", error: false })
    }))
})
