/**
 * The arithmetic behind `Trigger`: validity, next fire and jitter, as plain
 * functions over trigger data (`triggerPreview` builds previews on them).
 * `Trigger.ts` wraps them in the public API and turns problems into typed
 * errors.
 *
 * A cron trigger is compiled (expression parsed, zone found) once per trigger
 * value and kept beside it, in a `WeakMap` keyed by the trigger object: a
 * decoded job keeps its trigger, so its next fires never parse again, and the
 * compiled form goes when the job does. Triggers are immutable values; one
 * changed in place keeps what it compiled to first. Calendar intervals are
 * compiled (anchor read in the zone) and kept the same way.
 *
 * @internal
 */
import type * as Trigger from "../Trigger.ts"
import * as Calendar from "./triggerCalendar.ts"
import * as CronSearch from "./triggerCron.ts"
import * as Zone from "./triggerZone.ts"
import * as Hash from "./unitHash.ts"

/** @internal */
export type Problem =
  | {
    readonly _tag: "InvalidCron"
    readonly expression: string
    readonly field: CronSearch.CronField
    readonly position: number
    readonly column: number
    readonly message: string
    readonly hint: string
  }
  | { readonly _tag: "UnknownTimeZone"; readonly zone: string }
  | { readonly _tag: "InvalidInterval"; readonly every: number }
  | { readonly _tag: "InvalidWindow"; readonly start: number; readonly end: number }
  | { readonly _tag: "InvalidInstant"; readonly field: "at" | "anchor" | "start" | "end"; readonly value: number }
  | { readonly _tag: "InvalidJitter"; readonly jitter: number; readonly period?: number }
  | { readonly _tag: "InvalidCalendar"; readonly unit: string; readonly count: number; readonly message: string }
  | { readonly _tag: "MalformedTrigger"; readonly issue: string }

// The range of `Date`, so that every fire can be shown as a date; cron
// searches stay two days inside it, so that wall times are dates too.
/** @internal */
export const maxInstant = 8.64e15
const cronLimit = maxInstant - 2 * 86_400_000
const isInstant = (value: number) => Number.isSafeInteger(value) && Math.abs(value) <= maxInstant

const instantProblem = (field: "at" | "anchor" | "start" | "end", value: number | undefined): Problem | undefined =>
  value === undefined || isInstant(value) ? undefined : { _tag: "InvalidInstant", field, value }

type Repeating = Trigger.CronTrigger | Trigger.IntervalTrigger | Trigger.CalendarTrigger

const windowProblem = (trigger: Repeating): Problem | undefined => {
  if (!(Number.isSafeInteger(trigger.jitter) && trigger.jitter >= 0)) {
    return { _tag: "InvalidJitter", jitter: trigger.jitter }
  }
  const { start, end } = trigger
  const problem = instantProblem("start", start) ?? instantProblem("end", end)
  if (problem !== undefined) return problem
  return start !== undefined && end !== undefined && end <= start ? { _tag: "InvalidWindow", start, end } : undefined
}

// A cron trigger's compiled form when it is valid, else what is wrong with it.
type Held = CronSearch.Compiled | Problem
const held = new WeakMap<Trigger.CronTrigger, Held>()

const hold = (trigger: Trigger.CronTrigger): Held => {
  const known = held.get(trigger)
  if (known !== undefined) return known
  let found: Held
  if (
    typeof trigger.expression !== "string" || typeof trigger.timeZone !== "string" ||
    (trigger.seed !== undefined && typeof trigger.seed !== "string")
  ) {
    found = { _tag: "MalformedTrigger", issue: "expression, timeZone and seed must be strings" }
  } else {
    const compiled = CronSearch.compile(trigger.expression, trigger.timeZone, trigger.seed ?? "")
    if ("_tag" in compiled) {
      found = compiled._tag === "UnknownTimeZone"
        ? { _tag: "UnknownTimeZone", zone: trigger.timeZone }
        : { ...compiled, expression: trigger.expression }
    } else {
      found = windowProblem(trigger) ?? compiled
    }
  }
  held.set(trigger, found)
  return found
}

