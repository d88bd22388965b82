/**
 * A quick parse of cron fields straight into the bitsets of `cronFields`.
 *
 * Effect's `Cron.parse` builds sets and lookup tables a trigger does not
 * keep (a few microseconds per expression, most of the cost of a job's first
 * fire). This parse follows the same rules, item by item (values, ranges,
 * steps, month and weekday names, 7 as Sunday, a first item "*" or "*\/1"
 * meaning every value), and answers only for expressions Effect accepts:
 * for anything it does not accept it answers `undefined`, and the caller
 * asks Effect, whose messages name what is wrong. test/CronFields.test.ts
 * checks that both agree.
 *
 * @internal
 */
import * as Fields from "./cronFields.ts"

interface Range {
  readonly min: number
  readonly max: number
  readonly names?: Readonly<Record<string, number>>
}

const months = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 }
const weekdays = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 }
const sixty: Range = { min: 0, max: 59 }
const hourRange: Range = { min: 0, max: 23 }
const dayRange: Range = { min: 1, max: 31 }
const monthRange: Range = { min: 1, max: 12, names: months }
const weekdayRange: Range = { min: 0, max: 7, names: weekdays }

// Where a piece of an item ends: at ",", "-", "/", a space or a tab.
const ends = (code: number) => code === 44 || code === 45 || code === 47 || code === 32 || code === 9

// The value of text[start, end) as Effect reads a piece (decimal digits, or
// a name of the field in any case), or NaN.
const valueOf = (text: string, start: number, end: number, range: Range): number => {
  if (start === end) return Number.NaN
  let value = 0
  for (let i = start; i < end; i++) {
    const digit = text.charCodeAt(i) - 48
    if (digit < 0 || digit > 9) {
      if (range.names === undefined) return Number.NaN
      const name = text.slice(start, end).toLowerCase()
      return Object.hasOwn(range.names, name) ? range.names[name]! : Number.NaN
    }
    value = value * 10 + digit
  }
  return value
}

const inRange = (value: number, range: Range) => Number.isInteger(value) && value >= range.min && value <= range.max

// What `field` read, in module variables rather than an object per field:
// this runs once per job definition, 100,000 times at a start-up.
// Bit v of `low` for values below 30, bit v - 30 of `high` for the others.
let low = 0
let high = 0
let wildcard = false
let every = false

const add = (v: number) => {
  if (v < 30) low |= 1 << v
  else high |= 1 << (v - 30)
}

// The end of the piece of `text` that starts at `start` (before `end`).
const pieceEnd = (text: string, start: number, end: number) => {
  let i = start
  while (i < end && !ends(text.charCodeAt(i))) i++
  return i
}

/**
 * Reads the field text[start, end) into `low` and `high` (no bits when the
 * field means every value: Effect then keeps no values, whatever the other
 * items), `wildcard` (its first item is "*", Effect's own flag) and `every`;
 * false when Effect would reject the field. An item is `raw[/step]`, `raw`
 * being "*", a value, or a range `a-b`, as Effect splits it (at the first
 * "/", then at the first "-"): anything else is rejected, there as here.
 */
const field = (text: string, start: number, end: number, range: Range): boolean => {
  low = 0
  high = 0
  wildcard = false
  every = false
  let first = true
  let i = start
  while (true) {
    const leftEnd = pieceEnd(text, i, end)
    const star = leftEnd === i + 1 && text.charCodeAt(i) === 42
    const from = star ? range.min : valueOf(text, i, leftEnd, range)
    let to = star ? range.max : from
    let ranged = false
    i = leftEnd
    if (i < end && text.charCodeAt(i) === 45) {
      if (star) return false
      const rightEnd = pieceEnd(text, i + 1, end)
      to = valueOf(text, i + 1, rightEnd, range)
      ranged = true
      i = rightEnd
    }
    let step = 1
    let stepped = false
    if (i < end && text.charCodeAt(i) === 47) {
      const stepEnd = pieceEnd(text, i + 1, end)
      // A step is decimal digits, whatever the field's names.
      step = valueOf(text, i + 1, stepEnd, sixty)
      if (!Number.isInteger(step) || step < 1 || step > range.max) return false
      stepped = true
      i = stepEnd
    }
    if (i < end && text.charCodeAt(i) !== 44) return false
    if (first) {
      wildcard = star
      every = star && step === 1
      first = false
    }
    if (!star) {
      if (!inRange(from, range)) return false
      if (ranged) {
        if (!inRange(to, range) || from > to) return false
      } else if (stepped) {
        to = range.max
      }
    }
    if (!every) for (let v = from; v <= to; v += step) add(v)
    if (i >= end) break
    i++
  }
  if (every) {
    low = 0
    high = 0
  }
  return true
}

