/**
 * Calendar intervals for `Trigger`: fires a whole number of days, months or
 * years apart in wall-clock time of a zone (`Trigger.every("1 month")`).
 *
 * Fire `k` (any integer: the grid extends before the anchor, as intervals'
 * does) is the anchor's wall-clock date and time plus `k * count` units:
 * - months and years are added to the year and month of the anchor's wall
 *   date, never to the previous fire, and the day of the month is the
 *   anchor's, clamped to the month's last day (an anchor on 31 January fires
 *   on 28 or 29 February, then on 31 March);
 * - days are added to the wall date, so the wall time of day stays the
 *   anchor's across daylight saving (24 hours apart in UTC, 23 or 25 hours
 *   apart across a change);
 * - the wall time is then read in the zone as cron fires are: a time in a
 *   spring-forward gap fires at the end of the gap (the first instant after
 *   it), a time that occurs twice fires once, at its first occurrence.
 *
 * Without an anchor the grid starts at midnight, 1 January 1970, wall time
 * in the zone (monthly fires at 00:00 on the 1st). Wall times are epoch
 * milliseconds read as UTC ("wall ms"), as in `triggerZone`.
 *
 * @internal
 */
import * as Zone from "./triggerZone.ts"

/** @internal */
type Unit = "day" | "month" | "year"

const DAY = Zone.DAY

/**
 * Wall times of fires stay two days inside the range of `Date` (as cron
 * searches do), so that every fire and its wall time are dates.
 *
 * @internal
 */
export const limit = 8.64e15 - 2 * DAY

// The largest year whose dates all lie in the Date range, give or take.
const maxYear = 275_760

/** @internal */
export interface Compiled {
  readonly unit: Unit
  readonly count: number
  readonly zone: Zone.Zone
  /** The anchor's wall time. */
  readonly wall: number
  /** The anchor's wall date as `year * 12 + month` (month 0-11). */
  readonly months: number
  /** The anchor's day of the month, 1-31. */
  readonly day: number
  /** The anchor's wall time of day, in milliseconds since midnight. */
  readonly time: number
}

const monthLengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0

/**
 * The number of days in `month` (0-11) of `year`.
 *
 * @internal
 */
export const daysIn = (year: number, month: number): number =>
  month === 1 && isLeap(year) ? 29 : monthLengths[month]!

// Midnight of a wall date; `setUTCFullYear`, not `Date.UTC`, which reads years 0-99 as 1900-1999.
const dateMs = (year: number, month: number, day: number): number => new Date(0).setUTCFullYear(year, month, day)

/**
 * A calendar interval of `count` units in `zone`, anchored at instant
 * `anchor` (or at wall midnight, 1 January 1970). An anchor whose wall time
 * is not a date (within a day of the end of the Date range) has no fires.
 *
 * @internal
 */
export const compile = (unit: Unit, count: number, zone: Zone.Zone, anchor: number | undefined): Compiled => {
  const wall = anchor === undefined ? 0 : anchor + Zone.offsetAt(zone, anchor)
  const date = new Date(wall)
  const time = wall - Math.floor(wall / DAY) * DAY
  return { unit, count, zone, wall, months: date.getUTCFullYear() * 12 + date.getUTCMonth(), day: date.getUTCDate(), time }
}

/**
 * The wall time fire `k` asks for, and whether its day of the month was
 * clamped; `-Infinity` or `Infinity` when it falls before or after the range
 * of fires (so that fires stay monotonic in `k`).
 *
 * @internal
 */
