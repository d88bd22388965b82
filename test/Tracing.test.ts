/**
 * Tracing (issue 14): a real scheduler on a real PostgreSQL, built with the
 * `OtlpTracer` layer of `effect/observability` exporting over OTLP/HTTP to a
 * local receiver (a `node:http` server), runs a job whose handler succeeds
 * and one whose handler fails, each inside a span of its own. The receiver
 * must get a `steadfast.run` span per run, with the run's job, task, fire
 * time, attempt and node, an error status for the failing one, and the
 * handler's span as its child in the same trace; and spans of store calls.
 * The scheduler is built inside a span of the application's: runs are root
 * spans, not children of it. A retried run is one span; a timed-out one has
 * an error status.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import { realWait } from "./support/Harness.ts"
import * as Pg from "./support/Pg.ts"

const AnyValue = Schema.Struct({
  stringValue: Schema.optional(Schema.String),
  intValue: Schema.optional(Schema.Union([Schema.String, Schema.Number])),
  doubleValue: Schema.optional(Schema.Number),
  boolValue: Schema.optional(Schema.Boolean)
})

const Span = Schema.Struct({
  traceId: Schema.String,
  spanId: Schema.String,
  parentSpanId: Schema.optional(Schema.String),
  name: Schema.String,
  attributes: Schema.Array(Schema.Struct({ key: Schema.String, value: AnyValue })),
  events: Schema.Array(Schema.Struct({ name: Schema.String })),
  status: Schema.Struct({ code: Schema.Number, message: Schema.optional(Schema.String) })
})
type Span = typeof Span.Type

const TraceData = Schema.Struct({
  resourceSpans: Schema.Array(Schema.Struct({
    resource: Schema.Struct({ attributes: Schema.Array(Schema.Struct({ key: Schema.String, value: AnyValue })) }),
    scopeSpans: Schema.Array(Schema.Struct({ spans: Schema.Array(Span) }))
  }))
})
const decodeTraces = Schema.decodeUnknownSync(TraceData)

/** An OTLP/HTTP (JSON) traces receiver on a free local port, for the life of the scope. */
const receiver = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ readonly url: string; readonly spans: Array<Span>; readonly server: http.Server }>((resolve) => {
      const spans: Array<Span> = []
      const server = http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const body: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"))
          for (const resource of decodeTraces(body).resourceSpans) {
            for (const scope of resource.scopeSpans) spans.push(...scope.spans)
          }
          response.writeHead(200, { "content-type": "application/json" })
          response.end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resolve({ url: `http://127.0.0.1:${port}/v1/traces`, spans, server })
      })
    })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

const attribute = (span: Span, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value
  return value?.stringValue ?? value?.intValue ?? value?.doubleValue ?? value?.boolValue
}

