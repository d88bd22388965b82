/**
 * `Trigger.preview`: the next fires of a trigger with every decision its
 * schedule made about them, each with a note a person can read.
 *
 * The fires come from `triggerSchedule.nextFire`, so a preview never
 * disagrees with `next`; the decisions are found beside them:
 * - cron: fires moved to the end of a spring-forward gap (`shifted`), wall
 *   times a gap removed from crons that allow every hour (`dropped`, one
 *   entry per gap), occurrences of repeated wall times the overlap policy
 *   does not run (`skipped`, found by searching again with "both"), and the
 *   fires that stand for both occurrences (`merged`);
 * - calendar intervals: `clamped` days, `shifted` and `merged` fires, and
 *   the second occurrence of a merged fire as `skipped`;
 * - any windowed trigger: the `end` of its window, when it ends the preview.
 *
 * @internal
 */
import type * as Trigger from "../Trigger.ts"
import type { PreviewEntry } from "../Trigger.ts"
import * as Calendar from "./triggerCalendar.ts"
import * as CronSearch from "./triggerCron.ts"
import * as Schedule from "./triggerSchedule.ts"
import * as Zone from "./triggerZone.ts"

type Decision = NonNullable<PreviewEntry["decisions"]>[number]

// An entry and its rank among entries at the same instant: the wall times a
// gap dropped come before the fire at its end, the end of a window after
// the fire at it.
interface Ranked {
  readonly entry: PreviewEntry
  readonly rank: number
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

const monthNames = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December"
]

const ordinal = (n: number) => `${n}${n % 10 === 1 && n !== 11 ? "st" : n % 10 === 2 && n !== 12 ? "nd" : n % 10 === 3 && n !== 13 ? "rd" : "th"}`

const entry = (
  zone: Zone.Zone | undefined,
  fire: number,
  dst: PreviewEntry["dst"],
  decisions: ReadonlyArray<Decision>,
  notes: ReadonlyArray<string>,
  rank = 1
): Ranked => ({
  entry: decisions.length === 0
    ? { fire, iso: formatIso(zone, fire), dst }
    : { fire, iso: formatIso(zone, fire), dst, note: notes.join("; "), decisions },
  rank
})

// The gap that ends at instant `at`, as wall times: [start, end).
const gapEndingAt = (zone: Zone.Zone, at: number) => ({
  start: at + Zone.offsetAt(zone, at - 1),
  end: at + Zone.offsetAt(zone, at)
})

const shiftedNote = (zone: Zone.Zone, zoneId: string, asked: number, at: number): string => {
  const gap = gapEndingAt(zone, at)
  return `${clock(asked)} does not exist on ${day(asked)} in ${zoneId} (clocks go forward from ${clock(gap.start)} to ${
    clock(gap.end)
  }): fires at ${clock(gap.end)}, the first instant after the gap`
}

// How a repeated wall time `wall` reads: "02:30 occurs twice on 2026-10-25 in
// Europe/Berlin (clocks go back from 03:00 to 02:00)".
const twiceNote = (zone: Zone.Zone, zoneId: string, wall: number, earlier: number, later: number): string => {
  const at = Zone.transitionIn(zone, earlier, later)
  return `${clock(wall)} occurs twice on ${day(wall)} in ${zoneId} (clocks go back from ${
    clock(at + Zone.offsetAt(zone, at - 1))
  } to ${clock(at + Zone.offsetAt(zone, at))})`
}

const skippedNote = (zone: Zone.Zone, zoneId: string, policy: CronSearch.DstOverlap, at: number): string => {
  const wall = at + Zone.offsetAt(zone, at)
  const resolved = Zone.resolve(zone, wall)
  const twice = resolved._tag === "Fold"
    ? twiceNote(zone, zoneId, wall, resolved.earlier, resolved.later)
    : `${clock(wall)} occurs twice on ${day(wall)} in ${zoneId}`
  return `${twice}: onDstOverlap "${policy}" fires only the ${policy === "earlier" ? "first" : "second"}`
}

// The forward transitions (gaps) in (from, to], found a day at a time: two
// offset changes are never less than a day apart (see `triggerZone`). The
// span is the one between a fire and the one before it (or `from`), within
// the Date range; bounded all the same, to a few centuries.
const maxDays = 200_000

