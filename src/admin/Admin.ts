/**
 * The admin server: the `AdminApi` implemented over the `Scheduler`
 * service, as a Layer that mounts into your own `effect/http` router under a
 * prefix (`layer`), or as a standalone Node server on a port (`serve`); and
 * the typed client of it (`client`).
 *
 * Routes mounted beside the API (the dashboard) come in through
 * `Options.routes`: they are mounted under the same prefix, and may use the
 * `Scheduler` and the server's `Auth.Tokens`.
 *
 * @since 0.3.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiClient from "effect/http-api/HttpApiClient"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import { createServer } from "node:http"
import { Scheduler } from "../Scheduler.ts"
import { AdminApi } from "./AdminApi.ts"
import * as Auth from "./Auth.ts"
import * as Jobs from "./internal/jobs.ts"
import * as Runs from "./internal/runs.ts"
import * as System from "./internal/system.ts"

/**
 * How the admin API is mounted.
 *
 * @since 0.3.0
 */
export interface Options<E = never, R = never> {
  /** The bearer tokens that may call it (see `Auth.Token`). */
  readonly tokens: ReadonlyArray<Auth.Token>
  /** Where it is mounted in the router, e.g. `/admin`. Default: at the root. */
  readonly prefix?: string | undefined
  /** Whether `/healthz` and `/readyz` answer without a token. Default true. */
  readonly publicProbes?: boolean | undefined
  /**
   * More routes to mount under the same prefix (the dashboard): an
   * `HttpRouter` layer that may use `Scheduler` and `Auth.Tokens`.
   */
  readonly routes?: Layer.Layer<never, E, R> | undefined
}

const normalise = (prefix: string | undefined): string => {
  const trimmed = (prefix ?? "").replace(/\/+$/, "")
  return trimmed === "" ? "" : trimmed.startsWith("/") ? trimmed : `/${trimmed}`
}

// The user's router, seen from under `prefix`: what is added to it is
// mounted there, and handlers see the path without the prefix.
const prefixed = (prefix: string) =>
  Layer.effect(HttpRouter.HttpRouter, Effect.map(HttpRouter.HttpRouter, (router) => router.prefixed(prefix)))

/**
 * The admin API (and `routes`) as routes of your own `HttpRouter`, under
 * `prefix`. Requires the `Scheduler` service, and the platform services an
 * HTTP server provides (`NodeHttpServer.layer` gives them).
 *
 * @example
 * ```ts
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Layer, Redacted } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { createServer } from "node:http"
 * import { MemoryJobStore, Scheduler } from "steadfast"
 * import { Admin } from "steadfast/admin"
 *
 * const SchedulerLive = Scheduler.layer({ tasks: [] }).pipe(Layer.provide(MemoryJobStore.layer))
 * const AdminRoutes = Admin.layer({
 *   prefix: "/admin",
 *   tokens: [{ name: "ops", role: "operator", secret: Redacted.make("change-me") }]
 * })
 * export const Server = HttpRouter.serve(AdminRoutes).pipe(
 *   Layer.provide(SchedulerLive),
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 8080 }))
 * )
 * ```
 *
 * @since 0.3.0
 */
export const layer = <E = never, R = never>(options: Options<E, R>) => {
  const auth = Auth.layer(options)
  const handlers = Layer.mergeAll(Jobs.layer, Runs.layerRuns, Runs.layerNodes, System.layer).pipe(
    Layer.provide(Layer.mergeAll(auth, System.layerValidation))
  )
  const api = HttpApiBuilder.layer(AdminApi).pipe(Layer.provide(handlers))
  // The extra routes' handlers may ask for `Auth.Tokens` and `Scheduler`
  // per request, or when their layer is built: both are given.
  const scheduler = Layer.effect(Scheduler, Effect.gen(function*() {
    return yield* Scheduler
  }))
  const extra = options.routes === undefined
    ? Layer.empty
    : options.routes.pipe(HttpRouter.provideRequest(Layer.mergeAll(auth, scheduler)), Layer.provide(auth))
  const routes = Layer.mergeAll(api, extra)
  const prefix = normalise(options.prefix)
  return prefix === "" ? routes : routes.pipe(Layer.provide(prefixed(prefix)))
}

/**
 * A standalone admin server.
 *
 * @since 0.3.0
 */
