/**
 * Why a trigger is invalid: one tagged error per reason, each naming what is
 * wrong and where, and `InvalidTrigger`, which carries the reason (and the
 * job whose trigger it is). Re-exported by `Trigger`, where they are used.
 *
 * @since 0.3.0
 */
import * as Schema from "effect/Schema"

/**
 * A cron expression that does not parse (or never fires), naming the `field`
 * and its `position`: the 0-based index of the field as written (so
 * `61 * * * *` is `minutes` at 0, `0 61 * * * *` is `minutes` at 1). For
 * `field` `"expression"` (wrong number of fields, unknown alias) `position`
 * is the index where a field is missing or surplus, 0 for an alias.
 * `column` is the 0-based index in `expression` of the character where the
 * problem starts, `hint` what to write instead (`"L-n takes n from 0 to
 * 30"`); `message` says what is wrong, then the hint.
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
  column: Schema.Number,
  message: Schema.String,
  hint: Schema.String
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
 * A jitter that is not a finite, non-negative whole number of milliseconds,
 * or (with `period`) one longer than the shortest period between two fires
 * of its trigger, which would let a due time pass the next fire: an
 * interval's `every`; a calendar interval's `count` days of 24 hours, the
 * shortest run of `count` consecutive months (28 days for one month, 59 for
 * two, 89 for three), or `count` years of 365 days. Cron jitter is not
 * checked against the expression: it is capped per fire (see
 * {@link dueAt}), as is any jitter where daylight saving or clamping
 * shortens a period.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * new Trigger.InvalidJitter({ jitter: -1 }).message
 * new Trigger.InvalidJitter({ jitter: 120_000, period: 60_000 }).message
 * ```
 *
 * @since 0.1.0
 */
export class InvalidJitter extends Schema.TaggedError<InvalidJitter>()("InvalidJitter", {
  jitter: Schema.Number,
  period: Schema.optionalKey(Schema.Number)
}) {
  override get message(): string {
    return this.period === undefined
      ? `jitter must be a non-negative whole number of milliseconds, got ${this.jitter}`
      : `jitter (${this.jitter} ms) must not exceed the shortest period between two fires (${this.period} ms), ` +
        `or a due time could pass the next fire`
  }
}

/**
 * A calendar interval that cannot fire as described: a `count` that is not
 * a positive whole number (`every("1.5 months")`, or an interval of
 * `every("90 minutes", { timeZone })`, which is not whole days), or a `unit`
 * other than "day", "month" or "year". `message` says which.
 *
 * @example
 * ```ts
 * import { Trigger } from "steadfast"
 * import { Effect } from "effect"
 *
 * Trigger.validate(Trigger.every("1.5 months")).pipe(
 *   Effect.catchReason("InvalidTrigger", "InvalidCalendar", (reason) => Effect.succeed(reason.message))
 * )
 * ```
 *
 * @since 0.3.0
 */
export class InvalidCalendar extends Schema.TaggedError<InvalidCalendar>()("InvalidCalendar", {
  unit: Schema.String,
  count: Schema.Number,
  message: Schema.String
}) {}

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
  InvalidCalendar,
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
