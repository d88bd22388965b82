/**
 * The cost of computing next fires, in process (no database): 100,000 cron
 * triggers with distinct expressions and zones, as a claim holds them (one
 * decoded trigger object per job definition).
 *
 * - first pass: each trigger's first `Trigger.next`, which parses its
 *   expression and zone (what a process pays once per definition);
 * - held passes: `Trigger.next` of every held trigger again, from a later
 *   instant each pass (what every claim and every fire pays); the median of
 *   `repeat` passes.
 *
 * - slowest: the slowest single `Trigger.next` over a generated set of
 *   expressions (the dialect's L, W, #, ?, H and SUN ranges, the slow corners
 *   of issue 13, random combinations) in every zone below, from instants
 *   mid-year and just before each DST transition: per case the median of
 *   repeated timings (each a batch of calls, zone periods already found),
 *   then the maximum over cases. The first call of a case, which may find
 *   a zone's periods with `Intl`, is reported apart.
 *
 *   npm exec -- node scripts/bench/NextFire.ts            # prints the figures
 *   npm run bench -- next-fire                             # as a bench scenario
 */
import * as Option from "effect/Option"
import * as Trigger from "../../src/Trigger.ts"
import { median, percentile, round } from "./Figures.ts"

// Zones with and without daylight saving, in both hemispheres, with
// half-hour and 45-minute offsets.
const zones = [
  "UTC",
  "Europe/Berlin",
  "Europe/London",
  "Europe/Paris",
  "Europe/Moscow",
  "Europe/Istanbul",
  "Europe/Lisbon",
  "America/New_York",
  "America/Chicago",
  "America/Denver",
  "America/Los_Angeles",
  "America/Sao_Paulo",
  "America/Santiago",
  "America/Havana",
  "America/Mexico_City",
  "America/St_Johns",
  "Asia/Tokyo",
  "Asia/Kolkata",
  "Asia/Shanghai",
  "Asia/Tehran",
  "Asia/Kathmandu",
  "Asia/Dubai",
  "Asia/Singapore",
  "Australia/Sydney",
  "Australia/Adelaide",
  "Australia/Lord_Howe",
  "Pacific/Auckland",
  "Pacific/Chatham",
  "Africa/Casablanca",
  "Africa/Johannesburg"
] as const

// Day, month and weekday fields; with a minute and an hour field they give
// every zone 60 * 24 * patterns.length distinct expressions.
const patterns = ["* * *", "* * 1-5", "1,15 * *", "* 1-6 *", "*/2 * *", "* * 0,6"] as const

/** The `i`-th trigger of the bench: distinct (expression, zone) for i < 259,200. */
export const triggerOf = (i: number): Trigger.Trigger => {
  const zone = zones[i % zones.length]!
  const j = Math.floor(i / zones.length)
  const minute = j % 60
  const hour = Math.floor(j / 60) % 24
  const pattern = patterns[Math.floor(j / 1_440) % patterns.length]!
  // Two expressions in three fire several times a day; the hours field
  // still names `hour` first, so the expressions stay distinct.
  const hours = j % 3 === 0 ? `${hour}` : j % 3 === 1 ? `${hour},${(hour + 12) % 24}` : `${hour}-23/3`
  return Trigger.cron(`${minute} ${hours} ${pattern}`, { timeZone: zone })
}

const from = Date.parse("2026-06-15T10:17:23.456Z")

const pass = (triggers: ReadonlyArray<Trigger.Trigger>, after: number) => {
  let found = 0
  let sum = 0
  const cpu = process.cpuUsage()
  const started = performance.now()
  for (const trigger of triggers) {
    const fire = Trigger.next(trigger, after)
    if (Option.isSome(fire)) {
      found++
      sum += (fire.value - after) / 1000
    }
  }
  const ms = performance.now() - started
  const used = process.cpuUsage(cpu)
  return { ms, cpuMs: (used.user + used.system) / 1000, found, meanAheadS: Math.round(sum / Math.max(found, 1)) }
}

