/**
 * Cron expressions for `Trigger`: parsing with errors that name the field,
 * a bounded cache of parsed expressions, and the zone-aware search for the
 * next fire.
 *
 * Effect's `Cron` parses the fields and searches wall-clock time (it is given
 * a zero offset, so it never consults `Intl`); the zone's offsets come from
 * the cached periods of `triggerZone`. Daylight-saving rules:
 *
 * - a repeated wall time fires by the `onDstOverlap` policy ("earlier": first
 *   occurrence, "later": second, "both": both);
 * - skipped wall times (clocks go forward) fire once, at the first instant
 *   after the gap, when the hours field is restricted; when every hour is
 *   allowed they are dropped, as the next fire is at most an hour away. This
 *   is what Vixie cron and croner do for fixed-time and for every-hour jobs.
 *
 * @internal
 */
import * as Cron from "effect/Cron"
import * as DateTime from "effect/DateTime"
import * as Result from "effect/Result"
import * as Zone from "./triggerZone.ts"

/** @internal */
export type CronField = "seconds" | "minutes" | "hours" | "days" | "months" | "weekdays" | "expression"

/** @internal */
export type DstOverlap = "earlier" | "later" | "both"

/** @internal */
export type Problem =
  | {
    readonly _tag: "InvalidCron"
    readonly field: CronField
    readonly position: number
    readonly message: string
  }
  | { readonly _tag: "UnknownTimeZone" }

/** @internal */
export interface Compiled {
  /** The fields, matched against wall-clock time. */
  readonly wall: Cron.Cron
  readonly zone: Zone.Zone
  /** Whether some hour of the day is excluded (then skipped times fire after the gap). */
  readonly hoursRestricted: boolean
}

/** @internal */
export const aliases: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
  "@minutely": "* * * * *",
  "@secondly": "* * * * * *"
}

const fields = ["seconds", "minutes", "hours", "days", "months", "weekdays"] as const
const monthLength = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
const wallZone = DateTime.zoneMakeOffset(0)

const invalid = (field: CronField, position: number, message: string): Result.Result<never, Problem> =>
  Result.fail({ _tag: "InvalidCron", field, position, message })

/**
 * Parses `expression` (5 fields, 6 with seconds first, or an `@alias`) into
 * wall-clock fields. `position` in a failure is the 0-based index of the
 * field as written; for the whole expression, the index where a field is
 * missing or surplus.
 *
 * @internal
 */
export const parse = (expression: string): Result.Result<Cron.Cron, Problem> => {
  const trimmed = expression.trim()
  let source = trimmed
  if (trimmed.startsWith("@")) {
    const expanded = aliases[trimmed.toLowerCase()]
    if (expanded === undefined) {
      return invalid("expression", 0, `unknown alias "${trimmed}" (known: ${Object.keys(aliases).join(", ")})`)
    }
    source = expanded
  }
  const parts = source.split(/\s+/).filter((part) => part.length > 0)
  if (parts.length < 5 || parts.length > 6) {
    const position = Math.min(parts.length, 6)
    return invalid("expression", position, `expected 5 or 6 fields, found ${parts.length}`)
  }
  const names = parts.length === 6 ? fields : fields.slice(1)
  const six = parts.length === 6 ? parts : ["0", ...parts]
  // Effect's parser reports only a message: parse each field alone, the
  // others left open, to learn which one is wrong.
  for (let position = 0; position < parts.length; position++) {
    const field = names[position]!
    const probe = ["0", "*", "*", "*", "*", "*"]
    probe[fields.indexOf(field)] = parts[position]!
    const result = Cron.parse(probe.join(" "), wallZone)
    if (Result.isFailure(result)) {
      return invalid(field, position, `${field} field "${parts[position]}": ${result.failure.message}`)
    }
  }
  const parsed = Cron.parse(six.join(" "), wallZone)
  if (Result.isFailure(parsed)) return invalid("expression", 0, parsed.failure.message)
  const cron = parsed.success
  // Days of month checked against weekdays alone are satisfiable, but not
  // days no chosen month has (30 February): such a cron never fires.
  const day = names.indexOf("days")
  const weekday = names.indexOf("weekdays")
  // Effect (like Vixie cron) requires both day fields to match when one starts with "*".
  const both = parts[day]!.startsWith("*") || parts[weekday]!.startsWith("*")
  if (cron.days.size > 0 && (cron.weekdays.size === 0 || both)) {
    const months = cron.months.size > 0 ? [...cron.months] : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    const possible = months.some((month) => [...cron.days].some((d) => d <= monthLength[month - 1]!))
    if (!possible) {
      return invalid("days", day, `days field "${parts[day]}": no chosen month has these days, so it never fires`)
    }
  }
  return Result.succeed(cron)
}

const cache = new Map<string, Result.Result<Compiled, Problem>>()
const maxCached = 4_096

/**
 * The parsed expression in its zone, from a bounded cache.
 *
 * @internal
 */
export const compile = (expression: string, timeZone: string): Result.Result<Compiled, Problem> => {
  const key = `${expression}\u0000${timeZone}`
  const cached = cache.get(key)
  if (cached !== undefined) return cached
  const zone = Zone.make(timeZone)
  const result: Result.Result<Compiled, Problem> = Result.flatMap(
    parse(expression),
    (wall) =>
      zone === undefined
        ? Result.fail({ _tag: "UnknownTimeZone" })
        : Result.succeed({ wall, zone, hoursRestricted: wall.hours.size > 0 && wall.hours.size < 24 })
  )
  if (cache.size >= maxCached) cache.delete(cache.keys().next().value!)
  cache.set(key, result)
  return result
}

/**
 * The first wall time strictly after `wall` that matches, or `undefined`
 * when there is none Effect can find (or the date is out of range).
 *
 * @internal
 */
export const wallNext = (compiled: Compiled, wall: number): number | undefined => {
  try {
    const next = Cron.next(compiled.wall, wall).getTime()
    return Number.isFinite(next) ? next : undefined
  } catch {
    return undefined
  }
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
  Cron.match(compiled.wall, at + Zone.offsetAt(compiled.zone, at))
