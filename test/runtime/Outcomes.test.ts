/**
 * When a claimed run is a missed fire rather than a late start
 * (src/runtime/Outcomes.ts): only a `Skip` job's scheduled first attempt,
 * past its grace of the claim's start and never within a node's own second.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as Job from "../../src/Job.ts"
import type * as Run from "../../src/Run.ts"
import * as Outcomes from "../../src/runtime/Outcomes.ts"

const claimed = (overrides: Partial<Run.Claimed>): Run.Claimed => ({
  id: "1",
  jobId: "j",
  fireTime: 10_000,
  dueAt: 10_000,
  attempt: 1,
  token: "t",
  task: "task",
  payload: null,
  retry: { attempts: 1, base: 1_000, factor: 2, cap: 60_000, jitter: false },
  timeout: null,
  startedAt: 10_000,
  ...overrides
})

const skip = (grace: number): Job.MisfirePolicy => ({ grace, then: { _tag: "Skip" } })

describe("Outcomes.missedAfter", () => {
  it("a Skip job's fire: its grace after the claim's start, never less than the node's own slack", () => {
    assert.strictEqual(Outcomes.missedAfter(claimed({ misfire: skip(10_000) })), 20_000)
    // A grace of 0: a start a fraction of a millisecond after the instant is no misfire.
    assert.strictEqual(Outcomes.missedAfter(claimed({ misfire: skip(0) })), 10_000 + Outcomes.nodeSlackMs)
    // The claim's start, not the due instant (a fire the claim started late, waiting for its overlap slot).
    assert.strictEqual(Outcomes.missedAfter(claimed({ misfire: skip(5_000), startedAt: 60_000 })), 65_000)
  })

  it("never for a retry, a manual run, another misfire policy, or a store that says nothing of it", () => {
    for (
      const run of [
        claimed({ misfire: skip(0), attempt: 2 }),
        claimed({ misfire: skip(0), manual: true }),
        claimed({ misfire: { grace: 0, then: { _tag: "Coalesce", keep: "latest" } } }),
        claimed({ misfire: { grace: 0, then: { _tag: "CatchUp", max: 2 } } }),
        claimed({})
      ]
    ) assert.strictEqual(Outcomes.missedAfter(run), Number.POSITIVE_INFINITY)
  })
})