/**
 * Builds `jobs` cron triggers (distinct expression and zone), computes the
 * first next fire of each (parse included), then `repeat` passes over the
 * held triggers; returns the figures.
 */
export const nextFire = (options: { readonly jobs: number; readonly repeat: number }) => {
  const triggers = Array.from({ length: options.jobs }, (_, i) => triggerOf(i))
  const distinct = new Set(triggers.map((t) => t._tag === "Cron" ? `${t.expression}|${t.timeZone}` : "")).size
  const first = pass(triggers, from)
  const held: Array<number> = []
  const heldCpu: Array<number> = []
  let found = first.found
  for (let rep = 0; rep < options.repeat; rep++) {
    // A later instant each pass: nothing is remembered between passes but the triggers.
    const result = pass(triggers, from + (rep + 1) * 7_919_000)
    held.push(result.ms)
    heldCpu.push(result.cpuMs)
    found = Math.min(found, result.found)
  }
  const heldMs = median(held)
  return {
    params: { ...options, zones: zones.length, distinct, from: new Date(from).toISOString() },
    // Wall time, and the process's CPU time (GC threads included), which a
    // machine shared with other work inflates less.
    firstPass: {
      totalMs: round(first.ms),
      usPerJob: round((first.ms * 1000) / options.jobs),
      cpuMs: round(first.cpuMs)
    },
    held: {
      totalMs: round(heldMs),
      usPerJob: round((heldMs * 1000) / options.jobs),
      cpuMs: round(median(heldCpu)),
      runsMs: held.map(round)
    },
    found,
    meanAheadS: first.meanAheadS,
    targets: { totalMs: "<= 300" }
  }
}

// --- the slowest next() -----------------------------------------------------

// The dialect's constructs and the slow corners of issue 13 (`0 0 29 2 */7`
// took 10.7 ms, `0 0 1 * *` in New York 0.5 ms); DST-sensitive times.
const corners = [
  "0 0 29 2 */7", "0 0 1 * *", "*/5 * * * *", "0 0 */31 2 1", "0 0 L-28 2 *", "0 0 29 2 1#5", "0 0 L 2 SUN#5",
  "0 0 L * *", "0 0 L-2 * *", "0 9 15W * *", "0 9 1W * *", "0 9 31W * *", "0 9 LW * *", "0 9 * * 5L", "0 9 * * FRIL",
  "0 9 * * MON#1", "0 9 * * 1#5", "0 0 ? * MON", "0 0 * * SAT-SUN", "0 0 * * FRI-SUN", "H * * * *", "H(0-29)/10 * * * *",
  "H H H * *", "H H * * H", "*/7 * * * * *", "30 2 * * *", "30 1 * * *", "0,30 2 * * *", "* * * * *", "* * * * * *",
  "0 0 1 1 *", "0 0 13 * 5", "0 0 */13 * 5", "0 0 L-30 * *", "0 0 31 * *", "0 30 2 * 3 SUNL", "59 59 23 31 12 *"
]

// Pools for random combinations (invalid ones are dropped).
const pools = [
  ["0", "*/5", "H", "7,37", "*", "H(0-29)/10", "0-59/7", "59"],
  ["*", "2", "1,2,3", "H", "*/7", "9-17", "0", "23"],
  ["*", "?", "L", "L-3", "15W", "LW", "1,15,L", "29", "31", "*/2", "H", "1W", "30W", "L-30"],
  ["*", "2", "JAN-MAR", "*/4", "NOV", "2,8", "12"],
  ["*", "?", "MON-FRI", "5L", "MON#1", "1#5", "SAT-SUN", "*/7", "FRIL,MON#2", "H", "0"]
] as const

// A small deterministic generator (mulberry32), so that runs compare.
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
}

