/**
 * The `PgClient` configuration that suits the store (keepalive, connect
 * timeout, application name, no prepared statements behind a transaction
 * pooler). Exported as `PgJobStore.clientConfig` and `PgJobStore.layerClient`.
 *
 * @internal
 */
import { PgClient } from "@effect/sql-pg"

/**
 * Options of `clientConfig`: a `PgClient` pool configuration, plus whether a
 * transaction pooler sits in between.
 *
 * @since 0.1.0
 */
export interface ClientOptions extends PgClient.PgPoolConfig {
  /** `"transaction"` behind PgBouncer in transaction mode (or the like): no prepared statements. */
  readonly pooler?: "transaction" | undefined
}

/**
 * A `PgClient` configuration that suits the store: TCP keepalive after 10
 * idle seconds (a dead link under an idle connection, such as the listening
 * one, is noticed in about 20 seconds instead of two hours), a 3-second
 * connect timeout (a connection attempt begun while the network was silent
 * holds up the pool until it times out), `application_name` `steadfast`, and,
 * with `pooler: "transaction"`, no prepared statements. What you set wins,
 * except `prepare` behind a pooler.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { PgClient } from "@effect/sql-pg"
 * import { PgJobStore } from "steadfast"
 *
 * const url = Redacted.make("postgres://app@pgbouncer:6432/app")
 * export const StoreLive = PgJobStore.layer({ pooler: "transaction" }).pipe(
 *   Layer.provide(PgClient.layer(PgJobStore.clientConfig({ url, pooler: "transaction" })))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const clientConfig = (options: ClientOptions): PgClient.PgPoolConfig => {
  const { pooler, ...config } = options
  return {
    keepAlive: "10 seconds",
    connectTimeout: "3 seconds",
    applicationName: "steadfast",
    ...config,
    ...(pooler === "transaction" ? { prepare: false } : {})
  }
}

/**
 * `PgClient.layer(PgJobStore.clientConfig(options))`.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { PgJobStore } from "steadfast"
 *
 * export const StoreLive = PgJobStore.layer().pipe(
 *   Layer.provide(PgJobStore.layerClient({ url: Redacted.make("postgres://localhost/app") }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layerClient = (options: ClientOptions) => PgClient.layer(clientConfig(options))
