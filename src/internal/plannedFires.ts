/**
 * A stored job's due fires, planned so that no job can fail a claim.
 *
 * Every store plans fires with `FirePlan` inside its claim, for every due
 * job at once. A stored job whose trigger makes the planning throw, or yield
 * instants no store can hold (not whole milliseconds, or beyond ±2^53), must
 * not fail the claim of all the others: the planning is tried here, and
 * what went wrong comes back as a sentence, for the store to set the job
 * aside with it (see `JobStore.SetAside`).
 *
 * @internal
 */
import * as Result from "effect/Result"
import * as FirePlan from "../FirePlan.ts"
import type * as Job from "../Job.ts"
import * as Trigger from "../Trigger.ts"

/**
 * What a claim does with a job locked for its next fire.
 *
 * @internal
 */
export interface Planned {
  /** When its next fire is due (fire plus the job's jitter). */
  readonly due: number
  /** Its due fires and its next fire afterwards; `null` when the next fire is not due yet. */
  readonly plan: FirePlan.Plan | null
  /** When the next fire afterwards is due. */
  readonly nextDue: number | null
}

const describe = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : "a value that is not an Error was thrown"

const instant = (value: number | null): boolean => value === null || Number.isSafeInteger(value)

const problem = (planned: Planned): string | undefined => {
  if (!instant(planned.due) || !instant(planned.nextDue) || (planned.plan !== null && !instant(planned.plan.nextFire))) {
    return `its trigger gives an instant that is not a whole number of milliseconds within ±2^53: ` +
      `due ${planned.due}, next fire ${planned.plan?.nextFire ?? null}, due ${planned.nextDue}`
  }
  const bad = planned.plan?.fires.find((fire) => !instant(fire.fireTime) || !instant(fire.dueAt))
  return bad === undefined
    ? undefined
    : `its trigger gives a fire that is not a whole number of milliseconds within ±2^53: ${bad.fireTime} (due ${bad.dueAt})`
}

/**
 * Plans the fires of `job` from its stored next fire, as of `now`. A fire
 * due within `aheadMs` is planned as of its due instant (claimed ahead). A
 * failure is why the job must be set aside.
 *
 * @internal
 */
export const planDue = (
  job: Job.Job,
  nextFire: number,
  now: number,
  aheadMs: number
): Result.Result<Planned, string> =>
  Result.flatMap(
    Result.try({
      try: (): Planned => {
        const due = Trigger.dueAt(job.trigger, nextFire, job.id)
        if (due > now + aheadMs) return { due, plan: null, nextDue: due }
        // Due: every due fire, as of now. Within the claim-ahead window: its
        // next fire alone, as of its due instant.
        const plan = FirePlan.plan(job, nextFire, due > now ? due : now)
        const nextDue = plan.nextFire === null ? null : Trigger.dueAt(job.trigger, plan.nextFire, job.id)
        return { due, plan, nextDue }
      },
      catch: (error) => `planning its fires failed: ${describe(error)}`
    }),
    (planned) => {
      const found = problem(planned)
      return found === undefined ? Result.succeed(planned) : Result.fail(found)
    }
  )
