/**
 * The days of a month that a cron expression's two day fields choose: civil
 * dates as integers, and one bitmask per month (bit d for day d) built from
 * the rules of the day-of-month field (values, `L`, `L-n`, `nW`, `LW`) and
 * of the weekday field (weekdays, `nL`, `n#k`), combined by the day-field
 * rule (see {@link DayMode}).
 *
 * A month's mask depends only on its length and the weekday of its first
 * day, so whether an expression can ever fire is a check of at most
 * 12 × 2 × 7 masks ({@link possible}): within one 400-year cycle of the
 * Gregorian calendar (146,097 days, exactly 20,871 weeks) every month starts
 * on every weekday, February with 28 and with 29 days, and the cycle repeats.
 *
 * @internal
 */

/**
 * How the day-of-month and weekday fields combine: neither restricts
 * (`any`), one alone does (`days`, `weekdays`), both do and a day matches
 * either (`or`, cron's rule) or both (`and`, when either field's first item
 * is `*`, as in Vixie cron and Effect's `Cron`). A field that is `*` (or
 * `?`) does not restrict.
 *
 * @internal
 */
export type DayMode = "any" | "days" | "weekdays" | "or" | "and"

/** How the two day fields combine, from whether each restricts and the `*` rule. @internal */
export const dayModeOf = (days: boolean, weekdays: boolean, and: boolean): DayMode =>
  !days ? (weekdays ? "weekdays" : "any") : !weekdays ? "days" : and ? "and" : "or"

/**
 * The day fields as bitsets.
 *
 * @internal
 */
export interface DayFields {
  /** Bit d for day d (1-31). */
  readonly days: number
  /** Bit n for `L-n`, the day n days before the last (`L` is bit 0). */
  readonly lastDays: number
  /** Bit d for `dW`, the weekday nearest day d (1-31); bit 0 for `LW`. */
  readonly nearest: number
  /** Bit w for weekday w (0 Sunday to 6 Saturday). */
  readonly weekdays: number
  /** Bit 7(k-1)+w for `w#k`, the k-th weekday w of the month, k from 1 to 4. */
  readonly weekdayNth: number
  /** Bits 0-6: the fifth weekday w (`w#5`); bits 8-14: the last weekday w (`wL`). */
  readonly weekdayLate: number
  readonly dayMode: DayMode
}

// Civil dates from and to days since the epoch (proleptic Gregorian, any
// year), after Howard Hinnant's `days_from_civil` and `civil_from_days`.

/** Days since 1970-01-01 of year, month (1-12), day. @internal */
export const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146_097 + dayOfEra - 719_468
}

/** Year, month (1-12) and day of a day since the epoch. @internal */
export const civilFromDays = (days: number): readonly [number, number, number] => {
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const dayOfEra = z - era * 146_097
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1_460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365
  )
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100))
  const mp = Math.floor((5 * dayOfYear + 2) / 153)
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  return [month <= 2 ? yearOfEra + era * 400 + 1 : yearOfEra + era * 400, month, day]
}

const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
const monthLength = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** The number of days of a month (1-12). @internal */
export const daysIn = (year: number, month: number): number =>
  month === 2 && isLeap(year) ? 29 : monthLength[month]!

/** 0 Sunday .. 6 Saturday of a day since the epoch (a Thursday). @internal */
const weekdayOf = (days: number): number => (((days + 4) % 7) + 7) % 7

// Bits 1 to n: the days of a month of n days.
const daysUpTo = (n: number) => (-1 >>> (31 - n)) & ~1

const lowestBit = (mask: number) => 31 - Math.clz32(mask & -mask)

// The weekday nearest day d (Quartz's `W`): d itself on Monday to Friday; a
// Saturday moves to the Friday before, a Sunday to the Monday after, but
// never out of the month (Saturday the 1st moves to Monday the 3rd, Sunday
// the last to Friday). No day when the month has no day d.
const nearestWeekday = (d: number, length: number, first: number): number => {
  if (d > length) return 0
  const weekday = (first + d - 1) % 7
  if (weekday === 6) return d === 1 ? 3 : d - 1
  if (weekday === 0) return d === length ? d - 2 : d + 1
  return d
}

// The days chosen by the day-of-month field, in a month of `length` days starting on weekday `first`.
const dayPart = (fields: DayFields, length: number, first: number): number => {
  let mask = fields.days
  for (let rest = fields.lastDays; rest !== 0; rest &= rest - 1) {
    const d = length - lowestBit(rest)
    if (d >= 1) mask |= 1 << d
  }
  for (let rest = fields.nearest; rest !== 0; rest &= rest - 1) {
    const bit = lowestBit(rest)
    // Bit 0 is LW: the weekday nearest the last day, which is never after it.
    const d = nearestWeekday(bit === 0 ? length : bit, length, first)
    if (d >= 1) mask |= 1 << d
  }
  return mask
}

// The days chosen by the weekday field.
const weekdayPart = (fields: DayFields, length: number, first: number): number => {
  // The weekdays of days 1-7, repeated every week.
  let week = 0
  for (let k = 0; k < 7; k++) if ((fields.weekdays >>> ((first + k) % 7)) & 1) week |= 1 << (k + 1)
  let mask = week | (week << 7) | (week << 14) | (week << 21) | (week << 28)
  if (fields.weekdayNth === 0 && fields.weekdayLate === 0) return mask
  const lastWeekday = (first + length - 1) % 7
  for (let w = 0; w < 7; w++) {
    // The first weekday w of the month, then every 7 days.
    const firstDay = 1 + ((w - first + 7) % 7)
    for (let k = 0; k < 4; k++) if ((fields.weekdayNth >>> (7 * k + w)) & 1) mask |= 1 << (firstDay + 7 * k)
    if ((fields.weekdayLate >>> w) & 1 && firstDay + 28 <= length) mask |= 1 << (firstDay + 28)
    if ((fields.weekdayLate >>> (w + 8)) & 1) mask |= 1 << (length - ((lastWeekday - w + 7) % 7))
  }
  return mask
}

/**
 * Bit d set for each day d of a month of `length` days, starting on weekday
 * `first`, that the day fields choose.
 *
 * @internal
 */
const monthMask = (fields: DayFields, length: number, first: number): number => {
  const all = daysUpTo(length)
  switch (fields.dayMode) {
    case "any":
      return all
    case "days":
      return dayPart(fields, length, first) & all
    case "weekdays":
      return weekdayPart(fields, length, first) & all
    case "and":
      return dayPart(fields, length, first) & weekdayPart(fields, length, first) & all
    case "or":
      return (dayPart(fields, length, first) | weekdayPart(fields, length, first)) & all
  }
}

/**
 * Bit d set for each day d of the month that the day fields choose.
 *
 * @internal
 */
export const dayMask = (fields: DayFields, year: number, month: number): number =>
  monthMask(fields, daysIn(year, month), weekdayOf(daysFromCivil(year, month, 1)))

/**
 * Whether some day of some month in `months` (bit m for month m) is chosen,
 * in some year: then one is within every 400 years (see the module header).
 *
 * @internal
 */
export const possible = (fields: DayFields, months: number): boolean => {
  for (let month = 1; month <= 12; month++) {
    if (((months >>> month) & 1) === 0) continue
    for (let first = 0; first < 7; first++) {
      if (monthMask(fields, monthLength[month]!, first) !== 0) return true
      if (month === 2 && monthMask(fields, 29, first) !== 0) return true
    }
  }
  return false
}
