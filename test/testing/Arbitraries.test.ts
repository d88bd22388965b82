import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import * as Arbitraries from "../../src/testing/Arbitraries.ts"
import * as Trigger from "../../src/Trigger.ts"

describe("Arbitraries", () => {
  it.effect.prop(
    "every generated trigger (cron with the new syntax, calendar, interval, once) is valid and fires after 1 March 2026 in order",
    [Arbitraries.trigger],
    ([trigger]) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Trigger.validate(trigger))
        assert.isTrue(Exit.isSuccess(exit), `${JSON.stringify(trigger)} is valid`)
        const from = Date.parse("2026-03-01T00:00:00Z")
        const next = Trigger.next(trigger, from)
        if (trigger._tag !== "Once") assert.isTrue(Option.isSome(next), `${JSON.stringify(trigger)} fires again`)
        if (Option.isSome(next)) assert.isAbove(next.value, from)
        // Its preview lists fires in order, and every decision with a note.
        const entries = Trigger.preview(trigger, from, 5)
        const fires = entries.filter(Trigger.isFire).map((entry) => entry.fire)
        assert.deepStrictEqual(fires, [...fires].sort((a, b) => a - b))
        for (const entry of entries) if (entry.dst !== "none") assert.isString(entry.note)
      }),
    { arbitrary: { runs: 200 } }
  )
})
