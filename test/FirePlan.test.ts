import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as FirePlan from "../src/FirePlan.ts"
import * as Job from "../src/Job.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"

const task = Task.unit("tick", () => Effect.void)
const every = (misfire: Job.Job["misfire"]["then"], trigger = Trigger.every("1 second")) =>
  Job.make(task, { id: "tick", payload: null, trigger, misfire: { grace: "5 seconds", then: misfire } })

// An every-second job stopped for `late` seconds beyond its grace.
const hour = 3_600_000
const recorded = (plan: FirePlan.Plan, state: FirePlan.Fire["state"]) => plan.fires.filter((f) => f.state === state)
const summarisedIn = (plan: FirePlan.Plan) =>
  plan.fires.reduce((n, f) => n + Number(/and (\d+) more late fires/.exec(f.note ?? "")?.[1] ?? 0), 0)

describe("FirePlan", () => {
  it("coalesce latest after more late fires than are recorded one by one: the latest late fire runs", () => {
    const plan = FirePlan.plan(every({ _tag: "Coalesce", keep: "latest" }), 0, hour)
    const pending = recorded(plan, "pending")
    const kept = pending.find((f) => f.catchUp)
    assert.isDefined(kept)
    // the last fire late beyond the 5 s grace
    assert.strictEqual(kept!.fireTime, hour - 6_000)
    // every late fire is accounted for: recorded as coalesced, or counted in the kept run's note
    const coalesced = Number(/coalesced (\d+) late fires/.exec(kept!.note ?? "")?.[1])
    assert.strictEqual(coalesced, (hour - 6_000) / 1_000)
    assert.isAtMost(plan.fires.length, FirePlan.maxLateRecords + 6)
    assert.strictEqual(plan.nextFire, hour + 1_000)
    // the on-time fires of the grace window still run
    assert.deepStrictEqual(pending.filter((f) => !f.catchUp).map((f) => f.fireTime), [hour - 5_000, hour - 4_000, hour - 3_000, hour - 2_000, hour - 1_000, hour])
  })

  it("coalesce earliest keeps the earliest late fire", () => {
    const plan = FirePlan.plan(every({ _tag: "Coalesce", keep: "earliest" }), 0, hour)
    const kept = recorded(plan, "pending").find((f) => f.catchUp)
    assert.strictEqual(kept?.fireTime, 0)
  })

  it("catch up after a long outage runs the most recent late fires, and counts the others", () => {
    const plan = FirePlan.plan(every({ _tag: "CatchUp", max: 3 }), 0, hour)
    const caught = recorded(plan, "pending").filter((f) => f.catchUp).map((f) => f.fireTime)
    assert.deepStrictEqual(caught, [hour - 8_000, hour - 7_000, hour - 6_000])
    const missed = recorded(plan, "missed").length
    assert.strictEqual(missed + summarisedIn(plan) + caught.length, (hour - 6_000) / 1_000 + 1)
  })

  it("skip records the first late fires and counts the rest, for cron triggers too", () => {
    const plan = FirePlan.plan(every({ _tag: "Skip" }, Trigger.cron("* * * * * *")), 1_000, hour)
    const missed = recorded(plan, "missed")
    assert.strictEqual(missed.length, FirePlan.maxLateRecords)
    assert.strictEqual(missed[0]?.fireTime, 1_000)
    assert.strictEqual(missed.length + summarisedIn(plan), (hour - 6_000) / 1_000)
    assert.strictEqual(plan.nextFire, hour + 1_000)
  })

  it("under the record limit nothing is summarised", () => {
    const plan = FirePlan.plan(every({ _tag: "Coalesce", keep: "latest" }), 0, 100_000)
    assert.strictEqual(recorded(plan, "coalesced").length, 94)
    assert.strictEqual(recorded(plan, "pending").find((f) => f.catchUp)?.fireTime, 94_000)
  })
})
