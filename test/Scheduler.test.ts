import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Option, Schedule, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as MemoryJobStore from "../src/MemoryJobStore.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as FaultyJobStore from "../src/testing/FaultyJobStore.ts"
import * as Trigger from "../src/Trigger.ts"
import { collectEvents, eventually, Ledger, memoryScheduler, recordingTask, schedulerOn } from "./support/Harness.ts"

const second = 1_000
const minute = 60 * second
const hour = 60 * minute

describe("Scheduler", () => {
  it.effect("fires an interval job at its anchored instants, without drift", () => {
    const ledger = new Ledger()
    const tick = recordingTask("tick", ledger)
    return Effect.gen(function*() {
      yield* TestClock.adjust(10 * second + 500)
      assert.deepStrictEqual(ledger.firesOf("every-2s"), [2_000, 4_000, 6_000, 8_000, 10_000])
      assert.deepStrictEqual(ledger.startsOf("every-2s"), [2_000, 4_000, 6_000, 8_000, 10_000])
    }).pipe(Effect.provide(memoryScheduler({
      tasks: [tick],
      jobs: [Job.make(tick, { id: "every-2s", payload: null, trigger: Trigger.every("2 seconds") })]
    })))
  })

  it.effect("fires a cron job in its time zone, across a DST change", () => {
    const ledger = new Ledger()
    const task = recordingTask("report", ledger)
    return Effect.gen(function*() {
      // Europe/Berlin springs forward on 2026-03-29 (02:00 → 03:00) and falls back on 2026-10-25.
      yield* TestClock.adjust(3 * 86_400_000)
      assert.deepStrictEqual(ledger.firesOf("berlin-0130").map((t) => new Date(t).toISOString()), [
        "2026-03-28T00:30:00.000Z", // 01:30 CET (+01:00)
        "2026-03-29T00:30:00.000Z", // 01:30 CET, the night of the change
        "2026-03-29T23:30:00.000Z" // 01:30 CEST (+02:00)
      ])
    }).pipe(
      Effect.provide(memoryScheduler({
        tasks: [task],
        jobs: [Job.make(task, {
          id: "berlin-0130",
          payload: null,
          trigger: Trigger.cron("30 1 * * *", { timeZone: "Europe/Berlin" })
        })]
      })),
      Effect.provide(Layer.effectDiscard(TestClock.setTime(Date.parse("2026-03-27T12:00:00Z"))))
    )
  })

  it.effect("a cron fire inside a spring-forward gap runs once, at the end of the gap", () => {
    const ledger = new Ledger()
    const task = recordingTask("report", ledger)
    return Effect.gen(function*() {
      yield* TestClock.adjust(3 * 86_400_000)
      assert.deepStrictEqual(ledger.firesOf("berlin-0230").map((t) => new Date(t).toISOString()), [
        "2026-03-28T01:30:00.000Z", // 02:30 CET
        "2026-03-29T01:00:00.000Z", // 02:30 does not exist: 03:00 CEST, the end of the gap
        "2026-03-30T00:30:00.000Z" // 02:30 CEST
      ])
    }).pipe(
      Effect.provide(memoryScheduler({
        tasks: [task],
        jobs: [Job.make(task, { id: "berlin-0230", payload: null, trigger: Trigger.cron("30 2 * * *", { timeZone: "Europe/Berlin" }) })]
      })),
      Effect.provide(Layer.effectDiscard(TestClock.setTime(Date.parse("2026-03-27T12:00:00Z"))))
    )
  })

  it.effect("fires a one-off job once, at its date", () => {
    const ledger = new Ledger()
    const task = recordingTask("once", ledger)
    return Effect.gen(function*() {
      yield* TestClock.adjust(hour)
      assert.deepStrictEqual(ledger.firesOf("once"), [90 * second])
    }).pipe(Effect.provide(memoryScheduler({
      tasks: [task],
      jobs: [Job.make(task, { id: "once", payload: null, trigger: Trigger.once(90 * second) })]
    })))
  })
})