const full30 = 0x3fffffff

// The bits of a field of values min to max (max below 32), all of them when none is kept.
const bits = (min: number, max: number): number => {
  if (low === 0 && high === 0) return ((-1 >>> (31 - max)) >>> min) << min
  return low | (high << 30)
}

const first60 = (lowBits: number, highBits: number) =>
  lowBits !== 0 ? 31 - Math.clz32(lowBits & -lowBits) : 30 + 31 - Math.clz32(highBits & -highBits)

// Where the fields of an expression start and end, in pairs.
const bounds = new Int32Array(12)

// Finds the fields of `text`, separated by spaces and tabs: how many (up to 7, for "too many").
const splitFields = (text: string): number => {
  let count = 0
  let i = 0
  const length = text.length
  while (true) {
    while (i < length && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++
    if (i >= length) return count
    if (count === 6) return 7
    bounds[2 * count] = i
    while (i < length && text.charCodeAt(i) !== 32 && text.charCodeAt(i) !== 9) i++
    bounds[2 * count + 1] = i
    count++
  }
}

/**
 * The fields of a cron expression of 5 fields, or 6 with seconds first, as
 * Effect's `Cron.parse` reads them, or `undefined` when Effect would not
 * accept it (or it has other whitespace than spaces and tabs, or is an
 * `@alias`: the caller's slower parse reads those).
 *
 * @internal
 */
export const parse = (text: string): Fields.Fields | undefined => {
  const count = splitFields(text)
  if (count !== 5 && count !== 6) return undefined
  // The field at position `at` of those found.
  let at = 0
  const next = (range: Range) => field(text, bounds[2 * at]!, bounds[2 * at++ + 1]!, range)
  if (count === 5) {
    low = 1
    high = 0
  } else if (!next(sixty)) {
    return undefined
  }
  const secondsLow = low === 0 && high === 0 ? full30 : low
  const secondsHigh = low === 0 && high === 0 ? full30 : high
  if (!next(sixty)) return undefined
  const minutesLow = low === 0 && high === 0 ? full30 : low
  const minutesHigh = low === 0 && high === 0 ? full30 : high
  if (!next(hourRange)) return undefined
  const hours = bits(0, 23)
  if (!next(dayRange)) return undefined
  const daysWildcard = wildcard
  const daysRestricted = low !== 0 || high !== 0
  const days = bits(1, 31)
  if (!next(monthRange)) return undefined
  const months = bits(1, 12)
  if (!next(weekdayRange)) return undefined
  // Effect reads weekday 7 as Sunday.
  const weekdayBits = (low & 0x80) === 0 ? low : (low & 0x7f) | 1
  const dayMode = Fields.dayModeOf(daysRestricted, weekdayBits !== 0, daysWildcard || wildcard)
  return {
    secondsLow,
    secondsHigh,
    minutesLow,
    minutesHigh,
    hours,
    months,
    days,
    weekdays: weekdayBits === 0 ? 0x7f : weekdayBits,
    dayMode,
    firstSecond: first60(secondsLow, secondsHigh),
    firstMinute: first60(minutesLow, minutesHigh)
  }
}
