/**
 * The outcomes of a node's runs on their way to the store: queued as the
 * runs end, written in batches (one store round trip for up to 1,000), each
 * fenced by its run's token. The recorder loop (`Recorder`) runs `recorder`;
 * shutdown writes what is left with `flush`.
 *
 * A batch taken from the queue is kept until written, so a recorder restarted
 * after a store failure writes it again instead of losing it. Which outcomes
 * still count is the executor's to say (`held`): one of an attempt revoked or
 * superseded meanwhile is dropped, never written.
 *
 * @since 0.5.0
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import { Event } from "../Event.ts"
import type * as Run from "../Run.ts"
import * as Bounded from "./Bounded.ts"
import type * as Outcomes from "./Outcomes.ts"
import * as Telemetry from "./Telemetry.ts"

/**
 * What the writer needs from the executor.
 *
 * @since 0.5.0
 */
export interface Options {
  /** Whether `run` is the attempt the executor holds: its outcome is this node's to write. */
  readonly held: (run: Run.Claimed) => boolean
  /**
   * Forgets the attempt once the store answered for its outcome, and tells
   * when its handler took its slot (this process's clock; -1 if it never
   * ran); `undefined` when it is not the attempt held any more.
   */
  readonly settle: (run: Run.Claimed) => number | undefined
  /** Writes a batch of outcomes; returns which were accepted (fenced). Retries are the caller's concern. */
  readonly finish: (outcomes: ReadonlyArray<Run.Outcome>) => Effect.Effect<ReadonlyArray<boolean>, unknown>
  readonly publish: (event: Event) => Effect.Effect<void>
  /** Called after each batch is written (a run's end may free an overlap slot). */
  readonly onWritten: Effect.Effect<void>
}

/**
 * The outcome writer of one executor.
 *
 * @since 0.5.0
 */
export interface OutcomeWriter {
  /** Queues a run's outcome. */
  readonly offer: (finished: Outcomes.Finished) => Effect.Effect<void>
  /** Counts a run claimed ahead of its instant that started (many at once are a burst: see `recorder`). */
  readonly startedAhead: () => void
  /**
   * The recorder loop body: writes outcomes in batches, forever. It reports
   * `idle` while it waits for outcomes and `progress` when it has some and
   * when it wrote them.
   */
  readonly recorder: (report: { readonly idle: Effect.Effect<void>; readonly progress: Effect.Effect<void> }) => Effect.Effect<never, unknown>
  /** Writes every outcome not written yet, once, for at most `marginMs` (shutdown). */
  readonly flush: (marginMs: number) => Effect.Effect<void>
}

// The outcomes of a burst (many runs claimed ahead, due at one instant) are
// written a moment after it: see `recorder`.
const burstRuns = 64
const burstLingerMs = 50

/**
 * Builds an outcome writer.
 *
 * @since 0.5.0
 */
export const make = (options: Options): Effect.Effect<OutcomeWriter> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Outcomes.Finished>()
    // Taken from the queue, not written yet: a restarted recorder writes them.
    let unrecorded: Array<Outcomes.Finished> = []
    // Runs claimed ahead started since the recorder last took outcomes.
    let startedSinceRecord = 0
    // Metrics of a run are written, with no effect of their own, when its outcome is accepted.
    const context = yield* Effect.context<never>()
    const current = (finished: Outcomes.Finished) => options.held(finished.run)

    const record = (batch: ReadonlyArray<Outcomes.Finished>) =>
      Effect.gen(function*() {
        const accepted = yield* options.finish(batch.map((finished) => finished.outcome))
        for (const [i, finished] of batch.entries()) {
          const since = options.settle(finished.run)
          if (since === undefined) continue
          if (accepted[i] === true) {
            Telemetry.runEnded(context, finished.run, finished.outcome, since)
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
        yield* options.onWritten
      })

    const recorder = (report: { readonly idle: Effect.Effect<void>; readonly progress: Effect.Effect<void> }): Effect.Effect<never, unknown> =>
      Effect.gen(function*() {
        while (true) {
          if (unrecorded.length === 0) {
            yield* report.idle
            unrecorded = [...(yield* Queue.takeBetween(queue, 1, 1_000))].filter(current)
            // The outcomes of a burst are written a moment after it, with
            // whatever else ended meanwhile: the database's work for them
            // then does not compete for CPU with the starts of the burst on
            // the other nodes. (Taken ones wait in `unrecorded`, where
            // shutdown finds them.)
            const burst = startedSinceRecord >= burstRuns
            startedSinceRecord = 0
            if (burst && unrecorded.length < 1_000) {
              yield* Effect.sleep(burstLingerMs)
              unrecorded = [...unrecorded, ...(yield* Queue.clear(queue)).filter(current)]
            }
            yield* report.progress
          }
          if (unrecorded.length > 0) yield* record(unrecorded)
          unrecorded = []
          yield* report.progress
        }
      })

    const flush = (marginMs: number) =>
      Effect.gen(function*() {
        const pending = [...unrecorded, ...(yield* Queue.clear(queue))].filter(current)
        if (pending.length > 0) yield* Bounded.within(record(pending), marginMs)
      })

    return {
      offer: (finished: Outcomes.Finished) => Effect.asVoid(Queue.offer(queue, finished)),
      startedAhead: () => {
        startedSinceRecord++
      },
      recorder,
      flush
    }
  })
