/**
 * The cluster as operators see it and act on it (issue 14), end to end:
 * two schedulers (two nodes, each with its own connection pool) on one real
 * PostgreSQL. A cancel issued through one node interrupts a handler running
 * on the other within seconds, through the store and NOTIFY (and, where
 * notifications do not arrive, through the lease renewal), and the run is
 * recorded `cancelled` once; a handler that ignores interruption does not
 * hold it up past `cancelGrace`. `nodes` lists both live nodes with what
 * they say of themselves, and drops a node at its clean shutdown.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Option, Schema, Scope, Stream } from "effect"
import * as os from "node:os"
import type { Event } from "../src/Event.ts"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import type * as PgJobStore from "../src/PgJobStore.ts"
import type * as Run from "../src/Run.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import * as NodeHeartbeat from "../src/runtime/NodeHeartbeat.ts"
import { realWait } from "./support/Harness.ts"
import * as Pg from "./support/Pg.ts"

// Polls `check` every 50 ms until it returns a value, for at most `ms`.
const eventually = <A, E>(ms: number, check: Effect.Effect<A | undefined, E>, what: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      const value = yield* check
      if (value !== undefined) return value
      yield* realWait(50)
    }
    return assert.fail(`not within ${ms} ms: ${what}`)
  })

/** A long task: it runs until interrupted (or, `stubborn`, until `release`), noting both. */
const longTask = (name: string, stubborn?: Deferred.Deferred<void>) => {
  const started: Array<number> = []
  const interrupted: Array<number> = []
  const ended: Array<number> = []
  const body = stubborn === undefined ? Effect.never : Effect.uninterruptible(Deferred.await(stubborn))
  const task = Task.make(name, Schema.Unknown, (_payload, context) =>
    Effect.sync(() => void started.push(context.fireTime)).pipe(
      Effect.andThen(body),
      Effect.onInterrupt(() => Effect.sync(() => void interrupted.push(Date.now()))),
      Effect.ensuring(Effect.sync(() => void ended.push(Date.now())))
    ))
  return { task, started, interrupted, ended }
}

const otherTask = Task.make("cluster-other", Schema.Unknown, () => Effect.void)

/** A node: a scheduler on its own store (its own pool), in a scope of its own. */
const startNode = <R>(
  options: Scheduler.Options<R>,
  store: { readonly schema: string; readonly pooler?: "transaction" }
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const storeOptions: PgJobStore.Options = { schema: store.schema, pooler: store.pooler }
    const context = yield* Layer.buildWithScope(
      Scheduler.layer(options).pipe(
        Layer.provideMerge(Pg.layerStore(storeOptions, store.pooler === "transaction" ? { prepare: false } : {}))
      ),
      scope
    )
    const scheduler = Context.get(context, Scheduler.Scheduler)
    const events: Array<Event> = []
    yield* Effect.forkIn(Stream.runForEach(scheduler.events, (event) => Effect.sync(() => void events.push(event))), scope)
    return { scheduler, store: Context.get(context, JobStore), scope, events, close: Scope.close(scope, Exit.void) }
  })

const record = (scheduler: Scheduler.Scheduler["Service"], id: string) =>
  Effect.map(scheduler.getRun(id), Option.getOrUndefined)