const historyOf = (jobId: string) =>
  Scheduler.Scheduler.use((s) => s.history({ jobId, limit: 1_000 }))

describe("Scheduler under store faults", () => {
  it.effect("a store failure exactly while the dispatcher records a job's next fire time does not stop scheduling", () => {
    const ledger = new Ledger()
    const tick = recordingTask("tick", ledger)
    // `claim` is the operation that materialises fires and writes each job's next
    // fire time. Make it fail in every way a database can, deterministically.
    const plan = FaultyJobStore.combine(
      FaultyJobStore.firstCallAt("claim", 3_000), // retryable, before commit: rolled back
      FaultyJobStore.firstCallAt("claim", 6_000, (op) => ({ _tag: "Fail", error: FaultyJobStore.fatal(op) })),
      FaultyJobStore.firstCallAt("claim", 9_000, () => ({ _tag: "Die", defect: new Error("bug in the driver") })),
      // committed, but the reply was lost: the fire is claimed and nobody runs it
      FaultyJobStore.firstCallAt("claim", 12_000, (op) => ({ _tag: "FailAfter", error: FaultyJobStore.connectionLost(op) }))
    )
    const store = FaultyJobStore.layer(plan).pipe(Layer.provideMerge(MemoryJobStore.layer))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(40 * second + 500)
      const fires = ledger.firesOf("tick")
      const expected = Array.from({ length: 40 }, (_, i) => (i + 1) * second)
      // Every fire ran, exactly once: the one whose claim reply was lost was
      // adopted by its node at once (not after its lease), by its claim's token.
      assert.deepStrictEqual([...fires].sort((a, b) => a - b), expected)
      const adopted = ledger.entries.find((e) => e.fireTime === 12 * second)
      assert.isAtMost(adopted?.at ?? Infinity, 12 * second + 100, "the fire of the lost reply ran at once")
      const restarts = events.filter((e) => e._tag === "LoopRestarted" && e.loop === "dispatcher")
      assert.strictEqual(restarts.length, 2)
      assert.isTrue(events.some((e) => e._tag === "StoreUnavailable"), "StoreUnavailable")
      assert.isTrue(events.some((e) => e._tag === "StoreRecovered"), "StoreRecovered")
      assert.isFalse(events.some((e) => e._tag === "RunLost"), "no run was lost")
      const health = yield* Scheduler.Scheduler.use((s) => s.health)
      assert.strictEqual(health.loops.find((l) => l.name === "dispatcher")?.restarts, 2)
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [tick],
      jobs: [Job.make(tick, {
        id: "tick",
        payload: null,
        trigger: Trigger.every("1 second"),
        onLost: "retry",
        overlap: { max: 1, onLimit: "wait" }
      })],
      leaseDuration: "5 seconds",
      reapInterval: "1 second"
    })))
  })

  it.effect("operator reads that fail (a slow query timing out) are the caller's error, not the store's health", () => {
    const ledger = new Ledger()
    const tick = recordingTask("tick", ledger)
    const reads = ["get", "list", "history", "listJobs", "historyPage", "getRun", "stateCounts", "nodes"] as const
    // Every operator read fails as a timed-out query would; the runtime's own calls go through.
    const store = FaultyJobStore.layer((operation) =>
      reads.some((read) => read === operation) ? { _tag: "Fail", error: FaultyJobStore.connectionLost(operation) } : undefined
    ).pipe(Layer.provideMerge(MemoryJobStore.layer))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      const scheduler = yield* Scheduler.Scheduler
      yield* TestClock.adjust(2 * second)
      const calls: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
        scheduler.get("tick"),
        scheduler.list,
        scheduler.history({ jobId: "tick" }),
        scheduler.listJobs({}),
        scheduler.historyPage({}),
        scheduler.getRun("1"),
        scheduler.stateCounts(undefined, 0),
        scheduler.nodes
      ]
      for (const call of calls) {
        const exit = yield* Effect.exit(call)
        assert.isTrue(Exit.isFailure(exit) && Exit.hasFails(exit), "the read fails with its StoreError")
      }
      yield* TestClock.adjust(2 * second)
      const health = yield* scheduler.health
      assert.isTrue(health.store.available, "the store is still available")
      assert.strictEqual(health.status, "healthy")
      assert.isFalse(events.some((e) => e._tag === "StoreUnavailable"), "no StoreUnavailable")
      assert.deepStrictEqual(ledger.firesOf("tick"), [1, 2, 3, 4].map((n) => n * second), "scheduling went on")
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [tick],
      jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.every("1 second") })],
      storeRetry: Schedule.recurs(2)
    })))
  })

  it.effect("a defect thrown inside a loop leads to a restart visible in events and health", () => {
    const ledger = new Ledger()
    const tick = recordingTask("tick", ledger)
    const store = FaultyJobStore.layer(
      FaultyJobStore.nthCall("reap", 2, () => ({ _tag: "Die", defect: new Error("reaper bug") }))
    ).pipe(Layer.provideMerge(MemoryJobStore.layer))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(2 * second + 500)
      const failed = events.find((e) => e._tag === "LoopFailed")
      assert.deepStrictEqual(failed && failed._tag === "LoopFailed" ? [failed.loop, failed.error] : [], ["reaper", "reaper bug"])
      assert.isTrue(events.some((e) => e._tag === "LoopRestarted" && e.loop === "reaper" && e.restarts === 1))
      const degraded = yield* Scheduler.Scheduler.use((s) => s.health)
      assert.strictEqual(degraded.status, "degraded")
      assert.strictEqual(degraded.loops.find((l) => l.name === "reaper")?.restarts, 1)
      assert.strictEqual(degraded.loops.find((l) => l.name === "reaper")?.lastError, "reaper bug")
      // The reaper keeps working after the restart, the other loops never noticed.
      yield* TestClock.adjust(2 * minute)
      const healthy = yield* Scheduler.Scheduler.use((s) => s.health)
      assert.strictEqual(healthy.status, "healthy")
      assert.isTrue((healthy.loops.find((l) => l.name === "reaper")?.lastProgress ?? 0) > 2 * minute - 2 * second)
      assert.strictEqual(healthy.loops.find((l) => l.name === "dispatcher")?.restarts, 0)
      assert.strictEqual(ledger.firesOf("tick").length, 122)
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [tick],
      jobs: [Job.make(tick, { id: "tick", payload: null, trigger: Trigger.every("1 second") })],
      reapInterval: "1 second"
    })))
  })
})

