/**
 * The in-memory store's reads (history and its pages, job pages, counts by
 * state, runs by id), its cancel and prune, and its nodes table, over the
 * store's own maps. Each is one synchronous step, as every operation of
 * that store is.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Job from "../Job.ts"
import type {
  HistoryPage,
  HistoryQuery,
  JobPage,
  JobQuery,
  JobStore,
  NodeRecord,
  Retention,
  Share,
  StoredJob
} from "../JobStore.ts"
import * as Run from "../Run.ts"
import { foldAscii, historyCursor, invalidCursor, isAfter, parseHistoryCursor } from "./cursor.ts"
import { type Place, placeOf, sameInstance } from "./cluster.ts"

/** A run as the in-memory store keeps it. @internal */
export interface RunRow {
  record: Run.RunRecord
  token: string
  leaseUntil: number
  payload: Job.Job["payload"] | null
  catchUp: boolean
  /** An operator asked to cancel it while it ran (`JobStore.cancel`). */
  cancelRequested: boolean
}

/** The note of a run an operator cancelled. @internal */
export const cancelledNote = "cancelled by operator"

/**
 * The records of `query` in history order, at most `limit + 1` (the one
 * past the limit says there is a next page); `undefined` when `before` is
 * not a cursor.
 *
 * @internal
 */
const select = (
  runs: Iterable<RunRow>,
  query: HistoryQuery,
  limit: number
): Array<Run.RunRecord> | undefined => {
  const cursor = query.before === undefined ? undefined : parseHistoryCursor(query.before)
  if (query.before !== undefined && cursor === undefined) return undefined
  const states = query.states === undefined ? undefined : new Set(query.states)
  const out: Array<Run.RunRecord> = []
  for (const { record: r } of runs) {
    if (query.jobId !== undefined && r.jobId !== query.jobId) continue
    if (states !== undefined && !states.has(r.state)) continue
    if (query.from !== undefined && r.fireTime < query.from) continue
    if (query.to !== undefined && r.fireTime >= query.to) continue
    if (cursor !== undefined && !isAfter(r, cursor)) continue
    out.push(r)
  }
  return out.sort((a, b) => b.fireTime - a.fireTime || Number(b.id) - Number(a.id)).slice(0, limit)
}

/** `history`: `undefined` when `before` is not a cursor. @internal */
export const history = (runs: Iterable<RunRow>, query: HistoryQuery): ReadonlyArray<Run.RunRecord> | undefined =>
  select(runs, query, query.limit ?? 100)

/** `historyPage`: `undefined` when `before` is not a cursor. @internal */
export const historyPage = (runs: Iterable<RunRow>, query: HistoryQuery): HistoryPage | undefined => {
  const limit = query.limit ?? 100
  const found = select(runs, query, limit + 1)
  if (found === undefined) return undefined
  const page = found.slice(0, limit)
  const last = page[page.length - 1]
  return { runs: page, next: found.length > limit && last !== undefined ? historyCursor(last) : null }
}

/** `listJobs`: by id in code point order (ids are ASCII: `<` is that order). @internal */
export const listJobs = (jobs: Iterable<StoredJob>, query: JobQuery): JobPage => {
  const limit = query.limit ?? 100
  const text = query.text === undefined ? undefined : foldAscii(query.text)
  const out: Array<StoredJob> = []
  for (const job of jobs) {
    if (query.task !== undefined && job.task !== query.task) continue
    if (query.paused !== undefined && job.paused !== query.paused) continue
    if (text !== undefined && !foldAscii(job.id).includes(text)) continue
    if (query.after !== undefined && !(job.id > query.after)) continue
    out.push(job)
  }
  out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const page = out.slice(0, limit)
  const last = page[page.length - 1]
  return { jobs: page, next: out.length > limit && last !== undefined ? last.id : null }
}

/** `stateCounts`. @internal */
export const stateCounts = (runs: Iterable<RunRow>, jobId: string | undefined, sinceMs: number): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const { record } of runs) {
    if ((jobId !== undefined && record.jobId !== jobId) || record.fireTime < sinceMs) continue
    counts[record.state] = (counts[record.state] ?? 0) + 1
  }
  return counts
}

/**
 * `cancel` of one row at store time `t`: a pending run is cancelled, a
 * running one asked to; `"ended"` when it has ended already.
 *
 * @internal
 */
export const cancel = (row: RunRow, t: number): "cancelled" | "requested" | "ended" => {
  if (row.record.state === "pending") {
    row.record = { ...row.record, state: "cancelled", endedAt: t, note: cancelledNote }
    return "cancelled"
  }
  if (row.record.state === "running") {
    row.cancelRequested = true
    return "requested"
  }
  return "ended"
}

