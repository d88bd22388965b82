/**
 * What the store keeps of the cluster and what operators may do to runs:
 * the nodes (`NodeInfo`, `NodeRecord`), a renewal's answer (`Renewed`), and
 * the errors of `cancel`. Re-exported by `JobStore`.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import type { Share } from "../JobStore.ts"
import { unitHash } from "./unitHash.ts"

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
 * One process of a node id (the id may be reused by the next process, say
 * after a restart): its host, pid and start, as its heartbeats give them.
 *
 * @since 0.5.0
 */
export type NodeInstance = Pick<NodeInfo, "host" | "pid" | "startedAt">

/**
 * Whether `info` is a beat of `instance`.
 *
 * @internal
 */
export const sameInstance = (info: NodeInstance, instance: NodeInstance): boolean =>
  info.host === instance.host && info.pid === instance.pid && info.startedAt === instance.startedAt

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


/**
 * A node's place among its peers (`JobStore.Share`) as the memory store
 * reckons it from its nodes at `now`; `undefined` when the node has no row.
 *
 * @internal
 */
export const placeOf = (
  nodes: Iterable<{ readonly id: string; readonly tasks: ReadonlyArray<string>; readonly heartbeatAt: number }>,
  share: Share,
  now: number
): Place | undefined => {
  let self: ReadonlyArray<string> | undefined
  const all = [...nodes].filter((n) => n.heartbeatAt >= now - share.staleAfterMs)
  for (const n of all) if (n.id === share.node) self = n.tasks
  if (self === undefined) return undefined
  const tasks = new Set(self)
  const peers = all.filter((n) => n.tasks.every((task) => tasks.has(task)) && self.every((task) => n.tasks.includes(task)))
  return { index: peers.filter((n) => n.id < share.node).length, of: peers.length }
}

/**
 * A node's place among `of` peers: it claims ahead the jobs hashed to `index`.
 *
 * @internal
 */
export interface Place {
  readonly index: number
  readonly of: number
}

/**
 * Whether the memory store counts `jobId` in the share at `place`. (The
 * PostgreSQL store hashes with `hashtext`: each store keeps its own
 * partition, and a cluster shares one store.)
 *
 * @internal
 */
export const inShare = (jobId: string, place: Place | undefined): boolean =>
  place === undefined || place.of <= 1 || Math.floor(unitHash(`share:${jobId}`) * place.of) === place.index
