/**
 * A job written as JSON (the file of `steadfast add` and `update`), turned
 * into a `Job.Job` and checked by the library's own validation
 * (`Scheduler.validateJob`) before anything is asked of the store.
 *
 * The form is `Job.make`'s options plus `task`: durations as numbers (ms)
 * or strings ("5 minutes"), instants as epoch ms or ISO 8601 strings, and
 * the trigger either in its stored form (`{"_tag": "Cron", ...}`) or one of
 * `{"cron": "0 3 * * *", "timeZone": "Europe/Berlin"}`,
 * `{"every": "2 hours"}`, `{"once": "2026-12-24T10:00:00Z"}`. The bin has no
 * task code: the payload is checked as JSON the store can hold, and against
 * the task's schema only where the task runs.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as DurationInput from "../../internal/durationInput.ts"
import { InvalidJob, type JobRejected, validateJob } from "../../internal/jobValidation.ts"
import * as Job from "../../Job.ts"
import * as Task from "../../Task.ts"
import * as Trigger from "../../Trigger.ts"
import { InvalidInput } from "./errors.ts"

/** What a job file says, checked. @internal */
export interface Decoded {
  readonly job: Job.Job
  /** Whether the file says `paused` (an update keeps the stored state otherwise). */
  readonly pausedGiven: boolean
}

const fields = new Set(["id", "task", "payload", "trigger", "overlap", "misfire", "retry", "timeout", "onLost", "paused"])
const triggerFields = {
  cron: new Set(["cron", "timeZone", "onDstOverlap", "jitter", "start", "end", "seed"]),
  every: new Set(["every", "anchor", "timeZone", "jitter", "start", "end"]),
  once: new Set(["once"])
} as const

const Duration = Schema.Union([Schema.Number, Schema.String])
const Shape = Schema.Struct({
  id: Schema.String,
  task: Schema.String,
  payload: Schema.optionalKey(Schema.Json),
  trigger: Schema.Unknown,
  overlap: Schema.optionalKey(Schema.Struct({
    max: Schema.optionalKey(Schema.Number),
    onLimit: Schema.optionalKey(Schema.Literals(["skip", "wait"]))
  })),
  misfire: Schema.optionalKey(Schema.Struct({ grace: Schema.optionalKey(Duration), then: Schema.optionalKey(Job.Misfire) })),
  retry: Schema.optionalKey(Schema.Struct({
    attempts: Schema.optionalKey(Schema.Number),
    base: Schema.optionalKey(Duration),
    factor: Schema.optionalKey(Schema.Number),
    cap: Schema.optionalKey(Duration),
    jitter: Schema.optionalKey(Schema.Boolean)
  })),
  timeout: Schema.optionalKey(Schema.NullOr(Duration)),
  onLost: Schema.optionalKey(Job.LostPolicy),
  paused: Schema.optionalKey(Schema.Boolean)
})
const decodeShape = Schema.decodeUnknownEffect(Shape)
const decodeStoredTrigger = Schema.decodeUnknownEffect(Trigger.Trigger)

// An instant as written: epoch ms, or an ISO 8601 string (NaN otherwise, which validation names).
const instant = (u: unknown): number => typeof u === "number" ? u : typeof u === "string" ? Date.parse(u) : Number.NaN
const optionalInstant = (o: Record<string, unknown>, key: string) => o[key] === undefined ? {} : { [key]: instant(o[key]) }
const malformed = (issue: string) =>
  new Trigger.InvalidTrigger({ reason: new Trigger.MalformedTrigger({ issue }) })

// A duration as written, in ms; a message naming it when it is not one.
const millis = (field: string, u: unknown, positive = false): Result.Result<number, string> =>
  Result.mapError(DurationInput.toMillis(u, { positive }), (issue) => `${field}: ${issue}`)

const calendar = /^\s*(\d+)\s+(months?|years?)\s*$/