/**
 * The store's reads over its maps: `history`, `historyPage`, `listJobs`,
 * `getRun`, `stateCounts`.
 *
 * @internal
 */
export const reads = (
  runs: ReadonlyMap<string, RunRow>,
  jobs: ReadonlyMap<string, StoredJob>
): Pick<JobStore["Service"], "history" | "historyPage" | "listJobs" | "getRun" | "stateCounts"> => ({
  history: (query) =>
    Effect.suspend(() => {
      const found = history(runs.values(), query)
      return found === undefined ? Effect.fail(invalidCursor("history", query.before)) : Effect.succeed(found)
    }),
  historyPage: (query) =>
    Effect.suspend(() => {
      const page = historyPage(runs.values(), query)
      return page === undefined ? Effect.fail(invalidCursor("historyPage", query.before)) : Effect.succeed(page)
    }),
  listJobs: (query) => Effect.sync(() => listJobs(jobs.values(), query)),
  getRun: (id) =>
    Effect.sync(() => Option.map(Option.fromUndefinedOr(runs.get(id)), (row) => ({ ...row.record, payload: row.payload ?? null }))),
  stateCounts: (jobId, sinceMs) => Effect.sync(() => stateCounts(runs.values(), jobId, sinceMs))
})

/**
 * The nodes table: `heartbeat`, `nodes`, `leave`, by the store's clock `now`.
 *
 * @internal
 */
export const nodeTable = (now: Effect.Effect<number>): {
  readonly members: Pick<JobStore["Service"], "heartbeat" | "nodes" | "leave">
  /** A node's place among its peers at `t` (see `JobStore.Share`). */
  readonly place: (share: Share | undefined, t: number) => Place | undefined
} => {
  // One row per node id, as in PostgreSQL: a process that left stays, marked
  // left, so that a beat of it that lands later changes nothing.
  const nodes = new Map<string, { readonly record: NodeRecord; left: boolean }>()
  const live = () => [...nodes.values()].flatMap((row) => row.left ? [] : [row.record])
  const place = (share: Share | undefined, t: number) => share === undefined ? undefined : placeOf(live(), share, t)
  const members: Pick<JobStore["Service"], "heartbeat" | "nodes" | "leave"> = {
    heartbeat: (info) =>
      Effect.map(now, (t) => {
        const row = nodes.get(info.id)
        if (row !== undefined && row.left && sameInstance(row.record, info)) return
        nodes.set(info.id, { record: { ...info, heartbeatAt: t }, left: false })
      }),
    nodes: (staleAfterMs) =>
      Effect.map(now, (t) => live().filter((n) => n.heartbeatAt >= t - staleAfterMs).sort((a, b) => (a.id < b.id ? -1 : 1))),
    leave: (node, instance) =>
      Effect.map(now, (t) => {
        if (instance === undefined) return void nodes.delete(node)
        const row = nodes.get(node)
        if (row === undefined || row.left) {
          // Its first beat may still be on its way (a process that left before stays left).
          const record = { id: node, ...instance, version: "", tasks: [], running: 0, health: null, store: "up" as const, heartbeatAt: t }
          nodes.set(node, { record, left: true })
        } else if (sameInstance(row.record, instance)) {
          row.left = true
        }
      })
  }
  return { members, place }
}

/**
 * `prune` at store time `t`: deletes finished records older than
 * `maxAgeMs` (by end, else fire time), then beyond the newest `maxPerJob`
 * of each job. Returns how many.
 *
 * @internal
 */
export const prune = (runs: Map<string, RunRow>, retention: Retention, t: number): number => {
  let deleted = 0
  const byJob = new Map<string, Array<RunRow>>()
  for (const row of runs.values()) {
    if (!Run.finalStates.has(row.record.state)) continue
    if (retention.maxAgeMs !== undefined && (row.record.endedAt ?? row.record.fireTime) < t - retention.maxAgeMs) {
      runs.delete(row.record.id)
      deleted++
      continue
    }
    const list = byJob.get(row.record.jobId) ?? []
    list.push(row)
    byJob.set(row.record.jobId, list)
  }
  if (retention.maxPerJob !== undefined) {
    for (const list of byJob.values()) {
      list.sort((a, b) => b.record.fireTime - a.record.fireTime)
      for (const row of list.slice(retention.maxPerJob)) {
        runs.delete(row.record.id)
        deleted++
      }
    }
  }
  return deleted
}
