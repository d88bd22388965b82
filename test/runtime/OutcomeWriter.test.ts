/**
 * The outcome writer (src/runtime/OutcomeWriter.ts): batches written in one
 * call each, a batch whose write failed kept for the next life of the
 * recorder, outcomes of attempts no longer held dropped, refused ones told as
 * lease lost, and what is left written at shutdown within its margin.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import type { Event } from "../../src/Event.ts"
import type * as Run from "../../src/Run.ts"
import * as OutcomeWriter from "../../src/runtime/OutcomeWriter.ts"
import * as Outcomes from "../../src/runtime/Outcomes.ts"

const claimed = (id: string): Run.Claimed => ({
  id,
  jobId: `job-${id}`,
  fireTime: 1_000,
  dueAt: 1_000,
  attempt: 1,
  token: `t-${id}`,
  task: "task",
  payload: null,
  retry: { attempts: 1, base: 1_000, factor: 2, cap: 60_000, jitter: false },
  timeout: null,
  startedAt: 1_000
})

// A writer over a map of held attempts; `finish` answers as `answer` says.
const writerWith = (answer: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<boolean>, string>) =>
  Effect.gen(function*() {
    const held = new Map<string, Run.Claimed>()
    const events: Array<Event> = []
    const calls: Array<ReadonlyArray<string>> = []
    let written = 0
    const writer = yield* OutcomeWriter.make({
      held: (run) => held.get(run.id) === run,
      settle: (run) => {
        if (held.get(run.id) !== run) return undefined
        held.delete(run.id)
        return 1_000
      },
      finish: (outcomes) => {
        const ids = outcomes.map((outcome) => outcome.id)
        calls.push(ids)
        return answer(ids)
      },
      publish: (event) => Effect.sync(() => void events.push(event)),
      onWritten: Effect.sync(() => void written++)
    })
    const hold = (id: string) => {
      const run = claimed(id)
      held.set(id, run)
      return run
    }
    return { writer, held, events, calls, hold, written: () => written }
  })

const noReport = { idle: Effect.void, progress: Effect.void }
const tags = (events: ReadonlyArray<Event>) => events.map((event) => `${event._tag}:${"jobId" in event ? event.jobId : ""}`)

describe("OutcomeWriter", () => {
  it.effect("writes what ended in one call, tells accepted outcomes as their events and refused ones as lease lost", () =>
    Effect.gen(function*() {
      const { calls, events, held, hold, writer, written } = yield* writerWith((ids) => Effect.succeed(ids.map((id) => id !== "b")))
      for (const id of ["a", "b", "c"]) yield* writer.offer(Outcomes.cancelled(hold(id), 2_000))
      const recorder = yield* Effect.forkChild(writer.recorder(noReport))
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(calls, [["a", "b", "c"]])
      assert.deepStrictEqual(tags(events), ["RunCancelled:job-a", "RunLeaseLost:job-b", "RunCancelled:job-c"])
      assert.strictEqual(held.size, 0, "every answered attempt is forgotten")
      assert.strictEqual(written(), 1)
      yield* Fiber.interrupt(recorder)
    }))

  it.effect("an outcome of an attempt no longer held (revoked, superseded) is never written", () =>
    Effect.gen(function*() {
      const { calls, events, held, hold, writer } = yield* writerWith((ids) => Effect.succeed(ids.map(() => true)))
      const revoked = hold("a")
      yield* writer.offer(Outcomes.cancelled(revoked, 2_000))
      yield* writer.offer(Outcomes.cancelled(hold("b"), 2_000))
      held.delete("a")
      const recorder = yield* Effect.forkChild(writer.recorder(noReport))
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(calls, [["b"]])
      assert.deepStrictEqual(tags(events), ["RunCancelled:job-b"])
      yield* Fiber.interrupt(recorder)
    }))

  it.effect("a batch whose write failed is written whole by the recorder's next life, after what ended meanwhile waits", () =>
    Effect.gen(function*() {
      let failing = true
      const { calls, events, hold, writer } = yield* writerWith((ids) =>
        failing ? Effect.fail("store down") : Effect.succeed(ids.map(() => true)))
      yield* writer.offer(Outcomes.cancelled(hold("a"), 2_000))
      yield* writer.offer(Outcomes.cancelled(hold("b"), 2_000))
      const first = yield* writer.recorder(noReport).pipe(Effect.flip)
      assert.strictEqual(first, "store down")
      yield* writer.offer(Outcomes.cancelled(hold("c"), 3_000))
      failing = false
      const second = yield* Effect.forkChild(writer.recorder(noReport))
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(calls, [["a", "b"], ["a", "b"], ["c"]])
      assert.deepStrictEqual(tags(events), ["RunCancelled:job-a", "RunCancelled:job-b", "RunCancelled:job-c"])
      yield* Fiber.interrupt(second)
    }))

  it.effect("after a burst of runs claimed ahead, outcomes wait a moment to be written with those ending just after", () =>
    Effect.gen(function*() {
      const { calls, hold, writer } = yield* writerWith((ids) => Effect.succeed(ids.map(() => true)))
      for (let i = 0; i < 64; i++) writer.startedAhead()
      const recorder = yield* Effect.forkChild(writer.recorder(noReport))
      yield* writer.offer(Outcomes.cancelled(hold("a"), 2_000))
      yield* TestClock.adjust(10)
      yield* writer.offer(Outcomes.cancelled(hold("b"), 2_010))
      assert.deepStrictEqual(calls, [], "still lingering")
      yield* TestClock.adjust(40)
      assert.deepStrictEqual(calls, [["a", "b"]])
      // No burst since: the next outcome is written at once.
      yield* writer.offer(Outcomes.cancelled(hold("c"), 2_060))
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(calls, [["a", "b"], ["c"]])
      yield* Fiber.interrupt(recorder)
    }))

  it.effect("flush at shutdown writes what is left once, and gives up at its margin on a store that never answers", () =>
    Effect.gen(function*() {
      const answered = yield* writerWith((ids) => Effect.succeed(ids.map(() => true)))
      yield* answered.writer.offer(Outcomes.interrupted(answered.hold("a"), 2_000))
      yield* answered.writer.flush(1_000)
      assert.deepStrictEqual(answered.calls, [["a"]])
      assert.deepStrictEqual(tags(answered.events), ["RunFailed:job-a"])

      const silent = yield* writerWith(() => Effect.never)
      yield* silent.writer.offer(Outcomes.interrupted(silent.hold("a"), 2_000))
      const flushing = yield* Effect.forkChild(silent.writer.flush(1_000))
      yield* TestClock.adjust(999)
      assert.isUndefined(flushing.pollUnsafe(), "still waiting")
      yield* TestClock.adjust(1)
      yield* Fiber.join(flushing)
      assert.deepStrictEqual(silent.calls, [["a"]])
      assert.deepStrictEqual(silent.events, [])
    }))
})
