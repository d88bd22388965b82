/**
 * What the store keeps of the cluster and what operators may do to runs:
 * the nodes (`NodeInfo`, `NodeRecord`), a renewal's answer (`Renewed`), and
 * the errors of `cancel`. Re-exported by `JobStore`.
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/**
 * What a node says of itself at every node heartbeat (see `JobStore.heartbeat`).
 *
 * @since 0.4.0
 */
export interface NodeInfo {
  readonly id: string
  readonly host: string
  readonly pid: number
  /** The version of the steadfast package the node runs. */
  readonly version: string
  /** The tasks it can run (it claims only jobs of these). */
  readonly tasks: ReadonlyArray<string>
  /** When its scheduler started (epoch ms, the node's clock). */
  readonly startedAt: number
  /** Runs in progress (handlers running). */
  readonly running: number
  /** Its `Supervisor.Health` as JSON. */
  readonly health: Schema.Json
  /** `degraded` while its store calls fail. */
  readonly store: "up" | "degraded"
}

/**
 * A live node as the store has it: what it last said, and when (the store's
 * clock).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { JobStore } from "steadfast"
 *
 * const describe = (node: JobStore.NodeRecord) =>
 *   `${node.id} on ${node.host} (pid ${node.pid}): ${node.running} running, seen ${node.heartbeatAt}`
 * const live = Effect.gen(function*() {
 *   const store = yield* JobStore.JobStore
 *   return (yield* store.nodes(30_000)).map(describe)
 * })
 * ```
 *
 * @since 0.4.0
 */
export interface NodeRecord extends NodeInfo {
  readonly heartbeatAt: number
}

/**
 * What a renewal found: the runs this node no longer holds (`lost`), and
 * those of the runs it holds that an operator asked to cancel (`cancel`).
 *
 * @since 0.4.0
 */
export interface Renewed {
  readonly lost: ReadonlyArray<string>
  readonly cancel: ReadonlyArray<string>
}

/**
 * No run with this id.
 *
 * @example
 * ```ts
 * import { JobStore } from "steadfast"
 *
 * new JobStore.RunNotFound({ id: "42" }).message // no run with id 42
 * ```
 *
 * @since 0.4.0
 */
export class RunNotFound extends Schema.TaggedError<RunNotFound>()("RunNotFound", { id: Schema.String }) {
  override get message(): string {
    return `no run with id ${this.id}`
  }
}

/**
 * The run has ended already (`state` is how): there is nothing to cancel.
 *
 * @example
 * ```ts
 * import { JobStore } from "steadfast"
 *
 * new JobStore.RunNotCancellable({ id: "42", state: "succeeded" }).message // run 42 cannot be cancelled: it is succeeded
 * ```
 *
 * @since 0.4.0
 */
export class RunNotCancellable extends Schema.TaggedError<RunNotCancellable>()("RunNotCancellable", {
  id: Schema.String,
  state: Schema.String
}) {
  override get message(): string {
    return `run ${this.id} cannot be cancelled: it is ${this.state}`
  }
}

