/**
 * The dashboard's pages (GET routes): jobs, a job, runs, cluster, and the
 * fragments htmx swaps into them. A request without a live session is sent
 * to the login page; a page whose store call fails answers 503 and logs why.
 *
 * @since 0.4.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import type { Scheduler } from "../../Scheduler.ts"
import * as ClusterView from "./ClusterView.ts"
import * as Data from "./Data.ts"
import * as Guard from "./Guard.ts"
import type { Html } from "./Html.ts"
import * as JobsView from "./JobsView.ts"
import * as JobView from "./JobView.ts"
import { page, type View } from "./Layout.ts"
import * as RunsView from "./RunsView.ts"
import type * as Session from "./Session.ts"

/**
 * What the pages share: where they are, the scheduler, the sessions.
 *
 * @since 0.4.0
 */
export interface Context {
  readonly path: `/${string}`
  readonly baseOf: (request: HttpServerRequest.HttpServerRequest) => string
  readonly scheduler: Scheduler["Service"]
  readonly sessions: Session.Sessions
  readonly guards: Guard.Guards
  readonly pageSize: number
}

type Render<E> = (
  view: View,
  request: HttpServerRequest.HttpServerRequest,
  params: URLSearchParams
) => Effect.Effect<HttpServerResponse.HttpServerResponse, E>

// A page for a logged-in session, or the login page for everyone else.
const viewing = (ctx: Context) => <E>(render: Render<E>) => (request: HttpServerRequest.HttpServerRequest) => {
  const session = ctx.guards.session(request)
  if (session === undefined) {
    return Effect.succeed(
      request.headers["hx-request"] === "true"
        ? Guard.refuse(401, "not logged in")
        : Guard.seeOther(`${ctx.baseOf(request)}/login`)
    )
  }
  return Effect.catchCause(
    render({ base: ctx.baseOf(request), session, now: Date.now() }, request, Guard.searchParams(request)),
    (cause) =>
      Effect.as(
        Effect.logWarning("steadfast dashboard: a page failed", cause),
        Guard.refuse(503, "The scheduler's store did not answer; try again.")
      )
  )
}

// A whole page, with the message the last action left for it.
const full = (ctx: Context, view: View, options: Parameters<typeof page>[1], body: Html) => {
  const flash = ctx.sessions.takeFlash(view.session.id)
  return Guard.htmlResponse(page(view, {
    ...options,
    flash: flash !== undefined && !flash.error ? flash.message : undefined,
    error: flash?.error === true ? flash.message : undefined
  }, body))
}

