import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Cause, Effect, Exit, Option, Schema } from "effect"
import * as Job from "../src/Job.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import * as Oracle from "./support/CronOracle.ts"

// The cron dialect (L, L-n, nW, LW, nL, n#k, ?, SUN as 7, H) against an
// independent brute-force reading of it (test/support/CronOracle.ts), and
// each construct and each refusal by example.

const ms = (iso: string) => Date.parse(iso)
const iso = (t: number) => new Date(t).toISOString()

/** The first `n` fires after `from` (or until `until`), as instants. */
const nextFires = (trigger: Trigger.Trigger, from: number, n: number, until = Infinity): Array<number> => {
  const out: Array<number> = []
  for (let cursor = from; out.length < n;) {
    const fire = Trigger.next(trigger, cursor)
    if (Option.isNone(fire) || fire.value > until) break
    out.push(fire.value)
    cursor = fire.value
  }
  return out
}
const isoFires = (expression: string, from: string, n: number, options?: Parameters<typeof Trigger.cron>[1]) =>
  nextFires(Trigger.cron(expression, options), ms(from), n).map(iso)

// --- generators -------------------------------------------------------------

const int = (minimum: number, maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))
const pick = <A>(values: ReadonlyArray<A>) => Arbitrary.map(int(0, values.length - 1), (i) => values[i]!)
const oneOf = <A>(...arbitraries: ReadonlyArray<Arbitrary.Arbitrary<A>>) =>
  Arbitrary.flatMap(int(0, arbitraries.length - 1), (i) => arbitraries[i]!)
const list = (item: Arbitrary.Arbitrary<Oracle.Item>, max = 3) => Arbitrary.array(item, { minLength: 1, maxLength: max })

type Item = Oracle.Item
const star = (step: number): Item => ({ kind: "star", step, text: step === 1 ? "*" : `*/${step}` })
const value = (v: number, text = String(v)): Item => ({ kind: "range", from: v, to: v, step: 1, text })
const any: Item = { kind: "any", text: "?" }

const weekdayNames = ["sun", "MON", "Tue", "wed", "THU", "Fri", "sat"]
const weekdayText = (w: number, named: boolean) => named ? weekdayNames[w % 7]! : String(w)

// A value, a range, a stepped range, `v/n`, or an H form, of values min to max.
const plainItem = (min: number, max: number, hashMin: number, hashMax: number): Arbitrary.Arbitrary<Item> =>
  Arbitrary.flatMap(Arbitrary.all([int(0, 6), int(min, max), int(min, max), int(1, Math.min(12, max))]), ([kind, a, b, n]) => {
    const [lo, hi] = a <= b ? [a, b] : [b, a]
    const width = hashMax - hashMin + 1
    switch (kind) {
      case 0:
        return Arbitrary.Constant(value(a))
      case 1:
        return Arbitrary.Constant<Item>({ kind: "range", from: lo, to: hi, step: 1, text: `${lo}-${hi}` })
      case 2:
        return Arbitrary.Constant<Item>({ kind: "range", from: lo, to: hi, step: n, text: `${lo}-${hi}/${n}` })
      case 3:
        return Arbitrary.Constant<Item>({ kind: "range", from: a, to: max, step: n, text: `${a}/${n}` })
      case 4:
        return Arbitrary.Constant<Item>({ kind: "hash", text: "H" })
      case 5: {
        const step = Math.min(n, width)
        return Arbitrary.Constant<Item>({ kind: "hash", step, text: `H/${step}` })
      }
      default: {
        const step = Math.min(n, hi - lo + 1)
        return Arbitrary.Constant<Item>(
          n % 2 === 0
            ? { kind: "hash", from: lo, to: hi, text: `H(${lo}-${hi})` }
            : { kind: "hash", from: lo, to: hi, step, text: `H(${lo}-${hi})/${step}` }
        )
      }
    }
  })

