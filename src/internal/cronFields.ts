/**
 * The fields of a parsed cron expression as bitsets, and the search for the
 * next matching wall-clock second by jumping field by field: month by
 * month, then day by day within a month's mask of matching days
 * (`cronDays`), then hour, minute and second by their masks.
 *
 * A job's trigger keeps these few numbers (about a hundred bytes) and the
 * search does integer arithmetic on civil dates: a fraction of a microsecond
 * for the usual crons. It needs no fallback: the Gregorian calendar repeats
 * every 400 years (146,097 days, a whole number of weeks), so an expression
 * that can match at all (`cronDays.possible`, checked when it is parsed)
 * matches within 400 years and a day of any instant, and the search visits
 * at most the chosen months of those years.
 *
 * Wall-clock times are epoch milliseconds read as UTC ("wall ms").
 *
 * @internal
 */
import * as Days from "./cronDays.ts"

/** @internal */
export type DayMode = Days.DayMode

/** @internal */
export const dayModeOf = Days.dayModeOf

/** @internal */
export interface Fields extends Days.DayFields {
  /** Seconds 0-29 and 30-59 (bit `s` or `s - 30`), likewise minutes. */
  readonly secondsLow: number
  readonly secondsHigh: number
  readonly minutesLow: number
  readonly minutesHigh: number
  /** Bit `h` for hour h (0-23), bit `m` for month m (1-12). */
  readonly hours: number
  readonly months: number
  readonly firstSecond: number
  readonly firstMinute: number
}

// The smallest set bit at or above `from` in a 32-bit mask, or -1.
const next32 = (mask: number, from: number): number => {
  if (from > 31) return -1
  const rest = mask & (-1 << from)
  return rest === 0 ? -1 : 31 - Math.clz32(rest & -rest)
}

/** The smallest of 60 values (two halves of 30 bits) at or above `from`, or -1. @internal */
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

/** How far ahead {@link next} looks, in days: a 400-year cycle and a day. */
const horizon = 146_097 + 1

/**
 * The first whole wall-clock second strictly after `wall` (as a `Date` reads
 * it: truncated to whole milliseconds) whose fields match, in wall ms;
 * `undefined` when none is within 400 years and a day (never, for fields
 * that `cronDays.possible` accepts).
 *
 * @internal
 */
export const next = (fields: Fields, wall: number): number | undefined => {
  const start = Math.floor(Math.trunc(wall) / 1_000) + 1
  const startDay = Math.floor(start / 86_400)
  const limit = startDay + horizon
  let [year, month, day] = Days.civilFromDays(startDay)
  let timeOfDay = start - startDay * 86_400
  while (Days.daysFromCivil(year, month, 1) <= limit) {
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
    const mask = Days.dayMask(fields, year, month)
    let found = next32(mask, day)
    if (found > day) timeOfDay = 0
    while (found >= 0) {
      const time = timeInDay(fields, Math.floor(timeOfDay / 3_600), Math.floor(timeOfDay / 60) % 60, timeOfDay % 60)
      if (time >= 0) return (Days.daysFromCivil(year, month, found) * 86_400 + time) * 1_000
      // Nothing later that day: the next matching day, from its first second.
      found = next32(mask, found + 1)
      timeOfDay = 0
    }
    month++
    if (month > 12) {
      year++
      month = 1
    }
    day = 1
    timeOfDay = 0
  }
  return undefined
}

/**
 * Whether the wall-clock time `wall` matches the fields.
 *
 * @internal
 */
export const matches = (fields: Fields, wall: number): boolean => {
  const second = Math.floor(Math.trunc(wall) / 1_000)
  const days = Math.floor(second / 86_400)
  const timeOfDay = second - days * 86_400
  const [year, month, day] = Days.civilFromDays(days)
  if (((fields.months >>> month) & 1) === 0 || ((Days.dayMask(fields, year, month) >>> day) & 1) === 0) return false
  return timeInDay(fields, Math.floor(timeOfDay / 3_600), Math.floor(timeOfDay / 60) % 60, timeOfDay % 60) ===
    timeOfDay
}