// The trigger in its stored form, or one of the short forms.
const triggerOf = (u: unknown): Effect.Effect<Trigger.Trigger, Trigger.InvalidTrigger> => {
  if (!Predicate.isObject(u) || Array.isArray(u)) return Effect.fail(malformed("the trigger must be an object"))
  const o: Record<string, unknown> = { ...u }
  if ("_tag" in o) return Effect.mapError(decodeStoredTrigger(o), (error) => malformed(error.message))
  const kind = (["cron", "every", "once"] as const).find((key) => key in o)
  if (kind === undefined) return Effect.fail(malformed("expected {\"cron\": ...}, {\"every\": ...}, {\"once\": ...} or a stored trigger with _tag"))
  const extra = Object.keys(o).filter((key) => !triggerFields[kind].has(key))
  if (extra.length > 0) return Effect.fail(malformed(`unknown field ${JSON.stringify(extra[0])} in a ${kind} trigger`))
  const jitterMs = o["jitter"] === undefined ? Result.succeed(0) : millis("jitter", o["jitter"])
  if (Result.isFailure(jitterMs)) return Effect.fail(malformed(jitterMs.failure))
  const jitter = { jitter: jitterMs.success }
  const window = { ...optionalInstant(o, "start"), ...optionalInstant(o, "end") }
  const zone = typeof o["timeZone"] === "string" ? { timeZone: o["timeZone"] } : {}
  switch (kind) {
    case "cron": {
      if (typeof o["cron"] !== "string") return Effect.fail(malformed("cron: expected a string"))
      const overlap = o["onDstOverlap"]
      return Effect.succeed(Trigger.cron(o["cron"], {
        ...zone,
        ...jitter,
        ...window,
        ...(overlap === "earlier" || overlap === "later" || overlap === "both" ? { onDstOverlap: overlap } : {}),
        ...(typeof o["seed"] === "string" ? { seed: o["seed"] } : {})
      }))
    }
    case "every": {
      const anchor = o["anchor"] === undefined ? {} : { anchor: instant(o["anchor"]) }
      const months = typeof o["every"] === "string" ? calendar.exec(o["every"]) : null
      if (months !== null) {
        return Effect.succeed({
          _tag: "Calendar",
          unit: months[2]!.startsWith("month") ? "month" : "year",
          count: Number(months[1]),
          timeZone: typeof o["timeZone"] === "string" ? o["timeZone"] : "UTC",
          ...anchor,
          ...jitter,
          ...window
        })
      }
      const every = millis("every", o["every"], true)
      if (Result.isFailure(every)) return Effect.fail(malformed(every.failure))
      return Effect.succeed(Trigger.every(every.success, { ...zone, ...jitter, ...window, ...anchor }))
    }
    case "once":
      return Effect.succeed(Trigger.once(instant(o["once"])))
  }
}

type Shape = typeof Shape.Type

// The policies with their durations in ms (Job.make takes `Duration.Input`, which a JSON string is not typed as).
const policyDurations = (shape: Shape) =>
  Effect.gen(function*() {
    const ms = (field: string, u: unknown, positive = false) => Effect.fromResult(millis(field, u, positive))
    const optional = (field: string, u: unknown) => u === undefined ? Effect.succeed(undefined) : ms(field, u)
    const misfire = shape.misfire === undefined ? undefined : {
      grace: yield* optional("misfire.grace", shape.misfire.grace),
      then: shape.misfire.then
    }
    const retry = shape.retry === undefined ? undefined : {
      ...shape.retry,
      base: yield* optional("retry.base", shape.retry.base),
      cap: yield* optional("retry.cap", shape.retry.cap)
    }
    const timeout = shape.timeout === undefined || shape.timeout === null ? undefined : yield* ms("timeout", shape.timeout, true)
    return {
      ...(misfire === undefined ? {} : { misfire }),
      ...(retry === undefined ? {} : { retry }),
      ...(timeout === undefined ? {} : { timeout })
    }
  })

/**
 * Parses and checks a job file's text: `InvalidInput` when it is not JSON,
 * else the library's typed rejections (`InvalidJob`, `InvalidTrigger`,
 * `InvalidPayload`).
 *
 * @internal
 */
export const decode = (text: string): Effect.Effect<Decoded, InvalidInput | JobRejected> =>
  Effect.gen(function*() {
    const parsed = yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: (error) => new InvalidInput({ what: "job", issue: `not JSON: ${error instanceof Error ? error.message : String(error)}` })
    })
    const id = Predicate.hasProperty(parsed, "id") && typeof parsed.id === "string" ? parsed.id : "(unknown)"
    if (!Predicate.isObject(parsed) || Array.isArray(parsed)) {
      return yield* new InvalidJob({ id, issue: "a job is a JSON object" })
    }
    const unknown = Object.keys(parsed).find((key) => !fields.has(key))
    if (unknown !== undefined) return yield* new InvalidJob({ id, issue: `unknown field ${JSON.stringify(unknown)}` })
    const shape = yield* Effect.mapError(decodeShape(parsed), (error) => new InvalidJob({ id, issue: error.message }))
    const trigger = yield* Effect.mapError(triggerOf(shape.trigger), (error) =>
      new Trigger.InvalidTrigger({ reason: error.reason, jobId: shape.id }))
    const durations = yield* Effect.mapError(policyDurations(shape), (issue) => new InvalidJob({ id: shape.id, issue }))
    // The bin has no task code: any JSON payload passes here (the store's own limits still apply).
    const task = Task.make(shape.task, Schema.Json, () => Effect.void)
    const job = Job.make(task, {
      id: shape.id,
      payload: shape.payload ?? null,
      trigger,
      ...(shape.overlap === undefined ? {} : { overlap: shape.overlap }),
      ...durations,
      ...(shape.onLost === undefined ? {} : { onLost: shape.onLost }),
      ...(shape.paused === undefined ? {} : { paused: shape.paused })
    })
    const valid = yield* validateJob(new Map([[task.name, task]]))(job)
    return { job: valid, pausedGiven: shape.paused !== undefined }
  })
