/**
 * The arithmetic behind `Trigger`: validity, next fire, jitter and preview,
 * as plain functions over trigger data. `Trigger.ts` wraps them in the public
 * API and turns problems into typed errors.
 *
 * A cron trigger is compiled (expression parsed, zone found) once per trigger
 * value and kept beside it, in a `WeakMap` keyed by the trigger object: a
 * decoded job keeps its trigger, so its next fires never parse again, and the
 * compiled form goes when the job does. Triggers are immutable values; one
 * changed in place keeps what it compiled to first.
 *
 * @internal
 */
import type * as Trigger from "../Trigger.ts"
import type { PreviewEntry } from "../Trigger.ts"
import * as CronSearch from "./triggerCron.ts"
import * as Zone from "./triggerZone.ts"

/** @internal */
export type Problem =
  | {
    readonly _tag: "InvalidCron"
    readonly expression: string
    readonly field: CronSearch.CronField
    readonly position: number
    readonly message: string
  }
  | { readonly _tag: "UnknownTimeZone"; readonly zone: string }
  | { readonly _tag: "InvalidInterval"; readonly every: number }
  | { readonly _tag: "InvalidWindow"; readonly start: number; readonly end: number }
  | { readonly _tag: "InvalidInstant"; readonly field: "at" | "anchor" | "start" | "end"; readonly value: number }
  | { readonly _tag: "InvalidJitter"; readonly jitter: number }
  | { readonly _tag: "MalformedTrigger"; readonly issue: string }

// The range of `Date`, so that every fire can be shown as a date; cron
// searches stay two days inside it, so that wall times are dates too.
const maxInstant = 8.64e15
const cronLimit = maxInstant - 2 * 86_400_000
const isInstant = (value: number) => Number.isSafeInteger(value) && Math.abs(value) <= maxInstant

const instantProblem = (field: "at" | "anchor" | "start" | "end", value: number | undefined): Problem | undefined =>
  value === undefined || isInstant(value) ? undefined : { _tag: "InvalidInstant", field, value }

const windowProblem = (trigger: Trigger.CronTrigger | Trigger.IntervalTrigger): Problem | undefined => {
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
  if (typeof trigger.expression !== "string" || typeof trigger.timeZone !== "string") {
    found = { _tag: "MalformedTrigger", issue: "expression and timeZone must be strings" }
  } else {
    const compiled = CronSearch.compile(trigger.expression, trigger.timeZone)
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
    default:
      return { _tag: "MalformedTrigger", issue: "unknown _tag" }
  }
}

// The earliest instant a fire may be strictly after: `after`, or just before
// the window opens. Fires are whole milliseconds.
const lowerBound = (trigger: Trigger.CronTrigger | Trigger.IntervalTrigger, after: number): number =>
  trigger.start === undefined ? after : Math.max(after, trigger.start - 1)

const withinEnd = (trigger: Trigger.CronTrigger | Trigger.IntervalTrigger, fire: number | undefined) =>
  fire === undefined || fire > (trigger.end ?? maxInstant) ? undefined : fire

/**
 * The first fire strictly after `after`, for a valid trigger; `policy`
 * overrides a cron trigger's overlap policy.
 *
 * @internal
 */
export const nextFire = (
  trigger: Trigger.Trigger,
  after: number,
  policy?: CronSearch.DstOverlap
): number | undefined => {
  if (Number.isNaN(after)) return undefined
  switch (trigger._tag) {
    case "Once":
      return trigger.at > after ? trigger.at : undefined
    case "Interval": {
      // Fires before the Date range do not exist: start the search there.
      const from = Math.max(lowerBound(trigger, after), -maxInstant - 1)
      if (!(from < maxInstant)) return undefined
      const { anchor, every } = trigger
      // `from - anchor` can exceed 2^53; remainders of each are exact.
      const past = ((((from % every) - (anchor % every)) % every) + every) % every
      return withinEnd(trigger, from - past + every)
    }
    case "Cron": {
      const found = hold(trigger)
      const from = Math.max(lowerBound(trigger, after), -cronLimit)
      if (isProblem(found) || !(from < cronLimit)) return undefined
      const fire = CronSearch.next(found, from, policy ?? trigger.onDstOverlap)
      return fire === undefined || fire > cronLimit ? undefined : withinEnd(trigger, fire)
    }
  }
}

/**
 * A number in [0, 1) from FNV-1a over the UTF-8 bytes of `key`, finished with
 * murmur3's fmix32 so that keys differing in their last digits spread out.
 *
 * @internal
 */
