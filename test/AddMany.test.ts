/**
 * `Scheduler.addMany`: every job checked as `add` checks one before the
 * store is asked, then one store call, all or nothing; each job stored runs
 * once. On the in-memory store, driven by `TestClock`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import * as MemoryJobStore from "../src/MemoryJobStore.ts"
import { Ledger, memoryScheduler, schedulerOn } from "./support/Harness.ts"

const minute = 60_000

const setup = () => {
  const ledger = new Ledger()
  const email = Task.make("email", Schema.Struct({ to: Schema.String }), (_, context) =>
    Effect.gen(function*() {
      const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      ledger.entries.push({ jobId: context.jobId, fireTime: context.fireTime, at, attempt: context.attempt })
    }))
  const other = Task.make("other", Schema.Null, () => Effect.void)
  const emailJob = (id: string, at: number) =>
    Job.make(email, { id, payload: { to: `${id}@example.com` }, trigger: Trigger.once(at) })
  return { ledger, email, other, emailJob }
}

// The in-memory store, counting the batches it is handed.
const countingStore = (calls: { addMany: number }) =>
  Layer.effect(
    JobStore,
    Effect.map(MemoryJobStore.make, (store) =>
      JobStore.of({
        ...store,
        addMany: (jobs) =>
          Effect.suspend(() => {
            calls.addMany++
            return store.addMany(jobs)
          })
      }))
  )

describe("Scheduler.addMany", () => {
  it.effect("stores every job of a valid batch with one store call, and each runs once at its instant", () => {
    const { ledger, email, emailJob } = setup()
    const calls = { addMany: 0 }
    return Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const jobs = Array.from({ length: 50 }, (_, i) => emailJob(`welcome-${i}`, (i + 1) * minute))
      assert.strictEqual(yield* scheduler.addMany(jobs), 50)
      assert.strictEqual(calls.addMany, 1)
      // An empty batch asks nothing of the store.
      assert.strictEqual(yield* scheduler.addMany([]), 0)
      assert.strictEqual(calls.addMany, 1)
      yield* TestClock.adjust(60 * minute)
      for (const [i, job] of jobs.entries()) assert.deepStrictEqual(ledger.firesOf(job.id), [(i + 1) * minute], job.id)
      const succeeded = yield* scheduler.history({ states: ["succeeded"], limit: 1_000 })
      assert.strictEqual(succeeded.length, 50)
    }).pipe(Effect.provide(schedulerOn(countingStore(calls), { tasks: [email] })))
  })

  it.effect("a job that fails validation rejects the whole batch with its index and id, before the store is asked", () => {
    const { email, other, emailJob } = setup()
    const calls = { addMany: 0 }
    return Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const store = yield* JobStore
      const good = [emailJob("a", minute), emailJob("b", minute)]
      // A payload its task's schema refuses, at index 2.
      const badPayload = { ...emailJob("c", minute), payload: { to: 42 } }
      const rejected = yield* Effect.flip(scheduler.addMany([...good, badPayload, emailJob("d", minute)]))
      assert.strictEqual(rejected._tag, "BatchRejected")
      if (rejected._tag !== "BatchRejected") return
      assert.deepStrictEqual([rejected.index, rejected.id, rejected.error._tag], [2, "c", "InvalidPayload"])
      // A task this process does not have, at index 1.
      const unknown = Job.make(other, { id: "x", payload: null, trigger: Trigger.once(minute) })
      const second = yield* Effect.flip(scheduler.addMany([emailJob("e", minute), unknown]))
      assert.deepStrictEqual(
        second._tag === "BatchRejected" ? [second.index, second.id, second.error._tag] : second,
        [1, "x", "UnknownTask"]
      )
      // An invalid trigger, at index 0.
      const badTrigger = { ...emailJob("f", minute), trigger: Trigger.cron("61 * * * *") }
      const third = yield* Effect.flip(scheduler.addMany([badTrigger]))
      assert.deepStrictEqual(
        third._tag === "BatchRejected" ? [third.index, third.id, third.error._tag] : third,
        [0, "f", "InvalidTrigger"]
      )
      assert.deepStrictEqual(yield* store.list, [])
      assert.strictEqual(calls.addMany, 0)
    }).pipe(Effect.provide(schedulerOn(countingStore(calls), { tasks: [email] })))
  })

  it.effect("an id stored already, or twice in the batch, stores nothing and is named with its index", () => {
    const { ledger, email, emailJob } = setup()
    return Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      yield* scheduler.add(emailJob("existing", minute))
      const exists = yield* Effect.flip(scheduler.addMany([emailJob("a", minute), emailJob("existing", minute)]))
      assert.deepStrictEqual(exists._tag === "JobExists" ? [exists.id, exists.index] : exists, ["existing", 1])
      const twice = yield* Effect.flip(
        scheduler.addMany([emailJob("b", minute), emailJob("c", minute), emailJob("b", 2 * minute)])
      )
      assert.deepStrictEqual(twice._tag === "JobExists" ? [twice.id, twice.index] : twice, ["b", 2])
      yield* TestClock.adjust(10 * minute)
      assert.deepStrictEqual((yield* scheduler.list).map((job) => job.id), ["existing"])
      assert.deepStrictEqual(ledger.entries.map((entry) => entry.jobId), ["existing"])
    }).pipe(Effect.provide(memoryScheduler({ tasks: [email] })))
  })
})
