/**
 * An independent reading of the cron dialect, for property tests: the next
 * fires of an expression described item by item (not parsed), found by brute
 * force over wall-clock days with `Intl.DateTimeFormat` for the zone, each
 * rule applied straight from its definition (no bitsets, no civil-date
 * arithmetic of the library: JavaScript's `Date` in UTC for calendars).
 *
 * It walks wall days one by one, skips a day whose date does not match, and
 * tries every matching wall time of a matching day: the instants that show
 * it (none in a spring-forward gap, two in a fall-back overlap), then the DST
 * rules: an overlap fires by the policy; a gap fires once at its end (the
 * first instant after it) when the hours field does not allow all 24 hours,
 * and not at all otherwise.
 */

const DAY = 86_400_000

export type FieldName = "seconds" | "minutes" | "hours" | "days" | "months" | "weekdays"

/** One item of a field, with the text that writes it. */
export type Item =
  | { readonly kind: "star"; readonly step: number; readonly text: string }
  | { readonly kind: "any"; readonly text: string }
  | { readonly kind: "range"; readonly from: number; readonly to: number; readonly step: number; readonly text: string }
  | { readonly kind: "hash"; readonly from?: number; readonly to?: number; readonly step?: number; readonly text: string }
  | { readonly kind: "last"; readonly before: number; readonly text: string }
  | { readonly kind: "nearest"; readonly day: number; readonly text: string }
  | { readonly kind: "lastWeekday"; readonly text: string }
  | { readonly kind: "lastOf"; readonly weekday: number; readonly text: string }
  | { readonly kind: "nth"; readonly weekday: number; readonly k: number; readonly text: string }

/** An expression, field by field (`seconds` absent for 5 fields). */
export interface Expression {
  readonly seconds?: ReadonlyArray<Item>
  readonly minutes: ReadonlyArray<Item>
  readonly hours: ReadonlyArray<Item>
  readonly days: ReadonlyArray<Item>
  readonly months: ReadonlyArray<Item>
  readonly weekdays: ReadonlyArray<Item>
}

export const textOf = (e: Expression): string =>
  [e.seconds, e.minutes, e.hours, e.days, e.months, e.weekdays]
    .filter((field) => field !== undefined)
    .map((field) => field.map((item) => item.text).join(","))
    .join(" ")

// FNV-1a over the UTF-8 bytes, then murmur3's fmix32, over 2^32: the
// documented hash of `H`, written again here.
export const hash = (key: string): number => {
  let h = 0x811c9dc5
  for (const byte of Buffer.from(key, "utf8")) h = Math.imul(h ^ byte, 0x01000193)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 2 ** 32
}

const bounds: Record<FieldName, readonly [number, number]> = {
  seconds: [0, 59],
  minutes: [0, 59],
  hours: [0, 23],
  days: [1, 31],
  months: [1, 12],
  weekdays: [0, 7]
}
// What bare H picks from.
const hashBounds: Record<FieldName, readonly [number, number]> = { ...bounds, days: [1, 28], weekdays: [0, 6] }

// The values an item of plain values stands for (7 is Sunday among weekdays).
const valuesOf = (field: FieldName, item: Item, seed: string): Array<number> => {
  const out: Array<number> = []
  const [min, max] = bounds[field]
  const push = (from: number, to: number, step: number) => {
    for (let v = from; v <= to; v += step) out.push(field === "weekdays" && v === 7 ? 0 : v)
  }
  switch (item.kind) {
    case "star":
      push(min, max, item.step)
      break
    case "range":
      push(item.from, item.to, item.step)
      break
    case "hash": {
      const h = hash(`${seed}|${field}`)
      const from = item.from ?? hashBounds[field][0]
      const to = item.to ?? hashBounds[field][1]
      if (item.step === undefined) push(from + Math.floor(h * (to - from + 1)), from + Math.floor(h * (to - from + 1)), 1)
      else push(from + Math.floor(h * item.step), to, item.step)
      break
    }
    default:
      break
  }
  return out
}