export const unitHash = (key: string): number => {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(key)) {
    hash = Math.imul(hash ^ byte, 0x01000193)
  }
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b)
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35)
  hash ^= hash >>> 16
  return (hash >>> 0) / 4_294_967_296
}

const pad = (n: number) => String(n).padStart(2, "0")

const formatOffset = (offset: number): string => {
  const total = Math.round(Math.abs(offset) / 1000)
  const seconds = total % 60
  const text = `${offset < 0 ? "-" : "+"}${pad(Math.floor(total / 3600))}:${pad(Math.floor(total / 60) % 60)}`
  return seconds === 0 ? text : `${text}:${pad(seconds)}`
}

// "2026-03-29T03:00:00+02:00": wall time in the zone, milliseconds only when not zero.
const formatIso = (zone: Zone.Zone | undefined, at: number): string => {
  const offset = zone === undefined ? 0 : Zone.offsetAt(zone, at)
  const date = new Date(at + offset)
  // At the very ends of the Date range the wall time may not be a date: show UTC.
  if (Number.isNaN(date.getTime())) return formatIso(undefined, at)
  return `${date.toISOString().replace(/(\.000)?Z$/, "")}${formatOffset(offset)}`
}

// "02:30" (or "02:30:15") and "2026-03-29" of a wall time.
const clock = (wall: number) => {
  const iso = new Date(wall).toISOString()
  return iso.slice(17, 19) === "00" ? iso.slice(11, 16) : iso.slice(11, 19)
}
const day = (wall: number) => new Date(wall).toISOString().slice(0, 10)

const shiftedNote = (compiled: CronSearch.Compiled, zoneId: string, at: number): string => {
  const gapStart = at + Zone.offsetAt(compiled.zone, at - 1)
  const gapEnd = at + Zone.offsetAt(compiled.zone, at)
  const asked = CronSearch.wallNext(compiled, gapStart - 1) ?? gapStart
  return `${clock(asked)} does not exist on ${day(asked)} in ${zoneId} (clocks go forward from ${clock(gapStart)} to ${
    clock(gapEnd)
  }): fires at ${clock(gapEnd)}, the first instant after the gap`
}

const skippedNote = (zone: Zone.Zone, zoneId: string, policy: CronSearch.DstOverlap, at: number): string => {
  const wall = at + Zone.offsetAt(zone, at)
  const kept = policy === "earlier" ? "first" : "second"
  return `${clock(wall)} occurs twice on ${day(wall)} in ${zoneId}: onDstOverlap "${policy}" fires only the ${kept}`
}

/**
 * The next `n` fires after `from`, plus, for a cron trigger, the occurrences
 * of repeated wall times its overlap policy does not fire (not counted in
 * `n`), in time order.
 *
 * @internal
 */
export const preview = (trigger: Trigger.Trigger, from: number, count: number): ReadonlyArray<PreviewEntry> => {
  const n = Math.floor(count)
  if (!(n > 0) || problem(trigger) !== undefined) return []
  const fires: Array<number> = []
  for (let cursor = from; fires.length < n;) {
    const fire = nextFire(trigger, cursor)
    if (fire === undefined) break
    fires.push(fire)
    cursor = fire
  }
  if (trigger._tag !== "Cron") return fires.map((fire) => ({ fire, iso: formatIso(undefined, fire), dst: "none" }))
  const found = hold(trigger)
  if (isProblem(found)) return []
  const compiled = found
  const { zone } = compiled
  const entries: Array<PreviewEntry> = fires.map((fire) =>
    CronSearch.isNominal(compiled, fire)
      ? { fire, iso: formatIso(zone, fire), dst: "none" }
      : { fire, iso: formatIso(zone, fire), dst: "shifted", note: shiftedNote(compiled, trigger.timeZone, fire) }
  )
  if (trigger.onDstOverlap !== "both") {
    // Occurrences that firing both would add are the ones this policy skips.
    const fired = new Set(fires)
    const last = fires.length === n ? fires[n - 1]! : trigger.end ?? fires.at(-1) ?? from
    for (let cursor = from;;) {
      const occurrence = nextFire(trigger, cursor, "both")
      if (occurrence === undefined || occurrence > last) break
      if (!fired.has(occurrence)) {
        const note = skippedNote(zone, trigger.timeZone, trigger.onDstOverlap, occurrence)
        entries.push({ fire: occurrence, iso: formatIso(zone, occurrence), dst: "skipped", note })
      }
      cursor = occurrence
    }
  }
  return entries.sort((a, b) => a.fire - b.fire)
}
