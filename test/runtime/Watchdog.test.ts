import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Event } from "../../src/Event.ts"
import * as Job from "../../src/Job.ts"
import * as Loop from "../../src/runtime/Loop.ts"
import * as Watchdog from "../../src/runtime/Watchdog.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Supervisor from "../../src/Supervisor.ts"
import * as Trigger from "../../src/Trigger.ts"
import { collectEvents, Ledger, memoryScheduler, recordingTask, schedulerOn } from "../support/Harness.ts"
import { loopHealth, memoryWith } from "../support/Runtime.ts"

const second = 1_000

describe("Watchdog", () => {
  // A supervisor and its watchdog, which counts its checks.
  const watched = Effect.gen(function*() {
    const events: Array<Event> = []
    const supervisor = yield* Supervisor.make({
      node: "test",
      restart: Supervisor.restartSchedule({ base: "100 millis", jitter: false }),
      publish: (event) => Effect.sync(() => events.push(event))
    })
    let checks = 0
    const counted = { ...supervisor, checkStalls: Effect.tap(supervisor.checkStalls, () => Effect.sync(() => void checks++)) }
    yield* Effect.forkChild(Loop.supervise(supervisor, Watchdog.make({ supervisor: counted })))
    const stalls = () => events.filter((e) => e._tag === "LoopStalled")
    return { supervisor, stalls, checks: () => checks }
  })

  it.effect("a loop is flagged 1 ms past its stallAfter, never before", () =>
    Effect.gen(function*() {
      const { stalls, supervisor } = yield* watched
      // Progress for 2 s, then silence.
      const body = Effect.gen(function*() {
        for (let i = 0; i < 4; i++) {
          yield* Effect.sleep(500)
          yield* supervisor.progress("loop")
        }
        yield* Effect.never
      })
      const fiber = yield* Effect.forkChild(supervisor.supervise("loop", body, { stallAfter: "5 seconds" }))
      yield* TestClock.adjust(7 * second)
      assert.deepStrictEqual(stalls(), [], "5 s after its last progress: not yet")
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(stalls(), [Event.LoopStalled({ loop: "loop", progressAgeMs: 5 * second + 1, at: 7 * second + 1 })])
      // The watchdog itself is not watched.
      const watchdog = (yield* supervisor.health).loops.find((l) => l.name === "watchdog")
      assert.deepStrictEqual([watchdog?.stallAfterMs, watchdog?.stalls], [null, 0])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a loop supervised while the watchdog sleeps on a longer bound is flagged on time by its own", () =>
    Effect.gen(function*() {
      const { stalls, supervisor } = yield* watched
      const slow = yield* Effect.forkChild(supervisor.supervise("slow", Effect.never, { stallAfter: "1 minute" }))
      yield* TestClock.adjust(10 * second)
      // The watchdog sleeps until the slow loop's bound, 50 s on: this one's is 2 s.
      const quick = yield* Effect.forkChild(supervisor.supervise("quick", Effect.never, { stallAfter: "2 seconds" }))
      yield* TestClock.adjust(2 * second)
      assert.deepStrictEqual(stalls(), [])
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(stalls(), [Event.LoopStalled({ loop: "quick", progressAgeMs: 2 * second + 1, at: 12 * second + 1 })])
      yield* Fiber.interrupt(quick)
      yield* Fiber.interrupt(slow)
    }))

  it.effect("with every loop idle or progressing, the watchdog wakes once a bound, not once a second", () =>
    Effect.gen(function*() {
      const { checks, supervisor } = yield* watched
      // One loop waits for input (idle), one makes progress every 10 s; both are bound to 1 minute.
      yield* Effect.forkChild(supervisor.supervise("waiting", Effect.andThen(supervisor.idle("waiting"), Effect.never), { stallAfter: "1 minute" }))
      const working = Effect.forever(Effect.andThen(Effect.sleep(10 * second), supervisor.progress("working")))
      yield* Effect.forkChild(supervisor.supervise("working", working, { stallAfter: "1 minute" }))
      yield* TestClock.adjust("10 minutes")
      // About once a minute (and once as the loops were supervised), never once a second.
      assert.isAtLeast(checks(), 10)
      assert.isAtMost(checks(), 12)
      assert.deepStrictEqual((yield* supervisor.health).loops.map((l) => [l.name, l.stalls]).filter(([, n]) => n !== 0), [])
    }))

  it.effect("a scheduler with nothing to do for an hour: no loop is ever flagged, even with a 1 s stallAfter", () =>
    Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust("1 hour")
      assert.deepStrictEqual(events.filter((e) => e._tag === "LoopStalled" || e._tag === "LoopFailed"), [])
      const health = yield* Scheduler.Scheduler.use((s) => s.health)
      assert.strictEqual(health.status, "healthy")
      const states = Object.fromEntries(health.loops.map((l) => [l.name, [l.state, l.stalls, l.restarts]]))
      assert.deepStrictEqual(states, {
        dispatcher: ["running", 0, 0],
        registrar: ["idle", 0, 0],
        recorder: ["idle", 0, 0],
        "lease-keeper": ["running", 0, 0],
        reaper: ["running", 0, 0],
        janitor: ["running", 0, 0],
        listener: ["idle", 0, 0],
        "node-heartbeat": ["running", 0, 0],
        "cancel-watch": ["idle", 0, 0],
        watchdog: ["running", 0, 0]
      })
    }).pipe(Effect.provide(memoryScheduler({ tasks: [recordingTask("tick", new Ledger())], stallAfter: "1 second" }))))

  it.effect("a dispatcher stuck where interruption cannot reach is abandoned and replaced; fires resume", () => {
    const ledger = new Ledger()
    const tick = recordingTask("tick", ledger)
    // From 5 s on, the first `nextWake` never returns and cannot be interrupted.
    let stuck = false
    const store = memoryWith((inner) => ({
      nextWake: (tasks, aheadMs, share) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (stuck || now < 5 * second) return inner.nextWake(tasks, aheadMs, share)
          stuck = true
          return Effect.uninterruptible(Effect.never)
        })
    }))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      // Last progress at 5 s; watched with 1 s poll + 2 s: stalled by the check at 9 s.
      yield* TestClock.adjust(9 * second)
      const stalled = yield* loopHealth("dispatcher")
      assert.strictEqual(stalled.state, "stalled", "interrupted, not ending")
      assert.strictEqual(stalled.progressAgeMs, 4 * second)
      assert.strictEqual((yield* Scheduler.Scheduler.use((s) => s.health)).status, "degraded")
      // Abandoned a second later, replaced; scheduling resumes.
      yield* TestClock.adjust(11 * second)
      const replaced = yield* loopHealth("dispatcher")
      assert.deepStrictEqual([replaced.state, replaced.stalls, replaced.restarts], ["running", 1, 1])
      assert.deepStrictEqual(
        events.flatMap((e) => (e._tag === "LoopStalled" || e._tag === "LoopRestarted") && e.loop === "dispatcher" ? [e._tag] : []),
        ["LoopStalled", "LoopRestarted"]
      )
      const fires = ledger.firesOf("tick")
      assert.deepStrictEqual(fires.filter((t) => t <= 5 * second), [1, 2, 3, 4, 5].map((s) => s * second))
      assert.deepStrictEqual(fires.filter((t) => t > 11 * second), [12, 13, 14, 15, 16, 17, 18, 19, 20].map((s) => s * second))
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [tick],
      jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.every("1 second") })],
      pollInterval: "1 second",
      stallAfter: "2 seconds"
    })))
  })
})
