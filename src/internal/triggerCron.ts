/**
 * Cron expressions for `Trigger`: parsing (`cronParse`, whose problems name
 * the field, its position, the column and what to write instead),
 * compiling an expression and zone into the small form a trigger keeps
 * (`triggerSchedule` holds it per trigger value), and the zone-aware search
 * for the next fire.
 *
 * The search of wall-clock time jumps field by field over bitsets
 * (`cronFields`): within 400 years and a day it finds the next match of any
 * expression the parse accepts (the Gregorian calendar repeats every 400
 * years), so it needs no other search. The zone's offsets come from the
 * cached periods of `triggerZone`. Daylight-saving rules, the same whatever
 * the fields use (`L`, `W`, `#` and `H` only choose which days and values
 * match):
 *
 * - a repeated wall time fires by the `onDstOverlap` policy ("earlier": first
 *   occurrence, "later": second, "both": both);
 * - skipped wall times (clocks go forward) fire once, at the first instant
 *   after the gap, when the hours field is restricted (it does not allow
 *   all 24 hours: `*\/7` restricts); when every hour is allowed they are
 *   dropped, as the next fire is at most an hour away. This is what Vixie
 *   cron and croner do for fixed-time and for every-hour jobs.
 *
 * @internal
 */
import * as CronParse from "./cronParse.ts"
import * as Fields from "./cronFields.ts"
import * as Zone from "./triggerZone.ts"

/** @internal */
export type CronField = CronParse.CronField

/** @internal */
export type DstOverlap = "earlier" | "later" | "both"

/** @internal */
export type Problem = CronParse.Problem | { readonly _tag: "UnknownTimeZone" }

/** @internal */
export interface Compiled extends Fields.Fields {
  readonly zone: Zone.Zone
  /** Whether some hour of the day is excluded (then skipped times fire after the gap). */
  readonly hoursRestricted: boolean
}

/** @internal */
export const aliases = CronParse.aliases

/**
 * Whether the fires of `expression` depend on a seed (it uses `H`).
 *
 * @internal
 */
export const usesHash = CronParse.usesHash

/**
 * Parses `expression` (5 fields, 6 with seconds first, or a nickname) into
 * wall-clock fields, `H` spread by `seed` ("" when there is none). `position`
 * in a failure is the 0-based index of the field as written; for the whole
 * expression, the index where a field is missing or surplus (0 for a
 * nickname).
 *
 * @internal
 */
export const parse = (expression: string, seed = ""): Fields.Fields | CronParse.Problem =>
  CronParse.parse(expression, seed)

const parseCompiled = (expression: string, timeZone: string, seed: string): Compiled | Problem => {
  const wall = CronParse.parse(expression, seed)
  if ("_tag" in wall) return wall
  const zone = Zone.make(timeZone)
  if (zone === undefined) return { _tag: "UnknownTimeZone" }
  // One flat object of one shape (so the search reads its fields fast): a
  // trigger keeps it as long as its job is held.
  return {
    secondsLow: wall.secondsLow,
    secondsHigh: wall.secondsHigh,
    minutesLow: wall.minutesLow,
    minutesHigh: wall.minutesHigh,
    hours: wall.hours,
    months: wall.months,
    days: wall.days,
    lastDays: wall.lastDays,
    nearest: wall.nearest,
    weekdays: wall.weekdays,
    weekdayNth: wall.weekdayNth,
    weekdayLate: wall.weekdayLate,
    dayMode: wall.dayMode,
    firstSecond: wall.firstSecond,
    firstMinute: wall.firstMinute,
    zone,
    hoursRestricted: wall.hours !== 0xffffff
  }
}

// By zone, then by expression (and seed, for expressions with H): no key
// to build (and hash) per lookup for the usual expression.
const cache = new Map<string, Map<string, Compiled | Problem>>()
let cached = 0
const maxCached = 4_096

