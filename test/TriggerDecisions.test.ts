import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Option, Schema } from "effect"
import * as Trigger from "../src/Trigger.ts"

const ms = (iso: string) => Date.parse(iso)
const HOUR = 3_600_000
const DAY = 86_400_000

const int = (minimum: number, maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))
const pick = <A>(values: ReadonlyArray<A>) => Arbitrary.map(int(0, values.length - 1), (i) => values[i]!)

const reasonOf = (trigger: Trigger.Trigger) => Effect.map(Effect.flip(Trigger.validate(trigger)), (error) => error.reason)

// The hash `dueAt` documents, written again here: FNV-1a over the UTF-8 bytes, then murmur3's fmix32.
const documentedHash = (key: string): number => {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(key)) hash = Math.imul(hash ^ byte, 0x01000193)
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b)
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35)
  hash ^= hash >>> 16
  return (hash >>> 0) / 4_294_967_296
}

// --- jitter -----------------------------------------------------------------

// Triggers of every repeating kind, often with a jitter longer than their
// period (as a stored trigger may have: `validate` refuses it, `next` and
// `dueAt` still serve it), sometimes with an end, searched from near DST changes.
const jitterCase = Arbitrary.flatMap(
  Arbitrary.all([int(0, 2), int(0, 1), int(0, 4 * HOUR), Arbitrary.schema(Schema.String), pick([
    ms("2026-03-28T22:00:00Z"),
    ms("2026-10-24T22:00:00Z"),
    ms("2026-03-08T04:00:00Z"),
    ms("2026-10-31T04:00:00Z"),
    ms("2026-01-30T00:00:00Z")
  ])]),
  ([kind, ended, jitter, seed, from]) => {
    const window = (length: number) => (ended === 0 ? {} : { end: from + length })
    const trigger = kind === 0
      ? Arbitrary.map(
        Arbitrary.all([int(1, 2 * HOUR), int(-1e12, 1e12), int(1, 20 * HOUR)]),
        ([every, anchor, length]) => Trigger.every(every, { anchor, jitter, ...window(length) })
      )
      : kind === 1
      ? Arbitrary.map(
        Arbitrary.all([pick(["day", "month", "year"] as const), int(1, 3), int(0, 40), int(1, 90), pick(["Europe/Berlin", "America/New_York"])]),
        ([unit, count, jitterDays, length, timeZone]) => {
          const options = { timeZone, anchor: from - 7 * HOUR, jitter: jitterDays * DAY + jitter, ...window(length * DAY) }
          return unit === "day"
            ? Trigger.every({ days: count }, options)
            : Trigger.every(unit === "month" ? `${count} months` : `${count} years`, options)
        }
      )
      : Arbitrary.map(
        Arbitrary.all([
          pick(["* * * * *", "0,1 * * * *", "*/5 * * * * *", "30 2 * * *", "0 9 * * 1-5", "15 * * * *", "*/30 * * * *"]),
          pick(["Europe/Berlin", "America/New_York", "UTC"]),
          pick(["earlier", "later", "both"] as const),
          int(1, 48 * 60)
        ]),
        ([expression, timeZone, onDstOverlap, minutes]) =>
          Trigger.cron(expression, { timeZone, onDstOverlap, jitter, ...window(minutes * 60_000) })
      )
    return Arbitrary.map(trigger, (trigger) => ({ trigger, seed, from }))
  }
)