describe("Scheduler policies", () => {
  it.effect("a failing handler is retried by its retry schedule, then recorded failed; other jobs keep their times", () => {
    const ledger = new Ledger()
    const flaky = recordingTask("flaky", ledger, () => Effect.fail("upstream 503"))
    const steady = recordingTask("steady", ledger)
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(10 * second)
      assert.deepStrictEqual(ledger.startsOf("flaky"), [5_000, 6_000, 8_000])
      assert.deepStrictEqual(ledger.entries.filter((e) => e.jobId === "flaky").map((e) => e.attempt), [1, 2, 3])
      assert.deepStrictEqual(ledger.startsOf("steady"), Array.from({ length: 10 }, (_, i) => (i + 1) * second))
      const [record] = yield* historyOf("flaky")
      assert.strictEqual(record?.state, "failed")
      assert.strictEqual(record?.attempt, 3)
      assert.include(record?.error ?? "", "upstream 503")
      assert.strictEqual(events.filter((e) => e._tag === "RunRetrying").length, 2)
      assert.isTrue(events.some((e) => e._tag === "RunFailed" && e.jobId === "flaky" && e.attempt === 3))
    }).pipe(Effect.provide(memoryScheduler({
      tasks: [flaky, steady],
      jobs: [
        Job.make(flaky, {
          id: "flaky",
          payload: null,
          trigger: Trigger.once(5_000),
          retry: { attempts: 3, base: "1 second", factor: 2, jitter: false }
        }),
        Job.make(steady, { id: "steady", payload: null, trigger: Trigger.every("1 second") })
      ]
    })))
  })

  it.effect("a handler's defect is recorded on its run and touches nothing else", () => {
    const ledger = new Ledger()
    const buggy = recordingTask("buggy", ledger, () => Effect.die(new TypeError("undefined is not a function")))
    return Effect.gen(function*() {
      yield* TestClock.adjust(3 * second)
      const records = yield* historyOf("buggy")
      assert.deepStrictEqual(records.map((r) => r.state), ["failed", "failed", "failed"])
      assert.include(records[0]?.error ?? "", "undefined is not a function")
      const health = yield* Scheduler.Scheduler.use((s) => s.health)
      assert.strictEqual(health.status, "healthy")
    }).pipe(Effect.provide(memoryScheduler({
      tasks: [buggy],
      jobs: [Job.make(buggy, { id: "buggy", payload: null, trigger: Trigger.every("1 second") })]
    })))
  })

  it.effect("timeout: a handler running past its timeout is interrupted and recorded timed-out", () => {
    const ledger = new Ledger()
    let finished = false
    const slow = recordingTask("slow", ledger, () => Effect.sleep(hour).pipe(Effect.andThen(Effect.sync(() => {
      finished = true
    }))))
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(5 * second)
      const [record] = yield* historyOf("slow")
      assert.strictEqual(record?.state, "timed-out")
      assert.strictEqual(record?.endedAt, 3_000)
      assert.isFalse(finished)
      assert.isTrue(events.some((e) => e._tag === "RunTimedOut"))
    }).pipe(Effect.provide(memoryScheduler({
      tasks: [slow],
      jobs: [Job.make(slow, { id: "slow", payload: null, trigger: Trigger.once(1_000), timeout: "2 seconds" })]
    })))
  })

  it.effect("overlap skip: fires that find the job running are recorded skipped", () => {
    const ledger = new Ledger()
    const slow = recordingTask("slow", ledger, () => Effect.sleep(2_500))
    return Effect.gen(function*() {
      yield* TestClock.adjust(8 * second + 100)
      assert.deepStrictEqual(ledger.firesOf("slow"), [1_000, 4_000, 7_000])
      const records = yield* historyOf("slow")
      const byFire = new Map(records.map((r) => [r.fireTime, r.state]))
      assert.deepStrictEqual([2_000, 3_000, 5_000, 6_000, 8_000].map((t) => byFire.get(t)), [
        "skipped",
        "skipped",
        "skipped",
        "skipped",
        "skipped"
      ])
    }).pipe(Effect.provide(memoryScheduler({
      tasks: [slow],
      jobs: [Job.make(slow, { id: "slow", payload: null, trigger: Trigger.every("1 second"), overlap: { max: 1, onLimit: "skip" } })]
    })))
  })

  it.effect("overlap wait: fires wait for the running one and start as soon as it ends", () => {
    const ledger = new Ledger()
    const slow = recordingTask("slow", ledger, () => Effect.sleep(2_500))
    return Effect.gen(function*() {
      yield* TestClock.adjust(9 * second)
      assert.deepStrictEqual(ledger.firesOf("slow"), [1_000, 2_000, 3_000, 4_000])
      assert.deepStrictEqual(ledger.startsOf("slow"), [1_000, 3_500, 6_000, 8_500])
    }).pipe(Effect.provide(memoryScheduler({
      tasks: [slow],
      jobs: [Job.make(slow, { id: "slow", payload: null, trigger: Trigger.every("1 second"), overlap: { max: 1, onLimit: "wait" } })]
    })))
  })

  it.effect("overlap max 2: two runs of one job at once, not three", () => {
    const ledger = new Ledger()
    const slow = recordingTask("slow", ledger, () => Effect.sleep(2_500))
    return Effect.gen(function*() {
      yield* TestClock.adjust(4 * second + 100)
      assert.deepStrictEqual(ledger.firesOf("slow"), [1_000, 2_000, 4_000])
      const byFire = new Map((yield* historyOf("slow")).map((r) => [r.fireTime, r.state]))
      assert.strictEqual(byFire.get(3_000), "skipped")
    }).pipe(Effect.provide(memoryScheduler({
      tasks: [slow],
      jobs: [Job.make(slow, { id: "slow", payload: null, trigger: Trigger.every("1 second"), overlap: { max: 2, onLimit: "skip" } })]
    })))
  })
})

