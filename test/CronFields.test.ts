import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Cron, DateTime, Option, Result, Schema } from "effect"
import * as Trigger from "../src/Trigger.ts"
import * as Days from "../src/internal/cronDays.ts"
import * as Fields from "../src/internal/cronFields.ts"
import * as CronSearch from "../src/internal/triggerCron.ts"
import * as Schedule from "../src/internal/triggerSchedule.ts"

// Our parse and search (`cronParse`, `cronFields`, behind `triggerCron`)
// against Effect's `Cron.parse`, `Cron.next` and `Cron.match` on wall-clock
// time (a zero offset), for the syntax both read (no L, W, #, ?, H, or
// ranges ending in SUN): Effect's `Cron` is the oracle they replaced.

const int = (minimum: number, maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))
const pick = <A>(values: ReadonlyArray<A>) => Arbitrary.map(int(0, values.length - 1), (i) => values[i]!)

// A value, a range or a stepped range; `names` are aliases Effect reads (jan, mon).
const item = (min: number, max: number, names: ReadonlyArray<string>) =>
  Arbitrary.flatMap(int(0, 3), (kind) =>
    kind === 3 && names.length > 0
      ? pick(names)
      : kind === 0 || kind === 3
      ? Arbitrary.map(int(min, max), String)
      : Arbitrary.flatMap(int(min, max), (a) =>
        Arbitrary.flatMap(int(a, max), (b) =>
          kind === 1
            ? Arbitrary.Constant(`${a}-${b}`)
            : Arbitrary.map(int(1, Math.max(1, b - a)), (step) => `${a}-${b}/${step}`))))

// "*", "*/n", "*/n,items" (a wildcard first item with more after it), or a list.
const field = (min: number, max: number, names: ReadonlyArray<string> = []) =>
  Arbitrary.flatMap(int(0, 9), (kind) =>
    kind <= 3
      ? Arbitrary.Constant("*")
      : kind === 4
      ? Arbitrary.map(int(1, Math.min(max, 12)), (n) => `*/${n}`)
      : kind === 5
      ? Arbitrary.flatMap(int(2, Math.min(max, 12)), (n) => Arbitrary.map(item(min, max, names), (i) => `*/${n},${i}`))
      : Arbitrary.map(Arbitrary.array(item(min, max, names), { minLength: 1, maxLength: 3 }), (items) => items.join(",")))

// Days often at the ends of months (29-31), where months differ.
const daysField = Arbitrary.flatMap(int(0, 3), (kind) =>
  kind === 0 ? Arbitrary.map(int(28, 31), (d) => `${d}`) : kind === 1 ? Arbitrary.map(int(1, 31), (d) => `${d}-31`) : field(1, 31))

const months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
const weekdays = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

const expression = Arbitrary.map(
  Arbitrary.all([
    Arbitrary.flatMap(int(0, 1), (withSeconds) => withSeconds === 0 ? Arbitrary.Constant("") : field(0, 59)),
    field(0, 59),
    field(0, 23),
    daysField,
    field(1, 12, months),
    field(0, 7, weekdays)
  ]),
  (parts) => parts.filter((part) => part !== "").join(" ")
)

// Wall times from year -4000 to 8300, often near now, sometimes not whole milliseconds.
const wall = Arbitrary.map(
  Arbitrary.all([int(0, 2), int(-2e8, 2e8), int(1_700_000_000, 1_900_000_000), int(0, 999), int(0, 1)]),
  ([kind, far, near, millis, fraction]) =>
    (kind === 0 ? far * 1_000 : near) * 1_000 + millis + (fraction === 1 ? (kind === 0 ? 0.5 : -0.25) : 0)
)

// Items Effect rejects or reads in its own way, mixed into fields.
const odd = pick([
  "60", "24", "32", "13", "8", "0", "7", "5-3", "*/0", "*/61", "*/1", "1/5", "x", "", "-", "1-", "mon", "MON", "Jan",
  "constructor", "__proto__", "1.5", "+1", "01", "sun-sat", "fri-mon", "*/1,3", "2-4/0", "2-4/x", "*-3"
])
const oddField = (min: number, max: number, names: ReadonlyArray<string>) =>
  Arbitrary.flatMap(int(0, 2), (kind) =>
    kind === 0
      ? odd
      : kind === 1
      ? field(min, max, names)
      : Arbitrary.map(Arbitrary.all([field(min, max, names), odd]), ([a, b]) => `${a},${b}`))
const oddExpression = Arbitrary.map(
  Arbitrary.all([
    oddField(0, 59, []),
    oddField(0, 59, []),
    oddField(0, 23, []),
    oddField(1, 31, []),
    oddField(1, 12, months),
    oddField(0, 7, weekdays)
  ]),
  (parts) => parts.join(" ")
)

const wallZone = DateTime.zoneMakeOffset(0)

// --- Effect's Cron as an oracle for the syntax both read --------------------

// An empty set is every value from min to max.
const bitsOf = (values: ReadonlySet<number>, min: number, max: number): number => {
  let bits = 0
  if (values.size === 0) {
    for (let v = min; v <= max; v++) bits |= 1 << v
  } else {
    for (const v of values) if (v >= min && v <= max) bits |= 1 << v
  }
  return bits
}

