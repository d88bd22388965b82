/**
 * The handlers of the system routes (probes, metrics, the API document, the
 * event stream) and the request-validation middleware.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SchemaIssue from "effect/SchemaIssue"
import * as Stream from "effect/Stream"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as OpenApi from "effect/http-api/OpenApi"
import type { Event } from "../../Event.ts"
import * as Metrics from "../../Metrics.ts"
import { Scheduler } from "../../Scheduler.ts"
import type * as Supervisor from "../../Supervisor.ts"
import { AdminApi, RequestValidation } from "../AdminApi.ts"
import * as AdminSchema from "../AdminSchema.ts"
import * as Auth from "../Auth.ts"

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/** @internal */
export const layerValidation: Layer.Layer<RequestValidation> = HttpApiMiddleware.layerSchemaErrorTransform(
  RequestValidation,
  (error) => {
    // A response that does not encode is the server's fault: it stays a 500.
    if (error.kind === "Body" || error.kind === "ResponseHeaders") return Effect.fail(error)
    const where = error.kind === "Params" ? "params" : error.kind === "Query" ? "query" : error.kind === "Headers" ? "headers" : "payload"
    const issues = formatIssues(error.cause.issue).issues.map((issue) => ({
      path: (issue.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment)).join("."),
      message: issue.message
    }))
    const summary = issues.map((issue) => issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`).join("; ")
    return Effect.fail(new AdminSchema.InvalidRequest({ where, issues, message: `invalid ${where}: ${summary}` }))
  }
)

type Json = string | number | boolean | null

// An event as a JSON object: its fields are scalars by construction (see `Event`).
const toMessage = (event: Event): Record<string, Json> => {
  const message: Record<string, Json> = {}
  for (const [key, value] of Object.entries(event)) {
    if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      message[key] = value
    }
  }
  return message
}

const pingEveryMs = 15_000

/**
 * The scheduler's events as JSON messages, with a `Ping` every 15 s: what
 * `/events` streams, for routes mounted beside the API (the dashboard).
 *
 * @internal
 */
export const eventMessages = (events: Stream.Stream<Event>): Stream.Stream<Record<string, Json>> =>
  Stream.merge(
    Stream.map(events, toMessage),
    Stream.mapEffect(Stream.tick(pingEveryMs), () => Effect.map(Clock.currentTimeMillis, (at) => ({ _tag: "Ping", at })))
  )

const readyProbeMs = 2_000

// Stalled, or restarted by the watchdog and without progress since: a loop
// stuck for good cycles through running, stalled and restarting, and must
// not look healthy during the running part of each cycle.
const isStalled = (loop: Supervisor.LoopHealth): boolean =>
  loop.state === "stalled" ||
  (loop.stalls > 0 && loop.lastError?.startsWith("stalled") === true && loop.lastFailure !== null &&
    (loop.lastProgress === null || loop.lastProgress < loop.lastFailure))

const withoutErrors = (health: Supervisor.Health): Supervisor.Health => ({
  ...health,
  store: { ...health.store, lastError: health.store.lastError === null ? null : "(withheld: ask with a token)" },
  loops: health.loops.map((loop) => ({ ...loop, lastError: loop.lastError === null ? null : "(withheld: ask with a token)" }))
})

/** @internal */
export const layer = HttpApiBuilder.group(
  AdminApi,
  "system",
  Effect.fnUntraced(function*(handlers) {
    const scheduler = yield* Scheduler
    return handlers
      .handle("healthz", () =>
        Effect.gen(function*() {
          const full = yield* scheduler.health
          // Without a token (a public probe), no error text: a store error
          // names the database's host and the driver's message.
          const health = Option.isSome(yield* Auth.CurrentPrincipal) ? full : withoutErrors(full)
          const stalled = full.loops.filter(isStalled).map((loop) => loop.name)
          return stalled.length === 0 ? health : yield* new AdminSchema.Unhealthy({ stalled, health })
        }))
      .handle("readyz", () =>
        Effect.gen(function*() {
          const health = yield* scheduler.health
          // One cheap read, bounded: "reachable" is what the store answers now,
          // not what the last loop saw.
          const store = health.store.available && (yield* scheduler.get("steadfast-readyz-probe").pipe(
            Effect.timeout(readyProbeMs),
            Effect.match({ onFailure: () => false, onSuccess: () => true })
          ))
          if (health.ready && store) return { ready: true, registered: true, store: true }
          const why = [health.ready ? undefined : "jobs not registered yet", store ? undefined : "store not reachable"]
          return yield* new AdminSchema.Unready({
            registered: health.ready,
            store,
            message: why.filter((reason) => reason !== undefined).join(", ")
          })
        }))
      .handle("metrics", () => Metrics.prometheus)
      .handle("openapi", () => Effect.sync(() => HttpServerResponse.jsonUnsafe(OpenApi.fromApi(AdminApi))))
      .handle("events", () => Effect.succeed(eventMessages(scheduler.events)))
  })
)
