/**
 * Runs claimed fires: one fiber per run.
 *
 * A run executes its task under the job's timeout and retry policies;
 * whatever the handler does — fail, die, hang past its timeout — ends as an
 * outcome on its own run and touches nothing else. A run claimed ahead of its
 * due instant (see `PgJobStore.Options.claimAhead`) waits for that instant by
 * the store's clock, so it starts on time and never early. Outcomes are
 * written in batches by the recorder, and a run's lease is renewed until its
 * outcome is accepted, so an outage while writing an outcome cannot make
 * another node run it again.
 *
 * The executor holds nothing for a job without work in progress (100,000 idle
 * jobs cost nothing here), and little per run: this is the hot path of a
 * drain, where every microsecond per run is a run per second less.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { Event } from "./Event.ts"
import * as Bounded from "./runtime/Bounded.ts"
import * as Job from "./Job.ts"
import type { Lease } from "./JobStore.ts"
import type * as Run from "./Run.ts"
import * as Supervisor from "./Supervisor.ts"
import type * as Task from "./Task.ts"

class TimedOut extends Schema.TaggedError<TimedOut>()("TimedOut", { timeoutMs: Schema.Number }) {}

/**
 * What the executor needs from the scheduler around it.
 *
 * @since 0.1.0
 */
export interface Options<R> {
  readonly node: string
  readonly tasks: ReadonlyMap<string, Task.Any<R>>
  readonly context: Context.Context<R>
  readonly publish: (event: Event) => Effect.Effect<void>
  /** Writes a batch of outcomes; returns which were accepted (fenced). Retries are the caller's concern. */
  readonly finish: (outcomes: ReadonlyArray<Run.Outcome>) => Effect.Effect<ReadonlyArray<boolean>, unknown>
  /** Called when a run finished, so the dispatcher can claim again (an overlap slot may be free). */
  readonly onSlotFreed: Effect.Effect<void>
  /**
   * The store's clock (epoch ms), as this process estimates it: a run whose
   * `startedAt` is ahead of it waits until then. Default: `Clock`.
   */
  readonly storeNow?: Effect.Effect<number> | undefined
}

interface Held {
  readonly run: Run.Claimed
  /** Set once the handler is done: its outcome waits to be recorded (or was revoked). */
  done: boolean
}

interface Finished {
  readonly run: Run.Claimed
  readonly outcome: Run.Outcome
  readonly event: Event
}

/**
 * The executor of one scheduler instance.
 *
 * @since 0.1.0
 */
export interface Executor {
  readonly submit: (runs: ReadonlyArray<Run.Claimed>) => Effect.Effect<void>
  /** Leases to renew: runs in progress and runs whose outcome is not yet recorded. */
  readonly leases: Effect.Effect<ReadonlyArray<Lease>>
  /**
   * Interrupts runs whose lease this node lost; their outcomes are never
   * written. Never waits for a handler to end: one that ignores interruption
   * holds nothing up.
   */
  readonly revoke: (ids: ReadonlyArray<string>) => Effect.Effect<void>
  /** Runs in progress or awaiting their record. */
  readonly inFlight: Effect.Effect<number>
  /**
   * The recorder loop body: writes outcomes in batches, forever. It reports
   * `idle` while it waits for outcomes and `progress` when it has some and
   * when it wrote them.
   */
  readonly recorder: (report: { readonly idle: Effect.Effect<void>; readonly progress: Effect.Effect<void> }) => Effect.Effect<never, unknown>
  /**
   * Waits for handlers to finish within `graceMs`, then interrupts the rest
   * (waiting at most `marginMs` for them to end: a handler that ignores
   * interruption is abandoned, its run left to its lease); then writes
   * outstanding outcomes, for at most `marginMs`.
   */
  readonly drain: (graceMs: number, marginMs?: number) => Effect.Effect<void>
}

/**
 * Builds an executor whose fibers live in the current scope.
 *
 * @since 0.1.0
 */
