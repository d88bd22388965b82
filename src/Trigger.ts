/**
 * When a job fires: a trigger is a pure, serialisable description of fire
 * times — a cron expression in a time zone, a fixed interval on an anchored
 * grid, or a single instant.
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
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as DurationInput from "./internal/durationInput.ts"
import type * as CronSearch from "./internal/triggerCron.ts"
import * as Schedule from "./internal/triggerSchedule.ts"

const DstOverlap = Schema.Literals(["earlier", "later", "both"])
const defaultTo = <A>(value: A) => Effect.succeed(value)

/**
 * A cron trigger: `expression` (5 fields, or 6 with seconds first, or an
 * alias such as `@daily`) read in `timeZone`; optional window `[start, end]`.
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
  end: Schema.optionalKey(Schema.Number)
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
 * "earlier", `jitter` 0, `anchor` 0). Decoding checks the shape only: use
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
export const Trigger = Schema.Union([CronTrigger, IntervalTrigger, OnceTrigger])

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
 * A cron trigger. Does not validate (see {@link validate}).
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * const weekdays = Trigger.cron("0 9 * * 1-5", { timeZone: "Europe/Berlin", jitter: "30 seconds" })
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
}): Trigger => ({
  _tag: "Cron",
  expression,
  timeZone: options?.timeZone ?? "UTC",
  onDstOverlap: options?.onDstOverlap ?? "earlier",
  jitter: options?.jitter === undefined ? 0 : durationOf(options.jitter),
  ...windowOf(options)
})

/**
 * An interval trigger firing at `anchor + k * interval` (anchor defaults to
 * the epoch, so `every("1 hour")` fires on the hour, UTC). Does not validate.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * const quarterHourly = Trigger.every("15 minutes", { anchor: new Date("2026-01-01T00:05:00Z") })
 * ```
 *
 * @since 0.1.0
 */
export const every = (interval: Duration.Input, options?: {
  readonly anchor?: Instant
  readonly jitter?: Duration.Input
  readonly start?: Instant
  readonly end?: Instant
}): Trigger => ({
  _tag: "Interval",
  every: durationOf(interval),
  anchor: options?.anchor === undefined ? 0 : millisOf(options.anchor),
  jitter: options?.jitter === undefined ? 0 : durationOf(options.jitter),
  ...windowOf(options)
})

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

/**
 * A cron expression that does not parse, naming the `field` and its
 * `position`: the 0-based index of the field as written (so `61 * * * *` is
 * `minutes` at 0, `0 61 * * * *` is `minutes` at 1). For `field`
 * `"expression"` (wrong number of fields, unknown alias) `position` is the
 * index where a field is missing or surplus, 0 for an alias.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * import { Effect } from "effect"
 *
 * Trigger.validate(Trigger.cron("61 * * * *")).pipe(
 *   Effect.catchReason("InvalidTrigger", "InvalidCron", (reason) => Effect.succeed(reason.field))
 * )
 * ```
 *
 * @since 0.1.0
 */
export class InvalidCron extends Schema.TaggedError<InvalidCron>()("InvalidCron", {
  expression: Schema.String,
  field: Schema.Literals(["seconds", "minutes", "hours", "days", "months", "weekdays", "expression"]),
  position: Schema.Number,
  message: Schema.String
}) {}

/**
 * A time zone the runtime does not know (not an IANA name nor an offset).
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * new Trigger.UnknownTimeZone({ zone: "Mars/Olympus" }).message // unknown time zone "Mars/Olympus"
 * ```
 *
 * @since 0.1.0
 */
export class UnknownTimeZone extends Schema.TaggedError<UnknownTimeZone>()("UnknownTimeZone", {
  zone: Schema.String
}) {
  override get message(): string {
    return `unknown time zone "${this.zone}"`
  }
}

/**
 * An interval that is not a positive whole number of milliseconds.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * new Trigger.InvalidInterval({ every: 0 }).message
 * ```
 *
 * @since 0.1.0
 */
export class InvalidInterval extends Schema.TaggedError<InvalidInterval>()("InvalidInterval", {
  every: Schema.Number
}) {
  override get message(): string {
    return `interval must be a positive whole number of milliseconds, got ${this.every}`
  }
}

/**
 * A window whose `end` is not after its `start`.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * new Trigger.InvalidWindow({ start: 10, end: 5 }).message
 * ```
 *
 * @since 0.1.0
 */
export class InvalidWindow extends Schema.TaggedError<InvalidWindow>()("InvalidWindow", {
  start: Schema.Number,
  end: Schema.Number
}) {
  override get message(): string {
    return `window end (${this.end}) must be after its start (${this.start})`
  }
}

/**
 * An instant (`field`) that is not a finite whole number of epoch
 * milliseconds, such as `new Date("nonsense")`.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * new Trigger.InvalidInstant({ field: "at", value: Number.NaN }).message
 * ```
 *
 * @since 0.1.0
 */
export class InvalidInstant extends Schema.TaggedError<InvalidInstant>()("InvalidInstant", {
  field: Schema.Literals(["at", "anchor", "start", "end"]),
  value: Schema.Number
}) {
  override get message(): string {
    return `${this.field} must be a finite whole number of epoch milliseconds, got ${this.value}`
  }
}

/**
 * A jitter that is not a finite, non-negative whole number of milliseconds.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * new Trigger.InvalidJitter({ jitter: -1 }).message
 * ```
 *
 * @since 0.1.0
 */
