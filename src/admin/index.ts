/**
 * `steadfast/admin`: operate a scheduler over HTTP. The admin API
 * (`AdminApi`, an `effect/http-api` definition with its OpenAPI document),
 * its server as a Layer for your own router or standalone (`Admin`), its
 * typed client, and bearer-token authentication with two roles (`Auth`).
 *
 * An entry point of its own so that importing `steadfast` never loads the
 * HTTP stack.
 *
 * @since 0.3.0
 */

/** The server, standalone or mounted, and the typed client. @since 0.3.0 */
export * as Admin from "./Admin.ts"
/** The API definition. @since 0.3.0 */
export * as AdminApi from "./AdminApi.ts"
/** The wire shapes and the API's own errors. @since 0.3.0 */
export * as AdminSchema from "./AdminSchema.ts"
/** Bearer tokens and roles. @since 0.3.0 */
export * as Auth from "./Auth.ts"
/** The web dashboard's routes (mount with `Admin.layer({ routes })`). @since 0.4.0 */
export * as Dashboard from "./dashboard/Dashboard.ts"