describe("tracing", () => {
  it.live("a span per run, exported over OTLP: attributes, error status, the handler's spans as children", () =>
    Effect.gen(function*() {
      const { spans, url } = yield* receiver
      const ok = Task.make("traced-ok", Schema.Struct({}), () => Effect.sleep("5 millis").pipe(Effect.withSpan("handler.ok")))
      const bad = Task.make("traced-bad", Schema.Struct({}), () =>
        Effect.fail(new Error("kaboom")).pipe(Effect.withSpan("handler.bad")))
      const store = yield* Pg.makeStore({ schema: "tracing" })
      const node = "tracing-node"
      const Tracing = OtlpTracer.layer({ url, resource: { serviceName: "steadfast-test" }, exportInterval: "100 millis" }).pipe(
        Layer.provide(OtlpSerialization.layerJson),
        Layer.provide(FetchHttpClient.layer)
      )
      const context = yield* Layer.build(
        Scheduler.layer({ tasks: [ok, bad], node, shutdownGrace: 0 }).pipe(
          // The application builds its scheduler inside a span of its own.
          Layer.withSpan("app.start"),
          Layer.provide(Layer.succeed(JobStore, store)),
          Layer.provide(Tracing)
        )
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      const now = yield* store.now
      yield* scheduler.addMany([
        Job.make(ok, { id: "trace-ok", payload: {}, trigger: Trigger.once(now) }),
        Job.make(bad, { id: "trace-bad", payload: {}, trigger: Trigger.once(now) })
      ])

      const runSpan = (jobId: string) =>
        spans.find((span) => span.name === "steadfast.run" && attribute(span, "steadfast.job_id") === jobId)
      const exported = () =>
        runSpan("trace-ok") !== undefined && runSpan("trace-bad") !== undefined &&
        spans.some((span) => span.name === "handler.ok") && spans.some((span) => span.name === "handler.bad")
      for (let i = 0; i < 300 && !exported(); i++) yield* realWait(50)
      assert.isTrue(exported(), JSON.stringify(spans.map((span) => span.name)))

      const history = yield* scheduler.history({ limit: 10 })
      for (const [jobId, task, handler] of [["trace-ok", "traced-ok", "handler.ok"], ["trace-bad", "traced-bad", "handler.bad"]] as const) {
        const run = runSpan(jobId)!
        const record = history.find((r) => r.jobId === jobId)!
        assert.strictEqual(attribute(run, "steadfast.task"), task)
        assert.strictEqual(attribute(run, "steadfast.fire_time"), new Date(record.fireTime).toISOString())
        assert.strictEqual(Number(attribute(run, "steadfast.fire_time_ms")), record.fireTime)
        assert.strictEqual(Number(attribute(run, "steadfast.attempt")), 1)
        assert.strictEqual(attribute(run, "steadfast.node"), node)
        assert.strictEqual(attribute(run, "steadfast.run_id"), record.id)
        // A trace of its own, not a child of the span the scheduler was built in.
        assert.isUndefined(run.parentSpanId)
        const child = spans.filter((span) => span.name === handler)
        assert.strictEqual(child.length, 1)
        assert.strictEqual(child[0]!.parentSpanId, run.spanId)
        assert.strictEqual(child[0]!.traceId, run.traceId)
      }
      assert.notStrictEqual(runSpan("trace-ok")!.traceId, runSpan("trace-bad")!.traceId)

      // OTLP status codes: 1 ok, 2 error; the failure is recorded on the run's span.
      assert.strictEqual(runSpan("trace-ok")!.status.code, 1)
      const failed = runSpan("trace-bad")!
      assert.strictEqual(failed.status.code, 2)
      assert.include(failed.status.message ?? "", "kaboom")
      assert.isTrue(failed.events.some((event) => event.name === "exception"))
      assert.strictEqual(history.find((r) => r.jobId === "trace-bad")?.state, "failed")

      // Store calls are spans too.
      assert.isTrue(spans.some((span) => span.name === "PgJobStore.claim"), JSON.stringify([...new Set(spans.map((s) => s.name))]))
    }), 60_000)

  it.live("a retried run is one span: its attempt is the last one's, its status that attempt's", () =>
    Effect.gen(function*() {
      const { spans, url } = yield* receiver
      let calls = 0
      const flaky = Task.make("traced-flaky", Schema.Struct({}), () =>
        Effect.suspend(() => ++calls === 1 ? Effect.fail(new Error("first attempt fails")) : Effect.void).pipe(
          Effect.withSpan("handler.flaky")
        ))
      const store = yield* Pg.makeStore({ schema: "tracing_retry" })
      const Tracing = OtlpTracer.layer({ url, resource: { serviceName: "steadfast-test" }, exportInterval: "100 millis" }).pipe(
        Layer.provide(OtlpSerialization.layerJson),
        Layer.provide(FetchHttpClient.layer)
      )
      const context = yield* Layer.build(
        Scheduler.layer({ tasks: [flaky], node: "tracing-retry", shutdownGrace: 0 }).pipe(
          Layer.provide(Layer.succeed(JobStore, store)),
          Layer.provide(Tracing)
        )
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      yield* scheduler.add(Job.make(flaky, {
        id: "trace-flaky",
        payload: {},
        trigger: Trigger.once(yield* store.now),
        retry: { attempts: 3, base: "10 millis", jitter: false }
      }))
      const exported = () =>
        spans.some((span) => span.name === "steadfast.run") && spans.filter((span) => span.name === "handler.flaky").length === 2
      for (let i = 0; i < 300 && !exported(); i++) yield* realWait(50)
      assert.isTrue(exported(), JSON.stringify(spans.map((span) => span.name)))
      const runs = spans.filter((span) => span.name === "steadfast.run")
      assert.strictEqual(runs.length, 1)
      const run = runs[0]!
      assert.strictEqual(Number(attribute(run, "steadfast.attempt")), 2)
      assert.strictEqual(run.status.code, 1)
      // Both attempts' spans are the run's children.
      for (const child of spans.filter((span) => span.name === "handler.flaky")) {
        assert.strictEqual(child.parentSpanId, run.spanId)
      }
      const [record] = yield* scheduler.history({ jobId: "trace-flaky" })
      assert.deepStrictEqual([record?.state, record?.attempt], ["succeeded", 2])
    }), 60_000)

  it.live("a timed-out run's span has an error status", () =>
    Effect.gen(function*() {
      const { spans, url } = yield* receiver
      const hang = Task.make("traced-hang", Schema.Struct({}), () => Effect.never)
      const store = yield* Pg.makeStore({ schema: "tracing_timeout" })
      const Tracing = OtlpTracer.layer({ url, resource: { serviceName: "steadfast-test" }, exportInterval: "100 millis" }).pipe(
        Layer.provide(OtlpSerialization.layerJson),
        Layer.provide(FetchHttpClient.layer)
      )
      const context = yield* Layer.build(
        Scheduler.layer({ tasks: [hang], node: "tracing-timeout", shutdownGrace: 0 }).pipe(
          Layer.provide(Layer.succeed(JobStore, store)),
          Layer.provide(Tracing)
        )
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      yield* scheduler.add(Job.make(hang, { id: "trace-hang", payload: {}, trigger: Trigger.once(yield* store.now), timeout: "100 millis" }))
      const run = () => spans.find((span) => span.name === "steadfast.run")
      for (let i = 0; i < 300 && run() === undefined; i++) yield* realWait(50)
      assert.isDefined(run())
      assert.strictEqual(run()!.status.code, 2)
      assert.include(run()!.status.message ?? "", "TimedOut: the handler ran past its timeout of 100 ms")
    }), 60_000)
})