export const wallOf = (calendar: Compiled, k: number): { readonly wall: number; readonly clamped: boolean } => {
  if (calendar.unit === "day") {
    // Exact: `k * count * DAY` is a multiple of 2^10 well below 2^63.
    const wall = calendar.wall + k * calendar.count * DAY
    return { wall: Math.abs(wall) <= limit ? wall : wall < 0 ? -Infinity : Infinity, clamped: false }
  }
  const months = calendar.months + k * calendar.count * (calendar.unit === "year" ? 12 : 1)
  const year = Math.floor(months / 12)
  if (!(Math.abs(year) <= maxYear)) return { wall: months < 0 ? -Infinity : Infinity, clamped: false }
  const month = months - year * 12
  const day = Math.min(calendar.day, daysIn(year, month))
  const wall = dateMs(year, month, day) + calendar.time
  return { wall: Math.abs(wall) <= limit ? wall : year < 1970 ? -Infinity : Infinity, clamped: day !== calendar.day }
}

/**
 * The instant at which wall time `wall` fires in `zone`: the time itself, the
 * end of the gap when clocks skip it, its first occurrence when it repeats.
 *
 * @internal
 */
export const instantOf = (zone: Zone.Zone, wall: number): number => {
  if (!Number.isFinite(wall)) return wall
  if (zone.fixed !== undefined) return wall - zone.fixed
  const resolved = Zone.resolve(zone, wall)
  return resolved._tag === "Fold" ? resolved.earlier : resolved.at
}

/**
 * The instant of fire `k` (±Infinity beyond the range of fires).
 *
 * @internal
 */
const fireAt = (calendar: Compiled, k: number): number => instantOf(calendar.zone, wallOf(calendar, k).wall)

/**
 * The index of the first fire strictly after `after`, or `undefined` when
 * there is none in range.
 *
 * @internal
 */
export const indexAfter = (calendar: Compiled, after: number): number | undefined => {
  if (!Number.isFinite(calendar.wall) || Number.isNaN(calendar.months) || Number.isNaN(after)) return undefined
  const bounded = Math.min(Math.max(after, -limit), limit)
  const wall = bounded + Zone.offsetAt(calendar.zone, bounded)
  // An estimate from the wall dates, off by a step or two at most (clamps
  // and offsets), corrected below; fires are increasing in `k`.
  let k: number
  if (calendar.unit === "day") {
    k = Math.floor((wall - calendar.wall) / (calendar.count * DAY))
  } else {
    const date = new Date(wall)
    const months = date.getUTCFullYear() * 12 + date.getUTCMonth() - calendar.months
    k = Math.floor(months / (calendar.count * (calendar.unit === "year" ? 12 : 1)))
  }
  for (let i = 0; i < 64 && fireAt(calendar, k) <= after; i++) k++
  for (let i = 0; i < 64 && fireAt(calendar, k - 1) > after; i++) k--
  const fire = fireAt(calendar, k)
  return Number.isFinite(fire) && fire > after ? k : undefined
}

/**
 * The first fire strictly after `after`, or `undefined`.
 *
 * @internal
 */
export const next = (calendar: Compiled, after: number): number | undefined => {
  const k = indexAfter(calendar, after)
  return k === undefined ? undefined : fireAt(calendar, k)
}

/**
 * The shortest time between two consecutive fires by the calendar, in
 * milliseconds, before daylight saving: `count` days of 24 hours; for
 * months, the shortest run of `count` consecutive months (28 days for one,
 * 59 for two, 89 for three, 365 for twelve; clamping never makes a period
 * shorter than that); `count` years of 365 days. A change of UTC offset
 * between two fires shortens their period by its size (an hour in most
 * zones).
 *
 * @internal
 */
export const shortestPeriod = (unit: Unit, count: number): number => {
  if (unit === "day") return count * DAY
  if (unit === "year") return count * 365 * DAY
  const years = Math.floor(count / 12)
  const rest = count - years * 12
  let shortest = rest === 0 ? 0 : Infinity
  for (let first = 0; first < 12 && rest > 0; first++) {
    let days = 0
    for (let i = 0; i < rest; i++) days += monthLengths[(first + i) % 12]!
    shortest = Math.min(shortest, days)
  }
  return (years * 365 + shortest) * DAY
}
