/**
 * When a job fires: a trigger is a pure, serialisable description of fire
 * times — a cron expression in a time zone, a fixed interval on an anchored
 * grid, a calendar interval (days, months or years in wall-clock time of a
 * zone), or a single instant.
 *
 * Everything here is a function of its arguments (no clock, no state beyond
 * caches), so every process computes the same fire times and the same
 * jittered due times. All instants are epoch milliseconds.
 *
 * Daylight saving, for cron triggers in a named zone:
 * - a wall time that occurs twice (clocks go back) fires by `onDstOverlap`:
 *   `"earlier"` (default) the first occurrence, `"later"` the second, `"both"`
 *   both. Crons that fire several times an hour usually want `"both"`, or they
 *   pause for the repeated hour;
 * - wall times that do not exist (clocks go forward) fire once, at the first
 *   instant after the gap, when the hours field is restricted (`30 2 * * *`
 *   fires at 03:00 that day); when every hour is allowed (`15 * * * *`) they
 *   are dropped, as the next fire is at most an hour away. Croner and Vixie
 *   cron do the same for fixed-time and every-hour crons, but drop skipped
 *   times of crons like `0,30 2 * * *`, which then miss a day.
 *
 * Calendar intervals (`every("1 month")`, `every("1 day", { timeZone })`)
 * fire at a wall time that does not exist at the end of the gap, and at a
 * wall time that occurs twice once, at its first occurrence (see
 * {@link every}). {@link preview} shows each such decision with a note.
 *
 * Jitter delays a fire's due time, never its fire time, and stays inside the
 * schedule: a due time is before the next fire and not after `end` (see
 * {@link dueAt}).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as DurationInput from "./internal/durationInput.ts"
import type * as CronSearch from "./internal/triggerCron.ts"
import * as Preview from "./internal/triggerPreview.ts"
import * as Schedule from "./internal/triggerSchedule.ts"
import * as TriggerError from "./TriggerError.ts"

const DstOverlap = Schema.Literals(["earlier", "later", "both"])
const defaultTo = <A>(value: A) => Effect.succeed(value)

/**
 * A cron trigger: `expression` (5 fields, or 6 with seconds first, or an
 * alias such as `@daily`) read in `timeZone`; optional window `[start, end]`.
 * `seed` spreads the values of `H` in the expression (`H * * * *` fires at a
 * minute chosen by it); `Job.make` sets it to the job's id when the
 * expression uses `H` and has none; without one, `H` is spread by "".
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Trigger.CronTrigger)({ _tag: "Cron", expression: "@hourly" }).timeZone // "UTC"
 * ```
 *
 * @since 0.1.0
 */
export const CronTrigger = Schema.TaggedStruct("Cron", {
  expression: Schema.String,
  timeZone: Schema.String.pipe(Schema.withDecodingDefaultKey(defaultTo("UTC"))),
  onDstOverlap: DstOverlap.pipe(Schema.withDecodingDefaultKey(defaultTo<"earlier" | "later" | "both">("earlier"))),
  jitter: Schema.Number.pipe(Schema.withDecodingDefaultKey(defaultTo(0))),
  start: Schema.optionalKey(Schema.Number),
  end: Schema.optionalKey(Schema.Number),
  seed: Schema.optionalKey(Schema.String)
})

/** A cron trigger value. @since 0.1.0 */
export type CronTrigger = typeof CronTrigger.Type

/**
 * An interval trigger: fires at `anchor + k * every` for every integer `k`
 * (the grid extends before the anchor; use `start` to begin later).
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Trigger.IntervalTrigger)({ _tag: "Interval", every: 60_000 }).anchor // 0
 * ```
 *
 * @since 0.1.0
 */
export const IntervalTrigger = Schema.TaggedStruct("Interval", {
  every: Schema.Number,
  anchor: Schema.Number.pipe(Schema.withDecodingDefaultKey(defaultTo(0))),
  jitter: Schema.Number.pipe(Schema.withDecodingDefaultKey(defaultTo(0))),
  start: Schema.optionalKey(Schema.Number),
  end: Schema.optionalKey(Schema.Number)
})

/** An interval trigger value. @since 0.1.0 */
export type IntervalTrigger = typeof IntervalTrigger.Type

