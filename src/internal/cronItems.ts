/**
 * The items of one field of a cron expression (see `cronParse` for the
 * dialect), read straight into bitsets, or a problem naming the field, its
 * position, the column and what to write instead.
 *
 * @internal
 */
import * as Hash from "./unitHash.ts"

/** @internal */
export type FieldName = "seconds" | "minutes" | "hours" | "days" | "months" | "weekdays"

/** @internal */
export type CronField = FieldName | "expression"

/**
 * What is wrong with an expression: the field, its 0-based `position` as
 * written, the 0-based `column` of the character where the problem starts,
 * what is wrong (`message`) and what to write instead (`hint`).
 *
 * @internal
 */
export interface Problem {
  readonly _tag: "InvalidCron"
  readonly field: CronField
  readonly position: number
  readonly column: number
  readonly message: string
  readonly hint: string
}


/** A field: its name, values, names and what bare `H` picks from. @internal */
export interface Spec {
  readonly name: FieldName
  readonly min: number
  readonly max: number
  readonly names: Readonly<Record<string, number>> | undefined
  /** What bare `H` picks from. */
  readonly hashMin: number
  readonly hashMax: number
  /** The field's values, for hints. */
  readonly takes: string
}

const monthNames = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 }
const weekdayNames = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 }
const spec = (name: FieldName, min: number, max: number, takes: string, hashMax = max, names?: Spec["names"]): Spec => ({
  name,
  min,
  max,
  names,
  hashMin: min,
  hashMax,
  takes
})
/** @internal */
export const seconds = spec("seconds", 0, 59, "0 to 59")
/** @internal */
export const minutes = spec("minutes", 0, 59, "0 to 59")
/** @internal */
export const hours = spec("hours", 0, 23, "0 to 23")
/** @internal */
export const days = spec("days", 1, 31, "1 to 31", 28)
/** @internal */
export const months = spec("months", 1, 12, "1 to 12 or JAN to DEC", 12, monthNames)
/** @internal */
export const weekdays = spec("weekdays", 0, 7, "0 to 7 (0 and 7 are Sunday) or SUN to SAT", 6, weekdayNames)

// --- what a field reads ---------------------------------------------------
// In module variables (read by `cronParse` through live bindings) rather
// than an object per field: this runs once per job definition, 100,000
// times at a start-up. Bit v of `low` for values below 30, bit v - 30 of
// `high` for the others; `every` when the field does not restrict (first
// item `*` or `*\/1`, or `?`), `star` when its first item starts with `*`;
// `lastDays`, `nearest`, `nth` and `late` as in `cronDays.DayFields`.
export let low = 0
export let high = 0
export let every = false
export let star = false
export let lastDays = 0
export let nearest = 0
export let nth = 0
export let late = 0
// The hash of the field being read, computed at its first `H`.
let hashed = Number.NaN

const add = (v: number) => {
  if (v < 30) low |= 1 << v
  else high |= 1 << (v - 30)
}

/** Where the field being read is, for problems. @internal */
export interface At {
  readonly text: string
  readonly spec: Spec
  readonly position: number
  readonly start: number
  readonly end: number
  readonly seed: string
}

/** `text` in quotes, cut short when long (a problem may quote any string). @internal */
export const quote = (text: string): string => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)

/** A problem in the field at `at`, from `column`. @internal */
export const fail = (at: At, column: number, what: string, hint: string): Problem => {
  const prefix = `${at.spec.name} field ${quote(at.text.slice(at.start, at.end))}`
  return {
    _tag: "InvalidCron",
    field: at.spec.name,
    position: at.position,
    column,
    message: `${prefix}: ${what}; ${hint}`,
    hint
  }
}

const isDigit = (code: number) => code >= 48 && code <= 57
const isWordChar = (code: number) => isDigit(code) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122)
const wordEnd = (text: string, i: number, end: number) => {
  while (i < end && isWordChar(text.charCodeAt(i))) i++
  return i
}
const upper = (code: number) => code & ~32