// Node A cannot run the long task; node B can: every run of it runs on B.
const cancelScenario = (options: {
  readonly schema: string
  readonly pooler?: "transaction"
  readonly stubborn?: boolean
  readonly heartbeatInterval: "1 second" | "20 seconds"
}) =>
  Effect.gen(function*() {
    const release = yield* Deferred.make<void>()
    const long = longTask(`long-${options.schema}`, options.stubborn === true ? release : undefined)
    const common = { shutdownGrace: 0, cancelGrace: "1 second", nodeHeartbeatInterval: "200 millis" } as const
    const a = yield* startNode({ ...common, tasks: [otherTask], node: "node-a" }, { schema: options.schema })
    const b = yield* startNode(
      {
        ...common,
        tasks: [long.task],
        node: "node-b",
        leaseDuration: "60 seconds",
        heartbeatInterval: options.heartbeatInterval
      },
      { schema: options.schema, ...(options.pooler === undefined ? {} : { pooler: options.pooler }) }
    )
    yield* Effect.addFinalizer(() => Effect.andThen(Deferred.succeed(release, undefined), Effect.andThen(b.close, a.close)))
    yield* a.scheduler.awaitReady("20 seconds")
    yield* b.scheduler.awaitReady("20 seconds")
    // Added where the task is known; triggered and cancelled through A.
    yield* b.scheduler.add(
      Job.make(long.task, { id: "long-job", payload: null, trigger: Trigger.once(Date.now() + 3_600_000) })
    )
    const run = yield* a.scheduler.trigger("long-job")
    yield* eventually(15_000, Effect.map(record(a.scheduler, run.id), (r) => r?.state === "running" && long.started.length === 1 ? r : undefined), "the run started on node B")
    assert.strictEqual((yield* record(a.scheduler, run.id))?.node, "node-b")

    const asked = Date.now()
    const answer = yield* a.scheduler.cancel(run.id)
    assert.strictEqual(answer.state, "running", "a running run is asked to stop; its node records it")
    const cancelled = yield* eventually(10_000, Effect.map(record(a.scheduler, run.id), (r) => r?.state === "cancelled" ? r : undefined), "recorded cancelled")
    const tookMs = Date.now() - asked
    return { run, cancelled, tookMs, long, b, release }
  })

const assertOnce = (b: { readonly events: ReadonlyArray<Event> }, run: Run.RunRecord, history: ReadonlyArray<Run.RunRecord>) => {
  assert.deepStrictEqual(history.map((r) => [r.id, r.state, r.note]), [[run.id, "cancelled", "cancelled by operator"]])
  const cancelledEvents = b.events.filter((e) => e._tag === "RunCancelled")
  assert.strictEqual(cancelledEvents.length, 1, JSON.stringify(b.events.map((e) => e._tag)))
  assert.isFalse(b.events.some((e) => e._tag === "RunFailed" || e._tag === "RunSucceeded" || e._tag === "RunLeaseLost"))
}

