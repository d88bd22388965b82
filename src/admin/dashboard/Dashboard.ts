/**
 * The web dashboard: server-rendered HTML pages over the `Scheduler` service
 * (jobs, a job, runs, cluster), live through Server-Sent Events of the
 * scheduler's events, with htmx and uPlot served from their npm packages (no
 * CDN, no build step).
 *
 * `layer` adds its routes, under `path`, to the `HttpRouter` it is built in:
 * the admin server mounts it at `<prefix>/ui`, and an application can mount
 * it in its own router. It needs the `Scheduler` and the admin tokens
 * (`Auth.Tokens`, from `Auth.layer`).
 *
 * Security: a login takes a token and opens a session held in an HttpOnly,
 * SameSite=Strict cookie (a random id, never the token); a viewer sees, an
 * operator acts; every POST must come from this origin and carry the
 * session's CSRF token; pages forbid framing and foreign scripts.
 *
 * @since 0.4.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type { Event } from "../../Event.ts"
import { Scheduler } from "../../Scheduler.ts"
import * as Auth from "../Auth.ts"
import * as Actions from "./Actions.ts"
import * as Assets from "./Assets.ts"
import * as Guard from "./Guard.ts"
import * as Pages from "./Pages.ts"
import * as Session from "./Session.ts"

/**
 * Where and how the dashboard is served.
 *
 * @since 0.4.0
 */
export interface Options {
  /** The path the dashboard lives under, e.g. `/admin/ui`. Default `/ui`. */
  readonly path?: string | undefined
  /** How long a login lasts. Default 12 hours. */
  readonly sessionTtl?: Duration.Input | undefined
  /**
   * Origins besides the request's own host allowed to POST (behind a proxy
   * that rewrites `Host`), e.g. `https://ops.example.com`. Default none.
   */
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
  /** Jobs per page, and runs per page. Default 50. */
  readonly pageSize?: number | undefined
}

const kindOf = (event: Event): "run" | "job" | "loop" | "store" => {
  switch (event._tag) {
    case "JobSetAside":
    case "JobsRegistered":
      return "job"
    case "LoopFailed":
    case "LoopRestarted":
    case "LoopStalled":
      return "loop"
    case "StoreUnavailable":
    case "StoreRecovered":
      return "store"
    default:
      return "run"
  }
}

// The path without its trailing slashes, starting with one.
const basePath = (path: string): `/${string}` => {
  const trimmed = path.replace(/\/+$/, "")
  return trimmed.startsWith("/") ? `/${trimmed.slice(1)}` : `/${trimmed}`
}

// The scheduler's events as Server-Sent Events named by kind (`run`, `job`,
// `loop`, `store`), which the page's script turns into DOM events.
// `alive`: whether the session that opened the stream still is; checked at
// every message and keep-alive, so a logout or an expired session ends the
// stream within 15 s.
const eventStream = (events: Stream.Stream<Event>, alive: () => boolean) => {
  const encoder = new TextEncoder()
  return Stream.make(`retry: 2000\n: connected\n\n`).pipe(
    Stream.concat(Stream.merge(
      Stream.map(events, (event) => `event: ${kindOf(event)}\ndata: ${JSON.stringify(event)}\n\n`),
      // A comment every 15 s keeps proxies from closing an idle stream.
      Stream.map(Stream.tick("15 seconds"), () => `: keep-alive\n\n`)
    )),
    Stream.takeWhile(() => alive()),
    Stream.map((text) => encoder.encode(text))
  )
}

const assetRoute = (path: `/${string}`) => {
  const assets = Assets.load()
  return HttpRouter.route("GET", `${path}/assets/:name`, (request) => {
    const name = request.url.slice(request.url.lastIndexOf("/") + 1).split("?")[0] ?? ""
    const asset = assets.get(name)
    return Effect.succeed(
      asset === undefined
        ? Guard.refuse(404, "no such file")
        : HttpServerResponse.text(asset.body, {
          contentType: asset.contentType,
          headers: { "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" }
        })
    )
  })
}

const make = (options: Options) =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    const tokens = yield* Auth.Tokens
    const router = yield* HttpRouter.HttpRouter
    // Routes are added at `path` in the router given; links and cookies need
    // the full path, which a prefixed router (the admin server's) extends.
    const path = basePath(options.path ?? "/ui")
    const baseOf = (request: HttpServerRequest.HttpServerRequest) => `${Guard.mountPrefix(request)}${path}`
    const ttlMs = Duration.toMillis(Duration.fromInputUnsafe(options.sessionTtl ?? "12 hours"))
    const allowedOrigins = options.allowedOrigins ?? []
    const sessions = Session.makeSessions({ ttlMs })
    const guards = Guard.make(sessions, allowedOrigins)
    const ctx: Pages.Context = { path, baseOf, scheduler, sessions, guards, pageSize: options.pageSize ?? 50 }
    yield* router.addAll([
      HttpRouter.route("GET", path, (request) => Effect.succeed(Guard.seeOther(`${baseOf(request)}/jobs`))),
      assetRoute(path),
      ...Actions.loginRoutes({ path, baseOf, tokens, sessions, guards, ttlMs, allowedOrigins }),
      ...Pages.jobRoutes(ctx),
      ...Pages.runRoutes(ctx),
      ...Pages.clusterRoutes(ctx),
      HttpRouter.route("GET", `${path}/events`, (request) =>
        Effect.sync(() => {
          const session = guards.session(request)
          if (session === undefined) return Guard.refuse(401, "not logged in")
          return HttpServerResponse.stream(eventStream(scheduler.events, () => sessions.get(session.id) !== undefined), {
            contentType: "text/event-stream",
            headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
          })
        })),
      ...Actions.routes({ path, baseOf, scheduler, sessions, guards })
    ])
  })

/**
 * The dashboard's routes as a layer over an `HttpRouter`, at `path` in it.
 * Mounted by the admin server through its `routes` option, it lives at
 * `<prefix>/ui` beside the API and shares its tokens; in an application's own
 * router, provide `Auth.layer` yourself. Links and cookies follow the prefix
 * of whatever router it is mounted in.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { Admin, Auth, Dashboard } from "steadfast/admin"
 *
 * const tokens: ReadonlyArray<Auth.Token> = [
 *   { name: "ops", role: "operator", secret: Redacted.make(process.env.STEADFAST_OPERATOR_TOKEN ?? "") },
 *   { name: "wall", role: "viewer", secret: Redacted.make(process.env.STEADFAST_VIEWER_TOKEN ?? "") }
 * ]
 *
 * // The API under /admin, the dashboard under /admin/ui.
 * export const AdminRoutes = Admin.layer({ prefix: "/admin", tokens, routes: Dashboard.layer() })
 *
 * // Or the dashboard alone, at /ops, in an application's own router.
 * export const OpsRoutes = Dashboard.layer({ path: "/ops" }).pipe(Layer.provide(Auth.layer({ tokens })))
 * ```
 *
 * @since 0.4.0
 */
export const layer = (options: Options = {}): Layer.Layer<never, never, HttpRouter.HttpRouter | Scheduler | Auth.Tokens> =>
  Layer.effectDiscard(make(options))