/**
 * A calendar interval: fires `count` days, months or years apart in
 * wall-clock time of `timeZone` (see {@link every} for the rules). Without
 * `anchor`, the grid starts at midnight, 1 January 1970, wall time in the
 * zone.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Trigger.CalendarTrigger)({ _tag: "Calendar", unit: "month" }).count // 1
 * ```
 *
 * @since 0.3.0
 */
export const CalendarTrigger = Schema.TaggedStruct("Calendar", {
  unit: Schema.Literals(["day", "month", "year"]),
  count: Schema.Number.pipe(Schema.withDecodingDefaultKey(defaultTo(1))),
  timeZone: Schema.String.pipe(Schema.withDecodingDefaultKey(defaultTo("UTC"))),
  anchor: Schema.optionalKey(Schema.Number),
  jitter: Schema.Number.pipe(Schema.withDecodingDefaultKey(defaultTo(0))),
  start: Schema.optionalKey(Schema.Number),
  end: Schema.optionalKey(Schema.Number)
})

/** A calendar interval trigger value. @since 0.3.0 */
export type CalendarTrigger = typeof CalendarTrigger.Type

/**
 * A one-off trigger: fires once, at `at`.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Trigger.OnceTrigger)({ _tag: "Once", at: 0 }).at // 0
 * ```
 *
 * @since 0.1.0
 */
export const OnceTrigger = Schema.TaggedStruct("Once", { at: Schema.Number })

/** A one-off trigger value. @since 0.1.0 */
export type OnceTrigger = typeof OnceTrigger.Type

/**
 * The codec of every trigger, tagged by `_tag`. Its encoded form is plain
 * JSON; decoding fills the defaults (`timeZone` "UTC", `onDstOverlap`
 * "earlier", `jitter` 0, an interval's `anchor` 0, a calendar's `count` 1). Decoding checks the shape only: use
 * {@link decode} to also {@link validate}.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * import { Schema } from "effect"
 *
 * const json = JSON.stringify(Schema.encodeSync(Trigger.Trigger)(Trigger.cron("0 9 * * 1-5")))
 * Schema.decodeUnknownSync(Trigger.Trigger)(JSON.parse(json))._tag // "Cron"
 * ```
 *
 * @since 0.1.0
 */
export const Trigger = Schema.Union([CronTrigger, IntervalTrigger, CalendarTrigger, OnceTrigger])

/** A trigger value. @since 0.1.0 */
export type Trigger = typeof Trigger.Type

/** Which occurrences of a repeated wall time fire (see the module header). @since 0.1.0 */
export type DstOverlap = CronSearch.DstOverlap

type Instant = Date | number

// Anything but a `Date` or a number (a string, a BigInt, null from a
// JavaScript caller) becomes NaN, which `validate` reports as InvalidInstant.
const millisOf = (instant: Instant): number =>
  instant instanceof Date ? instant.getTime() : typeof instant === "number" ? instant : Number.NaN

// Numbers are milliseconds as given; what is not a duration becomes NaN, which `validate` reports.
const durationOf = (input: Duration.Input): number =>
  typeof input === "number" ? input : DurationInput.decodeMillis(input) ?? Number.NaN

const windowOf = (options?: { readonly start?: Instant; readonly end?: Instant }) => ({
  ...(options?.start === undefined ? {} : { start: millisOf(options.start) }),
  ...(options?.end === undefined ? {} : { end: millisOf(options.end) })
})

/**
 * A cron trigger. Does not validate (see {@link validate}). `seed` spreads
 * the values of `H` (see {@link CronTrigger}); a job sets it to its id.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * const weekdays = Trigger.cron("0 9 * * 1-5", { timeZone: "Europe/Berlin", jitter: "30 seconds" })
 * const hourly = Trigger.cron("H * * * *", { seed: "report" }) // at a minute chosen by "report"
 * ```
 *
 * @since 0.1.0
 */
export const cron = (expression: string, options?: {
  readonly timeZone?: string
  readonly onDstOverlap?: DstOverlap
  readonly jitter?: Duration.Input
  readonly start?: Instant
  readonly end?: Instant
  readonly seed?: string
}): Trigger => ({
  _tag: "Cron",
  expression,
  timeZone: options?.timeZone ?? "UTC",
  onDstOverlap: options?.onDstOverlap ?? "earlier",
  jitter: options?.jitter === undefined ? 0 : durationOf(options.jitter),
  ...windowOf(options),
  ...(options?.seed === undefined ? {} : { seed: options.seed })
})

