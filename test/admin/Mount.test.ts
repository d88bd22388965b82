/**
 * The admin API mounted into the user's own router (`Admin.layer`), beside
 * the user's routes and extra routes (the dashboard's hook), and called with
 * the typed client (`Admin.client`).
 */
import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { FetchHttpClient, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import { Admin, Auth } from "steadfast/admin"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Pg from "../support/Pg.ts"
import { awaitEvent, echo, field, newJob, operatorSecret, request, Target, targetLayer, tokens, viewerSecret } from "./Support.ts"

// The dashboard's way in: routes mounted under the same prefix, using the server's tokens.
const whoami = HttpRouter.add(
  "GET",
  "/whoami",
  Effect.gen(function*() {
    const auth = yield* Auth.Tokens
    const request = yield* HttpServerRequest.HttpServerRequest
    const secret = (request.headers.authorization ?? "").replace(/^Bearer /, "")
    return HttpServerResponse.text(Option.getOrElse(auth.authenticate(secret), () => "nobody"))
  })
)

const userRoutes = HttpRouter.add("GET", "/hello", HttpServerResponse.text("hello from the app"))

// The dashboard's live updates: the events as SSE on a route of its own.
const live = HttpRouter.add("GET", "/live", Admin.eventsResponse)

const app = Layer.mergeAll(userRoutes, Admin.layer({ prefix: "/admin", tokens, routes: Layer.mergeAll(whoami, live) }))

const server = targetLayer("").pipe(
  Layer.provideMerge(HttpRouter.serve(app, { disableLogger: true, disableListenLog: true })),
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provideMerge(Scheduler.layer({ tasks: [echo], shutdownGrace: "200 millis" })),
  Layer.provideMerge(Pg.layerStore({ schema: "admin_mount" }))
)

layer(server, { timeout: 60_000, excludeTestServices: true })("admin API mounted in the user's router", (it) => {
  it.effect("the API answers under its prefix, the user's routes beside it, extra routes under the prefix", () =>
    Effect.gen(function*() {
      const hello = yield* request("GET", "/hello")
      assert.strictEqual(hello.status, 200)
      assert.strictEqual(hello.text, "hello from the app")
      const health = yield* request("GET", "/admin/healthz")
      assert.strictEqual(health.status, 200, health.text)
      assert.strictEqual((yield* request("GET", "/admin/jobs")).status, 401)
      assert.strictEqual((yield* request("GET", "/admin/jobs", { token: viewerSecret })).status, 200)
      assert.strictEqual((yield* request("GET", "/jobs", { token: viewerSecret })).status, 404, "nothing outside the prefix")
      assert.strictEqual((yield* request("GET", "/admin/whoami", { token: viewerSecret })).text, "viewer")
      assert.strictEqual((yield* request("GET", "/admin/whoami", { token: operatorSecret })).text, "operator")
      assert.strictEqual((yield* request("GET", "/admin/whoami", { token: "guess" })).text, "nobody")
    }))

  it.effect("Admin.eventsResponse streams the scheduler's events on a route mounted beside the API, to a token holder only", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* request("GET", "/admin/live")).status, 401)
      assert.strictEqual((yield* request("GET", "/admin/live", { token: "not-a-token" })).status, 401)
      assert.strictEqual((yield* request("POST", "/admin/jobs", { token: operatorSecret, body: newJob("live-1") })).status, 201)
      const message = yield* awaitEvent(
        "/admin/live",
        (m) => field(m, "jobId") === "live-1" && field(m, "_tag") === "RunStarted",
        20_000,
        request("POST", "/admin/jobs/live-1/trigger", { token: operatorSecret })
      )
      assert.isDefined(message, "a RunStarted event for live-1 arrived")
    }))

  it.effect("the typed client adds, reads, pauses and gets typed errors", () =>
    Effect.gen(function*() {
      const { url } = yield* Target
      const admin = yield* Admin.client({ baseUrl: `${url}/admin`, token: operatorSecret })
      const created = yield* admin.jobs.add({
        payload: { id: "client-1", task: "echo", payload: { n: 3 }, trigger: { _tag: "Once", at: Date.now() + 86_400_000 } }
      })
      assert.strictEqual(created.id, "client-1")
      const paused = yield* admin.jobs.pause({ params: { id: "client-1" } })
      assert.isTrue(paused.paused)
      const page = yield* admin.jobs.list({ query: { paused: true } })
      assert.deepStrictEqual(page.jobs.map((job) => job.id), ["client-1"])
      const detail = yield* admin.jobs.get({ params: { id: "client-1" }, query: { fires: 1 } })
      assert.strictEqual(detail.nextFires.length, 1)
      const missing = yield* Effect.flip(admin.jobs.get({ params: { id: "nope" }, query: {} }))
      assert.strictEqual(missing._tag, "JobNotFound")
      const exists = yield* Effect.flip(admin.jobs.add({
        payload: { id: "client-1", task: "echo", payload: { n: 3 }, trigger: { _tag: "Once", at: Date.now() + 86_400_000 } }
      }))
      assert.strictEqual(exists._tag, "JobExists")
      const health = yield* admin.healthz()
      assert.strictEqual(health.node, (yield* (yield* Scheduler.Scheduler).health).node)

      const viewer = yield* Admin.client({ baseUrl: `${url}/admin`, token: viewerSecret })
      const forbidden = yield* Effect.flip(viewer.jobs.remove({ params: { id: "client-1" } }))
      assert.strictEqual(forbidden._tag, "Forbidden")
      const stranger = yield* Admin.client({ baseUrl: `${url}/admin`, token: "guess" })
      const unauthorized = yield* Effect.flip(stranger.jobs.list({ query: {} }))
      assert.strictEqual(unauthorized._tag, "Unauthorized")
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})
