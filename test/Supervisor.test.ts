import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import type { Event } from "../src/Event.ts"
import * as Job from "../src/Job.ts"
import * as Supervisor from "../src/Supervisor.ts"

const Step = Schema.Literals(["ok", "fail", "die"])
const Plan = Schema.Array(Step).check(Schema.isMaxLength(25))

const cap = 2_000

describe("Supervisor", () => {
  it.effect.prop(
    "under any failure sequence a loop is never left stopped, restart delays stay within the cap, and it makes progress once failures stop",
    [Plan],
    ([plan]) =>
      Effect.gen(function*() {
        const events: Array<Event> = []
        const supervisor = yield* Supervisor.make({
          node: "test",
          restart: Supervisor.restartSchedule({ base: "100 millis", cap }),
          publish: (event) => Effect.sync(() => events.push(event))
        })
        const starts: Array<number> = []
        const failures: Array<number> = []
        let index = 0
        let done = false
        const body = Effect.gen(function*() {
          starts.push(yield* Clock.currentTimeMillis)
          while (index < plan.length) {
            const step = plan[index++]
            if (step === "ok") {
              yield* supervisor.progress("loop")
              continue
            }
            failures.push(yield* Clock.currentTimeMillis)
            if (step === "fail") return yield* Effect.fail("planned failure")
            return yield* Effect.die(new Error("planned defect"))
          }
          yield* supervisor.progress("loop")
          done = true
          return yield* Effect.never
        })
        const fiber = yield* Effect.forkChild(supervisor.supervise("loop", body))
        yield* TestClock.adjust(plan.length * cap + 1)
        const failed = plan.filter((step) => step !== "ok").length
        // never left stopped: every failure was followed by a restart, and the plan ran to its end
        assert.isTrue(done)
        assert.strictEqual(index, plan.length)
        assert.strictEqual(starts.length, failed + 1)
        for (let i = 0; i < failures.length; i++) {
          const delay = starts[i + 1]! - failures[i]!
          assert.isTrue(delay >= 0 && delay <= cap, `restart delay ${delay} within [0, ${cap}]`)
        }
        assert.strictEqual(events.filter((e) => e._tag === "LoopFailed").length, failed)
        assert.strictEqual(events.filter((e) => e._tag === "LoopRestarted").length, failed)
        const health = yield* supervisor.health
        assert.strictEqual(health.loops[0]?.restarts, failed)
        assert.strictEqual(health.loops[0]?.state, "running")
        yield* Fiber.interrupt(fiber)
      }),
    { arbitrary: { runs: 100 } }
  )

  it.effect("a loop failing repeatedly without progress backs off towards the cap, and starts afresh after progress", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({
        node: "test",
        restart: Supervisor.restartSchedule({ base: "100 millis", cap: "1 second", jitter: false }),
        publish: () => Effect.void
      })
      const starts: Array<number> = []
      const body = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        starts.push(now)
        if (starts.length === 6) yield* supervisor.progress("loop")
        return yield* Effect.fail("boom")
      })
      const fiber = yield* Effect.forkChild(supervisor.supervise("loop", body))
      yield* TestClock.adjust(10_000)
      const delays = starts.slice(1, 9).map((t, i) => t - starts[i]!)
      assert.deepStrictEqual(delays, [100, 200, 400, 800, 1_000, 100, 200, 400])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("interrupting a supervised loop stops it without a restart", () =>
    Effect.gen(function*() {
      const events: Array<Event> = []
      const supervisor = yield* Supervisor.make({ node: "test", restart: Supervisor.restart, publish: (e) => Effect.sync(() => events.push(e)) })
      const fiber = yield* Effect.forkChild(supervisor.supervise("loop", Effect.never))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(events, [])
    }))
})

describe("Job.retrySchedule", () => {
  it.effect.prop(
    "makes exactly `attempts` attempts, each delay within [base * 0.8, cap] and never above the cap",
    {
      attempts: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 8 })),
      base: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 5_000 })),
      factor: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 4 })),
      extra: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 20_000 })),
      jitter: Schema.Boolean
    },
    ({ attempts, base, factor, extra, jitter }) =>
      Effect.gen(function*() {
        const policy = { attempts, base, factor, cap: base + extra, jitter }
        const times: Array<number> = []
        const fiber = yield* Effect.forkChild(Effect.exit(Effect.retry(
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            times.push(now)
            return Effect.fail("always")
          }),
          Job.retrySchedule(policy)
        )))
        yield* TestClock.adjust(attempts * policy.cap + 1)
        yield* Fiber.join(fiber)
        assert.strictEqual(times.length, attempts)
        for (let i = 1; i < times.length; i++) {
          const delay = times[i]! - times[i - 1]!
          assert.isTrue(delay <= policy.cap, `delay ${delay} <= cap ${policy.cap}`)
          assert.isTrue(delay >= Math.min(policy.cap, base * (jitter ? 0.8 : 1)) - 1, `delay ${delay} >= base`)
        }
      }),
    { arbitrary: { runs: 100 } }
  )
})