describe("jitter stays inside the schedule", () => {
  it.prop("due times lie in [fire, next fire), never pass end, and increase", { c: jitterCase }, ({ c }) => {
    const { from, seed, trigger } = c
    const end = trigger._tag === "Once" ? undefined : trigger.end
    let fire = Option.getOrUndefined(Trigger.next(trigger, from))
    let previousDue = -Infinity
    for (let i = 0; i < 30 && fire !== undefined; i++) {
      const next = Option.getOrUndefined(Trigger.next(trigger, fire))
      const due = Trigger.dueAt(trigger, fire, seed)
      const context = `${JSON.stringify(trigger)} fire ${fire}`
      assert.isTrue(Number.isSafeInteger(due), context)
      assert.isAtLeast(due, fire, context)
      if (next !== undefined) assert.isBelow(due, next, context)
      if (end !== undefined) assert.isAtMost(due, end, context)
      assert.isAbove(due, previousDue, context)
      previousDue = due
      fire = next
    }
  }, { arbitrary: { runs: 400 } })

  it("a jitter that needs no cap keeps the documented hash", () => {
    const trigger = Trigger.every("1 hour", { jitter: "10 minutes" })
    for (let i = 0; i < 50; i++) {
      const fire = ms("2026-01-01T00:00:00Z") + i * HOUR
      const seed = `job-${i}`
      assert.strictEqual(
        Trigger.dueAt(trigger, fire, seed),
        fire + Math.floor(documentedHash(`${seed}|${fire}`) * 600_000)
      )
    }
  })

  it("capped per fire: by the next fire of a cron, and by end", () => {
    const cron = Trigger.cron("0,1 * * * *", { jitter: "50 minutes" })
    const fire = ms("2026-01-01T10:00:00Z")
    for (let i = 0; i < 200; i++) {
      const due = Trigger.dueAt(cron, fire, `job-${i}`)
      assert.isTrue(due >= fire && due < fire + 60_000)
    }
    // The last fire of a window is due at its end at the latest.
    const end = ms("2026-01-01T12:00:00Z")
    const ending = Trigger.every("1 hour", { jitter: "30 minutes", end: end + 10_000 })
    for (let i = 0; i < 200; i++) {
      const due = Trigger.dueAt(ending, end, `job-${i}`)
      assert.isTrue(due >= end && due <= end + 10_000)
    }
    // A monthly calendar's 28-day February caps a 30-day jitter at the March fire.
    const monthly = Trigger.every("1 month", { anchor: ms("2026-01-31T00:00:00Z"), jitter: "40 days" })
    for (let i = 0; i < 200; i++) {
      const due = Trigger.dueAt(monthly, ms("2026-02-28T00:00:00Z"), `job-${i}`)
      assert.isTrue(due < ms("2026-03-31T00:00:00Z"))
    }
  })

  it.effect("a jitter longer than the shortest period is InvalidJitter with that period", () =>
    Effect.gen(function*() {
      const cases = [
        [Trigger.every("1 hour", { jitter: "2 hours" }), 2 * HOUR, HOUR],
        [Trigger.every("1 month", { jitter: "29 days" }), 29 * DAY, 28 * DAY],
        [Trigger.every("2 months", { jitter: "60 days" }), 60 * DAY, 59 * DAY],
        [Trigger.every("1 year", { jitter: "366 days" }), 366 * DAY, 365 * DAY],
        [Trigger.every("1 day", { timeZone: "Europe/Berlin", jitter: "25 hours" }), 25 * HOUR, DAY]
      ] as const
      for (const [trigger, jitter, period] of cases) {
        const reason = yield* reasonOf(trigger)
        assert.deepStrictEqual(reason, new Trigger.InvalidJitter({ jitter, period }))
        assert.strictEqual(
          reason.message,
          `jitter (${jitter} ms) must not exceed the shortest period between two fires (${period} ms), ` +
            "or a due time could pass the next fire"
        )
        // A stored trigger with such a jitter still fires (its due times capped).
        assert.isTrue(Option.isSome(Trigger.next(trigger, 0)))
      }
      // Up to the period is accepted; cron jitter is capped, not refused.
      yield* Trigger.validate(Trigger.every("1 hour", { jitter: "1 hour" }))
      yield* Trigger.validate(Trigger.every("1 month", { jitter: "28 days" }))
      yield* Trigger.validate(Trigger.cron("* * * * *", { jitter: "1 hour" }))
    }))
})

// --- exact interval arithmetic ----------------------------------------------