// Whether the field restricts: not when its first item is `*` (step 1) or `?`.
const restricts = (items: ReadonlyArray<Item>) =>
  !(items[0]!.kind === "any" || (items[0]!.kind === "star" && items[0]!.step === 1))

const setOf = (field: FieldName, items: ReadonlyArray<Item>, seed: string): Set<number> => {
  if (!restricts(items)) {
    const [min, max] = bounds[field]
    return new Set(valuesOf(field, { kind: "star", step: 1, text: "*" }, seed).filter((v) => v >= min && v <= max))
  }
  return new Set(items.flatMap((item) => valuesOf(field, item, seed)))
}

interface Day {
  readonly day: number
  readonly length: number
  readonly weekday: number
}

const weekdayOfDay = (year: number, month: number, day: number) => new Date(Date.UTC(year, month - 1, day)).getUTCDay()

// Quartz's nearest weekday of day n, never leaving the month.
const nearest = (year: number, month: number, n: number, length: number): number | undefined => {
  if (n > length) return undefined
  const weekday = weekdayOfDay(year, month, n)
  if (weekday === 6) return n === 1 ? 3 : n - 1
  if (weekday === 0) return n === length ? n - 2 : n + 1
  return n
}

const dayItemMatches = (item: Item, year: number, month: number, d: Day, values: ReadonlySet<number>): boolean => {
  switch (item.kind) {
    case "last":
      return d.day === d.length - item.before
    case "nearest":
      return nearest(year, month, item.day, d.length) === d.day
    case "lastWeekday":
      return nearest(year, month, d.length, d.length) === d.day
    default:
      return values.has(d.day)
  }
}

const weekdayItemMatches = (item: Item, d: Day, values: ReadonlySet<number>): boolean => {
  switch (item.kind) {
    case "lastOf":
      return d.weekday === item.weekday % 7 && d.day + 7 > d.length
    case "nth":
      return d.weekday === item.weekday % 7 && Math.ceil(d.day / 7) === item.k
    default:
      return values.has(d.weekday)
  }
}

/** Whether a date (year, month 1-12, day) matches the day fields, months included. */
export const dateMatcher = (e: Expression, seed: string) => {
  const months = setOf("months", e.months, seed)
  const dayValues = new Set(e.days.flatMap((item) => valuesOf("days", item, seed)))
  const weekdayValues = new Set(e.weekdays.flatMap((item) => valuesOf("weekdays", item, seed)))
  const daysRestrict = restricts(e.days)
  const weekdaysRestrict = restricts(e.weekdays)
  const and = e.days[0]!.kind === "star" || e.weekdays[0]!.kind === "star"
  return (year: number, month: number, day: number): boolean => {
    if (!months.has(month)) return false
    const d: Day = { day, length: new Date(Date.UTC(year, month, 0)).getUTCDate(), weekday: weekdayOfDay(year, month, day) }
    const dom = () => e.days.some((item) => dayItemMatches(item, year, month, d, dayValues))
    const dow = () => e.weekdays.some((item) => weekdayItemMatches(item, d, weekdayValues))
    if (!daysRestrict) return weekdaysRestrict ? dow() : true
    if (!weekdaysRestrict) return dom()
    return and ? dom() && dow() : dom() || dow()
  }
}

/** Whether some date of a whole 400-year cycle of the calendar matches. */
export const everMatches = (e: Expression, seed: string): boolean => {
  const matches = dateMatcher(e, seed)
  for (let t = Date.UTC(2000, 0, 1); t < Date.UTC(2400, 0, 1); t += DAY) {
    const date = new Date(t)
    if (matches(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate())) return true
  }
  return false
}

// --- wall clocks by Intl -----------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>()
const minuteWalls = new Map<string, Map<number, number>>()