const gapsIn = (zone: Zone.Zone, from: number, to: number): Array<number> => {
  const found: Array<number> = []
  const first = Math.max(from, -Schedule.maxInstant, to - maxDays * Zone.DAY)
  for (let t = first; t < to;) {
    const u = Math.min(t + Zone.DAY, to)
    const before = Zone.offsetAt(zone, t)
    const after = Zone.offsetAt(zone, u)
    if (after > before) found.push(Zone.transitionIn(zone, t, u))
    t = u
  }
  return found
}

const maxDropped = 100_000

// One entry per gap in (from, to] that removed wall times a cron allowing
// every hour matches: those times are not fired at all.
const droppedEntries = (
  compiled: CronSearch.Compiled,
  zoneId: string,
  from: number,
  to: number,
  window: { readonly start: number; readonly end: number }
): Array<Ranked> => {
  const { zone } = compiled
  const entries: Array<Ranked> = []
  for (const at of gapsIn(zone, from, to)) {
    if (at < window.start || at > window.end) continue
    const gap = gapEndingAt(zone, at)
    const times: Array<number> = []
    let count = 0
    for (let wall = CronSearch.wallNext(compiled, gap.start - 1); wall !== undefined && wall < gap.end && count < maxDropped;) {
      if (times.length < 3) times.push(wall)
      count++
      wall = CronSearch.wallNext(compiled, wall)
    }
    if (count === 0) continue
    const listed = times.map(clock).join(", ") + (count > times.length ? ` and ${count - times.length} more times` : "")
    const verb = count === 1 ? "does" : "do"
    const what = count === 1 ? "the fire at that time is dropped" : `the ${count} fires at those times are dropped`
    const note = `${listed} ${verb} not exist on ${day(gap.start)} in ${zoneId} (clocks go forward from ${
      clock(gap.start)
    } to ${clock(gap.end)}): ${what}, as the expression allows every hour (the next fire is at most an hour away)`
    entries.push(entry(zone, at, "dropped", ["dropped"], [note], 0))
  }
  return entries
}

// The entries of a cron trigger's fires, and of what its DST rules did.
const cronEntries = (
  trigger: Trigger.CronTrigger,
  compiled: CronSearch.Compiled,
  fires: ReadonlyArray<number>,
  from: number,
  last: number
): Array<Ranked> => {
  const { zone } = compiled
  const zoneId = trigger.timeZone
  const policy = trigger.onDstOverlap
  // Skipped occurrences are listed up to the last fire, or to the second
  // occurrence of the last fire when it stands for both.
  let bound = last
  const entries = fires.map((fire): Ranked => {
    if (!CronSearch.isNominal(compiled, fire)) {
      const asked = CronSearch.wallNext(compiled, gapEndingAt(zone, fire).start - 1) ?? fire
      return entry(zone, fire, "shifted", ["shifted"], [shiftedNote(zone, zoneId, asked, fire)])
    }
    if (policy !== "both" && zone.fixed === undefined) {
      const wall = fire + Zone.offsetAt(zone, fire)
      const resolved = Zone.resolve(zone, wall)
      if (resolved._tag === "Fold") {
        const note = `${twiceNote(zone, zoneId, wall, resolved.earlier, resolved.later)}: onDstOverlap "${policy}" ` +
          `runs it once, at the ${policy === "earlier" ? "first" : "second"} occurrence, for both`
        bound = Math.max(bound, Math.min(resolved.later, trigger.end ?? Infinity))
        return entry(zone, fire, "none", ["merged"], [note])
      }
    }
    return entry(zone, fire, "none", [], [])
  })
  if (policy !== "both") {
    // Occurrences that firing both would add are the ones this policy skips.
    const fired = new Set(fires)
    for (let cursor = from;;) {
      const occurrence = Schedule.nextFire(trigger, cursor, "both")
      if (occurrence === undefined || occurrence > bound) break
      if (!fired.has(occurrence)) {
        const note = skippedNote(zone, zoneId, policy, occurrence)
        entries.push(entry(zone, occurrence, "skipped", ["skipped"], [note]))
      }
      cursor = occurrence
    }
  }
  if (!compiled.hoursRestricted && zone.fixed === undefined) {
    const window = { start: trigger.start ?? -Infinity, end: trigger.end ?? Infinity }
    entries.push(...droppedEntries(compiled, zoneId, Math.max(from, window.start - 1), last, window))
  }
  return entries
}