// The value of text[s, e) (s < e): decimal digits, or a name of the field in any case; NaN otherwise.
const valueOf = (text: string, s: number, e: number, names: Spec["names"]): number => {
  let value = 0
  for (let i = s; i < e; i++) {
    const code = text.charCodeAt(i)
    if (!isDigit(code)) {
      if (names === undefined) return Number.NaN
      const name = text.slice(s, e).toLowerCase()
      return Object.hasOwn(names, name) ? names[name]! : Number.NaN
    }
    value = value * 10 + code - 48
  }
  return s === e ? Number.NaN : value
}

const digitsOf = (text: string, s: number, e: number) => valueOf(text, s, e, undefined)

const itemHints: Record<FieldName, string> = {
  seconds: "write a value, a range a-b, a step */n or a-b/n, or H",
  minutes: "write a value, a range a-b, a step */n or a-b/n, or H",
  hours: "write a value, a range a-b, a step */n or a-b/n, or H",
  days: "write a day, a range a-b, a step */n or a-b/n, L, L-n, nW, LW, ?, or H",
  months: "write a month (1 to 12 or JAN to DEC), a range a-b, a step */n or a-b/n, or H",
  weekdays: "write a weekday (0 to 7 or SUN to SAT), a range a-b, a step */n, nL, n#k, ?, or H"
}

// Why the word text[s, e) is no value of the field, and what to write.
const badWord = (at: At, s: number, e: number): Problem => {
  const { name } = at.spec
  const word = at.text.slice(s, e)
  const last = upper(word.charCodeAt(word.length - 1))
  const head = word.slice(0, -1)
  const dayHead = /^\d*$/.test(head)
  if (last === 87 && (dayHead || head.toUpperCase() === "L")) {
    return name === "days"
      ? fail(at, s, `${quote(word)} is not a day`, "W follows a day: 15W is the weekday nearest the 15th, LW the last weekday of the month")
      : fail(at, s, `${quote(word)} is not a value here`, "W is for day-of-month only: 15W (the weekday nearest the 15th) or LW")
  }
  if (last === 76 && (dayHead || Object.hasOwn(weekdayNames, head.toLowerCase()))) {
    if (name === "days") {
      return fail(
        at,
        s,
        `${quote(word)} is not a day`,
        "in day-of-month L is the last day (L, L-n); the last weekday of a month (5L, FRIL) goes in the weekday field"
      )
    }
    if (name === "weekdays") {
      return fail(
        at,
        s,
        `${quote(word)} is not a weekday`,
        "in the weekday field L follows a weekday: 5L or FRIL is the last Friday of the month (the last day of the month is L in day-of-month)"
      )
    }
    return fail(at, s, `${quote(word)} is not a value here`, "L is for day-of-month (L, L-n, LW) and weekdays (5L, FRIL) only")
  }
  const known = at.spec.names === undefined ? "" : ` (names: ${Object.keys(at.spec.names).join(", ")}, any case)`
  const what = /^\d+$/.test(word) ? `${quote(word)} is out of range` : `unknown value ${quote(word)}`
  return fail(at, s, what, `${name} take ${at.spec.takes}${known}`)
}

const outOfRange = (at: At, s: number, e: number): Problem =>
  fail(at, s, `${quote(at.text.slice(s, e))} is out of range`, `${at.spec.name} take ${at.spec.takes}`)

// A step "/n" at `i` (text[i] is "/"): n from 1 to `max`, or a problem; returns [n, end].
const stepAt = (at: At, i: number, e: number, max: number, what: string): Problem | readonly [number, number] => {
  const end = wordEnd(at.text, i + 1, e)
  const n = digitsOf(at.text, i + 1, end)
  if (!(n >= 1 && n <= max)) {
    return fail(at, i, `step ${quote(at.text.slice(i, end))} is out of range`, `the step of ${what} is a whole number from 1 to ${max}`)
  }
  return [n, end]
}

