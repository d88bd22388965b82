/**
 * Cron expressions for `Trigger`: parsing with errors that name the field,
 * compiling an expression and zone into the small form a trigger keeps
 * (`triggerSchedule` holds it per trigger value), and the zone-aware search
 * for the next fire.
 *
 * Effect's `Cron` defines what an expression means and what matches. A quick
 * parse that agrees with it (`cronParse`) reads the fields into bitsets,
 * Effect's parser reports what is wrong with the others; the search of
 * wall-clock time jumps field by field over the bitsets (`cronFields`), and
 * asks Effect's `Cron.next` (given a zero offset, so it never consults
 * `Intl`) only for matches years ahead. The zone's offsets come from the cached
 * periods of `triggerZone`. Daylight-saving rules:
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
import * as Fields from "./cronFields.ts"
import * as CronParse from "./cronParse.ts"
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
export interface Compiled extends Fields.Fields {
  /** The expression as written, for the rare search Effect answers (see `wallNext`). */
  readonly expression: string
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

interface Written {
  readonly parts: ReadonlyArray<string>
  readonly names: ReadonlyArray<Exclude<CronField, "expression">>
  readonly six: ReadonlyArray<string>
}

// The fields of `expression` as written, their names, and all six (seconds first).
const split = (expression: string): Result.Result<Written, Problem> => {
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
  return Result.succeed({
    parts,
    names: parts.length === 6 ? fields : fields.slice(1),
    six: parts.length === 6 ? parts : ["0", ...parts]
  })
}

// Effect's parse, whose failures name what is wrong: each field parsed
// alone, the others left open, tells which field it is.
const parseByEffect = (
  { names, parts, six }: Written
): Result.Result<Fields.Fields, Problem> => {
  const parsed = Cron.parse(six.join(" "), wallZone)
  if (Result.isFailure(parsed)) {
    for (let position = 0; position < parts.length; position++) {
      const field = names[position]!
      const probe = ["0", "*", "*", "*", "*", "*"]
      probe[fields.indexOf(field)] = parts[position]!
      const result = Cron.parse(probe.join(" "), wallZone)
      if (Result.isFailure(result)) {
        return invalid(field, position, `${field} field "${parts[position]}": ${result.failure.message}`)
      }
    }
    return invalid("expression", 0, parsed.failure.message)
  }
  // Effect's own rule for its `and` flag, which its types do not show: the
  // first item of either day field is "*" (with a step or not).
  const wildcard = (text: string) => text.split(",")[0]!.split("/")[0] === "*"
  return Result.succeed(Fields.fromCron(parsed.success, wildcard(six[3]!) || wildcard(six[5]!)))
}

// Bits 1 to n: the days of a month of n days.
const daysUpTo = (n: number) => (-1 >>> (31 - n)) & ~1

// Days of month checked against weekdays alone are satisfiable, but not days
// no chosen month has (30 February): such a cron never fires. Effect (like
// Vixie cron) requires both day fields to match when one starts with "*"
// (its "and" mode).
const possible = (wall: Fields.Fields): boolean => {
  if (wall.dayMode !== "days" && wall.dayMode !== "and") return true
  for (let month = 1; month <= 12; month++) {
    if ((wall.months >>> month) & 1 && (wall.days & daysUpTo(monthLength[month - 1]!)) !== 0) return true
  }
  return false
}

/**
 * Parses `expression` (5 fields, 6 with seconds first, or an `@alias`) into
 * wall-clock fields, as Effect's `Cron.parse` reads them. `position` in a
 * failure is the 0-based index of the field as written; for the whole
 * expression, the index where a field is missing or surplus.
 *
 * @internal
 */
export const parse = (expression: string): Result.Result<Fields.Fields, Problem> => {
  const quick = CronParse.parse(expression)
  if (quick !== undefined && possible(quick)) return Result.succeed(quick)
  // An alias, an expression Effect rejects or one that never fires: read
  // again, to say what is wrong and where.
  const written = split(expression)
  if (Result.isFailure(written)) return Result.fail(written.failure)
  const { names, parts, six } = written.success
  const again = CronParse.parse(six.join(" "))
  const parsed = again === undefined ? parseByEffect(written.success) : Result.succeed(again)
  if (Result.isFailure(parsed) || possible(parsed.success)) return parsed
  const day = names.indexOf("days")
  return invalid("days", day, `days field "${parts[day]}": no chosen month has these days, so it never fires`)
}

