import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as Trigger from "../../src/Trigger.ts"
import { Ledger, memoryScheduler, recordingTask } from "../support/Harness.ts"
import { loopHealth } from "../support/Runtime.ts"

const second = 1_000

// Two jobs firing every second at x.5 s (so no fire shares an instant with the janitor's pass).
const twoJobs = (ledger: Ledger) => {
  const tick = recordingTask("tick", ledger)
  const jobs = ["a", "b"].map((id) =>
    Job.make(tick, { id, payload: null, trigger: Trigger.every("1 second", { anchor: 500 }) })
  )
  return { tasks: [tick], jobs, janitorInterval: 10 * second }
}

const fireTimes = (jobId: string) =>
  Effect.map(JobStore.use((store) => store.history({ jobId, limit: 100 })), (records) => records.map((r) => r.fireTime))

describe("Janitor", () => {
  it.effect("prunes beyond maxPerJob records of each job, every interval", () => {
    const ledger = new Ledger()
    return Effect.gen(function*() {
      yield* TestClock.adjust(9 * second + 700)
      assert.strictEqual((yield* fireTimes("a")).length, 10, "nothing pruned before its first pass")
      yield* TestClock.adjust(10 * second + 500)
      // The pass at 20 s kept each job's 5 newest records.
      for (const id of ["a", "b"]) assert.deepStrictEqual(yield* fireTimes(id), [19_500, 18_500, 17_500, 16_500, 15_500])
      assert.strictEqual(ledger.firesOf("a").length, 20, "pruning touched history only")
    }).pipe(Effect.provide(memoryScheduler({ ...twoJobs(ledger), retention: { maxPerJob: 5 } })))
  })

  it.effect("prunes records older than maxAgeMs by the store's clock", () => {
    const ledger = new Ledger()
    return Effect.gen(function*() {
      yield* TestClock.adjust(20 * second + 200)
      // At 20 s: records that ended before 17 s are gone.
      for (const id of ["a", "b"]) assert.deepStrictEqual(yield* fireTimes(id), [19_500, 18_500, 17_500])
    }).pipe(Effect.provide(memoryScheduler({ ...twoJobs(ledger), retention: { maxAgeMs: 3 * second } })))
  })

  it.effect("reports progress after every pass, and is watched with its interval plus stallAfter", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust(35 * second)
      const janitor = yield* loopHealth("janitor")
      assert.strictEqual(janitor.lastProgress, 30 * second)
      assert.strictEqual(janitor.progressAgeMs, 5 * second)
      assert.strictEqual(janitor.stallAfterMs, 10 * second + 2 * second)
      assert.deepStrictEqual([janitor.state, janitor.restarts, janitor.stalls], ["running", 0, 0])
    }).pipe(Effect.provide(memoryScheduler({ ...twoJobs(new Ledger()), stallAfter: "2 seconds" }))))
})
