/**
 * The admin API as data: an `HttpApi` with four groups (`jobs`, `runs`,
 * `nodes`, and the top-level system routes), each endpoint with its typed
 * errors and status codes and its access level (`Auth.Access`).
 *
 * The definition is shared by the server (`Admin.layer`), the typed client
 * (`Admin.client`) and the OpenAPI document (`/openapi.json`). Errors keep
 * the tags and fields they have in the library (`JobNotFound { id }` is a
 * 404 whose JSON body is `{ "_tag": "JobNotFound", "id": ... }`):
 *
 * - 400: `InvalidRequest` (the request did not decode), `InvalidJob`,
 *   `UnknownTask`, `InvalidPayload`, `InvalidTrigger`, `InvalidQuery`, `EmptyFilter`;
 * - 401 `Unauthorized`, 403 `Forbidden`;
 * - 404: `JobNotFound`, `RunNotFound`;
 * - 409: `JobExists`, `RunNotCancellable`;
 * - 503: `StoreUnavailable`, and `Unhealthy`/`Unready` from the probes.
 *
 * @since 0.3.0
 */
import * as Schema from "effect/Schema"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as HttpApiSchema from "effect/http-api/HttpApiSchema"
import * as OpenApi from "effect/http-api/OpenApi"
import { InvalidJob, UnknownTask } from "../internal/jobValidation.ts"
import { InvalidQuery } from "../internal/historyQuery.ts"
import { JobExists, JobNotFound, RunNotCancellable, RunNotFound } from "../JobStore.ts"
import * as Metrics from "../Metrics.ts"
import * as Run from "../Run.ts"
import { InvalidPayload } from "../Task.ts"
import { InvalidTrigger } from "../TriggerError.ts"
import * as AdminSchema from "./AdminSchema.ts"
import { Access, Authorization } from "./Auth.ts"

/**
 * Turns a request that does not decode into a typed 400 (`InvalidRequest`),
 * where the HTTP layer alone would answer an empty 400. Inside
 * `Authorization`: a caller without a token learns nothing of the schemas.
 *
 * @since 0.3.0
 */
export class RequestValidation extends HttpApiMiddleware.Service<RequestValidation>()("steadfast/admin/RequestValidation", {
  error: AdminSchema.InvalidRequest
}) {}

const notFound = JobNotFound.pipe(HttpApiSchema.status(404))
const runNotFound = RunNotFound.pipe(HttpApiSchema.status(404))
const exists = JobExists.pipe(HttpApiSchema.status(409))
const notCancellable = RunNotCancellable.pipe(HttpApiSchema.status(409))
const rejected = [
  InvalidJob.pipe(HttpApiSchema.status(400)),
  UnknownTask.pipe(HttpApiSchema.status(400)),
  InvalidPayload.pipe(HttpApiSchema.status(400)),
  InvalidTrigger.pipe(HttpApiSchema.status(400))
] as const
const invalidQuery = InvalidQuery.pipe(HttpApiSchema.status(400))
const store = AdminSchema.StoreUnavailable
const jobId = { id: Schema.String }

/**
 * Jobs: list, read, add, change, pause, resume, run now, remove, and bulk
 * pause and resume by filter.
 *
 * @since 0.3.0
 */
export class JobsApi extends HttpApiGroup.make("jobs")
  .add(
    HttpApiEndpoint.get("list", "/", {
      query: {
        task: Schema.optional(Schema.String),
        paused: Schema.optional(Schema.Boolean),
        text: Schema.optional(Schema.String),
        after: Schema.optional(Schema.String),
        limit: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000 })))
      },
      success: AdminSchema.JobPage,
      error: [invalidQuery, store]
    }).annotate(Access, "viewer"),
    HttpApiEndpoint.get("get", "/:id", {
      params: jobId,
      query: {
        fires: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 }))),
        from: Schema.optional(Schema.Int),
        runs: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000 }))),
        windowMs: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0)))
      },
      success: AdminSchema.JobDetail,
      error: [notFound, store]
    }).annotate(Access, "viewer"),
    HttpApiEndpoint.post("add", "/", {
      payload: AdminSchema.NewJob,
      success: AdminSchema.StoredJob.pipe(HttpApiSchema.status(201)),
      error: [...rejected, exists, store]
    }),
    HttpApiEndpoint.patch("update", "/:id", {
      params: jobId,
      payload: AdminSchema.JobPatch,
      success: AdminSchema.StoredJob,
      error: [...rejected, notFound, store]
    }),
    HttpApiEndpoint.post("pause", "/:id/pause", { params: jobId, success: AdminSchema.StoredJob, error: [notFound, store] }),
    HttpApiEndpoint.post("resume", "/:id/resume", { params: jobId, success: AdminSchema.StoredJob, error: [notFound, store] }),
    HttpApiEndpoint.post("trigger", "/:id/trigger", {
      params: jobId,
      // No body at all is the job's own payload, as `{}` is.
      payload: [AdminSchema.TriggerRequest, Schema.Null],
      success: AdminSchema.RunRecord.pipe(HttpApiSchema.status(202)),
      error: [notFound, InvalidPayload.pipe(HttpApiSchema.status(400)), UnknownTask.pipe(HttpApiSchema.status(400)), store]
    }),
    HttpApiEndpoint.delete("remove", "/:id", { params: jobId, error: [notFound, store] }),
    HttpApiEndpoint.post("pauseMany", "/pause", {
      payload: AdminSchema.BulkFilter,
      success: AdminSchema.BulkResult,
      error: [AdminSchema.EmptyFilter, invalidQuery, store]
    }),
    HttpApiEndpoint.post("resumeMany", "/resume", {
      payload: AdminSchema.BulkFilter,
      success: AdminSchema.BulkResult,
      error: [AdminSchema.EmptyFilter, invalidQuery, store]
    })
  )
  .middleware(RequestValidation)
  .middleware(Authorization)
  .prefix("/jobs")
  .annotateMerge(OpenApi.annotations({ title: "Jobs", description: "Schedules: list, inspect, change, run now" }))
{}

