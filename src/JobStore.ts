/**
 * The store contract: where jobs and runs live, and the only place where
 * "exactly once" is decided.
 *
 * Backends are layers (`MemoryJobStore.layer`, `PgJobStore.layer`) and every
 * backend passes the same contract suite (`test/JobStoreContract.ts`). The
 * runtime only ever talks to this interface, and treats every failure as a
 * `StoreError` to classify and retry.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as Job from "./Job.ts"
import type * as Run from "./Run.ts"
import type { NodeInfo, NodeInstance, NodeRecord, Renewed, RunNotCancellable, RunNotFound } from "./internal/cluster.ts"
import type { StoreError } from "./StoreError.ts"

export {
  /**
   * What a node says of itself at every node heartbeat (see `JobStore.heartbeat`).
   *
   * @since 0.4.0
   */
  type NodeInfo,
  /**
   * One process of a node id (see `JobStore.leave`).
   *
   * @since 0.5.0
   */
  type NodeInstance,
  /**
   * A live node as the store has it: what it last said, and when.
   *
   * @since 0.4.0
   */
  type NodeRecord,
  /**
   * What a renewal found: runs lost, and runs an operator asked to cancel.
   *
   * @since 0.4.0
   */
  type Renewed,
  /**
   * The run has ended already: there is nothing to cancel.
   *
   * @since 0.4.0
   */
  RunNotCancellable,
  /**
   * No run with this id.
   *
   * @since 0.4.0
   */
  RunNotFound
} from "./internal/cluster.ts"

/**
 * A job as stored, with what the store keeps beside its definition.
 *
 * @since 0.1.0
 */
export interface StoredJob extends Job.Job {
  /** `code`: declared by the processes' code and upserted at start; `dynamic`: added at run time. */
  readonly source: "code" | "dynamic"
  /** The declaring code's version (see `RegisterOptions.version`); 0 for dynamic jobs. */
  readonly version: number
  /** The next nominal fire not yet materialised into a run, if any. */
  readonly nextFire: number | null
  readonly createdAt: number
  readonly updatedAt: number
  /**
   * Why a claim set this job aside (and paused it): its stored definition
   * could not be decoded or its fires planned (see `SetAside`). Cleared by
   * resuming or updating the job. Absent or `null` otherwise.
   */
  readonly setAside?: string | null | undefined
}

/**
 * No job with this id.
 *
 * @since 0.1.0
 */
export class JobNotFound extends Schema.TaggedError<JobNotFound>()("JobNotFound", { id: Schema.String }) {
  override get message(): string {
    return `no job with id ${this.id}`
  }
}

/**
 * A job with this id exists already. From `addMany`, `index` is the position
 * in the batch of the first job refused: its id is stored already, or an
 * earlier job of the same batch has it (and nothing of the batch was stored).
 * Absent from `add`.
 *
 * @example
 * ```ts
 * import { JobStore } from "steadfast"
 *
 * const error = new JobStore.JobExists({ id: "report-42", index: 3 })
 * error.message // a job with id report-42 exists already (index 3 of the batch)
 * ```
 *
 * @since 0.1.0
 */
export class JobExists extends Schema.TaggedError<JobExists>()("JobExists", {
  id: Schema.String,
  /** @since 0.2.0 */
  index: Schema.optionalKey(Schema.Number)
}) {
  override get message(): string {
    const at = this.index === undefined ? "" : ` (index ${this.index} of the batch)`
    return `a job with id ${this.id} exists already${at}`
  }
}

/**
 * How a process registers the jobs its code declares.
 *
 * @since 0.1.0
 */
export interface RegisterOptions {
  /**
   * The declaring code's version. During a rolling deploy old and new
   * processes both register: a stored code job is replaced only by a
   * declaration of an equal or higher version, so the newer one wins and stays.
   */
  readonly version: number
  /** What happens to stored code jobs of a lower version that this code no longer declares. */
  readonly orphans: "keep" | "pause" | "remove"
}

/**
 * What `register` did.
 *
 * @since 0.1.0
 */