/**
 * A calendar interval written as a string, which `Duration.Input` cannot
 * express (a month or a year has no fixed length): `"1 month"`, `"3 months"`,
 * `"1 year"`, `"2 years"`.
 *
 * @since 0.3.0
 */
export type CalendarInterval = `${number} ${"month" | "months" | "year" | "years"}`

// The shape of Effect's duration strings, with calendar units.
const calendarPattern = /^(-?\d+(?:\.\d+)?)\s+(months?|years?)$/
const DAY = 86_400_000

// An interval in milliseconds; what is not a duration becomes NaN, which `validate` reports.
const intervalMillis = (input: Duration.Input | CalendarInterval): number =>
  typeof input === "number" ? input : DurationInput.decodeMillis(input) ?? Number.NaN

/**
 * A trigger firing at regular intervals. Does not validate (see
 * {@link validate}).
 *
 * - A fixed interval (a `Duration.Input` with no `timeZone`) fires at
 *   `anchor + k * interval` for every integer `k` (anchor defaults to the
 *   epoch, so `every("1 hour")` fires on the hour, UTC). The arithmetic is
 *   exact for every interval and anchor `validate` accepts (up to ±8.64e15 ms).
 * - A calendar interval (`"1 month"`, `"3 months"`, `"1 year"`; or a whole
 *   number of days or weeks given with a `timeZone`) fires at the anchor's
 *   wall-clock date and time in `timeZone` (default "UTC") plus `k` intervals:
 *   months and years are added to the anchor's year and month, the day of the
 *   month clamped to the month's last day (an anchor on 31 January fires on 28
 *   or 29 February, 31 March, 30 April: always from the anchor, never from the
 *   previous fire; 29 February yearly fires on 28 February in other years);
 *   days keep the wall time of day across daylight saving. A wall time in a
 *   spring-forward gap fires at the end of the gap; one that occurs twice
 *   fires once, at its first occurrence. Without `anchor` the grid starts at
 *   midnight, 1 January 1970, wall time in the zone (monthly fires at 00:00 on
 *   the 1st). With a `timeZone`, an interval that is not a whole number of
 *   days is invalid (`InvalidCalendar`).
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * const quarterHourly = Trigger.every("15 minutes", { anchor: new Date("2026-01-01T00:05:00Z") })
 * const monthEnd = Trigger.every("1 month", { anchor: new Date("2026-01-31T09:00:00Z") }) // 28 Feb, 31 Mar, 30 Apr...
 * const berlinMornings = Trigger.every("1 day", {
 *   timeZone: "Europe/Berlin",
 *   anchor: new Date("2026-01-01T06:00:00Z") // 07:00 in Berlin, every day, summer and winter
 * })
 * ```
 *
 * @since 0.1.0
 */
export const every = (interval: Duration.Input | CalendarInterval, options?: {
  readonly anchor?: Instant
  readonly timeZone?: string
  readonly jitter?: Duration.Input
  readonly start?: Instant
  readonly end?: Instant
}): Trigger => {
  const jitter = options?.jitter === undefined ? 0 : durationOf(options.jitter)
  const calendar = typeof interval === "string" ? calendarPattern.exec(interval.trim()) : null
  if (calendar === null && options?.timeZone === undefined) {
    return {
      _tag: "Interval",
      every: intervalMillis(interval),
      anchor: options?.anchor === undefined ? 0 : millisOf(options.anchor),
      jitter,
      ...windowOf(options)
    }
  }
  return {
    _tag: "Calendar",
    unit: calendar === null ? "day" : calendar[2]!.startsWith("month") ? "month" : "year",
    count: calendar === null ? intervalMillis(interval) / DAY : Number(calendar[1]),
    timeZone: options?.timeZone ?? "UTC",
    ...(options?.anchor === undefined ? {} : { anchor: millisOf(options.anchor) }),
    jitter,
    ...windowOf(options)
  }
}

/**
 * A trigger firing once, at `at`. Does not validate.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * const launch = Trigger.once(new Date("2026-06-01T12:00:00Z"))
 * ```
 *
 * @since 0.1.0
 */
