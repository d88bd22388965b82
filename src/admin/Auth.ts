/**
 * Who may call the admin API: bearer tokens with one of two roles.
 *
 * A deployment configures a list of tokens (`Token`), each with a name (for
 * audit and rotation: add the new token, deploy, remove the old one), a role
 * and a secret kept `Redacted`, so that no log line, error or inspection
 * ever prints it. A `viewer` may read; an `operator` may read and act.
 *
 * Checking a secret is constant-time: both sides are hashed to fixed-length
 * SHA-256 digests and compared with `timingSafeEqual`, against every token
 * (no early exit), so neither a secret's length nor which token matched
 * shows in the time an answer takes.
 *
 * Every endpoint of the API says what it needs with the `Access`
 * annotation (`public`, `viewer` or `operator`; operator when unsaid); the
 * `Authorization` middleware answers 401 (`Unauthorized`) without a known
 * token and 403 (`Forbidden`) to a viewer on an operator route.
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as HttpApiSecurity from "effect/http-api/HttpApiSecurity"
import { createHash, timingSafeEqual } from "node:crypto"

/**
 * What a token may do: `viewer` reads, `operator` reads and acts.
 *
 * @since 0.3.0
 */
export const Role = Schema.Literals(["viewer", "operator"])
export type Role = typeof Role.Type

/**
 * One configured bearer token. `name` identifies it (never the secret) in
 * logs and audit; several tokens may share a role, which is how tokens are
 * rotated.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Auth } from "steadfast/admin"
 *
 * const tokens: ReadonlyArray<Auth.Token> = [
 *   { name: "ops-2026-12", role: "operator", secret: Redacted.make("s3cret-operator") },
 *   { name: "grafana", role: "viewer", secret: Redacted.make("s3cret-viewer") }
 * ]
 * ```
 *
 * @since 0.3.0
 */
export interface Token {
  readonly name: string
  readonly role: Role
  readonly secret: Redacted.Redacted<string>
}

/**
 * The caller a request was authenticated as.
 *
 * @since 0.3.0
 */
export interface Principal {
  readonly name: string
  readonly role: Role
}

/**
 * What an endpoint needs: `public` (no token, when the server allows it:
 * `/healthz` and `/readyz`), `viewer` (reads) or `operator` (actions).
 *
 * @since 0.3.0
 */
export type AccessLevel = "public" | Role

/**
 * The annotation that gives an endpoint its access level. An endpoint that
 * does not say needs an operator: forgetting it fails safe.
 *
 * @example
 * ```ts
 * import { HttpApiEndpoint } from "effect/http-api"
 * import { Auth } from "steadfast/admin"
 *
 * const status = HttpApiEndpoint.get("status", "/status").annotate(Auth.Access, "viewer")
 * ```
 *
 * @since 0.3.0
 */
export const Access = Context.Reference<AccessLevel>("steadfast/admin/Access", { defaultValue: () => "operator" })

/**
 * No token, or a token no configured token matches (401).
 *
 * @example
 * ```ts
 * import { Auth } from "steadfast/admin"
 *
 * const error = new Auth.Unauthorized({ message: "a valid bearer token is required" })
 * error._tag // "Unauthorized"
 * ```
 *
 * @since 0.3.0
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}, { httpApiStatus: 401 }) {}

/**
 * A valid token whose role may not do this (403): a viewer on an operator route.
 *
 * @example
 * ```ts
 * import { Auth } from "steadfast/admin"
 *
 * const error = new Auth.Forbidden({ message: "token grafana (viewer) may not do this", role: "viewer", requires: "operator" })
 * ```
 *
 * @since 0.3.0
 */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  message: Schema.String,
  role: Role,
  requires: Role
}, { httpApiStatus: 403 }) {}

/**
 * The authenticated caller, provided to every handler behind `Authorization`
 * (absent on public routes called without a token).
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Auth } from "steadfast/admin"
 *
 * const who = Effect.gen(function*() {
 *   const principal = yield* Auth.CurrentPrincipal
 *   return Option.map(principal, (p) => p.name)
 * })
 * ```
 *
 * @since 0.3.0
 */
export class CurrentPrincipal extends Context.Service<CurrentPrincipal, Option.Option<Principal>>()(
  "steadfast/admin/CurrentPrincipal"
) {}

/**
 * The bearer-token middleware of the admin API (the definition; `layer`
 * implements it on the server, the client adds the header).
 *
 * @since 0.3.0
 */
export class Authorization extends HttpApiMiddleware.Service<Authorization, {
  provides: CurrentPrincipal
}>()("steadfast/admin/Authorization", {
  requiredForClient: true,
  security: { bearer: HttpApiSecurity.bearer },
  error: [Unauthorized, Forbidden]
}) {}

