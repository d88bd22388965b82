/**
 * What the contract suite cannot show of `PgJobStore.addMany`: an empty
 * batch asks nothing of the database, and a batch larger than one statement
 * (`addMany.chunkSize` rows) is still all or nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Queue, Redacted, Schema } from "effect"
import { PgClient } from "@effect/sql-pg"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import { chunkSize } from "../src/internal/pg/addMany.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import * as Pg from "./support/Pg.ts"

const task = Task.make("bulk", Schema.Struct({ n: Schema.Number }), () => Effect.void)

describe("PgJobStore.addMany", () => {
  it.live("an empty batch is 0 without asking the database (none listens here)", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(EmbeddedPg.freePort)
      const store = Context.get(
        yield* Layer.build(PgJobStore.layer().pipe(
          Layer.provide(PgClient.layer({ url: Redacted.make(`postgres://postgres@127.0.0.1:${port}/none`), connectTimeout: "1 second" }))
        )),
        JobStore
      )
      assert.strictEqual(yield* store.addMany([]), 0)
      // The same store does ask it for anything else.
      const error = yield* Effect.flip(store.now)
      assert.strictEqual(error._tag, "StoreError")
    }), 30_000)

  it.live("a batch of more rows than one statement takes is all or nothing, and notifies once", () =>
    Effect.gen(function*() {
      const store = yield* Pg.makeStore({ schema: "bulk" })
      const now = yield* store.now
      const count = chunkSize * 2 + 1
      const jobs = (prefix: string) =>
        Array.from({ length: count }, (_, n) => Job.make(task, { id: `${prefix}-${n}`, payload: { n }, trigger: Trigger.once(now + 3_600_000) }))
      // An id stored already, in the last chunk: the chunks before it are rolled back.
      const failing = jobs("first")
      const last = failing[count - 1]!
      yield* store.add(last)
      const exists = yield* Effect.flip(store.addMany(failing))
      assert.deepStrictEqual(exists._tag === "JobExists" ? [exists.id, exists.index] : exists, [last.id, count - 1])
      assert.isTrue(Option.isNone(yield* store.get(failing[0]!.id)))
      assert.strictEqual((yield* store.list).length, 1)

      // Every notification on the store's channel from here on, in commit order.
      const client = yield* Pg.makeClient()
      const channel = "steadfast:bulk:"
      const notifications = yield* client.listen(channel)
      const stored = jobs("second")
      assert.strictEqual(yield* store.addMany(stored), count)
      // A notification sent after the batch committed arrives after the batch's own.
      yield* client.notify(channel, "sentinel")
      const received: Array<string> = []
      for (let payload = ""; payload !== "sentinel";) {
        payload = (yield* Effect.timeout(Queue.take(notifications), "10 seconds")).payload
        received.push(payload)
      }
      assert.deepStrictEqual(received, ["add", "sentinel"])
      const listed = yield* store.list
      assert.strictEqual(listed.length, count + 1)
      const sample = Option.getOrThrow(yield* store.get(stored[chunkSize]!.id))
      assert.deepStrictEqual(sample.payload, { n: chunkSize })
      assert.strictEqual(sample.nextFire, now + 3_600_000)
    }), 60_000)
})
