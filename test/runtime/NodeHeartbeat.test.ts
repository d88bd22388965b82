/**
 * The node heartbeat loop (src/runtime/NodeHeartbeat.ts), on the in-memory
 * store under TestClock: it beats at start and every interval with what the
 * node is (tasks, runs in progress, health, store status), a beat the store
 * refuses is skipped without failing the loop, and a clean shutdown leaves.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as MemoryJobStore from "../../src/MemoryJobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import { StoreError } from "../../src/StoreError.ts"
import * as Trigger from "../../src/Trigger.ts"
import * as NodeHeartbeat from "../../src/runtime/NodeHeartbeat.ts"
import { Ledger, recordingTask, schedulerOn } from "../support/Harness.ts"
import { loopHealth, memoryWith } from "../support/Runtime.ts"

const second = 1_000

describe("NodeHeartbeat", () => {
  it.effect("beats at start and every interval: its row says what the node is and runs; the store's clock stamps it", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const work = recordingTask("work", new Ledger(), () => Deferred.await(release))
      const context = yield* Layer.build(schedulerOn(MemoryJobStore.layer, {
        tasks: [work],
        node: "beating",
        nodeHeartbeatInterval: "5 seconds",
        jobs: [Job.make(work, { id: "work", payload: null, trigger: Trigger.once(2 * second) })]
      }))
      const store = Context.get(context, JobStore)
      yield* TestClock.adjust(1)
      const [first] = yield* store.nodes(60 * second)
      assert.deepStrictEqual(
        [first?.id, first?.tasks, first?.running, first?.store, first?.heartbeatAt, first?.startedAt],
        ["beating", ["work"], 0, "up", 0, 0]
      )
      assert.strictEqual(first?.version, yield* NodeHeartbeat.packageVersion)
      // The run started at 2 s; the next beat (5 s) says so.
      yield* TestClock.adjust(5 * second)
      const [second5] = yield* store.nodes(60 * second)
      assert.deepStrictEqual([second5?.heartbeatAt, second5?.running], [5 * second, 1])
      const loops = Reflect.get(Object(second5?.health), "loops")
      assert.isTrue(Array.isArray(loops) && loops.length > 0)
      const beat = yield* loopHealth("node-heartbeat").pipe(Effect.provideContext(context))
      assert.deepStrictEqual([beat.lastProgress, beat.stallAfterMs, beat.restarts], [5 * second, 5 * second + 60 * second, 0])
      yield* Deferred.succeed(release, undefined)
      yield* TestClock.adjust(5 * second)
      assert.strictEqual((yield* store.nodes(60 * second))[0]?.running, 0)
    }))

  it.effect("a beat the store refuses is skipped, not a loop failure: no restart, and the next beat is written once the store takes it", () =>
    Effect.gen(function*() {
      let refuse = true
      let refused = 0
      const store = memoryWith((inner) => ({
        heartbeat: (info) =>
          refuse
            ? Effect.suspend(() => {
              refused++
              return Effect.fail(new StoreError({ operation: "heartbeat", reason: "Injected", retryable: false, cause: new Error("refused") }))
            })
            : inner.heartbeat(info)
      }))
      const context = yield* Layer.build(schedulerOn(store, {
        tasks: [recordingTask("work", new Ledger())],
        node: "refused",
        nodeHeartbeatInterval: "1 second"
      }))
      yield* TestClock.adjust(3 * second)
      const nodes = Context.get(context, JobStore).nodes(5 * second)
      assert.isAtLeast(refused, 3, "a beat every second, each refused")
      assert.deepStrictEqual(yield* nodes, [])
      const failing = yield* loopHealth("node-heartbeat").pipe(Effect.provideContext(context))
      assert.deepStrictEqual([failing.restarts, failing.lastError, failing.state], [0, null, "running"])
      refuse = false
      yield* TestClock.adjust(1 * second)
      assert.deepStrictEqual((yield* nodes).map((n) => n.id), ["refused"])
      const healed = yield* loopHealth("node-heartbeat").pipe(Effect.provideContext(context))
      assert.strictEqual(healed.restarts, 0)
    }))

  it.effect("a clean shutdown leaves: the node's row is gone at once", () =>
    Effect.gen(function*() {
      const storeContext = yield* Layer.build(MemoryJobStore.layer)
      const store = Context.get(storeContext, JobStore)
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(
        Scheduler.layer({ tasks: [recordingTask("work", new Ledger())], node: "leaving", shutdownGrace: 0 }),
        scope
      ).pipe(Effect.provideContext(storeContext))
      yield* TestClock.adjust(1)
      assert.deepStrictEqual((yield* store.nodes(60 * second)).map((n) => n.id), ["leaving"])
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* store.nodes(60 * second), [])
    }))

  it.effect("a beat stuck past shutdown's bound, landing after the node left, does not bring it back", () =>
    Effect.gen(function*() {
      const land = yield* Deferred.make<void>()
      const landed = yield* Deferred.make<void>()
      let beats = 0
      // Every beat after the first hangs where interruption cannot reach (a
      // statement on its way), and lands when the test says.
      const storeContext = yield* Layer.build(memoryWith((inner) => ({
        heartbeat: (info) =>
          beats++ === 0 ? inner.heartbeat(info) : Effect.uninterruptible(
            Deferred.await(land).pipe(Effect.andThen(inner.heartbeat(info)), Effect.ensuring(Deferred.succeed(landed, undefined)))
          )
      })))
      const store = Context.get(storeContext, JobStore)
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(
        Scheduler.layer({ tasks: [recordingTask("work", new Ledger())], node: "ghost", shutdownGrace: 0, nodeHeartbeatInterval: "1 second" }),
        scope
      ).pipe(Effect.provideContext(storeContext))
      yield* TestClock.adjust(1_500)
      assert.strictEqual(beats, 2, "the second beat is stuck")
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      // Shutdown is bounded (`shutdownGrace` plus its margin): within a minute of the test's clock.
      for (let t = 0; closing.pollUnsafe() === undefined; t += 100) {
        if (t > 60 * second) return assert.fail("shutdown did not end within a minute")
        yield* TestClock.adjust(100)
      }
      assert.deepStrictEqual(yield* store.nodes(60 * second), [], "left at shutdown")
      yield* Deferred.succeed(land, undefined)
      yield* Deferred.await(landed)
      assert.deepStrictEqual(yield* store.nodes(60 * second), [], "the late beat was ignored")
    }))
})