const digest = (secret: string): Buffer => createHash("sha256").update(secret, "utf8").digest()

/**
 * Checks secrets against a fixed list of tokens.
 *
 * @since 0.3.0
 */
export interface Authenticator {
  /** The role of the token whose secret this is, if any (constant-time). */
  readonly authenticate: (secret: string | Redacted.Redacted<string>) => Option.Option<Role>
  /** The token (name and role) whose secret this is, if any (constant-time). */
  readonly identify: (secret: string | Redacted.Redacted<string>) => Option.Option<Principal>
}

/**
 * The `Authenticator` of an admin server, for routes mounted beside the API
 * (the dashboard): the same tokens, the same check.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Auth } from "steadfast/admin"
 *
 * const isOperator = (secret: string) =>
 *   Effect.gen(function*() {
 *     const auth = yield* Auth.Tokens
 *     return Option.getOrUndefined(auth.authenticate(secret)) === "operator"
 *   })
 * ```
 *
 * @since 0.3.0
 */
export class Tokens extends Context.Service<Tokens, Authenticator>()("steadfast/admin/Tokens") {}

/**
 * An `Authenticator` over `tokens`. The empty secret matches nothing, and a
 * token whose secret is empty is refused here (it would let anyone in).
 *
 * @example
 * ```ts
 * import { Option, Redacted } from "effect"
 * import { Auth } from "steadfast/admin"
 *
 * const auth = Auth.make([{ name: "ops", role: "operator", secret: Redacted.make("s3cret") }])
 * auth.authenticate("s3cret") // Option.some("operator")
 * Option.isNone(auth.authenticate("guess")) // true
 * ```
 *
 * @since 0.3.0
 */
export const make = (tokens: ReadonlyArray<Token>): Authenticator => {
  const known = tokens
    .filter((token) => Redacted.value(token.secret).length > 0)
    .map((token) => ({ principal: { name: token.name, role: token.role }, digest: digest(Redacted.value(token.secret)) }))
  const identify = (secret: string | Redacted.Redacted<string>): Option.Option<Principal> => {
    const value = typeof secret === "string" ? secret : Redacted.value(secret)
    if (value.length === 0) return Option.none()
    const candidate = digest(value)
    let found: Principal | undefined
    // Every token is compared, whatever matched first: the time taken says
    // nothing about which token (or how many) the secret resembles.
    for (const token of known) {
      if (timingSafeEqual(candidate, token.digest) && found === undefined) found = token.principal
    }
    return Option.fromUndefinedOr(found)
  }
  return { identify, authenticate: (secret) => Option.map(identify(secret), (principal) => principal.role) }
}

/**
 * How the middleware treats public endpoints.
 *
 * @since 0.3.0
 */
export interface Options {
  readonly tokens: ReadonlyArray<Token>
  /**
   * Whether `public` endpoints (`/healthz`, `/readyz`) answer without a
   * token. Default true: probes of orchestrators carry none. When false they
   * need a viewer token like any read.
   */
  readonly publicProbes?: boolean | undefined
}

const satisfies = (role: Role, needed: Role) => needed === "viewer" || role === "operator"

/**
 * The server side of `Authorization`, plus the `Tokens` service for routes
 * mounted beside the API.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Auth } from "steadfast/admin"
 *
 * export const AuthLive = Auth.layer({
 *   tokens: [{ name: "ops", role: "operator", secret: Redacted.make(process.env.ADMIN_TOKEN ?? "") }]
 * })
 * ```
 *
 * @since 0.3.0
 */
export const layer = (options: Options): Layer.Layer<Authorization | Tokens> => {
  const authenticator = make(options.tokens)
  const publicProbes = options.publicProbes ?? true
  const middleware = Authorization.of({
    bearer: (httpEffect, { credential, endpoint }) =>
      Effect.gen(function*() {
        const access = Context.get(endpoint.annotations, Access)
        const principal = authenticator.identify(credential)
        if (access === "public" && publicProbes) {
          return yield* Effect.provideService(httpEffect, CurrentPrincipal, principal)
        }
        if (Option.isNone(principal)) {
          return yield* new Unauthorized({ message: "a valid bearer token is required (Authorization: Bearer <token>)" })
        }
        const needed: Role = access === "public" ? "viewer" : access
        if (!satisfies(principal.value.role, needed)) {
          return yield* new Forbidden({
            message: `token ${principal.value.name} (${principal.value.role}) may not do this: it needs ${needed}`,
            role: principal.value.role,
            requires: needed
          })
        }
        return yield* Effect.provideService(httpEffect, CurrentPrincipal, principal)
      })
  })
  return Layer.mergeAll(Layer.succeed(Authorization, middleware), Layer.succeed(Tokens, authenticator))
}
