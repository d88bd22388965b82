/**
 * The test from the guide "Property-testing retry behaviour" (docs/testing.md),
 * written as a user would: importing only the public entry points.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Job, StoreRetry, Task, Trigger } from "steadfast"
import { Arbitraries, Assertions, FaultyJobStore, TestScheduler } from "steadfast/testing"

// The job under test: sync a device every 5 seconds. The handler counts its
// own runs per fire: the independent record the assertions check against.
const runsPerFire = new Map<number, number>()
const syncDevice = Task.make("syncDevice", Schema.Struct({ deviceId: Schema.String }), (_, { fireTime }) =>
  Effect.sync(() => runsPerFire.set(fireTime, (runsPerFire.get(fireTime) ?? 0) + 1)))

const job = Job.make(syncDevice, {
  id: "sync-device-7",
  payload: { deviceId: "7" },
  trigger: Trigger.every("5 seconds"),
  // A run whose claim reply was lost is taken over when its lease expires...
  onLost: "retry",
  // ...and fires behind it wait for it instead of being skipped.
  overlap: { max: 1, onLimit: "wait" }
})

// How the scheduler retries a failing store: capped exponential backoff.
// The assertion below demands recovery within `assertedCapMs` of an outage's
// end; a retry cap (plus its ±20 % jitter) above that makes the test fail.
const retryCapMs = 500
const assertedCapMs = 600
const storeRetry = StoreRetry.policy({ base: "10 millis", cap: retryCapMs, maxElapsed: "1 minute" })

const faultsEndBy = 60_000
const horizon = 3 * 60_000

it.effect.prop(
  "every fire runs exactly once once the faults stop, and recovery respects the retry cap",
  [Arbitraries.failurePlan({ horizon: faultsEndBy, maxOutage: 15_000 })],
  ([plan]) =>
    Effect.gen(function*() {
      runsPerFire.clear()
      const events = yield* TestScheduler.recordEvents
      yield* TestClock.adjust(horizon)

      // Every fire after the start ran, and ran once.
      yield* Assertions.noFireLost(job.id, { from: 0, until: horizon - 5_000 })
      const twice = [...runsPerFire].filter(([, runs]) => runs !== 1)
      assert.deepStrictEqual(twice, [])

      // Each outage the scheduler noticed ended in a recovery within the cap.
      yield* Assertions.recoveredWithin(events, plan.outages, assertedCapMs)
    }).pipe(
      Effect.provide(TestScheduler.layer({
        tasks: [syncDevice],
        jobs: [job],
        storeRetry,
        leaseDuration: "5 seconds",
        reapInterval: "1 second",
        faults: FaultyJobStore.fromPlan(plan)
      }))
    ),
  { arbitrary: { runs: 30 } }
)