export interface RegisterReport {
  readonly inserted: ReadonlyArray<string>
  readonly updated: ReadonlyArray<string>
  readonly unchanged: ReadonlyArray<string>
  /** Declarations ignored because a newer version is stored. */
  readonly superseded: ReadonlyArray<string>
  readonly orphaned: ReadonlyArray<string>
}

/**
 * What a claim asks for.
 *
 * @since 0.1.0
 */
export interface ClaimRequest {
  readonly node: string
  /** Only jobs of these tasks are claimed: a process never claims what it cannot run. */
  readonly tasks: ReadonlyArray<string>
  readonly limit: number
  readonly leaseMs: number
  /**
   * The fencing token of the runs this claim takes: unique per claim and per
   * process, chosen by the caller so that it can find the claim's runs again
   * when the answer never arrives (see `adopt`). Default: one the store picks.
   */
  readonly token?: string | undefined
  /**
   * Runs of this node whose handlers have ended but whose outcome is not
   * written yet (the recorder writes in batches). They hold no overlap slot:
   * a fire due after its previous run ended must not be skipped, or wait,
   * for a record that is on its way.
   */
  readonly ended?: ReadonlyArray<Lease> | undefined
  /**
   * Claim ahead: a job with no run in progress whose next fire is due within
   * this many ms is claimed now, its run starting at its due instant
   * (`Run.Claimed.startedAt`), so that its handler starts on time however
   * long the claim takes. Default 0: fires are claimed once due.
   */
  readonly aheadMs?: number | undefined
  /**
   * Claim ahead (with `aheadMs`) only this node's share of the jobs; any job
   * is claimed once due. Nodes that claim the same tasks each take their
   * share of the fires due at one instant, in one claim each, instead of the
   * first to wake taking them all (and starting them one after the other,
   * late). A node that died leaves its share to the others at its instant.
   * Default: every job.
   */
  readonly share?: Share | undefined
}

/**
 * A node's share of the jobs claimed ahead (`ClaimRequest.share`). Its peers
 * are the nodes in the store's nodes table (`heartbeat`) that serve the same
 * tasks as `node` and beat within `staleAfterMs`; of `n` peers, the one at
 * place `i` (by id, in code-unit order) claims ahead the jobs whose id the
 * store hashes to `i` modulo `n`. A node with no row of its own (no beat
 * yet) has no share: it claims every job ahead.
 *
 * @since 0.5.0
 */
export interface Share {
  readonly node: string
  readonly staleAfterMs: number
}

/**
 * What a claim did: the runs this node must now execute, and the fires it
 * settled without running (missed, coalesced, skipped) so they can be reported.
 *
 * @since 0.1.0
 */
export interface ClaimResult {
  readonly runs: ReadonlyArray<Run.Claimed>
  readonly settled: ReadonlyArray<Run.RunRecord>
  /** Jobs the claim could not work on and set aside, so the claim went on with the rest. */
  readonly setAside?: ReadonlyArray<SetAside> | undefined
  /**
   * The store's clock when it claimed (epoch ms): the store's time is at
   * least this once the answer arrives, so a claimed run that was due then
   * starts at once, with no wait for a local estimate of the store's time.
   */
  readonly at?: number | undefined
}

/**
 * A job a claim set aside instead of failing: its stored definition does not
 * decode (`undecodable`: written by hand, or by an incompatible version) or
 * its fires cannot be planned (`unplannable`: instants out of range). The
 * store pauses it and keeps `detail` as `StoredJob.setAside`; the claim goes
 * on with the other jobs. `at` is the store's clock.
 *
 * @example
 * ```ts
 * import type { JobStore } from "steadfast"
 *
 * const describe = (s: JobStore.SetAside) => `job ${s.jobId} set aside (${s.reason}): ${s.detail}`
 * ```
 *
 * @since 0.2.0
 */
export interface SetAside {
  readonly jobId: string
  readonly reason: "undecodable" | "unplannable"
  readonly detail: string
  readonly at: number
}

/**
 * A run lease held by a node.
 *
 * @since 0.1.0
 */
export interface Lease {
  readonly id: string
  readonly token: string
}

