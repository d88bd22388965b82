/**
 * The role matrix, generated from the API definition: every endpoint of
 * `AdminApi`, called without a token, with a malformed header, with an
 * unknown token, and (on operator routes) with a viewer token, is refused
 * with 401 or 403 and its typed body, and the store is exactly as before.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { HttpApi } from "effect/http-api"
import { Auth } from "steadfast/admin"
import { AdminApi } from "../../src/admin/AdminApi.ts"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as Task from "../../src/Task.ts"
import * as Trigger from "../../src/Trigger.ts"
import { echo, field, newJob, operatorSecret, request, serverLayer, viewerSecret } from "./Support.ts"

interface Route {
  readonly key: string
  readonly method: string
  readonly path: string
  readonly access: Auth.AccessLevel
}

const routes: Array<Route> = []
HttpApi.reflect(AdminApi, {
  onGroup: () => {},
  onEndpoint: ({ endpoint, group, mergedAnnotations }) => {
    routes.push({
      key: `${group.identifier}.${endpoint.identifier}`,
      method: endpoint.method,
      path: endpoint.path,
      access: Context.get(mergedAnnotations, Auth.Access)
    })
  }
})

const far = Date.now() + 365 * 86_400_000
// A task no process of this test registers: its pending run is never claimed.
const remote = Task.make("remote", Schema.Null, () => Effect.void)

/**
 * What each endpoint is called with: a path parameter that names something
 * that exists and a body that would act, so that a request let through by
 * mistake changes the store. Every endpoint of the API must be here.
 */
const samples = (runId: string): Record<string, { readonly id?: string; readonly body?: unknown }> => ({
  "jobs.list": {},
  "jobs.get": { id: "matrix-active" },
  "jobs.add": { body: newJob("matrix-new") },
  "jobs.update": { id: "matrix-active", body: { payload: { n: 99 } } },
  "jobs.pause": { id: "matrix-active" },
  "jobs.resume": { id: "matrix-paused" },
  "jobs.trigger": { id: "matrix-active", body: { payload: { n: 5 } } },
  "jobs.remove": { id: "matrix-active" },
  "jobs.pauseMany": { body: { all: true } },
  "jobs.resumeMany": { body: { all: true } },
  "runs.list": {},
  "runs.get": { id: runId },
  "runs.cancel": { id: runId },
  "nodes.list": {},
  "system.healthz": {},
  "system.readyz": {},
  "system.metrics": {},
  "system.openapi": {},
  "system.events": {}
})

const pathOf = (route: Route, id: string | undefined) =>
  route.path.replace(":id", encodeURIComponent(id ?? "missing-id"))

const snapshot = Effect.gen(function*() {
  const store = yield* JobStore
  const jobs = [...(yield* store.list)].sort((a, b) => a.id < b.id ? -1 : 1)
  const runs = yield* store.history({ limit: 100_000 })
  return { jobs, runs }
})

const fixtures = Layer.effectDiscard(Effect.gen(function*() {
  const store = yield* JobStore
  yield* store.add(Job.make(echo, { id: "matrix-active", payload: { n: 1 }, trigger: Trigger.once(far) }))
  yield* store.add(Job.make(echo, { id: "matrix-paused", payload: { n: 2 }, trigger: Trigger.once(far), paused: true }))
  yield* store.add(Job.make(remote, { id: "matrix-remote", payload: null, trigger: Trigger.once(far) }))
  yield* store.triggerNow("matrix-remote")
}))

layer(fixtures.pipe(Layer.provideMerge(serverLayer({ schema: "admin_roles", tasks: [echo] }))), {
  timeout: 60_000,
  excludeTestServices: true
})("admin API: the role matrix", (it) => {
  it.effect("every route refuses a missing, malformed or unknown token (401) and a viewer on an operator route (403), changing nothing", () =>
    Effect.gen(function*() {
      const store = yield* JobStore
      const [pending] = yield* store.history({ jobId: "matrix-remote" })
      assert.isDefined(pending)
      const sample = samples(pending!.id)
      assert.deepStrictEqual(routes.map((route) => route.key).sort(), Object.keys(sample).sort(), "a sample for every endpoint")
      assert.strictEqual(routes.filter((route) => route.access === "operator").length, 9)

      const before = yield* snapshot
      let requests = 0
      for (const route of routes) {
        const { id, body } = sample[route.key]!
        const path = pathOf(route, id)
        const attempts: ReadonlyArray<{ readonly label: string; readonly headers: Record<string, string> }> = [
          { label: "no token", headers: {} },
          { label: "malformed header", headers: { authorization: `Basic ${Buffer.from(`ops:${operatorSecret}`).toString("base64")}` } },
          { label: "unknown token", headers: { authorization: `Bearer ${operatorSecret}x` } },
          { label: "empty bearer", headers: { authorization: "Bearer " } }
        ]
        for (const attempt of attempts) {
          const reply = yield* request(route.method, path, { body, headers: attempt.headers })
          requests++
          if (route.access === "public") {
            assert.notInclude([401, 403], reply.status, `${route.key} (${attempt.label}) is public`)
          } else {
            assert.strictEqual(reply.status, 401, `${route.key} (${attempt.label})`)
            assert.strictEqual(field(reply.body, "_tag"), "Unauthorized", `${route.key} (${attempt.label})`)
          }
        }
        if (route.access === "operator") {
          const reply = yield* request(route.method, path, { body, token: viewerSecret })
          requests++
          assert.strictEqual(reply.status, 403, route.key)
          assert.deepInclude(reply.body, { _tag: "Forbidden", role: "viewer", requires: "operator" }, route.key)
        }
      }
      const after = yield* snapshot
      assert.deepStrictEqual(after, before, "nothing changed in the store")
      const operatorRoutes = routes.filter((route) => route.access === "operator").length
      const publicRoutes = routes.filter((route) => route.access === "public").length
      assert.strictEqual(requests, routes.length * 4 + operatorRoutes)
      console.log(
        `role matrix: ${requests} generated requests over ${routes.length} routes ` +
          `(${operatorRoutes} operator, ${routes.length - operatorRoutes - publicRoutes} viewer, ${publicRoutes} public)`
      )
    }))

  it.effect("the same requests with an operator token act (so the matrix's requests would have changed the store)", () =>
    Effect.gen(function*() {
      const store = yield* JobStore
      const [pending] = yield* store.history({ jobId: "matrix-remote" })
      const sample = samples(pending!.id)
      const expected: Record<string, number> = {
        "jobs.add": 201,
        "jobs.update": 200,
        "jobs.pause": 200,
        "jobs.resume": 200,
        "jobs.trigger": 202,
        "jobs.pauseMany": 200,
        "jobs.resumeMany": 200,
        "runs.cancel": 200,
        "jobs.remove": 204
      }
      const operatorRoutes = routes.filter((route) => route.access === "operator")
      assert.deepStrictEqual(operatorRoutes.map((route) => route.key).sort(), Object.keys(expected).sort())
      for (const key of Object.keys(expected)) {
        const route = operatorRoutes.find((candidate) => candidate.key === key)!
        const { id, body } = sample[key]!
        const reply = yield* request(route.method, pathOf(route, id), { body, token: operatorSecret })
        assert.strictEqual(reply.status, expected[key], `${key}: ${reply.text}`)
      }
      assert.isTrue(Option.isSome(yield* store.get("matrix-new")))
      assert.isTrue(Option.isNone(yield* store.get("matrix-active")))
    }))
})
