/**
 * One run's handler, with its attempts: the task invoked under the job's
 * timeout, retried by the job's retry policy (never after an interruption:
 * a lost lease or a shutdown), each retry reported. Ends in an `Ended`:
 * the outcome to record and the event to publish once it is recorded.
 * Whatever the handler does (fail, die, hang past its timeout) ends here as
 * an outcome; nothing escapes to the executor.
 *
 * @since 0.3.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import { Event } from "../Event.ts"
import * as Job from "../Job.ts"
import type * as Run from "../Run.ts"
import * as Supervisor from "../Supervisor.ts"
import type * as Task from "../Task.ts"
import * as Telemetry from "./Telemetry.ts"

class TimedOut extends Schema.TaggedError<TimedOut>()("TimedOut", { timeoutMs: Schema.Number }) {
  // Read in the run's record and on its span's error status.
  override get message(): string {
    return `TimedOut: the handler ran past its timeout of ${this.timeoutMs} ms`
  }
}

/**
 * How a run's handler ended.
 *
 * @since 0.3.0
 */
export interface Ended {
  readonly outcome: Run.Outcome
  readonly event: Event
}

/**
 * Runs `run`'s handler (its task from `tasks`) with its attempts, in
 * `context`; `publish` reports retries. With `tracing`, in the run's span
 * (see `Telemetry.runSpan`), whose child the handler's own spans are.
 *
 * @since 0.3.0
 */
export const run = <R>(
  run: Run.Claimed,
  options: {
    readonly node: string
    readonly tasks: ReadonlyMap<string, Task.Any<R>>
    readonly context: Context.Context<R>
    readonly publish: (event: Event) => Effect.Effect<void>
    /** Whether runs are traced (a tracer other than Effect's default is in the context). Default false. */
    readonly tracing?: boolean | undefined
  }
): Effect.Effect<Ended> => {
  const task = options.tasks.get(run.task)
  const base = { jobId: run.jobId, fireTime: run.fireTime, runId: run.id }
  let attempt = run.attempt - 1
  let span: Tracer.Span | undefined
  const once = Effect.suspend((): Effect.Effect<void, unknown> => {
    attempt++
    if (span !== undefined && attempt > run.attempt) span.attribute("steadfast.attempt", attempt)
    if (task === undefined) return Effect.die(new Error(`task ${run.task} is not registered in this process`))
    const handler = task.execute(run.payload, { jobId: run.jobId, fireTime: run.fireTime, attempt, node: options.node, manual: run.manual === true })
    const timed = run.timeout === null ? handler : Effect.timeoutOrElse(handler, {
      duration: run.timeout,
      orElse: () => Effect.fail(new TimedOut({ timeoutMs: run.timeout ?? 0 }))
    })
    // The run's span is provided inside the scheduler's context, which may
    // hold the span the scheduler was built in.
    return Effect.provideContext(
      span === undefined ? timed : Effect.provideService(timed, Tracer.ParentSpan, span),
      options.context
    )
  })
  // Most jobs make one attempt: no retry machinery for them. (Combinators,
  // not a generator: this is every run's path.) Retried, the last attempt's
  // cause, unwrapped, is the run's failure.
  const tried = run.retry.attempts <= 1 ? once : Effect.catch(
    Effect.retry(
      Effect.sandbox(once),
      Job.retrySchedule(run.retry).pipe(
        Schedule.setInputType<Cause.Cause<unknown>>(),
        // An interrupted handler (lease lost, shutdown) is not retried.
        Schedule.while(({ input }) => !Cause.hasInterruptsOnly(input)),
        Schedule.tap(({ input, now }) =>
          options.publish(Event.RunRetrying({ ...base, attempt, error: causeText(input), at: now }))
        )
      )
    ),
    Effect.failCause
  )
  // The run's span ends with the attempts' exit: a failure gives it an error status.
  const attempts = Effect.exit(
    options.tracing === true
      ? Telemetry.runSpan(run, options.node, (made) => {
        span = made
        return tried
      })
      : tried
  )
  return Effect.flatMap(attempts, (exit) =>
    Effect.map(Clock.currentTimeMillis, (endedAt): Ended => {
      if (Exit.isSuccess(exit)) {
        return {
          outcome: { id: run.id, token: run.token, state: "succeeded", attempt, error: null, endedAt },
          event: Event.RunSucceeded({ ...base, attempt, at: endedAt })
        }
      }
      const timedOut = isTimedOut(exit.cause)
      const error = causeText(exit.cause)
      return {
        outcome: { id: run.id, token: run.token, state: timedOut ? "timed-out" : "failed", attempt, error, endedAt },
        event: timedOut
          ? Event.RunTimedOut({ ...base, attempt, at: endedAt })
          : Event.RunFailed({ ...base, attempt, error, at: endedAt })
      }
    }))
}

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
