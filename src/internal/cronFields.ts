/**
 * The fields of a parsed cron expression as bitsets, and the search for the
 * next matching wall-clock second by jumping field by field.
 *
 * Effect's `Cron` defines what matches (its `Cron.match`); its `Cron.next`
 * steps through `Date` objects and costs tens of microseconds. A job's trigger keeps these few numbers instead (about a
 * hundred bytes, where an Effect `Cron` holds sets and lookup tables), and
 * the search does integer arithmetic on civil dates: a fraction of a
 * microsecond for the usual crons.
 *
 * The search answers only within a horizon in which Effect's bounded search
 * surely answers too (see {@link next}); beyond it, the caller asks Effect,
 * so results are the same in every case.
 *
 * Wall-clock times are epoch milliseconds read as UTC ("wall ms").
 *
 * @internal
 */
import type * as Cron from "effect/Cron"

/**
 * How the day-of-month and weekday fields combine (as in `Cron.match`):
 * either may be unrestricted; when both are restricted a day matches one of
 * them, or both when the expression says so (a field starting with "*").
 *
 * @internal
 */
export type DayMode = "any" | "days" | "weekdays" | "or" | "and"

/**
 * How the two day fields combine: either alone restricts, both restrict
 * together (`and`, Effect's rule when one of them is a wildcard step) or
 * either one (`or`, cron's rule). @internal
 */
export const dayModeOf = (days: boolean, weekdays: boolean, and: boolean): DayMode =>
  !days ? (weekdays ? "weekdays" : "any") : !weekdays ? "days" : and ? "and" : "or"

/** @internal */
export interface Fields {
  /** Seconds 0-29 and 30-59 (bit `s` or `s - 30`), likewise minutes. */
  readonly secondsLow: number
  readonly secondsHigh: number
  readonly minutesLow: number
  readonly minutesHigh: number
  /** Bit `h` for hour h, bit `m` for month m (1-12), bit `d` for day d (1-31), bit `w` for weekday w (0 Sunday). */
  readonly hours: number
  readonly months: number
  readonly days: number
  readonly weekdays: number
  readonly dayMode: DayMode
  readonly firstSecond: number
  readonly firstMinute: number
}

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

// Sixty values in two halves of 30 bits, so that every half is a positive small integer.
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

/**
 * The fields of `cron` (parsed by Effect) as bitsets; `and` when both day
 * fields must match.
 *
 * @internal
 */
export const fromCron = (cron: Cron.Cron, and: boolean): Fields => {
  const [secondsLow, secondsHigh] = halvesOf(cron.seconds)
  const [minutesLow, minutesHigh] = halvesOf(cron.minutes)
  const dayMode = dayModeOf(cron.days.size > 0, cron.weekdays.size > 0, and)
  return {
    secondsLow,
    secondsHigh,
    minutesLow,
    minutesHigh,
    hours: bitsOf(cron.hours, 0, 23),
    months: bitsOf(cron.months, 1, 12),
    days: bitsOf(cron.days, 1, 31),
    // Effect reads 7 as Sunday when it parses; a 7 left in the set never matches, there as here.
    weekdays: cron.weekdays.size === 0 ? 0x7f : bitsOf(cron.weekdays, 0, 6),
    dayMode,
    firstSecond: next60(secondsLow, secondsHigh, 0),
    firstMinute: next60(minutesLow, minutesHigh, 0)
  }
}

// The smallest set bit at or above `from` in a 32-bit mask, or -1.
const next32 = (mask: number, from: number): number => {
  if (from > 31) return -1
  const rest = mask & (-1 << from)
  return rest === 0 ? -1 : 31 - Math.clz32(rest & -rest)
}

const next60 = (low: number, high: number, from: number): number => {
  if (from < 30) {
    const found = next32(low, from)
    if (found >= 0) return found
    const upper = next32(high, 0)
    return upper < 0 ? -1 : upper + 30
  }
  const found = next32(high, from - 30)
  return found < 0 ? -1 : found + 30
}

// Civil dates from and to days since the epoch (proleptic Gregorian, any
// year), after Howard Hinnant's `days_from_civil` and `civil_from_days`.
const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146_097 + dayOfEra - 719_468
}

/** Year, month (1-12) and day of a day since the epoch. */
const civilFromDays = (days: number): readonly [number, number, number] => {
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const dayOfEra = z - era * 146_097
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1_460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365
  )
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100))
  const mp = Math.floor((5 * dayOfYear + 2) / 153)
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return [month <= 2 ? yearOfEra + era * 400 + 1 : yearOfEra + era * 400, month, day]
}

const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
const monthLength = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
const daysIn = (year: number, month: number) => month === 2 && isLeap(year) ? 29 : monthLength[month]!

