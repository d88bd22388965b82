/**
 * The parser of cron expressions: text straight into the bitsets of
 * `cronFields`, or a problem that names the field, its position, the column
 * and what to write instead. Never throws, whatever the string.
 *
 * The dialect (5 fields `minute hour day-of-month month weekday`, or 6 with
 * `second` first, separated by whitespace; or a nickname):
 *
 * - a field is a comma-separated list of items and matches the union of
 *   what its items match; a field whose first item is `*` (or `*\/1`)
 *   matches every value, whatever its other items;
 * - items of every field: `*`, `*\/n`, a value `v`, `v/n` (v, v+n, … up to
 *   the field's maximum), a range `a-b` (a ≤ b), `a-b/n`; steps are 1 to
 *   the field's maximum (`*\/60` in minutes is refused);
 * - `H` (Jenkins' hash): `H`, `H/n`, `H(a-b)`, `H(a-b)/n`. With
 *   `h = unitHash(seed + "|" + field)` (FNV-1a over the UTF-8 bytes, then
 *   murmur3's fmix32, divided by 2^32; `field` is `seconds`, `minutes`,
 *   `hours`, `days`, `months` or `weekdays`), `H(a-b)` is the one value
 *   `a + floor(h × (b − a + 1))`, and `H(a-b)/n` the values
 *   `a + floor(h × n) + k × n` up to b (n from 1 to b − a + 1). Bare `H`
 *   takes a-b from the field's range, except days (1-28, which every month
 *   has) and weekdays (0-6). Every `H` of one field uses the same h. The
 *   seed is the trigger's `seed` (the job id, set by `Job.make`), "" when
 *   there is none;
 * - values: seconds and minutes 0-59, hours 0-23, days 1-31, months 1-12 or
 *   JAN-DEC, weekdays 0-7 or SUN-SAT (0 and 7 are Sunday; names in any
 *   case). A range ending in the name SUN ends at 7 unless it starts at SUN
 *   (`SAT-SUN` is Saturday and Sunday, `FRI-SUN` Friday to Sunday);
 * - day-of-month also: `L` (the last day of the month), `L-n` (n days
 *   before it, n 0-30; no day in a month of n days or fewer), `nW` (the
 *   weekday nearest day n, n 1-31: day n on Monday to Friday, the Friday
 *   before a Saturday and the Monday after a Sunday, never leaving the
 *   month: Saturday the 1st gives Monday the 3rd, Sunday the last day the
 *   Friday before; no day in a month without day n), `LW` (the last weekday
 *   of the month), `?` alone (no specific value: the field does not
 *   restrict, like `*`);
 * - weekday also: `wL` (the last weekday w of the month, `5L` or `FRIL`),
 *   `w#k` (the k-th weekday w, k 1-5; `MON#1`; a month with four only has
 *   no 5th), `?` alone (as in day-of-month);
 * - the two day fields: when both restrict, a day matches either, unless
 *   either field's first item starts with `*` (`*\/2`, say): then it must
 *   match both (Vixie cron's and Effect's rule). `*` and `?` do not restrict;
 * - an expression no day of any chosen month matches (`0 0 30 2 *`) is
 *   refused: one that matches at all matches within every 400 years.
 *
 * @internal
 */
import * as Days from "./cronDays.ts"
import type * as Fields from "./cronFields.ts"
import * as Items from "./cronItems.ts"

/** @internal */
export type CronField = Items.CronField

/** @internal */
export type Problem = Items.Problem

/** The nicknames and what they stand for. @internal */
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

// --- the expression --------------------------------------------------------

// JavaScript's `\s`: what separates fields.
const isSpace = (code: number) =>
  code === 32 || (code >= 9 && code <= 13) || code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) ||
  code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff

// Where the first seven fields start and end, in pairs.
const bounds = new Int32Array(14)

// Finds the fields of `text` (their bounds, up to seven); returns how many there are.
const splitFields = (text: string): number => {
  let count = 0
  let i = 0
  const length = text.length
  while (true) {
    while (i < length && isSpace(text.charCodeAt(i))) i++
    if (i >= length) return count
    const start = i
    while (i < length && !isSpace(text.charCodeAt(i))) i++
    if (count < 7) {
      bounds[2 * count] = start
      bounds[2 * count + 1] = i
    }
    count++
  }
}

const expressionProblem = (position: number, column: number, what: string, hint: string): Problem => ({
  _tag: "InvalidCron",
  field: "expression",
  position,
  column,
  message: `${what}; ${hint}`,
  hint
})

const fieldsHint = "write 5 fields (minute hour day-of-month month weekday), 6 with seconds first, or a nickname such as @daily"

// What is wrong with an expression of `count` fields (not 5 or 6).
const countProblem = (text: string, count: number): Problem => {
  if (count === 0) return expressionProblem(0, 0, "the expression is empty", fieldsHint)
  if (count < 5) return expressionProblem(count, text.length, `expected 5 or 6 fields, found ${count}`, fieldsHint)
  const seventh = text.slice(bounds[12]!, bounds[13]!)
  const hint = count === 7 && /^[0-9*?,\-/]+$/.test(seventh)
    ? "years are not supported: drop the 7th field"
    : `${fieldsHint}: drop the extra ones`
  return expressionProblem(6, bounds[12]!, `expected 5 or 6 fields, found ${count}`, hint)
}