// Fires every minute; the store is unreachable from 30 s to 400 s, so the
// fires at 60..360 s are found 40..340 s late, beyond the 30 s grace.
const misfireCase = (then: Job.Misfire) => {
  const ledger = new Ledger()
  const task = recordingTask("minutely", ledger)
  const store = FaultyJobStore.layer(FaultyJobStore.during(30 * second, 400 * second)).pipe(
    Layer.provideMerge(MemoryJobStore.layer)
  )
  const layer = schedulerOn(store, {
    tasks: [task],
    jobs: [Job.make(task, { id: "minutely", payload: null, trigger: Trigger.every("1 minute"), misfire: { grace: "30 seconds", then } })]
  })
  return { ledger, layer }
}

describe("Scheduler misfire policies", () => {
  it.effect("coalesce latest: one run for the latest missed fire, the others recorded coalesced", () => {
    const { ledger, layer } = misfireCase({ _tag: "Coalesce", keep: "latest" })
    return Effect.gen(function*() {
      yield* TestClock.adjust(7 * minute + 10 * second)
      assert.deepStrictEqual(ledger.firesOf("minutely"), [360_000, 420_000])
      const states = new Map((yield* historyOf("minutely")).map((r) => [r.fireTime / 1000, r.state]))
      assert.deepStrictEqual([60, 120, 180, 240, 300].map((t) => states.get(t)), Array(5).fill("coalesced"))
      assert.strictEqual(states.get(360), "succeeded")
    }).pipe(Effect.provide(layer))
  })

  it.effect("coalesce earliest: one run, carrying the earliest missed fire time", () => {
    const { ledger, layer } = misfireCase({ _tag: "Coalesce", keep: "earliest" })
    return Effect.gen(function*() {
      yield* TestClock.adjust(7 * minute + 10 * second)
      assert.deepStrictEqual(ledger.firesOf("minutely"), [60_000, 420_000])
    }).pipe(Effect.provide(layer))
  })

  it.effect("skip: every missed fire is recorded missed, none runs", () => {
    const { ledger, layer } = misfireCase({ _tag: "Skip" })
    return Effect.gen(function*() {
      yield* TestClock.adjust(7 * minute + 10 * second)
      assert.deepStrictEqual(ledger.firesOf("minutely"), [420_000])
      const states = new Map((yield* historyOf("minutely")).map((r) => [r.fireTime / 1000, r.state]))
      assert.deepStrictEqual([60, 120, 180, 240, 300, 360].map((t) => states.get(t)), Array(6).fill("missed"))
    }).pipe(Effect.provide(layer))
  })

  it.effect("catch up (max 2): the two most recent missed fires run, older ones are recorded missed", () => {
    const { ledger, layer } = misfireCase({ _tag: "CatchUp", max: 2 })
    return Effect.gen(function*() {
      yield* TestClock.adjust(7 * minute + 10 * second)
      assert.deepStrictEqual(ledger.firesOf("minutely"), [300_000, 360_000, 420_000])
      const states = new Map((yield* historyOf("minutely")).map((r) => [r.fireTime / 1000, r.state]))
      assert.deepStrictEqual([60, 120, 180, 240].map((t) => states.get(t)), Array(4).fill("missed"))
    }).pipe(Effect.provide(layer))
  })
})

