/**
 * Time-zone arithmetic for `Trigger`: UTC offsets with a per-zone cache, and
 * resolution of a wall-clock time to the instants that show it.
 *
 * Asking `Intl` for an offset costs microseconds, and a cron search asks many
 * times, so each zone keeps the periods of constant offset it has already
 * discovered (exact transition instants found by bisection). Wall-clock times
 * are represented as epoch milliseconds read as UTC ("wall ms").
 *
 * Assumption, true of every IANA zone in use: two offset changes are never
 * less than a day apart.
 *
 * @internal
 */
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"

/** @internal */
export const DAY = 86_400_000

interface Period {
  readonly start: number
  readonly end: number
  readonly offset: number
}

/** @internal */
export interface Zone {
  readonly id: string
  readonly tz: DateTime.TimeZone
  /** The offset when it never changes (UTC and fixed offsets). */
  readonly fixed: number | undefined
  /** Discovered periods, sorted and disjoint. */
  readonly periods: Array<Period>
}

const zones = new Map<string, Zone>()
const maxZones = 1_024
const maxPeriods = 4_096
const probeStep = DAY
const probeCount = 96

/**
 * The zone named `id` (IANA name or fixed offset such as `+02:00`), or
 * `undefined` when the runtime does not know it.
 *
 * @internal
 */
export const make = (id: string): Zone | undefined => {
  const cached = zones.get(id)
  if (cached !== undefined) return cached
  const tz = Option.getOrUndefined(DateTime.zoneFromString(id))
  if (tz === undefined || (DateTime.isTimeZoneOffset(tz) && !isOffset(id))) return undefined
  const fixed = DateTime.isTimeZoneOffset(tz) ? tz.offset : tz.id === "UTC" || tz.id === "Etc/UTC" ? 0 : undefined
  const zone: Zone = { id, tz, fixed, periods: [] }
  if (zones.size >= maxZones) zones.clear()
  zones.set(id, zone)
  return zone
}

// `DateTime.zoneFromString` reads "+25:00" as 25 hours, "+99:99" as 100
// hours and 39 minutes, and "+xx05:00" as five hours (it matches only the
// end). A fixed offset here is `±HH:MM` or `±HHMM`, optionally after "GMT",
// with minutes below 60 and at most 18 hours, as ISO 8601 and Temporal allow.
const offsetPattern = /^(?:GMT)?[+-](\d{2}):?(\d{2})$/
const isOffset = (id: string): boolean => {
  const match = offsetPattern.exec(id)
  if (match === null) return false
  const hours = Number(match[1])
  const minutes = Number(match[2])
  return minutes < 60 && hours * 60 + minutes <= 18 * 60
}

// Probes near the ends of the Date range are clamped a day inside it, where
// the wall time is a date too.
const limit = 8.64e15 - DAY
const intlOffset = (zone: Zone, t: number): number =>
  DateTime.zonedOffset(DateTime.makeZonedUnsafe(Math.min(Math.max(t, -limit), limit), { timeZone: zone.tz }))

// Smallest whole second in (a, b] with the offset of b, given that the offset
// changes once in (a, b]. Transitions fall on whole seconds.
const bisect = (offsetOf: (t: number) => number, a: number, b: number): number => {
  const before = offsetOf(a)
  let lo = Math.floor(a / 1000)
  let hi = Math.ceil(b / 1000)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (offsetOf(mid * 1000) === before) lo = mid
    else hi = mid
  }
  return hi * 1000
}

// Index of the last period starting at or before t, or -1.
const search = (periods: ReadonlyArray<Period>, t: number): number => {
  let lo = 0
  let hi = periods.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    if (periods[mid]!.start <= t) {
      found = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return found
}

const discover = (zone: Zone, t: number, index: number): Period => {
  const offset = intlOffset(zone, t)
  const floor = index >= 0 ? zone.periods[index]!.end : -Infinity
  const ceiling = index + 1 < zone.periods.length ? zone.periods[index + 1]!.start : Infinity
  const probe = (t: number) => intlOffset(zone, t)
  let start = t
  for (let i = 0; i < probeCount && start > floor; i++) {
    const earlier = Math.max(start - probeStep, floor)
    if (probe(earlier) !== offset) {
      start = bisect(probe, earlier, start)
      break
    }
    start = earlier
  }
  // From t itself, whose offset is known: t + 1 may already be past a
  // transition (t one millisecond before it, or a fraction of one), and a
  // bisection from there would look for the next change and miss this one.
  let end = t
  for (let i = 0; i < probeCount && end < ceiling; i++) {
    const later = Math.min(end + probeStep, ceiling)
    if (probe(later) !== offset) {
      end = bisect(probe, end, later)
      break
    }
    end = later
  }
  const period: Period = { start, end, offset }
  if (zone.periods.length >= maxPeriods) zone.periods.length = 0
  zone.periods.splice(search(zone.periods, start) + 1, 0, period)
  return period
}

/**
 * The zone's UTC offset at instant `t`, in milliseconds.
 *
 * @internal
 */
export const offsetAt = (zone: Zone, t: number): number => {
  if (zone.fixed !== undefined) return zone.fixed
  const index = search(zone.periods, t)
  const period = index >= 0 ? zone.periods[index]! : undefined
  if (period !== undefined && t < period.end) return period.offset
  return discover(zone, t, index).offset
}

/**
 * The instant in (a, b] at which the offset changes, when it changes once.
 *
 * @internal
 */
export const transitionIn = (zone: Zone, a: number, b: number): number => bisect((t) => offsetAt(zone, t), a, b)

/**
 * The instants at which the zone's clocks show wall time `wall`: one, two (a
 * repeated time when clocks go back) or none (a time skipped when clocks go
 * forward, with the transition `at` that skipped it).
 *
 * @internal
 */
export type Resolution =
  | { readonly _tag: "Single"; readonly at: number }
  | { readonly _tag: "Fold"; readonly earlier: number; readonly later: number }
  | { readonly _tag: "Gap"; readonly at: number }

/** @internal */
export const resolve = (zone: Zone, wall: number): Resolution => {
  // The offsets a day either side bound the two readings a wall time can have.
  const before = offsetAt(zone, wall - DAY)
  const after = offsetAt(zone, wall + DAY)
  if (before === after) return { _tag: "Single", at: wall - before }
  const first = wall - before
  const second = wall - after
  const firstValid = offsetAt(zone, first) === before
  const secondValid = offsetAt(zone, second) === after
  if (firstValid && secondValid) {
    return before > after ? { _tag: "Fold", earlier: first, later: second } : { _tag: "Single", at: first }
  }
  if (firstValid) return { _tag: "Single", at: first }
  if (secondValid) return { _tag: "Single", at: second }
  // Clocks went forward: the wall time lies in the gap, which ends at the
  // transition between the two readings.
  return { _tag: "Gap", at: transitionIn(zone, Math.min(first, second), Math.max(first, second)) }
}
