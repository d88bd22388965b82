/**
 * What `Job.make` could not represent, kept beside the job it returned.
 *
 * `Job.make` returns plain data and must never throw, so a bad duration or a
 * payload JSON cannot carry leaves `NaN` in its place, which validation
 * rejects whatever happens to the job (copied, spread). This side table
 * keeps the precise reason, keyed by the returned object, so that the
 * scheduler's error names the input ("5 minutez") rather than the `NaN`.
 *
 * @internal
 */
import type * as Payload from "./payload.ts"

/**
 * A problem `Job.make` found: in the payload, or in a field (`timeout`,
 * `misfire.grace`, ...).
 *
 * @internal
 */
export type Problem =
  | { readonly _tag: "Payload"; readonly problem: Payload.Problem }
  | { readonly _tag: "Field"; readonly field: string; readonly issue: string }

const problems = new WeakMap<object, Problem>()

/**
 * Records the first problem of `job`.
 *
 * @internal
 */
export const record = (job: object, problem: Problem): void => {
  if (!problems.has(job)) problems.set(job, problem)
}

/**
 * The problem `Job.make` recorded for this very object, if any.
 *
 * @internal
 */
export const get = (job: unknown): Problem | undefined =>
  typeof job === "object" && job !== null ? problems.get(job) : undefined
