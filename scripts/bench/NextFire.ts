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
 *   npm exec -- node scripts/bench/NextFire.ts            # prints the figures
 *   npm run bench -- next-fire                             # as a bench scenario
 */
import * as Option from "effect/Option"
import * as Trigger from "../../src/Trigger.ts"
import { median, round } from "./Figures.ts"

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

if (import.meta.main) {
  process.stdout.write(`${JSON.stringify(nextFire({ jobs: 100_000, repeat: 5 }))}\n`)
}