const isProblem = (found: Held): found is Problem => "_tag" in found

/**
 * The compiled form of a valid cron trigger, kept with the trigger value;
 * `undefined` when the trigger is invalid.
 *
 * @internal
 */
export const compiled = (trigger: Trigger.CronTrigger): CronSearch.Compiled | undefined => {
  const found = hold(trigger)
  return isProblem(found) ? undefined : found
}

// A calendar trigger's compiled form when it is valid, else what is wrong with it.
const calendars = new WeakMap<Trigger.CalendarTrigger, Calendar.Compiled | Problem>()

const calendarProblem = (trigger: Trigger.CalendarTrigger): Problem | undefined => {
  const { count, unit } = trigger
  if (unit !== "day" && unit !== "month" && unit !== "year") {
    return { _tag: "InvalidCalendar", unit: String(unit), count, message: `unit must be "day", "month" or "year", got ${JSON.stringify(unit)}` }
  }
  if (!(Number.isSafeInteger(count) && count > 0)) {
    const zoned = unit === "day"
      ? " (with a timeZone, an interval counts whole days of wall-clock time: drop timeZone for a fixed interval)"
      : ""
    return { _tag: "InvalidCalendar", unit, count, message: `count must be a positive whole number of ${unit}s, got ${count}${zoned}` }
  }
  return instantProblem("anchor", trigger.anchor) ?? windowProblem(trigger)
}

const holdCalendar = (trigger: Trigger.CalendarTrigger): Calendar.Compiled | Problem => {
  const known = calendars.get(trigger)
  if (known !== undefined) return known
  let found: Calendar.Compiled | Problem | undefined = calendarProblem(trigger)
  if (found === undefined) {
    const zone = typeof trigger.timeZone === "string" ? Zone.make(trigger.timeZone) : undefined
    found = zone === undefined
      ? { _tag: "UnknownTimeZone", zone: String(trigger.timeZone) }
      : Calendar.compile(trigger.unit, trigger.count, zone, trigger.anchor)
  }
  calendars.set(trigger, found)
  return found
}

/**
 * The compiled form of a valid calendar trigger, kept with the trigger
 * value; `undefined` when the trigger is invalid.
 *
 * @internal
 */
export const calendar = (trigger: Trigger.CalendarTrigger): Calendar.Compiled | undefined => {
  const found = holdCalendar(trigger)
  return "_tag" in found ? undefined : found
}

/**
 * What is wrong with `trigger`, or `undefined` when it is valid.
 *
 * @internal
 */
export const problem = (trigger: Trigger.Trigger): Problem | undefined => {
  // A JavaScript caller may pass anything: what is not shaped like a trigger
  // is a problem here, never a throw (`Trigger.validate` says precisely why).
  if (typeof trigger !== "object" || trigger === null) return { _tag: "MalformedTrigger", issue: "not an object" }
  switch (trigger._tag) {
    case "Once":
      return instantProblem("at", trigger.at)
    case "Interval": {
      if (!(isInstant(trigger.every) && trigger.every > 0)) return { _tag: "InvalidInterval", every: trigger.every }
      return instantProblem("anchor", trigger.anchor) ?? windowProblem(trigger)
    }
    case "Cron": {
      const found = hold(trigger)
      return isProblem(found) ? found : undefined
    }
    case "Calendar": {
      const found = holdCalendar(trigger)
      return "_tag" in found ? found : undefined
    }
    default:
      return { _tag: "MalformedTrigger", issue: "unknown _tag" }
  }
}

// The earliest instant a fire may be strictly after: `after`, or just before
// the window opens. Fires are whole milliseconds.
const lowerBound = (trigger: Repeating, after: number): number =>
  trigger.start === undefined ? after : Math.max(after, trigger.start - 1)

// `x mod m` in [0, m), exact for safe integers.
const modulo = (x: number, m: number): number => {
  const r = x % m
  return r < 0 ? r + m : r
}

/**
 * The first fire strictly after `after` of a valid trigger, from its start
 * on but ignoring its end (see `nextFire`); `policy` overrides a cron
 * trigger's overlap policy.
 *
 * @internal
 */