const clampedNote = (calendar: Calendar.Compiled, wall: number): string => {
  const date = new Date(wall)
  const month = monthNames[date.getUTCMonth()]!
  return `the ${ordinal(calendar.day)} does not exist in ${month} ${date.getUTCFullYear()}: ` +
    `clamped to the last day of ${month} (${day(wall)})`
}

// The entries of a calendar interval's fires: clamped days, shifted and merged fires.
const calendarEntries = (
  trigger: Trigger.CalendarTrigger,
  calendar: Calendar.Compiled,
  fires: ReadonlyArray<number>
): Array<Ranked> => {
  const { zone } = calendar
  const entries: Array<Ranked> = []
  for (const fire of fires) {
    const k = Calendar.indexAfter(calendar, fire - 1)
    if (k === undefined) continue
    const asked = Calendar.wallOf(calendar, k)
    const decisions: Array<Decision> = []
    const notes: Array<string> = []
    let dst: PreviewEntry["dst"] = "none"
    if (asked.clamped) {
      decisions.push("clamped")
      notes.push(clampedNote(calendar, asked.wall))
    }
    const resolved = zone.fixed === undefined ? Zone.resolve(zone, asked.wall) : undefined
    if (resolved?._tag === "Gap") {
      dst = "shifted"
      decisions.push("shifted")
      notes.push(shiftedNote(zone, trigger.timeZone, asked.wall, fire))
    } else if (resolved?._tag === "Fold") {
      const twice = twiceNote(zone, trigger.timeZone, asked.wall, resolved.earlier, resolved.later)
      decisions.push("merged")
      notes.push(`${twice}: a calendar interval fires once, at the first occurrence, for both`)
      if (resolved.later <= (trigger.end ?? Infinity)) {
        const note = `${twice}: a calendar interval fires only the first`
        entries.push(entry(zone, resolved.later, "skipped", ["skipped"], [note]))
      }
    }
    entries.push(entry(zone, fire, dst, decisions, notes))
  }
  return entries
}

// The end of the window, when it is what stops the preview before `n` fires.
const endEntry = (
  trigger: Trigger.Trigger,
  zone: Zone.Zone | undefined,
  from: number,
  cursor: number
): Ranked | undefined => {
  if (trigger._tag === "Once" || trigger.end === undefined || !(trigger.end > from)) return undefined
  const beyond = Schedule.nextIgnoringEnd(trigger, cursor)
  if (beyond === undefined || beyond <= trigger.end) return undefined
  const note = `the window ends at ${formatIso(zone, trigger.end)} (its end, inclusive): nothing fires after it ` +
    `(the next fire would have been ${formatIso(zone, beyond)})`
  return entry(zone, trigger.end, "none", ["end"], [note], 2)
}

/**
 * The next `count` fires after `from` and the decisions about them (see
 * the module header), in time order.
 *
 * @internal
 */
export const preview = (trigger: Trigger.Trigger, from: number, count: number): ReadonlyArray<PreviewEntry> => {
  const n = Math.floor(count)
  if (!(n > 0) || Schedule.problem(trigger) !== undefined) return []
  const fires: Array<number> = []
  for (let cursor = from; fires.length < n;) {
    const fire = Schedule.nextFire(trigger, cursor)
    if (fire === undefined) break
    fires.push(fire)
    cursor = fire
  }
  // How far decisions are looked for: to the last fire, or to the end of
  // the window when it stopped the preview.
  const last = fires.length === n || trigger._tag === "Once"
    ? fires.at(-1) ?? from
    : trigger.end ?? fires.at(-1) ?? from
  let entries: Array<Ranked>
  let zone: Zone.Zone | undefined
  if (trigger._tag === "Cron") {
    const compiled = Schedule.compiled(trigger)
    if (compiled === undefined) return []
    zone = compiled.zone
    entries = cronEntries(trigger, compiled, fires, from, last)
  } else if (trigger._tag === "Calendar") {
    const calendar = Schedule.calendar(trigger)
    if (calendar === undefined) return []
    zone = calendar.zone
    entries = calendarEntries(trigger, calendar, fires)
  } else {
    entries = fires.map((fire) => entry(undefined, fire, "none", [], []))
  }
  if (fires.length < n) {
    const end = endEntry(trigger, zone, from, fires.at(-1) ?? from)
    if (end !== undefined) entries.push(end)
  }
  return entries.sort((a, b) => a.entry.fire - b.entry.fire || a.rank - b.rank).map((ranked) => ranked.entry)
}