describe("Scheduler dynamic operations", () => {
  it.effect("add, update, pause, resume, trigger now and remove, at run time", () => {
    const ledger = new Ledger()
    const device = Task.make("storeDeviceData", Schema.Struct({ deviceId: Schema.String }), (payload, context) =>
      Effect.sync(() => ledger.entries.push({ jobId: `${context.jobId}:${payload.deviceId}`, fireTime: context.fireTime, at: context.fireTime, attempt: context.attempt })))
    return Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const job = Job.make(device, { id: "device-7", payload: { deviceId: "7" }, trigger: Trigger.every("10 seconds") })
      yield* scheduler.add(job)
      yield* eventually(() => true)
      yield* TestClock.adjust(25 * second)
      assert.deepStrictEqual(ledger.firesOf("device-7:7"), [10_000, 20_000])
      // update: a new trigger replaces the old one from now on
      yield* scheduler.update({ ...job, trigger: Trigger.every("3 seconds") })
      yield* TestClock.adjust(5 * second) // now 30 s
      assert.deepStrictEqual(ledger.firesOf("device-7:7").slice(2), [27_000, 30_000])
      // pause: nothing runs
      yield* scheduler.pause("device-7")
      yield* TestClock.adjust(10 * second) // now 40 s
      assert.strictEqual(ledger.firesOf("device-7:7").length, 4)
      // trigger now while paused is refused by nobody but runs only when resumed; resume first
      yield* scheduler.resume("device-7")
      yield* eventually(() => ledger.firesOf("device-7:7").length === 7)
      // the fires missed while paused are within grace: they run on resume
      assert.deepStrictEqual(ledger.firesOf("device-7:7").slice(4), [33_000, 36_000, 39_000])
      const manual = yield* scheduler.trigger("device-7", { deviceId: "manual" })
      yield* eventually(() => ledger.firesOf("device-7:manual").length === 1)
      assert.deepStrictEqual(ledger.firesOf("device-7:manual"), [manual.fireTime])
      // remove: no more fires, history stays
      assert.isTrue(yield* scheduler.remove("device-7"))
      const before = ledger.entries.length
      yield* TestClock.adjust(minute)
      assert.strictEqual(ledger.entries.length, before)
      assert.isTrue(Option.isNone(yield* scheduler.get("device-7")))
      assert.isTrue((yield* scheduler.history({ jobId: "device-7" })).length >= 8)
    }).pipe(Effect.provide(memoryScheduler({ tasks: [device] })))
  })

  it.effect("bad input gets a clear typed error and changes nothing", () => {
    const device = Task.make("storeDeviceData", Schema.Struct({ deviceId: Schema.String }), () => Effect.void)
    return Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const base = Job.make(device, { id: "ok", payload: { deviceId: "1" }, trigger: Trigger.every("1 minute") })
      const reject = (job: Job.Job) => Effect.flip(scheduler.add(job))
      const badCron = yield* reject({ ...base, trigger: Trigger.cron("0 61 * * *") })
      assert.strictEqual(badCron._tag, "InvalidTrigger")
      const badZone = yield* reject({ ...base, trigger: Trigger.cron("0 3 * * *", { timeZone: "Mars/Olympus" }) })
      assert.strictEqual(badZone._tag, "InvalidTrigger")
      const badInterval = yield* reject({ ...base, trigger: Trigger.every(0) })
      assert.strictEqual(badInterval._tag, "InvalidTrigger")
      assert.strictEqual((yield* reject({ ...base, id: "" }))._tag, "InvalidJob")
      assert.strictEqual((yield* reject({ ...base, id: "x".repeat(201) }))._tag, "InvalidJob")
      assert.strictEqual((yield* reject({ ...base, payload: { deviceId: 42 } }))._tag, "InvalidPayload")
      const unknown = yield* reject({ ...base, task: "nobodyKnowsMe" })
      assert.strictEqual(unknown._tag, "UnknownTask")
      assert.strictEqual((yield* Effect.flip(scheduler.trigger("missing")))._tag, "JobNotFound")
      assert.strictEqual((yield* Effect.flip(scheduler.pause("missing")))._tag, "JobNotFound")
      assert.deepStrictEqual(yield* scheduler.list, [])
      yield* scheduler.add(base)
      assert.strictEqual((yield* Effect.flip(scheduler.add(base)))._tag, "JobExists")
      assert.strictEqual((yield* Effect.flip(scheduler.trigger("ok", { deviceId: 1 })))._tag, "InvalidPayload")
      assert.strictEqual((yield* scheduler.list).length, 1)
    }).pipe(Effect.provide(memoryScheduler({ tasks: [device] })))
  })

  it.effect("a scheduler whose declared jobs are invalid fails to start and stores nothing", () =>
    Effect.gen(function*() {
      const device = Task.make("storeDeviceData", Schema.Struct({ deviceId: Schema.String }), () => Effect.void)
      const good = Job.make(device, { id: "good", payload: { deviceId: "1" }, trigger: Trigger.every("1 minute") })
      const bad = Job.make(device, { id: "bad", payload: { deviceId: "1" }, trigger: Trigger.cron("* * *") })
      const error = yield* Effect.flip(Layer.build(Scheduler.layer({ tasks: [device], jobs: [good, bad] })))
      assert.strictEqual(error._tag, "InvalidTrigger")
      const store = yield* JobStore
      assert.deepStrictEqual(yield* store.list, [])
    }).pipe(Effect.provide(MemoryJobStore.layer)))
})

