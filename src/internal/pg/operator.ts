/**
 * The PostgreSQL store's operations for operators and the cluster view:
 * history (with pages), job pages, one run, cancel, counts by state, and the
 * nodes table. Each call goes through the store's `call` (its deadline and
 * error classification).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type { HistoryQuery, JobStore, NodeRecord, StoredJob } from "../../JobStore.ts"
import { RunNotCancellable, RunNotFound } from "../../JobStore.ts"
import { StoreError } from "../../StoreError.ts"
import { foldAscii, historyCursor, invalidCursor, parseHistoryCursor } from "../cursor.ts"
import * as Browse from "./browse.ts"
import type { Operation } from "./deadline.ts"
import { toRecord, toStoredJob } from "./rows.ts"
import * as Runs from "./runs.ts"
import { ms, type Tables } from "./Tables.ts"
import type * as SqlClient from "effect/sql/SqlClient"

type Call = <A, E, R>(operation: Operation, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, StoreError, R>

/** The members this module builds. @internal */
export type Members = Pick<
  JobStore["Service"],
  "history" | "historyPage" | "listJobs" | "getRun" | "cancel" | "stateCounts" | "heartbeat" | "nodes" | "leave"
>

// Ids that are not run ids name no run (and would not fit the bigint column).
const runId = /^[1-9][0-9]{0,17}$/

const toNode = (row: Browse.NodeRow): NodeRecord => ({
  id: row.id,
  host: row.host,
  pid: row.pid,
  version: row.version,
  tasks: Array.isArray(row.tasks) ? row.tasks.filter((task): task is string => typeof task === "string") : [],
  startedAt: ms(row.started_at),
  running: row.running,
  health: row.health,
  store: row.store,
  heartbeatAt: ms(row.heartbeat_at)
})

/** @internal */
export const make = (sql: SqlClient.SqlClient, t: Tables, call: Call): Members => {
  // `limit` records of `query` (a page asks one more, to know whether another follows).
  const select = (operation: "history" | "historyPage", query: HistoryQuery, limit: number) =>
    Effect.suspend(() => {
      const before = query.before === undefined ? undefined : parseHistoryCursor(query.before)
      if (query.before !== undefined && before === undefined) return Effect.fail(invalidCursor(operation, query.before))
      return call(
        operation,
        Effect.map(
          Runs.history(sql, t, { jobId: query.jobId, states: query.states, from: query.from, to: query.to, before, limit }),
          (rows) => rows.map(toRecord)
        )
      )
    })

  const history: Members["history"] = Effect.fn("PgJobStore.history")((query) =>
    select("history", query, query.limit ?? 100)
  )

  const historyPage: Members["historyPage"] = Effect.fn("PgJobStore.historyPage")(function*(query) {
    const limit = query.limit ?? 100
    const found = yield* select("historyPage", query, limit + 1)
    const runs = found.slice(0, limit)
    const last = runs[runs.length - 1]
    return { runs, next: found.length > limit && last !== undefined ? historyCursor(last) : null }
  })

  const listJobs: Members["listJobs"] = Effect.fn("PgJobStore.listJobs")(function*(query) {
    const limit = query.limit ?? 100
    const rows = yield* call("listJobs", Browse.listJobs(sql, t, {
      task: query.task,
      paused: query.paused,
      text: query.text === undefined ? undefined : foldAscii(query.text),
      after: query.after,
      limit: limit + 1
    }))
    // One row that cannot be read (written by hand, say) must not hide the
    // others: it is left out, and said so; the pages go on past it.
    const jobs: Array<StoredJob> = []
    for (const row of rows.slice(0, limit)) {
      const decoded = toStoredJob(row)
      if (Result.isSuccess(decoded)) jobs.push(decoded.success)
      else yield* Effect.logWarning(`job ${JSON.stringify(row.id)} cannot be read and is left out of the list: ${decoded.failure.message}`)
    }
    const last = rows[Math.min(limit, rows.length) - 1]
    return { jobs, next: rows.length > limit && last !== undefined ? last.id : null }
  })

  const getRun: Members["getRun"] = Effect.fn("PgJobStore.getRun")((id: string) =>
    runId.test(id)
      ? call("getRun", Effect.map(Browse.getRun(sql, t, id), ([row]) =>
        Option.map(Option.fromUndefinedOr(row), (found) => ({ ...toRecord(found), payload: found.payload ?? null }))))
      : Effect.succeedNone
  )

  const cancel: Members["cancel"] = Effect.fn("PgJobStore.cancel")(function*(id: string) {
    if (!runId.test(id)) return yield* new RunNotFound({ id })
    const [row] = yield* call("cancel", Browse.cancel(sql, t, id))
    if (row === undefined) return yield* new RunNotFound({ id })
    if (row.record === null) {
      // Cancelled already (by this request's first attempt, whose answer was
      // lost, or by another operator): done, as asked.
      if (row.found === "cancelled") {
        const again = yield* getRun(id)
        if (Option.isSome(again)) return again.value
      }
      return yield* new RunNotCancellable({ id, state: row.found })
    }
    return toRecord(row.record)
  })

  const stateCounts: Members["stateCounts"] = Effect.fn("PgJobStore.stateCounts")((jobId, sinceMs) =>
    call(
      "stateCounts",
      Effect.map(Browse.stateCounts(sql, t, jobId, sinceMs), (rows) => {
        const counts: Record<string, number> = {}
        for (const row of rows) counts[row.state] = ms(row.n)
        return counts
      })
    )
  )

  return {
    history,
    historyPage,
    listJobs,
    getRun,
    cancel,
    stateCounts,
    heartbeat: Effect.fn("PgJobStore.heartbeat")((info) => Effect.asVoid(call("heartbeat", Browse.heartbeat(sql, t, info)))),
    nodes: Effect.fn("PgJobStore.nodes")((staleAfterMs) =>
      call("nodes", Effect.map(Browse.nodes(sql, t, staleAfterMs), (rows) => rows.map(toNode)))
    ),
    leave: Effect.fn("PgJobStore.leave")((node, instance) => Effect.asVoid(call("leave", Browse.leave(sql, t, node, instance))))
  }
}