// The first fire strictly after `after` on the grid anchor + k * every, in BigInt.
const exactNext = (every: number, anchor: number, after: number): number | undefined => {
  const e = BigInt(every)
  const a = BigInt(anchor)
  const f = BigInt(Math.floor(Math.max(after, -8.64e15 - 1)))
  let fire = a + ((f - a) / e) * e
  while (fire <= f) fire += e
  while (fire - e > f) fire -= e
  return fire <= 8_640_000_000_000_000n ? Number(fire) : undefined
}

describe("interval arithmetic is exact", () => {
  const everies = [2 ** 49, 2 ** 49 + 1, 2 ** 50 + 3, 2 ** 52, 2 ** 52 + 1, 3 * 2 ** 50 + 7, 8.64e15 - 1, 8.64e15]
  const anchors = [0, 1, -1, 8.64e15, -8.64e15, 2 ** 52 + 1, -(2 ** 52 + 3), 12_345_678_901_234, -8.64e15 + 7]
  const afters = [0, -1, 1, 8.64e15 - 1, 8.64e15, -8.64e15, -8.64e15 - 1, 2 ** 52, 8.6e15, -8.6e15, -1e300, 123.5]

  it("at the edges: every 2^49 to 8.64e15, anchors and instants near ±8.64e15", () => {
    let checked = 0
    for (const every of everies) {
      for (const anchor of anchors) {
        const trigger = Trigger.every(every, { anchor })
        for (const after of afters) {
          const expected = exactNext(every, anchor, after)
          assert.deepStrictEqual(Option.getOrUndefined(Trigger.next(trigger, after)), expected, `${every} ${anchor} ${after}`)
          checked++
        }
      }
    }
    assert.strictEqual(checked, everies.length * anchors.length * afters.length)
  })

  it.prop("large intervals and anchors agree with BigInt arithmetic", {
    every: int(1, 8.64e15),
    anchor: int(-8.64e15, 8.64e15),
    after: int(-8.64e15, 8.64e15)
  }, ({ after, anchor, every }) => {
    assert.deepStrictEqual(Option.getOrUndefined(Trigger.next(Trigger.every(every, { anchor }), after)), exactNext(every, anchor, after))
  }, { arbitrary: { runs: 2_000 } })

  it.effect("beyond the accepted range: InvalidInterval", () =>
    Effect.gen(function*() {
      for (const every of [8.64e15 + 1, 2 ** 53, 2 ** 60]) {
        assert.deepStrictEqual(yield* reasonOf(Trigger.every(every)), new Trigger.InvalidInterval({ every }))
      }
    }))
})

// --- preview ----------------------------------------------------------------

const lines = (entries: ReadonlyArray<Trigger.PreviewEntry>) =>
  entries.map((entry) => `${entry.iso} ${entry.dst}${entry.decisions === undefined ? "" : ` [${entry.decisions.join(",")}]`}`)

