import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Effect, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import { JobStore, type NotificationStatus } from "../../src/JobStore.ts"
import * as MemoryJobStore from "../../src/MemoryJobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Trigger from "../../src/Trigger.ts"
import { collectEvents, Ledger, memoryScheduler, recordingTask, schedulerOn } from "../support/Harness.ts"
import { loopHealth, memoryWith, shiftedClock, withClock } from "../support/Runtime.ts"

const second = 1_000
const hour = 3_600_000

describe("Dispatcher", () => {
  it.effect("claims due fires on time and reports progress on every pass", () => {
    const ledger = new Ledger()
    const tick = recordingTask("tick", ledger)
    return Effect.gen(function*() {
      yield* TestClock.adjust(10 * second + 500)
      assert.deepStrictEqual(ledger.firesOf("tick"), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((s) => s * second))
      assert.deepStrictEqual(ledger.startsOf("tick"), ledger.firesOf("tick"))
      const dispatcher = yield* loopHealth("dispatcher")
      // Its last pass claimed the 10 s fire; it now sleeps until the next one.
      assert.strictEqual(dispatcher.lastProgress, 10 * second)
      assert.strictEqual(dispatcher.progressAgeMs, 500)
      assert.strictEqual(dispatcher.state, "running")
      assert.strictEqual(dispatcher.stallAfterMs, 10 * second + 60 * second, "its poll interval plus stallAfter")
    }).pipe(Effect.provide(memoryScheduler({
      tasks: [tick],
      jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.every("1 second") })]
    })))
  })

  it.effect("claimAhead auto: each fire is claimed at the start of the 50 ms window ahead, in one claim, and starts at its instant, never before", () => {
    const ledger = new Ledger()
    const tick = recordingTask("tick", ledger)
    // When each claim was made, and the fires it took.
    const claims: Array<{ readonly at: number; readonly fires: ReadonlyArray<number> }> = []
    const store = memoryWith((inner) => ({
      claim: (request) =>
        Effect.flatMap(Clock.currentTimeMillis, (at) =>
          Effect.tap(inner.claim(request), (result) =>
            Effect.sync(() => {
              if (result.runs.length > 0) claims.push({ at, fires: result.runs.map((run) => run.fireTime) })
            })))
    }))
    return Effect.gen(function*() {
      yield* TestClock.adjust(5 * second + 500)
      assert.deepStrictEqual(ledger.startsOf("tick"), [1, 2, 3, 4, 5].map((s) => s * second))
      // Claims take no time under the test clock: the window is its floor, 50 ms.
      assert.deepStrictEqual(claims.map((claim) => claim.fires), [1, 2, 3, 4, 5].map((s) => [s * second]))
      // (Sleeps end on whole milliseconds: up to 1 ms later.)
      for (const [i, claim] of claims.entries()) assert.approximately(claim.at, (i + 1) * second - 50, 1)
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [tick],
      jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.every("1 second") })],
      claimAhead: "auto"
    })))
  })

  it.effect("two nodes claiming ahead take their own shares of an instant's fires, one claim each, and run every fire once", () =>
    Effect.gen(function*() {
      const ledger = new Ledger()
      const tick = recordingTask("tick", ledger)
      const inner = yield* MemoryJobStore.make
      const claims: Array<{ readonly node: string; readonly at: number; readonly fires: number }> = []
      const store = JobStore.of({
        ...inner,
        claim: (request) =>
          Effect.flatMap(Clock.currentTimeMillis, (at) =>
            Effect.tap(inner.claim(request), (result) =>
              Effect.sync(() => {
                if (result.runs.length > 0) claims.push({ node: request.node, at, fires: result.runs.length })
              })))
      })
      const jobs = Array.from({ length: 40 }, (_, i) =>
        Job.make(tick, { id: `tick-${i}`, payload: null, trigger: Trigger.every("1 second") }))
      for (const node of ["a", "b"]) {
        yield* Layer.build(
          Scheduler.layer({ node, tasks: [tick], jobs, claimAhead: "auto", shutdownGrace: 0 }).pipe(
            Layer.provide(Layer.succeed(JobStore, store))
          )
        )
      }
      yield* TestClock.adjust(5 * second + 500)
      for (const job of jobs) assert.deepStrictEqual(ledger.firesOf(job.id), [1, 2, 3, 4, 5].map((s) => s * second), job.id)
      // Both nodes beat at their start: from the first instant, each claims its share, in one claim.
      for (const s of [1, 2, 3, 4, 5]) {
        const at = claims.filter((claim) => claim.at > (s - 1) * second && claim.at <= s * second)
        assert.deepStrictEqual(at.map((claim) => claim.node).sort(), ["a", "b"], `claims for the fires at ${s} s`)
        for (const claim of at) {
          assert.approximately(claim.at, s * second - 50, 1)
          assert.isAbove(claim.fires, 5, `${claim.node}'s share at ${s} s`)
        }
      }
    }))

  it.effect("a claim that never answers is stalled and restarted by the watchdog; the fires behind it run", () => {
    const ledger = new Ledger()
    const tick = recordingTask("tick", ledger)
    // The first claim at 3 s or later hangs (a statement without a deadline on a dead connection).
    let hung = false
    const store = memoryWith((inner) => ({
      claim: (request) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (hung || now < 3 * second) return inner.claim(request)
          hung = true
          return Effect.never
        })
    }))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(30 * second)
      // Watched with pollInterval (2 s) + stallAfter (5 s): last progress at 2 s, stalled 1 ms past 7 s of silence.
      const stalled = events.find((e) => e._tag === "LoopStalled")
      assert.deepStrictEqual(stalled, { _tag: "LoopStalled", loop: "dispatcher", progressAgeMs: 7 * second + 1, at: 9 * second + 1 })
      const dispatcher = yield* loopHealth("dispatcher")
      assert.strictEqual(dispatcher.stalls, 1)
      assert.strictEqual(dispatcher.restarts, 1)
      assert.strictEqual(dispatcher.lastError, "stalled: no progress within 7000 ms")
      // The restarted dispatcher claimed what came due meanwhile (misfire: coalesced into one run), then every fire on time.
      const fires = ledger.firesOf("tick")
      assert.deepStrictEqual(fires.filter((t) => t < 3 * second), [1 * second, 2 * second])
      assert.deepStrictEqual(fires.filter((t) => t > 10 * second), Array.from({ length: 20 }, (_, i) => (11 + i) * second))
      assert.isTrue(fires.some((t) => t >= 3 * second && t <= 10 * second), "the fires due during the stall were handled")
      assert.strictEqual((yield* Scheduler.Scheduler.use((s) => s.health)).status, "degraded")
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [tick],
      jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.every("1 second") })],
      pollInterval: "2 seconds",
      stallAfter: "5 seconds",
      // Claimed once due, so the hung claim is the one at 3 s.
      claimAhead: 0
    })))
  })
})