// "*", "*/n", or a list, in proportions [star, step, list].
const plainField = (min: number, max: number, hashMax: number, [s, t, l]: readonly [number, number, number]) =>
  Arbitrary.flatMap(int(1, s + t + l), (kind): Arbitrary.Arbitrary<ReadonlyArray<Item>> =>
    kind <= s
      ? Arbitrary.Constant([star(1)])
      : kind <= s + t
      ? Arbitrary.map(int(2, Math.min(max, 12)), (n) => [star(n)])
      : list(plainItem(min, max, min, hashMax)))

const dayItem: Arbitrary.Arbitrary<Item> = oneOf(
  Arbitrary.Constant<Item>({ kind: "last", before: 0, text: "L" }),
  Arbitrary.map(oneOf(int(0, 3), int(0, 30)), (n): Item => ({ kind: "last", before: n, text: `L-${n}` })),
  Arbitrary.map(oneOf(int(1, 3), int(1, 31), int(28, 31)), (n): Item => ({ kind: "nearest", day: n, text: `${n}W` })),
  Arbitrary.Constant<Item>({ kind: "lastWeekday", text: "LW" }),
  plainItem(1, 31, 1, 28),
  Arbitrary.map(int(28, 31), (d) => value(d))
)
const daysField = Arbitrary.flatMap(int(0, 9), (kind): Arbitrary.Arbitrary<ReadonlyArray<Item>> =>
  kind <= 2
    ? Arbitrary.Constant([star(1)])
    : kind === 3
    ? Arbitrary.Constant([any])
    : kind === 4
    ? Arbitrary.map(Arbitrary.all([int(2, 15), dayItem]), ([n, item]) => [star(n), item])
    : list(dayItem, 2))

const weekdayItem: Arbitrary.Arbitrary<Item> = Arbitrary.flatMap(
  Arbitrary.all([int(0, 5), int(0, 7), int(1, 5), int(0, 1)]),
  ([kind, w, k, named]) => {
    const text = weekdayText(w, named === 1)
    switch (kind) {
      case 0:
        return Arbitrary.Constant(value(w, text))
      case 1:
        return Arbitrary.Constant<Item>({ kind: "lastOf", weekday: w, text: `${text}L` })
      case 2:
        return Arbitrary.Constant<Item>({ kind: "nth", weekday: w, k, text: `${text}#${k}` })
      case 3: {
        // A range ending in SUN (7) or 7: SAT-SUN, FRI-SUN, 5-7.
        const from = Math.max(1, Math.min(w, 6))
        return Arbitrary.Constant<Item>({ kind: "range", from, to: 7, step: 1, text: `${weekdayText(from, named === 1)}-${named === 1 ? "SUN" : 7}` })
      }
      default:
        return plainItem(0, 7, 0, 6)
    }
  }
)
const weekdaysField = Arbitrary.flatMap(int(0, 9), (kind): Arbitrary.Arbitrary<ReadonlyArray<Item>> =>
  kind <= 2
    ? Arbitrary.Constant([star(1)])
    : kind === 3
    ? Arbitrary.Constant([any])
    : kind === 4
    ? Arbitrary.map(int(2, 7), (n) => [star(n)])
    : list(weekdayItem, 2))

// Minutes fields of one or two values, so that 50 fires span hours.
const sparseMinutes = Arbitrary.map(Arbitrary.all([int(0, 59), int(0, 2)]), ([m, kind]): ReadonlyArray<Item> =>
  kind === 0 ? [value(m)] : kind === 1 ? [{ kind: "hash", text: "H" }] : [value(m), { kind: "hash", from: 0, to: 29, text: "H(0-29)" }])
// The Sundays on which the zones below change their clocks, and others.
const sundays: ReadonlyArray<Item> = [
  { kind: "lastOf", weekday: 0, text: "0L" },
  { kind: "lastOf", weekday: 7, text: "SUNL" },
  { kind: "nth", weekday: 0, k: 1, text: "SUN#1" },
  { kind: "nth", weekday: 7, k: 2, text: "7#2" },
  { kind: "range", from: 6, to: 7, step: 1, text: "SAT-SUN" }
]

const zones = ["Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago", "Europe/Dublin", "Europe/Berlin", "America/New_York"] as const