export interface ServeOptions<E = never, R = never> extends Options<E, R> {
  /** The port; 0 picks a free one (read it from `HttpServer`'s `address`). */
  readonly port: number
  /** The interface to listen on. Default `127.0.0.1`: expose it on purpose. */
  readonly host?: string | undefined
  /** Log every request (method, path, status; never a header). Default false. */
  readonly logRequests?: boolean | undefined
}

/**
 * The admin API on its own Node HTTP server, for the life of the layer. The
 * layer gives the `HttpServer` (its `address` says the port).
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { MemoryJobStore, Scheduler } from "steadfast"
 * import { Admin } from "steadfast/admin"
 *
 * export const AdminServer = Admin.serve({
 *   port: 9464,
 *   tokens: [{ name: "ops", role: "operator", secret: Redacted.make("change-me") }]
 * }).pipe(Layer.provide(Scheduler.layer({ tasks: [] }).pipe(Layer.provide(MemoryJobStore.layer))))
 * ```
 *
 * @since 0.3.0
 */
export const serve = <E = never, R = never>(options: ServeOptions<E, R>) =>
  HttpRouter.serve(layer(options), { disableLogger: options.logRequests !== true, disableListenLog: true }).pipe(
    Layer.provideMerge(
      NodeHttpServer.layer(createServer, { port: options.port, host: options.host ?? "127.0.0.1", gracefulShutdownTimeout: 1_000 })
    )
  )

/**
 * The typed client of the admin API: one method per endpoint, grouped
 * (`client.jobs.list`, `client.runs.cancel`), the system routes at the top
 * (`client.healthz()`).
 *
 * @since 0.3.0
 */
export type Client = HttpApiClient.ForApi<typeof AdminApi>

/**
 * A typed client of the admin API at `baseUrl` (the server's URL with its
 * prefix), sending `token`. Needs an `HttpClient` (`FetchHttpClient.layer`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { FetchHttpClient } from "effect/http"
 * import { Admin } from "steadfast/admin"
 *
 * const pausedJobs = Effect.gen(function*() {
 *   const admin = yield* Admin.client({ baseUrl: "http://127.0.0.1:9464", token: "change-me" })
 *   const page = yield* admin.jobs.list({ query: { paused: true } })
 *   return page.jobs.map((job) => job.id)
 * }).pipe(Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.3.0
 */
export const client = (
  options: { readonly baseUrl: string | URL; readonly token: string | Redacted.Redacted<string> }
): Effect.Effect<Client, never, HttpClient.HttpClient> =>
  HttpApiClient.make(AdminApi, { baseUrl: options.baseUrl }).pipe(
    Effect.provide(HttpApiMiddleware.layerClient(
      Auth.Authorization,
      ({ next, request }) => next(HttpClientRequest.bearerToken(request, options.token))
    ))
  )

/**
 * The scheduler's events as a Server-Sent Events response (one JSON object
 * per message, a `Ping` every 15 s): what `/events` answers, for routes
 * mounted beside the API (through `Options.routes`, where `Auth.Tokens` is
 * given). It asks for a bearer token of any role itself, as `/events` does
 * (401 without one): the events carry errors, which may name hosts.
 *
 * @example
 * ```ts
 * import { HttpRouter } from "effect/http"
 * import { Admin } from "steadfast/admin"
 *
 * export const LiveEvents = HttpRouter.add("GET", "/live", Admin.eventsResponse)
 * ```
 *
 * @since 0.3.0
 */
export const eventsResponse: Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  Scheduler | Auth.Tokens | HttpServerRequest.HttpServerRequest
> = Effect.gen(
  function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const tokens = yield* Auth.Tokens
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers["authorization"] ?? "")?.[1]
    if (bearer === undefined || Option.isNone(tokens.authenticate(bearer))) {
      return HttpServerResponse.jsonUnsafe(
        { _tag: "Unauthorized", message: "a valid bearer token is required (Authorization: Bearer <token>)" },
        { status: 401 }
      )
    }
    const scheduler = yield* Scheduler
    return HttpServerResponse.stream(
      System.eventMessages(scheduler.events).pipe(
        Stream.map((message) => `data: ${JSON.stringify(message)}\n\n`),
        Stream.encodeText
      ),
      { contentType: "text/event-stream", headers: { "cache-control": "no-cache" } }
    )
  }
)
