/**
 * The dashboard's POST routes: login and logout, and the operator's actions
 * (pause, resume, trigger with an optional payload, remove, cancel a run).
 * Every one checks the origin and the CSRF token first (`Guard`); an action
 * also needs the operator role. An action answers with a redirect back to the
 * page it came from, which shows what happened (or the typed error's
 * message): the POST/redirect/GET pattern, so reloading never repeats it.
 *
 * @since 0.4.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as UrlParams from "effect/http/UrlParams"
import type { JobNotFound, RunNotCancellable, RunNotFound } from "../../JobStore.ts"
import type { Scheduler, UnknownTask } from "../../Scheduler.ts"
import type { StoreError } from "../../StoreError.ts"
import type { InvalidPayload } from "../../Task.ts"
import type * as Auth from "../Auth.ts"
import { changeLate, WriteDeadline } from "../internal/deadlines.ts"
import * as Guard from "./Guard.ts"
import { loginPage } from "./Layout.ts"
import * as Session from "./Session.ts"

const decodePayload = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Json))

const loginForm = (base: string, secure: boolean, error?: string) => {
  const csrf = Session.randomToken()
  return HttpServerResponse.setCookieUnsafe(
    Guard.htmlResponse(loginPage(base, csrf, error), error === undefined ? 200 : 401),
    Guard.loginCookie,
    csrf,
    { httpOnly: true, sameSite: "strict", path: base, secure, maxAge: "10 minutes" }
  )
}

/**
 * `GET` and `POST <base>/login`, `POST <base>/logout`.
 *
 * @since 0.4.0
 */
export const loginRoutes = (options: {
  readonly path: `/${string}`
  readonly baseOf: (request: HttpServerRequest.HttpServerRequest) => string
  readonly tokens: Auth.Authenticator
  readonly sessions: Session.Sessions
  readonly guards: Guard.Guards
  readonly ttlMs: number
  readonly allowedOrigins: ReadonlyArray<string>
}): ReadonlyArray<HttpRouter.Route> => {
  const { baseOf, path, sessions } = options
  return [
    HttpRouter.route("GET", `${path}/login`, (request) =>
      Effect.succeed(
        sessions.get(request.cookies[Guard.sessionCookie]) !== undefined
          ? Guard.seeOther(`${baseOf(request)}/jobs`)
          : loginForm(baseOf(request), Guard.isSecure(request))
      )),
    HttpRouter.route("POST", `${path}/login`, (request) =>
      Effect.gen(function*() {
        const base = baseOf(request)
        const crossSite = Session.crossSite(request.headers, options.allowedOrigins)
        if (crossSite !== undefined) return Guard.refuse(403, `refused: ${crossSite}`)
        const form = yield* Effect.orElseSucceed(request.urlParamsBody, () => UrlParams.empty)
        const presented = Guard.field(form, "_csrf")
        const expected = request.cookies[Guard.loginCookie]
        const secure = Guard.isSecure(request)
        if (presented === undefined || expected === undefined || !Session.safeEqual(presented, expected)) {
          return loginForm(base, secure, "The login form expired: please try again.")
        }
        // The token is checked and dropped: never logged, never stored.
        const principal = options.tokens.identify(Guard.field(form, "token") ?? "")
        if (Option.isNone(principal)) {
          yield* Effect.logWarning("steadfast dashboard: a login with an unknown token was refused")
          return loginForm(base, secure, "Unknown token.")
        }
        const session = sessions.open(principal.value)
        yield* Effect.logInfo(`steadfast dashboard: token ${principal.value.name} (${principal.value.role}) logged in`)
        return Guard.seeOther(`${base}/jobs`).pipe(
          HttpServerResponse.setCookieUnsafe(Guard.sessionCookie, session.id, {
            httpOnly: true,
            sameSite: "strict",
            path: base,
            secure,
            maxAge: `${options.ttlMs} millis`
          }),
          HttpServerResponse.expireCookieUnsafe(Guard.loginCookie, { path: base })
        )
      })),
    HttpRouter.route("POST", `${path}/logout`, (request) =>
      Effect.gen(function*() {
        const base = baseOf(request)
        const checked = yield* options.guards.post(request)
        if (HttpServerResponse.isHttpServerResponse(checked)) return checked
        sessions.close(checked.session.id)
        return Guard.seeOther(`${base}/login`).pipe(
          HttpServerResponse.expireCookieUnsafe(Guard.sessionCookie, { path: base })
        )
      }))
  ]
}

type Service = Scheduler["Service"]

