/**
 * Runs claimed fires: one actor fiber per job with work, one fiber per run.
 *
 * A job's actor lives only while its job has runs to start or in progress
 * (100,000 idle jobs cost nothing here). Each run executes its task under the
 * job's timeout and retry policies; whatever the handler does — fail, die,
 * hang past its timeout — ends as an outcome on its own run and touches
 * nothing else. Outcomes are written in batches by the recorder, and a run's
 * lease is renewed until its outcome is accepted, so an outage while writing
 * an outcome cannot make another node run it again.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Effect, Exit, FiberMap, Option, Queue, Schedule, Schema, Scope } from "effect"
import { Event } from "./Event.ts"
import * as Job from "./Job.ts"
import type { Lease } from "./JobStore.ts"
import type * as Run from "./Run.ts"
import * as Supervisor from "./Supervisor.ts"
import type * as Task from "./Task.ts"

const RunDone = Symbol.for("steadfast/Executor/RunDone")

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
  /** Interrupts runs whose lease this node lost; their outcomes are never written. */
  readonly revoke: (ids: ReadonlyArray<string>) => Effect.Effect<void>
  /** Runs in progress or awaiting their record. */
  readonly inFlight: Effect.Effect<number>
  /** The recorder loop body: writes outcomes in batches, forever. */
  readonly recorder: Effect.Effect<never, unknown>
  /** Waits for handlers to finish within `graceMs`, then interrupts the rest; then flushes outcomes. */
  readonly drain: (graceMs: number) => Effect.Effect<void>
}

/**
 * Builds an executor whose fibers live in the current scope.
 *
 * @since 0.1.0
 */
