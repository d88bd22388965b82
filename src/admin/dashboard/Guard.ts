/**
 * What every dashboard request goes through before its handler: the session
 * from its cookie (else the login page), and for a POST the same-origin check,
 * the CSRF token and, for actions, the operator role. Also the responses
 * every page shares: HTML with security headers, redirects, refusals.
 *
 * @since 0.4.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as UrlParams from "effect/http/UrlParams"
import { type Html, toString } from "./Html.ts"
import * as Session from "./Session.ts"

/**
 * The name of the session cookie.
 *
 * @since 0.4.0
 */
export const sessionCookie = "steadfast_session"

/**
 * The name of the login form's double-submit cookie.
 *
 * @since 0.4.0
 */
export const loginCookie = "steadfast_login"

// No script but the dashboard's own files, no framing (clickjacking), no
// form posting elsewhere. Styles may be inline: uPlot and htmx set them.
const securityHeaders = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cache-control": "no-store"
}

/**
 * An HTML response with the dashboard's security headers.
 *
 * @since 0.4.0
 */
export const htmlResponse = (page: Html, status = 200): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(toString(page), { status, contentType: "text/html; charset=utf-8", headers: securityHeaders })

/**
 * A plain-text refusal (`403`, `400`, ...), also with the security headers.
 *
 * @since 0.4.0
 */
export const refuse = (status: number, message: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(message, { status, headers: securityHeaders })

/**
 * "See other": after a POST, the browser GETs `location`.
 *
 * @since 0.4.0
 */
export const seeOther = (location: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.redirect(location, { status: 303, headers: { "cache-control": "no-store" } })

/**
 * The query parameters of a request.
 *
 * @since 0.4.0
 */
export const searchParams = (request: HttpServerRequest.HttpServerRequest): URLSearchParams =>
  new URL(request.url, "http://dashboard.invalid").searchParams

/**
 * A query parameter, trimmed, or `undefined` when absent or empty.
 *
 * @since 0.4.0
 */
export const param = (params: URLSearchParams, name: string): string | undefined => {
  const value = params.get(name)?.trim()
  return value === undefined || value === "" ? undefined : value
}

/**
 * Whether the request came over TLS (directly or, as a proxy says, before it).
 *
 * @since 0.4.0
 */
export const isSecure = (request: HttpServerRequest.HttpServerRequest): boolean =>
  request.protocol === "https" || request.headers["x-forwarded-proto"] === "https"

/**
 * The dashboard's guards over one set of sessions.
 *
 * @since 0.4.0
 */
export interface Guards {
  /** The session of a request, if its cookie names a live one. */
  readonly session: (request: HttpServerRequest.HttpServerRequest) => Session.Session | undefined
  /**
   * Checks a POST: same origin, then a live session, then its CSRF token;
   * answers with the form's fields or with the refusal to send.
   */
  readonly post: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<
    { readonly session: Session.Session; readonly form: UrlParams.UrlParams } | HttpServerResponse.HttpServerResponse
  >
}

/**
 * The guards of one dashboard.
 *
 * @since 0.4.0
 */
export const make = (sessions: Session.Sessions, allowedOrigins: ReadonlyArray<string>): Guards => {
  const session = (request: HttpServerRequest.HttpServerRequest) => sessions.get(request.cookies[sessionCookie])
  return {
    session,
    post: (request) =>
      Effect.gen(function*() {
        const crossSite = Session.crossSite(request.headers, allowedOrigins)
        if (crossSite !== undefined) return refuse(403, `refused: ${crossSite}`)
        const current = session(request)
        if (current === undefined) return refuse(401, "refused: not logged in (or the session expired)")
        const form = yield* Effect.orElseSucceed(request.urlParamsBody, () => UrlParams.empty)
        const presented = Option.getOrUndefined(UrlParams.getFirst(form, "_csrf")) ?? request.headers["x-csrf-token"]
        if (presented === undefined || !Session.safeEqual(presented, current.csrf)) {
          return refuse(403, "refused: missing or wrong CSRF token")
        }
        return { session: current, form }
      })
  }
}

/**
 * A form field, trimmed, or `undefined` when absent or empty.
 *
 * @since 0.4.0
 */
export const field = (form: UrlParams.UrlParams, name: string): string | undefined => {
  const value = Option.getOrUndefined(UrlParams.getFirst(form, name))?.trim()
  return value === undefined || value === "" ? undefined : value
}

/**
 * The path the router that holds the dashboard is mounted under (`/admin`
 * when the admin server's `prefix` is), read from the request: the router
 * strips it from `url` but not from `originalUrl`. Empty at the root.
 *
 * @since 0.4.0
 */
export const mountPrefix = (request: HttpServerRequest.HttpServerRequest): string => {
  const original = URL.parse(request.originalUrl, "http://dashboard.invalid")
  if (original === null) return ""
  const full = original.pathname.replace(/\/{2,}/g, "/")
  const local = (URL.parse(request.url, "http://dashboard.invalid")?.pathname ?? "").replace(/\/{2,}/g, "/")
  return local !== "" && full.endsWith(local) ? full.slice(0, full.length - local.length).replace(/\/+$/, "") : ""
}