// What each action does; its message goes to the page it redirects to.
type ActionError =
  | JobNotFound
  | RunNotFound
  | RunNotCancellable
  | InvalidPayload
  | UnknownTask
  | StoreError
  | PayloadNotJson
  | UnknownAction

const perform = (scheduler: Service, name: string, form: UrlParams.UrlParams): Effect.Effect<string, ActionError> => {
  const id = Guard.field(form, "id") ?? ""
  switch (name) {
    case "pause":
      return Effect.as(scheduler.pause(id), `Paused ${id}.`)
    case "resume":
      return Effect.as(scheduler.resume(id), `Resumed ${id}.`)
    case "trigger": {
      const text = Guard.field(form, "payload")
      return Effect.map(
        text === undefined
          ? scheduler.trigger(id)
          : Effect.flatMap(
            Effect.mapError(decodePayload(text), () => new PayloadNotJson()),
            (payload) => scheduler.trigger(id, payload)
          ),
        (run) => `Triggered ${id}: run ${run.id}.`
      )
    }
    case "remove":
      return Guard.field(form, "confirm") !== "yes"
        ? Effect.succeed("Not removed: tick the box to confirm.")
        : Effect.map(scheduler.remove(id), (removed) => removed ? `Removed ${id}.` : `No job ${id} to remove.`)
    case "cancel": {
      const run = Guard.field(form, "run") ?? ""
      return Effect.map(scheduler.cancel(run), (record) =>
        record.state === "cancelled"
          ? `Cancelled run ${record.id} of ${record.jobId}.`
          : `Cancelling run ${record.id} of ${record.jobId}: its node interrupts it.`)
    }
    default:
      return Effect.fail(new UnknownAction({ name }))
  }
}

/**
 * An action, told as the page's flash: what it did, or why it did not. It
 * answers within `writeMs` (the API's deadline for a change, see
 * `deadlines.ts`) whatever the store does, saying then that the change may
 * have been made.
 *
 * @internal
 */
export const act = (scheduler: Service, name: string, form: UrlParams.UrlParams, writeMs: number): Effect.Effect<Session.Flash> =>
  perform(scheduler, name, form).pipe(
    Effect.map((message): Session.Flash => ({ message, error: false })),
    Effect.catch((error) => Effect.succeed<Session.Flash>({ message: error.message, error: true })),
    Effect.timeoutOrElse({
      duration: writeMs,
      orElse: () => Effect.succeed<Session.Flash>({ message: `${name}: ${changeLate(writeMs)}`, error: true })
    })
  )

/**
 * A trigger's payload that is not JSON.
 *
 * @since 0.4.0
 */
export class PayloadNotJson extends Schema.TaggedError<PayloadNotJson>()("PayloadNotJson", {}) {
  override get message(): string {
    return "the payload is not JSON"
  }
}

/**
 * A POST to an action the dashboard does not have.
 *
 * @since 0.4.0
 */
export class UnknownAction extends Schema.TaggedError<UnknownAction>()("UnknownAction", { name: Schema.String }) {
  override get message(): string {
    return `no action ${this.name}`
  }
}

/**
 * `POST <base>/actions/:name`: operators only.
 *
 * @since 0.4.0
 */
export const routes = (options: {
  readonly path: `/${string}`
  readonly baseOf: (request: HttpServerRequest.HttpServerRequest) => string
  readonly scheduler: Service
  readonly sessions: Session.Sessions
  readonly guards: Guard.Guards
}): ReadonlyArray<HttpRouter.Route> => {
  const { baseOf, guards, path, scheduler, sessions } = options
  return [
    HttpRouter.route("POST", `${path}/actions/:name`, (request) =>
      Effect.gen(function*() {
        const base = baseOf(request)
        const checked = yield* guards.post(request)
        if (HttpServerResponse.isHttpServerResponse(checked)) return checked
        const { form, session } = checked
        if (session.principal.role !== "operator") {
          return Guard.refuse(403, `refused: token ${session.principal.name} is a viewer; acting needs an operator`)
        }
        const name = request.url.split("?")[0]?.split("/").pop() ?? ""
        const back = Guard.field(form, "back")
        const location = back !== undefined && back.startsWith(`${base}/`) && !back.startsWith(`${base}//`)
          ? back
          : `${base}/jobs`
        const flash = yield* act(scheduler, name, form, yield* WriteDeadline)
        yield* Effect.logInfo(
          `steadfast dashboard: ${session.principal.name} ${name}: ${flash.error ? "failed: " : ""}${flash.message}`
        )
        sessions.flash(session.id, flash)
        return Guard.seeOther(location)
      }))
  ]
}
