/**
 * The handlers of the `jobs` group: each a call to the `Scheduler` service,
 * whose typed errors go out as they are (the API declares them), but for
 * `StoreError`, which becomes `StoreUnavailable` (503) without its cause.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as Job from "../../Job.ts"
import type * as JobStore from "../../JobStore.ts"
import { JobNotFound } from "../../JobStore.ts"
import { Scheduler } from "../../Scheduler.ts"
import type { StoreError } from "../../StoreError.ts"
import * as Trigger from "../../Trigger.ts"
import { AdminApi } from "../AdminApi.ts"
import * as AdminSchema from "../AdminSchema.ts"
import { BulkDeadline, changeWithin, within, WriteDeadline } from "./deadlines.ts"

/** @internal */
export const unavailable = (error: StoreError) =>
  Effect.fail(
    new AdminSchema.StoreUnavailable({
      operation: error.operation,
      reason: error.reason,
      retryable: error.retryable,
      message: error.message
    })
  )

/** @internal */
export const toView = (job: JobStore.StoredJob): AdminSchema.StoredJob => ({
  id: job.id,
  task: job.task,
  payload: job.payload,
  trigger: job.trigger,
  overlap: job.overlap,
  misfire: job.misfire,
  retry: job.retry,
  timeout: job.timeout,
  onLost: job.onLost,
  paused: job.paused,
  source: job.source,
  version: job.version,
  nextFire: job.nextFire,
  createdAt: job.createdAt,
  updatedAt: job.updatedAt,
  setAside: job.setAside ?? null
})

const fromInput = (input: AdminSchema.NewJob): Job.Job => ({
  id: input.id,
  task: input.task,
  payload: input.payload ?? null,
  trigger: input.trigger,
  overlap: input.overlap ?? Job.defaults.overlap,
  misfire: input.misfire ?? Job.defaults.misfire,
  retry: input.retry ?? Job.defaults.retry,
  timeout: input.timeout ?? null,
  onLost: input.onLost ?? Job.defaults.onLost,
  paused: input.paused ?? Job.defaults.paused
})

const patched = (job: Job.Job, patch: AdminSchema.JobPatch): Job.Job => ({
  id: job.id,
  task: patch.task ?? job.task,
  payload: patch.payload === undefined ? job.payload : patch.payload,
  trigger: patch.trigger ?? job.trigger,
  overlap: patch.overlap ?? job.overlap,
  misfire: patch.misfire ?? job.misfire,
  retry: patch.retry ?? job.retry,
  timeout: patch.timeout === undefined ? job.timeout : patch.timeout,
  onLost: patch.onLost ?? job.onLost,
  paused: patch.paused ?? job.paused
})

const dayMs = 86_400_000
// Jobs asked of the store per page while a bulk action walks its filter.
const bulkPage = 500