export const once = (at: Instant): Trigger => ({ _tag: "Once", at: millisOf(at) })

// The errors live in their own module; they are part of this one's API.
export * from "./TriggerError.ts"

// `validate` checks the shape first, so that every reason it builds has fields of the right types.
const isTrigger = Schema.is(Trigger)
const decodeShape = Schema.decodeUnknownResult(Schema.toType(Trigger))

const reasonOf = (problem: Schedule.Problem): TriggerError.InvalidTriggerReason => {
  switch (problem._tag) {
    case "InvalidCron":
      return new TriggerError.InvalidCron(problem)
    case "UnknownTimeZone":
      return new TriggerError.UnknownTimeZone(problem)
    case "InvalidInterval":
      return new TriggerError.InvalidInterval(problem)
    case "InvalidWindow":
      return new TriggerError.InvalidWindow(problem)
    case "InvalidInstant":
      return new TriggerError.InvalidInstant(problem)
    case "InvalidJitter":
      return new TriggerError.InvalidJitter(problem)
    case "InvalidCalendar":
      return new TriggerError.InvalidCalendar(problem)
    case "MalformedTrigger":
      return new TriggerError.MalformedTrigger(problem)
  }
}

/**
 * Checks that `trigger` can fire as described: the cron expression parses
 * (and some month has its days), the zone exists, the interval is a positive
 * whole number of milliseconds (a calendar interval's count a positive whole
 * number), instants are finite whole milliseconds, the jitter is not
 * negative and, for intervals, not longer than the shortest period between
 * two fires (see {@link InvalidJitter}), and the window's end is after its
 * start.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const trigger = yield* Trigger.validate(Trigger.cron("0 9 * * 1-5", { timeZone: "Europe/Berlin" }))
 *   return Trigger.next(trigger, 0)
 * })
 * ```
 *
 * @since 0.1.0
 */
export const validate = Effect.fn("Trigger.validate")(function*(trigger: Trigger) {
  if (!isTrigger(trigger)) {
    const issue = Result.match(decodeShape(trigger), { onFailure: (error) => error.message, onSuccess: () => "not a trigger" })
    return yield* new TriggerError.InvalidTrigger({ reason: new TriggerError.MalformedTrigger({ issue }) })
  }
  // A jitter longer than the period is refused here only: a stored trigger
  // with one keeps firing, its due times capped by `dueAt`.
  const problem = Schedule.problem(trigger) ?? Schedule.jitterProblem(trigger)
  if (problem !== undefined) return yield* new TriggerError.InvalidTrigger({ reason: reasonOf(problem) })
  return trigger
})

/**
 * Decodes a trigger from its JSON form, then {@link validate}s it.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * const program = Trigger.decode(JSON.parse('{"_tag":"Interval","every":60000}'))
 * ```
 *
 * @since 0.1.0
 */
export const decode = Effect.fn("Trigger.decode")(function*(json: unknown) {
  const trigger = yield* Schema.decodeUnknownEffect(Trigger)(json)
  return yield* validate(trigger)
})

/**
 * The first nominal fire strictly after `after`, within the window (none
 * before `start`, none after `end`, both inclusive), under the DST rules of
 * the module header. `Option.none()` when there is no further fire: a
 * one-off in the past, a window that has ended, or an invalid trigger.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * Trigger.next(Trigger.every("1 minute"), 90_000) // Option.some(120000)
 * Trigger.next(Trigger.once(1_000), 1_000) // Option.none()
 * ```
 *
 * @since 0.1.0
 */
export const next = (trigger: Trigger, after: number): Option.Option<number> =>
  Schedule.problem(trigger) === undefined ? Option.fromUndefinedOr(Schedule.nextFire(trigger, after)) : Option.none()

