import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as Task from "../../src/Task.ts"
import * as Trigger from "../../src/Trigger.ts"
import { collectEvents, schedulerOn } from "../support/Harness.ts"
import { loopHealth, memoryWith } from "../support/Runtime.ts"

const second = 1_000

/** Every execution of a handler: which fire, from when to when (by the clock the test drives). */
class Executions {
  readonly all: Array<{ readonly jobId: string; readonly fireTime: number; readonly start: number; end: number | null }> = []
  task<E>(name: string, body: Effect.Effect<void, E>) {
    const all = this.all
    return Task.make(name, Schema.Unknown, (_payload, context) =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        const entry: Executions["all"][number] = { jobId: context.jobId, fireTime: context.fireTime, start, end: null }
        all.push(entry)
        yield* Effect.ensuring(body, Effect.map(Clock.currentTimeMillis, (t) => void (entry.end = t)))
      }))
  }
  /** Executions of one fire that overlapped in time. */
  concurrent() {
    const overlapping: Array<string> = []
    for (const [i, a] of this.all.entries()) {
      for (const b of this.all.slice(i + 1)) {
        if (a.jobId !== b.jobId || a.fireTime !== b.fireTime) continue
        if (b.start < (a.end ?? Infinity) && a.start < (b.end ?? Infinity)) overlapping.push(`${a.jobId}@${a.fireTime}`)
      }
    }
    return overlapping
  }
}

// The in-memory store, recording each renewal; `lose` picks leases its
// renewal reports lost (as when another node took the run over).
const renewing = (lose: (jobId: string | undefined) => boolean) => {
  const jobOf = new Map<string, string>()
  const renewals: Array<{ readonly at: number; readonly jobs: ReadonlyArray<string | undefined> }> = []
  const store = memoryWith((inner) => ({
    claim: (request) =>
      Effect.tap(inner.claim(request), ({ runs }) => Effect.sync(() => runs.forEach((run) => jobOf.set(run.id, run.jobId)))),
    renew: (node, leases, leaseMs) =>
      Effect.gen(function*() {
        renewals.push({ at: yield* Clock.currentTimeMillis, jobs: leases.map((lease) => jobOf.get(lease.id)) })
        const taken = leases.filter((lease) => lose(jobOf.get(lease.id)))
        const renewed = yield* inner.renew(node, leases.filter((lease) => !taken.includes(lease)), leaseMs)
        return { ...renewed, lost: [...renewed.lost, ...taken.map((lease) => lease.id)] }
      })
  }))
  return { store, renewals }
}

const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((t, i) => t - times[i]!)

describe("LeaseKeeper", () => {
  it.effect("renews the leases of running runs every heartbeat, so a handler longer than its lease is never taken over", () => {
    const runs = new Executions()
    const long = runs.task("long", Effect.sleep(10 * second))
    const { renewals, store } = renewing(() => false)
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* TestClock.adjust(15 * second)
      // From its start at 1 s to its end at 11 s, renewed every second.
      const times = renewals.map((r) => r.at)
      assert.deepStrictEqual(gaps(times).filter((gap) => gap !== second), [], `renewed at ${times.join(", ")}`)
      assert.isAtMost(times[0]!, 2 * second)
      assert.isAtLeast(times.at(-1)!, 10 * second)
      const [record] = yield* JobStore.use((s) => s.history({ jobId: "long" }))
      assert.strictEqual(record?.state, "succeeded")
      assert.deepStrictEqual(events.filter((e) => e._tag === "RunLost" || e._tag === "RunLeaseLost"), [])
      const keeper = yield* loopHealth("lease-keeper")
      assert.strictEqual(keeper.lastProgress, 15 * second, "progress every heartbeat, leases or not")
      assert.strictEqual(keeper.stallAfterMs, 3 * second + 1 * second)
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [long],
      jobs: [Job.make(long, { id: "long", payload: null, trigger: Trigger.once(1 * second) })],
      leaseDuration: "3 seconds",
      heartbeatInterval: "1 second",
      reapInterval: "1 second"
    })))
  })

  it.effect("a handler that ignores interruption, whose lease is lost, delays no renewal of the node's other leases; no fire runs twice at once", () => {
    const runs = new Executions()
    const steady = runs.task("steady", Effect.sleep(5 * second))
    const release = Deferred.makeUnsafe<void>()
    const stubborn = runs.task("stubborn", Effect.uninterruptible(Deferred.await(release)))
    const { renewals, store } = renewing((jobId) => jobId === "stubborn")
    return Effect.gen(function*() {
      const { events } = yield* collectEvents
      yield* JobStore.use((s) => s.add(Job.make(stubborn, { id: "stubborn", payload: null, trigger: Trigger.once(1_500) })))
      yield* TestClock.adjust(30 * second)

      // The stubborn run was reported lost at its first renewal (2 s) and
      // revoked; its handler still runs, ignoring the interruption.
      const stubbornRun = runs.all.find((r) => r.jobId === "stubborn")
      assert.deepStrictEqual(stubbornRun && [stubbornRun.start, stubbornRun.end], [1_500, null])
      assert.deepStrictEqual(
        events.filter((e) => e._tag === "RunLeaseLost").map((e) => e._tag === "RunLeaseLost" && [e.jobId, e.at]),
        [["stubborn", 2 * second]]
      )
      // Meanwhile every other lease was renewed on time, every second.
      const times = renewals.map((r) => r.at)
      assert.deepStrictEqual(gaps(times).filter((gap) => gap !== second), [], `renewed at ${times.join(", ")}`)
      assert.isAtLeast(times.length, 28)
      assert.isTrue(renewals.slice(1).every((r) => !r.jobs.includes("stubborn")), "the lost lease is not renewed again")
      const keeper = yield* loopHealth("lease-keeper")
      assert.deepStrictEqual([keeper.restarts, keeper.stalls, keeper.lastProgress], [0, 0, 30 * second])
      // The store took the stubborn run over after its lease (recorded lost, by
      // its policy); no steady run was ever taken over.
      const lost = events.filter((e) => e._tag === "RunLost")
      assert.deepStrictEqual(lost.map((e) => e._tag === "RunLost" && [e.jobId, e.retried]), [["stubborn", false]])
      const [stubbornRecord] = yield* JobStore.use((s) => s.history({ jobId: "stubborn" }))
      assert.strictEqual(stubbornRecord?.state, "lost")
      const steadyRecords = yield* JobStore.use((s) => s.history({ jobId: "steady", limit: 100 }))
      assert.deepStrictEqual(steadyRecords.filter((r) => r.state !== "succeeded" && r.state !== "running"), [])
      assert.strictEqual(steadyRecords.filter((r) => r.state === "succeeded").length, 12)
      // Each steady fire ran once; no fire ran twice at once.
      const steadyFires = runs.all.filter((r) => r.jobId === "steady").map((r) => r.fireTime)
      assert.strictEqual(new Set(steadyFires).size, steadyFires.length)
      assert.deepStrictEqual(runs.concurrent(), [])
      yield* Deferred.succeed(release, undefined)
    }).pipe(Effect.provide(schedulerOn(store, {
      tasks: [steady, stubborn],
      jobs: [Job.make(steady, { id: "steady", payload: null, trigger: Trigger.every("2 seconds"), overlap: { max: 10 }, onLost: "retry" })],
      leaseDuration: "3 seconds",
      heartbeatInterval: "1 second",
      reapInterval: "1 second"
    })))
  })
})