export const nextIgnoringEnd = (
  trigger: Trigger.Trigger,
  after: number,
  policy?: CronSearch.DstOverlap
): number | undefined => {
  if (Number.isNaN(after)) return undefined
  switch (trigger._tag) {
    case "Once":
      return trigger.at > after ? trigger.at : undefined
    case "Interval": {
      // Fires before the Date range do not exist: start the search there. A
      // fire is strictly after `after` when it is after `floor(after)`.
      const from = Math.floor(Math.max(lowerBound(trigger, after), -maxInstant - 1))
      if (!(from < maxInstant)) return undefined
      const { anchor, every } = trigger
      // Exact: every term stays a safe integer (|from|, |anchor| and `every`
      // are at most 8.64e15 < 2^53, and so is each remainder and difference
      // below), where `from - anchor` or `from - past` could pass 2^53.
      let past = modulo(from, every) - modulo(anchor, every)
      if (past < 0) past += every
      return from + (every - past)
    }
    case "Cron": {
      const found = hold(trigger)
      const from = Math.max(lowerBound(trigger, after), -cronLimit)
      if (isProblem(found) || !(from < cronLimit)) return undefined
      const fire = CronSearch.next(found, from, policy ?? trigger.onDstOverlap)
      return fire === undefined || fire > cronLimit ? undefined : fire
    }
    case "Calendar": {
      const found = holdCalendar(trigger)
      return "_tag" in found ? undefined : Calendar.next(found, lowerBound(trigger, after))
    }
  }
}

/**
 * The first fire strictly after `after`, for a valid trigger, within its
 * window (none before `start`, none after `end`, both inclusive, none beyond
 * the Date range); `policy` overrides a cron trigger's overlap policy.
 *
 * @internal
 */
export const nextFire = (
  trigger: Trigger.Trigger,
  after: number,
  policy?: CronSearch.DstOverlap
): number | undefined => {
  const fire = nextIgnoringEnd(trigger, after, policy)
  const end = trigger._tag === "Once" ? maxInstant : trigger.end ?? maxInstant
  return fire === undefined || fire > end ? undefined : fire
}

/**
 * What is wrong with a valid trigger's jitter against its schedule: longer
 * than the shortest period between two fires of an interval (`every`) or a
 * calendar interval (`Calendar.shortestPeriod`). Cron jitter is only capped
 * per fire (`jitterRoom`). `Trigger.validate` reports it; `next` does not
 * (a stored trigger with such a jitter keeps firing).
 *
 * @internal
 */
export const jitterProblem = (trigger: Trigger.Trigger): Problem | undefined => {
  const period = trigger._tag === "Interval"
    ? trigger.every
    : trigger._tag === "Calendar"
    ? Calendar.shortestPeriod(trigger.unit, trigger.count)
    : Infinity
  return trigger._tag !== "Once" && trigger.jitter > period
    ? { _tag: "InvalidJitter", jitter: trigger.jitter, period }
    : undefined
}

/**
 * The jitter room of the fire at `fire`: the trigger's jitter, capped by the
 * time to its next fire and by `end - fire + 1` (8.64e15 without an end), so
 * that `fire + floor(h * room)` lies in `[fire, next fire)` and at or before
 * `end`. An invalid trigger's jitter is not capped; 0 when there is none.
 *
 * @internal
 */
export const jitterRoom = (trigger: Trigger.Trigger, fire: number): number => {
  if (trigger._tag === "Once") return 0
  const jitter = trigger.jitter
  if (!(jitter > 0 && Number.isFinite(jitter))) return 0
  if (problem(trigger) !== undefined) return jitter
  const next = nextFire(trigger, fire)
  const end = trigger.end ?? maxInstant
  return Math.max(0, Math.min(jitter, next === undefined ? Infinity : next - fire, end - fire + 1))
}

/**
 * A number in [0, 1) from FNV-1a over the UTF-8 bytes of `key`, finished with
 * murmur3's fmix32 (in `unitHash.ts`, shared with the `H` of cron expressions).
 *
 * @internal
 */
export const unitHash = Hash.unitHash