export const make = <R>(options: Options<R>): Effect.Effect<Executor, never, Scope.Scope> =>
  Effect.gen(function*() {
    const held = new Map<string, Held>()
    const mailboxes = new Map<string, Queue.Queue<Run.Claimed | typeof RunDone>>()
    const runs = yield* FiberMap.make<string, void, never>()
    const actors = yield* FiberMap.make<string, void, never>()
    const outcomes = yield* Queue.unbounded<Finished>()
    let unrecorded: Array<Finished> = []

    const execute = (run: Run.Claimed) =>
      Effect.gen(function*() {
        const entry: Held = { run, done: false }
        held.set(run.id, entry)
        const task = options.tasks.get(run.task)
        const base = { jobId: run.jobId, fireTime: run.fireTime, runId: run.id }
        yield* options.publish(Event.RunStarted({ ...base, attempt: run.attempt, node: options.node, at: run.startedAt }))
        let attempt = run.attempt - 1
        const once = Effect.suspend((): Effect.Effect<void, unknown, R> => {
          attempt++
          if (task === undefined) return Effect.die(new Error(`task ${run.task} is not registered in this process`))
          const handler = task.execute(run.payload, { jobId: run.jobId, fireTime: run.fireTime, attempt, node: options.node })
          return run.timeout === null
            ? handler
            : Effect.timeoutOrElse(handler, {
              duration: run.timeout,
              orElse: () => Effect.fail(new TimedOut({ timeoutMs: run.timeout ?? 0 }))
            })
        }).pipe(Effect.sandbox, Effect.provideContext(options.context))
        const retry = Job.retrySchedule(run.retry).pipe(
          Schedule.setInputType<Cause.Cause<unknown>>(),
          // An interrupted handler (lease lost, shutdown) is not retried.
          Schedule.while(({ input }) => !Cause.hasInterruptsOnly(input)),
          Schedule.tap(({ input, now }) =>
            options.publish(Event.RunRetrying({ ...base, attempt, error: causeText(input), at: now }))
          )
        )
        const exit = yield* Effect.exit(Effect.retry(once, retry))
        const endedAt = yield* Clock.currentTimeMillis
        if (Exit.isSuccess(exit)) {
          entry.done = true
          yield* Queue.offer(outcomes, {
            run,
            outcome: { id: run.id, token: run.token, state: "succeeded", attempt, error: null, endedAt },
            event: Event.RunSucceeded({ ...base, attempt, at: endedAt })
          })
        } else {
          const timedOut = Cause.findErrorOption(exit.cause).pipe(
            Option.flatMap(Cause.findErrorOption),
            Option.exists((error) => error instanceof TimedOut)
          )
          const error = causeText(exit.cause)
          entry.done = true
          yield* Queue.offer(outcomes, {
            run,
            outcome: { id: run.id, token: run.token, state: timedOut ? "timed-out" : "failed", attempt, error, endedAt },
            event: timedOut
              ? Event.RunTimedOut({ ...base, attempt, at: endedAt })
              : Event.RunFailed({ ...base, attempt, error, at: endedAt })
          })
        }
      }).pipe(
        Effect.onInterrupt(() =>
          Effect.gen(function*() {
            const entry = held.get(run.id)
            if (entry === undefined || entry.done) return
            entry.done = true
            const endedAt = yield* Clock.currentTimeMillis
            // Interrupted by shutdown after the grace period: record it honestly.
            const error = "interrupted: the node shut down before the handler finished"
            yield* Queue.offer(outcomes, {
              run,
              outcome: { id: run.id, token: run.token, state: "failed", attempt: run.attempt, error, endedAt },
              event: Event.RunFailed({
                jobId: run.jobId,
                fireTime: run.fireTime,
                runId: run.id,
                attempt: run.attempt,
                error,
                at: endedAt
              })
            })
          })
        )
      )

    // The job's actor: starts its job's runs as they arrive and lives while any
    // is in progress. It decides to end and leaves the map in one synchronous
    // step, so a run submitted afterwards simply starts a new actor.
    const actorLoop = (jobId: string, mailbox: Queue.Queue<Run.Claimed | typeof RunDone>): Effect.Effect<void> =>
      Effect.gen(function*() {
        let active = 0
        while (true) {
          if (active === 0 && Queue.sizeUnsafe(mailbox) === 0) {
            mailboxes.delete(jobId)
            return
          }
          const message = yield* Queue.take(mailbox)
          if (message === RunDone) {
            active--
          } else {
            active++
            yield* FiberMap.run(runs, message.id, Effect.ensuring(execute(message), Queue.offer(mailbox, RunDone)))
          }
        }
      })

    // An actor that fails (a bug here, not in a handler: those end on their run)
    // is reported and started again on the same mailbox; its runs keep running.
    const actor = (jobId: string, mailbox: Queue.Queue<Run.Claimed | typeof RunDone>): Effect.Effect<void> =>
      actorLoop(jobId, mailbox).pipe(
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.gen(function*() {
            const at = yield* Clock.currentTimeMillis
            yield* options.publish(Event.LoopFailed({ loop: `actor:${jobId}`, error: causeText(cause), at }))
            yield* options.publish(Event.LoopRestarted({ loop: `actor:${jobId}`, restarts: 1, at }))
            return yield* actor(jobId, mailbox)
          })
        )
      )

    const submit = (claimed: ReadonlyArray<Run.Claimed>) =>
      Effect.gen(function*() {
        for (const run of claimed) {
          const mailbox = mailboxes.get(run.jobId)
          if (mailbox !== undefined) {
            Queue.offerUnsafe(mailbox, run)
            continue
          }
          // The first message goes in before the actor starts, or it would see
          // an empty mailbox and end at once.
          const fresh = yield* Queue.unbounded<Run.Claimed | typeof RunDone>()
          Queue.offerUnsafe(fresh, run)
          mailboxes.set(run.jobId, fresh)
          yield* FiberMap.run(actors, run.jobId, actor(run.jobId, fresh))
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
          yield* FiberMap.remove(runs, id)
          const at = yield* Clock.currentTimeMillis
          yield* options.publish(Event.RunLeaseLost({ jobId: entry.run.jobId, fireTime: entry.run.fireTime, runId: id, at }))
        }), { discard: true })

    const record = (batch: ReadonlyArray<Finished>) =>
      Effect.gen(function*() {
        const accepted = yield* options.finish(batch.map((finished) => finished.outcome))
        for (const [i, finished] of batch.entries()) {
          if (!held.has(finished.run.id)) continue
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
    const recorder: Effect.Effect<never, unknown> = Effect.gen(function*() {
      while (true) {
        if (unrecorded.length === 0) {
          unrecorded = [...(yield* Queue.takeBetween(outcomes, 1, 1_000))].filter((e) => held.has(e.run.id))
        }
        if (unrecorded.length > 0) yield* record(unrecorded)
        unrecorded = []
      }
    })

    const inFlight = Effect.sync(() => held.size)

    const drain = (graceMs: number) =>
      Effect.gen(function*() {
        const done = graceMs > 0 ? yield* Effect.timeoutOption(FiberMap.awaitEmpty(runs), graceMs) : Option.none()
        if (Option.isNone(done)) yield* FiberMap.clear(runs)
        yield* FiberMap.clear(actors)
        const pending = [...unrecorded, ...(yield* Queue.clear(outcomes))].filter((e) => held.has(e.run.id))
        if (pending.length > 0) yield* Effect.ignore(Effect.timeoutOption(record(pending), 5_000))
      })

    return { submit, leases, revoke, inFlight, recorder, drain }
  })

const causeText = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (Cause.isCause(error)) return causeText(error)
  return Supervisor.describe(error).slice(0, 2_000)
}
