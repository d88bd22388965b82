/**
 * What travels over the admin API: the JSON shapes of jobs, runs, nodes and
 * health, the bodies of requests, and the errors that are not the store's
 * or the scheduler's own (those keep their tags and fields on the wire).
 *
 * @since 0.3.0
 */
import * as Schema from "effect/Schema"
import * as Job from "../Job.ts"
import * as Run from "../Run.ts"
import * as Trigger from "../Trigger.ts"

/**
 * A request the API could not decode (400): which part (`where`), and one
 * issue per problem with its path inside that part.
 *
 * @example
 * ```ts
 * import { AdminSchema } from "steadfast/admin"
 *
 * const error = new AdminSchema.InvalidRequest({
 *   where: "query",
 *   issues: [{ path: "limit", message: "Expected a number, got \"ten\"" }],
 *   message: "invalid query: limit: Expected a number, got \"ten\""
 * })
 * ```
 *
 * @since 0.3.0
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  where: Schema.Literals(["params", "query", "headers", "payload"]),
  issues: Schema.Array(Schema.Struct({ path: Schema.String, message: Schema.String })),
  message: Schema.String
}, { httpApiStatus: 400 }) {}

/**
 * The store failed (503): the operation, the backend's classification and
 * whether trying again may succeed. Never the connection string.
 *
 * @since 0.3.0
 */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()("StoreUnavailable", {
  operation: Schema.String,
  reason: Schema.String,
  retryable: Schema.Boolean,
  message: Schema.String
}, { httpApiStatus: 503 }) {}

/**
 * A bulk action was given no filter (400): pausing every job takes `all: true`.
 *
 * @since 0.3.0
 */
export class EmptyFilter extends Schema.TaggedError<EmptyFilter>()("EmptyFilter", {
  message: Schema.String
}, { httpApiStatus: 400 }) {}

const policies = {
  overlap: Schema.optionalKey(Job.OverlapPolicy),
  misfire: Schema.optionalKey(Job.MisfirePolicy),
  retry: Schema.optionalKey(Job.RetryPolicy),
  timeout: Schema.optionalKey(Schema.NullOr(Schema.Number)),
  onLost: Schema.optionalKey(Job.LostPolicy),
  paused: Schema.optionalKey(Schema.Boolean)
}

/**
 * A job to add: its id, task, payload (default `null`) and trigger, and any
 * policy (the others get `Job.defaults`). Ids, tasks, payloads and triggers
 * are checked by the scheduler, which answers with its own typed errors.
 *
 * @since 0.3.0
 */
export const NewJob = Schema.Struct({
  id: Schema.String,
  task: Schema.String,
  payload: Schema.optionalKey(Schema.Json),
  trigger: Trigger.Trigger,
  ...policies
})
export type NewJob = typeof NewJob.Type

/**
 * A change to a job: what is given replaces the stored value, the rest stays.
 *
 * @since 0.3.0
 */
export const JobPatch = Schema.Struct({
  task: Schema.optionalKey(Schema.String),
  payload: Schema.optionalKey(Schema.Json),
  trigger: Schema.optionalKey(Trigger.Trigger),
  ...policies
})
export type JobPatch = typeof JobPatch.Type

/**
 * A stored job as the API shows it: its definition and what the store keeps
 * beside it (`setAside` is `null` unless a claim set the job aside).
 *
 * @since 0.3.0
 */
export const StoredJob = Schema.Struct({
  ...Job.Job.fields,
  source: Schema.Literals(["code", "dynamic"]),
  version: Schema.Number,
  nextFire: Schema.NullOr(Schema.Number),
  createdAt: Schema.Number,
  updatedAt: Schema.Number,
  setAside: Schema.NullOr(Schema.String)
})
export type StoredJob = typeof StoredJob.Type

/**
 * One page of jobs: `next` is the `after` of the following page, `null` at the end.
 *
 * @since 0.3.0
 */
export const JobPage = Schema.Struct({ jobs: Schema.Array(StoredJob), next: Schema.NullOr(Schema.String) })
export type JobPage = typeof JobPage.Type

/**
 * A run record as the API shows it: the record (see `Run.RunRecord`: state,
 * attempt, node, error, note; `payload`, a manual run's payload, only when
 * one run is asked for: lists leave it out) and how long it ran
 * (`durationMs`, null until it has ended).
 *
 * @since 0.3.0
 */
export const RunRecord = Schema.Struct({ ...Run.RunRecord.fields, durationMs: Schema.NullOr(Schema.Number) })
export type RunRecord = typeof RunRecord.Type

/**
 * A run record with its duration.
 *
 * @example
 * ```ts
 * import { AdminSchema } from "steadfast/admin"
 *
 * const view = AdminSchema.runView({
 *   id: "1", jobId: "report", fireTime: 0, dueAt: 0, state: "succeeded", attempt: 1, node: "n1",
 *   startedAt: 10, endedAt: 25, error: null, note: null, manual: false, payload: null
 * })
 * view.durationMs // 15
 * ```
 *
 * @since 0.3.0
 */
export const runView = (run: Run.RunRecord): RunRecord => ({
  ...run,
  durationMs: run.startedAt !== null && run.endedAt !== null ? run.endedAt - run.startedAt : null
})

/**
 * One page of history: `next` is the `before` of the following page, `null` at the end.
 *
 * @since 0.3.0
 */
export const RunPage = Schema.Struct({ runs: Schema.Array(RunRecord), next: Schema.NullOr(Schema.String) })
export type RunPage = typeof RunPage.Type

/**
 * One entry of `Trigger.preview`: a fire or a decision about one, with its DST note.
 *
 * @since 0.3.0
 */
