import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Task from "../src/Task.ts"

describe("Task", () => {
  it.effect("a payload that fails its schema is an InvalidPayload naming the path", () =>
    Effect.gen(function*() {
      const task = Task.make(
        "report",
        Schema.Struct({ deviceId: Schema.String, items: Schema.Array(Schema.Struct({ n: Schema.Number })) }),
        () => Effect.void
      )
      yield* task.validate({ deviceId: "d", items: [{ n: 1 }] })
      const error = yield* Effect.flip(task.validate({ deviceId: "d", items: [{ n: 1 }, { n: "2" }] }))
      assert.strictEqual(error._tag, "InvalidPayload")
      assert.strictEqual(error.task, "report")
      assert.strictEqual(error.reason, "schema")
      assert.strictEqual(error.path, "$.items[1].n")
      assert.isUndefined(error.jobId)
      assert.include(error.message, "report")
      assert.include(error.message, "$.items[1].n")
      const root = yield* Effect.flip(task.validate(null))
      assert.strictEqual(root.path, "$")
    }))
})
