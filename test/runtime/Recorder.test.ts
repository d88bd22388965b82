import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as Trigger from "../../src/Trigger.ts"
import { collectEvents, Ledger, memoryScheduler, recordingTask, schedulerOn } from "../support/Harness.ts"
import { hangWhen, loopHealth, memoryWith } from "../support/Runtime.ts"

const second = 1_000

describe("Recorder", () => {
  it.effect("reports progress when it writes outcomes, and is idle between them", () => {
    const ledger = new Ledger()
    const tick = recordingTask("tick", ledger)
    return Effect.gen(function*() {
      yield* TestClock.adjust(5 * second + 500)
      const early = yield* loopHealth("recorder")
      assert.strictEqual(early.lastProgress, 5 * second)
      yield* TestClock.adjust(5 * second)
      const later = yield* loopHealth("recorder")
      assert.strictEqual(later.lastProgress, 10 * second, "moved with the outcomes written")
      assert.strictEqual(later.state, "idle")
      const records = yield* JobStore.use((store) => store.history({ jobId: "tick" }))
      assert.strictEqual(records.length, 10)
      assert.isTrue(records.every((r) => r.state === "succeeded"))
    }).pipe(Effect.provide(memoryScheduler({
      tasks: [tick],
      jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.every("1 second") })]
    })))
  })

  it.effect("an idle recorder is state idle and never stalled, however long it waits", () =>
    Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust("1 hour")
      const recorder = yield* loopHealth("recorder")
      assert.strictEqual(recorder.state, "idle")
      assert.strictEqual(recorder.stalls, 0)
      assert.strictEqual(recorder.restarts, 0)
      assert.strictEqual(recorder.progressAgeMs, 3_600_000)
      assert.strictEqual(recorder.stallAfterMs, 1_000)
      assert.deepStrictEqual(events.filter((e) => e._tag === "LoopStalled"), [])
    }).pipe(Effect.provide(memoryScheduler({ tasks: [recordingTask("tick", new Ledger())], stallAfter: "1 second" }))))

  it.effect("a write that hangs past stallAfter: the recorder is restarted and every outcome is still written, nothing lost", () => {
    const ledger = new Ledger()
    const tick = recordingTask("tick", ledger)
    // The first batch's write never answers.
    const hang = hangWhen((call) => call === 1)
    const store = memoryWith((inner) => ({ finish: (outcomes) => hang(inner.finish(outcomes)) }))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(20 * second + 500)
      // It took the 1 s outcome at 1 s: stalled 1 ms past its 5 s bound.
      const stalls = events.filter((e) => e._tag === "LoopStalled")
      assert.deepStrictEqual(stalls, [{ _tag: "LoopStalled", loop: "recorder", progressAgeMs: 5 * second + 1, at: 6 * second + 1 }])
      const recorder = yield* loopHealth("recorder")
      assert.strictEqual(recorder.stalls, 1)
      assert.strictEqual(recorder.restarts, 1)
      assert.strictEqual(recorder.state, "idle")
      // Every fire ran once and its outcome was written; the leases of the
      // waiting outcomes were renewed meanwhile: none lost, none run twice.
      const expected = Array.from({ length: 20 }, (_, i) => (i + 1) * second)
      assert.deepStrictEqual(ledger.firesOf("tick"), expected)
      const records = yield* JobStore.use((s) => s.history({ jobId: "tick", limit: 100 }))
      assert.deepStrictEqual(records.map((r) => r.fireTime).reverse(), expected)
      assert.deepStrictEqual(records.filter((r) => r.state !== "succeeded"), [])
      const succeeded = events.filter((e) => e._tag === "RunSucceeded").map((e) => e._tag === "RunSucceeded" && e.fireTime)
      assert.sameMembers(succeeded, expected)
      assert.deepStrictEqual(events.filter((e) => e._tag === "RunLost" || e._tag === "RunLeaseLost"), [])
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [tick],
      // Overlap 100: the fires behind the unwritten outcome run (the job is "running" in the store until then).
      jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.every("1 second"), overlap: { max: 100 } })],
      leaseDuration: "3 seconds",
      reapInterval: "1 second",
      stallAfter: "5 seconds"
    })))
  })
})
