/**
 * Small assertions about what a scheduler did, read from its own history,
 * events and health. Each is an Effect that fails with `AssertionFailed`
 * (which fails an `it.effect` test) and says what it saw.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Event } from "../Event.ts"
import type * as Run from "../Run.ts"
import { Scheduler } from "../Scheduler.ts"
import * as Trigger from "../Trigger.ts"

/**
 * An assertion did not hold.
 *
 * @since 0.1.0
 */
export class AssertionFailed extends Schema.TaggedError<AssertionFailed>()("AssertionFailed", {
  message: Schema.String
}) {}

const ran: ReadonlySet<Run.State> = new Set(["running", "succeeded", "failed", "timed-out"])

const fail = (message: string) => Effect.fail(new AssertionFailed({ message }))

const historyOf = (jobId: string) =>
  Scheduler.use((scheduler) => scheduler.history({ jobId, limit: 100_000 }))

/**
 * The job's fires that ran are exactly `instants` (fire times, epoch ms),
 * each once.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Assertions } from "steadfast/testing"
 *
 * const check = Assertions.firedExactlyAt("tick", [1_000, 2_000, 3_000])
 * ```
 *
 * @since 0.1.0
 */
export const firedExactlyAt = (jobId: string, instants: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const fired = (yield* historyOf(jobId)).filter((record) => ran.has(record.state)).map((r) => r.fireTime)
      .sort((a, b) => a - b)
    const expected = [...instants].sort((a, b) => a - b)
    if (fired.length !== expected.length || fired.some((t, i) => t !== expected[i])) {
      return yield* fail(`job ${jobId} fired at [${fired.join(", ")}], expected [${expected.join(", ")}]`)
    }
  })

/**
 * Every fire the job's trigger scheduled in `(from, until]`, while the job
 * existed (from its creation in the store), has a record and ran to success:
 * none was lost, missed, skipped or left running.
 *
 * @since 0.1.0
 */
export const noFireLost = (jobId: string, window: { readonly from: number; readonly until: number }) =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    const job = yield* scheduler.get(jobId)
    if (Option.isNone(job)) return yield* fail(`no job ${jobId}`)
    const records = new Map((yield* historyOf(jobId)).map((record) => [record.fireTime, record]))
    const problems: Array<string> = []
    let fire = Trigger.next(job.value.trigger, Math.max(window.from, job.value.createdAt))
    while (Option.isSome(fire) && fire.value <= window.until) {
      const record = records.get(fire.value)
      if (record === undefined) problems.push(`${fire.value}: no record`)
      else if (record.state !== "succeeded") problems.push(`${fire.value}: ${record.state}${record.note ? ` (${record.note})` : ""}`)
      fire = Trigger.next(job.value.trigger, fire.value)
    }
    if (problems.length > 0) return yield* fail(`job ${jobId} lost fires: ${problems.slice(0, 20).join("; ")}`)
  })

/**
 * The loop restarted at most `k` times.
 *
 * @since 0.1.0
 */
export const restartedAtMost = (loop: string, k: number) =>
  Effect.gen(function*() {
    const health = yield* (yield* Scheduler).health
    const restarts = health.loops.find((l) => l.name === loop)?.restarts ?? 0
    if (restarts > k) return yield* fail(`loop ${loop} restarted ${restarts} times, at most ${k} expected`)
  })

/**
 * After every store outage that a store call noticed (something failed
 * during it), the store was back in use within `maxMs` of the outage's end:
 * the retry delay respected its cap. Overlapping windows count as one; when
 * the next outage starts before a retry could land (within `maxMs`), the
 * recovery is owed after that one instead.
 *
 * @example
 * ```ts
 * import { Assertions } from "steadfast/testing"
 *
 * const check = (events: Parameters<typeof Assertions.recoveredWithin>[0]) =>
 *   Assertions.recoveredWithin(events, [{ from: 10_000, until: 15_000 }], 500)
 * ```
 *
 * @since 0.1.0
 */
export const recoveredWithin = (
  events: ReadonlyArray<Event>,
  outages: ReadonlyArray<{ readonly from: number; readonly until: number }>,
  maxMs: number
) =>
  Effect.gen(function*() {
    const recoveries = events.flatMap((event) => event._tag === "StoreRecovered" ? [event.at] : [])
    const failures = events.flatMap((event) => event._tag === "StoreUnavailable" ? [event.at] : [])
    const windows = merge(outages)
    let owed = false
    for (let i = 0; i < windows.length; i++) {
      const outage = windows[i]!
      owed = owed || failures.some((at) => at >= outage.from && at < outage.until)
      if (!owed) continue
      const recovery = recoveries.find((at) => at >= outage.until)
      if (recovery !== undefined && recovery - outage.until <= maxMs) {
        owed = false
        continue
      }
      const next = windows[i + 1]
      if (next !== undefined && next.from < outage.until + maxMs && (recovery === undefined || next.from <= recovery)) {
        continue // a retry could not land before the next outage: owed after it
      }
      return yield* fail(
        recovery === undefined
          ? `no recovery after the outage ending at ${outage.until}`
          : `recovered ${recovery - outage.until} ms after the outage ending at ${outage.until}, more than ${maxMs} ms`
      )
    }
  })

const merge = (windows: ReadonlyArray<{ readonly from: number; readonly until: number }>) => {
  const sorted = [...windows].sort((a, b) => a.from - b.from)
  const merged: Array<{ from: number; until: number }> = []
  for (const window of sorted) {
    const last = merged[merged.length - 1]
    if (last !== undefined && window.from <= last.until) last.until = Math.max(last.until, window.until)
    else merged.push({ from: window.from, until: window.until })
  }
  return merged
}