export const make = <R>(options: Options<R>): Effect.Effect<Executor, never, Scope.Scope> =>
  Effect.gen(function*() {
    // Runs live in a scope of their own, closed after the scheduler's
    // shutdown (which lets them finish within the grace period), not before,
    // and never waited for without a bound: a handler that ignores
    // interruption must not hold the closing of the scheduler's scope.
    const scope = yield* Scope.make("parallel")
    yield* Effect.addFinalizer(() => Bounded.close(scope, 1_000))
    const storeNow = options.storeNow ?? Clock.currentTimeMillis
    // Timers may fire early by up to a millisecond (they count whole ones): check, and wait on.
    const sleepUntil = (instant: number): Effect.Effect<void> =>
      Effect.flatMap(storeNow, (now) =>
        now >= instant ? Effect.void : Effect.andThen(Effect.sleep(Math.ceil(instant - now)), sleepUntil(instant)))
    const held = new Map<string, Held>()
    const fibers = new Map<string, Fiber.Fiber<void>>()
    const outcomes = yield* Queue.unbounded<Finished>()
    let unrecorded: Array<Finished> = []

    const interrupted = (entry: Held) =>
      Effect.gen(function*() {
        if (held.get(entry.run.id) !== entry || entry.done) return
        entry.done = true
        const { run } = entry
        const endedAt = yield* Clock.currentTimeMillis
        // Interrupted by shutdown after the grace period: record it honestly.
        const error = "interrupted: the node shut down before the handler finished"
        yield* Queue.offer(outcomes, {
          run,
          outcome: { id: run.id, token: run.token, state: "failed", attempt: run.attempt, error, endedAt },
          event: Event.RunFailed({ jobId: run.jobId, fireTime: run.fireTime, runId: run.id, attempt: run.attempt, error, at: endedAt })
        })
      })

    const execute = (entry: Held, ahead: boolean): Effect.Effect<void> =>
      Effect.gen(function*() {
        const { run } = entry
        if (ahead) yield* sleepUntil(run.startedAt)
        const task = options.tasks.get(run.task)
        const base = { jobId: run.jobId, fireTime: run.fireTime, runId: run.id }
        yield* options.publish(Event.RunStarted({ ...base, attempt: run.attempt, node: options.node, at: run.startedAt }))
        let attempt = run.attempt - 1
        const once = Effect.suspend((): Effect.Effect<void, unknown> => {
          attempt++
          if (task === undefined) return Effect.die(new Error(`task ${run.task} is not registered in this process`))
          const handler = task.execute(run.payload, { jobId: run.jobId, fireTime: run.fireTime, attempt, node: options.node })
          return Effect.provideContext(
            run.timeout === null ? handler : Effect.timeoutOrElse(handler, {
              duration: run.timeout,
              orElse: () => Effect.fail(new TimedOut({ timeoutMs: run.timeout ?? 0 }))
            }),
            options.context
          )
        })
        // Most jobs make one attempt: no retry machinery for them.
        const exit = run.retry.attempts <= 1 ? yield* Effect.exit(once) : yield* Effect.exit(Effect.retry(
          Effect.sandbox(once),
          Job.retrySchedule(run.retry).pipe(
            Schedule.setInputType<Cause.Cause<unknown>>(),
            // An interrupted handler (lease lost, shutdown) is not retried.
            Schedule.while(({ input }) => !Cause.hasInterruptsOnly(input)),
            Schedule.tap(({ input, now }) =>
              options.publish(Event.RunRetrying({ ...base, attempt, error: causeText(input), at: now }))
            )
          )
        ))
        // Runs claimed ahead are woken together at their instant: let the
        // others due then start before this one's bookkeeping.
        if (ahead) yield* Effect.yieldNow
        const endedAt = yield* Clock.currentTimeMillis
        entry.done = true
        if (Exit.isSuccess(exit)) {
          yield* Queue.offer(outcomes, {
            run,
            outcome: { id: run.id, token: run.token, state: "succeeded", attempt, error: null, endedAt },
            event: Event.RunSucceeded({ ...base, attempt, at: endedAt })
          })
        } else {
          const timedOut = isTimedOut(exit.cause)
          const error = causeText(exit.cause)
          yield* Queue.offer(outcomes, {
            run,
            outcome: { id: run.id, token: run.token, state: timedOut ? "timed-out" : "failed", attempt, error, endedAt },
            event: timedOut
              ? Event.RunTimedOut({ ...base, attempt, at: endedAt })
              : Event.RunFailed({ ...base, attempt, error, at: endedAt })
          })
        }
      }).pipe(Effect.onInterrupt(() => interrupted(entry)))

    // Runs start in the order they were claimed; a run claimed ahead of its due
    // instant waits for it, by the store's clock, never starting early.
    const submit = (claimed: ReadonlyArray<Run.Claimed>) =>
      Effect.gen(function*() {
        if (claimed.length === 0) return
        const now = yield* storeNow
        for (const run of claimed) {
          const entry: Held = { run, done: false }
          held.set(run.id, entry)
          const fiber = yield* Effect.forkIn(execute(entry, run.startedAt > now), scope)
          fibers.set(run.id, fiber)
          fiber.addObserver(() => {
            if (fibers.get(run.id) === fiber) fibers.delete(run.id)
          })
        }
      })

    const leases = Effect.sync(() => [...held.values()].map(({ run }) => ({ id: run.id, token: run.token })))

    const revoke = (ids: ReadonlyArray<string>) =>
      Effect.forEach(ids, (id) =>
        Effect.gen(function*() {
          const entry = held.get(id)
          if (entry === undefined) return
          held.delete(id)
          // Mark it done first so the interrupt hook does not write an outcome.
          entry.done = true
          const fiber = fibers.get(id)
          if (fiber !== undefined) yield* Effect.forkIn(Fiber.interrupt(fiber), scope)
          const at = yield* Clock.currentTimeMillis
          yield* options.publish(Event.RunLeaseLost({ jobId: entry.run.jobId, fireTime: entry.run.fireTime, runId: id, at }))
        }), { discard: true })

    const record = (batch: ReadonlyArray<Finished>) =>
      Effect.gen(function*() {
        const accepted = yield* options.finish(batch.map((finished) => finished.outcome))
        for (const [i, finished] of batch.entries()) {
          if (held.get(finished.run.id)?.run !== finished.run) continue
          held.delete(finished.run.id)
          if (accepted[i] === true) {
            yield* options.publish(finished.event)
          } else {
            yield* options.publish(Event.RunLeaseLost({
              jobId: finished.run.jobId,
              fireTime: finished.run.fireTime,
              runId: finished.run.id,
              at: finished.outcome.endedAt
            }))
          }
        }
        yield* options.onSlotFreed
      })

    // A batch taken from the queue stays in `unrecorded` until written, so a
    // recorder restart after a store failure retries it instead of losing it.
    const recorder = (report: { readonly idle: Effect.Effect<void>; readonly progress: Effect.Effect<void> }): Effect.Effect<never, unknown> =>
      Effect.gen(function*() {
        while (true) {
          if (unrecorded.length === 0) {
            yield* report.idle
            unrecorded = [...(yield* Queue.takeBetween(outcomes, 1, 1_000))].filter((e) => held.get(e.run.id)?.run === e.run)
            yield* report.progress
          }
          if (unrecorded.length > 0) yield* record(unrecorded)
          unrecorded = []
          yield* report.progress
        }
      })

    const inFlight = Effect.sync(() => held.size)

    const awaitRuns = Effect.suspend(() => Effect.forEach([...fibers.values()], Fiber.await, { discard: true }))

    const drain = (graceMs: number, marginMs = 2_000) =>
      Effect.gen(function*() {
        const done = graceMs > 0 ? yield* Effect.timeoutOption(awaitRuns, graceMs) : Option.none()
        if (Option.isNone(done)) {
          const interrupted = yield* Bounded.within(Fiber.interruptAll([...fibers.values()]), marginMs)
          if (Option.isNone(interrupted)) {
            yield* Effect.logWarning(`${fibers.size} handlers did not end within ${marginMs} ms of their interruption; abandoned`)
          }
        }
        const pending = [...unrecorded, ...(yield* Queue.clear(outcomes))].filter((e) => held.get(e.run.id)?.run === e.run)
        if (pending.length > 0) yield* Bounded.within(record(pending), marginMs)
      })

    return { submit, leases, revoke, inFlight, recorder, drain }
  })

// A handler's timeout is its own failure; under retries it is wrapped once
// more (the retried effect is sandboxed).
const isTimedOut = (cause: Cause.Cause<unknown>): boolean =>
  Cause.findErrorOption(cause).pipe(
    Option.exists((error) =>
      error instanceof TimedOut ||
      (Cause.isCause(error) && Cause.findErrorOption(error).pipe(Option.exists((inner) => inner instanceof TimedOut)))
    )
  )

const causeText = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (Cause.isCause(error)) return causeText(error)
  return Supervisor.describe(error).slice(0, 2_000)
}
