import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as MemoryJobStore from "../../src/MemoryJobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as FaultyJobStore from "../../src/testing/FaultyJobStore.ts"
import * as Trigger from "../../src/Trigger.ts"
import { collectEvents, eventually, Ledger, recordingTask, schedulerOn } from "../support/Harness.ts"
import { loopHealth, memoryWith, sampleHealth } from "../support/Runtime.ts"

const second = 1_000

// Adds a job due now directly in the store, as another process would (the
// scheduler hears of it only through the change feed), and waits, without
// moving the clock, until it ran: a wake-up, not the poll.
const wokenBy = (id: string, ledger: Ledger) =>
  Effect.gen(function*() {
    const store = yield* JobStore
    const at = yield* Clock.currentTimeMillis
    yield* store.add(Job.make(recordingTask("direct", ledger), { id, payload: null, trigger: Trigger.once(at) }))
    yield* eventually(() => ledger.firesOf(id).length === 1)
    assert.deepStrictEqual(ledger.startsOf(id), [at])
  })

describe("Listener", () => {
  it.effect("through 6 reconnects 20 s apart: no LoopFailed, never degraded, each drop reads as StoreUnavailable then StoreRecovered, and wake-ups still work", () => {
    const ledger = new Ledger()
    const drops = [20, 40, 60, 80, 100, 120].map((s) => s * second)
    // Each subscription: one change at once (as the PostgreSQL store emits
    // after LISTEN, for what it may have missed), then the store's changes,
    // until the connection drops at the next of `drops`.
    const store = memoryWith((inner) => ({
      changes: Stream.unwrap(Effect.map(Clock.currentTimeMillis, (now) => {
        const feed = Stream.concat(Stream.succeed(undefined), inner.changes)
        const next = drops.find((t) => t > now)
        if (next === undefined) return feed
        const drop = Stream.fromEffect(Effect.andThen(Effect.sleep(next - now), Effect.fail(FaultyJobStore.connectionLost("changes"))))
        return Stream.merge(feed, drop)
      }))
    }))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      const { samples } = yield* sampleHealth(50)
      yield* TestClock.adjust(130 * second)

      assert.deepStrictEqual(events.filter((e) => e._tag === "LoopFailed"), [])
      assert.isAtLeast(samples.length, 2_500)
      assert.deepStrictEqual(samples.filter((s) => s.status === "degraded"), [], "never degraded")
      const outages = events.flatMap((e) =>
        e._tag === "StoreUnavailable" ? [`unavailable:${e.operation}@${e.at}`] : e._tag === "StoreRecovered" ? ["recovered"] : []
      )
      assert.deepStrictEqual(outages, drops.flatMap((at) => [`unavailable:changes@${at}`, "recovered"]))
      // Each outage lasted the reconnect delay (a short backoff, started afresh each time), not seconds.
      for (const e of events) if (e._tag === "StoreRecovered") assert.isAtMost(e.downtimeMs, 100)
      const listener = yield* loopHealth("listener")
      assert.strictEqual(listener.restarts, 0)
      assert.strictEqual(listener.stalls, 0)
      assert.strictEqual(listener.state, "idle", "idle between changes, by design")
      assert.strictEqual((yield* Scheduler.Scheduler.use((s) => s.health)).status, "healthy")

      yield* wokenBy("after-reconnects", ledger)
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [recordingTask("direct", ledger)],
      pollInterval: "10 seconds",
      stallAfter: "5 seconds"
    })))
  })

  it.effect("a fatal error on the feed fails the loop (LoopFailed), which is restarted and wakes the dispatcher again", () => {
    const ledger = new Ledger()
    const store = FaultyJobStore.layer(
      FaultyJobStore.nthCall("changes", 1, (op) => ({ _tag: "Fail", error: FaultyJobStore.fatal(op) }))
    ).pipe(Layer.provide(MemoryJobStore.layer))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(5 * second)
      const failed = events.filter((e) => e._tag === "LoopFailed")
      assert.deepStrictEqual(failed.map((e) => e._tag === "LoopFailed" && e.loop), ["listener"])
      assert.isTrue(events.some((e) => e._tag === "LoopRestarted" && e.loop === "listener"))
      assert.strictEqual((yield* loopHealth("listener")).restarts, 1)
      yield* wokenBy("after-restart", ledger)
    }).pipe(Effect.provide(schedulerOn(store, { tasks: [recordingTask("direct", ledger)], pollInterval: "10 seconds" })))
  })
})