export class InvalidJitter extends Schema.TaggedError<InvalidJitter>()("InvalidJitter", {
  jitter: Schema.Number
}) {
  override get message(): string {
    return `jitter must be a non-negative whole number of milliseconds, got ${this.jitter}`
  }
}

/**
 * A value that is not a trigger at all, as a JavaScript caller may pass: an
 * unknown `_tag`, or a field of the wrong type (a cron expression that is not
 * a string, an instant that is a BigInt).
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * new Trigger.MalformedTrigger({ issue: "expression: Expected string, got 5" }).message
 * ```
 *
 * @since 0.2.0
 */
export class MalformedTrigger extends Schema.TaggedError<MalformedTrigger>()("MalformedTrigger", {
  issue: Schema.String
}) {
  override get message(): string {
    return `not a trigger: ${this.issue}`
  }
}

/**
 * Why a trigger is invalid: each reason is its own tagged error.
 *
 * @since 0.1.0
 */
export const InvalidTriggerReason = Schema.Union([
  InvalidCron,
  UnknownTimeZone,
  InvalidInterval,
  InvalidWindow,
  InvalidInstant,
  InvalidJitter,
  MalformedTrigger
])

/** Why a trigger is invalid. @since 0.1.0 */
export type InvalidTriggerReason = typeof InvalidTriggerReason.Type

/**
 * A trigger that cannot fire as described; `reason` says what and where,
 * `jobId` whose trigger it is (set when the scheduler validates a job).
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * import { Effect } from "effect"
 *
 * const program = Trigger.validate(Trigger.every(0)).pipe(
 *   Effect.catchTag("InvalidTrigger", (error) => Effect.succeed(error.reason._tag)) // "InvalidInterval"
 * )
 * ```
 *
 * @since 0.1.0
 */
export class InvalidTrigger extends Schema.TaggedError<InvalidTrigger>()("InvalidTrigger", {
  reason: InvalidTriggerReason,
  jobId: Schema.optionalKey(Schema.String)
}) {
  override readonly cause = this.reason

  override get message(): string {
    const job = this.jobId === undefined ? "" : ` of job ${JSON.stringify(this.jobId.slice(0, 100))}`
    return `invalid trigger${job}: ${this.reason.message}`
  }
}

// `validate` checks the shape first, so that every reason it builds has fields of the right types.
const isTrigger = Schema.is(Trigger)
const decodeShape = Schema.decodeUnknownResult(Schema.toType(Trigger))

const reasonOf = (problem: Schedule.Problem): InvalidTriggerReason => {
  switch (problem._tag) {
    case "InvalidCron":
      return new InvalidCron(problem)
    case "UnknownTimeZone":
      return new UnknownTimeZone(problem)
    case "InvalidInterval":
      return new InvalidInterval(problem)
    case "InvalidWindow":
      return new InvalidWindow(problem)
    case "InvalidInstant":
      return new InvalidInstant(problem)
    case "InvalidJitter":
      return new InvalidJitter(problem)
    case "MalformedTrigger":
      return new MalformedTrigger(problem)
  }
}

/**
 * Checks that `trigger` can fire as described: the cron expression parses
 * (and some month has its days), the zone exists, the interval is a positive
 * whole number of milliseconds, instants are finite whole milliseconds, the
 * jitter is not negative and the window's end is after its start.
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
    return yield* new InvalidTrigger({ reason: new MalformedTrigger({ issue }) })
  }
  const problem = Schedule.problem(trigger)
  if (problem !== undefined) return yield* new InvalidTrigger({ reason: reasonOf(problem) })
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
 * When the fire at `fire` is due: `fire` plus a jitter in `[0, trigger.jitter)`
 * milliseconds that depends only on `seed` (the job id) and `fire`, so every
 * process computes the same due time. The jitter is
 * `floor(h * jitter)` where `h` is FNV-1a (32 bit, over the UTF-8 bytes of
 * `${seed}|${fire}`, `fire` in decimal) followed by murmur3's fmix32, divided
 * by 2^32.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 *
 * const trigger = Trigger.cron("@hourly", { jitter: "5 minutes" })
 * Trigger.dueAt(trigger, 3_600_000, "report") // between 3_600_000 and 3_899_999
 * ```
 *
 * @since 0.1.0
 */
export const dueAt = (trigger: Trigger, fire: number, seed: string): number => {
  const jitter = trigger._tag === "Once" ? 0 : trigger.jitter
  return jitter > 0 && Number.isFinite(jitter) ? fire + Math.floor(Schedule.unitHash(`${seed}|${fire}`) * jitter) : fire
}

/**
 * One line of a {@link preview}: a fire (`dst` `"none"`), a fire moved to the
 * end of a spring-forward gap (`"shifted"`), or an occurrence of a repeated
 * wall time that the overlap policy does not fire (`"skipped"`). `iso` is the
 * instant with its offset in the trigger's zone (UTC for intervals and
 * one-offs), e.g. `2026-03-29T03:00:00+02:00`; `note` explains DST entries.
 *
 * @since 0.1.0
 */
export interface PreviewEntry {
  readonly fire: number
  readonly iso: string
  readonly dst: "none" | "shifted" | "skipped"
  readonly note?: string
}

/**
 * The next `n` fires after `from`, marking what daylight saving did. Skipped
 * occurrences are listed between them but do not count towards `n` (so the
 * result may be longer than `n`); it is shorter when the trigger stops firing
 * and empty when the trigger is invalid.
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
  Schedule.preview(trigger, from, n)
