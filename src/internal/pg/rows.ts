/**
 * Rows of the PostgreSQL store and their API shapes.
 *
 * @internal
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Job from "../../Job.ts"
import type { StoredJob } from "../../JobStore.ts"
import type * as Run from "../../Run.ts"
import * as Trigger from "../../Trigger.ts"
import * as JobShape from "../jobShape.ts"
import { maxValueBytes } from "./migrations.ts"
import { ms, msOrNull } from "./Tables.ts"

/** @internal */
export interface JobRow {
  readonly id: string
  readonly definition: unknown
  readonly paused: boolean
  readonly source: "code" | "dynamic"
  readonly version: number
  readonly next_fire: unknown
  readonly created_at: unknown
  readonly updated_at: unknown
  readonly set_aside: string | null
}

/** The job columns `toStoredJob` reads. @internal */
export const jobColumns = "id, definition, paused, source, version, next_fire, created_at, updated_at, set_aside"

/** @internal */
export interface RunRow {
  readonly id: string
  readonly job_id: string
  readonly fire_time: unknown
  readonly due_at: unknown
  readonly state: Run.State
  readonly attempt: number
  readonly node: string | null
  readonly started_at: unknown
  readonly ended_at: unknown
  readonly error: string | null
  readonly note: string | null
  readonly manual: boolean
}

/** A run row with what a claim needs besides the record. @internal */
export interface ClaimedRow extends RunRow {
  readonly token: string | null
  readonly payload: Schema.Json | null
}

/** The run columns `toRecord` reads, optionally qualified by a table alias. @internal */
export const runColumns = (alias?: string): string => {
  const p = alias === undefined ? "" : `${alias}.`
  return `${p}id::text AS id, ${p}job_id, ${p}fire_time, ${p}due_at, ${p}state, ${p}attempt, ${p}node, ` +
    `${p}started_at, ${p}ended_at, ${p}error, ${p}note, ${p}manual`
}

/** @internal */
export const toRecord = (row: RunRow): Run.RunRecord => ({
  id: row.id,
  jobId: row.job_id,
  fireTime: ms(row.fire_time),
  dueAt: ms(row.due_at),
  state: row.state,
  attempt: row.attempt,
  node: row.node,
  startedAt: msOrNull(row.started_at),
  endedAt: msOrNull(row.ended_at),
  error: row.error,
  note: row.note,
  manual: row.manual
})

const encodeJob = Schema.encodeResult(Job.Job)
const decodeJob = Schema.decodeUnknownResult(Job.Job)

/**
 * What a job row stores: the encoded definition (without `id` and `paused`,
 * which are columns) and the columns derived from it.
 *
 * @internal
 */
export interface JobValues {
  readonly id: string
  readonly task: string
  readonly definition: Record<string, unknown>
  readonly paused: boolean
  readonly overlap_max: number
  readonly on_limit: Job.OverlapPolicy["onLimit"]
  readonly on_lost: Job.LostPolicy
}

/**
 * Encodes a job for storage; fails when the job does not satisfy its schema.
 * A job of exactly the schema's shape is its own encoding (`jobShape.ts`):
 * the schema is not walked for it.
 *
 * @internal
 */
export const toValues = (job: Job.Job): Result.Result<JobValues, Schema.SchemaError> =>
  JobShape.conforms(job)
    ? Result.succeed({
      id: job.id,
      task: job.task,
      definition: JobShape.definitionOf(job),
      paused: job.paused,
      overlap_max: job.overlap.max,
      on_limit: job.overlap.onLimit,
      on_lost: job.onLost
    })
    : Result.map(encodeJob(job), ({ id: _id, paused: _paused, ...definition }) => ({
    id: job.id,
    task: job.task,
    definition: JobShape.sparse(definition),
    paused: job.paused,
    overlap_max: job.overlap.max,
    on_limit: job.overlap.onLimit,
    on_lost: job.onLost
  }))

/** Decodes a stored definition back into a job. @internal */
export const toJob = (row: Pick<JobRow, "id" | "definition" | "paused">): Result.Result<Job.Job, Schema.SchemaError> => {
  const candidate = {
    ...JobShape.withDefaults(isRecord(row.definition) ? row.definition : {}),
    id: row.id,
    paused: row.paused
  }
  // Almost every stored definition is exactly what the schema would decode: checked in plain code.
  return JobShape.isJob(candidate) ? Result.succeed(candidate) : decodeJob(candidate)
}

/** @internal */
export const toStoredJob = (row: JobRow): Result.Result<StoredJob, Schema.SchemaError> =>
  Result.map(toJob(row), (job) => ({
    ...job,
    source: row.source,
    version: row.version,
    nextFire: msOrNull(row.next_fire),
    createdAt: ms(row.created_at),
    updatedAt: ms(row.updated_at),
    setAside: row.set_aside
  }))

/** The instant a fire becomes due (fire plus the job's deterministic jitter). @internal */
export const dueOf = (job: Job.Job, fire: number | null): number | null =>
  fire === null ? null : Trigger.dueAt(job.trigger, fire, job.id)

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Why a client cannot read what the store holds, if it cannot: a claim reads
 * a definition or payload of up to `maxValueBytes` in one message, so the
 * client's `maxMessageSize` must leave room for it and the row around it.
 *
 * @internal
 */
export const unreadable = (maxMessageSize: number | undefined): string | undefined =>
  maxMessageSize === undefined || maxMessageSize >= maxValueBytes + 1_048_576
    ? undefined
    : `the client's maxMessageSize ${maxMessageSize} is too small: the store holds definitions and payloads of up to ` +
      `${maxValueBytes} bytes, which a claim must read back (leave it unset, or at least ${maxValueBytes + 1_048_576})`
