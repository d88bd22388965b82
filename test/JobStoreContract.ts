/**
 * The store contract, as a suite any store Layer must pass.
 *
 * `MemoryJobStore` and `PgJobStore` run this very suite. Each test uses its own
 * task names and job ids, so backends may share one database between tests;
 * times are taken from the store's own clock, and `elapse` lets a backend say
 * how time passes (TestClock for memory, real waiting for PostgreSQL).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import type * as Run from "../src/Run.ts"
import * as Trigger from "../src/Trigger.ts"
import { operatorContract } from "./JobStoreOperatorContract.ts"
import { oneOff, outcome, taskNamed, unique } from "./support/StoreFixtures.ts"

export interface ContractOptions {
  /** Lets store time pass by `ms` (TestClock.adjust, or a real wait). */
  readonly elapse: (ms: number) => Effect.Effect<void>
  /** Run on the real clock (a backend whose wrappers sleep, like retries). */
  readonly live?: boolean
}


export const contract = <E>(name: string, layer: Layer.Layer<JobStore, E>, options: ContractOptions): void => {
  const test = (title: string, body: Effect.Effect<void, unknown, JobStore>) =>
    (options.live === true ? it.live : it.effect)(title, () => Effect.provide(body, layer), 30_000)

  // Lets store time pass until the store's clock reads `instant`: a condition
  // checked on the store, not a guessed duration (the test's timeout bounds it).
  const reach = (store: JobStore["Service"], instant: number) =>
    Effect.gen(function*() {
      for (let now = yield* store.now; now < instant; now = yield* store.now) yield* options.elapse(instant - now)
    })

  describe(`JobStore contract: ${name}`, () => {
    test(
      "register is idempotent: registering the same jobs twice is not an error and stores each once",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const now = yield* store.now
        const jobs = [oneOff(task, unique("a"), now + 60_000), oneOff(task, unique("b"), now + 60_000)]
        const first = yield* store.register(jobs, { version: 1, orphans: "keep" })
        const second = yield* store.register(jobs, { version: 1, orphans: "keep" })
        assert.deepStrictEqual([...first.inserted].sort(), jobs.map((j) => j.id).sort())
        assert.deepStrictEqual([...second.unchanged].sort(), jobs.map((j) => j.id).sort())
        assert.strictEqual(second.inserted.length + second.updated.length, 0)
        const listed = (yield* store.list).filter((j) => j.task === task)
        assert.strictEqual(listed.length, 2)
      })
    )

    test(
      "a changed trigger replaces the stored one and recomputes the next fire",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.register([oneOff(task, id, now + 60_000)], { version: 1, orphans: "keep" })
        const report = yield* store.register([oneOff(task, id, now + 120_000)], { version: 1, orphans: "keep" })
        assert.deepStrictEqual(report.updated, [id])
        const stored = Option.getOrThrow(yield* store.get(id))
        assert.deepStrictEqual(stored.trigger, Trigger.once(now + 120_000))
        assert.strictEqual(stored.nextFire, now + 120_000)
      })
    )

    test(
      "versions: an older declaration never replaces a newer one; orphans of older versions follow the policy",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const [kept, paused, dynamic] = [unique("kept"), unique("orphan"), unique("dynamic")]
        const now = yield* store.now
        yield* store.add(oneOff(task, dynamic, now + 60_000))
        yield* store.register([oneOff(task, kept, now + 60_000), oneOff(task, paused, now + 60_000)], {
          version: 1,
          orphans: "keep"
        })
        const newer = yield* store.register([oneOff(task, kept, now + 90_000)], { version: 2, orphans: "pause" })
        assert.deepStrictEqual(newer.updated, [kept])
        assert.isTrue(newer.orphaned.includes(paused))
        assert.isFalse(newer.orphaned.includes(dynamic))
        assert.isTrue(Option.getOrThrow(yield* store.get(paused)).paused)
        assert.isFalse(Option.getOrThrow(yield* store.get(dynamic)).paused)
        // The old version starting again (rolling deploy) does not flap the definition back.
        const older = yield* store.register([oneOff(task, kept, now + 60_000), oneOff(task, paused, now + 60_000)], {
          version: 1,
          orphans: "keep"
        })
        assert.deepStrictEqual(older.superseded, [kept])
        assert.deepStrictEqual(Option.getOrThrow(yield* store.get(kept)).trigger, Trigger.once(now + 90_000))
        yield* store.register([oneOff(task, kept, now + 90_000)], { version: 3, orphans: "remove" })
        assert.isTrue(Option.isNone(yield* store.get(paused)))
      })
    )

    test(
      "a runtime pause survives a restart's register",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.register([oneOff(task, id, now + 60_000)], { version: 1, orphans: "keep" })
        yield* store.setPaused(id, true)
        yield* store.register([oneOff(task, id, now + 70_000)], { version: 1, orphans: "keep" })
        assert.isTrue(Option.getOrThrow(yield* store.get(id)).paused)
      })
    )

    test(
      "claims a due fire once: a second claim gets nothing, and the job has no next fire",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.add(oneOff(task, id, now - 10))
        const first = yield* store.claim({ node: "n1", tasks: [task], limit: 10, leaseMs: 30_000 })
        const second = yield* store.claim({ node: "n2", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.strictEqual(first.runs.length, 1)
        assert.strictEqual(first.runs[0]!.jobId, id)
        assert.strictEqual(first.runs[0]!.fireTime, now - 10)
        assert.deepStrictEqual(first.runs[0]!.payload, { id })
        assert.strictEqual(second.runs.length, 0)
        assert.isNull(Option.getOrThrow(yield* store.get(id)).nextFire)
      })
    )

    test(
      "racing claims: each (job, fire time) is claimed at most once",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const now = yield* store.now
        const ids = Array.from({ length: 40 }, () => unique("job"))
        yield* store.register(ids.map((id) => oneOff(task, id, now - 5)), { version: 1, orphans: "keep" })
        const results = yield* Effect.all(
          Array.from({ length: 8 }, (_, i) => store.claim({ node: `n${i}`, tasks: [task], limit: 7, leaseMs: 30_000 })),
          { concurrency: "unbounded" }
        )
        const rest = yield* store.claim({ node: "late", tasks: [task], limit: 100, leaseMs: 30_000 })
        const claimed = [...results.flatMap((r) => r.runs), ...rest.runs]
        assert.strictEqual(claimed.length, 40)
        assert.strictEqual(new Set(claimed.map((r) => `${r.jobId}|${r.fireTime}`)).size, 40)
        assert.strictEqual(new Set(claimed.map((r) => r.id)).size, 40)
      })
    )

    test(
      "claims only jobs of the tasks the claimer knows",
      Effect.gen(function*() {
        const store = yield* JobStore
        const [known, unknown] = [unique("known"), unique("unknown")]
        const now = yield* store.now
        yield* store.add(oneOff(unknown, unique("job"), now - 5))
        const none = yield* store.claim({ node: "n", tasks: [known], limit: 10, leaseMs: 30_000 })
        assert.strictEqual(none.runs.length, 0)
        const some = yield* store.claim({ node: "n", tasks: [unknown], limit: 10, leaseMs: 30_000 })
        assert.strictEqual(some.runs.length, 1)
      })
    )

    test(
      "misfire: a fire later than its grace is recorded missed under Skip and run under Coalesce",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const [skip, coalesce] = [unique("skip"), unique("coalesce")]
        const now = yield* store.now
        yield* store.add(oneOff(task, skip, now - 120_000, { misfire: { grace: 60_000, then: { _tag: "Skip" } } }))
        yield* store.add(oneOff(task, coalesce, now - 120_000, { misfire: { grace: 60_000 } }))
        const result = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.deepStrictEqual(result.runs.map((r) => r.jobId), [coalesce])
        assert.deepStrictEqual(result.settled.map((r) => [r.jobId, r.state]), [[skip, "missed"]])
        const history = yield* store.history({ jobId: skip })
        assert.deepStrictEqual(history.map((r) => r.state), ["missed"])
      })
    )

    test(
      "overlap: with max 1 and skip, a fire that finds a run in progress is recorded skipped",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.add(
          Job.make(taskNamed(task), {
            id,
            payload: null,
            trigger: Trigger.every(200, { anchor: now }),
            overlap: { max: 1, onLimit: "skip" },
            misfire: { grace: 600_000 }
          })
        )
        yield* options.elapse(250)
        const first = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.strictEqual(first.runs.length, 1)
        yield* options.elapse(250)
        const second = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.strictEqual(second.runs.length, 0)
        assert.isTrue(second.settled.length >= 1)
        assert.isTrue(second.settled.every((r) => r.state === "skipped"))
        const running = yield* store.history({ jobId: id, states: ["running"] })
        assert.strictEqual(running.length, 1)
      })
    )

    test(
      "overlap skip applies to fires that found a run in progress; a backlog that became due while nothing ran waits",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        const claim = store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        yield* store.add(
          Job.make(taskNamed(task), {
            id,
            payload: null,
            trigger: Trigger.every(100, { anchor: now }),
            overlap: { max: 1, onLimit: "skip" },
            misfire: { grace: 600_000 }
          })
        )
        // Three fires or more came due while nothing ran (the scheduler was down).
        yield* reach(store, now + 300)
        const first = yield* claim
        assert.strictEqual(first.runs.length, 1)
        assert.deepStrictEqual(first.settled, [])
        // The backlog waits: every other fire due by the claim is pending, none skipped.
        const backlog = yield* store.history({ jobId: id, states: ["pending"] })
        assert.isAtLeast(backlog.length, 2)
        const recorded = yield* store.history({ jobId: id })
        assert.strictEqual(recorded.length, backlog.length + 1)
        // A fire that comes due while that run is in progress found it running: skipped.
        const lastFire = Math.max(...recorded.map((r) => r.fireTime))
        yield* reach(store, lastFire + 100)
        const second = yield* claim
        assert.deepStrictEqual(second.runs, [])
        assert.isAtLeast(second.settled.length, 1)
        assert.isTrue(second.settled.every((r) => r.state === "skipped" && r.fireTime > lastFire), JSON.stringify(second.settled))
        const waiting = yield* store.history({ jobId: id, states: ["pending"] })
        assert.deepStrictEqual(waiting.map((r) => r.id).sort(), backlog.map((r) => r.id).sort())
        // Once it ends, the backlog runs in fire order.
        yield* store.finish([outcome(first.runs[0]!)])
        const third = yield* claim
        assert.deepStrictEqual(third.runs.map((r) => r.fireTime), [first.runs[0]!.fireTime + 100])
      })
    )

    test(
      "overlap: a run whose handler ended (its outcome on the way: `ended`) holds no slot; a later attempt of it still does",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        const claim = (ended: ReadonlyArray<{ readonly id: string; readonly token: string }>) =>
          store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000, ended })
        yield* store.add(
          Job.make(taskNamed(task), {
            id,
            payload: null,
            trigger: Trigger.every(100, { anchor: now }),
            overlap: { max: 1, onLimit: "skip" },
            misfire: { grace: 600_000 }
          })
        )
        yield* reach(store, now + 100)
        const first = yield* claim([])
        assert.strictEqual(first.runs.length, 1)
        const run = first.runs[0]!
        // The next fire comes due while the first run's outcome is still being written.
        yield* reach(store, run.fireTime + 100)
        // Named with another attempt's token, the run still holds its slot: the fire is skipped.
        const stale = yield* claim([{ id: run.id, token: `${run.token}-earlier` }])
        assert.deepStrictEqual(stale.runs, [])
        assert.isTrue(stale.settled.length >= 1 && stale.settled.every((r) => r.state === "skipped"), JSON.stringify(stale.settled))
        // Named as ended, it does not: the next fire runs, nothing is skipped.
        yield* reach(store, (yield* store.now) + 100)
        const next = yield* claim([{ id: run.id, token: run.token }])
        assert.strictEqual(next.runs.length, 1, JSON.stringify(next))
        assert.deepStrictEqual(next.settled.filter((r) => r.state === "skipped"), [])
        assert.isAbove(next.runs[0]!.fireTime, run.fireTime)
      })
    )

    test(
      "overlap: with max 1 and wait, the next fire stays pending until the running one finishes",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.add(
          Job.make(taskNamed(task), {
            id,
            payload: null,
            trigger: Trigger.every(200, { anchor: now }),
            overlap: { max: 1, onLimit: "wait" },
            misfire: { grace: 600_000 }
          })
        )
        yield* options.elapse(250)
        const first = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.strictEqual(first.runs.length, 1)
        yield* options.elapse(250)
        const blocked = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.strictEqual(blocked.runs.length, 0)
        assert.isTrue((yield* store.history({ jobId: id, states: ["pending"] })).length >= 1)
        yield* store.finish([outcome(first.runs[0]!)])
        const next = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.strictEqual(next.runs.length, 1)
        assert.isTrue(next.runs[0]!.fireTime > first.runs[0]!.fireTime)
      })
    )

    test(
      "finish is fenced: the holder's token is accepted once, a wrong or repeated token is refused",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const now = yield* store.now
        yield* store.add(oneOff(task, unique("job"), now - 1))
        const [run] = (yield* store.claim({ node: "n", tasks: [task], limit: 1, leaseMs: 30_000 })).runs
        assert.deepStrictEqual(yield* store.finish([{ ...outcome(run!), token: "forged" }]), [false])
        assert.deepStrictEqual(yield* store.finish([outcome(run!, "failed")]), [true])
        // The same outcome again (a retry after its reply was lost) is accepted and changes nothing...
        assert.deepStrictEqual(yield* store.finish([outcome(run!, "failed")]), [true])
        // ...another outcome for the same token is refused.
        assert.deepStrictEqual(yield* store.finish([outcome(run!)]), [false])
        const [record] = yield* store.history({ jobId: run!.jobId })
        assert.strictEqual(record!.state, "failed")
        assert.strictEqual(record!.error, "boom")
        assert.strictEqual(record!.node, "n")
      })
    )

    test(
      "leases: renew keeps a held lease; an expired lease is reaped as lost (record) or pending again (retry)",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const [recorded, retried] = [unique("record"), unique("retry")]
        const now = yield* store.now
        yield* store.add(oneOff(task, recorded, now - 1, { onLost: "record" }))
        yield* store.add(oneOff(task, retried, now - 1, { onLost: "retry" }))
        const { runs } = yield* store.claim({ node: "dead", tasks: [task], limit: 10, leaseMs: 50 })
        assert.strictEqual(runs.length, 2)
        assert.deepStrictEqual(yield* store.renew("dead", runs.map((r) => ({ id: r.id, token: r.token })), 50), { lost: [], cancel: [] })
        assert.deepStrictEqual(yield* store.renew("other", [{ id: runs[0]!.id, token: runs[0]!.token }], 50), {
          lost: [runs[0]!.id],
          cancel: []
        })
        yield* options.elapse(120)
        const reaped = yield* store.reap
        const states = new Map(reaped.filter((r) => r.jobId === recorded || r.jobId === retried).map((r) => [r.jobId, r]))
        assert.strictEqual(states.get(recorded)?.state, "lost")
        assert.strictEqual(states.get(retried)?.state, "pending")
        assert.strictEqual(states.get(retried)?.attempt, 2)
        const again = yield* store.claim({ node: "alive", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.deepStrictEqual(again.runs.map((r) => [r.jobId, r.attempt]), [[retried, 2]])
        const stale = runs.find((r) => r.jobId === retried)!
        assert.strictEqual(again.runs[0]!.fireTime, stale.fireTime)
        // The dead node comes back: its outcome must not overwrite the take-over.
        assert.deepStrictEqual(yield* store.finish([outcome(stale)]), [false])
        assert.deepStrictEqual((yield* store.renew("dead", [{ id: stale.id, token: stale.token }], 50)).lost, [stale.id])
        assert.deepStrictEqual(yield* store.finish([outcome(again.runs[0]!)]), [true])
      })
    )

    test(
      "adopt: a claim's runs are found again by its token (its answer lost), leases renewed; never by another node or token",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const [a, b, other] = [unique("a"), unique("b"), unique("other")]
        const now = yield* store.now
        yield* store.add(oneOff(task, a, now - 2, { payload: { id: a } }))
        yield* store.add(oneOff(task, b, now - 1))
        const token = unique("token")
        // The claim commits; say its answer never arrives.
        const lost = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 100, token })
        assert.deepStrictEqual(lost.runs.map((r) => r.token), [token, token])
        yield* store.add(oneOff(task, other, now - 1))
        const another = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000, token: unique("token") })
        assert.deepStrictEqual(another.runs.map((r) => r.jobId), [other])

        // A run of a lost claim cancelled before its node adopts it is not adopted: it never starts.
        const cancelToken = unique("token")
        const doomed = unique("doomed")
        yield* store.add(oneOff(task, doomed, now - 1))
        const cancelledClaim = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 100, token: cancelToken })
        assert.deepStrictEqual(cancelledClaim.runs.map((r) => r.jobId), [doomed])
        yield* store.cancel(cancelledClaim.runs[0]!.id)
        assert.deepStrictEqual(yield* store.adopt("n", [cancelToken], 30_000), [])

        const adopted = yield* store.adopt("n", [token, unique("never")], 30_000)
        assert.deepStrictEqual(adopted, lost.runs)
        assert.deepStrictEqual(yield* store.adopt("m", [token], 30_000), [])
        assert.deepStrictEqual(yield* store.adopt("n", [], 30_000), [])
        // Adopted leases were renewed: past the claim's 100 ms lease, nothing is reaped.
        yield* options.elapse(150)
        const reaped = (yield* store.reap).filter((r) => r.jobId === a || r.jobId === b)
        assert.deepStrictEqual(reaped, [])
        assert.deepStrictEqual(yield* store.finish(adopted.map((run) => outcome(run))), [true, true])
        // Finished: no longer running, no longer adopted.
        assert.deepStrictEqual(yield* store.adopt("n", [token], 30_000), [])
      })
    )

    test(
      "release hands back runs claimed but not started: pending at once, claimable by any node, same attempt; fenced",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.add(
          Job.make(taskNamed(task), {
            id,
            payload: null,
            trigger: Trigger.once(now - 1),
            overlap: { max: 1, onLimit: "skip" }
          })
        )
        const [run] = (yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })).runs
        const lease = { id: run!.id, token: run!.token }
        assert.deepStrictEqual(yield* store.release("m", [lease]), [])
        assert.deepStrictEqual(yield* store.release("n", [{ ...lease, token: "forged" }]), [])
        assert.deepStrictEqual(yield* store.release("n", [lease, { id: "999999999", token: "none" }]), [run!.id])
        assert.deepStrictEqual(yield* store.release("n", [lease]), [])
        const [record] = yield* store.history({ jobId: id })
        assert.deepStrictEqual(
          [record!.state, record!.node, record!.startedAt, record!.attempt],
          ["pending", null, null, 1]
        )
        // The old holder's lease is gone: its renewal and outcome are refused.
        assert.deepStrictEqual((yield* store.renew("n", [lease], 30_000)).lost, [run!.id])
        assert.deepStrictEqual(yield* store.finish([outcome(run!)]), [false])
        assert.isTrue(Option.isSome(yield* store.nextWake([task])))
        const again = yield* store.claim({ node: "m", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.deepStrictEqual(
          again.runs.map((r) => [r.id, r.fireTime, r.attempt]),
          [[run!.id, run!.fireTime, 1]]
        )
        assert.notStrictEqual(again.runs[0]!.token, run!.token)
        assert.deepStrictEqual(again.settled, [])
        assert.deepStrictEqual(yield* store.finish([outcome(again.runs[0]!)]), [true])
      })
    )

    test(
      "triggerNow adds a manual run claimable at once, with an optional payload",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.add(oneOff(task, id, now + 3_600_000))
        const record = yield* store.triggerNow(id, { custom: true })
        assert.isTrue(record.manual)
        assert.strictEqual(record.state, "pending")
        const { runs } = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.deepStrictEqual(runs.map((r) => r.payload), [{ custom: true }])
        const missing = yield* Effect.flip(store.triggerNow(unique("nope")))
        assert.strictEqual(missing._tag, "JobNotFound")
      })
    )

    test(
      "dynamic operations: add twice fails, update/pause of an unknown job fails, pause stops claims, remove cancels pending",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        const job = oneOff(task, id, now - 1)
        yield* store.add(job)
        assert.strictEqual((yield* Effect.flip(store.add(job)))._tag, "JobExists")
        assert.strictEqual((yield* Effect.flip(store.update({ ...job, id: unique("nope") })))._tag, "JobNotFound")
        assert.strictEqual((yield* Effect.flip(store.setPaused(unique("nope"), true)))._tag, "JobNotFound")
        yield* store.setPaused(id, true)
        assert.strictEqual((yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })).runs.length, 0)
        assert.isTrue(Option.isNone(yield* store.nextWake([task])))
        yield* store.setPaused(id, false)
        assert.isTrue(Option.isSome(yield* store.nextWake([task])))
        yield* store.triggerNow(id)
        yield* store.setPaused(id, true)
        assert.isTrue(yield* store.remove(id))
        assert.isFalse(yield* store.remove(id))
        const states = (yield* store.history({ jobId: id })).map((r) => r.state)
        assert.deepStrictEqual(states, ["cancelled"])
      })
    )

    test(
      "addMany stores every job of a batch as add would, and each is claimed once",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const now = yield* store.now
        const due = [unique("a"), unique("b"), unique("c")].map((id) => oneOff(task, id, now - 10))
        const hourly = (id: string) =>
          Job.make(taskNamed(task), { id, payload: null, trigger: Trigger.every("1 hour", { anchor: now + 1_800_000 }) })
        const [recurring, twin] = [hourly(unique("hourly")), hourly(unique("twin"))]
        assert.strictEqual(yield* store.addMany([...due, recurring]), 4)
        // Stored as `add` stores an identical job (the next fire included).
        const added = yield* store.add(twin)
        const { id: _id, createdAt: _c, updatedAt: _u, ...stored } = Option.getOrThrow(yield* store.get(recurring.id))
        const { id: _twinId, createdAt: _tc, updatedAt: _tu, ...alone } = added
        assert.deepStrictEqual(stored, alone)
        assert.strictEqual(stored.source, "dynamic")
        for (const job of due) {
          const one = Option.getOrThrow(yield* store.get(job.id))
          assert.strictEqual(one.nextFire, now - 10)
          assert.deepStrictEqual(one.payload, { id: job.id })
        }
        const first = yield* store.claim({ node: "n1", tasks: [task], limit: 10, leaseMs: 30_000 })
        const second = yield* store.claim({ node: "n2", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.sameMembers(first.runs.map((run) => run.jobId), due.map((job) => job.id))
        assert.strictEqual(second.runs.length, 0)
      })
    )

    test(
      "addMany is all or nothing: an id stored already, or twice in the batch, stores nothing and is named with its index",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const now = yield* store.now
        const job = (label: string) => oneOff(task, unique(label), now - 10)
        const [a, b, c, existing] = [job("a"), job("b"), job("c"), job("existing")]
        yield* store.add(existing)
        const exists = yield* Effect.flip(store.addMany([a, b, existing, c]))
        assert.deepStrictEqual(exists._tag === "JobExists" ? [exists.id, exists.index] : exists, [existing.id, 2])
        const twice = yield* Effect.flip(store.addMany([a, b, c, { ...a, payload: { again: true } }]))
        assert.deepStrictEqual(twice._tag === "JobExists" ? [twice.id, twice.index] : twice, [a.id, 3])
        for (const { id } of [a, b, c]) assert.isTrue(Option.isNone(yield* store.get(id)), id)
        const { runs } = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.deepStrictEqual(runs.map((run) => run.jobId), [existing.id])
        // An empty batch stores nothing and is not an error.
        assert.strictEqual(yield* store.addMany([]), 0)
      })
    )

    test(
      "nextWake is the earliest due instant among known, unpaused jobs",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const now = yield* store.now
        yield* store.add(oneOff(task, unique("late"), now + 90_000))
        yield* store.add(oneOff(task, unique("soon"), now + 30_000))
        assert.deepStrictEqual(yield* store.nextWake([task]), Option.some(now + 30_000))
        assert.isTrue(Option.isNone(yield* store.nextWake([unique("other")])))
      })
    )

    test(
      "a run claimed ahead and ended before its instant (cancelled while it waited) is recorded as of the store's now, never in the future",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.add(oneOff(task, id, now + 5_000))
        const { runs } = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000, aheadMs: 10_000 })
        assert.deepStrictEqual(runs.map((run) => [run.jobId, run.startedAt]), [[id, now + 5_000]])
        yield* store.finish(runs.map((run) => ({ ...outcome(run, "cancelled"), error: null, note: "cancelled by operator" })))
        const after = yield* store.now
        const [record] = yield* store.history({ jobId: id })
        assert.strictEqual(record?.state, "cancelled")
        assert.isAtMost(record?.endedAt ?? Infinity, after, "ended by the store's clock, not at its instant")
        assert.isAtMost(record?.startedAt ?? Infinity, record?.endedAt ?? -Infinity, "no negative duration")
      })
    )

    test(
      "a claimed run carries its job's misfire policy (claim and adopt); one its node found too late to start is recorded missed, with no start",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const [late, timely] = [unique("late"), unique("timely")]
        const now = yield* store.now
        const misfire = { grace: "1 second", then: { _tag: "Skip" } } as const
        yield* store.add(oneOff(task, late, now - 1, { misfire }))
        yield* store.add(oneOff(task, timely, now - 1))
        const token = unique("token")
        const { runs } = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000, token })
        const policies = (claimed: ReadonlyArray<Run.Claimed>) =>
          Object.fromEntries(claimed.map((run) => [run.jobId, run.misfire]))
        const expected: Record<string, Job.MisfirePolicy> = {
          [late]: { grace: 1_000, then: { _tag: "Skip" } },
          [timely]: { grace: 60_000, then: { _tag: "Coalesce", keep: "latest" } }
        }
        assert.deepStrictEqual(policies(runs), expected)
        assert.deepStrictEqual(policies(yield* store.adopt("n", [token], 30_000)), expected)
        const note = "late beyond grace, misfire policy skip: its node could not start it sooner"
        const missed = runs.find((run) => run.jobId === late)!
        const started = runs.find((run) => run.jobId === timely)!
        assert.deepStrictEqual(
          yield* store.finish([{ ...outcome(missed, "missed"), error: null, note }, outcome(started)]),
          [true, true]
        )
        const after = yield* store.now
        const [record] = yield* store.history({ jobId: late })
        assert.deepStrictEqual([record?.state, record?.startedAt, record?.note, record?.error], ["missed", null, note, null])
        assert.isAtMost(record?.endedAt ?? Infinity, after)
        assert.isAtLeast(record?.endedAt ?? -Infinity, now)
        const [other] = yield* store.history({ jobId: timely })
        assert.deepStrictEqual([other?.state, other?.startedAt !== null], ["succeeded", true])
      })
    )

    test(
      "claim ahead by shares: of two nodes serving the same tasks, each claims ahead only its own jobs, together every job once; the other's are claimed once due; nextWake sees its own ahead and the other's when due",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const [n0, n1] = [unique("n0"), unique("n1")]
        const beat = (id: string, tasks: ReadonlyArray<string>) =>
          store.heartbeat({ id, host: "h", pid: 1, version: "0", tasks, startedAt: 0, running: 0, health: null, store: "up" })
        yield* beat(n0, [task, "other"])
        yield* beat(n1, ["other", task])
        // Serving other tasks: not a peer of theirs.
        yield* beat(unique("n2"), [task])
        const share = (node: string) => ({ node, staleAfterMs: 60_000 })
        const now = yield* store.now
        const due = now + 1_000
        const ids = Array.from({ length: 40 }, (_, i) => unique(`share-${i}`))
        yield* store.addMany(ids.map((id) => oneOff(task, id, due)))
        const claimAhead = (node: string) =>
          store.claim({ node, tasks: [task, "other"], limit: 100, leaseMs: 30_000, aheadMs: 10_000, share: share(node) })
        const wake = (node: string) => store.nextWake([task, "other"], 10_000, share(node))
        // n0 wakes 10 s ahead for its own jobs; for n1's, only when they are due.
        assert.deepStrictEqual(yield* wake(n0), Option.some(due - 10_000))
        const first = yield* claimAhead(n0)
        assert.deepStrictEqual(yield* wake(n0), Option.some(due))
        const second = yield* claimAhead(n1)
        const mine = first.runs.map((run) => run.jobId)
        const theirs = second.runs.map((run) => run.jobId)
        // Both have a share (of 40 ids, a side left empty would be a broken partition).
        assert.isAbove(mine.length, 5)
        assert.isAbove(theirs.length, 5)
        assert.deepStrictEqual([...mine, ...theirs].sort(), [...ids].sort(), "every job once, by one of the two")
        for (const run of [...first.runs, ...second.runs]) assert.strictEqual(run.startedAt, due, "to start when due")
        assert.isTrue(Option.isNone(yield* wake(n0)))
        // Jobs of n1's share that n1 does not claim ahead (it died): n0 claims them once due.
        const orphans = Array.from({ length: 40 }, (_, i) => unique(`orphan-${i}`))
        yield* store.addMany(orphans.map((id) => oneOff(task, id, due + 500)))
        const early = yield* claimAhead(n0)
        const left = orphans.filter((id) => !early.runs.some((run) => run.jobId === id))
        assert.isAbove(left.length, 5, "n1's share of them stays unclaimed ahead")
        assert.deepStrictEqual(yield* wake(n0), Option.some(due + 500))
        yield* reach(store, due + 500)
        const late = yield* claimAhead(n0)
        assert.deepStrictEqual(late.runs.map((run) => run.jobId).sort(), [...left].sort())
        // Without a row of its own (no beat yet), a node claims every job ahead, as without a share.
        const all = Array.from({ length: 10 }, (_, i) => unique(`all-${i}`))
        const later = (yield* store.now) + 5_000
        yield* store.addMany(all.map((id) => oneOff(task, id, later)))
        const stranger = unique("n3")
        const alone = yield* store.claim({ node: stranger, tasks: [task, "other"], limit: 100, leaseMs: 30_000, aheadMs: 10_000, share: share(stranger) })
        assert.deepStrictEqual(alone.runs.map((run) => run.jobId).sort(), [...all].sort())
      })
    )

    test(
      "history lists every fire newest first; prune keeps the newest per job and drops old records",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.add(oneOff(task, id, now + 3_600_000))
        for (let i = 0; i < 5; i++) {
          yield* store.triggerNow(id)
          const { runs } = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
          yield* store.finish(runs.map((r) => outcome(r)))
          yield* options.elapse(5)
        }
        const all = yield* store.history({ jobId: id })
        assert.strictEqual(all.length, 5)
        assert.isTrue(all.every((r, i) => i === 0 || all[i - 1]!.fireTime > r.fireTime))
        assert.isTrue(all.every((r) => r.state === "succeeded" && r.startedAt !== null && r.endedAt !== null))
        assert.strictEqual((yield* store.history({ jobId: id, limit: 2 })).length, 2)
        assert.strictEqual((yield* store.history({ jobId: id, states: ["failed"] })).length, 0)
        yield* store.prune({ maxPerJob: 3 })
        const kept = yield* store.history({ jobId: id })
        assert.deepStrictEqual(kept.map((r) => r.id), all.slice(0, 3).map((r) => r.id))
        yield* options.elapse(50)
        yield* store.prune({ maxAgeMs: 20 })
        assert.strictEqual((yield* store.history({ jobId: id })).length, 0)
      })
    )

    test(
      "one clock for records: an outcome's end from a node's clock is not recorded; durations never negative; retention by the store's clock",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const [behind, ahead] = [unique("behind"), unique("ahead")]
        const now = yield* store.now
        yield* store.add(oneOff(task, behind, now - 1))
        yield* store.add(oneOff(task, ahead, now - 1))
        const { runs } = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        const byJob = new Map(runs.map((run) => [run.jobId, run]))
        const hours2 = 2 * 3_600_000
        // The finishing nodes' clocks are two hours behind and two hours ahead.
        const outcomes = [
          { ...outcome(byJob.get(behind)!), endedAt: byJob.get(behind)!.startedAt - hours2 },
          { ...outcome(byJob.get(ahead)!), endedAt: byJob.get(ahead)!.startedAt + hours2 }
        ]
        const before = yield* store.now
        assert.deepStrictEqual(yield* store.finish(outcomes), [true, true])
        const after = yield* store.now
        // A retry of the same outcome (its reply was lost) is accepted, whatever end it carries.
        assert.deepStrictEqual(yield* store.finish([{ ...outcomes[0]!, endedAt: 0 }]), [true])
        for (const id of [behind, ahead]) {
          const [record] = yield* store.history({ jobId: id })
          assert.isNotNull(record!.startedAt)
          assert.isNotNull(record!.endedAt)
          assert.isAtLeast(record!.endedAt!, record!.startedAt!, `${id}: a negative duration`)
          assert.isAtLeast(record!.endedAt!, before, `${id}: ended before its outcome was written`)
          assert.isAtMost(record!.endedAt!, after, `${id}: ended after its outcome was written`)
        }
        // Both ended just now by the store's clock: a minute's retention keeps them.
        yield* store.prune({ maxAgeMs: 60_000 })
        assert.strictEqual((yield* store.history({ jobId: behind })).length, 1)
        assert.strictEqual((yield* store.history({ jobId: ahead })).length, 1)
      })
    )

    test(
      "manual runs have a key space of their own: one at a scheduled fire's very time leaves both to run, each with its payload",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        const job = (at: number) =>
          Job.make(taskNamed(task), {
            id,
            payload: { from: "job" },
            trigger: Trigger.once(at),
            overlap: { max: 2, onLimit: "wait" }
          })
        yield* store.add(job(now + 3_600_000))
        const manual = yield* store.triggerNow(id, { from: "trigger" })
        // The schedule's fire comes at exactly the manual run's fire time.
        yield* store.update(job(manual.fireTime))
        const { runs } = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        assert.deepStrictEqual(runs.map((run) => run.fireTime), [manual.fireTime, manual.fireTime])
        assert.sameDeepMembers(runs.map((run) => run.payload), [{ from: "trigger" }, { from: "job" }])
        yield* store.finish(runs.map((run) => outcome(run)))
        const records = yield* store.history({ jobId: id })
        assert.strictEqual(records.length, 2)
        assert.sameMembers(records.map((r) => r.manual), [true, false])
        assert.isTrue(records.every((r) => r.fireTime === manual.fireTime && r.state === "succeeded"))
        // A second manual run in the same instant takes the next free one of its own space.
        const again = yield* store.triggerNow(id)
        assert.isTrue(again.manual)
        assert.notStrictEqual(again.fireTime, manual.fireTime)
      })
    )
  })

  operatorContract(name, test, options.elapse)
}
