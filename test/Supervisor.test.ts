import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Queue, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Event } from "../src/Event.ts"
import * as Job from "../src/Job.ts"
import * as Loop from "../src/runtime/Loop.ts"
import * as Watchdog from "../src/runtime/Watchdog.ts"
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

// The watchdog cases: a supervisor with a deterministic restart delay (100 ms),
// its events, and its watchdog loop checking once a second.
const watched = Effect.gen(function*() {
  const events: Array<Event> = []
  const supervisor = yield* Supervisor.make({
    node: "test",
    restart: Supervisor.restartSchedule({ base: "100 millis", cap: "1 second", jitter: false }),
    publish: (event) => Effect.sync(() => events.push(event))
  })
  yield* Effect.forkChild(Loop.supervise(supervisor, Watchdog.make({ supervisor })))
  const loop = (name: string) =>
    Effect.map(supervisor.health, (health) => {
      const found = health.loops.find((l) => l.name === name)
      if (found === undefined) return assert.fail(`no loop ${name} in health`)
      return found
    })
  const tags = (name: string) =>
    events.flatMap((e) =>
      (e._tag === "LoopFailed" || e._tag === "LoopRestarted" || e._tag === "LoopStalled") && e.loop === name ? [e._tag] : []
    )
  return { supervisor, events, loop, tags }
})

// A body whose lives are scripted: the n-th start runs `lives[n]`, later
// starts the last one.
const lives = (...script: ReadonlyArray<Effect.Effect<void>>) => {
  let started = 0
  const body = Effect.suspend(() => script[Math.min(started++, script.length - 1)]!)
  return { body, started: () => started }
}

