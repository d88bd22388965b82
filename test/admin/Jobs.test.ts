import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { BulkDeadline } from "../../src/admin/internal/deadlines.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import { asOperator, asViewer, echoed, field, newJob, request, serverLayer } from "./Support.ts"

const ids = (body: unknown): ReadonlyArray<unknown> => {
  const jobs = field(body, "jobs")
  return Array.isArray(jobs) ? jobs.map((job) => field(job, "id")) : []
}

layer(serverLayer({ schema: "admin_jobs" }), { timeout: 60_000, excludeTestServices: true })("admin API: jobs", (it) => {
  it.effect("add answers 201 with the stored job; the same id again is 409 JobExists", () =>
    Effect.gen(function*() {
      const created = yield* asOperator("POST", "/jobs", newJob("add-1"))
      assert.strictEqual(created.status, 201, created.text)
      assert.strictEqual(field(created.body, "id"), "add-1")
      assert.strictEqual(field(created.body, "source"), "dynamic")
      assert.deepStrictEqual(field(created.body, "overlap"), { max: 1, onLimit: "skip" })
      assert.strictEqual(field(created.body, "setAside"), null)
      const again = yield* asOperator("POST", "/jobs", newJob("add-1"))
      assert.strictEqual(again.status, 409)
      assert.deepStrictEqual(again.body, { _tag: "JobExists", id: "add-1" })
    }))

  it.effect("add refuses what the scheduler refuses, with its typed error, and stores nothing", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const badId = yield* asOperator("POST", "/jobs", newJob("no spaces allowed"))
      assert.strictEqual(badId.status, 400)
      assert.strictEqual(field(badId.body, "_tag"), "InvalidJob")
      const unknownTask = yield* asOperator("POST", "/jobs", newJob("add-unknown", { task: "nope" }))
      assert.strictEqual(unknownTask.status, 400)
      assert.strictEqual(field(unknownTask.body, "_tag"), "UnknownTask")
      assert.strictEqual(field(unknownTask.body, "task"), "nope")
      const badPayload = yield* asOperator("POST", "/jobs", newJob("add-bad-payload", { payload: { n: "one" } }))
      assert.strictEqual(badPayload.status, 400)
      assert.strictEqual(field(badPayload.body, "_tag"), "InvalidPayload")
      assert.strictEqual(field(badPayload.body, "path"), "$.n")
      const badCron = yield* asOperator("POST", "/jobs", newJob("add-bad-cron", {
        trigger: { _tag: "Cron", expression: "61 * * * *", timeZone: "UTC" }
      }))
      assert.strictEqual(badCron.status, 400, badCron.text)
      assert.strictEqual(field(badCron.body, "_tag"), "InvalidTrigger")
      const notJson = yield* asOperator("POST", "/jobs", { id: "x" })
      assert.strictEqual(notJson.status, 400)
      assert.strictEqual(field(notJson.body, "_tag"), "InvalidRequest")
      assert.strictEqual(field(notJson.body, "where"), "payload")
      for (const id of ["add-unknown", "add-bad-payload", "add-bad-cron", "x"]) {
        assert.isTrue(Option.isNone(yield* scheduler.get(id)), id)
      }
    }))

  it.effect("get shows the definition, next fires with DST notes, last runs and counts; 404 when absent", () =>
    Effect.gen(function*() {
      const created = yield* asOperator("POST", "/jobs", newJob("dst-job", {
        trigger: { _tag: "Cron", expression: "30 2 * * *", timeZone: "Europe/Berlin" }
      }))
      assert.strictEqual(created.status, 201, created.text)
      const detail = yield* asViewer("GET", "/jobs/dst-job?fires=400")
      assert.strictEqual(detail.status, 400, "fires is at most 100")
      assert.strictEqual(field(detail.body, "where"), "query")
      const page = yield* asViewer("GET", "/jobs/dst-job?fires=100&runs=5&windowMs=3600000")
      assert.strictEqual(page.status, 200, page.text)
      assert.strictEqual(field(field(page.body, "job"), "id"), "dst-job")
      const fires = field(page.body, "nextFires")
      assert.isTrue(Array.isArray(fires) && fires.length >= 100)
      // The night Berlin springs forward, 02:30 does not exist: the fire is shifted, and says so.
      const spring = yield* asViewer("GET", `/jobs/dst-job?fires=2&from=${Date.parse("2026-03-28T12:00:00Z")}`)
      const entries = field(spring.body, "nextFires")
      assert.isTrue(Array.isArray(entries))
      const first = Array.isArray(entries) ? entries[0] : undefined
      assert.strictEqual(field(first, "iso"), "2026-03-29T03:00:00+02:00")
      assert.strictEqual(field(first, "dst"), "shifted")
      assert.isString(field(first, "note"))
      assert.deepStrictEqual(field(page.body, "lastRuns"), [])
      assert.deepStrictEqual(field(page.body, "counts"), {})
      const missing = yield* asViewer("GET", "/jobs/no-such-job")
      assert.strictEqual(missing.status, 404)
      assert.deepStrictEqual(missing.body, { _tag: "JobNotFound", id: "no-such-job" })
    }))

  it.effect("an id with a slash and a colon goes through the path encoded", () =>
    Effect.gen(function*() {
      const id = "team/a:report@eu"
      assert.strictEqual((yield* asOperator("POST", "/jobs", newJob(id))).status, 201)
      const page = yield* asViewer("GET", `/jobs/${encodeURIComponent(id)}`)
      assert.strictEqual(page.status, 200, page.text)
      assert.strictEqual(field(field(page.body, "job"), "id"), id)
      const paused = yield* asOperator("POST", `/jobs/${encodeURIComponent(id)}/pause`)
      assert.strictEqual(field(paused.body, "paused"), true)
    }))

  it.effect("update changes what is given and keeps the rest; 404 when absent; 400 on a bad patch", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* asOperator("POST", "/jobs", newJob("upd-1", { timeout: 5_000 }))).status, 201)
      const updated = yield* asOperator("PATCH", "/jobs/upd-1", { payload: { n: 7 }, retry: { attempts: 3, base: 10, factor: 2, cap: 100, jitter: false } })
      assert.strictEqual(updated.status, 200, updated.text)
      assert.deepStrictEqual(field(updated.body, "payload"), { n: 7 })
      assert.strictEqual(field(updated.body, "timeout"), 5_000)
      assert.strictEqual(field(field(updated.body, "retry"), "attempts"), 3)
      const badPayload = yield* asOperator("PATCH", "/jobs/upd-1", { payload: { n: "seven" } })
      assert.strictEqual(badPayload.status, 400)
      assert.strictEqual(field(badPayload.body, "_tag"), "InvalidPayload")
      const scheduler = yield* Scheduler.Scheduler
      const stored = yield* scheduler.get("upd-1")
      assert.deepStrictEqual(Option.map(stored, (job) => job.payload), Option.some({ n: 7 }))
      const missing = yield* asOperator("PATCH", "/jobs/upd-none", { payload: { n: 1 } })
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(field(missing.body, "_tag"), "JobNotFound")
    }))

  it.effect("pause, resume and remove: 200, 200, 204, then 404", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* asOperator("POST", "/jobs", newJob("life-1"))).status, 201)
      const paused = yield* asOperator("POST", "/jobs/life-1/pause")
      assert.strictEqual(paused.status, 200)
      assert.strictEqual(field(paused.body, "paused"), true)
      const resumed = yield* asOperator("POST", "/jobs/life-1/resume")
      assert.strictEqual(field(resumed.body, "paused"), false)
      const removed = yield* asOperator("DELETE", "/jobs/life-1")
      assert.strictEqual(removed.status, 204)
      assert.strictEqual(removed.text, "")
      for (const [method, path] of [["DELETE", "/jobs/life-1"], ["POST", "/jobs/life-1/pause"], ["POST", "/jobs/life-1/resume"], ["POST", "/jobs/life-1/trigger"]] as const) {
        const reply = yield* asOperator(method, path, method === "POST" && path.endsWith("trigger") ? {} : undefined)
        assert.strictEqual(reply.status, 404, `${method} ${path}`)
        assert.deepStrictEqual(reply.body, { _tag: "JobNotFound", id: "life-1" }, `${method} ${path}`)
      }
    }))

  it.effect("trigger with a payload that fails the task's schema is 400 InvalidPayload and stores no run", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      assert.strictEqual((yield* asOperator("POST", "/jobs", newJob("trig-1"))).status, 201)
      const bad = yield* asOperator("POST", "/jobs/trig-1/trigger", { payload: { n: "not a number" } })
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(field(bad.body, "_tag"), "InvalidPayload")
      assert.strictEqual(field(bad.body, "jobId"), "trig-1")
      assert.strictEqual(field(bad.body, "reason"), "schema")
      assert.deepStrictEqual(yield* scheduler.history({ jobId: "trig-1" }), [])
      const good = yield* asOperator("POST", "/jobs/trig-1/trigger", { payload: { n: 41 } })
      assert.strictEqual(good.status, 202, good.text)
      assert.strictEqual(field(good.body, "manual"), true)
      // No body at all: the job's own payload.
      const plain = yield* asOperator("POST", "/jobs/trig-1/trigger")
      assert.strictEqual(plain.status, 202, plain.text)
      // Both manual runs run, with their payloads, within the deadline.
      const deadline = Date.now() + 15_000
      while (echoed.filter((run) => run.jobId === "trig-1").length < 2 && Date.now() < deadline) yield* Effect.sleep(50)
      assert.deepStrictEqual(echoed.filter((run) => run.jobId === "trig-1").map((run) => run.n).sort(), [1, 41])
      // The job's page shows them, and counts them, once recorded.
      let detail = yield* asViewer("GET", "/jobs/trig-1")
      while (field(field(detail.body, "counts"), "succeeded") !== 2 && Date.now() < deadline) {
        yield* Effect.sleep(50)
        detail = yield* asViewer("GET", "/jobs/trig-1")
      }
      assert.deepStrictEqual(field(detail.body, "counts"), { succeeded: 2 })
      const lastRuns = field(detail.body, "lastRuns")
      assert.isTrue(Array.isArray(lastRuns) && lastRuns.length === 2)
      // Lists leave payloads out (they may be megabytes); one run has its manual payload.
      const payloads: Array<unknown> = []
      for (const run of Array.isArray(lastRuns) ? lastRuns : []) {
        const one = yield* asViewer("GET", `/runs/${String(field(run, "id"))}`)
        payloads.push(field(one.body, "payload"))
      }
      assert.sameDeepMembers(payloads, [null, { n: 41 }])
    }))

  it.effect("list filters by task, paused and text, and pages by id with a cursor", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 7; i++) {
        const created = yield* asOperator("POST", "/jobs", newJob(`page-${i}`, { paused: i % 2 === 0 }))
        assert.strictEqual(created.status, 201)
      }
      assert.strictEqual((yield* asOperator("POST", "/jobs", newJob("page-fail", { task: "failing", payload: null }))).status, 201)
      const first = yield* asViewer("GET", "/jobs?text=PAGE-&limit=3")
      assert.strictEqual(first.status, 200, first.text)
      assert.deepStrictEqual(ids(first.body), ["page-0", "page-1", "page-2"])
      assert.strictEqual(field(first.body, "next"), "page-2")
      const second = yield* asViewer("GET", "/jobs?text=page-&limit=3&after=page-2")
      assert.deepStrictEqual(ids(second.body), ["page-3", "page-4", "page-5"])
      const third = yield* asViewer("GET", "/jobs?text=page-&limit=3&after=page-5")
      assert.deepStrictEqual(ids(third.body), ["page-6", "page-fail"])
      assert.strictEqual(field(third.body, "next"), null)
      const paused = yield* asViewer("GET", "/jobs?text=page-&paused=true")
      assert.deepStrictEqual(ids(paused.body), ["page-0", "page-2", "page-4", "page-6"])
      const failing = yield* asViewer("GET", "/jobs?task=failing")
      assert.deepStrictEqual(ids(failing.body), ["page-fail"])
      const badLimit = yield* asViewer("GET", "/jobs?limit=0")
      assert.strictEqual(badLimit.status, 400)
      assert.strictEqual(field(badLimit.body, "_tag"), "InvalidRequest")
      assert.strictEqual(field(badLimit.body, "where"), "query")
      const badPaused = yield* asViewer("GET", "/jobs?paused=maybe")
      assert.strictEqual(badPaused.status, 400)
      // What the scheduler refuses to ask the store is its own typed 400.
      const badText = yield* asViewer("GET", `/jobs?text=${encodeURIComponent("a\u0001b")}`)
      assert.strictEqual(badText.status, 400)
      assert.deepInclude(badText.body, { _tag: "InvalidQuery", field: "text" })
    }))

  it.effect("bulk pause and resume act on the filter's jobs only; no filter is 400 EmptyFilter", () =>
    Effect.gen(function*() {
      for (const id of ["bulk-a-1", "bulk-a-2", "bulk-a-3", "bulk-b-1"]) {
        assert.strictEqual((yield* asOperator("POST", "/jobs", newJob(id))).status, 201)
      }
      const empty = yield* asOperator("POST", "/jobs/pause", {})
      assert.strictEqual(empty.status, 400)
      assert.strictEqual(field(empty.body, "_tag"), "EmptyFilter")
      // A cleared search box is no filter either (an empty text would match every job).
      for (const blank of [{ text: "" }, { task: "" }, { text: "", task: "" }]) {
        const refused = yield* asOperator("POST", "/jobs/pause", blank)
        assert.strictEqual(field(refused.body, "_tag"), "EmptyFilter", JSON.stringify(blank))
      }
      const paused = yield* asOperator("POST", "/jobs/pause", { text: "bulk-a-" })
      assert.strictEqual(paused.status, 200, paused.text)
      assert.deepStrictEqual(paused.body, { matched: 3, changed: ["bulk-a-1", "bulk-a-2", "bulk-a-3"], next: null })
      const again = yield* asOperator("POST", "/jobs/pause", { text: "bulk-a-" })
      assert.deepStrictEqual(again.body, { matched: 3, changed: [], next: null })
      const list = yield* asViewer("GET", "/jobs?text=bulk-&paused=true")
      assert.deepStrictEqual(ids(list.body), ["bulk-a-1", "bulk-a-2", "bulk-a-3"])
      // A cursor that is no job id is a typed 400, and changes nothing.
      const badCursor = yield* asOperator("POST", "/jobs/resume", { text: "bulk-", after: "no spaces" })
      assert.strictEqual(badCursor.status, 400, badCursor.text)
      assert.strictEqual(field(badCursor.body, "_tag"), "InvalidQuery")
      assert.deepStrictEqual(ids((yield* asViewer("GET", "/jobs?text=bulk-&paused=true")).body), ["bulk-a-1", "bulk-a-2", "bulk-a-3"])
      const resumed = yield* asOperator("POST", "/jobs/resume", { text: "bulk-", task: "echo" })
      assert.deepStrictEqual(resumed.body, { matched: 4, changed: ["bulk-a-1", "bulk-a-2", "bulk-a-3"], next: null })
    }))

  it.effect("a request without a body where one is needed, or with a body that is not JSON, is a typed 400", () =>
    Effect.gen(function*() {
      const none = yield* request("POST", "/jobs", { token: "operator-secret-0123456789" })
      assert.strictEqual(none.status, 400)
      assert.strictEqual(field(none.body, "_tag"), "InvalidRequest")
    }))
})