/**
 * Which history to list: newest fire first (by fire time, then run id).
 * `Scheduler.history` refuses, with `InvalidQuery` and without asking the
 * store, a `jobId` that is not a valid job id, `states` that are not run
 * states, a `limit` that is not a whole number from 0 to 100,000, `from` or
 * `to` that are not whole numbers, and a `before` that is not a cursor. A
 * store given a `before` that is not a cursor fails with a non-retryable
 * `StoreError` (reason `"InvalidCursor"`).
 *
 * @since 0.1.0
 */
export interface HistoryQuery {
  readonly jobId?: string | undefined
  readonly states?: ReadonlyArray<Run.State> | undefined
  /** How many records at most. Default 100. */
  readonly limit?: number | undefined
  /**
   * Only fires at or after this instant (epoch ms, inclusive).
   *
   * @since 0.4.0
   */
  readonly from?: number | undefined
  /**
   * Only fires before this instant (epoch ms, exclusive).
   *
   * @since 0.4.0
   */
  readonly to?: number | undefined
  /**
   * Only records after this one in the order of the list: the `next` of the
   * previous `historyPage` (see `HistoryPage`).
   *
   * @since 0.4.0
   */
  readonly before?: string | undefined
}

/**
 * One page of history: `next` is the cursor to pass as `HistoryQuery.before`
 * for the page after this one, `null` when this page is the last.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { JobStore } from "steadfast"
 *
 * // Every failed run of a job, page by page: no record twice, none left out.
 * const failures = (jobId: string) =>
 *   Effect.gen(function*() {
 *     const store = yield* JobStore.JobStore
 *     const all: Array<string> = []
 *     let before: string | undefined = undefined
 *     while (true) {
 *       const page: JobStore.HistoryPage = yield* store.historyPage({ jobId, states: ["failed"], limit: 50, before })
 *       all.push(...page.runs.map((run) => run.id))
 *       if (page.next === null) return all
 *       before = page.next
 *     }
 *   })
 * ```
 *
 * @since 0.4.0
 */
export interface HistoryPage {
  readonly runs: ReadonlyArray<Run.RunRecord>
  readonly next: string | null
}

/**
 * Which jobs to list, ordered by id (code point order). `text` matches a
 * substring of the id, ASCII letters in any case; `after` is the `next` of
 * the previous page (an id: the list goes on after it). Default `limit` 100.
 *
 * @since 0.4.0
 */
export interface JobQuery {
  readonly task?: string | undefined
  readonly paused?: boolean | undefined
  readonly text?: string | undefined
  readonly after?: string | undefined
  readonly limit?: number | undefined
}

/**
 * One page of jobs: `next` is the `JobQuery.after` of the page after this
 * one, `null` when this page is the last.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { JobStore } from "steadfast"
 *
 * const pausedReports = Effect.gen(function*() {
 *   const store = yield* JobStore.JobStore
 *   const page: JobStore.JobPage = yield* store.listJobs({ text: "report", paused: true, limit: 20 })
 *   return page.jobs.map((job) => job.id)
 * })
 * ```
 *
 * @since 0.4.0
 */
export interface JobPage {
  readonly jobs: ReadonlyArray<StoredJob>
  readonly next: string | null
}

/**
 * How long finished run records are kept. Pending and running runs are never pruned.
 *
 * @since 0.1.0
 */
export interface Retention {
  readonly maxAgeMs?: number | undefined
  readonly maxPerJob?: number | undefined
}

/**
 * The store service.
 *
 * @since 0.1.0
 */
