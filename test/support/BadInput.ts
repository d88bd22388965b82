/**
 * Generators of bad input for the public API (issue 11, "bad input stays
 * out"): strings with NUL characters and lone surrogates, payloads that are
 * oversized, deep or not JSON, durations, zones and instants that are not.
 *
 * Built on Effect's `Arbitrary` (fast-check underneath), so `it.effect.prop`
 * can shrink a failing case to its smallest form.
 */
import { Arbitrary, Schema } from "effect"

export const int = (minimum: number, maximum: number) =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))
export const pick = <A>(values: ReadonlyArray<A>) => Arbitrary.map(int(0, values.length - 1), (i) => values[i]!)
/** One of several generators, chosen uniformly. */
export const oneOf = <A>(...arbitraries: ReadonlyArray<Arbitrary.Arbitrary<A>>): Arbitrary.Arbitrary<A> =>
  Arbitrary.flatMap(int(0, arbitraries.length - 1), (i) => arbitraries[i]!)

/** A short string that would make a good id. */
export const word = Arbitrary.schema(Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9]{0,11}$/)))

const insertAt = (base: string, position: number, inserted: string) =>
  base.slice(0, position % (base.length + 1)) + inserted + base.slice(position % (base.length + 1))

const nul = "\u0000"
const loneHigh = "\ud800"
const loneLow = "\udfff"

/** A character PostgreSQL cannot hold (NUL) or that is not valid Unicode (a lone surrogate). */
export const poison = pick([nul, nul, nul, loneHigh, loneLow, "\udbff", "\udc00"])

/** An otherwise fine string with a NUL character or a lone surrogate somewhere in it. */
export const poisonedString = Arbitrary.flatMap(word, (base) =>
  Arbitrary.flatMap(poison, (bad) => Arbitrary.map(int(0, 12), (at) => insertAt(base, at, bad))))

/** Not a valid job id: poisoned, empty, too long, or with forbidden characters. */
export const badId = oneOf(
  poisonedString,
  poisonedString,
  poisonedString,
  Arbitrary.Constant(""),
  Arbitrary.map(int(201, 400), (n) => "x".repeat(n)),
  Arbitrary.map(word, (w) => `${w} ${w}`),
  Arbitrary.map(word, (w) => `-${w}`)
)

/** Not a task name the store can hold. */
export const badTaskName = oneOf(
  poisonedString,
  Arbitrary.Constant(""),
  Arbitrary.map(int(201, 300), (n) => "t".repeat(n)),
  Arbitrary.map(word, (w) => `${w}\n${w}`)
)

class Point {
  readonly x = 1
}

// A value JSON cannot carry, made fresh each time (cycles must be new objects).
const notJson = pick<() => unknown>([
  () => 10n,
  () => () => 1,
  () => Symbol("s"),
  () => Number.NaN,
  () => Infinity,
  () => -Infinity,
  () => new Date(0),
  () => new Map([["a", 1]]),
  () => new Point(),
  () => [1, undefined, 3],
  () => {
    const cycle: { self?: unknown; n: number } = { n: 1 }
    cycle.self = { back: cycle }
    return cycle
  }
])

const nest = (path: ReadonlyArray<string>, leaf: unknown): unknown =>
  path.reduceRight<unknown>((inner, key) => ({ key: 1, [key]: inner }), leaf)

const deep = (depth: number, asArray: boolean): unknown => {
  let value: unknown = "bottom"
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { d: value }
  return value
}

/** Why a generated payload is bad, as `InvalidPayload.reason`. */
export type PayloadFault = "not-json" | "nul-character" | "lone-surrogate" | "too-deep" | "too-large"

