/**
 * A change through the admin API answers within its deadline whatever the
 * store does: here a store of the user's own whose writes never answer
 * (no deadline of its own). 503 `StoreUnavailable`, reason `Deadline`,
 * saying that the change may have been made; reads and the scheduler go on.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { createServer } from "node:http"
import { Admin } from "steadfast/admin"
import { WriteDeadline } from "../../src/admin/internal/deadlines.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Pg from "../support/Pg.ts"
import { asOperator, asViewer, echo, field, newJob, targetLayer, tokens } from "./Support.ts"

let hang = false
const hangingWrites = Layer.effect(
  JobStore,
  Effect.map(Effect.gen(function*() { return yield* JobStore }), (inner) => JobStore.of({
    ...inner,
    setPaused: (id, paused) => hang ? Effect.never : inner.setPaused(id, paused),
    triggerNow: (id, payload) => hang ? Effect.never : inner.triggerNow(id, payload),
    remove: (id) => hang ? Effect.never : inner.remove(id)
  }))
)

const server = targetLayer("").pipe(
  Layer.provideMerge(
    HttpRouter.serve(Admin.layer({ tokens }), { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provide(Layer.succeed(WriteDeadline, 1_500))
    )
  ),
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provideMerge(Scheduler.layer({ tasks: [echo], pollInterval: "100 millis", shutdownGrace: "100 millis" })),
  Layer.provideMerge(hangingWrites.pipe(Layer.provide(Pg.layerStore({ schema: "admin_deadlines" }))))
)

layer(server, { timeout: 60_000, excludeTestServices: true })("admin API: deadlines", (it) => {
  it.effect("a change the store never answers is 503 StoreUnavailable (Deadline) at its deadline, saying it may have been made", () =>
    Effect.gen(function*() {
      yield* (yield* Scheduler.Scheduler).awaitReady("20 seconds")
      assert.strictEqual((yield* asOperator("POST", "/jobs", newJob("slow-1"))).status, 201)
      hang = true
      try {
        for (const [method, path, operation] of [
          ["POST", "/jobs/slow-1/pause", "pause"],
          ["POST", "/jobs/slow-1/trigger", "trigger"],
          ["DELETE", "/jobs/slow-1", "remove"]
        ] as const) {
          const reply = yield* asOperator(method, path)
          assert.strictEqual(reply.status, 503, `${path}: ${reply.text}`)
          assert.strictEqual(field(reply.body, "_tag"), "StoreUnavailable")
          assert.strictEqual(field(reply.body, "operation"), operation)
          assert.strictEqual(field(reply.body, "reason"), "Deadline")
          assert.match(String(field(reply.body, "message")), /within 1500 ms: the change may have been made or not/)
        }
        // Reads go on meanwhile.
        const job = yield* asViewer("GET", "/jobs/slow-1")
        assert.strictEqual(job.status, 200, job.text)
      } finally {
        hang = false
      }
      const paused = yield* asOperator("POST", "/jobs/slow-1/pause")
      assert.strictEqual(paused.status, 200, paused.text)
    }))
})