export class JobStore extends Context.Service<JobStore, {
  /** The store's clock (epoch ms). The database clock decides what is due. */
  readonly now: Effect.Effect<number, StoreError>
  /** Idempotent upsert of code-declared jobs (see `RegisterOptions`). */
  readonly register: (
    jobs: ReadonlyArray<Job.Job>,
    options: RegisterOptions
  ) => Effect.Effect<RegisterReport, StoreError>
  readonly add: (job: Job.Job) => Effect.Effect<StoredJob, StoreError | JobExists>
  /**
   * Adds many dynamic jobs, each as `add` would, all or nothing: when an id
   * is stored already or appears twice in the batch, nothing is stored and
   * the error is `JobExists` with that id and its `index` in the batch (the
   * first such). Returns how many were stored; an empty batch is 0 and asks
   * nothing of the store. Wakes other processes once per batch.
   */
  readonly addMany: (jobs: ReadonlyArray<Job.Job>) => Effect.Effect<number, StoreError | JobExists>
  /** Replaces a job's definition; a changed trigger recomputes the next fire. */
  readonly update: (job: Job.Job) => Effect.Effect<StoredJob, StoreError | JobNotFound>
  readonly setPaused: (id: string, paused: boolean) => Effect.Effect<StoredJob, StoreError | JobNotFound>
  /** Removes a job; its pending runs are cancelled, running ones finish. Returns whether it existed. */
  readonly remove: (id: string) => Effect.Effect<boolean, StoreError>
  readonly get: (id: string) => Effect.Effect<Option.Option<StoredJob>, StoreError>
  readonly list: Effect.Effect<ReadonlyArray<StoredJob>, StoreError>
  /** Adds a manual fire at the store's now (optionally with another payload), claimable at once. */
  readonly triggerNow: (
    id: string,
    payload?: Job.Job["payload"]
  ) => Effect.Effect<Run.RunRecord, StoreError | JobNotFound>
  /**
   * Materialises due fires of due jobs (applying misfire policies) and claims
   * pending runs (applying overlap policies, cluster-wide), atomically per job:
   * each `(job, fire time)` is claimed at most once however claims race.
   */
  readonly claim: (request: ClaimRequest) => Effect.Effect<ClaimResult, StoreError>
  /**
   * The earliest instant something of these tasks becomes claimable, if any
   * (with `aheadMs` and `share`, as a claim with that `ClaimRequest.aheadMs`
   * and `ClaimRequest.share` sees it).
   */
  readonly nextWake: (
    tasks: ReadonlyArray<string>,
    aheadMs?: number,
    share?: Share
  ) => Effect.Effect<Option.Option<number>, StoreError>
  /** Records outcomes. Returns, per outcome, whether it was accepted: a stale token is refused. */
  readonly finish: (outcomes: ReadonlyArray<Run.Outcome>) => Effect.Effect<ReadonlyArray<boolean>, StoreError>
  /**
   * Renews this node's leases; returns the ids of the runs it no longer
   * holds, and of those it holds that an operator asked to cancel (`cancel`).
   */
  readonly renew: (
    node: string,
    leases: ReadonlyArray<Lease>,
    leaseMs: number
  ) => Effect.Effect<Renewed, StoreError>
  /**
   * The runs of claims whose answer never reached this node (the connection
   * dropped after COMMIT, or the caller stopped waiting): those still running
   * under `node` with one of `tokens` (see `ClaimRequest.token`), their leases
   * renewed for `leaseMs`. A node passes only tokens of its own claims that
   * went unanswered, so it runs each of their runs once. Runs of a job
   * removed since, and runs an operator asked to cancel meanwhile, are not
   * returned (their leases expire; the reaper records the cancelled ones).
   */
  readonly adopt: (
    node: string,
    tokens: ReadonlyArray<string>,
    leaseMs: number
  ) => Effect.Effect<ReadonlyArray<Run.Claimed>, StoreError>
  /**
   * Hands back runs this node claimed but never started: pending again at
   * once, claimable by any node, same attempt, never skipped by an overlap
   * limit (they are not new fires). Fenced like `renew`: a lease this node no
   * longer holds is left alone. Returns the ids handed back.
   */
  readonly release: (node: string, leases: ReadonlyArray<Lease>) => Effect.Effect<ReadonlyArray<string>, StoreError>
  /**
   * Applies the lost-run policy to running runs whose lease expired; a run
   * an operator asked to cancel is recorded `cancelled` instead.
   */
  readonly reap: Effect.Effect<ReadonlyArray<Run.RunRecord>, StoreError>
  readonly history: (query: HistoryQuery) => Effect.Effect<ReadonlyArray<Run.RunRecord>, StoreError>
  /** `history` by pages (see `HistoryPage`). @since 0.4.0 */
  readonly historyPage: (query: HistoryQuery) => Effect.Effect<HistoryPage, StoreError>
  /** Jobs by filter, by pages (see `JobQuery`). @since 0.4.0 */
  readonly listJobs: (query: JobQuery) => Effect.Effect<JobPage, StoreError>
  /** One run's record, with its `payload` (which lists leave out); none for an unknown id. @since 0.4.0 */
  readonly getRun: (id: string) => Effect.Effect<Option.Option<Run.RunRecord>, StoreError>
  /**
   * Cancels a run: a pending one is recorded `cancelled` at once (note
   * "cancelled by operator"); a running one gets a cancel request, and its
   * record is returned as it stands (still running): the owning node learns
   * of it (a wake-up on `cancelRequests`, else its next `renew`), interrupts
   * the handler and records it `cancelled`; if that node died, the reaper
   * does. Asking again is harmless, also once it is cancelled (its record
   * is returned: a retried request whose first answer was lost succeeds). A
   * run that ended otherwise is `RunNotCancellable`, an id that names no run
   * `RunNotFound`. @since 0.4.0
   */
  readonly cancel: (id: string) => Effect.Effect<Run.RunRecord, StoreError | RunNotFound | RunNotCancellable>
  /**
   * Runs by state whose fire time is at or after `sinceMs`, of one job or
   * of all (`jobId` undefined); states without runs are absent. @since 0.4.0
   */
  readonly stateCounts: (jobId: string | undefined, sinceMs: number) => Effect.Effect<Record<string, number>, StoreError>
  /** Upserts this node's row; `heartbeatAt` is the store's now. @since 0.4.0 */
  readonly heartbeat: (info: NodeInfo) => Effect.Effect<void, StoreError>
  /** Nodes whose last heartbeat is at most `staleAfterMs` old, by id. @since 0.4.0 */
  readonly nodes: (staleAfterMs: number) => Effect.Effect<ReadonlyArray<NodeRecord>, StoreError>
  /**
   * Removes a node's row (clean shutdown). With `instance` (since 0.5.0),
   * only that process's row, never a newer live process's of the same id,
   * and a beat of that process that lands later (a heartbeat stuck on its
   * way past shutdown, even one racing the leave) is ignored: the node never
   * comes back as a ghost. A new process of the same id (another host, pid
   * or start) beats as usual, and takes the row over.
   *
   * @since 0.4.0
   */
  readonly leave: (node: string, instance?: NodeInstance) => Effect.Effect<void, StoreError>
  /** Deletes finished records beyond retention; returns how many. */
  readonly prune: (retention: Retention) => Effect.Effect<number, StoreError>
  /**
   * Wake-ups: emits when another process changed something this one may need
   * to act on (a job added or triggered, a slot freed). Best effort: the
   * scheduler also polls.
   */
  readonly changes: Stream.Stream<void, StoreError>
  /**
   * Whether `changes` really delivers this store's notifications to this
   * process, as last checked (see `NotificationStatus`). Absent: they always
   * arrive (an in-process store).
   */
  readonly notifications?: Effect.Effect<NotificationStatus> | undefined
  /**
   * Wake-ups for cancel requests: the id of each run an operator asked to
   * cancel (`cancel`), so that the node running it renews (and learns of
   * it) at once. Best effort, like `changes` (a PostgreSQL store delivers
   * them while `changes` is subscribed): `renew` reports them anyway.
   * Absent: only `renew` does. @since 0.4.0
   */
  readonly cancelRequests?: Stream.Stream<string, StoreError> | undefined
}>()("steadfast/JobStore") {}

/**
 * What a store knows of its change notifications: `"unknown"` until `changes`
 * is subscribed and checked; `"working"` when a notification the store sent
 * itself came back; `"unavailable"` when it did not (a transaction pooler
 * such as PgBouncer drops them): wake-ups then wait for the poll, and a
 * scheduler should poll more often.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { JobStore } from "steadfast"
 *
 * const status = Effect.gen(function*() {
 *   const store = yield* JobStore.JobStore
 *   const status: JobStore.NotificationStatus = store.notifications === undefined ? "working" : yield* store.notifications
 *   return status
 * })
 * ```
 *
 * @since 0.1.0
 */
export type NotificationStatus = "unknown" | "working" | "unavailable"