/** A payload with exactly one fault, somewhere inside a plausible document. */
export const badPayload: Arbitrary.Arbitrary<{ readonly fault: PayloadFault; readonly value: () => unknown }> =
  Arbitrary.flatMap(Arbitrary.array(word, { minLength: 0, maxLength: 4 }), (path) =>
    oneOf<{ readonly fault: PayloadFault; readonly value: () => unknown }>(
      Arbitrary.map(poisonedString, (s) => ({
        fault: s.includes(nul) ? "nul-character" : "lone-surrogate",
        value: () => ({ deviceId: "d", data: nest(path, s) })
      })),
      Arbitrary.map(poisonedString, (s) => ({
        fault: s.includes(nul) ? "nul-character" : "lone-surrogate",
        value: () => ({ deviceId: "d", data: nest(path, { [s]: true }) })
      })),
      Arbitrary.map(notJson, (make) => ({
        fault: "not-json",
        value: () => ({ deviceId: "d", data: nest(path, make()) })
      })),
      Arbitrary.flatMap(int(101, 100_000), (depth) =>
        Arbitrary.map(pick([true, false]), (asArray) => ({
          fault: "too-deep",
          value: () => ({ deviceId: "d", data: deep(depth, asArray) })
        }))),
      Arbitrary.map(int(1_048_577, 3 * 1_048_576), (n) => ({
        fault: "too-large",
        value: () => ({ deviceId: "d", data: nest(path, "x".repeat(n)) })
      })),
      Arbitrary.map(int(20_000, 40_000), (n) => ({
        fault: "too-large",
        value: () => ({ deviceId: "d", data: Array.from({ length: n }, (_, i) => `item-${i}-${"y".repeat(40)}`) })
      }))
    ))

/** Not a duration, or not a usable one. */
export const badDuration: Arbitrary.Arbitrary<unknown> = oneOf<unknown>(
  pick<unknown>([
    "5 minutez",
    "ten seconds",
    "soon",
    "",
    "NaN seconds",
    "Infinity",
    "-5 seconds",
    " 5 seconds",
    Number.NaN,
    Infinity,
    -Infinity,
    -1,
    { secs: 5 },
    { seconds: "x" },
    [1, Number.NaN],
    true,
    Symbol("s")
  ]),
  Arbitrary.map(Arbitrary.flatMap(int(1, 999), (n) => Arbitrary.map(word, (unit) => `${n} ${unit}z`)), (s) => s),
  Arbitrary.map(int(-1_000_000, -1), (n) => n)
)

/** A time zone that does not exist, or an offset beyond ±18:00 or with minutes past 59. */
export const badZone: Arbitrary.Arbitrary<string> = oneOf(
  pick(["+25:00", "+99:99", "-19:00", "+18:01", "+05:60", "+xx05:00", "Mars/Olympus", "UTC\u0000", "Europe/\ud800"]),
  Arbitrary.flatMap(int(19, 99), (h) => Arbitrary.map(int(0, 99), (m) => `+${h}:${String(m).padStart(2, "0")}`)),
  Arbitrary.flatMap(int(0, 17), (h) => Arbitrary.map(int(60, 99), (m) => `-${String(h).padStart(2, "0")}:${m}`))
)

/** Not an instant: a string, a BigInt, null, NaN, an invalid Date, a fraction, beyond the Date range. */
export const badInstant: Arbitrary.Arbitrary<unknown> = oneOf<unknown>(
  pick<unknown>(["2026-01-01", 10n, null, Number.NaN, Infinity, 1.5, 9e15, -9e15, {}, true]),
  Arbitrary.Constant(new Date("nonsense"))
)

/** Not a history limit: negative, fractional, not a number, or above the maximum. */
export const badLimit: Arbitrary.Arbitrary<unknown> = oneOf<unknown>(
  pick<unknown>([-1, Number.NaN, 1.5, 1e20, Infinity, -Infinity, "10", null, 100_001]),
  int(-1_000_000, -1),
  int(100_001, 2_000_000_000)
)

/** Not a whole number of at least 0. */
export const badNonNegative: Arbitrary.Arbitrary<unknown> = oneOf<unknown>(
  pick<unknown>([-1, Number.NaN, 1.5, Infinity, -Infinity, "10", null, 1e300]),
  int(-1_000_000, -1)
)

/** Not a positive whole count. */
export const badCount: Arbitrary.Arbitrary<unknown> = oneOf<unknown>(
  pick<unknown>([0, -1, 1.5, Number.NaN, Infinity, "10", null, 1e12]),
  int(-1_000, 0)
)
