/**
 * Which fires of a due job run, and which are recorded as missed or coalesced.
 *
 * Pure and shared by every store backend, so the misfire policy means the
 * same thing in memory and in PostgreSQL. A fire is on time while the store's
 * clock is within the job's grace period of its due instant; late fires are
 * handled by the job's `misfire.then` policy.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import type * as Job from "./Job.ts"
import * as Trigger from "./Trigger.ts"

/**
 * One fire and what becomes of it.
 *
 * @since 0.1.0
 */
export interface Fire {
  readonly fireTime: number
  readonly dueAt: number
  readonly state: "pending" | "missed" | "coalesced"
  readonly note: string | null
  /** Late fires kept by the misfire policy: they wait for an overlap slot instead of being skipped. */
  readonly catchUp: boolean
}

/**
 * The fires to record and the job's next nominal fire afterwards.
 *
 * @since 0.1.0
 */
export interface Plan {
  readonly fires: ReadonlyArray<Fire>
  readonly nextFire: number | null
}

/**
 * After this many late fires, older ones are summarised rather than recorded
 * one by one, so a long outage of an every-second job cannot produce an
 * unbounded batch.
 *
 * @since 0.1.0
 */
export const maxLateRecords = 1_000

/**
 * The first fire of a new job (or of a changed trigger): the first fire strictly after `now`,
 * except that a one-off date already past fires at once, as a misfire.
 *
 * @example
 * ```ts
 * import { FirePlan, Trigger } from "steadfast"
 *
 * FirePlan.initialFire(Trigger.once(1_000), 5_000) // 1000
 * ```
 *
 * @since 0.1.0
 */
export const initialFire = (trigger: Trigger.Trigger, now: number): number | null =>
  trigger._tag === "Once" ? trigger.at : Option.getOrNull(Trigger.next(trigger, now))

/**
 * Plans the fires of `job` due at `now`, starting from its stored next fire.
 *
 * @example
 * ```ts
 * import { FirePlan, Job, Task, Trigger } from "steadfast"
 * import { Effect } from "effect"
 *
 * const task = Task.unit("tick", () => Effect.void)
 * const job = Job.make(task, { id: "tick", payload: null, trigger: Trigger.every("1 second") })
 * const plan = FirePlan.plan(job, 0, 10_500)
 * plan.nextFire // 11000
 * ```
 *
 * @since 0.1.0
 */
export const plan = (job: Job.Job, nextFire: number, now: number): Plan => {
  const grace = job.misfire.grace
  const late: Array<{ fireTime: number; dueAt: number }> = []
  const onTime: Array<{ fireTime: number; dueAt: number }> = []
  // The policies that keep the most recent late fires need those recorded,
  // whatever was summarised before them.
  const keepLatest = latestKept(job.misfire.then)
  let summarised = 0
  let fire: number | null = nextFire
  while (fire !== null) {
    const dueAt = Trigger.dueAt(job.trigger, fire, job.id)
    if (dueAt > now) break
    if (now - dueAt <= grace) {
      onTime.push({ fireTime: fire, dueAt })
    } else if (late.length < maxLateRecords - keepLatest) {
      late.push({ fireTime: fire, dueAt })
    } else {
      // Too many late fires to record one by one: record the most recent ones
      // the policy keeps, count the rest, and go on from there (the fires
      // after them are within the grace window or not due).
      const boundary = now - grace
      const tail = latestBefore(job.trigger, fire - 1, boundary, keepLatest)
      const resume: number | null = tail.length > 0
        ? Option.getOrNull(Trigger.next(job.trigger, tail[tail.length - 1]!))
        : Option.getOrNull(Trigger.next(job.trigger, Math.max(fire, boundary - 1)))
      summarised += countBetween(job.trigger, fire - 1, tail[0] ?? resume ?? now)
      for (const f of tail) late.push({ fireTime: f, dueAt: Trigger.dueAt(job.trigger, f, job.id) })
      fire = resume
      continue
    }
    fire = Option.getOrNull(Trigger.next(job.trigger, fire))
  }
  const fires: Array<Fire> = []
  if (late.length > 0) fires.push(...planLate(job.misfire.then, late, summarised))
  for (const f of onTime) fires.push({ ...f, state: "pending", note: null, catchUp: false })
  return { fires, nextFire: fire }
}

// How many of the most recent late fires a policy runs.
const latestKept = (policy: Job.Misfire): number => {
  switch (policy._tag) {
    case "Skip":
      return 0
    case "Coalesce":
      return policy.keep === "latest" ? 1 : 0
    case "CatchUp":
      return Math.min(policy.max, Math.floor(maxLateRecords / 2))
  }
}

// The last `count` fires in (after, before), found by widening a window back
// from `before`: a long outage costs a few `next` calls, not one per fire.
const latestBefore = (trigger: Trigger.Trigger, after: number, before: number, count: number): Array<number> => {
  if (count <= 0) return []
  let span = 1_000
  while (true) {
    const from = Math.max(after, before - span)
    const found: Array<number> = []
    let fire = Option.getOrNull(Trigger.next(trigger, from))
    while (fire !== null && fire < before) {
      found.push(fire)
      if (found.length > count) found.shift()
      fire = Option.getOrNull(Trigger.next(trigger, fire))
    }
    if (found.length >= count || from === after) return found
    span *= 4
  }
}

const planLate = (
  policy: Job.Misfire,
  late: ReadonlyArray<{ fireTime: number; dueAt: number }>,
  summarised: number
): ReadonlyArray<Fire> => {
  const more = summarised > 0 ? ` (and ${summarised} more late fires not recorded one by one)` : ""
  switch (policy._tag) {
    case "Skip":
      return late.map((f, i) => ({
        ...f,
        state: "missed",
        note: `late beyond grace, misfire policy skip${i === late.length - 1 ? more : ""}`,
        catchUp: false
      }))
    case "Coalesce": {
      const keep = policy.keep === "latest" ? late.length - 1 : 0
      const keptFire = late[keep]?.fireTime
      return late.map((f, i) =>
        i === keep
          ? {
            ...f,
            state: "pending",
            note: `coalesced ${late.length - 1 + summarised} late fires into this one`,
            catchUp: true
          }
          : { ...f, state: "coalesced", note: `coalesced into fire ${keptFire}`, catchUp: false }
      )
    }
    case "CatchUp": {
      const firstKept = Math.max(0, late.length - policy.max)
      return late.map((f, i) =>
        i >= firstKept
          ? { ...f, state: "pending", note: "catch-up of a late fire", catchUp: true }
          : {
            ...f,
            state: "missed",
            note: `late beyond grace, older than the ${policy.max} fires caught up${i === firstKept - 1 ? more : ""}`,
            catchUp: false
          }
      )
    }
  }
}

// Counts fires in (from, until) for the summary note; bounded so a pathological
// trigger cannot stall a claim.
const countBetween = (trigger: Trigger.Trigger, from: number, until: number): number => {
  if (trigger._tag === "Interval") return Math.max(0, Math.ceil((until - from) / trigger.every) - 1)
  let count = 0
  let fire = Option.getOrNull(Trigger.next(trigger, from))
  while (fire !== null && fire < until && count < 1_000_000) {
    count++
    fire = Option.getOrNull(Trigger.next(trigger, fire))
  }
  return count
}