/**
 * When the fire at `fire` is due: `fire` plus a jitter in `[0, room)`
 * milliseconds that depends only on `seed` (the job id) and `fire`, so every
 * process computes the same due time. The jitter is `floor(h * room)` where
 * `h` is FNV-1a (32 bit, over the UTF-8 bytes of `${seed}|${fire}`, `fire`
 * in decimal) followed by murmur3's fmix32, divided by 2^32.
 *
 * `room` is `trigger.jitter`, capped so that the due time stays inside the
 * schedule: at most the time to the trigger's next fire after `fire` (so
 * due times of one job stay in fire order: `fire <= dueAt < next fire`) and
 * at most `end - fire + 1` (so a due time never passes the window's `end`;
 * without `end`, 8.64e15, the last instant a `Date` holds). A jitter that
 * needs no cap gives the same due time as before the cap existed. A trigger
 * `validate` rejects is not capped.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * const trigger = Trigger.cron("@hourly", { jitter: "5 minutes" })
 * Trigger.dueAt(trigger, 3_600_000, "report") // between 3_600_000 and 3_899_999
 * const tight = Trigger.cron("0,1 * * * *", { jitter: "5 minutes" })
 * Trigger.dueAt(tight, 3_600_000, "report") // before 3_660_000, the next fire
 * ```
 *
 * @since 0.1.0
 */
export const dueAt = (trigger: Trigger, fire: number, seed: string): number => {
  const room = Schedule.jitterRoom(trigger, fire)
  return room > 0 ? fire + Math.floor(Schedule.unitHash(`${seed}|${fire}`) * room) : fire
}

/**
 * One line of a {@link preview}: a fire, or a decision about one, with its
 * instant (`fire`), that instant with its offset in the trigger's zone
 * (`iso`, UTC for intervals and one-offs, e.g. `2026-03-29T03:00:00+02:00`)
 * and, for every decision, a `note` a person can read.
 *
 * `dst` says what daylight saving did: `"none"`; `"shifted"` (a fire moved
 * to the end of a spring-forward gap); `"skipped"` (not a fire: an
 * occurrence of a repeated wall time the overlap policy does not run);
 * `"dropped"` (not a fire: wall times a gap removed, for crons that allow
 * every hour; `fire` is the end of the gap, one entry per gap).
 *
 * `decisions` lists every decision on the entry (absent when there is none):
 * the `dst` ones, `"merged"` (a fire that stands for both occurrences of a
 * repeated wall time, under `onDstOverlap` "earlier" or "later", or on a
 * calendar interval), `"clamped"` (a calendar fire moved to the last day of
 * a short month) and `"end"` (not a fire: the window ends at `fire`, its
 * `end`, and nothing fires after it). {@link isFire} tells fires apart.
 *
 * @since 0.1.0
 */
export interface PreviewEntry {
  readonly fire: number
  readonly iso: string
  readonly dst: "none" | "shifted" | "skipped" | "dropped"
  readonly note?: string
  readonly decisions?: ReadonlyArray<"shifted" | "skipped" | "dropped" | "merged" | "clamped" | "end">
}

/**
 * Whether a {@link preview} entry is a fire (and not a skipped or dropped
 * occurrence, or the end of the window).
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * const entries = Trigger.preview(Trigger.every("1 hour", { end: 7_200_000 }), 0, 5)
 * entries.filter(Trigger.isFire).length // 2
 * ```
 *
 * @since 0.3.0
 */
export const isFire = (entry: PreviewEntry): boolean =>
  entry.dst !== "skipped" && entry.dst !== "dropped" && !(entry.decisions?.includes("end") ?? false)

/**
 * The next `n` fires after `from`, with every decision the schedule made
 * about them, in time order (see {@link PreviewEntry}): fires shifted by a
 * gap, wall times dropped in a gap, occurrences of repeated times skipped,
 * fires that stand for both occurrences, calendar days clamped, and, when
 * the window ends before `n` fires, an entry for its end. Entries that are
 * not fires do not count towards `n` (so the result may be longer than
 * `n`); it is shorter when the trigger stops firing and empty when the
 * trigger is invalid.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * const entries = Trigger.preview(
 *   Trigger.cron("30 2 * * *", { timeZone: "Europe/Berlin" }),
 *   Date.parse("2026-03-28T12:00:00Z"),
 *   1
 * )
 * entries[0]?.iso // "2026-03-29T03:00:00+02:00"
 * entries[0]?.dst // "shifted"
 * ```
 *
 * @since 0.1.0
 */
export const preview = (trigger: Trigger, from: number, n: number): ReadonlyArray<PreviewEntry> =>
  Preview.preview(trigger, from, n)