// A store whose change feed says nothing (as behind PgBouncer in transaction
// mode) and whose `notifications` reports `status`.
const silentFeed = (status: NotificationStatus) =>
  memoryWith(() => ({ notifications: Effect.succeed(status), changes: Stream.never }))

// Adds a job due now directly in the store, as another process would: this
// scheduler is not woken. Returns when it ran, measured from when it was added.
const addedElsewhere = (id: string, ledger: Ledger, waitMs: number) =>
  Effect.gen(function*() {
    const store = yield* JobStore
    const at = yield* Clock.currentTimeMillis
    yield* store.add(Job.make(recordingTask("direct", ledger), { id, payload: null, trigger: Trigger.once(at) }))
    yield* TestClock.adjust(waitMs)
    const [start] = ledger.startsOf(id)
    return start === undefined ? undefined : start - at
  })

describe("Dispatcher: the poll when notifications do not arrive", () => {
  it.effect("notifications unavailable: a job added by another process runs within fallbackPollInterval (1 s), not the 10 s poll", () => {
    const ledger = new Ledger()
    return Effect.gen(function*() {
      yield* TestClock.adjust(5_300)
      const delays: Array<number | undefined> = []
      for (const [i, offset] of [0, 250, 999, 400].entries()) {
        yield* TestClock.adjust(offset)
        delays.push(yield* addedElsewhere(`job-${i}`, ledger, second))
      }
      for (const delay of delays) {
        if (delay === undefined) return assert.fail("not run within the fallback poll")
        assert.isAtMost(delay, second)
      }
    }).pipe(Effect.provide(schedulerOn(silentFeed("unavailable"), {
      tasks: [recordingTask("direct", ledger)],
      pollInterval: "10 seconds",
      fallbackPollInterval: "1 second"
    })))
  })

  it.effect("notifications working (and this one lost): the same job waits for the 10 s poll", () => {
    const ledger = new Ledger()
    return Effect.gen(function*() {
      yield* TestClock.adjust(5_300)
      assert.isUndefined(yield* addedElsewhere("job", ledger, second), "not within a second")
      yield* TestClock.adjust(9 * second)
      const [start] = ledger.startsOf("job")
      // Polled at 10 s: 4.7 s after it was added.
      assert.strictEqual(start, 10 * second)
    }).pipe(Effect.provide(schedulerOn(silentFeed("working"), {
      tasks: [recordingTask("direct", ledger)],
      pollInterval: "10 seconds",
      fallbackPollInterval: "1 second"
    })))
  })
})

