import { assert, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { HttpApi } from "effect/http-api"
import * as Scheduler from "../../src/Scheduler.ts"
import * as FaultyJobStore from "../../src/testing/FaultyJobStore.ts"
import { asOperator, asViewer, awaitEvent, field, newJob, operatorSecret, request, serverLayer, Target, viewerSecret } from "./Support.ts"
import { AdminApi } from "../../src/admin/AdminApi.ts"

// Store reads fail (not retryable, so at once) while this is on.
let storeBroken = false
// `nodes` fails retryably (so the store guard retries it for half a minute) while this is on.
let nodesFlaky = false
const readsFail: FaultyJobStore.Plan = (operation) =>
  storeBroken && ["get", "list", "listJobs", "history", "historyPage"].includes(operation)
    ? { _tag: "Fail", error: FaultyJobStore.fatal(operation) }
    : nodesFlaky && operation === "nodes"
    ? { _tag: "Fail", error: FaultyJobStore.connectionLost(operation) }
    : undefined

layer(serverLayer({ schema: "admin_system", plan: readsFail }), { timeout: 60_000, excludeTestServices: true })("admin API: system", (it) => {
  it.effect("/healthz and /readyz answer without a token: 200 with the health once ready", () =>
    Effect.gen(function*() {
      yield* (yield* Scheduler.Scheduler).awaitReady("20 seconds")
      const health = yield* request("GET", "/healthz")
      assert.strictEqual(health.status, 200, health.text)
      assert.strictEqual(field(health.body, "ready"), true)
      const loops = field(health.body, "loops")
      assert.isTrue(Array.isArray(loops) && loops.some((loop) => field(loop, "name") === "dispatcher"))
      const ready = yield* request("GET", "/readyz")
      assert.strictEqual(ready.status, 200, ready.text)
      assert.deepStrictEqual(ready.body, { ready: true, registered: true, store: true })
    }))

  it.effect("while the store fails: /readyz is 503 Unready and reads are 503 StoreUnavailable, typed; then both recover", () =>
    Effect.gen(function*() {
      storeBroken = true
      const ready = yield* request("GET", "/readyz")
      const jobs = yield* asViewer("GET", "/jobs")
      const job = yield* asViewer("GET", "/jobs/some-job")
      storeBroken = false
      assert.strictEqual(ready.status, 503, ready.text)
      assert.deepInclude(ready.body, { _tag: "Unready", registered: true, store: false })
      assert.strictEqual(jobs.status, 503, jobs.text)
      assert.deepInclude(jobs.body, { _tag: "StoreUnavailable", retryable: false })
      assert.strictEqual(job.status, 503)
      assert.notInclude(jobs.text, "postgres://", "no connection string in the error")
      const deadline = Date.now() + 15_000
      let again = yield* request("GET", "/readyz")
      while (again.status !== 200 && Date.now() < deadline) {
        yield* Effect.sleep(100)
        again = yield* request("GET", "/readyz")
      }
      assert.strictEqual(again.status, 200, again.text)
    }))

  it.effect("a read the store keeps failing (and the guard retries) answers 503 at its 8 s deadline, not after the retries", () =>
    Effect.gen(function*() {
      nodesFlaky = true
      const started = Date.now()
      const nodes = yield* asViewer("GET", "/nodes")
      const tookMs = Date.now() - started
      nodesFlaky = false
      assert.strictEqual(nodes.status, 503, nodes.text)
      assert.deepInclude(nodes.body, { _tag: "StoreUnavailable", operation: "nodes", reason: "Deadline", retryable: true })
      // A deadline, not a benchmark: well under the guard's 30 s of retries.
      assert.isBelow(tookMs, 20_000)
    }))

  it.effect("/metrics is Prometheus text for a viewer", () =>
    Effect.gen(function*() {
      const metrics = yield* asViewer("GET", "/metrics")
      assert.strictEqual(metrics.status, 200)
      assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain/)
      // The failures of the test above were counted.
      assert.match(metrics.text, /^steadfast_store_errors_total\{operation="get",[^}]*\} [1-9]/m)
      for (const line of metrics.text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
        assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+$/, line)
      }
    }))

  it.effect("/openapi.json parses and lists every route of the API", () =>
    Effect.gen(function*() {
      const reply = yield* asViewer("GET", "/openapi.json")
      assert.strictEqual(reply.status, 200)
      const paths = field(reply.body, "paths")
      const expected: Array<string> = []
      HttpApi.reflect(AdminApi, {
        onGroup: () => {},
        onEndpoint: ({ endpoint }) => {
          expected.push(`${endpoint.method.toLowerCase()} ${endpoint.path.replace(/:(\w+)/g, "{$1}")}`)
        }
      })
      assert.strictEqual(expected.length, 19)
      for (const route of expected) {
        const [method, path] = route.split(" ")
        assert.isDefined(field(field(paths, path!), method!), route)
      }
      const schemes = field(field(reply.body, "components"), "securitySchemes")
      assert.isDefined(field(schemes, "bearer"), "the bearer scheme is documented")
      assert.deepStrictEqual(field(field(field(paths, "/jobs"), "get"), "security"), [{ bearer: [] }])
      assert.deepStrictEqual(field(field(field(paths, "/healthz"), "get"), "security"), [{}, { bearer: [] }], "a probe's token is optional")
    }))

  it.effect("/events delivers the events of a run as JSON, live", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* asOperator("POST", "/jobs", newJob("sse-1"))).status, 201)
      // Each poke runs the job once more: the stream may start listening
      // after a given run, never after all of them.
      const message = yield* awaitEvent(
        "/events",
        (m) => field(m, "jobId") === "sse-1" && field(m, "_tag") === "RunSucceeded",
        20_000,
        asOperator("POST", "/jobs/sse-1/trigger", {})
      )
      assert.isDefined(message, "a RunSucceeded event for sse-1 arrived")
      assert.isNumber(field(message, "fireTime"))
      assert.isString(field(message, "runId"))
    }))

  it.effect("tokens rotate: both operator tokens act; no reply ever carries a secret", () =>
    Effect.gen(function*() {
      const first = yield* request("POST", "/jobs", { token: operatorSecret, body: newJob("rot-1") })
      const second = yield* request("POST", "/jobs", { token: "operator-secret-rotated-42", body: newJob("rot-2") })
      assert.deepStrictEqual([first.status, second.status], [201, 201])
      const forbidden = yield* asViewer("DELETE", "/jobs/rot-1")
      assert.strictEqual(forbidden.status, 403)
      assert.include(String(field(forbidden.body, "message")), "dashboards", "names the token")
      for (const reply of [first, second, forbidden]) {
        for (const secret of [operatorSecret, viewerSecret, "operator-secret-rotated-42"]) assert.notInclude(reply.text, secret)
      }
      assert.isTrue(Option.isSome(yield* (yield* Scheduler.Scheduler).get("rot-1")))
    }))
})

layer(serverLayer({ schema: "admin_closed", publicProbes: false, prefix: "/ops" }), { timeout: 60_000, excludeTestServices: true })(
  "admin API: closed probes under a prefix",
  (it) => {
    it.effect("with publicProbes false the probes need a token, and everything lives under the prefix", () =>
      Effect.gen(function*() {
        const { url } = yield* Target
        assert.isTrue(url.endsWith("/ops"))
        const anonymous = yield* request("GET", "/healthz")
        assert.strictEqual(anonymous.status, 401)
        assert.strictEqual(field(anonymous.body, "_tag"), "Unauthorized")
        assert.strictEqual((yield* asViewer("GET", "/healthz")).status, 200)
        const outside = yield* Effect.promise(() => fetch(url.replace(/\/ops$/, "/jobs"), { headers: { authorization: `Bearer ${viewerSecret}` } }))
        assert.strictEqual(outside.status, 404)
        assert.strictEqual((yield* asViewer("GET", "/jobs")).status, 200)
      }))
  }
)
