/**
 * The start of a PostgreSQL store: its layer builds without a round trip,
 * the migrations run on the first operation, and every failure says which
 * database was asked.
 *
 * Building the store does not wait for the database, so a scheduler built on
 * it exists at once even while the database is down; its first call (the
 * registrar's) fails with a retryable `StoreError`, which the scheduler
 * reports (event, one log line, health) and retries. Migrations run once per
 * store: calls that arrive while they run wait for them (in this process)
 * or for the advisory lock (across processes); a failed attempt is tried
 * again by the next call.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import type { PgClient } from "@effect/sql-pg"
import type { JobStore } from "../../JobStore.ts"
import { StoreError } from "../../StoreError.ts"

/**
 * Where a client connects, for messages: `PostgreSQL at host:port/database`,
 * never credentials. Explicit options win over the URL, as in `@effect/sql-pg`.
 *
 * @internal
 */
export const target = (config: PgClient.PgClientConfig): string => {
  if (config.stream !== undefined) return "PostgreSQL over a custom stream"
  const text = config.url === undefined ? undefined : Redacted.value(config.url)
  const url = text !== undefined && URL.canParse(text) ? new URL(text) : undefined
  const fromUrl = (name: string) => url?.searchParams.get(name) ?? undefined
  const decode = (part: string | undefined) => part === undefined || part === "" ? undefined : decodeURIComponent(part)
  const host = config.path ?? config.host ?? fromUrl("host") ?? decode(url?.hostname) ?? "localhost"
  const port = config.port ?? fromUrl("port") ?? decode(url?.port) ?? 5432
  const database = config.database ?? decode(url?.pathname.replace(/^\//, ""))
  const address = host.startsWith("/") ? `${host} port ${port}` : `${host}:${port}`
  return `PostgreSQL at ${address}${database === undefined ? "" : `/${database}`}`
}

const withTarget = (error: StoreError, where: string): StoreError =>
  error.target !== undefined ? error : new StoreError({
    operation: error.operation,
    reason: error.reason,
    retryable: error.retryable,
    cause: error.cause,
    target: where
  })

/**
 * The store with migrations run before its first operation and `target` on
 * every `StoreError` it fails with.
 *
 * @internal
 */
export const lazy = (
  store: JobStore["Service"],
  options: { readonly migrate: Effect.Effect<void, StoreError>; readonly target: string }
): Effect.Effect<JobStore["Service"]> =>
  Effect.gen(function*() {
    const lock = yield* Semaphore.make(1)
    let migrated = false
    const migrateOnce: Effect.Effect<void, StoreError> = lock.withPermit(Effect.suspend(() =>
      migrated ? Effect.void : Effect.tap(options.migrate, () =>
        Effect.sync(() => {
          migrated = true
        }))
    ))
    const mark = <E>(error: E | StoreError): E | StoreError =>
      error instanceof StoreError ? withTarget(error, options.target) : error
    // Once migrated, an operation costs one flag check more.
    const ready = <A, E>(effect: Effect.Effect<A, E | StoreError>): Effect.Effect<A, E | StoreError> =>
      Effect.mapError(
        Effect.suspend((): Effect.Effect<A, E | StoreError> => migrated ? effect : Effect.andThen(migrateOnce, effect)),
        mark
      )
    // Members added later (and optional ones) pass through as they are.
    return {
      ...store,
      now: ready(store.now),
      register: (jobs, registerOptions) => ready(store.register(jobs, registerOptions)),
      add: (job) => ready(store.add(job)),
      // An empty batch asks nothing of the database, not even the migrations.
      addMany: (jobs) => jobs.length === 0 ? Effect.succeed(0) : ready(store.addMany(jobs)),
      update: (job) => ready(store.update(job)),
      setPaused: (id, paused) => ready(store.setPaused(id, paused)),
      remove: (id) => ready(store.remove(id)),
      get: (id) => ready(store.get(id)),
      list: ready(store.list),
      triggerNow: (id, payload) => ready(store.triggerNow(id, payload)),
      claim: (request) => ready(store.claim(request)),
      nextWake: (tasks, aheadMs, share) => ready(store.nextWake(tasks, aheadMs, share)),
      finish: (outcomes) => ready(store.finish(outcomes)),
      renew: (node, leases, leaseMs) => ready(store.renew(node, leases, leaseMs)),
      adopt: (node, tokens, leaseMs) => ready(store.adopt(node, tokens, leaseMs)),
      release: (node, leases) => ready(store.release(node, leases)),
      reap: ready(store.reap),
      history: (query) => ready(store.history(query)),
      prune: (retention) => ready(store.prune(retention)),
      historyPage: (query) => ready(store.historyPage(query)),
      listJobs: (query) => ready(store.listJobs(query)),
      getRun: (id) => ready(store.getRun(id)),
      cancel: (id) => ready(store.cancel(id)),
      stateCounts: (jobId, sinceMs) => ready(store.stateCounts(jobId, sinceMs)),
      heartbeat: (info) => ready(store.heartbeat(info)),
      nodes: (staleAfterMs) => ready(store.nodes(staleAfterMs)),
      leave: (node, instance) => ready(store.leave(node, instance)),
      // LISTEN needs no tables: it does not wait for the migrations.
      changes: Stream.mapError(store.changes, mark),
      cancelRequests: store.cancelRequests === undefined ? undefined : Stream.mapError(store.cancelRequests, mark)
    }
  })
