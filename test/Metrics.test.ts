/**
 * Metrics (issue 14): a real scheduler on a real PostgreSQL runs known jobs
 * (two succeed, one fails, one times out, one misses its only fire, one
 * keeps skipping fires while its run holds the overlap slot); then the
 * Prometheus text (scraped from the admin server's `/metrics`, as
 * Prometheus does; elsewhere `Metrics.prometheus`) must count exactly what the store's
 * history holds, by job, task and outcome, with histograms counting the
 * executed runs by task, and the gauges showing the run in flight and the
 * store available. Through a store outage and a loop's defect, the store
 * errors are counted by class, the store shows unavailable then available
 * again, and the loop's restart is counted; a stalled loop is counted too.
 * Each test has a registry of its own.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Metric, Redacted, Schema } from "effect"
import { HttpServer } from "effect/http"
import * as Admin from "../src/admin/Admin.ts"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as Metrics from "../src/Metrics.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as FaultyJobStore from "../src/testing/FaultyJobStore.ts"
import * as Trigger from "../src/Trigger.ts"
import { realWait } from "./support/Harness.ts"
import * as Pg from "./support/Pg.ts"

/** Polls `check` every 50 ms until it holds, for at most `ms`; returns whether it did. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, ms = 15_000) =>
  Effect.gen(function*() {
    const until = Date.now() + ms
    while (Date.now() < until) {
      if (yield* check) return true
      yield* realWait(50)
    }
    return yield* check
  })

interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** Parses the Prometheus text exposition format (the sample lines). */
const parse = (text: string): ReadonlyArray<Sample> =>
  text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).map((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.isNotNull(match, `not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match![2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = value!
    }
    return { name: match![1]!, labels, value: Number(match![3]) }
  })

/** The value of the one sample of `name` whose labels include `labels`; `undefined` when none. */
const valueOf = (samples: ReadonlyArray<Sample>, name: string, labels: Record<string, string> = {}) => {
  const found = samples.filter((s) =>
    s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value) &&
    Object.keys(s.labels).length === Object.keys(labels).length
  )
  assert.isAtMost(found.length, 1, `${name} ${JSON.stringify(labels)}: ${JSON.stringify(found)}`)
  return found[0]?.value
}

describe("metrics", () => {
  it.live("runs by job, task and outcome, histograms by task, and the gauges match what happened", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const work = Task.make("work", Schema.Struct({}), () => Effect.void)
      const boom = Task.make("boom", Schema.Struct({}), () => Effect.fail("boom"))
      const sleepy = Task.make("sleepy", Schema.Struct({}), () => Effect.never)
      const hold = Task.make("hold", Schema.Struct({}), () => Deferred.await(release))
      const store = yield* Pg.makeStore({ schema: "metrics" })
      const node = "metrics-node"
      const context = yield* Layer.build(
        Scheduler.layer({ tasks: [work, boom, sleepy, hold], node, shutdownGrace: 0 }).pipe(
          Layer.provide(Layer.succeed(JobStore, store))
        )
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      // Scraped as Prometheus does: GET /metrics of the admin server, with a viewer's token.
      const server = yield* Layer.build(
        Admin.serve({ port: 0, tokens: [{ name: "prometheus", role: "viewer", secret: Redacted.make("scrape-secret") }] }).pipe(
          Layer.provide(Layer.succeedContext(context))
        )
      )
      const metricsUrl = `${HttpServer.formatAddress(Context.get(server, HttpServer.HttpServer).address)}/metrics`
      const now = yield* store.now
      yield* scheduler.addMany([
        Job.make(work, { id: "ok-a", payload: {}, trigger: Trigger.once(now) }),
        Job.make(work, { id: "ok-b", payload: {}, trigger: Trigger.once(now) }),
        Job.make(boom, { id: "bad", payload: {}, trigger: Trigger.once(now) }),
        Job.make(sleepy, { id: "slow", payload: {}, trigger: Trigger.once(now), timeout: "200 millis" }),
        // An hour late with one second of grace: missed, never run.
        Job.make(work, {
          id: "late",
          payload: {},
          trigger: Trigger.once(now - 3_600_000),
          misfire: { grace: "1 second", then: { _tag: "Skip" } }
        }),
        // Its first run holds the only overlap slot: later fires are skipped.
        Job.make(hold, { id: "busy", payload: {}, trigger: Trigger.every("200 millis"), overlap: { max: 1, onLimit: "skip" } })
      ])

      const states = (jobId: string) =>
        Effect.map(scheduler.history({ jobId, limit: 1_000 }), (records) => records.map((record) => record.state))
      const scrape = Effect.map(
        Effect.promise(() =>
          fetch(metricsUrl, { headers: { authorization: "Bearer scrape-secret" } }).then((response) => {
            assert.strictEqual(response.status, 200)
            return response.text()
          })
        ),
        parse
      )

      // While `busy` runs and skips: one run in flight, some skipped fires.
      assert.isTrue(yield* eventually(Effect.map(states("busy"), (s) => s.filter((x) => x === "skipped").length >= 2)))
      assert.isTrue(yield* eventually(Effect.map(scrape, (samples) =>
        valueOf(samples, "steadfast_runs_in_flight", { node }) === 1 &&
        (valueOf(samples, "steadfast_runs_total", { job: "busy", task: "hold", outcome: "skipped" }) ?? 0) >= 2
      )))
      yield* scheduler.pause("busy")
      yield* Deferred.succeed(release, undefined)

      // Every job settled: its records are final, and the metrics caught up with them.
      const expected: ReadonlyArray<readonly [string, string, string]> = [
        ["ok-a", "work", "succeeded"],
        ["ok-b", "work", "succeeded"],
        ["bad", "boom", "failed"],
        ["slow", "sleepy", "timed-out"],
        ["late", "unknown", "missed"]
      ]
      for (const [jobId, , state] of expected) {
        assert.isTrue(yield* eventually(Effect.map(states(jobId), (s) => s.length === 1 && s[0] === state)), jobId)
      }
      assert.isTrue(yield* eventually(Effect.map(states("busy"), (s) => s.includes("succeeded") && !s.includes("running"))))
      const busy = yield* states("busy")
      const busySkipped = busy.filter((state) => state === "skipped").length
      assert.strictEqual(busy.filter((state) => state === "succeeded").length, 1)

      const counted = (samples: ReadonlyArray<Sample>) =>
        expected.every(([job, task, outcome]) => valueOf(samples, "steadfast_runs_total", { job, task, outcome }) === 1) &&
        valueOf(samples, "steadfast_runs_total", { job: "busy", task: "hold", outcome: "succeeded" }) === 1 &&
        valueOf(samples, "steadfast_runs_total", { job: "busy", task: "hold", outcome: "skipped" }) === busySkipped
      assert.isTrue(yield* eventually(Effect.map(scrape, counted)), yield* Metrics.prometheus)
      const samples = yield* scrape

      // Nothing counted twice or under another outcome.
      const runs = samples.filter((s) => s.name === "steadfast_runs_total")
      assert.strictEqual(runs.reduce((sum, s) => sum + s.value, 0), 6 + busySkipped)
      assert.strictEqual(runs.length, 7)

      // Histograms count the executed runs, by task; the timed-out one took its timeout.
      for (const [task, n] of [["work", 2], ["boom", 1], ["sleepy", 1], ["hold", 1]] as const) {
        assert.strictEqual(valueOf(samples, "steadfast_run_duration_seconds_count", { task }), n, task)
        assert.strictEqual(valueOf(samples, "steadfast_run_lateness_seconds_count", { task }), n, task)
        assert.strictEqual(valueOf(samples, "steadfast_run_duration_seconds_bucket", { task, le: "+Inf" }), n, task)
      }
      assert.isAtLeast(valueOf(samples, "steadfast_run_duration_seconds_sum", { task: "sleepy" })!, 0.2)
      assert.isBelow(valueOf(samples, "steadfast_run_duration_seconds_sum", { task: "work" })!, 5)
      // `late` was missed by an hour, but never ran: no lateness of an hour anywhere.
      for (const task of ["work", "boom", "sleepy", "hold"]) {
        assert.isBelow(valueOf(samples, "steadfast_run_lateness_seconds_sum", { task })!, 60, task)
      }

      // Claims: at least one, and together they took every executed run.
      const claims = valueOf(samples, "steadfast_claim_batch_size_count")!
      assert.isAtLeast(claims, 1)
      assert.isAtLeast(valueOf(samples, "steadfast_claim_batch_size_sum")!, 5)

      assert.strictEqual(valueOf(samples, "steadfast_runs_in_flight", { node }), 0)
      assert.strictEqual(valueOf(samples, "steadfast_store_available", { node }), 1)
      assert.isDefined(valueOf(samples, "steadfast_backlog_seconds", { node }))
      // No failures, no restarts.
      assert.isUndefined(samples.find((s) => s.name === "steadfast_store_errors_total"))
      assert.isUndefined(samples.find((s) => s.name === "steadfast_loop_restarts_total" && s.value > 0))
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())), 60_000)

  it.live("store errors by class, store availability through an outage, loop restarts", () =>
    Effect.gen(function*() {
      const work = Task.make("work", Schema.Struct({}), () => Effect.void)
      const pg = yield* Pg.makeStore({ schema: "metrics_faults" })
      const start = yield* pg.now
      const outageMs = 1_500
      const store = FaultyJobStore.wrap(pg, FaultyJobStore.combine(
        // Every claim fails for a while (a lost connection, retried)...
        FaultyJobStore.during(start, start + outageMs, ["claim"]),
        // ...and the dispatcher dies once (a defect: its loop is restarted).
        FaultyJobStore.nthCall("nextWake", 1, () => ({ _tag: "Die", defect: new Error("injected defect") }))
      ))
      const node = "metrics-faults"
      const context = yield* Layer.build(
        Scheduler.layer({ tasks: [work], node, shutdownGrace: 0 }).pipe(Layer.provide(Layer.succeed(JobStore, store)))
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      yield* scheduler.add(Job.make(work, { id: "after-outage", payload: {}, trigger: Trigger.once(start) }))
      const scrape = Effect.map(Metrics.prometheus, parse)

      const claimErrors = { operation: "claim", reason: "ConnectionError", retryable: "true" }
      assert.isTrue(yield* eventually(Effect.map(scrape, (samples) =>
        valueOf(samples, "steadfast_store_available", { node }) === 0 &&
        (valueOf(samples, "steadfast_store_errors_total", claimErrors) ?? 0) >= 1
      )), yield* Metrics.prometheus)
      // The outage ends: the job runs, the store is available again, the restart was counted.
      assert.isTrue(yield* eventually(Effect.map(scrape, (samples) =>
        valueOf(samples, "steadfast_runs_total", { job: "after-outage", task: "work", outcome: "succeeded" }) === 1 &&
        valueOf(samples, "steadfast_store_available", { node }) === 1 &&
        valueOf(samples, "steadfast_loop_restarts_total", { loop: "dispatcher" }) === 1
      )), yield* Metrics.prometheus)
      const samples = yield* scrape
      // Only the injected class of error, on the claims only.
      const errors = samples.filter((s) => s.name === "steadfast_store_errors_total")
      assert.deepStrictEqual(errors.map((s) => s.labels), [claimErrors])
      assert.isAtLeast(yield* store.now, start + outageMs)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())), 60_000)

  it.live("a loop stalled past its bound is counted as a stall and a restart", () =>
    Effect.gen(function*() {
      const work = Task.make("work", Schema.Struct({}), () => Effect.void)
      const pg = yield* Pg.makeStore({ schema: "metrics_stall" })
      // The dispatcher's first question to the store hangs for 3 s.
      let hung = false
      const store: JobStore["Service"] = {
        ...pg,
        nextWake: (tasks, aheadMs, share) =>
          hung ? pg.nextWake(tasks, aheadMs, share) : Effect.andThen(
            Effect.sync(() => {
              hung = true
            }),
            Effect.andThen(Effect.sleep("3 seconds"), pg.nextWake(tasks, aheadMs, share))
          )
      }
      const context = yield* Layer.build(
        Scheduler.layer({ tasks: [work], node: "metrics-stall", shutdownGrace: 0, pollInterval: "200 millis", stallAfter: "200 millis" }).pipe(
          Layer.provide(Layer.succeed(JobStore, store))
        )
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      const scrape = Effect.map(Metrics.prometheus, parse)
      assert.isTrue(yield* eventually(Effect.map(scrape, (samples) =>
        valueOf(samples, "steadfast_loop_stalls_total", { loop: "dispatcher" }) === 1 &&
        valueOf(samples, "steadfast_loop_restarts_total", { loop: "dispatcher" }) === 1
      )), yield* Metrics.prometheus)
      // The restarted dispatcher works.
      yield* scheduler.add(Job.make(work, { id: "after-stall", payload: {}, trigger: Trigger.once(yield* pg.now) }))
      assert.isTrue(yield* eventually(Effect.map(scrape, (samples) =>
        valueOf(samples, "steadfast_runs_total", { job: "after-stall", task: "work", outcome: "succeeded" }) === 1
      )))
      assert.isUndefined(valueOf(yield* scrape, "steadfast_loop_stalls_total", { loop: "recorder" }))
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())), 60_000)

  it.live("with a job label limit of 0, runs are counted by task and outcome", () =>
    Effect.gen(function*() {
      const work = Task.make("work", Schema.Struct({}), () => Effect.void)
      const store = yield* Pg.makeStore({ schema: "metrics_nojob" })
      const context = yield* Layer.build(
        Scheduler.layer({ tasks: [work], node: "metrics-nojob", shutdownGrace: 0 }).pipe(
          Layer.provide(Layer.succeed(JobStore, store))
        )
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      const now = yield* store.now
      yield* scheduler.addMany(["a", "b", "c"].map((id) => Job.make(work, { id, payload: {}, trigger: Trigger.once(now) })))
      const done = Effect.map(Metrics.prometheus, (text) =>
        valueOf(parse(text), "steadfast_runs_total", { task: "work", outcome: "succeeded" }) === 3)
      assert.isTrue(yield* eventually(done), yield* Metrics.prometheus)
      const text = yield* Metrics.prometheus
      assert.notInclude(text, "job=")
    }).pipe(
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provideService(Metrics.JobLabelLimit, 0)
    ), 60_000)

  it.live("jobs beyond the job label limit are counted as job=\"_other\"", () =>
    Effect.gen(function*() {
      const work = Task.make("work", Schema.Struct({}), () => Effect.void)
      const store = yield* Pg.makeStore({ schema: "metrics_limit" })
      const context = yield* Layer.build(
        Scheduler.layer({ tasks: [work], node: "metrics-limit", shutdownGrace: 0 }).pipe(
          Layer.provide(Layer.succeed(JobStore, store))
        )
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      const now = yield* store.now
      const ids = ["a", "b", "c", "d", "e"]
      yield* scheduler.addMany(ids.map((id) => Job.make(work, { id, payload: {}, trigger: Trigger.once(now) })))
      const runs = Effect.map(Metrics.prometheus, (text) => parse(text).filter((s) => s.name === "steadfast_runs_total"))
      assert.isTrue(yield* eventually(Effect.map(runs, (samples) => samples.reduce((sum, s) => sum + s.value, 0) === 5)))
      const samples = yield* runs
      // The first two jobs to run have their own series; the other three share one.
      const own = samples.filter((s) => s.labels["job"] !== "_other")
      assert.strictEqual(own.length, 2, JSON.stringify(samples))
      for (const sample of own) {
        assert.include(ids, sample.labels["job"])
        assert.deepStrictEqual([sample.labels["task"], sample.labels["outcome"], sample.value], ["work", "succeeded", 1])
      }
      assert.strictEqual(valueOf(samples, "steadfast_runs_total", { job: "_other", task: "work", outcome: "succeeded" }), 3)
    }).pipe(
      Effect.provideService(Metric.MetricRegistry, new Map()),
      Effect.provideService(Metrics.JobLabelLimit, 2)
    ), 60_000)
})