describe("cluster state (two nodes, one database)", () => {
  it.live("cancel through node A interrupts a long handler running on node B within seconds (NOTIFY), recorded cancelled once", () =>
    Effect.gen(function*() {
      // Node B renews its leases every 20 s: a cancel seen within seconds came by notification.
      const { b, cancelled, long, run, tookMs } = yield* cancelScenario({ schema: "cancel_notify", heartbeatInterval: "20 seconds" })
      assert.isBelow(tookMs, 5_000, `recorded cancelled after ${tookMs} ms`)
      yield* eventually(5_000, Effect.sync(() => long.interrupted.length === 1 ? true : undefined), "the handler was interrupted")
      assert.isNotNull(cancelled.endedAt)
      yield* realWait(500)
      assertOnce(b, run, yield* b.scheduler.history({ jobId: "long-job" }))
      console.log(`cancel by notification: recorded cancelled ${tookMs} ms after the request`)
    }).pipe(Effect.scoped), 60_000)

  it.live("without notifications (behind a transaction pooler), the lease renewal reports the cancel: recorded cancelled within a renewal", () =>
    Effect.gen(function*() {
      const { b, long, run, tookMs } = yield* cancelScenario({
        schema: "cancel_renewal",
        pooler: "transaction",
        heartbeatInterval: "1 second"
      })
      assert.isBelow(tookMs, 5_000, `recorded cancelled after ${tookMs} ms`)
      assert.strictEqual(long.interrupted.length, 1)
      yield* realWait(500)
      assertOnce(b, run, yield* b.scheduler.history({ jobId: "long-job" }))
      console.log(`cancel by renewal (no LISTEN): recorded cancelled ${tookMs} ms after the request`)
    }).pipe(Effect.scoped), 60_000)

  it.live("a handler that ignores interruption: the run is still recorded cancelled, within cancelGrace (1 s) of the request and a little more", () =>
    Effect.gen(function*() {
      const { b, long, release, run, tookMs } = yield* cancelScenario({
        schema: "cancel_stubborn",
        stubborn: true,
        heartbeatInterval: "20 seconds"
      })
      assert.isBelow(tookMs, 6_000, `recorded cancelled after ${tookMs} ms`)
      assert.isAtLeast(tookMs, 900, "it waited for the handler up to cancelGrace")
      assert.deepStrictEqual(long.ended, [], "the handler still runs, ignoring its interruption")
      assertOnce(b, run, yield* b.scheduler.history({ jobId: "long-job" }))
      // When it ends at last, nothing of it is recorded.
      yield* Deferred.succeed(release, undefined)
      yield* eventually(5_000, Effect.sync(() => long.ended.length === 1 ? true : undefined), "the handler ended")
      yield* realWait(300)
      assertOnce(b, run, yield* b.scheduler.history({ jobId: "long-job" }))
    }).pipe(Effect.scoped), 60_000)

  it.live("nodes lists both live nodes with their fields, and drops a node at its clean shutdown", () =>
    Effect.gen(function*() {
      const schema = "cluster_nodes"
      const release = yield* Deferred.make<void>()
      const long = longTask("nodes-long")
      const common = { shutdownGrace: 0, nodeHeartbeatInterval: "200 millis" } as const
      const before = Date.now()
      const a = yield* startNode({ ...common, tasks: [otherTask], node: "node-a" }, { schema })
      const b = yield* startNode({ ...common, tasks: [long.task, otherTask], node: "node-b" }, { schema })
      yield* Effect.addFinalizer(() => Effect.andThen(Deferred.succeed(release, undefined), Effect.andThen(b.close, a.close)))
      yield* b.scheduler.add(Job.make(long.task, { id: "nodes-long", payload: null, trigger: Trigger.once(Date.now() + 3_600_000) }))
      yield* a.scheduler.trigger("nodes-long")
      const version = yield* NodeHeartbeat.packageVersion
      assert.match(version, /^\d+\.\d+\.\d+/)
      // Both listed; B says it runs one handler once its next beat lands.
      const nodes = yield* eventually(10_000, Effect.map(a.scheduler.nodes, (list) => {
        const byId = new Map(list.map((n) => [n.id, n]))
        return byId.get("node-a") !== undefined && byId.get("node-b")?.running === 1 ? list : undefined
      }), "both nodes listed, node B running one")
      assert.deepStrictEqual(nodes.map((n) => n.id), ["node-a", "node-b"])
      const [nodeA, nodeB] = [nodes[0]!, nodes[1]!]
      for (const node of nodes) {
        assert.strictEqual(node.host, os.hostname())
        assert.strictEqual(node.pid, process.pid)
        assert.strictEqual(node.version, version)
        assert.strictEqual(node.store, "up")
        assert.isTrue(node.startedAt >= before && node.startedAt <= Date.now())
        assert.isTrue(Math.abs(node.heartbeatAt - Date.now()) < 5_000, "heartbeat by the store's clock, recent")
        const health = node.health
        assert.isTrue(typeof health === "object" && health !== null && !Array.isArray(health))
        if (typeof health === "object" && health !== null && !Array.isArray(health)) {
          assert.strictEqual(Reflect.get(health, "node"), node.id)
          const loops = Reflect.get(health, "loops")
          assert.isTrue(Array.isArray(loops) && loops.some((loop) => Reflect.get(loop, "name") === "node-heartbeat"))
        }
      }
      assert.deepStrictEqual([...nodeA.tasks], ["cluster-other"])
      assert.deepStrictEqual([...nodeB.tasks].sort(), ["cluster-other", "nodes-long"])
      assert.strictEqual(nodeA.running, 0)
      // The same, seen from B and from the store directly.
      assert.deepStrictEqual((yield* b.scheduler.nodes).map((n) => n.id), ["node-a", "node-b"])
      // B shuts down cleanly (its handler interrupted after a 0 grace): it leaves the list at once.
      const closing = Date.now()
      yield* b.close
      const shutdownMs = Date.now() - closing
      // Gone from the table, not merely stale: even a lenient staleness bound does not list it.
      const after = yield* a.store.nodes(3_600_000)
      assert.deepStrictEqual(after.map((n) => n.id), ["node-a"], `after B's shutdown (${shutdownMs} ms)`)
      assert.deepStrictEqual((yield* a.scheduler.nodes).map((n) => n.id), ["node-a"])
    }).pipe(Effect.scoped), 60_000)

  it.live("Scheduler operations check their input before the store: InvalidQuery, RunNotFound, none", () =>
    Effect.gen(function*() {
      const a = yield* startNode({ tasks: [otherTask], node: "node-q", shutdownGrace: 0 }, { schema: "cluster_queries" })
      yield* Effect.addFinalizer(() => a.close)
      const s = a.scheduler
      const field = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.map(Effect.flip(effect), (error) => Reflect.get(Object(error), "field") ?? Reflect.get(Object(error), "_tag"))
      assert.strictEqual(yield* field(s.listJobs({ limit: -1 })), "limit")
      assert.strictEqual(yield* field(s.listJobs({ limit: 10_001 })), "limit")
      assert.strictEqual(yield* field(s.listJobs({ after: "bad id with spaces" })), "after")
      assert.strictEqual(yield* field(s.listJobs({ text: "nul\u0000" })), "text")
      assert.strictEqual(yield* field(s.listJobs({ task: "" })), "task")
      assert.strictEqual(yield* field(s.historyPage({ before: "nope" })), "before")
      assert.strictEqual(yield* field(s.historyPage({ from: 1.5 })), "from")
      assert.strictEqual(yield* field(s.history({ to: Number.NaN })), "to")
      assert.strictEqual(yield* field(s.stateCounts("bad id!", 0)), "jobId")
      assert.strictEqual(yield* field(s.stateCounts(undefined, Number.POSITIVE_INFINITY)), "sinceMs")
      assert.strictEqual(yield* field(s.cancel("nope")), "RunNotFound")
      assert.strictEqual(yield* field(s.cancel("999999999999")), "RunNotFound")
      assert.isTrue(Option.isNone(yield* s.getRun("nope")))
      assert.deepStrictEqual(yield* s.listJobs({}), { jobs: [], next: null })
    }).pipe(Effect.scoped), 60_000)

  it.live("a pending run cancelled through the Scheduler is told as RunCancelled, like one its node cancels", () =>
    Effect.gen(function*() {
      const a = yield* startNode({ tasks: [otherTask], node: "node-p", shutdownGrace: 0 }, { schema: "cluster_pending" })
      yield* Effect.addFinalizer(() => a.close)
      const s = a.scheduler
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      // Paused: its manual run stays pending, unclaimed.
      yield* s.add(Job.make(otherTask, { id: "held-back", payload: null, trigger: Trigger.once(now + 3_600_000) }))
      yield* s.pause("held-back")
      const pending = yield* s.trigger("held-back")
      assert.strictEqual(pending.state, "pending")
      const told = yield* s.events.pipe(
        Stream.filter((event): event is Extract<Event, { _tag: "RunCancelled" }> => event._tag === "RunCancelled"),
        Stream.take(1),
        Stream.runHead,
        Effect.timeout("10 seconds"),
        // Subscribed before the cancel below: started at once, up to its first wait.
        (listening) => Effect.forkScoped(listening, { startImmediately: true })
      )
      const cancelled = yield* s.cancel(pending.id)
      assert.strictEqual(cancelled.state, "cancelled")
      const event = yield* Fiber.join(told)
      assert.isTrue(Option.isSome(event), "a RunCancelled event")
      assert.deepStrictEqual(Option.map(event, (e) => [e.runId, e.jobId]), Option.some([pending.id, "held-back"]))
    }).pipe(Effect.scoped), 60_000)
})
