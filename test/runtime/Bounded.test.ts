/**
 * Waiting with a hard bound, and what it is for: closing a scheduler's scope
 * ends within `shutdownGrace + Scheduler.shutdownMarginMs` whatever a handler
 * or the database does. The last case runs on real PostgreSQL through the
 * project's TCP proxy, with every connection gone silent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Redacted, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import { PgClient } from "@effect/sql-pg"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as MemoryJobStore from "../../src/MemoryJobStore.ts"
import * as PgJobStore from "../../src/PgJobStore.ts"
import * as Bounded from "../../src/runtime/Bounded.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Task from "../../src/Task.ts"
import * as Trigger from "../../src/Trigger.ts"
import * as Pg from "../support/Pg.ts"
import * as TcpProxy from "../support/TcpProxy.ts"

const second = 1_000

/** Lets forked fibers run without moving the clock. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow
})

describe("Bounded.within", () => {
  it.effect("returns the exit of an effect that ends in time", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Bounded.within(Effect.as(Effect.sleep(500), "done"), second))
      yield* TestClock.adjust(500)
      assert.deepStrictEqual(fiber.pollUnsafe(), Exit.succeed(Option.some(Exit.succeed("done"))))
    }))

  it.effect("stops waiting at the bound for an effect that ignores interruption, and does not wait for it", () =>
    Effect.gen(function*() {
      let endedAt: number | undefined
      const stubborn = Effect.uninterruptible(Effect.sleep(5 * second)).pipe(
        Effect.ensuring(Effect.map(Clock.currentTimeMillis, (t) => void (endedAt = t)))
      )
      const fiber = yield* Effect.forkChild(Bounded.within(stubborn, second))
      yield* TestClock.adjust(second)
      assert.deepStrictEqual(fiber.pollUnsafe(), Exit.succeed(Option.none()))
      assert.isUndefined(endedAt)
      yield* TestClock.adjust(4 * second)
      assert.strictEqual(endedAt, 5 * second, "it ran on, abandoned, to its own end")
    }))

  it.effect("interrupts an effect that is late, in the background", () =>
    Effect.gen(function*() {
      let interruptedAt: number | undefined
      const late = Effect.onInterrupt(Effect.sleep(5 * second), () =>
        Effect.map(Clock.currentTimeMillis, (t) => void (interruptedAt = t)))
      const result = yield* Effect.forkChild(Bounded.within(late, second))
      yield* TestClock.adjust(second)
      yield* settle
      assert.deepStrictEqual(result.pollUnsafe(), Exit.succeed(Option.none()))
      assert.strictEqual(interruptedAt, second)
    }))

  it.effect("a caller interrupted while it waits interrupts the effect, without waiting for it", () =>
    Effect.gen(function*() {
      let interruptedAt: number | undefined
      const slow = Effect.onInterrupt(Effect.sleep(5 * second), () =>
        Effect.map(Clock.currentTimeMillis, (t) => void (interruptedAt = t)))
      const caller = yield* Effect.forkChild(Bounded.within(slow, 3 * second))
      yield* TestClock.adjust(second)
      yield* Fiber.interrupt(caller)
      yield* settle
      assert.strictEqual(interruptedAt, second)
    }))
})

describe("Bounded.close", () => {
  it.effect("closes a scope and says it closed in time", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      let closed = false
      yield* Scope.addFinalizer(scope, Effect.sync(() => void (closed = true)))
      assert.isTrue(yield* Bounded.close(scope, second))
      assert.isTrue(closed)
    }))

  it.effect("gives up at the bound on a scope whose fiber is stuck where interruption cannot reach", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Effect.forkIn(Effect.uninterruptible(Effect.never), scope)
      const closing = yield* Effect.forkChild(Bounded.close(scope, second))
      yield* TestClock.adjust(999)
      assert.isUndefined(closing.pollUnsafe())
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(closing.pollUnsafe(), Exit.succeed(false))
    }))
})

// A run whose handler ignores interruption (until `release`), and one that
// finishes within the grace period.
const shutdownTasks = (release: Deferred.Deferred<void>, started: Array<string>, finished: Array<string>) => [
  Task.make("stubborn", Schema.Unknown, () =>
    Effect.andThen(Effect.sync(() => void started.push("stubborn")), Effect.uninterruptible(Deferred.await(release)))),
  Task.make("polite", Schema.Unknown, () =>
    Effect.sync(() => void started.push("polite")).pipe(
      Effect.andThen(Effect.sleep(second)),
      Effect.andThen(Effect.sync(() => void finished.push("polite")))
    ))
]

describe("Scheduler shutdown is bounded", () => {
  it.effect("with a handler that ignores interruption, closing the scope ends within shutdownGrace + shutdownMarginMs", () =>
    Effect.gen(function*() {
      const graceMs = 2 * second
      const release = Deferred.makeUnsafe<void>()
      const started: Array<string> = []
      const finished: Array<string> = []
      const tasks = shutdownTasks(release, started, finished)
      const storeContext = yield* Layer.build(MemoryJobStore.layer)
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(
        Scheduler.layer({
          tasks,
          jobs: tasks.map((task) => Job.make(task, { id: task.name, payload: null, trigger: Trigger.once(second) })),
          shutdownGrace: graceMs,
          node: "closing"
        }),
        scope
      ).pipe(Effect.provideContext(storeContext))
      yield* TestClock.adjust(1_500)
      assert.sameMembers(started, ["stubborn", "polite"])

      const from = yield* Clock.currentTimeMillis
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      let closedAfter: number | undefined
      for (let elapsed = 0; elapsed <= graceMs + Scheduler.shutdownMarginMs + second; elapsed += 100) {
        if (closing.pollUnsafe() !== undefined) {
          closedAfter = (yield* Clock.currentTimeMillis) - from
          break
        }
        yield* TestClock.adjust(100)
      }
      if (closedAfter === undefined) return assert.fail("the scope did not close")
      assert.isAtMost(closedAfter, graceMs + Scheduler.shutdownMarginMs)
      assert.isAtLeast(closedAfter, graceMs, "it gave the handlers their grace period")
      // The polite handler finished within the grace and its outcome was written;
      // the stubborn one was abandoned, its run left to its lease.
      const store = Context.get(storeContext, JobStore)
      assert.deepStrictEqual(finished, ["polite"])
      assert.strictEqual((yield* store.history({ jobId: "polite" }))[0]?.state, "succeeded")
      assert.strictEqual((yield* store.history({ jobId: "stubborn" }))[0]?.state, "running")
      yield* Deferred.succeed(release, undefined)
    }))

  it.live("on real PostgreSQL gone silent (no RST), with a handler that ignores interruption: closing ends within the bound", () =>
    Effect.gen(function*() {
      const graceMs = 2 * second
      const bound = graceMs + Scheduler.shutdownMarginMs
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const url = new URL(await Pg.databaseUrl())
          return TcpProxy.start({ host: url.hostname, port: Number(url.port) })
        }),
        (proxy) => Effect.promise(() => proxy.close())
      )
      // Store deadlines longer than the bound: only shutdown's own bounds can keep it.
      const storeContext = yield* Layer.build(
        PgJobStore.layer({ schema: "bounded", deadlines: { default: "30 seconds" } }).pipe(
          Layer.provide(PgClient.layer({ url: Redacted.make(proxy.via(yield* Pg.url)), connectTimeout: "30 seconds" }))
        )
      )
      const release = Deferred.makeUnsafe<void>()
      const started: Array<string> = []
      const finished: Array<string> = []
      const tasks = shutdownTasks(release, started, finished)
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Scheduler.layer({ tasks, shutdownGrace: graceMs, node: "silent", pollInterval: "200 millis" }),
        scope
      ).pipe(Effect.provideContext(storeContext))
      const scheduler = Context.get(context, Scheduler.Scheduler)
      yield* scheduler.awaitReady("10 seconds")
      const at = yield* Context.get(storeContext, JobStore).now
      for (const task of tasks) yield* scheduler.add(Job.make(task, { id: task.name, payload: null, trigger: Trigger.once(at) }))
      const deadline = Date.now() + 10 * second
      while (started.length < 2 && Date.now() < deadline) yield* Effect.sleep(20)
      assert.sameMembers(started, ["stubborn", "polite"])

      // Every byte from now on goes nowhere, both ways: the polite handler's
      // outcome, renewals, claims and polls all wait on a silent database.
      proxy.setBlackhole(true)
      yield* Effect.sleep(300)
      const start = performance.now()
      const closing = yield* Effect.forkDetach(Scope.close(scope, Exit.void))
      // The test's own deadline, well past the promise: a hang fails it, not the run.
      const closed = yield* Effect.timeoutOption(Fiber.await(closing), bound + 10 * second)
      const ms = performance.now() - start
      assert.isTrue(Option.isSome(closed), `the scope did not close within ${bound + 10 * second} ms`)
      assert.isBelow(ms, bound, `closed in ${Math.round(ms)} ms, bound ${bound} ms`)
      assert.isAtLeast(ms, graceMs - 300, "the grace period was given")
      assert.deepStrictEqual(finished, ["polite"])
      assert.isAtLeast(proxy.blackholed(), 1)
      // Let go of everything the silent connections hold, so the pool closes at once.
      yield* Deferred.succeed(release, undefined)
      proxy.dropAll()
    }), 60_000)
})