// What follows an item must be its end.
const ended = (at: At, i: number, e: number): Problem | undefined => {
  if (i >= e) return undefined
  const code = at.text.charCodeAt(i)
  const hint = code === 35
    ? at.spec === weekdays
      ? "n#k takes one weekday: MON#1 is the first Monday"
      : "# is for the weekday field only (MON#1: the first Monday)"
    : code === 40
    ? "parentheses follow H only: H(a-b)"
    : itemHints[at.spec.name]
  return fail(at, i, `unexpected ${quote(at.text.slice(i, e))}`, hint)
}

// `*`, `*\/n`.
const starItem = (at: At, s: number, e: number, first: boolean): Problem | undefined => {
  const { spec, text } = at
  let i = s + 1
  let step = 1
  if (i < e && text.charCodeAt(i) === 45) {
    return fail(at, i, `${quote(text.slice(s, e))} is not an item`, "* already means every value: write a range such as 1-5")
  }
  if (i < e && text.charCodeAt(i) === 47) {
    const read = stepAt(at, i, e, spec.max, "*/n")
    if ("_tag" in read) return read
    ;[step, i] = read
  }
  const problem = ended(at, i, e)
  if (problem !== undefined) return problem
  if (first) {
    star = true
    every = step === 1
  }
  for (let v = spec.min; v <= spec.max; v += step) add(v)
  return undefined
}

// `?`: no specific value, alone in a day field.
const questionItem = (at: At, s: number, e: number): Problem | undefined => {
  if (at.spec !== days && at.spec !== weekdays) {
    return fail(at, s, `"?" is not a value here`, "? (no specific value) is for day-of-month and weekdays only: write *")
  }
  if (s !== at.start || e !== at.end) {
    return fail(at, s, `"?" is not alone`, "? stands alone in its field (it means no specific value, like *)")
  }
  every = true
  return undefined
}

// The value of the end of a range text[s, e) that starts at `from`: the
// name SUN ends a weekday range at 7, unless the range starts at Sunday.
const rangeEnd = (at: At, s: number, e: number, from: number): number => {
  const to = valueOf(at.text, s, e, at.spec.names)
  return at.spec === weekdays && to === 0 && from > 0 && !isDigit(at.text.charCodeAt(s)) ? 7 : to
}

const downHint = (spec: Spec, from: number, to: number): string =>
  spec === weekdays
    ? `a range goes up: FRI-SUN (or 5-7) runs to Sunday; across the week's end write two, such as ${from}-7,0-${to}`
    : `a range goes up: write ${from}-${spec.max},${spec.min}-${to}`

// `H`, `H/n`, `H(a-b)`, `H(a-b)/n` (text[s] is "H").
const hashItem = (at: At, s: number, e: number): Problem | undefined => {
  const { spec, text } = at
  let i = s + 1
  let a = spec.hashMin
  let b = spec.hashMax
  if (i < e && text.charCodeAt(i) === 40) {
    const close = text.indexOf(")", i)
    const aEnd = wordEnd(text, i + 1, e)
    const bEnd = wordEnd(text, aEnd + 1, e)
    if (close < 0 || close >= e || text.charCodeAt(aEnd) !== 45 || bEnd !== close || aEnd === i + 1 || bEnd === aEnd + 1) {
      return fail(at, s, `${quote(text.slice(s, e))} is not H(a-b)`, "write H(a-b), such as H(0-29), optionally with a step: H(0-29)/10")
    }
    a = valueOf(text, i + 1, aEnd, spec.names)
    if (Number.isNaN(a)) return badWord(at, i + 1, aEnd)
    if (a < spec.min || a > spec.max) return outOfRange(at, i + 1, aEnd)
    b = rangeEnd(at, aEnd + 1, bEnd, a)
    if (Number.isNaN(b)) return badWord(at, aEnd + 1, bEnd)
    if (b < spec.min || b > spec.max) return outOfRange(at, aEnd + 1, bEnd)
    if (a > b) return fail(at, i, `${quote(text.slice(s, close + 1))} goes down`, "the range must go up: H(a-b) with a ≤ b")
    i = close + 1
  }
  let step = 0
  if (i < e && text.charCodeAt(i) === 47) {
    const read = stepAt(at, i, e, b - a + 1, `H/n here (the range has ${b - a + 1} values)`)
    if ("_tag" in read) return read
    ;[step, i] = read
  }
  const problem = ended(at, i, e)
  if (problem !== undefined) return problem
  if (Number.isNaN(hashed)) hashed = Hash.unitHash(`${at.seed}|${spec.name}`)
  if (step === 0) add(a + Math.floor(hashed * (b - a + 1)))
  else for (let v = a + Math.floor(hashed * step); v <= b; v += step) add(v)
  return undefined
}

