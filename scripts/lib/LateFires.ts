/**
 * One line per job for fires that settled without running, instead of one
 * line per fire: what the demo prints after a long stop.
 *
 * After a stop, the first claim settles every late fire of a job at once
 * (coalesced or missed by its misfire policy, up to `FirePlan.maxLateRecords`
 * of them recorded one by one), and the scheduler publishes one event per
 * fire, all within a few milliseconds. Fires skipped by an overlap limit
 * arrive the same way, one at a time. This module gathers such events per
 * job into a burst, and a burst is reported once no event of that job came
 * for a quiet period (or after a longest hold, so a steady trickle of skips
 * still shows up). Pure bookkeeping: the caller feeds events and the clock,
 * and prints what `due` hands back.
 *
 * @since 0.1.0
 */
import type { Event } from "../../src/index.ts"

/**
 * The events this module summarises.
 *
 * @since 0.1.0
 */
export type Settled = Extract<Event.Event, { readonly _tag: "RunCoalesced" | "RunMissed" | "RunSkipped" }>

/**
 * Whether an event is one this module summarises.
 *
 * @example
 * ```ts
 * import { Event } from "../../src/index.ts"
 * import * as LateFires from "./LateFires.ts"
 *
 * LateFires.isSettled(Event.Event.RunCoalesced({ jobId: "a", fireTime: 0, note: null, at: 0 })) // true
 * ```
 *
 * @since 0.1.0
 */
export const isSettled = (event: Event.Event): event is Settled =>
  event._tag === "RunCoalesced" || event._tag === "RunMissed" || event._tag === "RunSkipped"

/**
 * The fires of one job that settled without running, gathered over one burst.
 *
 * @since 0.1.0
 */
export interface Burst {
  readonly jobId: string
  readonly coalesced: number
  readonly missed: number
  readonly skipped: number
  /** Earliest and latest fire time among the recorded fires (epoch ms). */
  readonly first: number
  readonly last: number
  /** Late fires the store counted in a note but did not record one by one (missed ones). */
  readonly unrecordedMissed: number
  /** The fire the coalesced ones were folded into ("coalesced into fire X"). */
  readonly keptFire: number | undefined
  /** Why fires were skipped ("overlap limit 1 reached"). */
  readonly skipNote: string | undefined
  /** When the burst began and when its latest event came (the caller's clock, ms). */
  readonly openedAt: number
  readonly seenAt: number
}

/**
 * When a burst is reported.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Reported once no event of the job came for this long. Default 1 s. */
  readonly quietMs?: number | undefined
  /** Reported at the latest this long after it began. Default 10 s. */
  readonly maxHoldMs?: number | undefined
}

const numberIn = (note: string | null, pattern: RegExp): number | undefined => {
  const match = note === null ? null : pattern.exec(note)
  return match === null ? undefined : Number(match[1])
}

/**
 * Adds one event to its job's burst (a new burst when there is none).
 *
 * @example
 * ```ts
 * import { Event } from "../../src/index.ts"
 * import * as LateFires from "./LateFires.ts"
 *
 * const event = Event.Event.RunCoalesced({ jobId: "a", fireTime: 1_000, note: "coalesced into fire 3000", at: 1_000 })
 * LateFires.add(undefined, event, 0).keptFire // 3000
 * ```
 *
 * @since 0.1.0
 */
export const add = (burst: Burst | undefined, event: Settled, now: number): Burst => {
  const base: Burst = burst ?? {
    jobId: event.jobId,
    coalesced: 0,
    missed: 0,
    skipped: 0,
    first: event.fireTime,
    last: event.fireTime,
    unrecordedMissed: 0,
    keptFire: undefined,
    skipNote: undefined,
    openedAt: now,
    seenAt: now
  }
  const next: Burst = {
    ...base,
    first: Math.min(base.first, event.fireTime),
    last: Math.max(base.last, event.fireTime),
    seenAt: now
  }
  switch (event._tag) {
    case "RunCoalesced":
      return {
        ...next,
        coalesced: next.coalesced + 1,
        keptFire: numberIn(event.note, /coalesced into fire (\d+)/) ?? next.keptFire
      }
    case "RunMissed":
      return {
        ...next,
        missed: next.missed + 1,
        // The last recorded missed fire says how many more were only counted.
        unrecordedMissed: next.unrecordedMissed + (numberIn(event.note, /and (\d+) more late fires/) ?? 0)
      }
    case "RunSkipped":
      return { ...next, skipped: next.skipped + 1, skipNote: event.note ?? next.skipNote }
  }
}

