/**
 * `Duration.Input` from untrusted values, through `Schema`: what the public
 * API accepts as a duration ("30 seconds", 5000, a `Duration`, ...) decoded
 * into milliseconds, or a sentence saying why not.
 *
 * `Duration.fromInput` is too lenient to be the check: it reads `NaN` as zero,
 * `{ secs: 5 }` as zero and `[1, NaN]` as zero, and its unsafe twin throws on
 * "5 minutez". Here every one of those is an error.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"

const fromParts = Schema.Tuple([Schema.Int, Schema.Int]).pipe(
  Schema.decodeTo(
    Schema.Duration,
    SchemaTransformation.transform({
      decode: ([seconds, nanos]) => Duration.sum(Duration.seconds(seconds), Duration.nanos(BigInt(nanos))),
      encode: (duration) => [Math.trunc(Duration.toSeconds(duration)), 0] as const
    })
  )
)

const part = Schema.optionalKey(Schema.Finite)
const fromObject = Schema.Struct({
  weeks: part,
  days: part,
  hours: part,
  minutes: part,
  seconds: part,
  milliseconds: part,
  microseconds: part,
  nanoseconds: part
}).pipe(
  Schema.decodeTo(
    Schema.Duration,
    SchemaTransformation.transformEffect({
      decode: (parts, options) =>
        Option.match(Duration.fromInput(parts), {
          onNone: () => Effect.fail(new SchemaIssue.InvalidValue({ expected: "a duration" }, parts, options)),
          onSome: Effect.succeed
        }),
      encode: (duration) => Effect.succeed({ milliseconds: Duration.toMillis(duration) })
    })
  )
)

/**
 * Every form of `Duration.Input`, decoded to a `Duration`: a `Duration`, a
 * finite number of milliseconds, a string such as "5 minutes", a bigint of
 * nanoseconds, a `[seconds, nanos]` pair, or an object of finite parts
 * (`{ minutes: 5 }`, no other keys).
 *
 * @internal
 */
export const DurationInput = Schema.Union([
  Schema.Duration,
  Schema.Finite.pipe(Schema.decodeTo(Schema.Duration, SchemaTransformation.durationFromMillis)),
  Schema.DurationFromString,
  Schema.DurationFromNanos,
  fromParts,
  fromObject
])

const decode = Schema.decodeUnknownResult(DurationInput, { onExcessProperty: "error" })

const show = (input: unknown): string => {
  if (typeof input === "string") return JSON.stringify(input.length > 64 ? `${input.slice(0, 64)}…` : input)
  if (typeof input === "bigint") return `${input}n`
  if (typeof input === "number" || typeof input === "boolean" || input === null || input === undefined) {
    return String(input)
  }
  return typeof input === "object" ? (Array.isArray(input) ? "an array" : "an object") : `a ${typeof input}`
}

/**
 * `input` in milliseconds (possibly negative or infinite), or `undefined`
 * when it is not a duration at all.
 *
 * @internal
 */
export const decodeMillis = (input: unknown): number | undefined => {
  const decoded = decode(input)
  return Result.isSuccess(decoded) ? Duration.toMillis(decoded.success) : undefined
}

/**
 * `input` as whole or fractional milliseconds, finite and at least 0 (or
 * above 0 when `positive`), or why it is not.
 *
 * @internal
 */
export const toMillis = (input: unknown, options: { readonly positive: boolean }): Result.Result<number, string> => {
  const millis = decodeMillis(input)
  if (millis === undefined) {
    return Result.fail(`${show(input)} is not a duration (such as "30 seconds" or 5000 milliseconds)`)
  }
  if (!Number.isFinite(millis)) return Result.fail(`${show(input)} is not a finite duration`)
  if (millis < 0 || (options.positive && millis === 0)) {
    return Result.fail(`${show(input)} must be ${options.positive ? "positive" : "zero or more"}`)
  }
  return Result.succeed(millis)
}