// `L`, `L-n` in day-of-month.
const lastItem = (at: At, s: number, e: number): Problem | undefined => {
  const { text } = at
  let i = s + 1
  let n = 0
  if (i < e && text.charCodeAt(i) === 45) {
    const end = wordEnd(text, i + 1, e)
    n = digitsOf(text, i + 1, end)
    if (upper(text.charCodeAt(end - 1)) === 87) {
      return fail(at, s, `${quote(text.slice(s, end))} is not an item`, "L-n and W do not combine: write L-n, or LW for the last weekday")
    }
    if (!(n >= 0 && n <= 30)) return fail(at, s, `${quote(text.slice(s, end))} is out of range`, "L-n takes n from 0 to 30")
    i = end
  }
  const problem = ended(at, i, e)
  if (problem !== undefined) return problem
  lastDays |= 1 << n
  return undefined
}

// `LW` in day-of-month.
const lastWeekdayOfMonth = (at: At, s: number, e: number): Problem | undefined => {
  if (s + 2 < e) {
    return fail(
      at,
      s + 2,
      `${quote(at.text.slice(s, e))} is not an item`,
      "LW stands alone: it is the last weekday of the month (for days before the last day, write L-n)"
    )
  }
  nearest |= 1
  return undefined
}

// `nW` in day-of-month: text[s, w - 1) are digits.
const nearestItem = (at: At, s: number, w: number, e: number): Problem | undefined => {
  const n = digitsOf(at.text, s, w - 1)
  if (!(n >= 1 && n <= 31)) return fail(at, s, `${quote(at.text.slice(s, w))} is out of range`, "nW takes a day from 1 to 31")
  if (w < e) {
    return fail(at, w, `${quote(at.text.slice(s, e))} is not an item`, "nW stands alone in its item: list several as 1W,15W")
  }
  nearest |= 1 << n
  return undefined
}

// `wL` in weekdays: text[s, w - 1) is a weekday.
const lastWeekdayItem = (at: At, s: number, w: number, e: number): Problem | undefined => {
  const v = valueOf(at.text, s, w - 1, weekdayNames)
  if (v > 7) return outOfRange(at, s, w - 1)
  const problem = ended(at, w, e)
  if (problem !== undefined) return problem
  late |= 1 << (8 + (v % 7))
  return undefined
}

// `w#k` in weekdays: text[s, w) is the weekday, text[w] is "#".
const nthItem = (at: At, s: number, w: number, e: number): Problem | undefined => {
  const { text } = at
  const v = valueOf(text, s, w, weekdayNames)
  if (Number.isNaN(v)) return badWord(at, s, w)
  if (v > 7) return outOfRange(at, s, w)
  const end = wordEnd(text, w + 1, e)
  const k = digitsOf(text, w + 1, end)
  if (!(k >= 1 && k <= 5)) return fail(at, w, `${quote(text.slice(s, end))} is out of range`, "k in n#k is 1 to 5 (MON#1: the first Monday)")
  const problem = ended(at, end, e)
  if (problem !== undefined) return problem
  if (k === 5) late |= 1 << (v % 7)
  else nth |= 1 << (7 * (k - 1) + (v % 7))
  return undefined
}