// A deadline of 0: every call goes through exactly one job (the least it
// does, so that asking again always gets on), and says where to go on.
layer(serverLayer({ schema: "admin_bulk" }).pipe(Layer.provide(Layer.succeed(BulkDeadline, 0))), {
  timeout: 60_000,
  excludeTestServices: true
})("admin API: a bulk action past its deadline", (it) => {
  it.effect("answers with where it stopped; going on from there reaches every job once, and nothing else", () =>
    Effect.gen(function*() {
      for (const id of ["late-1", "late-2", "late-3", "late-4", "other-1"]) {
        assert.strictEqual((yield* asOperator("POST", "/jobs", newJob(id))).status, 201)
      }
      yield* asOperator("POST", "/jobs/late-2/pause")
      const answers: Array<unknown> = []
      let body: unknown = { next: undefined }
      do {
        const after = field(body, "next")
        const response = yield* asOperator("POST", "/jobs/pause", { text: "late-", ...(typeof after === "string" ? { after } : {}) })
        assert.strictEqual(response.status, 200, response.text)
        body = response.body
        answers.push(body)
      } while (field(body, "next") !== null && answers.length < 10)
      assert.deepStrictEqual(answers, [
        { matched: 1, changed: ["late-1"], next: "late-1" },
        // Paused already: gone through, not changed.
        { matched: 1, changed: [], next: "late-2" },
        { matched: 1, changed: ["late-3"], next: "late-3" },
        // The last one: nothing is left to go on with.
        { matched: 1, changed: ["late-4"], next: null }
      ])
      const list = yield* asViewer("GET", "/jobs?paused=true")
      assert.deepStrictEqual(ids(list.body), ["late-1", "late-2", "late-3", "late-4"])
    }))
})