const nickname = (text: string, seed: string): Fields.Fields | Problem => {
  const trimmed = text.trim()
  const name = trimmed.toLowerCase()
  if (Object.hasOwn(aliases, name)) return parse(aliases[name]!, seed)
  return expressionProblem(
    0,
    text.indexOf("@"),
    `unknown nickname ${Items.quote(trimmed)}`,
    `the nicknames are ${Object.keys(aliases).join(", ")}`
  )
}

const full30 = 0x3fffffff

// The bits of the field just read, values min to max (max below 32), all of them when it does not restrict.
const bits = (min: number, max: number): number =>
  Items.every ? ((-1 >>> (31 - max)) >>> min) << min : Items.low | (Items.high << 30)

// The smallest of 60 values in two halves of 30 bits.
const first60 = (lowBits: number, highBits: number) =>
  lowBits !== 0 ? 31 - Math.clz32(lowBits & -lowBits) : 30 + 31 - Math.clz32(highBits & -highBits)

// What to say when no day of any chosen month matches: about the days
// field, or the weekdays field when it alone restricts.
const neverProblem = (text: string, mode: Days.DayMode, dayIndex: number): Problem => {
  const name: Items.FieldName = mode === "weekdays" ? "weekdays" : "days"
  const position = mode === "weekdays" ? dayIndex + 2 : dayIndex
  const hint = mode === "and"
    ? "a day must match both day fields, as one of them starts with *: change either, or drop the * to match either"
    : "choose days the chosen months have (February has 28 or 29, April, June, September and November 30)"
  const what = `${name} field ${Items.quote(text.slice(bounds[2 * position]!, bounds[2 * position + 1]!))}: ` +
    "no day of any chosen month matches, so it never fires"
  return { _tag: "InvalidCron", field: name, position, column: bounds[2 * position]!, message: `${what}; ${hint}`, hint }
}

/**
 * Reads `text` (5 fields, 6 with seconds first, or a nickname) into the
 * bitsets of `cronFields`, with `seed` for `H`; a problem when it is not
 * valid or never fires. Never throws.
 *
 * @internal
 */
export const parse = (text: string, seed: string): Fields.Fields | Problem => {
  const count = splitFields(text)
  if (count > 0 && text.charCodeAt(bounds[0]!) === 64) return nickname(text, seed)
  if (count !== 5 && count !== 6) return countProblem(text, count)
  let at = 0
  const read = (spec: Items.Spec) => {
    const problem = Items.field({ text, spec, position: at, start: bounds[2 * at]!, end: bounds[2 * at + 1]!, seed })
    at++
    return problem
  }
  let secondsLow = 1
  let secondsHigh = 0
  if (count === 6) {
    const problem = read(Items.seconds)
    if (problem !== undefined) return problem
    secondsLow = Items.every ? full30 : Items.low
    secondsHigh = Items.every ? full30 : Items.high
  }
  let problem = read(Items.minutes)
  if (problem !== undefined) return problem
  const minutesLow = Items.every ? full30 : Items.low
  const minutesHigh = Items.every ? full30 : Items.high
  if ((problem = read(Items.hours)) !== undefined) return problem
  const hourBits = bits(0, 23)
  const dayIndex = at
  if ((problem = read(Items.days)) !== undefined) return problem
  const daysEvery = Items.every
  const daysStar = Items.star
  const dayBits = bits(1, 31)
  const dayLast = Items.lastDays
  const dayNearest = Items.nearest
  if ((problem = read(Items.months)) !== undefined) return problem
  const monthBits = bits(1, 12)
  if ((problem = read(Items.weekdays)) !== undefined) return problem
  // 7 is Sunday.
  const weekdayBits = Items.every ? 0x7f : (Items.low & 0x80) === 0 ? Items.low : (Items.low & 0x7f) | 1
  const fields: Fields.Fields = {
    secondsLow,
    secondsHigh,
    minutesLow,
    minutesHigh,
    hours: hourBits,
    months: monthBits,
    days: dayBits,
    lastDays: dayLast,
    nearest: dayNearest,
    weekdays: weekdayBits,
    weekdayNth: Items.nth,
    weekdayLate: Items.late,
    dayMode: Days.dayModeOf(!daysEvery, !Items.every, daysStar || Items.star),
    firstSecond: first60(secondsLow, secondsHigh),
    firstMinute: first60(minutesLow, minutesHigh)
  }
  return Days.possible(fields, monthBits) ? fields : neverProblem(text, fields.dayMode, dayIndex)
}

/**
 * Whether `text` uses `H` (an item starting with H, in any case), so that
 * its fires depend on a seed.
 *
 * @internal
 */
export const usesHash = (text: string): boolean => /(?:^|[\s,])h/i.test(text)