// DST transitions from 2020 to 2035, found with Intl.
const transitionCache = new Map<string, Array<number>>()
const transitions = (zone: string): Array<number> => {
  const cached = transitionCache.get(zone)
  if (cached !== undefined) return cached
  const offset = (t: number) => Oracle.wallOf(zone, t) - t
  const found: Array<number> = []
  const week = 7 * 86_400_000
  for (let t = ms("2020-01-01T00:00:00Z"); t < ms("2035-01-01T00:00:00Z"); t += week) {
    let [lo, hi] = [t, t + week]
    if (offset(lo) === offset(hi)) continue
    while (hi - lo > 60_000) {
      const mid = Math.floor((lo + hi) / 120_000) * 60_000
      if (offset(mid) === offset(lo)) lo = mid
      else hi = mid
    }
    found.push(hi)
  }
  transitionCache.set(zone, found)
  return found
}
// The wall hours around an instant: before, after, and those skipped between.
const hoursAround = (zone: string, at: number): Array<number> => {
  const hour = (t: number) => new Date(Oracle.wallOf(zone, t)).getUTCHours()
  const hours = [hour(at - 1)]
  while (hours.at(-1) !== hour(at) && hours.length < 4) hours.push((hours.at(-1)! + 1) % 24)
  return hours
}

// An expression, zone, seed, policy and start: one time in two the start is
// within three hours before a DST transition, one in four within three days,
// and then the hours field often names the hours around it.
const dialectCase = Arbitrary.flatMap(
  Arbitrary.all([pick(zones), pick(["earlier", "later", "both"] as const), int(0, 3), pick(["", "job-1", "nightly-report", "ünï/ç:@"])]),
  ([zone, policy, kind, seed]) => {
    const near = kind > 0
    const at = near ? pick(transitions(zone)) : Arbitrary.map(int(1_577_836_800, 2_051_222_400), (s) => s * 1000)
    return Arbitrary.flatMap(at, (at) => {
      const around = hoursAround(zone, at)
      const hours = near
        ? oneOf(plainField(0, 23, 23, [2, 1, 3]), Arbitrary.map(plainItem(0, 23, 0, 23), (extra) => [...around.map((h) => value(h)), extra]))
        : plainField(0, 23, 23, [2, 1, 3])
      return Arbitrary.map(
        Arbitrary.all([
          int(0, 4),
          plainField(0, 59, 59, [1, 1, 4]),
          near ? oneOf(plainField(0, 59, 59, [1, 2, 4]), sparseMinutes) : plainField(0, 59, 59, [1, 2, 4]),
          hours,
          daysField,
          plainField(1, 12, 12, [7, 1, 2]),
          weekdaysField,
          kind === 3 ? int(-3 * 86_400, 3_600) : int(near ? -3 * 3_600 : 0, near ? 600 : 0),
          near ? int(0, 3) : Arbitrary.Constant(0),
          pick(sundays)
        ]),
        ([withSeconds, seconds, minutes, hours, generatedDays, months, generatedWeekdays, shift, dayKind, sunday]) => {
          // Near a transition, often days that include its day: every day, or
          // the Sundays on which these zones change their clocks.
          const days = dayKind === 2 ? [star(1)] : dayKind === 3 ? [any] : generatedDays
          const weekdays = dayKind === 2 ? [star(1)] : dayKind === 3 ? [sunday] : generatedWeekdays
          return {
          expression: { ...(withSeconds === 0 ? { seconds } : {}), minutes, hours, days, months, weekdays },
          zone,
          policy,
          seed,
          from: at + shift * 1000
        }
        }
      )
    })
  }
)

// --- tests ------------------------------------------------------------------

const reasonOf = (expression: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Trigger.validate(Trigger.cron(expression)))
    assert.isTrue(Exit.isFailure(exit), `${JSON.stringify(expression)} is refused`)
    if (!Exit.isFailure(exit)) return undefined
    // A failure with a typed error, never a defect.
    assert.isFalse(Cause.hasDies(exit.cause), `${JSON.stringify(expression)}: a defect`)
    return Option.getOrUndefined(Exit.findErrorOption(exit))?.reason
  })

