import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Option, Schema } from "effect"
import * as Trigger from "../src/Trigger.ts"
import * as Oracle from "./support/CronOracle.ts"

const ms = (iso: string) => Date.parse(iso)
const DAY = 86_400_000

// --- an independent oracle, on Intl alone -------------------------------------

// The wall clock of a zone at an instant (epoch ms read as UTC), by Intl: the
// cron oracle's reading, shared by both oracles (neither uses src/).
const wallAt = Oracle.wallOf

/**
 * The instant a wall time fires at: itself; in a gap, the first instant
 * whose wall clock is past it (the end of the gap); when repeated, the first
 * occurrence.
 */
const instantOf = (zone: string, wall: number): number => {
  const readings = [wall - (wallAt(zone, wall - DAY) - (wall - DAY)), wall - (wallAt(zone, wall + DAY) - (wall + DAY))]
  const valid = readings.filter((t) => wallAt(zone, t) === wall).sort((a, b) => a - b)
  if (valid.length > 0) return valid[0]!
  // In a gap: bisect whole seconds for the first instant showing a later wall time.
  let lo = Math.min(...readings)
  let hi = Math.max(...readings)
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000
    if (wallAt(zone, mid) > wall) hi = mid
    else lo = mid
  }
  return hi
}

const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month + 1, 0)).getUTCDate()

interface Case {
  readonly zone: string
  readonly unit: "day" | "month" | "year"
  readonly count: number
  readonly anchor: number
}

/** Fire k: the anchor's wall date-time plus k * count units, clamped, resolved. */
const oracleFire = (c: Case, k: number): number => {
  const anchorWall = wallAt(c.zone, c.anchor)
  if (c.unit === "day") return instantOf(c.zone, anchorWall + k * c.count * DAY)
  const a = new Date(anchorWall)
  const total = a.getUTCFullYear() * 12 + a.getUTCMonth() + k * c.count * (c.unit === "year" ? 12 : 1)
  const year = Math.floor(total / 12)
  const month = total - year * 12
  const day = Math.min(a.getUTCDate(), daysInMonth(year, month))
  const time = anchorWall - Math.floor(anchorWall / DAY) * DAY
  return instantOf(c.zone, Date.UTC(year, month, day) + time)
}

const oracleFires = (c: Case, from: number, n: number): Array<number> => {
  const fromWall = wallAt(c.zone, from)
  const anchorWall = wallAt(c.zone, c.anchor)
  const span = c.unit === "day" ? c.count * DAY : c.count * (c.unit === "year" ? 365 : 28) * DAY
  let k = Math.floor((fromWall - anchorWall) / span) - 3
  while (oracleFire(c, k) > from) k -= 4
  while (oracleFire(c, k) <= from) k++
  return Array.from({ length: n }, (_, i) => oracleFire(c, k + i))
}

const fires = (trigger: Trigger.Trigger, from: number, n: number): Array<number> => {
  const out: Array<number> = []
  for (let cursor = from; out.length < n;) {
    const fire = Trigger.next(trigger, cursor)
    if (Option.isNone(fire)) break
    out.push(fire.value)
    cursor = fire.value
  }
  return out
}

const isoIn = (zone: string) => (t: number) => {
  const wall = new Date(wallAt(zone, t)).toISOString().slice(0, 16)
  const offset = Math.round((wallAt(zone, t) - t) / 60_000)
  const sign = offset < 0 ? "-" : "+"
  const abs = Math.abs(offset)
  return `${wall}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`
}

// --- generators -------------------------------------------------------------

const int = (minimum: number, maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))
const pick = <A>(values: ReadonlyArray<A>) => Arbitrary.map(int(0, values.length - 1), (i) => values[i]!)

const zones = [
  "Europe/Berlin",
  "America/New_York",
  "Australia/Lord_Howe", // 30-minute DST
  "America/Santiago", // transitions at midnight
  "Pacific/Chatham",
  "Europe/Dublin",
  "UTC"
] as const

// Anchors are often at the wall times DST moves (01:00-03:00, midnight) and on the 28th-31st.
const calendarCase = Arbitrary.flatMap(
  Arbitrary.all([pick(zones), pick(["day", "month", "year"] as const), int(1, 14), int(0, 3)]),
  ([zone, unit, count, kind]) =>
    Arbitrary.map(
      Arbitrary.all([
        int(1950, 2080),
        int(0, 11),
        kind === 0 ? int(1, 31) : int(28, 31),
        kind === 1 ? int(0, 23) : pick([0, 1, 2, 3, 23]),
        pick([0, 15, 30, 45]),
        int(-400, 400)
      ]),
      ([year, month, day, hour, minute, fromDays]) => {
        const wall = Date.UTC(year, month, Math.min(day, daysInMonth(year, month)), hour, minute)
        const anchor = instantOf(zone, wall)
        const c: Case = { zone, unit, count: unit === "year" ? Math.min(count, 4) : count, anchor }
        return { c, from: anchor + fromDays * DAY * (unit === "day" ? 1 : 7) }
      }
    )
)

