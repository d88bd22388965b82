/**
 * Shared pieces for the tests of the runtime's loops (test/runtime/): an
 * in-memory store with some operations replaced (a call that hangs, a change
 * feed that drops, a clock of its own), a look at one loop's health, and a
 * sampler of the health status.
 */
import { Clock, Effect, Fiber, Layer } from "effect"
import { JobStore } from "../../src/JobStore.ts"
import * as MemoryJobStore from "../../src/MemoryJobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import type * as Supervisor from "../../src/Supervisor.ts"

type Store = JobStore["Service"]

/** The in-memory store with the operations `overrides` returns replaced (each may call the original). */
export const memoryWith = (overrides: (inner: Store) => Partial<Store>): Layer.Layer<JobStore> =>
  Layer.effect(
    JobStore,
    Effect.map(MemoryJobStore.make, (inner) => JobStore.of({ ...inner, ...overrides(inner) }))
  )

/** The health of the scheduler's loop `name`. */
export const loopHealth = (name: string): Effect.Effect<Supervisor.LoopHealth, never, Scheduler.Scheduler> =>
  Effect.flatMap(Scheduler.Scheduler, (scheduler) =>
    Effect.flatMap(scheduler.health, (health) => {
      const loop = health.loops.find((l) => l.name === name)
      return loop === undefined ? Effect.die(new Error(`no loop ${name} in health`)) : Effect.succeed(loop)
    }))

/**
 * Samples the scheduler's health status every `everyMs` (by the clock the
 * test drives) from now on, for the life of the scope.
 */
export const sampleHealth = (everyMs: number) =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler.Scheduler
    const samples: Array<{ readonly at: number; readonly status: Supervisor.Health["status"] }> = []
    const fiber = yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
      const health = yield* scheduler.health
      samples.push({ at: yield* Clock.currentTimeMillis, status: health.status })
      yield* Effect.sleep(everyMs)
    })))
    return { samples, stop: Fiber.interrupt(fiber) }
  })

/**
 * Calls that never answer (a statement on a dead connection, without a
 * deadline): wraps an operation's calls; the calls `on` picks (counted from
 * 1) hang, the others run.
 */
export const hangWhen = (on: (call: number) => boolean) => {
  let calls = 0
  return <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> => Effect.suspend(() => on(++calls) ? Effect.never : effect)
}

/**
 * Runs every operation of `store` with `clock` as its clock: a database
 * whose clock is its own, whatever the clock of the process calling it does.
 */
export const withClock = (store: Store, clock: Clock.Clock): Store => {
  const pin = <A, E>(effect: Effect.Effect<A, E>) => Effect.provideService(effect, Clock.Clock, clock)
  return JobStore.of({
    now: pin(store.now),
    register: (jobs, options) => pin(store.register(jobs, options)),
    add: (job) => pin(store.add(job)),
    addMany: (jobs) => pin(store.addMany(jobs)),
    update: (job) => pin(store.update(job)),
    setPaused: (id, paused) => pin(store.setPaused(id, paused)),
    remove: (id) => pin(store.remove(id)),
    get: (id) => pin(store.get(id)),
    list: pin(store.list),
    triggerNow: (id, payload) => pin(store.triggerNow(id, payload)),
    claim: (request) => pin(store.claim(request)),
    nextWake: (tasks, aheadMs, share) => pin(store.nextWake(tasks, aheadMs, share)),
    finish: (outcomes) => pin(store.finish(outcomes)),
    renew: (node, leases, leaseMs) => pin(store.renew(node, leases, leaseMs)),
    adopt: (node, tokens, leaseMs) => pin(store.adopt(node, tokens, leaseMs)),
    release: (node, leases) => pin(store.release(node, leases)),
    reap: pin(store.reap),
    history: (query) => pin(store.history(query)),
    prune: (retention) => pin(store.prune(retention)),
    historyPage: (query) => pin(store.historyPage(query)),
    listJobs: (query) => pin(store.listJobs(query)),
    getRun: (id) => pin(store.getRun(id)),
    cancel: (id) => pin(store.cancel(id)),
    stateCounts: (jobId, sinceMs) => pin(store.stateCounts(jobId, sinceMs)),
    heartbeat: (info) => pin(store.heartbeat(info)),
    nodes: (staleAfterMs) => pin(store.nodes(staleAfterMs)),
    leave: (node, instance) => pin(store.leave(node, instance)),
    changes: store.changes,
    cancelRequests: store.cancelRequests
  })
}

/**
 * `base` with its wall clock moved by `shift.ms` (changeable at any time),
 * its monotonic clock and timers untouched: what libfaketime does to a
 * process with `DONT_FAKE_MONOTONIC=1`.
 */
export const shiftedClock = (base: Clock.Clock, shift: { ms: number }): Clock.Clock => {
  const millis = () => base.currentTimeMillisUnsafe() + shift.ms
  const nanos = () => base.currentTimeNanosUnsafe() + BigInt(shift.ms) * 1_000_000n
  return {
    currentTimeMillisUnsafe: millis,
    currentTimeMillis: Effect.sync(millis),
    currentTimeNanosUnsafe: nanos,
    currentTimeNanos: Effect.sync(nanos),
    monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe(),
    monotonicTimeNanos: base.monotonicTimeNanos,
    sleep: (duration) => base.sleep(duration)
  }
}