describe("preview shows every decision", () => {
  const berlin = { timeZone: "Europe/Berlin" }
  const newYork = { timeZone: "America/New_York" }

  it("shifted: a fixed time in a spring-forward gap fires at its end", () => {
    const ny = Trigger.preview(Trigger.cron("30 2 * * *", newYork), ms("2026-03-07T12:00:00Z"), 1)
    assert.deepStrictEqual(lines(ny), ["2026-03-08T03:00:00-04:00 shifted [shifted]"])
    assert.strictEqual(
      ny[0]!.note,
      "02:30 does not exist on 2026-03-08 in America/New_York (clocks go forward from 02:00 to 03:00): " +
        "fires at 03:00, the first instant after the gap"
    )
    const de = Trigger.preview(Trigger.cron("30 2 * * *", berlin), ms("2026-03-28T12:00:00Z"), 1)
    assert.strictEqual(
      de[0]!.note,
      "02:30 does not exist on 2026-03-29 in Europe/Berlin (clocks go forward from 02:00 to 03:00): " +
        "fires at 03:00, the first instant after the gap"
    )
  })

  it("dropped: every-hour crons lose the times a gap removes, one entry per gap", () => {
    const de = Trigger.preview(Trigger.cron("30 * * * *", berlin), ms("2026-03-28T23:50:00Z"), 2)
    assert.deepStrictEqual(lines(de), [
      "2026-03-29T01:30:00+01:00 none",
      "2026-03-29T03:00:00+02:00 dropped [dropped]",
      "2026-03-29T03:30:00+02:00 none"
    ])
    assert.strictEqual(
      de[1]!.note,
      "02:30 does not exist on 2026-03-29 in Europe/Berlin (clocks go forward from 02:00 to 03:00): the fire at " +
        "that time is dropped, as the expression allows every hour (the next fire is at most an hour away)"
    )
    const ny = Trigger.preview(Trigger.cron("*/20 * * * *", newYork), ms("2026-03-08T06:50:00Z"), 2)
    assert.deepStrictEqual(lines(ny), [
      "2026-03-08T03:00:00-04:00 dropped [dropped]",
      "2026-03-08T03:00:00-04:00 none",
      "2026-03-08T03:20:00-04:00 none"
    ])
    assert.strictEqual(
      ny[0]!.note,
      "02:00, 02:20, 02:40 do not exist on 2026-03-08 in America/New_York (clocks go forward from 02:00 to 03:00): " +
        "the 3 fires at those times are dropped, as the expression allows every hour (the next fire is at most an hour away)"
    )
    const seconds = Trigger.preview(Trigger.cron("* * * * * *", berlin), ms("2026-03-29T00:59:58Z"), 2)
    assert.include(seconds[1]!.note, "02:00, 02:00:01, 02:00:02 and 3597 more times do not exist on 2026-03-29")
    assert.deepStrictEqual(seconds.filter(Trigger.isFire).map((entry) => entry.iso), [
      "2026-03-29T01:59:59+01:00",
      "2026-03-29T03:00:00+02:00"
    ])
  })

  it("skipped and merged: a repeated time fires once, and the fire says it stands for both", () => {
    const de = Trigger.preview(Trigger.cron("30 2 * * *", berlin), ms("2026-10-24T12:00:00Z"), 1)
    assert.deepStrictEqual(lines(de), [
      "2026-10-25T02:30:00+02:00 none [merged]",
      "2026-10-25T02:30:00+01:00 skipped [skipped]"
    ])
    assert.strictEqual(
      de[0]!.note,
      "02:30 occurs twice on 2026-10-25 in Europe/Berlin (clocks go back from 03:00 to 02:00): " +
        "onDstOverlap \"earlier\" runs it once, at the first occurrence, for both"
    )
    assert.strictEqual(
      de[1]!.note,
      "02:30 occurs twice on 2026-10-25 in Europe/Berlin (clocks go back from 03:00 to 02:00): " +
        "onDstOverlap \"earlier\" fires only the first"
    )
    const ny = Trigger.preview(
      Trigger.cron("30 1 * * *", { ...newYork, onDstOverlap: "later" }),
      ms("2026-10-31T12:00:00Z"),
      1
    )
    assert.deepStrictEqual(lines(ny), [
      "2026-11-01T01:30:00-04:00 skipped [skipped]",
      "2026-11-01T01:30:00-05:00 none [merged]"
    ])
    assert.strictEqual(
      ny[1]!.note,
      "01:30 occurs twice on 2026-11-01 in America/New_York (clocks go back from 02:00 to 01:00): " +
        "onDstOverlap \"later\" runs it once, at the second occurrence, for both"
    )
    // "both" runs both occurrences: nothing merged, nothing skipped.
    const both = Trigger.preview(Trigger.cron("30 1 * * *", { ...newYork, onDstOverlap: "both" }), ms("2026-10-31T12:00:00Z"), 2)
    assert.deepStrictEqual(lines(both), ["2026-11-01T01:30:00-04:00 none", "2026-11-01T01:30:00-05:00 none"])
  })

  it("end: the window ends the preview, and says so", () => {
    const trigger = Trigger.cron("0 9 * * *", { ...newYork, end: ms("2026-01-03T14:00:00Z") })
    const entries = Trigger.preview(trigger, ms("2026-01-01T00:00:00Z"), 5)
    assert.deepStrictEqual(lines(entries), [
      "2026-01-01T09:00:00-05:00 none",
      "2026-01-02T09:00:00-05:00 none",
      "2026-01-03T09:00:00-05:00 none",
      "2026-01-03T09:00:00-05:00 none [end]"
    ])
    assert.strictEqual(
      entries[3]!.note,
      "the window ends at 2026-01-03T09:00:00-05:00 (its end, inclusive): nothing fires after it " +
        "(the next fire would have been 2026-01-04T09:00:00-05:00)"
    )
    assert.strictEqual(entries.filter(Trigger.isFire).length, 3)
    const de = Trigger.preview(Trigger.every("1 day", { ...berlin, end: ms("2026-01-02T12:00:00Z") }), ms("2026-01-01T12:00:00Z"), 3)
    assert.deepStrictEqual(lines(de), ["2026-01-02T00:00:00+01:00 none", "2026-01-02T13:00:00+01:00 none [end]"])
    // No end entry when n fires come first, or after the window is over.
    assert.deepStrictEqual(lines(Trigger.preview(trigger, ms("2026-01-01T00:00:00Z"), 2)).length, 2)
    assert.deepStrictEqual(Trigger.preview(trigger, ms("2026-01-04T00:00:00Z"), 2), [])
  })

  it("calendar intervals: clamped days, shifted and merged wall times", () => {
    const monthly = Trigger.every("1 month", { ...berlin, anchor: ms("2026-01-31T08:00:00Z") })
    const entries = Trigger.preview(monthly, ms("2026-02-01T00:00:00Z"), 2)
    assert.deepStrictEqual(lines(entries), ["2026-02-28T09:00:00+01:00 none [clamped]", "2026-03-31T09:00:00+02:00 none"])
    assert.strictEqual(
      entries[0]!.note,
      "the 31st does not exist in February 2026: clamped to the last day of February (2026-02-28)"
    )
    const daily = Trigger.every("1 day", { ...newYork, anchor: ms("2026-01-01T07:30:00Z") }) // 02:30 EST
    const spring = Trigger.preview(daily, ms("2026-03-07T12:00:00Z"), 1)
    assert.deepStrictEqual(lines(spring), ["2026-03-08T03:00:00-04:00 shifted [shifted]"])
    assert.strictEqual(
      spring[0]!.note,
      "02:30 does not exist on 2026-03-08 in America/New_York (clocks go forward from 02:00 to 03:00): " +
        "fires at 03:00, the first instant after the gap"
    )
    const autumn = Trigger.preview(
      Trigger.every("1 day", { ...newYork, anchor: ms("2026-01-01T06:30:00Z") }), // 01:30 EST
      ms("2026-10-31T12:00:00Z"),
      1
    )
    assert.deepStrictEqual(lines(autumn), [
      "2026-11-01T01:30:00-04:00 none [merged]",
      "2026-11-01T01:30:00-05:00 skipped [skipped]"
    ])
    assert.strictEqual(
      autumn[0]!.note,
      "01:30 occurs twice on 2026-11-01 in America/New_York (clocks go back from 02:00 to 01:00): " +
        "a calendar interval fires once, at the first occurrence, for both"
    )
  })

  it("plain fires keep their plain shape", () => {
    assert.deepStrictEqual(Trigger.preview(Trigger.every("1 hour"), 0, 2), [
      { fire: HOUR, iso: "1970-01-01T01:00:00+00:00", dst: "none" },
      { fire: 2 * HOUR, iso: "1970-01-01T02:00:00+00:00", dst: "none" }
    ])
  })
})
