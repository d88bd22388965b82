import { assert, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Task from "../../src/Task.ts"
import * as Trigger from "../../src/Trigger.ts"
import { asOperator, asViewer, echo, failing, field, newJob, serverLayer } from "./Support.ts"

// Runs until interrupted (a cancel), for at most a minute.
const slow = Task.make("slow", Schema.Null, () => Effect.sleep("60 seconds"))
// A task no process here registers: its runs stay pending.
const remote = Task.make("remote", Schema.Null, () => Effect.void)

const runsOf = (body: unknown): ReadonlyArray<unknown> => {
  const runs = field(body, "runs")
  return Array.isArray(runs) ? runs : []
}

/** Polls `path` (as a viewer) until `done` holds of the reply body, for at most `ms`. */
const eventually = (path: string, done: (body: unknown) => boolean, ms = 15_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    let reply = yield* asViewer("GET", path)
    while (!done(reply.body) && Date.now() < deadline) {
      yield* Effect.sleep(50)
      reply = yield* asViewer("GET", path)
    }
    return reply
  })

layer(serverLayer({ schema: "admin_runs", tasks: [echo, failing, slow] }), { timeout: 60_000, excludeTestServices: true })(
  "admin API: runs and nodes",
  (it) => {
    it.effect("history across jobs filters by job, state and time, and pages with a cursor", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* asOperator("POST", "/jobs", newJob("hist-ok"))).status, 201)
        assert.strictEqual((yield* asOperator("POST", "/jobs", newJob("hist-bad", { task: "failing", payload: null }))).status, 201)
        const fires: Array<number> = []
        for (let i = 0; i < 3; i++) {
          for (const id of ["hist-ok", "hist-bad"]) {
            const run = yield* asOperator("POST", `/jobs/${id}/trigger`, {})
            assert.strictEqual(run.status, 202, run.text)
            fires.push(Number(field(run.body, "fireTime")))
          }
        }
        const all = yield* eventually("/runs?limit=1000", (body) =>
          runsOf(body).filter((run) => ["succeeded", "failed"].includes(String(field(run, "state")))).length === 6)
        assert.strictEqual(runsOf(all.body).length, 6, all.text)
        for (const run of runsOf(all.body)) {
          assert.strictEqual(field(run, "durationMs"), Number(field(run, "endedAt")) - Number(field(run, "startedAt")))
          assert.strictEqual(field(run, "manual"), true)
          assert.strictEqual(field(run, "attempt"), 1)
          assert.isString(field(run, "node"))
        }

        const ok = yield* asViewer("GET", "/runs?job=hist-ok")
        assert.isTrue(runsOf(ok.body).length === 3 && runsOf(ok.body).every((run) => field(run, "jobId") === "hist-ok"))
        const failed = yield* asViewer("GET", "/runs?state=failed")
        assert.strictEqual(runsOf(failed.body).length, 3)
        assert.isTrue(runsOf(failed.body).every((run) => field(run, "state") === "failed" && field(run, "error") !== null))
        const both = yield* asViewer("GET", "/runs?state=failed&state=succeeded")
        assert.strictEqual(runsOf(both.body).length, 6)

        // Newest fire first; a time range keeps [from, to).
        const sorted = [...fires].sort((a, b) => a - b)
        const from = sorted[2]!
        const to = sorted[4]!
        const ranged = yield* asViewer("GET", `/runs?from=${from}&to=${to}`)
        const inRange = fires.filter((fire) => fire >= from && fire < to).length
        assert.strictEqual(runsOf(ranged.body).length, inRange)
        assert.isTrue(runsOf(ranged.body).every((run) => Number(field(run, "fireTime")) >= from && Number(field(run, "fireTime")) < to))

        // Pages of 4 then 2, no run twice, none left out.
        const first = yield* asViewer("GET", "/runs?limit=4")
        assert.strictEqual(runsOf(first.body).length, 4)
        const next = field(first.body, "next")
        assert.isString(next)
        const second = yield* asViewer("GET", `/runs?limit=4&before=${encodeURIComponent(String(next))}`)
        assert.strictEqual(runsOf(second.body).length, 2)
        assert.strictEqual(field(second.body, "next"), null)
        const ids = [...runsOf(first.body), ...runsOf(second.body)].map((run) => field(run, "id"))
        assert.strictEqual(new Set(ids).size, 6)
        const fireTimes = [...runsOf(first.body), ...runsOf(second.body)].map((run) => Number(field(run, "fireTime")))
        assert.deepStrictEqual(fireTimes, [...fireTimes].sort((a, b) => b - a), "newest first")

        const badState = yield* asViewer("GET", "/runs?state=exploded")
        assert.strictEqual(badState.status, 400)
        assert.deepInclude(badState.body, { _tag: "InvalidRequest", where: "query" })
        const badLimit = yield* asViewer("GET", "/runs?limit=-3")
        assert.strictEqual(badLimit.status, 400)
      }))

    it.effect("one run by id; an unknown id is 404 RunNotFound", () =>
      Effect.gen(function*() {
        const listed = yield* asViewer("GET", "/runs?job=hist-ok&limit=1")
        const [run] = runsOf(listed.body)
        const id = String(field(run, "id"))
        const one = yield* asViewer("GET", `/runs/${encodeURIComponent(id)}`)
        assert.strictEqual(one.status, 200, one.text)
        // The record as listed, plus the payload lists leave out (null: not a manual payload).
        assert.deepStrictEqual(one.body, { ...(typeof run === "object" ? run : {}), payload: null })
        const missing = yield* asViewer("GET", "/runs/999999999")
        assert.strictEqual(missing.status, 404)
        assert.deepStrictEqual(missing.body, { _tag: "RunNotFound", id: "999999999" })
      }))

    it.effect("cancel: a pending run at once (again: the same answer), a running one by its node within seconds; one that succeeded is 409", () =>
      Effect.gen(function*() {
        const store = yield* JobStore
        yield* store.add(Job.make(remote, { id: "cancel-pending", payload: null, trigger: Trigger.once(Date.now() + 86_400_000) }))
        const pending = yield* store.triggerNow("cancel-pending")
        const cancelled = yield* asOperator("POST", `/runs/${pending.id}/cancel`)
        assert.strictEqual(cancelled.status, 200, cancelled.text)
        assert.strictEqual(field(cancelled.body, "state"), "cancelled")

        // Again (a retry whose first answer was lost): done, as asked.
        const again = yield* asOperator("POST", `/runs/${pending.id}/cancel`)
        assert.strictEqual(again.status, 200, again.text)
        assert.strictEqual(field(again.body, "state"), "cancelled")
        const missing = yield* asOperator("POST", "/runs/999999999/cancel")
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(field(missing.body, "_tag"), "RunNotFound")

        assert.strictEqual((yield* asOperator("POST", "/jobs", newJob("cancel-running", { task: "slow", payload: null }))).status, 201)
        const triggered = yield* asOperator("POST", "/jobs/cancel-running/trigger", {})
        const runId = String(field(triggered.body, "id"))
        const running = yield* eventually(`/runs/${runId}`, (body) => field(body, "state") === "running")
        assert.strictEqual(field(running.body, "state"), "running")
        const asked = yield* asOperator("POST", `/runs/${runId}/cancel`)
        assert.strictEqual(asked.status, 200, asked.text)
        const ended = yield* eventually(`/runs/${runId}`, (body) => field(body, "state") === "cancelled", 10_000)
        assert.strictEqual(field(ended.body, "state"), "cancelled", ended.text)

        // A run that ended otherwise: 409.
        assert.strictEqual((yield* asOperator("POST", "/jobs", newJob("cancel-ended"))).status, 201)
        const echoed = String(field((yield* asOperator("POST", "/jobs/cancel-ended/trigger", {})).body, "id"))
        yield* eventually(`/runs/${echoed}`, (body) => field(body, "state") === "succeeded", 10_000)
        const late = yield* asOperator("POST", `/runs/${echoed}/cancel`)
        assert.strictEqual(late.status, 409, late.text)
        assert.deepStrictEqual(late.body, { _tag: "RunNotCancellable", id: echoed, state: "succeeded" })
      }))

    it.effect("nodes lists this node with its pid, tasks and store status", () =>
      Effect.gen(function*() {
        const node = (yield* (yield* Scheduler.Scheduler).health).node
        const nodes = yield* eventually("/nodes", (body) => Array.isArray(body) && body.some((n) => field(n, "id") === node))
        assert.strictEqual(nodes.status, 200, nodes.text)
        const self = Array.isArray(nodes.body) ? nodes.body.find((n) => field(n, "id") === node) : undefined
        assert.strictEqual(field(self, "pid"), process.pid)
        assert.deepStrictEqual(field(self, "tasks"), ["echo", "failing", "slow"])
        assert.strictEqual(field(self, "store"), "up")
        assert.isNumber(field(self, "heartbeatAt"))
      }))
  }
)
