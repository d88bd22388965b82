import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import * as MemoryJobStore from "../../src/MemoryJobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as FaultyJobStore from "../../src/testing/FaultyJobStore.ts"
import * as Trigger from "../../src/Trigger.ts"
import { collectEvents, Ledger, memoryScheduler, recordingTask, schedulerOn } from "../support/Harness.ts"
import { hangWhen, loopHealth, memoryWith } from "../support/Runtime.ts"

const second = 1_000

const declared = (ledger: Ledger, every: Duration.Input = "1 second") => {
  const tick = recordingTask("tick", ledger)
  return {
    tasks: [tick],
    jobs: ["a", "b"].map((id) => Job.make(tick, { id, payload: null, trigger: Trigger.every(every) }))
  }
}

const health = Scheduler.Scheduler.use((scheduler) => scheduler.health)

describe("Registrar", () => {
  it.effect("registers the declared jobs once, says so in health, then idles and is never flagged", () => {
    const ledger = new Ledger()
    return Effect.gen(function*() {
      yield* TestClock.adjust("1 hour")
      const now = yield* health
      assert.deepStrictEqual(now.registration, { inserted: 2, updated: 0, unchanged: 0, superseded: 0, orphaned: 0, at: 0 })
      assert.isTrue(now.ready)
      const registrar = yield* loopHealth("registrar")
      assert.deepStrictEqual(
        [registrar.state, registrar.lastProgress, registrar.stalls, registrar.restarts],
        ["idle", 0, 0, 0],
        "done at start, idle since (an hour, with a 1 s bound)"
      )
      assert.strictEqual(ledger.firesOf("a").length, 60)
    }).pipe(Effect.provide(memoryScheduler({ ...declared(ledger, "1 minute"), stallAfter: "1 second" })))
  })

  it.effect("while the store fails it retries (store-unavailable); the dispatcher waits, idle, and starts once it registered", () => {
    const ledger = new Ledger()
    const store = FaultyJobStore.layer(FaultyJobStore.during(0, 5 * second, ["register"])).pipe(
      Layer.provideMerge(MemoryJobStore.layer)
    )
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(4 * second)
      const waiting = yield* health
      assert.strictEqual(waiting.status, "store-unavailable")
      assert.deepStrictEqual([waiting.ready, waiting.registration], [false, null])
      const dispatcher = yield* loopHealth("dispatcher")
      assert.strictEqual(dispatcher.state, "idle", "waiting for the registrar is not a stall")
      assert.deepStrictEqual(ledger.entries, [])
      yield* TestClock.adjust(4 * second + 500)
      const registered = yield* health
      assert.strictEqual(registered.status, "healthy")
      assert.isTrue(registered.ready)
      assert.strictEqual(registered.registration?.inserted, 2)
      assert.isAtLeast(registered.registration?.at ?? 0, 5 * second)
      assert.deepStrictEqual(ledger.firesOf("a"), [6 * second, 7 * second, 8 * second])
      assert.isTrue(events.some((e) => e._tag === "StoreUnavailable" && e.operation === "register"))
      assert.isTrue(events.some((e) => e._tag === "StoreRecovered"))
      assert.deepStrictEqual(events.filter((e) => e._tag === "LoopFailed"), [])
    }).pipe(Effect.provide(schedulerOn(store, declared(ledger))))
  })

  it.effect("a registration that never answers is stalled, restarted, and registers on its next life", () => {
    const ledger = new Ledger()
    const hang = hangWhen((call) => call === 1)
    const store = memoryWith((inner) => ({ register: (jobs, options) => hang(inner.register(jobs, options)) }))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(10 * second)
      assert.deepStrictEqual(
        events.filter((e) => e._tag === "LoopStalled"),
        [{ _tag: "LoopStalled", loop: "registrar", progressAgeMs: 3 * second + 1, at: 3 * second + 1 }]
      )
      const registrar = yield* loopHealth("registrar")
      assert.deepStrictEqual([registrar.state, registrar.stalls, registrar.restarts], ["idle", 1, 1])
      assert.strictEqual((yield* health).registration?.inserted, 2)
      assert.deepStrictEqual(ledger.firesOf("a"), [4, 5, 6, 7, 8, 9, 10].map((s) => s * second))
    }).pipe(Effect.provide(schedulerOn(store, { ...declared(ledger), stallAfter: "3 seconds" })))
  })

  it.effect("a fatal store error fails the registrar (LoopFailed); its restart registers", () => {
    const ledger = new Ledger()
    const store = FaultyJobStore.layer(
      FaultyJobStore.nthCall("register", 1, (op) => ({ _tag: "Fail", error: FaultyJobStore.fatal(op) }))
    ).pipe(Layer.provideMerge(MemoryJobStore.layer))
    return Effect.gen(function*() {
      yield* TestClock.adjust(3 * second)
      const registrar = yield* loopHealth("registrar")
      assert.deepStrictEqual([registrar.state, registrar.restarts], ["idle", 1])
      assert.include(registrar.lastError, "ConstraintError")
      assert.strictEqual((yield* health).registration?.inserted, 2)
      assert.deepStrictEqual(ledger.firesOf("a"), [1 * second, 2 * second, 3 * second])
    }).pipe(Effect.provide(schedulerOn(store, declared(ledger))))
  })
})
