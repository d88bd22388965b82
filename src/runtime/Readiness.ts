/**
 * Whether a scheduler instance is ready: its declared jobs are registered
 * and its dispatcher has made its first pass. An embedding service waits
 * for it (`Scheduler.awaitReady`) before it reports itself ready; the state
 * stays in `health`, so a reader who comes late still sees it.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as DurationInput from "../internal/durationInput.ts"
import { InvalidOptions } from "../internal/schedulerOptions.ts"
import type * as Supervisor from "../Supervisor.ts"

/**
 * The scheduler did not become ready within the deadline of `awaitReady`:
 * its jobs are not registered yet, or its dispatcher has not made its first
 * pass (most often because the store does not answer). The scheduler keeps
 * trying; `lastError` is the last failure it saw, if any.
 *
 * @example
 * ```ts
 * import { Scheduler } from "steadfast"
 *
 * const error = new Scheduler.NotReady({ node: "a", waitedMs: 30_000, waitingFor: "registration", lastError: null })
 * console.log(error.message) // scheduler a not ready after 30000 ms, waiting for registration (no error seen)
 * ```
 *
 * @since 0.2.0
 */
export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", {
  node: Schema.String,
  waitedMs: Schema.Number,
  /** What was still missing: the registration of the declared jobs, or the dispatcher's first pass. */
  waitingFor: Schema.Literals(["registration", "dispatcher"]),
  lastError: Schema.NullOr(Schema.String)
}) {
  override get message(): string {
    const why = this.lastError === null ? "no error seen" : `last error: ${this.lastError}`
    return `scheduler ${this.node} not ready after ${this.waitedMs} ms, waiting for ${this.waitingFor} (${why})`
  }
}

/**
 * The readiness of one scheduler instance.
 *
 * @since 0.2.0
 */
export interface Readiness {
  /** Called after every dispatcher pass: the first one after registration makes the scheduler ready. */
  readonly dispatched: Effect.Effect<void>
  /** Waits until ready, for at most `timeout` (default: the instance's). */
  readonly await: (timeout?: Duration.Input) => Effect.Effect<void, NotReady | InvalidOptions>
}

/**
 * The readiness of an instance whose registrar completes `registered`.
 *
 * @since 0.2.0
 */
export const make = (options: {
  readonly node: string
  readonly supervisor: Supervisor.Supervisor
  readonly registered: Deferred.Deferred<void>
  readonly timeout: Duration.Input
}): Effect.Effect<Readiness> =>
  Effect.gen(function*() {
    const { node, registered, supervisor } = options
    const ready = yield* Deferred.make<void>()

    // The dispatcher waits for registration before its first pass, so its
    // first pass is the moment; later passes cost one check.
    const dispatched = Effect.suspend(() =>
      Deferred.isDoneUnsafe(ready) ? Effect.void : Effect.andThen(supervisor.markReady, Deferred.succeed(ready, undefined))
    )

    const notReady = (since: number) =>
      Effect.gen(function*() {
        const health = yield* supervisor.health
        const waitingFor = Deferred.isDoneUnsafe(registered) ? "dispatcher" : "registration"
        const loop = health.loops.find((l) => l.name === (waitingFor === "registration" ? "registrar" : "dispatcher"))
        return yield* new NotReady({
          node,
          waitedMs: (yield* Clock.currentTimeMillis) - since,
          waitingFor,
          lastError: !health.store.available ? health.store.lastError : loop?.lastError ?? null
        })
      })

    const wait = (timeout?: Duration.Input): Effect.Effect<void, NotReady | InvalidOptions> =>
      Effect.suspend((): Effect.Effect<void, NotReady | InvalidOptions> => {
        // A timeout from JavaScript or configuration may be anything: a typed error, never a defect.
        const ms = DurationInput.toMillis(timeout ?? options.timeout, { positive: false })
        if (Result.isFailure(ms)) return Effect.fail(new InvalidOptions({ option: "awaitReady timeout", issue: ms.failure }))
        return Deferred.isDoneUnsafe(ready) ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (since) =>
          Deferred.await(ready).pipe(
            Effect.timeoutOrElse({ duration: ms.success, orElse: () => notReady(since) })
          ))
      })

    return { dispatched, await: Effect.fn("Scheduler.awaitReady")(wait) }
  })