const parseTime = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  // `datetime-local` inputs carry no zone: the form says they are UTC.
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`)
  return Number.isFinite(ms) ? ms : undefined
}

const jobFilter = (ctx: Context, params: URLSearchParams): Data.JobFilter => {
  const paused = Guard.param(params, "paused")
  return {
    text: Guard.param(params, "text"),
    task: Guard.param(params, "task"),
    paused: paused === "true" ? true : paused === "false" ? false : undefined,
    after: Guard.param(params, "after"),
    limit: ctx.pageSize
  }
}

const jobsTable = (ctx: Context, view: View, filter: Data.JobFilter) =>
  Effect.gen(function*() {
    const jobs = yield* Data.jobsPage(ctx.scheduler, filter)
    const recent = yield* Data.recentRuns(ctx.scheduler, jobs.jobs.map((job) => job.id), 20)
    return JobsView.table(view, filter, jobs, recent)
  })

const jobRuns = (ctx: Context, jobId: string) =>
  Effect.catchTag(ctx.scheduler.history({ jobId, limit: ctx.pageSize }), "InvalidQuery", () => Effect.succeed([]))

/**
 * `<path>/jobs` (and its table), `<path>/job?id=` (and its history).
 *
 * @since 0.4.0
 */
export const jobRoutes = (ctx: Context): ReadonlyArray<HttpRouter.Route> => {
  const view = viewing(ctx)
  const job = (params: URLSearchParams) => {
    const id = Guard.param(params, "id") ?? ""
    return Effect.map(ctx.scheduler.get(id), (job) => ({ id, job: Option.getOrUndefined(job) }))
  }
  return [
    HttpRouter.route("GET", `${ctx.path}/jobs`, view((view, _, params) => {
      const filter = jobFilter(ctx, params)
      return Effect.map(
        jobsTable(ctx, view, filter),
        (table) => full(ctx, view, { title: "Jobs", active: "jobs" }, JobsView.body(view, filter, table))
      )
    })),
    HttpRouter.route(
      "GET",
      `${ctx.path}/jobs/table`,
      view((view, _, params) => Effect.map(jobsTable(ctx, view, jobFilter(ctx, params)), (table) => Guard.htmlResponse(table)))
    ),
    HttpRouter.route("GET", `${ctx.path}/job`, view((view, _, params) =>
      Effect.gen(function*() {
        const { id, job: found } = yield* job(params)
        if (found === undefined) return Guard.refuse(404, `no job with id ${id}`)
        const runs = yield* jobRuns(ctx, id)
        const counts = yield* Effect.catchTag(
          ctx.scheduler.stateCounts(id, view.now - 86_400_000),
          "InvalidQuery",
          () => Effect.succeed({})
        )
        return full(ctx, view, { title: id, active: "jobs" }, JobView.body(view, found, runs, counts))
      }))),
    HttpRouter.route("GET", `${ctx.path}/job/runs`, view((view, _, params) =>
      Effect.gen(function*() {
        const { id, job: found } = yield* job(params)
        if (found === undefined) return Guard.refuse(404, `no job with id ${id}`)
        return Guard.htmlResponse(JobView.history(view, found, yield* jobRuns(ctx, id)))
      })))
  ]
}

const runFilter = (ctx: Context, params: URLSearchParams): Data.RunFilter => ({
  jobId: Guard.param(params, "job"),
  state: Data.parseState(Guard.param(params, "state")),
  from: parseTime(Guard.param(params, "from")),
  to: parseTime(Guard.param(params, "to")),
  before: Guard.param(params, "before"),
  limit: ctx.pageSize
})

const runsTable = (ctx: Context, view: View, filter: Data.RunFilter) =>
  Effect.map(
    // A filter the store cannot answer (a job id no job can have) matches nothing.
    Effect.catchTag(Data.runsPage(ctx.scheduler, filter), "InvalidQuery", () => Effect.succeed({ runs: [], next: null })),
    (runs) => RunsView.table(view, filter, runs)
  )

/**
 * `<path>/runs` and its table.
 *
 * @since 0.4.0
 */
export const runRoutes = (ctx: Context): ReadonlyArray<HttpRouter.Route> => {
  const view = viewing(ctx)
  return [
    HttpRouter.route("GET", `${ctx.path}/runs`, view((view, _, params) => {
      const filter = runFilter(ctx, params)
      return Effect.map(
        runsTable(ctx, view, filter),
        (table) => full(ctx, view, { title: "Runs", active: "runs" }, RunsView.body(view, filter, table))
      )
    })),
    HttpRouter.route(
      "GET",
      `${ctx.path}/runs/table`,
      view((view, _, params) => Effect.map(runsTable(ctx, view, runFilter(ctx, params)), Guard.htmlResponse))
    )
  ]
}

const cluster = (ctx: Context, view: View) =>
  Effect.gen(function*() {
    const health = yield* ctx.scheduler.health
    // The nodes table may be out of reach while this node's own health is not.
    const nodes = yield* Effect.option(ctx.scheduler.nodes)
    return ClusterView.content(view, health, Option.getOrUndefined(nodes))
  })

/**
 * `<path>/cluster` and its content.
 *
 * @since 0.4.0
 */
export const clusterRoutes = (ctx: Context): ReadonlyArray<HttpRouter.Route> => {
  const view = viewing(ctx)
  return [
    HttpRouter.route(
      "GET",
      `${ctx.path}/cluster`,
      view((view) =>
        Effect.map(cluster(ctx, view), (content) => full(ctx, view, { title: "Cluster", active: "cluster" }, ClusterView.body(content)))
      )
    ),
    HttpRouter.route("GET", `${ctx.path}/cluster/table`, view((view) => Effect.map(cluster(ctx, view), Guard.htmlResponse)))
  ]
}