// A value as a JavaScript caller hands it over: typed by the caller, unchecked.
function fromJavaScript<A>(value: unknown): A
function fromJavaScript(value: unknown) {
  return value
}

// --- tests ------------------------------------------------------------------

describe("calendar intervals", () => {
  it.effect.prop("the next 50 fires agree with an Intl oracle", { k: calendarCase }, ({ k: { c, from } }) =>
    Effect.sync(() => {
      // Days are given as a duration with a zone; months and years as a calendar string.
      const options = { timeZone: c.zone, anchor: c.anchor }
      const trigger = c.unit === "day"
        ? Trigger.every({ days: c.count }, options)
        : Trigger.every(c.unit === "month" ? `${c.count} months` : `${c.count} years`, options)
      const context = `${c.count} ${c.unit} in ${c.zone} from ${new Date(c.anchor).toISOString()}`
      assert.deepStrictEqual(fires(trigger, from, 50).map(isoIn(c.zone)), oracleFires(c, from, 50).map(isoIn(c.zone)), context)
    }), { arbitrary: { runs: 120 } })

  it("31 January monthly: 28/29 February, then 31 March, always from the anchor", () => {
    const trigger = Trigger.every("1 month", { anchor: ms("2026-01-31T09:00:00Z") })
    assert.deepStrictEqual(fires(trigger, ms("2026-01-01T00:00:00Z"), 6).map((t) => new Date(t).toISOString().slice(0, 10)), [
      "2026-01-31",
      "2026-02-28",
      "2026-03-31",
      "2026-04-30",
      "2026-05-31",
      "2026-06-30"
    ])
    assert.deepStrictEqual(
      fires(trigger, ms("2028-01-31T09:00:00Z"), 2).map((t) => new Date(t).toISOString()),
      ["2028-02-29T09:00:00.000Z", "2028-03-31T09:00:00.000Z"]
    )
    // The grid extends before the anchor too.
    assert.deepStrictEqual(Trigger.next(trigger, ms("2025-11-15T00:00:00Z")), Option.some(ms("2025-11-30T09:00:00Z")))
  })

  it("29 February yearly: 28 February in other years, back to the 29th in leap years", () => {
    const trigger = Trigger.every("1 year", { anchor: ms("2024-02-29T12:00:00Z") })
    assert.deepStrictEqual(fires(trigger, ms("2024-01-01T00:00:00Z"), 6).map((t) => new Date(t).toISOString().slice(0, 10)), [
      "2024-02-29",
      "2025-02-28",
      "2026-02-28",
      "2027-02-28",
      "2028-02-29",
      "2029-02-28"
    ])
  })

  it("without an anchor: midnight on the 1st, wall time in the zone", () => {
    const trigger = Trigger.every("3 months", { timeZone: "America/New_York" })
    assert.deepStrictEqual(fires(trigger, ms("2026-02-01T00:00:00Z"), 3).map(isoIn("America/New_York")), [
      "2026-04-01T00:00-04:00",
      "2026-07-01T00:00-04:00",
      "2026-10-01T00:00-04:00"
    ])
  })

  it("daily in Berlin across both DST changes: same wall time, 23 and 25 hours apart", () => {
    const nine = Trigger.every("1 day", { timeZone: "Europe/Berlin", anchor: ms("2026-01-01T08:00:00Z") })
    const spring = fires(nine, ms("2026-03-28T00:00:00Z"), 3)
    assert.deepStrictEqual(spring.map(isoIn("Europe/Berlin")), [
      "2026-03-28T09:00+01:00",
      "2026-03-29T09:00+02:00",
      "2026-03-30T09:00+02:00"
    ])
    assert.strictEqual(spring[1]! - spring[0]!, 23 * 3_600_000)
    const autumn = fires(nine, ms("2026-10-24T00:00:00Z"), 2)
    assert.strictEqual(autumn[1]! - autumn[0]!, 25 * 3_600_000)
    // 02:30 does not exist on 29 March (fires at 03:00) and occurs twice on 25 October (fires at the first).
    const early = Trigger.every("1 day", { timeZone: "Europe/Berlin", anchor: ms("2026-01-01T01:30:00Z") })
    assert.deepStrictEqual(fires(early, ms("2026-03-28T12:00:00Z"), 2).map(isoIn("Europe/Berlin")), [
      "2026-03-29T03:00+02:00",
      "2026-03-30T02:30+02:00"
    ])
    assert.deepStrictEqual(fires(early, ms("2026-10-24T12:00:00Z"), 2).map(isoIn("Europe/Berlin")), [
      "2026-10-25T02:30+02:00",
      "2026-10-26T02:30+01:00"
    ])
  })

  it("daily in New York across both DST changes", () => {
    const options = { timeZone: "America/New_York" }
    const early = Trigger.every("1 day", { ...options, anchor: ms("2026-01-01T07:30:00Z") }) // 02:30 EST
    assert.deepStrictEqual(fires(early, ms("2026-03-07T12:00:00Z"), 2).map(isoIn("America/New_York")), [
      "2026-03-08T03:00-04:00",
      "2026-03-09T02:30-04:00"
    ])
    const oneThirty = Trigger.every("1 day", { ...options, anchor: ms("2026-01-01T06:30:00Z") }) // 01:30 EST
    assert.deepStrictEqual(fires(oneThirty, ms("2026-10-31T12:00:00Z"), 2).map(isoIn("America/New_York")), [
      "2026-11-01T01:30-04:00",
      "2026-11-02T01:30-05:00"
    ])
    // Two weeks, given with a zone, is 14 wall-clock days.
    const fortnightly = Trigger.every("2 weeks", { ...options, anchor: ms("2026-03-01T14:00:00Z") })
    assert.deepStrictEqual(fires(fortnightly, ms("2026-03-02T00:00:00Z"), 1).map(isoIn("America/New_York")), [
      "2026-03-15T09:00-04:00"
    ])
  })

  it.effect("what every() builds, and that its JSON decodes to the same trigger", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(Trigger.every("1 month"), {
        _tag: "Calendar",
        unit: "month",
        count: 1,
        timeZone: "UTC",
        jitter: 0
      })
      assert.deepStrictEqual(Trigger.every("1 day", { timeZone: "Europe/Berlin", anchor: 5 }), {
        _tag: "Calendar",
        unit: "day",
        count: 1,
        timeZone: "Europe/Berlin",
        anchor: 5,
        jitter: 0
      })
      // Without a zone, days stay a fixed interval, as before.
      assert.deepStrictEqual(Trigger.every("1 day"), { _tag: "Interval", every: DAY, anchor: 0, jitter: 0 })
      const trigger = Trigger.every("2 years", { timeZone: "Europe/Berlin", anchor: 0, jitter: "1 hour", end: 1e13 })
      const json = JSON.parse(JSON.stringify(yield* Schema.encodeEffect(Trigger.Trigger)(trigger)))
      assert.deepStrictEqual(yield* Trigger.decode(json), trigger)
      assert.deepStrictEqual(yield* Trigger.decode({ _tag: "Calendar", unit: "year" }), Trigger.every("1 year"))
      // A stored interval decodes as it always did.
      assert.deepStrictEqual(
        yield* Trigger.decode({ _tag: "Interval", every: 60_000, anchor: 0, jitter: 0 }),
        Trigger.every("1 minute")
      )
    }))

  it.effect("a count that is not a positive whole number, or a zone with a non-day interval, is InvalidCalendar", () =>
    Effect.gen(function*() {
      const reasonOf = (trigger: Trigger.Trigger) =>
        Effect.map(Effect.flip(Trigger.validate(trigger)), (error) => error.reason)
      const cases = [
        [Trigger.every("1.5 months"), "month", 1.5, "count must be a positive whole number of months, got 1.5"],
        [Trigger.every("0 years"), "year", 0, "count must be a positive whole number of years, got 0"],
        [Trigger.every("-1 month"), "month", -1, "count must be a positive whole number of months, got -1"],
        [
          Trigger.every("90 minutes", { timeZone: "Europe/Berlin" }),
          "day",
          0.0625,
          "count must be a positive whole number of days, got 0.0625 (with a timeZone, an interval counts whole days " +
          "of wall-clock time: drop timeZone for a fixed interval)"
        ]
      ] as const
      for (const [trigger, unit, count, message] of cases) {
        const reason = yield* reasonOf(trigger)
        assert.deepStrictEqual(reason, new Trigger.InvalidCalendar({ unit, count, message }))
      }
      assert.deepStrictEqual(
        yield* reasonOf(Trigger.every("1 month", { timeZone: "Mars/Olympus" })),
        new Trigger.UnknownTimeZone({ zone: "Mars/Olympus" })
      )
      assert.deepStrictEqual(
        yield* reasonOf(Trigger.every("1 month", { anchor: Number.NaN })),
        new Trigger.InvalidInstant({ field: "anchor", value: Number.NaN })
      )
      // A month is not a Duration: "1 fortnight" is no interval at all.
      const notDuration = yield* reasonOf(Trigger.every(fromJavaScript("1 fortnight")))
      assert.strictEqual(notDuration._tag, "InvalidInterval")
      assert.deepStrictEqual(Trigger.next(Trigger.every("1.5 months"), 0), Option.none())
    }))

  it("fires stay in the Date range at its ends", () => {
    for (const unit of ["1 day", "1 month", "1 year"] as const) {
      const trigger = Trigger.every(unit, { timeZone: "Europe/Berlin" })
      for (const after of [-8.64e15, -8.6e15, 8.6e15, 8.64e15, Number.NaN, Number.POSITIVE_INFINITY]) {
        const fire = Trigger.next(trigger, after)
        assert.isTrue(Option.isNone(fire) || (fire.value > after && Math.abs(fire.value) <= 8.64e15), `${unit} ${after}`)
      }
    }
    assert.isTrue(Option.isSome(Trigger.next(Trigger.every("1 month"), -8.64e15)))
  })
})