describe("Supervisor: no silent stop", () => {
  it.effect("a loop that ends with an interruption it did not receive (Effect.interrupt) is restarted, and says so", () =>
    Effect.gen(function*() {
      const { events, loop, supervisor, tags } = yield* watched
      const { body, started } = lives(Effect.interrupt, Effect.andThen(supervisor.idle("loop"), Effect.never))
      const fiber = yield* Effect.forkChild(supervisor.supervise("loop", body, { stallAfter: "10 seconds" }))
      yield* TestClock.adjust(50)
      const restarting = yield* loop("loop")
      assert.strictEqual(restarting.state, "restarting")
      assert.strictEqual(restarting.lastError, "interrupted by something other than its supervisor")
      assert.strictEqual((yield* supervisor.health).status, "degraded")
      yield* TestClock.adjust(100)
      assert.strictEqual(started(), 2)
      assert.deepStrictEqual(tags("loop"), ["LoopFailed", "LoopRestarted"])
      const failed = events.find((e) => e._tag === "LoopFailed")
      assert.deepStrictEqual(failed, Event.LoopFailed({ loop: "loop", error: "interrupted by something other than its supervisor", at: 0 }))
      const restarted = yield* loop("loop")
      assert.strictEqual(restarted.state, "idle")
      assert.strictEqual(restarted.restarts, 1)
      assert.strictEqual(restarted.lastFailure, 0)
      // Degraded for a minute after the failure, healthy after.
      yield* TestClock.adjust(59_000)
      assert.strictEqual((yield* supervisor.health).status, "degraded")
      yield* TestClock.adjust(1_000)
      assert.strictEqual((yield* supervisor.health).status, "healthy")
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a loop whose fiber is interrupted from outside is restarted", () =>
    Effect.gen(function*() {
      const { loop, supervisor, tags } = yield* watched
      const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
      const body = Effect.withFiber((self) => {
        fibers.push(self)
        return Effect.andThen(supervisor.progress("loop"), Effect.never)
      })
      const fiber = yield* Effect.forkChild(supervisor.supervise("loop", body))
      yield* TestClock.adjust(10)
      assert.strictEqual(fibers.length, 1)
      // Something else holds the loop's fiber and interrupts it.
      yield* Fiber.interrupt(fibers[0]!)
      yield* TestClock.adjust(100)
      assert.strictEqual(fibers.length, 2, "started again")
      assert.deepStrictEqual(tags("loop"), ["LoopFailed", "LoopRestarted"])
      const health = yield* loop("loop")
      assert.strictEqual(health.state, "running")
      assert.strictEqual(health.restarts, 1)
      assert.strictEqual(health.lastError, "interrupted by something other than its supervisor")
      // Only the supervisor's own fiber's interruption stops it, for good.
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust(10_000)
      assert.strictEqual(fibers.length, 2)
      assert.deepStrictEqual(tags("loop"), ["LoopFailed", "LoopRestarted"])
    }))

  it.effect("a loop whose body simply returns is restarted", () =>
    Effect.gen(function*() {
      const { events, loop, supervisor, tags } = yield* watched
      const { body, started } = lives(Effect.void, Effect.void, Effect.never)
      const fiber = yield* Effect.forkChild(supervisor.supervise("loop", body))
      yield* TestClock.adjust(1_000)
      assert.strictEqual(started(), 3)
      assert.deepStrictEqual(tags("loop"), ["LoopFailed", "LoopRestarted", "LoopFailed", "LoopRestarted"])
      assert.isTrue(events.every((e) => e._tag !== "LoopFailed" || e.error === "loop ended unexpectedly"))
      assert.strictEqual((yield* loop("loop")).restarts, 2)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a loop that hangs past its stallAfter is reported stalled (health, event), interrupted and restarted", () =>
    Effect.gen(function*() {
      const { events, loop, supervisor, tags } = yield* watched
      let interrupted = 0
      const working = Effect.forever(Effect.andThen(Effect.sleep(1_000), supervisor.progress("loop")))
      const { body, started } = lives(
        // Works for 3 s, then hangs (a call with no deadline, say).
        Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            yield* Effect.sleep(1_000)
            yield* supervisor.progress("loop")
          }
          yield* Effect.onInterrupt(Effect.never, () => Effect.sync(() => void interrupted++))
        }),
        working
      )
      const fiber = yield* Effect.forkChild(supervisor.supervise("loop", body, { stallAfter: "5 seconds" }))
      yield* TestClock.adjust(7_000)
      // Last progress at 3 s: 4 s old, within its bound.
      const hanging = yield* loop("loop")
      assert.strictEqual(hanging.state, "running")
      assert.strictEqual(hanging.progressAgeMs, 4_000)
      assert.strictEqual(hanging.lastProgress, 3_000)
      assert.strictEqual(hanging.stallAfterMs, 5_000)
      assert.strictEqual((yield* supervisor.health).status, "healthy")
      // At 8 s it is 5 s old, at its bound: not yet.
      yield* TestClock.adjust(1_000)
      assert.strictEqual(interrupted, 0)
      assert.deepStrictEqual(tags("loop"), [])
      // 1 ms past it: stalled, interrupted, restarted 100 ms later.
      yield* TestClock.adjust(1)
      assert.strictEqual(interrupted, 1)
      const stalled = yield* loop("loop")
      assert.strictEqual(stalled.state, "restarting")
      assert.strictEqual(stalled.stalls, 1)
      assert.strictEqual(stalled.restarts, 1)
      assert.strictEqual(stalled.lastError, "stalled: no progress within 5000 ms")
      assert.strictEqual((yield* supervisor.health).status, "degraded")
      const stall = events.find((e) => e._tag === "LoopStalled")
      assert.deepStrictEqual(stall, Event.LoopStalled({ loop: "loop", progressAgeMs: 5_001, at: 8_001 }))
      yield* TestClock.adjust(100)
      assert.strictEqual(started(), 2)
      assert.deepStrictEqual(tags("loop"), ["LoopStalled", "LoopRestarted"], "a stall is not also reported as a failure")
      yield* TestClock.adjust(5_000)
      const working2 = yield* loop("loop")
      assert.strictEqual(working2.state, "running")
      assert.isAtMost(working2.progressAgeMs, 1_000)
      assert.strictEqual((yield* supervisor.health).status, "degraded")
      // Healthy again a minute after the stall.
      yield* TestClock.adjust(55_000)
      assert.strictEqual((yield* supervisor.health).status, "healthy")
      assert.strictEqual((yield* loop("loop")).stalls, 1)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a loop stuck where interruption cannot reach is abandoned after a second and replaced; the supervisor still stops", () =>
    Effect.gen(function*() {
      const { loop, supervisor, tags } = yield* watched
      const working = Effect.forever(Effect.andThen(Effect.sleep(1_000), supervisor.progress("loop")))
      const { body, started } = lives(Effect.uninterruptible(Effect.never), working)
      const fiber = yield* Effect.forkChild(supervisor.supervise("loop", body, { stallAfter: "2 seconds" }))
      // Within its bound until 2 s; stalled 1 ms past it.
      yield* TestClock.adjust(2_000)
      assert.strictEqual((yield* loop("loop")).state, "running")
      yield* TestClock.adjust(1)
      const stalled = yield* loop("loop")
      assert.strictEqual(stalled.state, "stalled", "waiting for the interrupted loop to end")
      assert.strictEqual(stalled.stalls, 1)
      assert.strictEqual(stalled.progressAgeMs, 2_001)
      assert.strictEqual((yield* supervisor.health).status, "degraded")
      // It will not end: abandoned after 1 s, restarted 100 ms later.
      yield* TestClock.adjust(999)
      assert.strictEqual(started(), 1)
      yield* TestClock.adjust(1)
      assert.strictEqual((yield* loop("loop")).state, "restarting")
      yield* TestClock.adjust(100)
      assert.strictEqual(started(), 2)
      assert.deepStrictEqual(tags("loop"), ["LoopStalled", "LoopRestarted"])
      yield* TestClock.adjust(3_000)
      const replaced = yield* loop("loop")
      assert.strictEqual(replaced.state, "running")
      assert.strictEqual(replaced.restarts, 1)
      assert.strictEqual(replaced.lastError, "stalled: no progress within 2000 ms")
      assert.strictEqual(replaced.lastProgress, 6_101)
      // The abandoned fiber never ends; interrupting the supervisor does not wait for it.
      const stopping = yield* Effect.forkChild(Fiber.interrupt(fiber))
      for (let i = 0; i < 100 && stopping.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
      assert.isDefined(stopping.pollUnsafe(), "the supervisor stopped")
    }))

  it.effect("an idle loop is never flagged however long it waits, and is watched again once it works", () =>
    Effect.gen(function*() {
      const { loop, supervisor, tags } = yield* watched
      const input = yield* Queue.unbounded<string>()
      const body = Effect.gen(function*() {
        while (true) {
          yield* supervisor.idle("loop")
          const item = yield* Queue.take(input)
          yield* supervisor.progress("loop")
          // A unit of work that hangs.
          if (item === "hang") yield* Effect.never
        }
      })
      const fiber = yield* Effect.forkChild(supervisor.supervise("loop", body, { stallAfter: "5 seconds" }))
      // 720 times its bound, checked every second.
      yield* TestClock.adjust("1 hour")
      const idle = yield* loop("loop")
      assert.strictEqual(idle.state, "idle")
      assert.strictEqual(idle.stalls, 0)
      assert.deepStrictEqual(tags("loop"), [])
      assert.strictEqual((yield* supervisor.health).status, "healthy")
      assert.strictEqual(idle.progressAgeMs, 3_600_000)
      yield* Queue.offer(input, "work")
      yield* TestClock.adjust("1 hour")
      assert.strictEqual((yield* loop("loop")).state, "idle")
      assert.deepStrictEqual(tags("loop"), [])
      // Work that hangs is watched: stalled on the first check past 5 s.
      yield* Queue.offer(input, "hang")
      yield* TestClock.adjust(6_100)
      assert.deepStrictEqual(tags("loop"), ["LoopStalled", "LoopRestarted"])
      assert.strictEqual((yield* loop("loop")).stalls, 1)
      yield* Fiber.interrupt(fiber)
    }))
})
