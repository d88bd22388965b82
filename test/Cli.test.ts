import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import { Command } from "effect/cli"
import * as Cli from "../src/cli/Cli.ts"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as MemoryJobStore from "../src/MemoryJobStore.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"

const run = Command.runWith(Cli.command, { version: "test" })
const task = Task.make("syncDevice", Schema.Struct({ deviceId: Schema.String }), () => Effect.void)

const withJob = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const store = yield* JobStore
    yield* store.add(Job.make(task, { id: "device-7", payload: { deviceId: "7" }, trigger: Trigger.every("1 hour") }))
    return yield* body
  }).pipe(Effect.provide(Layer.merge(NodeServices.layer, MemoryJobStore.layer)))

describe("Cli", () => {
  it.effect("pause, resume, trigger and remove change the stored schedules", () =>
    withJob(Effect.gen(function*() {
      const store = yield* JobStore
      yield* run(["pause", "device-7"])
      assert.isTrue(Option.getOrThrow(yield* store.get("device-7")).paused)
      yield* run(["resume", "device-7"])
      assert.isFalse(Option.getOrThrow(yield* store.get("device-7")).paused)
      yield* run(["trigger", "device-7", "--payload", "{\"deviceId\":\"99\"}"])
      const [manual] = yield* store.history({ jobId: "device-7" })
      assert.isTrue(manual?.manual)
      const { runs } = yield* store.claim({ node: "n", tasks: ["syncDevice"], limit: 10, leaseMs: 1_000 })
      assert.deepStrictEqual(runs.map((r) => r.payload), [{ deviceId: "99" }])
      yield* run(["remove", "device-7"])
      assert.isTrue(Option.isNone(yield* store.get("device-7")))
    })))

  it.effect("an unknown job is a typed error and changes nothing", () =>
    withJob(Effect.gen(function*() {
      const store = yield* JobStore
      const error = yield* Effect.flip(run(["pause", "nope"]))
      assert.strictEqual(error._tag, "JobNotFound")
      assert.strictEqual((yield* store.list).length, 1)
      const bad = yield* Effect.flip(run(["trigger", "device-7", "--payload", "{not json"]))
      assert.notStrictEqual(bad._tag, "JobNotFound")
      assert.strictEqual((yield* store.history({ jobId: "device-7" })).length, 0)
    })))
})
