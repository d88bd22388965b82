/**
 * The handlers of the `runs` and `nodes` groups.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import { RunNotFound } from "../../JobStore.ts"
import type * as Run from "../../Run.ts"
import { Scheduler } from "../../Scheduler.ts"
import { AdminApi } from "../AdminApi.ts"
import * as AdminSchema from "../AdminSchema.ts"
import { changeWithin, within, WriteDeadline } from "./deadlines.ts"
import { unavailable } from "./jobs.ts"

// The history query of `GET /runs`, as decoded.
interface AdminApiQuery {
  readonly job?: string | undefined
  readonly state?: ReadonlyArray<Run.State> | undefined
  readonly from?: number | undefined
  readonly to?: number | undefined
  readonly before?: string | undefined
  readonly limit?: number | undefined
}

/** @internal */
export const layerRuns = HttpApiBuilder.group(
  AdminApi,
  "runs",
  Effect.fnUntraced(function*(handlers) {
    const scheduler = yield* Scheduler
    const writeMs = yield* WriteDeadline
    const query = (query: AdminApiQuery) => ({
      jobId: query.job,
      states: query.state,
      from: query.from,
      to: query.to,
      before: query.before,
      limit: query.limit ?? 100
    })
    return handlers
      .handle("list", (request) =>
        scheduler.historyPage(query(request.query)).pipe(
          Effect.map((page) => ({ runs: page.runs.map(AdminSchema.runView), next: page.next })),
          Effect.catchTag("StoreError", unavailable),
          within("historyPage")
        ))
      .handle("get", ({ params }) =>
        scheduler.getRun(params.id).pipe(
          Effect.flatMap((run) =>
            Option.isSome(run) ? Effect.succeed(AdminSchema.runView(run.value)) : Effect.fail(new RunNotFound({ id: params.id }))
          ),
          Effect.catchTag("StoreError", unavailable),
          within("getRun")
        ))
      .handle("cancel", ({ params }) =>
        scheduler.cancel(params.id).pipe(
          Effect.map(AdminSchema.runView),
          Effect.catchTag("StoreError", unavailable),
          changeWithin("cancel", writeMs)
        ))
  })
)

/** @internal */
export const layerNodes = HttpApiBuilder.group(
  AdminApi,
  "nodes",
  Effect.fnUntraced(function*(handlers) {
    const scheduler = yield* Scheduler
    return handlers
      .handle("list", () => scheduler.nodes.pipe(Effect.catchTag("StoreError", unavailable), within("nodes")))
  })
)