/**
 * The expression in its zone, compiled (or what is wrong with it: a value
 * with a `_tag`), from a bounded cache (so that triggers of one expression
 * share it), keyed on the seed too when the expression uses `H`. Callers
 * keep the result with the trigger value (see `triggerSchedule`), so a
 * job's trigger is compiled once whatever the number of distinct
 * expressions.
 *
 * @internal
 */
export const compile = (expression: string, timeZone: string, seed = ""): Compiled | Problem => {
  // The seed's length first, so that no two (seed, expression) pairs share a key.
  const key = usesHash(expression) ? `${seed.length}:${seed}|${expression}` : expression
  const known = cache.get(timeZone)?.get(key)
  if (known !== undefined) return known
  const result = parseCompiled(expression, timeZone, seed)
  // Cleared when full: evicting the oldest key of a Map one by one costs a
  // scan over the holes it leaves.
  if (cached >= maxCached) {
    cache.clear()
    cached = 0
  }
  let zone = cache.get(timeZone)
  if (zone === undefined) {
    zone = new Map()
    cache.set(timeZone, zone)
  }
  zone.set(key, result)
  cached++
  return result
}

const maxWall = 8.64e15

/**
 * The first wall time strictly after `wall` that matches, or `undefined`
 * when there is none (out of the Date range).
 *
 * @internal
 */
export const wallNext = (compiled: Compiled, wall: number): number | undefined => {
  const found = Fields.next(compiled, wall)
  return found !== undefined && Math.abs(found) <= maxWall ? found : undefined
}

const budget = 10_000

const nextSingle = (compiled: Compiled, after: number, policy: "earlier" | "later"): number | undefined => {
  const zone = compiled.zone
  if (zone.fixed !== undefined) {
    const wall = wallNext(compiled, after + zone.fixed)
    return wall === undefined ? undefined : wall - zone.fixed
  }
  const offset = Zone.offsetAt(zone, after)
  let cursor = after + offset
  if (policy === "later" && Zone.offsetAt(zone, after + Zone.DAY) < offset) {
    // Clocks go back within a day: second occurrences of wall times before
    // the current one are still ahead, so search from the repeated range.
    const transition = Zone.transitionIn(zone, after, after + Zone.DAY)
    cursor = Math.min(cursor, transition + Zone.offsetAt(zone, transition) - 1)
  }
  for (let i = 0; i < budget; i++) {
    const wall = wallNext(compiled, cursor)
    if (wall === undefined) return undefined
    const resolved = Zone.resolve(zone, wall)
    cursor = wall
    switch (resolved._tag) {
      case "Single": {
        if (resolved.at > after) return resolved.at
        break
      }
      case "Fold": {
        const at = policy === "earlier" ? resolved.earlier : resolved.later
        if (at > after) return at
        if (policy === "earlier") {
          // Past the transition, no first occurrence in this range is ahead.
          const transition = Zone.transitionIn(zone, resolved.earlier, resolved.later)
          cursor = Math.max(wall, transition + Zone.offsetAt(zone, transition - 1) - 1)
        }
        break
      }
      case "Gap": {
        if (compiled.hoursRestricted && resolved.at > after) return resolved.at
        cursor = Math.max(wall, resolved.at + Zone.offsetAt(zone, resolved.at) - 1)
        break
      }
    }
  }
  return undefined
}

/**
 * The first fire strictly after `after` under the overlap policy.
 *
 * @internal
 */
export const next = (compiled: Compiled, after: number, policy: DstOverlap): number | undefined => {
  if (policy !== "both") return nextSingle(compiled, after, policy)
  // Both occurrences fire: the union of the two single-occurrence schedules.
  const earlier = nextSingle(compiled, after, "earlier")
  const later = nextSingle(compiled, after, "later")
  if (earlier === undefined) return later
  if (later === undefined) return earlier
  return Math.min(earlier, later)
}

/**
 * Whether the zone's clocks show a matching wall time at `at` (false for a
 * fire moved to the end of a gap).
 *
 * @internal
 */
export const isNominal = (compiled: Compiled, at: number): boolean =>
  Fields.matches(compiled, at + Zone.offsetAt(compiled.zone, at))