/**
 * Effect's parse of `expression`, for searches years ahead (see `wallNext`)
 * and for tests; `undefined` when it does not parse.
 *
 * @internal
 */
export const parseEffect = (expression: string): Cron.Cron | undefined => {
  const written = split(expression)
  return Result.isFailure(written) ? undefined : Result.getOrUndefined(Cron.parse(written.success.six.join(" "), wallZone))
}

const parseCompiled = (expression: string, timeZone: string): Compiled | Problem => {
  // The quick parse alone for the usual expression (no result to wrap).
  const quick = CronParse.parse(expression)
  let wall: Fields.Fields
  if (quick !== undefined && possible(quick)) {
    wall = quick
  } else {
    const parsed = parse(expression)
    if (Result.isFailure(parsed)) return parsed.failure
    wall = parsed.success
  }
  const zone = Zone.make(timeZone)
  if (zone === undefined) return { _tag: "UnknownTimeZone" }
  // One flat object, of one shape whichever parse read it (so the search
  // reads its fields fast): a trigger keeps it as long as its job is held.
  return {
    secondsLow: wall.secondsLow,
    secondsHigh: wall.secondsHigh,
    minutesLow: wall.minutesLow,
    minutesHigh: wall.minutesHigh,
    hours: wall.hours,
    months: wall.months,
    days: wall.days,
    weekdays: wall.weekdays,
    dayMode: wall.dayMode,
    firstSecond: wall.firstSecond,
    firstMinute: wall.firstMinute,
    expression,
    zone,
    hoursRestricted: wall.hours !== 0xffffff
  }
}

// By zone, then by expression: no key to build (and hash) per lookup.
const cache = new Map<string, Map<string, Compiled | Problem>>()
let cached = 0
const maxCached = 4_096

/**
 * The expression in its zone, compiled (or what is wrong with it: a value
 * with a `_tag`), from a bounded cache (so that triggers of one expression
 * share it). Callers keep the result with the
 * trigger value (see `triggerSchedule`), so a job's trigger is compiled once
 * whatever the number of distinct expressions.
 *
 * @internal
 */
export const compile = (expression: string, timeZone: string): Compiled | Problem => {
  const known = cache.get(timeZone)?.get(expression)
  if (known !== undefined) return known
  const result = parseCompiled(expression, timeZone)
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
  zone.set(expression, result)
  cached++
  return result
}

// Effect's parsed crons, for the searches beyond the horizon of `cronFields`
// (crons that fire once in years): few, so a small bounded cache.
const effectCrons = new Map<string, Cron.Cron | undefined>()
const maxEffectCrons = 256

const effectCron = (expression: string): Cron.Cron | undefined => {
  if (effectCrons.has(expression)) return effectCrons.get(expression)
  const cron = parseEffect(expression)
  if (effectCrons.size >= maxEffectCrons) effectCrons.delete(effectCrons.keys().next().value!)
  effectCrons.set(expression, cron)
  return cron
}

/**
 * Effect's answer for the first wall time strictly after `wall` that
 * matches, or `undefined` when it finds none (or the date is out of range).
 * The reference `wallNext` agrees with (see test/CronFields.test.ts).
 *
 * @internal
 */
export const effectWallNext = (cron: Cron.Cron, wall: number): number | undefined => {
  try {
    const next = Cron.next(cron, wall).getTime()
    return Number.isFinite(next) ? next : undefined
  } catch {
    return undefined
  }
}

const maxWall = 8.64e15

/**
 * The first wall time strictly after `wall` that matches, or `undefined`
 * when there is none Effect can find (or the date is out of range).
 *
 * @internal
 */
export const wallNext = (compiled: Compiled, wall: number): number | undefined => {
  const found = Fields.next(compiled, wall)
  if (found !== Fields.beyond) return Math.abs(found) <= maxWall ? found : undefined
  const cron = effectCron(compiled.expression)
  return cron === undefined ? undefined : effectWallNext(cron, wall)
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
