/**
 * `/healthz` answers 503 `Unhealthy` while a loop of this process is
 * stalled: here the dispatcher, whose claims hang (a statement that never
 * answers) while a switch is on.
 * (`nextWake` too: the dispatcher asks it before it claims.)
 */
import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { createServer } from "node:http"
import { Admin } from "steadfast/admin"
import { JobStore } from "../../src/JobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Pg from "../support/Pg.ts"
import { echo, field, request, targetLayer, tokens, viewerSecret } from "./Support.ts"

let hang = false
const hangingClaims = Layer.effect(
  JobStore,
  Effect.map(Effect.gen(function*() { return yield* JobStore }), (inner) => JobStore.of({
    ...inner,
    claim: (claim) => hang ? Effect.never : inner.claim(claim),
    nextWake: (tasks, aheadMs, share) => hang ? Effect.never : inner.nextWake(tasks, aheadMs, share)
  }))
)

const server = targetLayer("").pipe(
  Layer.provideMerge(HttpRouter.serve(Admin.layer({ tokens }), { disableLogger: true, disableListenLog: true })),
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provideMerge(Scheduler.layer({ tasks: [echo], pollInterval: "100 millis", stallAfter: "1 second", shutdownGrace: "100 millis" })),
  Layer.provideMerge(hangingClaims.pipe(Layer.provide(Pg.layerStore({ schema: "admin_health" }))))
)

layer(server, { timeout: 60_000, excludeTestServices: true })("admin API: /healthz", (it) => {
  it.effect("503 Unhealthy naming the stalled loop while the dispatcher is stuck, 200 once it moves again", () =>
    Effect.gen(function*() {
      yield* (yield* Scheduler.Scheduler).awaitReady("20 seconds")
      assert.strictEqual((yield* request("GET", "/healthz")).status, 200)
      hang = true
      const deadline = Date.now() + 20_000
      let reply = yield* request("GET", "/healthz")
      while (reply.status !== 503 && Date.now() < deadline) {
        yield* Effect.sleep(100)
        reply = yield* request("GET", "/healthz")
      }
      hang = false
      assert.strictEqual(reply.status, 503, reply.text)
      assert.strictEqual(field(reply.body, "_tag"), "Unhealthy")
      // Under load another loop may stall too; the dispatcher must be named.
      const stalled = field(reply.body, "stalled")
      assert.isTrue(Array.isArray(stalled) && stalled.includes("dispatcher"), reply.text)
      assert.strictEqual(field(field(reply.body, "health"), "node"), (yield* (yield* Scheduler.Scheduler).health).node)
      // The loop's error text is for token holders; an anonymous probe sees that there is one.
      const dispatcherError = (body: unknown) => {
        const loops = field(field(body, "health"), "loops")
        return Array.isArray(loops) ? field(loops.find((loop) => field(loop, "name") === "dispatcher"), "lastError") : undefined
      }
      assert.strictEqual(dispatcherError(reply.body), "(withheld: ask with a token)", reply.text)
      const told = yield* request("GET", "/healthz", { token: viewerSecret })
      assert.match(String(dispatcherError(told.body)), /^stalled/, told.text)
      let healed = yield* request("GET", "/healthz")
      const healDeadline = Date.now() + 20_000
      while (healed.status !== 200 && Date.now() < healDeadline) {
        yield* Effect.sleep(100)
        healed = yield* request("GET", "/healthz")
      }
      assert.strictEqual(healed.status, 200, healed.text)
    }))
})
