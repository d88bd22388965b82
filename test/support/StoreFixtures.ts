/**
 * Jobs and outcomes for the store tests (the contract suites and the
 * PostgreSQL store's own tests): unique names, a task by name, a one-off job
 * due at an instant, and a claimed run's outcome.
 */
import { Effect, Schema } from "effect"
import * as Job from "../../src/Job.ts"
import type * as Run from "../../src/Run.ts"
import * as Task from "../../src/Task.ts"
import * as Trigger from "../../src/Trigger.ts"

let counter = 0
/** A name no other test uses (the suites share a database). */
export const unique = (label: string) => `${label}-${Date.now().toString(36)}-${++counter}`

/** A task that does nothing, by name: the store sees only its name. */
export const taskNamed = (name: string) => Task.make(name, Schema.Unknown, () => Effect.void)

/** A job of `task` firing once at `at`, its payload naming it. */
export const oneOff = (task: string, id: string, at: number, options: Partial<Job.Options<unknown>> = {}): Job.Job =>
  Job.make(taskNamed(task), { id, payload: { id }, trigger: Trigger.once(at), ...options })

/** A claimed run's outcome: succeeded (or `state`, with an error), ended 1 ms after its start. */
export const outcome = (run: Run.Claimed, state: Run.Outcome["state"] = "succeeded", endedAt = run.startedAt + 1): Run.Outcome => ({
  id: run.id,
  token: run.token,
  state,
  attempt: run.attempt,
  error: state === "succeeded" ? null : "boom",
  endedAt
})
