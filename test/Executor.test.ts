/**
 * Claims apart from handler slots (issue 12), through a real scheduler on a
 * real PostgreSQL: `maxInFlight` bounds the handlers running at once, never
 * the claims; claimed runs wait in the executor's queue, start in fire-time
 * order, keep their leases renewed while they wait (a `Skip` job's that
 * waited past its grace is recorded missed, not run late), and a run claimed
 * ahead of its fire starts at its instant, never before.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Deferred, Effect, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Executor from "../src/Executor.ts"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import type * as Run from "../src/Run.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import { realWait } from "./support/Harness.ts"
import * as Pg from "./support/Pg.ts"

// Polls `done` every 20 ms; fails past `deadlineMs`.
const waitFor = (what: string, done: () => boolean, deadlineMs = 15_000) =>
  Effect.gen(function*() {
    const until = Date.now() + deadlineMs
    while (!done()) {
      if (Date.now() > until) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* realWait(20)
    }
  })

// Reads `read` every 20 ms until `done` holds of what it returns (returned); fails past `deadlineMs`.
const readUntil = <A, E, R>(what: string, read: Effect.Effect<A, E, R>, done: (a: A) => boolean, deadlineMs = 10_000) =>
  Effect.gen(function*() {
    const until = Date.now() + deadlineMs
    let value = yield* read
    while (!done(value)) {
      if (Date.now() > until) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* realWait(20)
      value = yield* read
    }
    return value
  })

// A task whose job "blocker" holds its handler slot until `release`; the
// job id of every run that ended, in `ran`.
const blockerTask = (name: string) =>
  Effect.gen(function*() {
    const release = yield* Deferred.make<void>()
    const ran: Array<string> = []
    const task = Task.unit(name, (context) =>
      Effect.gen(function*() {
        if (context.jobId === "blocker") yield* Deferred.await(release)
        ran.push(context.jobId)
      }))
    return { ran, release, task }
  })

const schedulerOn = (store: JobStore["Service"], options: Scheduler.Options<never>) =>
  Effect.map(
    Layer.build(Scheduler.layer(options).pipe(Layer.provide(Layer.succeed(JobStore, store)))),
    (context) => Context.get(context, Scheduler.Scheduler)
  )

describe("Executor: claims apart from handler slots", () => {
  it.live("maxInFlight 2, 100 due runs: never more than 2 handlers at once, every run started in fire-time order", () =>
    Effect.gen(function*() {
      let active = 0
      let most = 0
      const started: Array<number> = []
      const task = Task.unit("slots", (context) =>
        Effect.gen(function*() {
          active++
          most = Math.max(most, active)
          started.push(context.fireTime)
          yield* realWait(2)
          active--
        }))
      const store = yield* Pg.makeStore({ schema: "slots" })
      const now = yield* store.now
      // All due, fire times 10 ms apart, added out of order.
      const fires = Array.from({ length: 100 }, (_, i) => now - 5_000 + 10 * i)
      const order = fires.map((_, i) => (i * 37) % 100)
      for (const i of order) {
        yield* store.add(Job.make(task, { id: `slots-${i}`, payload: null, trigger: Trigger.once(fires[i]!) }))
      }
      yield* schedulerOn(store, { tasks: [task], maxInFlight: 2, shutdownGrace: 0 })
      yield* waitFor("100 runs", () => started.length >= 100)
      assert.strictEqual(most, 2, "two handlers ran at once, never more")
      assert.deepStrictEqual(started, fires, "each run once, in fire-time order")
    }), 30_000)

  it.live("claimed runs waiting for a slot keep their leases renewed, and each runs once when a slot frees up", () =>
    Effect.gen(function*() {
      const { ran, release, task } = yield* blockerTask("queued")
      const store = yield* Pg.makeStore({ schema: "queued" })
      const sql = yield* Pg.makeClient()
      const scheduler = yield* schedulerOn(store, {
        tasks: [task],
        maxInFlight: 1,
        leaseDuration: "2 seconds",
        reapInterval: "200 millis",
        shutdownGrace: 0
      })
      // A first run, so the executor knows how long runs take (before that it claims only for free slots).
      const now = yield* store.now
      yield* scheduler.add(Job.make(task, { id: "warm", payload: null, trigger: Trigger.once(now) }))
      yield* waitFor("the warm-up run", () => ran.includes("warm"))
      const at = (yield* store.now) - 1_000
      yield* scheduler.add(Job.make(task, { id: "blocker", payload: null, trigger: Trigger.once(at) }))
      for (let i = 0; i < 5; i++) {
        yield* scheduler.add(Job.make(task, { id: `waiting-${i}`, payload: null, trigger: Trigger.once(at + 1 + i) }))
      }
      // The blocker holds the only slot; the five others are claimed and wait in the queue.
      const claimed = () =>
        sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM queued.runs
          WHERE state = 'running' AND job_id LIKE 'waiting-%'`.pipe(Effect.map(([row]) => row?.n ?? 0))
      yield* readUntil("the waiting runs to be claimed", claimed(), (n) => n >= 5)
      // Two and a half leases long: without renewal the reaper would have taken them.
      yield* realWait(5_000)
      const leases = yield* sql<{ readonly job_id: string; readonly ahead: number }>`
        SELECT job_id, (lease_until - floor(extract(epoch from clock_timestamp()) * 1000))::int AS ahead
        FROM queued.runs WHERE job_id LIKE 'waiting-%' AND state = 'running' ORDER BY job_id`
      assert.strictEqual(leases.length, 5, "still claimed by this node, none reaped")
      for (const lease of leases) assert.isAbove(lease.ahead, 0, `${lease.job_id}'s lease is current`)
      assert.deepStrictEqual(ran, ["warm"], "none of them started while the slot was taken")
      const released = yield* store.now
      yield* Deferred.succeed(release, undefined)
      yield* waitFor("every run", () => ran.length >= 7)
      assert.deepStrictEqual(ran, ["warm", "blocker", "waiting-0", "waiting-1", "waiting-2", "waiting-3", "waiting-4"])
      // Each recorded once, succeeded at its first attempt: never reaped, lost or retried.
      const outcomes = () =>
        sql<{ readonly job_id: string; readonly state: string; readonly attempt: number; readonly started_at: string }>`
          SELECT job_id, state, attempt, started_at FROM queued.runs WHERE job_id LIKE 'waiting-%' ORDER BY job_id`
      const records = yield* readUntil("the outcomes", outcomes(), (rows) => rows.every((r) => r.state !== "running"))
      assert.deepStrictEqual(
        records.map((r) => [r.job_id, r.state, r.attempt]),
        [0, 1, 2, 3, 4].map((i) => [`waiting-${i}`, "succeeded", 1])
      )
      // Their records start when their handlers did, after the 5 s wait, not when they were claimed
      // (by the node's estimate of the database clock: within milliseconds of it).
      for (const record of records) {
        assert.isAtLeast(Number(record.started_at), released - 50, `${record.job_id} started after the wait`)
      }
    }), 40_000)

  it.live("a Skip job's run that waited for a slot past its grace is recorded missed, never run; the others waiting run", () =>
    Effect.gen(function*() {
      const { ran, release, task } = yield* blockerTask("patience")
      const store = yield* Pg.makeStore({ schema: "patience" })
      const sql = yield* Pg.makeClient()
      const scheduler = yield* schedulerOn(store, { tasks: [task], maxInFlight: 1, shutdownGrace: 0 })
      // A first run, so the executor knows how long runs take (before that it claims only for free slots).
      yield* scheduler.add(Job.make(task, { id: "warm", payload: null, trigger: Trigger.once(yield* store.now) }))
      yield* waitFor("the warm-up run", () => ran.includes("warm"))
      const at = yield* store.now
      const grace = (id: string, grace: "1 second" | "1 hour", then: Job.Misfire) =>
        Job.make(task, { id, payload: null, trigger: Trigger.once(at + 1), misfire: { grace, then } })
      yield* scheduler.add(Job.make(task, { id: "blocker", payload: null, trigger: Trigger.once(at) }))
      yield* scheduler.addMany([
        grace("late-skip", "1 second", { _tag: "Skip" }),
        grace("late-coalesce", "1 second", { _tag: "Coalesce", keep: "latest" }),
        grace("patient-skip", "1 hour", { _tag: "Skip" })
      ])
      const records = () =>
        sql<{ readonly job_id: string; readonly state: string; readonly started_at: string | null; readonly note: string | null }>`
          SELECT job_id, state, started_at, note FROM patience.runs WHERE job_id <> 'warm' ORDER BY job_id`
      // All four claimed (on time), three waiting behind the blocker.
      yield* readUntil("the runs to be claimed", records(), (rows) => rows.filter((r) => r.state === "running").length >= 4)
      yield* realWait(2_000)
      yield* Deferred.succeed(release, undefined)
      yield* waitFor("the others", () => ran.length >= 4)
      const rows = yield* readUntil("the outcomes", records(), (rows) => rows.every((r) => r.state !== "running"))
      assert.deepStrictEqual(ran, ["warm", "blocker", "late-coalesce", "patient-skip"])
      assert.deepStrictEqual(rows.map((r) => [r.job_id, r.state, r.started_at === null]), [
        ["blocker", "succeeded", false],
        ["late-coalesce", "succeeded", false],
        ["late-skip", "missed", true],
        ["patient-skip", "succeeded", false]
      ])
      assert.match(rows.find((r) => r.job_id === "late-skip")?.note ?? "", /^late beyond grace, misfire policy skip/)
    }), 40_000)

  it.live("maxInFlight 1: runs claimed before their fire times start at them, never before", () =>
    Effect.gen(function*() {
      const starts: Array<{ readonly fireTime: number; readonly at: number }> = []
      const task = Task.unit("early", (context) =>
        Effect.sync(() => {
          starts.push({ fireTime: context.fireTime, at: Date.now() })
        }))
      const inner = yield* Pg.makeStore({ schema: "early" })
      // Every claim's instant and what it took: to see that runs were claimed ahead.
      const claims: Array<{ readonly at: number; readonly fireTimes: ReadonlyArray<number> }> = []
      const store: JobStore["Service"] = {
        ...inner,
        claim: (request) =>
          Effect.suspend(() => {
            const at = Date.now()
            return Effect.tap(inner.claim(request), (result) =>
              Effect.sync(() => {
                claims.push({ at, fireTimes: result.runs.map((run) => run.fireTime) })
              }))
          })
      }
      yield* schedulerOn(store, { tasks: [task], maxInFlight: 1, shutdownGrace: 0, claimAhead: "500 millis" })
      const now = yield* inner.now
      for (let i = 0; i < 5; i++) {
        yield* inner.add(Job.make(task, { id: `early-${i}`, payload: null, trigger: Trigger.once(now + 1_000 + 200 * i) }))
      }
      yield* waitFor("five runs", () => starts.length >= 5)
      for (const start of starts) assert.isAtLeast(start.at, start.fireTime, "never before its fire time")
      const early = claims.flatMap((claim) => claim.fireTimes.filter((fire) => claim.at < fire - 100))
      assert.isAbove(early.length, 0, "some run was claimed before its fire time")
    }), 30_000)
})

// A run as a claim hands it over, due at 0 (the TestClock's start).
const claimedRun = (id: string, fireTime: number): Run.Claimed => ({
  id,
  jobId: id,
  fireTime,
  dueAt: fireTime,
  attempt: 1,
  token: "token",
  task: "chained",
  payload: null,
  retry: { attempts: 1, base: 100, factor: 2, cap: 1_000, jitter: false },
  timeout: null,
  startedAt: fireTime
})

describe("Executor: a slot's fiber runs one queued run after another", () => {
  it.effect("a run revoked after its handler ended (its outcome not yet written) does not interrupt the next run its slot took", () =>
    Effect.gen(function*() {
      const handled: Array<string> = []
      const task = Task.make("chained", Schema.Null, (_, { jobId }) =>
        jobId === "b"
          ? Effect.andThen(Effect.sleep(1_000), Effect.sync(() => handled.push("b ended")))
          : Effect.sync(() => handled.push(`${jobId} ended`)))
      // Outcomes wait at this gate: "a" stays held, ended, while "b" runs.
      const gate = yield* Deferred.make<void>()
      const written: Array<Run.Outcome> = []
      const executor = yield* Executor.make({
        node: "n",
        tasks: new Map([["chained", task]]),
        context: Context.empty(),
        publish: () => Effect.void,
        finish: (outcomes) =>
          Effect.andThen(Deferred.await(gate), Effect.sync(() => {
            written.push(...outcomes)
            return outcomes.map(() => true)
          })),
        onSlotFreed: Effect.void,
        maxInFlight: 1
      })
      yield* Effect.forkScoped(executor.recorder({ idle: Effect.void, progress: Effect.void }))
      yield* executor.submit([claimedRun("a", 0), claimedRun("b", 0)])
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(handled, ["a ended"], "a ended; b runs on the one slot")
      // The store says a's lease is lost (say, a renewal answered late).
      yield* executor.revoke([{ id: "a", token: "token" }])
      yield* TestClock.adjust(1_000)
      assert.deepStrictEqual(handled, ["a ended", "b ended"], "b ran to its end")
      yield* Deferred.succeed(gate, undefined)
      yield* TestClock.adjust(10)
      // (a's outcome was on its way before the revocation: the store decides by its token.)
      assert.deepStrictEqual(written.filter((outcome) => outcome.id === "b").map((outcome) => outcome.state), ["succeeded"])
    }))
})

describe("Executor: a lease said lost while the run's outcome is on its way", () => {
  // A renewal sent with the lease of a run whose outcome the store has just
  // written is answered "lost" (the token is spent): the outcome decides,
  // not the renewal. CI once saw a succeeded run told as RunLeaseLost.
  const racing = (accepted: boolean) =>
    Effect.gen(function*() {
      const task = Task.make("chained", Schema.Null, () => Effect.void)
      const gate = yield* Deferred.make<void>()
      const events: Array<string> = []
      const executor = yield* Executor.make({
        node: "n",
        tasks: new Map([["chained", task]]),
        context: Context.empty(),
        publish: (event) => Effect.sync(() => void events.push(event._tag)),
        finish: (outcomes) => Effect.as(Deferred.await(gate), outcomes.map(() => accepted)),
        onSlotFreed: Effect.void
      })
      yield* Effect.forkScoped(executor.recorder({ idle: Effect.void, progress: Effect.void }))
      yield* executor.submit([claimedRun("a", 0)])
      yield* TestClock.adjust(10)
      // The outcome is being written; the renewal's answer comes first.
      yield* executor.revoke([{ id: "a", token: "token" }])
      yield* Deferred.succeed(gate, undefined)
      yield* TestClock.adjust(10)
      return { events: events.filter((tag) => tag !== "RunStarted"), leases: yield* executor.leases }
    })

  it.effect("the store accepts the outcome: it is told (RunSucceeded), not RunLeaseLost", () =>
    Effect.gen(function*() {
      const { events, leases } = yield* racing(true)
      assert.deepStrictEqual(events, ["RunSucceeded"])
      assert.deepStrictEqual(leases, [], "nothing left to renew")
    }))

  it.effect("the store refuses the outcome (the lease was taken): RunLeaseLost, once", () =>
    Effect.gen(function*() {
      const { events, leases } = yield* racing(false)
      assert.deepStrictEqual(events, ["RunLeaseLost"])
      assert.deepStrictEqual(leases, [], "nothing left to renew")
    }))
})

describe("Executor: the outcomes of a burst", () => {
  // 100 runs due at 0, claimed at `claimedAt`, ending over 10 ms: the
  // statements their outcomes were written in.
  const burst = (claimedAt: number) =>
    Effect.gen(function*() {
      const task = Task.make("chained", Schema.Null, (_, { jobId }) => Effect.sleep(Number(jobId.slice(2)) % 10))
      const batches: Array<number> = []
      const executor = yield* Executor.make({
        node: "n",
        tasks: new Map([["chained", task]]),
        context: Context.empty(),
        publish: () => Effect.void,
        finish: (outcomes) =>
          Effect.sync(() => {
            batches.push(outcomes.length)
            return outcomes.map(() => true)
          }),
        onSlotFreed: Effect.void
      })
      yield* Effect.forkScoped(executor.recorder({ idle: Effect.void, progress: Effect.void }))
      yield* executor.submit(Array.from({ length: 100 }, (_, i) => claimedRun(`r-${i}`, 0)), claimedAt)
      for (let ms = 0; ms < 100; ms++) yield* TestClock.adjust(1)
      assert.strictEqual(batches.reduce((a, b) => a + b, 0), 100, "every outcome written")
      assert.deepStrictEqual(yield* executor.leases, [])
      return batches
    })

  it.effect("claimed ahead, due at one instant, ending over 10 ms: their outcomes are written together after the burst, in at most two statements", () =>
    Effect.map(burst(-50), (batches) => assert.isAtMost(batches.length, 2, `written in ${batches.length} statements`)))

  it.effect("due when claimed (a drain): their outcomes are written as they end, not held back", () =>
    Effect.map(burst(0), (batches) => assert.isAtLeast(batches.length, 5, `written in ${batches.length} statements`)))
})

describe("Executor: runs due at the claim", () => {
  it.effect("start at once, whatever the local estimate of the store's time says (the claim's instant is a time the store has passed)", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      const task = Task.make("chained", Schema.Null, () =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => started.push(now))))
      const executor = yield* Executor.make({
        node: "n",
        tasks: new Map([["chained", task]]),
        context: Context.empty(),
        publish: () => Effect.void,
        finish: (outcomes) => Effect.succeed(outcomes.map(() => true)),
        onSlotFreed: Effect.void,
        // An estimate of the store's time that lags it by a second (a slow
        // clock measurement, say): a bound never ahead of the store, and late.
        storeNow: Effect.map(Clock.currentTimeMillis, (now) => now - 1_000)
      })
      yield* TestClock.adjust(5_000)
      // Claimed at 5,000 by the store's clock, due at 4,000: it may start now.
      yield* executor.submit([{ ...claimedRun("late", 4_000), startedAt: 5_000 }], 5_000)
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(started, [5_000])
    }))
})