// Sixty values in two halves of 30 bits.
const full30 = (1 << 30) - 1
const halvesOf = (values: ReadonlySet<number>): readonly [number, number] => {
  if (values.size === 0) return [full30, full30]
  let low = 0
  let high = 0
  for (const v of values) {
    if (v >= 0 && v < 30) low |= 1 << v
    else if (v >= 30 && v < 60) high |= 1 << (v - 30)
  }
  return [low, high]
}
const first60 = (low: number, high: number) =>
  low !== 0 ? 31 - Math.clz32(low & -low) : 30 + 31 - Math.clz32(high & -high)

// Effect's fields as our bitsets, with its own `and` flag (not in its types).
const effectFields = (cron: Cron.Cron): Fields.Fields => {
  const [secondsLow, secondsHigh] = halvesOf(cron.seconds)
  const [minutesLow, minutesHigh] = halvesOf(cron.minutes)
  const and = "and" in cron && cron.and === true
  return {
    secondsLow,
    secondsHigh,
    minutesLow,
    minutesHigh,
    hours: bitsOf(cron.hours, 0, 23),
    months: bitsOf(cron.months, 1, 12),
    days: bitsOf(cron.days, 1, 31),
    lastDays: 0,
    nearest: 0,
    // Effect reads 7 as Sunday when it parses.
    weekdays: cron.weekdays.size === 0 ? 0x7f : bitsOf(cron.weekdays, 0, 6),
    weekdayNth: 0,
    weekdayLate: 0,
    dayMode: Fields.dayModeOf(cron.days.size > 0, cron.weekdays.size > 0, and),
    firstSecond: first60(secondsLow, secondsHigh),
    firstMinute: first60(minutesLow, minutesHigh)
  }
}

// Effect's answer for the first wall time after `wall`, or undefined when it gives up (10,000 steps) or fails.
const effectWallNext = (cron: Cron.Cron, wall: number): number | undefined => {
  try {
    const next = Cron.next(cron, wall).getTime()
    return Number.isFinite(next) ? next : undefined
  } catch {
    return undefined
  }
}

const sixOf = (text: string) => {
  const parts = text.split(/\s+/).filter((part) => part !== "")
  return parts.length === 5 ? ["0", ...parts].join(" ") : parts.join(" ")
}

const compiledOf = (text: string) => {
  const compiled = CronSearch.compile(text, "UTC")
  const effect = Cron.parse(sixOf(text), wallZone)
  if ("_tag" in compiled || Result.isFailure(effect)) return undefined
  const { hoursRestricted: _h, zone: _z, ...fields } = compiled
  assert.deepStrictEqual(fields, effectFields(effect.success), text)
  return { compiled, effect: effect.success }
}

