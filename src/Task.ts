/**
 * A task is code: a name, a payload `Schema` and a handler.
 *
 * Every process registers the tasks it can run; jobs (data, see `Job`) name a
 * task and carry its payload in encoded (JSON) form. The handler receives the
 * decoded payload and a `RunContext` whose `fireTime` is the run's dedup key:
 * with at-least-once jobs a handler may see the same fire twice, and can use
 * it to make its side effect idempotent.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as Payload from "./internal/payload.ts"

/**
 * What a handler knows about the run it executes.
 *
 * @since 0.1.0
 */
export interface RunContext {
  readonly jobId: string
  /** The nominal fire time (epoch ms): with `jobId`, the run's unique key. */
  readonly fireTime: number
  /** 1 for the first attempt, incremented by retries and by lease take-overs. */
  readonly attempt: number
  /** The node (process) running it. */
  readonly node: string
  /**
   * A run started by `Scheduler.trigger`, not by the schedule. Manual runs
   * have a key space of their own: a handler that deduplicates by fire time
   * deduplicates by `(jobId, fireTime, manual)`.
   */
  readonly manual: boolean
}

/**
 * Why a payload was refused (see {@link InvalidPayload}).
 *
 * @since 0.2.0
 */
export const InvalidPayloadReason = Schema.Literals([
  "schema",
  "not-json",
  "nul-character",
  "lone-surrogate",
  "too-deep",
  "too-large"
])

/**
 * Why a payload was refused: `schema`, it does not match its task's schema.
 * `not-json`, `nul-character`, `lone-surrogate`, `too-deep` or `too-large`,
 * the store could not hold it.
 *
 * @since 0.2.0
 */
export type InvalidPayloadReason = typeof InvalidPayloadReason.Type

/**
 * A payload was refused, before anything was stored. `jobId` names the job
 * (when the payload belongs to one), `path` says where: `$`
 * is the payload itself, `$.items[2].name` a value inside it. `reason` says
 * why:
 * - `schema`: it does not match its task's payload schema;
 * - `not-json`: a value JSON cannot carry (a BigInt, a function, a symbol,
 *   `undefined` in an array, `NaN`, `Infinity`, a cycle, a `Date` or other
 *   non-plain object);
 * - `nul-character`: a string or key holds `\u0000`, which PostgreSQL cannot store;
 * - `lone-surrogate`: a string or key holds half of a UTF-16 surrogate pair
 *   (not valid Unicode; PostgreSQL's `jsonb` refuses it);
 * - `too-deep`: arrays and objects nest deeper than 100 levels;
 * - `too-large`: its JSON encoding is larger than the scheduler's
 *   `maxPayloadBytes` (default 1 MiB).
 *
 * @example
 * ```ts
 * import { Task } from "steadfast"
 *
 * const error = new Task.InvalidPayload({
 *   task: "syncDevice",
 *   reason: "nul-character",
 *   path: "$.deviceId",
 *   issue: "contains a NUL character"
 * })
 * error.message // payload for task syncDevice is invalid at $.deviceId: contains a NUL character
 * ```
 *
 * @since 0.1.0
 */
export class InvalidPayload extends Schema.TaggedError<InvalidPayload>()("InvalidPayload", {
  task: Schema.String,
  /** The job whose payload it is, when there is one (not for `Task.validate` alone). */
  jobId: Schema.optionalKey(Schema.String),
  reason: InvalidPayloadReason,
  path: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    const job = this.jobId === undefined ? "" : ` of job ${JSON.stringify(this.jobId.slice(0, 100))}`
    return `payload${job} for task ${this.task} is invalid at ${this.path}: ${this.issue}`
  }
}

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1()

// Where the first schema issue is, as an `InvalidPayload` path.
const schemaPath = (issue: SchemaIssue.Issue): string => {
  const first = standardIssues(issue).issues[0]
  return Payload.pathOf((first?.path ?? []).map((segment) => typeof segment === "object" ? segment.key : segment))
}

const TypeId = "~steadfast/Task" as const

/**
 * A registered unit of code. `Encoded` is the JSON shape of its payload (what
 * a job stores), `R` what its handler needs from the environment.
 *
 * @since 0.1.0
 */
export interface Task<out Encoded = unknown, out R = never> {
  readonly [TypeId]: { readonly _Encoded: (_: never) => Encoded }
  readonly name: string
  /** Decodes and checks a payload without running anything. */
  readonly validate: (encoded: unknown) => Effect.Effect<void, InvalidPayload>
  /** Decodes the payload and runs the handler; the handler's own failure is `unknown` to the runtime. */
  readonly execute: (encoded: unknown, context: RunContext) => Effect.Effect<void, unknown, R>
}

/**
 * A task of any payload, as the scheduler holds them.
 *
 * @since 0.1.0
 */
export type Any<R = never> = Task<unknown, R>

/**
 * Defines a task.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Task } from "steadfast"
 *
 * export const syncDevice = Task.make(
 *   "syncDevice",
 *   Schema.Struct({ deviceId: Schema.String }),
 *   ({ deviceId }, { fireTime }) => Effect.log(`sync ${deviceId} for fire ${fireTime}`)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = <A, I, E, R>(
  name: string,
  payload: Schema.Codec<A, I>,
  handler: (payload: A, context: RunContext) => Effect.Effect<void, E, R>
): Task<I, R> => {
  const decode = Schema.decodeUnknownEffect(payload)
  const decodePayload = (encoded: unknown) =>
    decode(encoded).pipe(
      Effect.mapError((error) =>
        new InvalidPayload({ task: name, reason: "schema", path: schemaPath(error.issue), issue: error.message })
      )
    )
  return {
    [TypeId]: { _Encoded: (_) => _ },
    name,
    validate: (encoded) => Effect.asVoid(decodePayload(encoded)),
    execute: (encoded, context) => Effect.flatMap(decodePayload(encoded), (decoded) => handler(decoded, context))
  }
}

/**
 * A task without a payload (its jobs carry `null`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Task } from "steadfast"
 *
 * export const cleanup = Task.unit("cleanup", () => Effect.log("cleaning up"))
 * ```
 *
 * @since 0.1.0
 */
export const unit = <E, R>(
  name: string,
  handler: (context: RunContext) => Effect.Effect<void, E, R>
): Task<null, R> => make(name, Schema.Null, (_, context) => handler(context))
