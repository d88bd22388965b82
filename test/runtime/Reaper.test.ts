import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as MemoryJobStore from "../../src/MemoryJobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Trigger from "../../src/Trigger.ts"
import * as StoreRetry from "../../src/StoreRetry.ts"
import * as FaultyJobStore from "../../src/testing/FaultyJobStore.ts"
import { collectEvents, Ledger, recordingTask, schedulerOn } from "../support/Harness.ts"
import { loopHealth } from "../support/Runtime.ts"

const second = 1_000

// A job whose fire at 0 was claimed by a node that then died (it never
// renews its 5 s lease), and a scheduler on the same store reaping every second.
const deadNodeCase = (onLost: Job.Job["onLost"], ledger: Ledger) =>
  Effect.gen(function*() {
    const work = recordingTask("work", ledger)
    const storeContext = yield* Layer.build(MemoryJobStore.layer)
    const store = Context.get(storeContext, JobStore)
    yield* store.add(Job.make(work, { id: "work", payload: null, trigger: Trigger.once(0), onLost }))
    const { runs } = yield* store.claim({ node: "dead", tasks: ["work"], limit: 10, leaseMs: 5 * second })
    assert.strictEqual(runs.length, 1)
    const context = yield* Layer.build(
      Scheduler.layer({ tasks: [work], node: "live", shutdownGrace: 0, reapInterval: "1 second", stallAfter: "5 seconds" })
    ).pipe(Effect.provideContext(storeContext))
    return { store, scheduler: Context.get(context, Scheduler.Scheduler), context }
  })

describe("Reaper", () => {
  it.effect("a run whose node died is recorded lost once its lease expired (onLost: record), with RunLost", () =>
    Effect.gen(function*() {
      const ledger = new Ledger()
      const { context, store } = yield* deadNodeCase("record", ledger)
      const { events } = yield* collectEvents.pipe(Effect.provideContext(context))
      yield* TestClock.adjust(5 * second)
      // Its lease runs to 5 s: not yet.
      assert.strictEqual((yield* store.history({ jobId: "work" }))[0]?.state, "running")
      yield* TestClock.adjust(1 * second)
      const [record] = yield* store.history({ jobId: "work" })
      assert.strictEqual(record?.state, "lost")
      assert.strictEqual(record?.endedAt, 6 * second)
      assert.strictEqual(record?.note, "lease of node dead expired")
      assert.deepStrictEqual(
        events.filter((e) => e._tag === "RunLost"),
        [{ _tag: "RunLost", jobId: "work", fireTime: 0, retried: false, note: "lease of node dead expired", at: 6 * second }]
      )
      yield* TestClock.adjust(10 * second)
      assert.deepStrictEqual(ledger.entries, [], "never run again")
    }))

  it.effect("onLost: retry: the run is taken over after its lease and runs again at once, as attempt 2 of the same fire", () =>
    Effect.gen(function*() {
      const ledger = new Ledger()
      const { context, store } = yield* deadNodeCase("retry", ledger)
      const { events } = yield* collectEvents.pipe(Effect.provideContext(context))
      yield* TestClock.adjust(6 * second)
      assert.deepStrictEqual(ledger.entries, [{ jobId: "work", fireTime: 0, at: 6 * second, attempt: 2 }])
      const lost = events.find((e) => e._tag === "RunLost")
      assert.deepStrictEqual(lost && lost._tag === "RunLost" && [lost.retried, lost.at], [true, 6 * second])
      const [record] = yield* store.history({ jobId: "work" })
      assert.strictEqual(record?.state, "succeeded")
      assert.strictEqual(record?.node, "live")
      assert.strictEqual(record?.attempt, 2)
    }))

  it.effect("a run an operator asked to cancel whose node died is recorded cancelled, not retried, with RunCancelled", () =>
    Effect.gen(function*() {
      const ledger = new Ledger()
      const { context, store } = yield* deadNodeCase("retry", ledger)
      const { events } = yield* collectEvents.pipe(Effect.provideContext(context))
      const [running] = yield* store.history({ jobId: "work" })
      assert.strictEqual((yield* store.cancel(running!.id)).state, "running")
      yield* TestClock.adjust(6 * second)
      const [record] = yield* store.history({ jobId: "work" })
      assert.deepStrictEqual(
        [record?.state, record?.attempt, record?.endedAt, record?.note],
        ["cancelled", 1, 6 * second, "cancelled by operator; lease of node dead expired"]
      )
      assert.deepStrictEqual(events.filter((e) => e._tag === "RunCancelled" || e._tag === "RunLost"), [
        { _tag: "RunCancelled", jobId: "work", fireTime: 0, runId: running!.id, attempt: 1, at: 6 * second }
      ])
      yield* TestClock.adjust(10 * second)
      assert.deepStrictEqual(ledger.entries, [], "never run again")
    }))

  it.effect("reports progress every interval, and is watched with its interval plus stallAfter", () =>
    Effect.gen(function*() {
      const { context } = yield* deadNodeCase("record", new Ledger())
      yield* TestClock.adjust(10 * second + 500)
      const reaper = yield* loopHealth("reaper").pipe(Effect.provideContext(context))
      assert.strictEqual(reaper.lastProgress, 10 * second)
      assert.strictEqual(reaper.progressAgeMs, 500)
      assert.strictEqual(reaper.stallAfterMs, 1 * second + 5 * second)
      assert.deepStrictEqual([reaper.state, reaper.restarts, reaper.stalls], ["running", 0, 0])
    }))

  it.effect("its own node's run, its outcome held up by an outage longer than the lease, is renewed first, not reaped: it runs once", () =>
    Effect.gen(function*() {
      const ledger = new Ledger()
      // Runs 50 ms; every store call fails from 20 ms to 8 s (the lease is 5 s).
      const work = recordingTask("work", ledger, () => Effect.sleep(50))
      const outage = FaultyJobStore.fromPlan({
        outages: [{ from: 20, until: 8 * second, error: FaultyJobStore.connectionLost("any") }],
        single: []
      })
      const context = yield* Layer.build(schedulerOn(
        FaultyJobStore.layer(outage).pipe(Layer.provideMerge(MemoryJobStore.layer)),
        {
          tasks: [work],
          jobs: [Job.make(work, { id: "work", payload: null, trigger: Trigger.once(0), onLost: "retry" })],
          node: "live",
          leaseDuration: "5 seconds",
          reapInterval: "1 second",
          // Retries without jitter, every 100 ms from each call's first
          // failure: the reap sent at 1 s and retried through the outage
          // lands at 8 s, before the outcome (first failed at 50 ms) at 8.05 s.
          storeRetry: StoreRetry.policy({ base: "100 millis", cap: "100 millis", jitter: 0, maxElapsed: "1 minute" })
        }
      ))
      const store = Context.get(context, JobStore)
      yield* TestClock.adjust(15 * second)
      assert.deepStrictEqual(ledger.entries.map((e) => [e.fireTime, e.attempt]), [[0, 1]], "ran once, by its own node")
      const [record] = yield* store.history({ jobId: "work" })
      assert.deepStrictEqual([record?.state, record?.attempt, record?.node], ["succeeded", 1, "live"])
    }))
})