describe("CronFields", () => {
  // Effect accepts expressions that never fire (30 February); we refuse them.
  const neverFires = (fields: Fields.Fields) => !Days.possible(fields, fields.months)

  it.prop("our parse accepts what Effect accepts, to the same fields", {
    text: Arbitrary.flatMap(int(0, 1), (kind) => kind === 0 ? oddExpression : expression)
  }, ({ text }) => {
    const parts = text.split(/\s+/).filter((part) => part !== "")
    if (parts.length < 5) return
    const ours = CronSearch.parse(text)
    const effect = Cron.parse(sixOf(text), wallZone)
    if ("_tag" in ours) {
      assert.isTrue(Result.isFailure(effect) || neverFires(effectFields(effect.success)), `${text}: Effect accepts it`)
      assert.include(["seconds", "minutes", "hours", "days", "months", "weekdays"], ours.field, text)
    } else {
      assert.isTrue(Result.isSuccess(effect), `${text}: Effect rejects it`)
      if (Result.isSuccess(effect)) assert.deepStrictEqual(ours, effectFields(effect.success), text)
    }
  }, { arbitrary: { runs: 500 } })

  it("tricky expressions parse as Effect reads them", () => {
    const texts = [
      "0\t9 * * 1-5", " 0 9 * * * ", "0 9 * * MON-fri", "0 9 * JAN,dec 7", "0 9 * * 5-7", "0\u00a09 * * *", "0 9\n* * *",
      "*/1,5 * * * *", "*/15,7 * * * * *", "0 0 */31 2 1", "0 0 1-31/10 * *", "5/20 * * * *", "0 12 * * 0,7",
      "*-3 * * * *", "1-2-3 * * * *", "1/2/3 * * * *", "1, * * * *", "0 9 * * 1 2", "60 * * * *", "0 0 0 * * 8",
      "0 0 * * sun-sat", "0 0 1-7/3 * *", "0 0 * * */7", "0 0 * * 1-7/3", "0 0 * 2/5 *"
    ]
    for (const text of texts) {
      const effect = Cron.parse(sixOf(text), wallZone)
      const ours = CronSearch.parse(text)
      if (Result.isFailure(effect)) assert.isTrue("_tag" in ours, text)
      else assert.deepStrictEqual(ours, effectFields(effect.success), text)
    }
  })

  it.prop("the next wall time agrees with Effect's Cron.next", { text: expression, from: wall }, ({ from, text }) => {
    const both = compiledOf(text)
    if (both === undefined) return
    let cursor = from
    for (let i = 0; i < 5; i++) {
      const ours = CronSearch.wallNext(both.compiled, cursor)
      const theirs = effectWallNext(both.effect, cursor)
      // Effect gives up after 10,000 steps (a rare match years ahead); ours answers.
      if (theirs === undefined && ours !== undefined) {
        assert.isTrue(Cron.match(both.effect, ours), `${text} after ${cursor}`)
      } else {
        assert.strictEqual(ours, theirs, `${text} after ${cursor}`)
      }
      if (ours === undefined) return
      cursor = ours
    }
  }, { arbitrary: { runs: 1_000 } })

  it.prop("the search answers, and matches as Cron.match, with no match in between", {
    text: expression,
    from: wall
  }, ({ from, text }) => {
    const both = compiledOf(text)
    if (both === undefined) return
    const found = Fields.next(both.compiled, from)
    // Only at the ends of the Date range may there be no answer.
    if (found === undefined) return assert.isAbove(Math.abs(from), 8e15, text)
    assert.isTrue(Cron.match(both.effect, found), `${text}: ${new Date(found).toISOString()} matches`)
    assert.isTrue(Fields.matches(both.compiled, found))
    // Every second in between is no match (checked over the first two minutes).
    // "After" as a Date reads `from`: truncated to whole milliseconds (toward
    // zero, so -999,000.5 reads as -999,000, and the second at -999,000 is not after it).
    for (let t = Math.floor(Math.trunc(from) / 1_000) * 1_000 + 1_000; t < found && t < from + 120_000; t += 1_000) {
      assert.isFalse(Fields.matches(both.compiled, t), `${text}: ${new Date(t).toISOString()}`)
    }
    assert.strictEqual(Fields.matches(both.compiled, from), Cron.match(both.effect, from), `${text} at ${from}`)
  }, { arbitrary: { runs: 300 } })

  it("an instant with a fraction of a millisecond reads as a Date reads it: truncated toward zero", () => {
    const both = compiledOf("* * * 1-31 * *")
    if (both === undefined) return assert.fail("the expression compiles")
    // -999,000.5 reads as -999,000 (1969-12-31T23:43:21Z): the next second is the one after it, as Effect says.
    assert.strictEqual(Fields.next(both.compiled, -999_000.5), -998_000)
    assert.strictEqual(Fields.next(both.compiled, -999_000.5), effectWallNext(both.effect, -999_000.5))
    assert.strictEqual(Fields.next(both.compiled, 999_000.5), 1_000_000)
  })

  it("rare expressions are answered by the search alone, years ahead", () => {
    const from = Date.parse("2026-06-15T10:17:23Z")
    // 1 February when it is a Monday ("*/31" is day 1 alone, and a wildcard
    // day field means both must match): 2027, then 2038.
    const rare = compiledOf("0 0 */31 2 1")!
    assert.strictEqual(CronSearch.wallNext(rare.compiled, from), Date.parse("2027-02-01T00:00:00Z"))
    const after2027 = Date.parse("2027-02-02T00:00:00Z")
    assert.strictEqual(CronSearch.wallNext(rare.compiled, after2027), Date.parse("2038-02-01T00:00:00Z"))
    assert.strictEqual(effectWallNext(rare.effect, after2027), Date.parse("2038-02-01T00:00:00Z"))
    // 29 February on a Sunday: 2032, 2060, 2088, then 2128 (2100 is no leap year).
    const leap = compiledOf("0 0 29 2 */7")!
    const fires: Array<string> = []
    for (let cursor = from; fires.length < 4;) {
      cursor = CronSearch.wallNext(leap.compiled, cursor)!
      fires.push(new Date(cursor).toISOString().slice(0, 10))
    }
    assert.deepStrictEqual(fires, ["2032-02-29", "2060-02-29", "2088-02-29", "2128-02-29"])
  })

  it("a trigger is compiled once and kept with it, whatever the number of expressions", () => {
    const trigger = Trigger.cron("7 3 * * *", { timeZone: "Europe/Berlin" })
    if (trigger._tag !== "Cron") return assert.fail("a cron trigger")
    const first = Schedule.compiled(trigger)
    assert.isDefined(first)
    // More distinct expressions than the shared cache holds: the trigger keeps its own.
    for (let i = 0; i < 5_000; i++) {
      const other = Trigger.cron(`${i % 60} ${Math.floor(i / 60) % 24} ${(Math.floor(i / 1_440) % 28) + 1} * *`)
      assert.isTrue(Option.isSome(Trigger.next(other, 0)))
    }
    assert.strictEqual(Schedule.compiled(trigger), first)
    // A new value of the same expression and zone is compiled on its own, to the same fires.
    const again = Trigger.cron("7 3 * * *", { timeZone: "Europe/Berlin" })
    assert.deepStrictEqual(Trigger.next(again, 0), Trigger.next(trigger, 0))
  })
})