export const PreviewEntry = Schema.Struct({
  fire: Schema.Number,
  iso: Schema.String,
  dst: Schema.Literals(["none", "shifted", "skipped", "dropped"]),
  note: Schema.optionalKey(Schema.String),
  decisions: Schema.optionalKey(Schema.Array(Schema.Literals(["shifted", "skipped", "dropped", "merged", "clamped", "end"])))
})

/**
 * A job's page: its definition, its next fires (after now, or the
 * query's `from`) with the schedule's decisions (DST notes), its latest runs (newest first) and how many runs it had in each
 * state since `since`.
 *
 * @since 0.3.0
 */
export const JobDetail = Schema.Struct({
  job: StoredJob,
  nextFires: Schema.Array(PreviewEntry),
  lastRuns: Schema.Array(RunRecord),
  counts: Schema.Record(Schema.String, Schema.Number),
  since: Schema.Number
})
export type JobDetail = typeof JobDetail.Type

/**
 * Which jobs a bulk pause or resume acts on: those of `task`, and whose id
 * holds `text`; `all: true` when there is no filter. `after`: go on after
 * this job id (the `next` of an answer that stopped at its deadline).
 *
 * @since 0.3.0
 */
export const BulkFilter = Schema.Struct({
  task: Schema.optionalKey(Schema.String),
  text: Schema.optionalKey(Schema.String),
  all: Schema.optionalKey(Schema.Boolean),
  after: Schema.optionalKey(Schema.String)
})
export type BulkFilter = typeof BulkFilter.Type

/**
 * What a bulk action did: how many matching jobs it went through, and the
 * ids it changed (those already in the asked state are left alone). A bulk
 * action answers within its deadline (10 s of work, and the store call on
 * its way then): `next` is null when it went through every matching job,
 * else the id to go on after (`BulkFilter.after`).
 *
 * @since 0.3.0
 */
export const BulkResult = Schema.Struct({
  matched: Schema.Number,
  changed: Schema.Array(Schema.String),
  next: Schema.NullOr(Schema.String)
})
export type BulkResult = typeof BulkResult.Type

/**
 * A manual run's request: another payload, or none (the job's own).
 *
 * @since 0.3.0
 */
export const TriggerRequest = Schema.Struct({ payload: Schema.optionalKey(Schema.Json) })

/**
 * One loop's health (see `Supervisor.LoopHealth`).
 *
 * @since 0.3.0
 */
export const LoopHealth = Schema.Struct({
  name: Schema.String,
  state: Schema.Literals(["running", "idle", "stalled", "restarting"]),
  lastProgress: Schema.NullOr(Schema.Number),
  progressAgeMs: Schema.Number,
  stallAfterMs: Schema.NullOr(Schema.Number),
  restarts: Schema.Number,
  stalls: Schema.Number,
  lastError: Schema.NullOr(Schema.String),
  lastFailure: Schema.NullOr(Schema.Number)
})

/**
 * This process's scheduler health (see `Supervisor.Health`).
 *
 * @since 0.3.0
 */
export const Health = Schema.Struct({
  status: Schema.Literals(["healthy", "degraded", "store-unavailable"]),
  node: Schema.String,
  ready: Schema.Boolean,
  readyAt: Schema.NullOr(Schema.Number),
  registration: Schema.NullOr(Schema.Struct({
    inserted: Schema.Number,
    updated: Schema.Number,
    unchanged: Schema.Number,
    superseded: Schema.Number,
    orphaned: Schema.Number,
    at: Schema.Number
  })),
  loops: Schema.Array(LoopHealth),
  store: Schema.Struct({ available: Schema.Boolean, since: Schema.Number, lastError: Schema.NullOr(Schema.String) })
})
export type Health = typeof Health.Type

/**
 * A loop of this process is stalled (503 from `/healthz`): past its
 * `stallAfter` without progress, or restarted by the watchdog and without
 * progress since. `stalled` names them; the health says more.
 *
 * @since 0.3.0
 */
export class Unhealthy extends Schema.TaggedError<Unhealthy>()("Unhealthy", {
  stalled: Schema.Array(Schema.String),
  health: Health
}, { httpApiStatus: 503 }) {}

/**
 * What `/readyz` found.
 *
 * @since 0.3.0
 */
export const Readiness = Schema.Struct({
  ready: Schema.Boolean,
  registered: Schema.Boolean,
  store: Schema.Boolean
})

/**
 * Not ready (503 from `/readyz`): the jobs are not registered yet, or the store does not answer.
 *
 * @since 0.3.0
 */
export class Unready extends Schema.TaggedError<Unready>()("Unready", {
  registered: Schema.Boolean,
  store: Schema.Boolean,
  message: Schema.String
}, { httpApiStatus: 503 }) {}

/**
 * A live node of the cluster (see `JobStore.NodeRecord`).
 *
 * @since 0.3.0
 */
export const NodeRecord = Schema.Struct({
  id: Schema.String,
  host: Schema.String,
  pid: Schema.Number,
  version: Schema.String,
  tasks: Schema.Array(Schema.String),
  startedAt: Schema.Number,
  running: Schema.Number,
  health: Schema.Json,
  store: Schema.Literals(["up", "degraded"]),
  heartbeatAt: Schema.Number
})
export type NodeRecord = typeof NodeRecord.Type

/**
 * One message of `/events`: a scheduler `Event` as JSON (its `_tag` says
 * which), or `{ "_tag": "Ping", "at": ... }` every 15 seconds so that
 * proxies keep the stream open and a dead client is noticed.
 *
 * @since 0.3.0
 */
export const EventMessage = Schema.Record(Schema.String, Schema.Json)