describe("CronDialect", () => {
  it.effect.prop("the next 50 fires agree with a brute-force search over wall-clock time", { c: dialectCase }, ({ c }) =>
    Effect.sync(() => {
    const text = Oracle.textOf(c.expression)
    const context = `${text} in ${c.zone} (${c.policy}, seed ${JSON.stringify(c.seed)}) after ${iso(c.from)}`
    const trigger = Trigger.cron(text, { timeZone: c.zone, onDstOverlap: c.policy, seed: c.seed })
    const valid = Exit.isSuccess(Effect.runSyncExit(Trigger.validate(trigger)))
    if (!valid) {
      // Refused only when no date of a whole 400-year cycle matches.
      assert.isFalse(Oracle.everMatches(c.expression, c.seed), `${context}: refused, yet it matches`)
      return
    }
    const until = c.from + 20 * 365 * 86_400_000
    const theirs = Oracle.fires(c.expression, { seed: c.seed, zone: c.zone, policy: c.policy, from: c.from, n: 50, until })
    const ours = nextFires(trigger, c.from, 50, until)
    assert.deepStrictEqual(ours.map(iso), theirs.map(iso), context)
  }), { arbitrary: { runs: Number(process.env["CRON_DIALECT_RUNS"] ?? 200) }, timeout: 600_000 })

  it.prop("any string gives a valid trigger or a typed InvalidCron, never a defect", {
    text: oneOf(
      Schema.String.pipe(Arbitrary.schema),
      Arbitrary.map(
        Arbitrary.array(pick([..."0123456789*/-,?#LWHlwh() \t", "MON", "sun", "JAN", "\u0000", "é", "１", "L-", "#5"]), { maxLength: 40 }),
        (pieces) => pieces.join("")
      )
    )
  }, ({ text }) => {
    const exit = Effect.runSyncExit(Trigger.validate(Trigger.cron(text, { seed: text })))
    if (Exit.isSuccess(exit)) return
    assert.isFalse(Cause.hasDies(exit.cause), JSON.stringify(text))
    const reason = Option.getOrUndefined(Exit.findErrorOption(exit))?.reason
    assert.strictEqual(reason?._tag, "InvalidCron", JSON.stringify(text))
    if (reason?._tag !== "InvalidCron") return
    assert.isAtLeast(reason.column, 0)
    assert.isAtMost(reason.column, text.length)
    assert.isAbove(reason.hint.length, 0)
  }, { arbitrary: { runs: 1_000 } })

  describe("each construct, by example", () => {
    const from = "2026-01-01T00:00:00Z"

    it("L and L-n: the last day of the month, and n days before it", () => {
      assert.deepStrictEqual(isoFires("0 0 L * *", from, 3), ["2026-01-31T00:00:00.000Z", "2026-02-28T00:00:00.000Z", "2026-03-31T00:00:00.000Z"])
      assert.deepStrictEqual(isoFires("0 0 L 2 *", "2028-01-01T00:00:00Z", 1), ["2028-02-29T00:00:00.000Z"])
      assert.deepStrictEqual(isoFires("0 0 L-2 * *", from, 3), ["2026-01-29T00:00:00.000Z", "2026-02-26T00:00:00.000Z", "2026-03-29T00:00:00.000Z"])
      // L-28 in February is the 1st in a leap year, and no day otherwise.
      assert.deepStrictEqual(isoFires("0 0 L-28 2 *", from, 2), ["2028-02-01T00:00:00.000Z", "2032-02-01T00:00:00.000Z"])
      // With seconds, and in a list with days.
      assert.deepStrictEqual(isoFires("30 0 0 1,15,L * *", from, 4), [
        "2026-01-01T00:00:30.000Z", "2026-01-15T00:00:30.000Z", "2026-01-31T00:00:30.000Z", "2026-02-01T00:00:30.000Z"
      ])
    })

    it("nW: the weekday nearest day n, never leaving the month", () => {
      // 15 January 2026 is a Thursday; 15 February and 15 March are Sundays; 15 August a Saturday.
      assert.deepStrictEqual(isoFires("0 9 15W * *", from, 3), ["2026-01-15T09:00:00.000Z", "2026-02-16T09:00:00.000Z", "2026-03-16T09:00:00.000Z"])
      assert.deepStrictEqual(isoFires("0 9 15W 8 *", from, 1), ["2026-08-14T09:00:00.000Z"])
      // 1 August 2026 is a Saturday: Monday the 3rd, not Friday 31 July.
      assert.deepStrictEqual(isoFires("0 9 1W 8 *", from, 1), ["2026-08-03T09:00:00.000Z"])
      // 31 May 2026 is a Sunday: Friday the 29th, not Monday 1 June; months without a 31st have no day.
      assert.deepStrictEqual(isoFires("0 9 31W * *", "2026-04-01T00:00:00Z", 2), ["2026-05-29T09:00:00.000Z", "2026-07-31T09:00:00.000Z"])
    })

    it("LW: the last weekday of the month", () => {
      // 31 January 2026 is a Saturday, 28 February a Saturday, 31 May a Sunday.
      assert.deepStrictEqual(isoFires("0 9 LW * *", from, 5), [
        "2026-01-30T09:00:00.000Z", "2026-02-27T09:00:00.000Z", "2026-03-31T09:00:00.000Z", "2026-04-30T09:00:00.000Z",
        "2026-05-29T09:00:00.000Z"
      ])
    })

    it("nL and FRIL: the last weekday n of the month", () => {
      const lastFridays = ["2026-01-30T09:00:00.000Z", "2026-02-27T09:00:00.000Z", "2026-03-27T09:00:00.000Z"]
      assert.deepStrictEqual(isoFires("0 9 * * 5L", from, 3), lastFridays)
      assert.deepStrictEqual(isoFires("0 9 * * FRIL", from, 3), lastFridays)
      assert.deepStrictEqual(isoFires("0 9 * * fril", from, 3), lastFridays)
      // 7L is the last Sunday, as 0L.
      assert.deepStrictEqual(isoFires("0 9 * * 7L", from, 1), isoFires("0 9 * * 0L", from, 1))
    })

    it("n#k and MON#1: the k-th weekday n; no 5th in a month with four", () => {
      assert.deepStrictEqual(isoFires("0 9 * * MON#1", from, 3), ["2026-01-05T09:00:00.000Z", "2026-02-02T09:00:00.000Z", "2026-03-02T09:00:00.000Z"])
      assert.deepStrictEqual(isoFires("0 9 * * 1#5", from, 3), ["2026-03-30T09:00:00.000Z", "2026-06-29T09:00:00.000Z", "2026-08-31T09:00:00.000Z"])
      assert.deepStrictEqual(isoFires("0 9 * * MON#1,FRIL", from, 3), ["2026-01-05T09:00:00.000Z", "2026-01-30T09:00:00.000Z", "2026-02-02T09:00:00.000Z"])
    })

    it("?: no specific value, so the other day field alone decides", () => {
      assert.deepStrictEqual(isoFires("0 0 ? * MON", from, 3), ["2026-01-05T00:00:00.000Z", "2026-01-12T00:00:00.000Z", "2026-01-19T00:00:00.000Z"])
      assert.deepStrictEqual(isoFires("0 0 15 * ?", from, 2), ["2026-01-15T00:00:00.000Z", "2026-02-15T00:00:00.000Z"])
    })

    it("the day-field rule: either field when both restrict, both when one starts with *", () => {
      // The 13th, and every Friday.
      assert.deepStrictEqual(isoFires("0 0 13 * FRI", from, 3), ["2026-01-02T00:00:00.000Z", "2026-01-09T00:00:00.000Z", "2026-01-13T00:00:00.000Z"])
      // "*/13" (the 1st, 14th and 27th) starts with *: a Friday that is one of them.
      assert.deepStrictEqual(isoFires("0 0 */13 * FRI", from, 2), ["2026-02-27T00:00:00.000Z", "2026-03-27T00:00:00.000Z"])
    })

    it("SUN is 0, and 7 at the end of a range: SAT-SUN, FRI-SUN, 5-7", () => {
      const weekend = ["2026-01-03T00:00:00.000Z", "2026-01-04T00:00:00.000Z", "2026-01-10T00:00:00.000Z"]
      assert.deepStrictEqual(isoFires("0 0 * * SAT-SUN", from, 3), weekend)
      assert.deepStrictEqual(isoFires("0 0 * * 6-7", from, 3), weekend)
      const long = ["2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z", "2026-01-04T00:00:00.000Z", "2026-01-09T00:00:00.000Z"]
      assert.deepStrictEqual(isoFires("0 0 * * FRI-SUN", from, 4), long)
      assert.deepStrictEqual(isoFires("0 0 * * 5-7", from, 4), long)
      assert.deepStrictEqual(isoFires("0 0 * * SUN-SUN", from, 1), ["2026-01-04T00:00:00.000Z"])
    })

    it("H: a value spread by the seed, stable, different for different seeds", () => {
      const minuteOf = (seed: string) => new Date(nextFires(Trigger.cron("H * * * *", { seed }), ms(from), 1)[0]!).getUTCMinutes()
      // The documented hash, computed here: floor(hash("job-a|minutes") * 60).
      assert.strictEqual(minuteOf("job-a"), Math.floor(Oracle.hash("job-a|minutes") * 60))
      assert.strictEqual(minuteOf("job-b"), Math.floor(Oracle.hash("job-b|minutes") * 60))
      assert.notStrictEqual(minuteOf("job-a"), minuteOf("job-b"))
      assert.strictEqual(minuteOf("job-a"), minuteOf("job-a"))
      // Every hour at that minute; with no seed, the seed is "".
      const fires = isoFires("H * * * *", from, 3, { seed: "job-a" })
      assert.deepStrictEqual(fires.map((t) => t.slice(14, 16)), Array(3).fill(String(minuteOf("job-a")).padStart(2, "0")))
      assert.deepStrictEqual(isoFires("H * * * *", from, 2), isoFires("H * * * *", from, 2, { seed: "" }))
    })

    it("H(a-b)/n: every n from an offset the seed picks within a-b", () => {
      const offset = Math.floor(Oracle.hash("job-a|minutes") * 10)
      const minutes = isoFires("H(0-29)/10 * * * *", from, 4, { seed: "job-a" }).map((t) => Number(t.slice(14, 16)))
      assert.deepStrictEqual(minutes, [offset, offset + 10, offset + 20, offset])
      // H in day-of-month picks from 1 to 28, which every month has.
      for (const seed of ["a", "b", "c", "d", "e", "f", "g", "h"]) {
        const day = new Date(nextFires(Trigger.cron("0 0 H * *", { seed }), ms(from), 1)[0]!).getUTCDate()
        assert.strictEqual(day, 1 + Math.floor(Oracle.hash(`${seed}|days`) * 28))
      }
    })

    it("DST rules apply unchanged: the last Sunday of March in Berlin, the first Sunday of November in New York", () => {
      // 02:30 does not exist on 29 March 2026 in Berlin: fires at 03:00 CEST, the end of the gap.
      assert.deepStrictEqual(isoFires("30 2 * * SUNL", from, 1, { timeZone: "Europe/Berlin" }), ["2026-01-25T01:30:00.000Z"])
      assert.deepStrictEqual(
        isoFires("30 2 * 3 SUNL", from, 1, { timeZone: "Europe/Berlin" }),
        ["2026-03-29T01:00:00.000Z"]
      )
      // 01:30 occurs twice on 1 November 2026 in New York.
      const options = (onDstOverlap: Trigger.DstOverlap) => ({ timeZone: "America/New_York", onDstOverlap })
      assert.deepStrictEqual(isoFires("30 1 * 11 SUN#1", from, 1, options("earlier")), ["2026-11-01T05:30:00.000Z"])
      assert.deepStrictEqual(isoFires("30 1 * 11 SUN#1", from, 1, options("later")), ["2026-11-01T06:30:00.000Z"])
      assert.deepStrictEqual(isoFires("30 1 * 11 SUN#1", from, 2, options("both")), ["2026-11-01T05:30:00.000Z", "2026-11-01T06:30:00.000Z"])
    })

    it("rare expressions answer in microseconds: 29 February on a Sunday", () => {
      assert.deepStrictEqual(isoFires("0 0 29 2 */7", from, 4), [
        "2032-02-29T00:00:00.000Z", "2060-02-29T00:00:00.000Z", "2088-02-29T00:00:00.000Z", "2128-02-29T00:00:00.000Z"
      ])
      const trigger = Trigger.cron("0 0 29 2 */7", { timeZone: "America/New_York" })
      Trigger.next(trigger, ms(from))
      const started = performance.now()
      for (let i = 0; i < 100; i++) Trigger.next(trigger, ms(from) + i * 86_400_000)
      // 50 µs each is the target; a loaded machine gets ten times that.
      assert.isBelow((performance.now() - started) / 100, 0.5)
    })
  })

  it("Job.make seeds H with the job's id, in a new trigger", () => {
    const task = Task.make("report", Schema.Struct({}), () => Effect.void)
    const trigger = Trigger.cron("H H * * *", { timeZone: "Europe/Berlin" })
    if (trigger._tag !== "Cron") return assert.fail("a cron trigger")
    const job = Job.make(task, { id: "report-7", payload: {}, trigger })
    assert.deepStrictEqual(job.trigger, { ...trigger, seed: "report-7" })
    assert.notStrictEqual(job.trigger, trigger)
    assert.isFalse("seed" in trigger)
    assert.deepStrictEqual(
      nextFires(job.trigger, ms("2026-01-01T00:00:00Z"), 3),
      nextFires(Trigger.cron("H H * * *", { timeZone: "Europe/Berlin", seed: "report-7" }), ms("2026-01-01T00:00:00Z"), 3)
    )
    // A seed given is kept; an expression without H is left as it is (THU is no H).
    const seeded = Trigger.cron("H * * * *", { seed: "shared" })
    assert.strictEqual(Job.make(task, { id: "a", payload: {}, trigger: seeded }).trigger, seeded)
    const plain = Trigger.cron("0 9 * * THU")
    assert.strictEqual(Job.make(task, { id: "a", payload: {}, trigger: plain }).trigger, plain)
    // Two jobs of one H expression fire at their own minutes (different here).
    const minuteOf = (id: string) =>
      new Date(nextFires(Job.make(task, { id, payload: {}, trigger: Trigger.cron("H * * * *") }).trigger, 0, 1)[0]!).getUTCMinutes()
    assert.notStrictEqual(minuteOf("job-a"), minuteOf("job-b"))
  })

  it.effect("unsupported or malformed expressions: InvalidCron naming field, position, column and a hint", () =>
    Effect.gen(function*() {
      // [expression, field, position, column, words of the hint]
      const cases: ReadonlyArray<readonly [string, string, number, number, string]> = [
        ["", "expression", 0, 0, "5 fields"],
        ["   ", "expression", 0, 0, "5 fields"],
        ["* * * *", "expression", 4, 7, "5 fields"],
        ["0 0 12 ? * MON 2026", "expression", 6, 15, "years are not supported: drop the 7th field"],
        ["* * * * * * * *", "expression", 6, 12, "drop the extra"],
        ["@often", "expression", 0, 0, "@hourly"],
        ["0 0 L-40 * *", "days", 2, 4, "L-n takes n from 0 to 30"],
        ["0 0 L-32 * *", "days", 2, 4, "L-n takes n from 0 to 30"],
        ["0 0 L- * *", "days", 2, 4, "L-n takes n from 0 to 30"],
        ["0 0 L-3W * *", "days", 2, 4, "L-n and W do not combine"],
        ["0 0 * * 8#1", "weekdays", 4, 8, "0 to 7"],
        ["0 0 * * MON#0", "weekdays", 4, 11, "k in n#k is 1 to 5"],
        ["0 0 * * 6#6", "weekdays", 4, 9, "k in n#k is 1 to 5"],
        ["0 0 * * MON#", "weekdays", 4, 11, "k in n#k is 1 to 5"],
        ["0 0 * * 1-5#2", "weekdays", 4, 11, "n#k takes one weekday"],
        ["0 0 1#2 * *", "days", 2, 5, "weekday field only"],
        ["0 0 32W * *", "days", 2, 4, "nW takes a day from 1 to 31"],
        ["0 0 W * *", "days", 2, 4, "W follows a day"],
        ["0 0 15W-20 * *", "days", 2, 7, "nW stands alone"],
        ["0 0 LW-1 * *", "days", 2, 6, "LW stands alone"],
        ["0 0 5L * *", "days", 2, 4, "goes in the weekday field"],
        ["0 0 * * L", "weekdays", 4, 8, "L follows a weekday"],
        ["L * * * *", "minutes", 0, 0, "L is for day-of-month"],
        ["0 15W * * *", "hours", 1, 2, "W is for day-of-month only"],
        ["H(5-1) * * * *", "minutes", 0, 1, "the range must go up"],
        ["H/0 * * * *", "minutes", 0, 1, "from 1 to 60"],
        ["0 0 H/29 * *", "days", 2, 5, "from 1 to 28"],
        ["H(0-70) * * * *", "minutes", 0, 4, "0 to 59"],
        ["H(0-29 * * * *", "minutes", 0, 0, "write H(a-b)"],
        ["0 0 * * FOO", "weekdays", 4, 8, "SUN to SAT"],
        ["0 0 * FOO *", "months", 3, 6, "JAN to DEC"],
        ["0 0 1,,2 * *", "days", 2, 6, "remove the extra comma"],
        ["0 0 1, * *", "days", 2, 6, "remove the extra comma"],
        ["99999999999999999999 * * * *", "minutes", 0, 0, "0 to 59"],
        ["１ * * * *", "minutes", 0, 0, "write a value"],
        ["1.5 * * * *", "minutes", 0, 1, "write a value"],
        ["0 0 * * \u0000", "weekdays", 4, 8, "write a weekday"],
        ["0 0 30 2 *", "days", 2, 4, "February has 28 or 29"],
        ["0 0 31 4,6,9,11 *", "days", 2, 4, "30"],
        ["0 0 L-29 2 *", "days", 2, 4, "February"],
        ["0 0 */31 2 MON#5", "days", 2, 4, "both day fields"],
        ["0 0 ? * * ?", "hours", 2, 4, "is for day-of-month and weekdays only"],
        ["0 0 1,? * *", "days", 2, 6, "? stands alone"],
        ["5-1 * * * *", "minutes", 0, 0, "5-59,0-1"],
        ["0 22-2 * * *", "hours", 1, 2, "22-23,0-2"],
        ["0 0 * * FRI-MON", "weekdays", 4, 8, "FRI-SUN"],
        ["*/60 * * * *", "minutes", 0, 1, "1 to 59"],
        ["*-3 * * * *", "minutes", 0, 1, "* already means every value"],
        ["0 25 * * *", "hours", 1, 2, "0 to 23"],
        ["60 0 0 * * *", "seconds", 0, 0, "0 to 59"],
        ["0 0 0 * *", "days", 2, 4, "1 to 31"],
        ["0 0 1 13 *", "months", 3, 6, "1 to 12"],
        ["x".repeat(10_000), "expression", 1, 10_000, "5 fields"]
      ]
      for (const [expression, field, position, column, hint] of cases) {
        const reason = yield* reasonOf(expression)
        const context = JSON.stringify(expression.slice(0, 40))
        assert.strictEqual(reason?._tag, "InvalidCron", context)
        if (reason?._tag !== "InvalidCron") continue
        assert.deepStrictEqual([reason.field, reason.position, reason.column], [field, position, column], `${context}: ${reason.message}`)
        assert.include(reason.hint, hint, context)
        assert.include(reason.message, reason.hint, context)
        assert.isBelow(reason.message.length, 400, context)
      }
    }))
})