// `v`, `v/n`, `a-b`, `a-b/n`: text[s, w) is the first value.
const rangeItem = (at: At, s: number, w: number, e: number): Problem | undefined => {
  const { spec, text } = at
  const from = valueOf(text, s, w, spec.names)
  if (Number.isNaN(from)) return badWord(at, s, w)
  if (from < spec.min || from > spec.max) return outOfRange(at, s, w)
  let to = from
  let i = w
  let ranged = false
  if (i < e && text.charCodeAt(i) === 45) {
    const end = wordEnd(text, i + 1, e)
    if (end === i + 1) return fail(at, i, `${quote(text.slice(s, e))} is not a range`, "write a range as a-b, such as 1-5")
    to = rangeEnd(at, i + 1, end, from)
    if (Number.isNaN(to)) return badWord(at, i + 1, end)
    if (to < spec.min || to > spec.max) return outOfRange(at, i + 1, end)
    if (from > to) return fail(at, s, `${quote(text.slice(s, end))} goes down`, downHint(spec, from, to))
    ranged = true
    i = end
  }
  let step = 1
  if (i < e && text.charCodeAt(i) === 47) {
    const read = stepAt(at, i, e, spec.max, ranged ? "a-b/n" : "v/n")
    if ("_tag" in read) return read
    ;[step, i] = read
    if (!ranged) to = spec.max
  }
  const problem = ended(at, i, e)
  if (problem !== undefined) return problem
  for (let v = from; v <= to; v += step) add(v)
  return undefined
}

// One item, text[s, e).
const item = (at: At, s: number, e: number, first: boolean): Problem | undefined => {
  const { spec, text } = at
  if (s === e) return fail(at, s, "an item is empty", "remove the extra comma")
  const code = text.charCodeAt(s)
  if (code === 42) return starItem(at, s, e, first)
  if (code === 63) return questionItem(at, s, e)
  const w = wordEnd(text, s, e)
  if (w === s) return fail(at, s, `unexpected ${quote(text.slice(s, e))}`, itemHints[spec.name])
  const length = w - s
  const last = upper(text.charCodeAt(w - 1))
  if (length === 1 && last === 72) return hashItem(at, s, e)
  if (spec === days) {
    if (length === 1 && last === 76) return lastItem(at, s, e)
    if (length === 2 && last === 87 && upper(code) === 76) return lastWeekdayOfMonth(at, s, e)
    if (length >= 2 && last === 87 && !Number.isNaN(digitsOf(text, s, w - 1))) return nearestItem(at, s, w, e)
  } else if (spec === weekdays) {
    if (length >= 2 && last === 76 && !Number.isNaN(valueOf(text, s, w - 1, weekdayNames))) {
      return lastWeekdayItem(at, s, w, e)
    }
    if (w < e && text.charCodeAt(w) === 35) return nthItem(at, s, w, e)
  }
  return rangeItem(at, s, w, e)
}

/**
 * Reads the field at `at` into the module variables above; a problem when
 * it is not valid.
 *
 * @internal
 */
export const field = (at: At): Problem | undefined => {
  low = 0
  high = 0
  every = false
  star = false
  lastDays = 0
  nearest = 0
  nth = 0
  late = 0
  hashed = Number.NaN
  const { end, text } = at
  let s = at.start
  for (let first = true;; first = false) {
    let e = text.indexOf(",", s)
    if (e < 0 || e > end) e = end
    const problem = item(at, s, e, first)
    if (problem !== undefined) return problem
    if (e >= end) break
    s = e + 1
  }
  if (every) {
    low = 0
    high = 0
    lastDays = 0
    nearest = 0
    nth = 0
    late = 0
  }
  return undefined
}