// The wall time (ms read as UTC) that the zone's clocks show at instant t,
// read by Intl once per minute (offsets change on whole minutes here).
export const wallOf = (zone: string, t: number): number => {
  const minute = Math.floor(t / 60_000) * 60_000
  let walls = minuteWalls.get(zone)
  if (walls === undefined) {
    walls = new Map()
    minuteWalls.set(zone, walls)
  }
  let wall = walls.get(minute)
  if (wall === undefined) {
    let format = formatters.get(zone)
    if (format === undefined) {
      format = new Intl.DateTimeFormat("en-US", {
        timeZone: zone,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric"
      })
      formatters.set(zone, format)
    }
    const parts: Record<string, number> = {}
    for (const part of format.formatToParts(minute)) parts[part.type] = Number(part.value)
    wall = Date.UTC(parts["year"]!, parts["month"]! - 1, parts["day"]!, parts["hour"]!, parts["minute"]!, parts["second"]!)
    if (walls.size > 200_000) walls.clear()
    walls.set(minute, wall)
  }
  return wall + (t - minute)
}

const offsetOf = (zone: string, t: number) => wallOf(zone, t) - t

type Shown = { readonly _tag: "Instants"; readonly at: ReadonlyArray<number> } | { readonly _tag: "Gap"; readonly end: number }

// The instants at which the zone shows wall time w, or the end of the gap that skips it.
const shown = (zone: string, w: number): Shown => {
  const offsets = [...new Set([offsetOf(zone, w - DAY), offsetOf(zone, w), offsetOf(zone, w + DAY)])]
  const at = offsets.map((o) => w - o).filter((t) => wallOf(zone, t) === w).sort((a, b) => a - b)
  if (at.length > 0) return { _tag: "Instants", at: [...new Set(at)] }
  // Clocks jump over w between w - max and w - min: the first whole second whose wall time is past w.
  let lo = Math.floor((w - Math.max(...offsets)) / 1000)
  let hi = Math.ceil((w - Math.min(...offsets)) / 1000)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (wallOf(zone, mid * 1000) > w) hi = mid
    else lo = mid
  }
  return { _tag: "Gap", end: hi * 1000 }
}

/**
 * The first `n` fires strictly after `from` (an instant, whole seconds), in
 * `zone`, under the overlap policy, up to `until`.
 */
export const fires = (
  e: Expression,
  options: {
    readonly seed: string
    readonly zone: string
    readonly policy: "earlier" | "later" | "both"
    readonly from: number
    readonly n: number
    readonly until: number
  }
): Array<number> => {
  const { from, n, policy, seed, zone } = options
  const seconds = e.seconds === undefined ? [0] : [...setOf("seconds", e.seconds, seed)].sort((a, b) => a - b)
  const minutes = [...setOf("minutes", e.minutes, seed)].sort((a, b) => a - b)
  const hours = [...setOf("hours", e.hours, seed)].sort((a, b) => a - b)
  const times = hours.flatMap((h) => minutes.flatMap((m) => seconds.map((s) => (h * 3600 + m * 60 + s) * 1000)))
  const hoursRestricted = hours.length < 24
  const found = new Set<number>()
  const near = (t: number) => [offsetOf(options.zone, t - 2 * DAY), offsetOf(zone, t), offsetOf(zone, t + 2 * DAY)]
  const minOffset = Math.min(...near(from))
  // Past this wall time, no instant is before the n-th fire found so far.
  let stop = Infinity
  const matches = dateMatcher(e, seed)
  const firstDay = Math.floor((from + minOffset) / DAY) - 1
  for (let day = firstDay; day * DAY - 2 * DAY < options.until && day * DAY < stop; day++) {
    const date = new Date(day * DAY)
    if (!matches(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate())) continue
    for (const time of times) {
      const w = day * DAY + time
      // Every instant showing w is at most w - minOffset: none after `from`.
      if (w - minOffset <= from) continue
      if (w >= stop) break
      const s = shown(zone, w)
      if (s._tag === "Gap") {
        if (hoursRestricted && s.end > from) found.add(s.end)
        continue
      }
      const picked = s.at.length === 1 || policy === "both" ? s.at : policy === "earlier" ? [s.at[0]!] : [s.at.at(-1)!]
      for (const t of picked) if (t > from) found.add(t)
    }
    if (found.size >= n) {
      const nth = [...found].sort((a, b) => a - b)[n - 1]!
      stop = Math.min(stop, nth + Math.max(...near(nth)) + 1)
    }
  }
  return [...found].sort((a, b) => a - b).filter((t) => t <= options.until).slice(0, n)
}
