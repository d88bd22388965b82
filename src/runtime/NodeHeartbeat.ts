/**
 * The node heartbeat: every `intervalMs`, this node writes what it is and
 * how it fares into the store's nodes table (`JobStore.heartbeat`): host,
 * pid, package version, tasks, start, runs in progress, its health (every
 * loop's state) and its store status. `JobStore.nodes` lists the nodes heard
 * from lately: the cluster as operators see it. At a clean shutdown the node
 * leaves (`leave`, bounded); a node that dies stops beating and drops out of
 * the list once its last beat is older than the caller's staleness bound.
 *
 * @since 0.4.0
 */
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import type { Executor } from "../Executor.ts"
import type { JobStore, NodeInfo, NodeInstance } from "../JobStore.ts"
import type { StoreError } from "../StoreError.ts"
import type * as Supervisor from "../Supervisor.ts"
import type { Loop } from "./Loop.ts"

/**
 * What the node heartbeat needs.
 *
 * @since 0.4.0
 */
export interface Options {
  readonly node: string
  readonly tasks: ReadonlyArray<string>
  readonly store: JobStore["Service"]
  /**
   * How a beat that failed with a retryable error is retried (the
   * scheduler's `storeRetry`). Not through the `StoreGuard`: a beat says
   * nothing of the store's health that the other loops' calls do not, and
   * one that lands between an outage's failures must not make the store look
   * well.
   */
  readonly retry: Schedule.Schedule<unknown, StoreError>
  readonly supervisor: Supervisor.Supervisor
  readonly executor: Pick<Executor, "load">
  /** When this node's scheduler started (epoch ms). */
  readonly startedAt: number
  /** The package version to report (see `packageVersion`). */
  readonly version: string
  readonly intervalMs: number
  readonly stallAfterMs: number
}

const Package = Schema.fromJsonString(Schema.Struct({ version: Schema.String }))

/**
 * The version of the steadfast package this code belongs to, read from its
 * `package.json` (`src/runtime/` and `dist/runtime/` both sit two levels
 * below it); `"unknown"` when it cannot be read (the code was bundled).
 *
 * @since 0.4.0
 */
export const packageVersion: Effect.Effect<string> = Effect.try(() =>
  fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")
).pipe(
  Effect.flatMap(Schema.decodeUnknownEffect(Package)),
  Effect.map((pkg) => pkg.version),
  Effect.orElseSucceed(() => "unknown")
)

/**
 * A node's health as JSON (every field of `Supervisor.Health` is JSON data already).
 *
 * @since 0.4.0
 */
export const healthJson = (health: Supervisor.Health): Schema.Json => ({
  ...health,
  registration: health.registration === null ? null : { ...health.registration },
  loops: health.loops.map((loop) => ({ ...loop })),
  store: { ...health.store }
})

/**
 * This process, as its beats name it (`JobStore.NodeInstance`).
 *
 * @since 0.5.0
 */
export const instance = (startedAt: number): NodeInstance => ({ host: os.hostname(), pid: process.pid, startedAt })

/**
 * What this node says of itself now.
 *
 * @since 0.4.0
 */
export const info = (options: Omit<Options, "store" | "retry" | "intervalMs" | "stallAfterMs">): Effect.Effect<NodeInfo> =>
  Effect.gen(function*() {
    const health = yield* options.supervisor.health
    const load = yield* options.executor.load
    return {
      id: options.node,
      ...instance(options.startedAt),
      version: options.version,
      tasks: options.tasks,
      running: load.running,
      health: healthJson(health),
      store: health.store.available ? "up" : "degraded"
    }
  })

/**
 * The node heartbeat loop: beats at once, then every `intervalMs`. Watched:
 * a node that cannot beat for longer than its staleness bound drops out of
 * the list, so a beat that long overdue is restarted.
 *
 * @since 0.4.0
 */
export const make = (options: Options): Loop => {
  const { store, supervisor } = options
  const name = "node-heartbeat"
  const body = Effect.gen(function*() {
    while (true) {
      const beat = yield* info(options)
      // A beat the store does not take, even retried, is skipped: the loop
      // goes on to the next (an outage is the store guard's to report, and
      // restarting this loop through one would only add restarts to it).
      // Each attempt has the store's deadline, so the loop never hangs here.
      yield* Effect.retry(store.heartbeat(beat), options.retry).pipe(
        Effect.catchTag("StoreError", (error) => Effect.logWarning(`node heartbeat not written: ${error.message}`))
      )
      yield* supervisor.progress(name)
      yield* Effect.sleep(options.intervalMs)
    }
  })
  return { name, stallAfterMs: options.intervalMs + options.stallAfterMs, body }
}
