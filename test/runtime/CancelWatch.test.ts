/**
 * The cancel watch (src/runtime/CancelWatch.ts) and the executor's cancel,
 * on the in-memory store under TestClock: a cancel request reaches the node
 * holding the run at once (no wait for the lease renewal), its handler is
 * interrupted and the run recorded `cancelled` once, with `RunCancelled`; a
 * run claimed ahead and waiting for its instant never starts; without the feed,
 * the next lease renewal does the same.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as MemoryJobStore from "../../src/MemoryJobStore.ts"
import * as CancelWatch from "../../src/runtime/CancelWatch.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Supervisor from "../../src/Supervisor.ts"
import { memoryWith } from "../support/Runtime.ts"
import * as Trigger from "../../src/Trigger.ts"
import { collectEvents, eventually, Ledger, recordingTask, schedulerOn } from "../support/Harness.ts"

const second = 1_000

const setup = (store: Layer.Layer<JobStore>) =>
  Effect.gen(function*() {
    const ledger = new Ledger()
    const interrupted: Array<number> = []
    const never = yield* Deferred.make<void>()
    const long = recordingTask("long", ledger, () =>
      Deferred.await(never).pipe(Effect.onInterrupt(() => Effect.sync(() => void interrupted.push(Date.now())))))
    const context = yield* Layer.build(schedulerOn(store, {
      tasks: [long],
      node: "n",
      // Renewals every 60 s: what happens sooner is the watch's doing.
      leaseDuration: "180 seconds",
      jobs: [
        Job.make(long, { id: "a", payload: null, trigger: Trigger.once(1 * second) }),
        Job.make(long, { id: "b", payload: null, trigger: Trigger.once(1 * second) })
      ]
    }))
    const scheduler = Context.get(context, Scheduler.Scheduler)
    const { events } = yield* collectEvents.pipe(Effect.provideContext(context))
    yield* TestClock.adjust(1 * second)
    const running = yield* scheduler.history({ states: ["running"] })
    return { scheduler, events, ledger, interrupted, running }
  })

describe("CancelWatch", () => {
  it.effect("a cancel request interrupts the handler at once and the run is recorded cancelled once, with RunCancelled", () =>
    Effect.gen(function*() {
      const { events, interrupted, running, scheduler } = yield* setup(MemoryJobStore.layer)
      assert.strictEqual(running.length, 2)
      const target = running[0]!
      const asked = yield* scheduler.cancel(target.id)
      assert.strictEqual(asked.state, "running")
      yield* eventually(() => interrupted.length === 1)
      yield* TestClock.adjust(10)
      const record = yield* scheduler.getRun(target.id)
      assert.deepStrictEqual(
        record._tag === "Some" && [record.value.state, record.value.note, record.value.endedAt],
        ["cancelled", "cancelled by operator", 1 * second]
      )
      const cancelled = events.filter((e) => e._tag === "RunCancelled")
      assert.deepStrictEqual(cancelled.map((e) => e._tag === "RunCancelled" && [e.runId, e.jobId]), [[target.id, target.jobId]])
      // The other run goes on.
      assert.strictEqual((yield* scheduler.getRun(running[1]!.id)).pipe((r) => r._tag === "Some" && r.value.state), "running")
      yield* TestClock.adjust(120 * second)
      assert.strictEqual(events.filter((e) => e._tag === "RunCancelled").length, 1, "recorded once")
    }))

  it.effect("requests heard together (a bulk cancel, its notifications read at once) cost one renewal, not one each", () =>
    Effect.gen(function*() {
      let renewals = 0
      const supervisor = yield* Supervisor.make({ node: "n", restart: Schedule.spaced(1_000), publish: () => Effect.void })
      const inner = yield* MemoryJobStore.make
      // Four requests in one read of the feed, three of them for runs this node holds; then nothing.
      const store = JobStore.of({ ...inner, cancelRequests: Stream.concat(Stream.make("1", "2", "3", "9"), Stream.never) })
      const loop = CancelWatch.make({
        store,
        supervisor,
        executor: { holding: (ids) => Effect.succeed(new Set(ids.filter((id) => id !== "9"))) },
        renewal: { renew: Effect.sync(() => void renewals++), renewIfStale: () => Effect.void },
        reconnect: Schedule.spaced(1_000)
      })
      const fiber = yield* Effect.forkChild(loop.body)
      yield* eventually(() => renewals > 0)
      yield* TestClock.adjust(1_000)
      assert.strictEqual(renewals, 1)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a run claimed ahead of its instant, cancelled while it waits for it, never starts: recorded cancelled at once", () =>
    Effect.gen(function*() {
      const ledger = new Ledger()
      const work = recordingTask("work", ledger)
      const context = yield* Layer.build(schedulerOn(MemoryJobStore.layer, {
        tasks: [work],
        node: "n",
        claimAhead: "900 millis",
        leaseDuration: "180 seconds",
        jobs: [Job.make(work, { id: "ahead", payload: null, trigger: Trigger.once(5 * second) })]
      }))
      const scheduler = Context.get(context, Scheduler.Scheduler)
      yield* TestClock.adjust(4_900)
      const [claimed] = yield* scheduler.history({ jobId: "ahead", states: ["running"] })
      assert.isDefined(claimed, "claimed ahead")
      assert.deepStrictEqual(ledger.entries, [], "not started: it waits for its instant")
      yield* scheduler.cancel(claimed!.id)
      const stateOf = Effect.map(scheduler.getRun(claimed!.id), (r) => r._tag === "Some" ? r.value.state : undefined)
      for (let turn = 0; turn < 1_000 && (yield* stateOf) !== "cancelled"; turn++) yield* Effect.yieldNow
      assert.strictEqual(yield* stateOf, "cancelled")
      yield* TestClock.adjust(10 * second)
      assert.deepStrictEqual(ledger.entries, [], "it never started")
    }))

  it.effect("without the feed, the next lease renewal reports the request: the same end, a renewal later", () =>
    Effect.gen(function*() {
      const store = memoryWith(() => ({ cancelRequests: undefined }))
      const { interrupted, running, scheduler } = yield* setup(store)
      const target = running[0]!
      yield* scheduler.cancel(target.id)
      yield* TestClock.adjust(10 * second)
      assert.deepStrictEqual(interrupted, [], "not before the renewal")
      // Renewals every 60 s (a third of the 180 s lease), from the start.
      yield* TestClock.adjust(50 * second)
      yield* eventually(() => interrupted.length === 1)
      yield* TestClock.adjust(10)
      const record = yield* scheduler.getRun(target.id)
      assert.strictEqual(record._tag === "Some" && record.value.state, "cancelled")
    }))
})
