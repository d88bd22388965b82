/**
 * Shared pieces for scheduler tests: a ledger the handlers write (the
 * independent record of what ran), an event collector, and a scheduler on
 * the in-memory store.
 */
import { Effect, Fiber, Layer, Schema, Stream } from "effect"
import type * as Event from "../../src/Event.ts"
import type * as Job from "../../src/Job.ts"
import type { JobStore } from "../../src/JobStore.ts"
import * as MemoryJobStore from "../../src/MemoryJobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Task from "../../src/Task.ts"

export interface Entry {
  readonly jobId: string
  readonly fireTime: number
  readonly at: number
  readonly attempt: number
}

/** What handlers saw, in order: written by the handlers themselves. */
export class Ledger {
  readonly entries: Array<Entry> = []
  firesOf(jobId: string): Array<number> {
    return this.entries.filter((e) => e.jobId === jobId).map((e) => e.fireTime)
  }
  startsOf(jobId: string): Array<number> {
    return this.entries.filter((e) => e.jobId === jobId).map((e) => e.at)
  }
}

/** A task that records each call in the ledger, then runs `body`. */
export const recordingTask = <E = never>(
  name: string,
  ledger: Ledger,
  body: (payload: unknown) => Effect.Effect<void, E> = () => Effect.void
) =>
  Task.make(name, Schema.Unknown, (payload, context) =>
    Effect.gen(function*() {
      const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      ledger.entries.push({ jobId: context.jobId, fireTime: context.fireTime, at, attempt: context.attempt })
      yield* body(payload)
    }))

/** Collects every event from now on (subscribes before returning). */
export const collectEvents = Effect.gen(function*() {
  const scheduler = yield* Scheduler.Scheduler
  const events: Array<Event.Event> = []
  const fiber = yield* Effect.forkScoped(Stream.runForEach(scheduler.events, (e) => Effect.sync(() => events.push(e))))
  // Let the subscriber attach before anything is published.
  for (let i = 0; i < 5; i++) yield* Effect.yieldNow
  return { events, fiber, stop: Fiber.interrupt(fiber) }
})

/**
 * A scheduler over `store`. Tests end while handlers may still run, and a
 * grace period would wait on a TestClock nobody advances: no grace by default.
 */
export const schedulerOn = <R>(
  store: Layer.Layer<JobStore>,
  options: Scheduler.Options<R>
) => Scheduler.layer({ shutdownGrace: 0, ...options }).pipe(Layer.provideMerge(store))

export const memoryScheduler = <R>(options: Scheduler.Options<R>) => schedulerOn(MemoryJobStore.layer, options)

export type { Job }

/**
 * Waits `ms` of real time (not `TestClock`'s): for live tests that must let
 * real time pass, to poll a condition or to show that nothing happens within it.
 */
export const realWait = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/**
 * Waits until `condition` holds, letting other fibers run: for cascades not
 * driven by a sleep (a run triggered by an API call), which `TestClock.adjust`
 * does not wait for. Fails after `maxTurns` scheduler turns.
 */
export const eventually = (condition: () => boolean, maxTurns = 10_000) =>
  Effect.gen(function*() {
    for (let turn = 0; turn < maxTurns; turn++) {
      if (condition()) return
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error(`condition not met after ${maxTurns} scheduler turns`))
  })