// The database: the in-memory store on a clock of its own (TestClock, never
// stepped). The node: a scheduler whose wall clock is TestClock moved by
// `shift` while its timers and monotonic clock keep going (libfaketime with
// DONT_FAKE_MONOTONIC). `TestClock.setTime` cannot model this: it moves the
// store's clock with the node's and keys pending sleeps by wall time.
const steppedNode = (shift: { ms: number }, ledger: Ledger) =>
  Effect.gen(function*() {
    const database = yield* Clock.clockWith(Effect.succeed)
    const store = withClock(yield* MemoryJobStore.make, database)
    const tick = recordingTask("tick", ledger)
    const layer = Scheduler.layer({
      tasks: [tick],
      jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.every("1 second") })],
      shutdownGrace: 0,
      node: "stepped"
    }).pipe(
      Layer.provide(Layer.succeed(JobStore, store)),
      Layer.provide(Layer.succeed(Clock.Clock, shiftedClock(database, shift)))
    )
    return { layer, store }
  })

describe("Dispatcher: the node's wall clock steps, the database's does not", () => {
  for (const [direction, stepMs] of [["back", -hour], ["forward", hour]] as const) {
    it.effect(`a wall clock stepped ${direction} an hour: every fire still runs once, on time by the database's clock`, () => {
      const ledger = new Ledger()
      const shift = { ms: 0 }
      return Effect.gen(function*() {
        const { layer, store } = yield* steppedNode(shift, ledger)
        const scheduler = Context.get(yield* Layer.build(layer), Scheduler.Scheduler)
        yield* TestClock.adjust(10 * second + 500)
        shift.ms = stepMs
        yield* TestClock.adjust(20 * second)
        // Fire times and start times are the database's (TestClock's) own.
        const expected = Array.from({ length: 30 }, (_, i) => (i + 1) * second)
        assert.deepStrictEqual(ledger.firesOf("tick"), expected)
        const history = yield* store.history({ jobId: "tick", limit: 100 })
        assert.deepStrictEqual(history.map((r) => r.startedAt).reverse(), expected, "started at its fire time, never early")
        assert.isTrue(history.every((r) => r.state === "succeeded"))
        const health = yield* scheduler.health
        assert.strictEqual(health.status, "healthy")
        assert.isTrue(health.loops.every((loop) => loop.stalls === 0 && loop.restarts === 0))
      })
    })
  }
})
