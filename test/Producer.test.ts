/**
 * A producer adds jobs and runs none; a worker elsewhere runs them. Both on
 * one real PostgreSQL database, each on its own pool (two "processes").
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as Producer from "../src/Producer.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import { realWait } from "./support/Harness.ts"
import * as Pg from "./support/Pg.ts"

// What producer and worker share: the task's name and payload schema.
const Email = Schema.Struct({ to: Schema.String })

describe("Producer", () => {
  it.live("stores validated jobs without running any; a worker on the same database runs each once", () =>
    Effect.gen(function*() {
      const schema = "producer"
      // The producer process: the task without its handler.
      const sendEmail = Producer.task("sendEmail", Email)
      const producer = Context.get(
        yield* Layer.build(Producer.layer({ tasks: [sendEmail] }).pipe(Layer.provide(Pg.layerStore({ schema })))),
        Producer.Producer
      )
      const inspect = yield* Pg.makeStore({ schema })
      const now = yield* inspect.now
      // As JavaScript or JSON may hand one in: any payload.
      const job = (id: string, payload: Job.Job["payload"] = { to: `${id}@example.com` }): Job.Job => ({
        ...Job.make(sendEmail, { id, payload: { to: "" }, trigger: Trigger.once(now) }),
        payload
      })
      const jobs = Array.from({ length: 20 }, (_, i) => job(`welcome-${i}`))
      assert.strictEqual(yield* producer.addMany(jobs), 20)

      // A payload the task's schema refuses: the batch is refused whole, naming it.
      const bad = [job("late-0"), job("late-1"), job("late-2", { to: 42 }), job("late-3")]
      const rejected = yield* Effect.flip(producer.addMany(bad))
      assert.deepStrictEqual(
        rejected._tag === "BatchRejected" ? [rejected.index, rejected.id, rejected.error._tag] : rejected,
        [2, "late-2", "InvalidPayload"]
      )
      const stored = yield* inspect.list
      assert.sameMembers(stored.map((j) => j.id), jobs.map((j) => j.id))
      // Nothing runs in the producer: due as they are, the jobs have no run.
      assert.deepStrictEqual(yield* inspect.history({}), [])

      // The worker process: the same task with its handler.
      const ran: Array<string> = []
      const worker = Task.make("sendEmail", Email, ({ to }) => Effect.sync(() => ran.push(to)))
      yield* Layer.build(
        Scheduler.layer({ tasks: [worker], shutdownGrace: 0 }).pipe(Layer.provide(Pg.layerStore({ schema })))
      )
      const succeeded = inspect.history({ states: ["succeeded"], limit: 1_000 })
      for (let i = 0; i < 200 && (yield* succeeded).length < jobs.length; i++) yield* realWait(50)
      const records = yield* succeeded
      assert.sameMembers(records.map((record) => record.jobId), jobs.map((j) => j.id))
      assert.sameMembers(ran, jobs.map((j) => `${j.id}@example.com`))
      // Exactly once: no record and no handler call twice, and nothing else ran.
      assert.strictEqual(ran.length, jobs.length)
      assert.strictEqual((yield* inspect.history({ limit: 1_000 })).length, jobs.length)
    }), 30_000)

  it.live("add, update, trigger and remove check as the scheduler does, and reach the store", () =>
    Effect.gen(function*() {
      const schema = "producer_ops"
      const sendEmail = Producer.task("sendEmail", Email)
      const producer = Context.get(
        yield* Layer.build(Producer.layer({ tasks: [sendEmail] }).pipe(Layer.provide(Pg.layerStore({ schema })))),
        Producer.Producer
      )
      const store = Context.get(yield* Layer.build(Pg.layerStore({ schema })), JobStore)
      const now = yield* store.now
      const job = Job.make(sendEmail, { id: "digest", payload: { to: "a@example.com" }, trigger: Trigger.once(now + 3_600_000) })
      yield* producer.add(job)
      assert.strictEqual((yield* Effect.flip(producer.add(job)))._tag, "JobExists")
      const unknownTask = Job.make(Producer.task("other", Schema.Null), { id: "x", payload: null, trigger: Trigger.once(now) })
      assert.strictEqual((yield* Effect.flip(producer.add(unknownTask)))._tag, "UnknownTask")
      yield* producer.update({ ...job, payload: { to: "b@example.com" } })
      const manual = yield* producer.trigger("digest", { to: "c@example.com" })
      assert.isTrue(manual.manual)
      const refused = yield* Effect.flip(producer.trigger("digest", { to: 7 }))
      assert.deepStrictEqual(refused._tag === "InvalidPayload" ? [refused.jobId, refused.path] : refused, ["digest", "$.to"])
      assert.strictEqual((yield* Effect.flip(producer.trigger("nope")))._tag, "JobNotFound")
      const { runs } = yield* store.claim({ node: "n", tasks: ["sendEmail"], limit: 10, leaseMs: 30_000 })
      assert.deepStrictEqual(runs.map((run) => run.payload), [{ to: "c@example.com" }])
      assert.isTrue(yield* producer.remove("digest"))
      assert.isFalse(yield* producer.remove("digest"))
      assert.deepStrictEqual(yield* store.list, [])
    }), 30_000)
})