// 0 Sunday .. 6 Saturday; the epoch was a Thursday.
const weekdayOf = (days: number) => (((days + 4) % 7) + 7) % 7

// Bit d set for the days d of the month that match the day fields.
const dayMask = (fields: Fields, year: number, month: number): number => {
  const length = daysIn(year, month)
  const all = (-1 >>> (31 - length)) & ~1
  if (fields.dayMode === "any") return all
  if (fields.dayMode === "days") return fields.days & all
  // The weekdays of days 1-7, repeated every week.
  const first = weekdayOf(daysFromCivil(year, month, 1))
  let week = 0
  for (let k = 0; k < 7; k++) if ((fields.weekdays >>> ((first + k) % 7)) & 1) week |= 1 << (k + 1)
  const weekdays = (week | (week << 7) | (week << 14) | (week << 21) | (week << 28)) & all
  switch (fields.dayMode) {
    case "weekdays":
      return weekdays
    case "and":
      return weekdays & fields.days
    case "or":
      return (weekdays | fields.days) & all
  }
}

// The first second of the day at or after h:m:s that matches, or -1.
const timeInDay = (fields: Fields, hour: number, minute: number, second: number): number => {
  const h = next32(fields.hours, hour)
  if (h < 0) return -1
  if (h > hour) return h * 3_600 + fields.firstMinute * 60 + fields.firstSecond
  let m = next60(fields.minutesLow, fields.minutesHigh, minute)
  if (m === minute) {
    const s = next60(fields.secondsLow, fields.secondsHigh, second)
    if (s >= 0) return h * 3_600 + m * 60 + s
    m = next60(fields.minutesLow, fields.minutesHigh, minute + 1)
  }
  if (m >= 0) return h * 3_600 + m * 60 + fields.firstSecond
  const later = next32(fields.hours, hour + 1)
  return later < 0 ? -1 : later * 3_600 + fields.firstMinute * 60 + fields.firstSecond
}

/**
 * How far ahead {@link next} answers, in days. Effect's `Cron.next` gives up
 * after 10,000 steps; it steps a day at a time when both day fields must
 * match, and at most a few dozen times a year otherwise. Within these
 * horizons it always answers, so both searches agree.
 */
const horizonAnd = 1_000
const horizonOther = 12 * 366

/** What {@link next} returns when the answer lies beyond its horizon: ask Effect. @internal */
export const beyond = "beyond"

/**
 * The first whole wall-clock second strictly after `wall` (as a `Date` reads
 * it: truncated to whole milliseconds) whose fields match; `beyond` when it
 * is further ahead than the horizon (or there is none), for the caller to
 * ask Effect's search.
 *
 * @internal
 */
export const next = (fields: Fields, wall: number): number | typeof beyond => {
  const start = Math.floor(Math.trunc(wall) / 1_000) + 1
  const startDay = Math.floor(start / 86_400)
  const limit = startDay + (fields.dayMode === "and" ? horizonAnd : horizonOther)
  let [year, month, day] = civilFromDays(startDay)
  let timeOfDay = start - startDay * 86_400
  while (daysFromCivil(year, month, 1) <= limit) {
    if (((fields.months >>> month) & 1) === 0) {
      const later = next32(fields.months, month + 1)
      if (later < 0) {
        year++
        month = next32(fields.months, 1)
      } else {
        month = later
      }
      day = 1
      timeOfDay = 0
      continue
    }
    const found = next32(dayMask(fields, year, month), day)
    if (found >= 0) {
      if (found > day) timeOfDay = 0
      day = found
      const time = timeInDay(fields, Math.floor(timeOfDay / 3_600), Math.floor(timeOfDay / 60) % 60, timeOfDay % 60)
      if (time >= 0) {
        const days = daysFromCivil(year, month, day)
        return days > limit ? beyond : (days * 86_400 + time) * 1_000
      }
      // Nothing later that day: the next matching day, from its first second.
      day++
      timeOfDay = 0
      if (day <= daysIn(year, month)) continue
    }
    month++
    if (month > 12) {
      year++
      month = 1
    }
    day = 1
    timeOfDay = 0
  }
  return beyond
}

/**
 * Whether the wall-clock time `wall` matches the fields (as `Cron.match`).
 *
 * @internal
 */
export const matches = (fields: Fields, wall: number): boolean => {
  const second = Math.floor(Math.trunc(wall) / 1_000)
  const days = Math.floor(second / 86_400)
  const timeOfDay = second - days * 86_400
  const [year, month, day] = civilFromDays(days)
  if (((fields.months >>> month) & 1) === 0 || ((dayMask(fields, year, month) >>> day) & 1) === 0) return false
  return timeInDay(fields, Math.floor(timeOfDay / 3_600), Math.floor(timeOfDay / 60) % 60, timeOfDay % 60) ===
    timeOfDay
}