const expressionsOf = (count: number): Array<string> => {
  const next = random(13)
  const generated = Array.from({ length: count }, () => pools.map((pool) => pool[Math.floor(next() * pool.length)]!).join(" "))
  return [...corners, ...generated]
}

// Instants to search from: mid-year, and an hour before each DST transition of 2026 in the zone.
const startsOf = (zone: string): Array<number> => {
  const offset = (t: number) => {
    const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" }).formatToParts(t)
    return parts.find((part) => part.type === "timeZoneName")?.value ?? ""
  }
  const starts = [Date.parse("2026-06-15T10:17:23.456Z")]
  const day = 86_400_000
  for (let t = Date.parse("2026-01-01T00:00:00Z"); t < Date.parse("2027-01-01T00:00:00Z"); t += day) {
    if (offset(t) !== offset(t + day)) {
      let [lo, hi] = [t, t + day]
      while (hi - lo > 60_000) {
        const mid = Math.floor((lo + hi) / 2)
        if (offset(mid) === offset(lo)) lo = mid
        else hi = mid
      }
      starts.push(hi - 3_600_000)
    }
  }
  return starts
}

/**
 * The slowest `Trigger.next` over `expressions` generated expressions (plus
 * the corners above) in every zone, from each start: per case the median of
 * `repeat` timings of a batch of `batch` calls, then the maximum.
 */
export const slowest = (options: { readonly expressions: number; readonly repeat: number; readonly batch: number }) => {
  const policies = ["earlier", "later", "both"] as const
  let cases = 0
  let worst = { us: 0, expression: "", zone: "", from: "", policy: "" }
  let coldWorst = { us: 0, expression: "", zone: "" }
  const medians: Array<number> = []
  // Warm up the code paths first, so that the first cases timed are not
  // timed before the JIT has compiled the search.
  for (const [i, expression] of expressionsOf(options.expressions).entries()) {
    const trigger = Trigger.cron(expression, { timeZone: "Europe/Berlin", onDstOverlap: policies[i % policies.length]! })
    for (const from of startsOf("Europe/Berlin")) for (let k = 0; k < 50; k++) Trigger.next(trigger, from + k * 3_600_000)
  }
  for (const zone of zones) {
    const starts = startsOf(zone)
    for (const [i, expression] of expressionsOf(options.expressions).entries()) {
      const onDstOverlap = policies[i % policies.length]!
      const trigger = Trigger.cron(expression, { timeZone: zone, onDstOverlap, seed: `job-${i}` })
      for (const from of starts) {
        const cold = performance.now()
        if (Option.isNone(Trigger.next(trigger, from))) break
        const coldUs = (performance.now() - cold) * 1000
        if (coldUs > coldWorst.us) coldWorst = { us: coldUs, expression, zone }
        const timings: Array<number> = []
        for (let r = 0; r < options.repeat; r++) {
          const started = performance.now()
          for (let b = 0; b < options.batch; b++) Trigger.next(trigger, from)
          timings.push(((performance.now() - started) * 1000) / options.batch)
        }
        const us = median(timings)
        medians.push(us)
        cases++
        if (us > worst.us) worst = { us, expression, zone, from: new Date(from).toISOString(), policy: onDstOverlap }
      }
    }
  }
  return {
    cases,
    zones: zones.length,
    slowestUs: round(worst.us),
    slowest: { ...worst, us: round(worst.us) },
    medianUs: round(median(medians)),
    p99Us: round(percentile(medians, 99)),
    // The first call of a case may find the zone's periods with Intl (triggerZone).
    firstCallMaxUs: round(coldWorst.us),
    firstCallSlowest: { ...coldWorst, us: round(coldWorst.us) },
    targets: { slowestUs: "<= 50" }
  }
}

if (import.meta.main) {
  process.stdout.write(`${JSON.stringify(nextFire({ jobs: 100_000, repeat: 5 }))}\n`)
  process.stdout.write(`${JSON.stringify(slowest({ expressions: 120, repeat: 9, batch: 10 }))}\n`)
}