/**
 * The bursts of many jobs, and which of them are ready to be reported.
 *
 * @example
 * ```ts
 * import { Event } from "../../src/index.ts"
 * import * as LateFires from "./LateFires.ts"
 *
 * const bursts = LateFires.make({ quietMs: 1_000 })
 * bursts.add(Event.Event.RunMissed({ jobId: "a", fireTime: 0, note: null, at: 0 }), 0)
 * bursts.due(500).length // 0: the burst may go on
 * bursts.due(1_000).length // 1
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}) => {
  const quietMs = options.quietMs ?? 1_000
  const maxHoldMs = options.maxHoldMs ?? 10_000
  const bursts = new Map<string, Burst>()
  return {
    add: (event: Settled, now: number): void => {
      bursts.set(event.jobId, add(bursts.get(event.jobId), event, now))
    },
    /** Takes out the bursts that are over, in job id order. */
    due: (now: number): ReadonlyArray<Burst> => {
      const over = [...bursts.values()]
        .filter((burst) => now - burst.seenAt >= quietMs || now - burst.openedAt >= maxHoldMs)
        .sort((a, b) => (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0))
      for (const burst of over) bursts.delete(burst.jobId)
      return over
    }
  }
}

/**
 * How many fires the run of `keptFire` stands for, from its note
 * ("coalesced 1412 late fires into this one"): more than were recorded one by
 * one when the stop was long.
 *
 * @example
 * ```ts
 * import * as LateFires from "./LateFires.ts"
 *
 * LateFires.coalescedTotal("coalesced 1412 late fires into this one") // 1412
 * ```
 *
 * @since 0.1.0
 */
export const coalescedTotal = (keptNote: string | null): number | undefined =>
  numberIn(keptNote, /coalesced (\d+) late fires/)

const count = (n: number): string => n.toLocaleString("en-US")
const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * The one line of a burst. `coalescedTotal` is what the kept run's note
 * says, when the caller could read it.
 *
 * @example
 * ```ts
 * import { Event } from "../../src/index.ts"
 * import * as LateFires from "./LateFires.ts"
 *
 * const burst = LateFires.add(undefined, Event.Event.RunMissed({ jobId: "a", fireTime: 0, note: null, at: 0 }), 0)
 * LateFires.line(burst) // "a: 1 late fire missed (fire 1970-01-01T00:00:00.000Z)"
 * ```
 *
 * @since 0.1.0
 */
export const line = (burst: Burst, coalescedTotal?: number | undefined): string => {
  const coalesced = Math.max(burst.coalesced, coalescedTotal ?? 0)
  const missed = burst.missed + burst.unrecordedMissed
  const plural = (n: number, what: string) => `${count(n)} ${what}${n === 1 ? "" : "s"}`
  const parts = [
    ...(coalesced > 0
      ? [
        `${plural(coalesced, "late fire")} coalesced into ${
          burst.keptFire === undefined ? "one run" : `the run of fire ${iso(burst.keptFire)}`
        }`
      ]
      : []),
    ...(missed > 0 ? [`${plural(missed, "late fire")} missed`] : []),
    ...(burst.skipped > 0 ? [`${plural(burst.skipped, "fire")} skipped (${burst.skipNote ?? "overlap limit"})`] : [])
  ]
  const unrecorded = coalesced - burst.coalesced + burst.unrecordedMissed
  const span = burst.first === burst.last
    ? `fire ${iso(burst.first)}`
    : unrecorded > 0
    ? `first ${iso(burst.first)}, last recorded ${iso(burst.last)}; ${count(unrecorded)} more not recorded one by one`
    : `first ${iso(burst.first)}, last ${iso(burst.last)}`
  return `${burst.jobId}: ${parts.join(", ")} (${span})`
}