/**
 * Runs: history across jobs, one run, and cancelling a run.
 *
 * @since 0.3.0
 */
export class RunsApi extends HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.get("list", "/", {
      query: {
        job: Schema.optional(Schema.String),
        state: Schema.optional(Schema.Array(Run.State)),
        from: Schema.optional(Schema.Int),
        to: Schema.optional(Schema.Int),
        before: Schema.optional(Schema.String),
        limit: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000 })))
      },
      success: AdminSchema.RunPage,
      error: [invalidQuery, store]
    }).annotate(Access, "viewer"),
    HttpApiEndpoint.get("get", "/:id", { params: jobId, success: AdminSchema.RunRecord, error: [runNotFound, store] })
      .annotate(Access, "viewer"),
    HttpApiEndpoint.post("cancel", "/:id/cancel", {
      params: jobId,
      success: AdminSchema.RunRecord,
      error: [runNotFound, notCancellable, store]
    })
  )
  .middleware(RequestValidation)
  .middleware(Authorization)
  .prefix("/runs")
  .annotateMerge(OpenApi.annotations({ title: "Runs", description: "History, one run, cancel a run" }))
{}

/**
 * Nodes: the live nodes of the cluster.
 *
 * @since 0.3.0
 */
export class NodesApi extends HttpApiGroup.make("nodes")
  .add(HttpApiEndpoint.get("list", "/nodes", { success: Schema.Array(AdminSchema.NodeRecord), error: store }).annotate(Access, "viewer"))
  .middleware(RequestValidation)
  .middleware(Authorization)
  .annotateMerge(OpenApi.annotations({ title: "Nodes", description: "The live nodes of the cluster" }))
{}

// The probes answer without a token unless the server says otherwise
// (`publicProbes`): in OpenAPI terms, the token is optional.
const probeSecurity = { security: [{}, { bearer: [] }] }

/**
 * The system routes: probes, metrics, this document and the event stream.
 *
 * @since 0.3.0
 */
export class SystemApi extends HttpApiGroup.make("system", { topLevel: true })
  .add(
    HttpApiEndpoint.get("healthz", "/healthz", { success: AdminSchema.Health, error: AdminSchema.Unhealthy })
      .annotate(Access, "public")
      .annotate(OpenApi.Override, probeSecurity),
    HttpApiEndpoint.get("readyz", "/readyz", { success: AdminSchema.Readiness, error: AdminSchema.Unready })
      .annotate(Access, "public")
      .annotate(OpenApi.Override, probeSecurity),
    HttpApiEndpoint.get("metrics", "/metrics", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: Metrics.prometheusContentType }))
    }).annotate(Access, "viewer"),
    HttpApiEndpoint.get("openapi", "/openapi.json", { success: Schema.Json }).annotate(Access, "viewer"),
    HttpApiEndpoint.get("events", "/events", { success: HttpApiSchema.StreamSse({ data: AdminSchema.EventMessage }) })
      .annotate(Access, "viewer")
  )
  .middleware(RequestValidation)
  .middleware(Authorization)
  .annotateMerge(OpenApi.annotations({ title: "System", description: "Probes, metrics, API document, events" }))
{}

/**
 * The admin API.
 *
 * @example
 * ```ts
 * import { OpenApi } from "effect/http-api"
 * import { AdminApi } from "steadfast/admin"
 *
 * const spec = OpenApi.fromApi(AdminApi.AdminApi)
 * Object.keys(spec.paths) // ["/jobs", "/jobs/{id}", ...]
 * ```
 *
 * @since 0.3.0
 */
export class AdminApi extends HttpApi.make("steadfast-admin")
  .add(JobsApi, RunsApi, NodesApi, SystemApi)
  .annotateMerge(OpenApi.annotations({
    title: "Steadfast admin API",
    description: "Operate a Steadfast scheduler: jobs, runs, nodes, health, metrics and events."
  }))
{}