/** @internal */
export const layer = HttpApiBuilder.group(
  AdminApi,
  "jobs",
  Effect.fnUntraced(function*(handlers) {
    const scheduler = yield* Scheduler
    const stored = (id: string) =>
      Effect.flatMap(scheduler.get(id), (job) =>
        Option.isSome(job) ? Effect.succeed(job.value) : Effect.fail(new JobNotFound({ id })))

    const deadlineMs = yield* BulkDeadline
    const writeMs = yield* WriteDeadline
    const change = (operation: string) => changeWithin(operation, writeMs)

    // Pauses (or resumes) every job the filter matches that is not so
    // already, page by page, until the deadline: then it answers with where
    // it stopped. Each store call has its own bound; at least one job is
    // gone through per call, so asking again with `next` always gets on.
    const bulk = (filter: AdminSchema.BulkFilter, paused: boolean) =>
      Effect.gen(function*() {
        // An empty task or text (a cleared search box) would match every job: no filter either.
        if (!filter.task && !filter.text && filter.all !== true) {
          return yield* new AdminSchema.EmptyFilter({ message: "give task or text, or all: true to act on every job" })
        }
        const until = (yield* Clock.currentTimeMillis) + deadlineMs
        const late = Effect.map(Clock.currentTimeMillis, (now) => now >= until)
        let matched = 0
        const changed: Array<string> = []
        let after: string | undefined = filter.after
        do {
          if (matched > 0 && (yield* late)) return { matched, changed, next: after ?? null }
          const query = { task: filter.task, text: filter.text, after, limit: bulkPage }
          const page: JobStore.JobPage = yield* scheduler.listJobs(query).pipe(within("listJobs"))
          for (const job of page.jobs) {
            if (matched > 0 && (yield* late)) return { matched, changed, next: after ?? null }
            matched++
            after = job.id
            if (job.paused === paused) continue
            // A job removed meanwhile is no longer there to change.
            const done = yield* (paused ? scheduler.pause(job.id) : scheduler.resume(job.id)).pipe(
              Effect.catchTag("JobNotFound", () => Effect.succeed(undefined)),
              change(paused ? "pause" : "resume")
            )
            if (done !== undefined) changed.push(job.id)
          }
          after = page.next ?? undefined
        } while (after !== undefined)
        return { matched, changed, next: null }
      })

    return handlers
      .handle("list", ({ query }) =>
        scheduler.listJobs(query).pipe(
          Effect.map((page) => ({ jobs: page.jobs.map(toView), next: page.next })),
          Effect.catchTag("StoreError", unavailable),
          within("listJobs")
        ))
      .handle("get", ({ params, query }) =>
        Effect.gen(function*() {
          const job = yield* stored(params.id)
          const now = yield* Clock.currentTimeMillis
          const since = now - (query.windowMs ?? dayMs)
          // The id comes from the store, the limit and the instant from the
          // checked query: an `InvalidQuery` is not reachable.
          const lastRuns = yield* scheduler.history({ jobId: job.id, limit: query.runs ?? 20 }).pipe(
            Effect.catchTag("InvalidQuery", Effect.die)
          )
          const counts = yield* scheduler.stateCounts(job.id, since).pipe(Effect.catchTag("InvalidQuery", Effect.die))
          return {
            job: toView(job),
            nextFires: Trigger.preview(job.trigger, query.from ?? now, query.fires ?? 5),
            lastRuns: lastRuns.map(AdminSchema.runView),
            counts,
            since
          }
        }).pipe(Effect.catchTag("StoreError", unavailable), within("get")))
      .handle("add", ({ payload }) => scheduler.add(fromInput(payload)).pipe(
        Effect.map(toView),
        Effect.catchTag("StoreError", unavailable),
        change("add")
      ))
      .handle("update", ({ params, payload }) =>
        stored(params.id).pipe(
          Effect.flatMap((job) => scheduler.update(patched(job, payload))),
          Effect.map(toView),
          Effect.catchTag("StoreError", unavailable),
          change("update")
        ))
      .handle("pause", ({ params }) => scheduler.pause(params.id).pipe(
        Effect.map(toView),
        Effect.catchTag("StoreError", unavailable),
        change("pause")
      ))
      .handle("resume", ({ params }) => scheduler.resume(params.id).pipe(
        Effect.map(toView),
        Effect.catchTag("StoreError", unavailable),
        change("resume")
      ))
      .handle("trigger", ({ params, payload }) =>
        scheduler.trigger(params.id, payload?.payload).pipe(
          Effect.map(AdminSchema.runView),
          Effect.catchTag("StoreError", unavailable),
          change("trigger")
        ))
      .handle("remove", ({ params }) =>
        scheduler.remove(params.id).pipe(
          Effect.flatMap((removed) => removed ? Effect.void : Effect.fail(new JobNotFound({ id: params.id }))),
          Effect.catchTag("StoreError", unavailable),
          change("remove")
        ))
      .handle("pauseMany", ({ payload }) => bulk(payload, true).pipe(Effect.catchTag("StoreError", unavailable)))
      .handle("resumeMany", ({ payload }) => bulk(payload, false).pipe(Effect.catchTag("StoreError", unavailable)))
  })
)