const shutdownCase = (graceMs: number) =>
  Effect.gen(function*() {
    const ledger = new Ledger()
    const finished: Array<number> = []
    const slow = recordingTask("slow", ledger, () =>
      Effect.sleep(3_000).pipe(
        Effect.andThen(Effect.clockWith((clock) => clock.currentTimeMillis)),
        Effect.map((t) => finished.push(t))
      ))
    const storeContext = yield* Layer.build(MemoryJobStore.layer)
    const scope = yield* Scope.make()
    yield* Layer.buildWithScope(
      Scheduler.layer({
        tasks: [slow],
        jobs: [Job.make(slow, { id: "slow", payload: null, trigger: Trigger.once(1_000) })],
        shutdownGrace: graceMs
      }),
      scope
    ).pipe(Effect.provideContext(storeContext))
    yield* TestClock.adjust(1_500) // the handler runs from 1.0 s to 4.0 s
    const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
    yield* TestClock.adjust(10_000)
    yield* Fiber.join(closing)
    const store = Context.get(storeContext, JobStore)
    const [record] = yield* store.history({ jobId: "slow" })
    return { finished, record }
  })

describe("Scheduler shutdown", () => {
  it.effect("closing the scope lets running handlers finish within the grace period", () =>
    Effect.gen(function*() {
      const { finished, record } = yield* shutdownCase(10_000)
      assert.deepStrictEqual(finished, [4_000])
      assert.strictEqual(record?.state, "succeeded")
    }))

  it.effect("handlers still running after the grace period are interrupted and recorded", () =>
    Effect.gen(function*() {
      const { finished, record } = yield* shutdownCase(1_000)
      assert.deepStrictEqual(finished, [])
      assert.strictEqual(record?.state, "failed")
      assert.include(record?.error ?? "", "interrupted")
      // Its end is the store's clock when the outcome was written: after the
      // interruption at 2.5 s (grace over), within the drain's margin (2 s).
      assert.isAtLeast(record?.endedAt ?? 0, 2_500)
      assert.isAtMost(record?.endedAt ?? Infinity, 4_500)
    }))
})
