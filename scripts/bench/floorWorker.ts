/**
 * One process of the raw-SQL floor (`scripts/bench/Floor.ts`): no scheduler,
 * the least SQL that drains a table of due runs. Started with
 * `process.execPath scripts/bench/floorWorker.ts '<config json>'` and an IPC
 * channel; says `ready` once its connections are open, waits for `go` (the
 * fire instant), then runs `loops` claim loops at once until a claim comes
 * back empty and says `done` with its ledger; and so again at every `go`
 * (the first drain warms it up, as the scheduler's processes are), until
 * it is stopped.
 *
 * Each loop: one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
 * RETURNING` claims up to `batchSize` due rows, a no-op "runs" each, one
 * `UPDATE … WHERE id = ANY(…)` marks the batch succeeded. Autocommit: two
 * statements per batch, nothing else.
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Effect, Queue, Redacted } from "effect"
import { SqlClient } from "effect/sql"

export interface FloorConfig {
  readonly url: string
  readonly schema: string
  readonly node: string
  readonly batchSize: number
  /** Pool size, as a scheduler process's `PgClient` has it. */
  readonly connections: number
  /** Claim loops running at once. */
  readonly loops: number
}

/** Floor worker → orchestrator. */
export type FloorMessage =
  | { readonly type: "ready"; readonly node: string }
  | {
    readonly type: "done"
    readonly node: string
    /** `job_id` of every run, in the order they ran. */
    readonly jobIds: ReadonlyArray<string>
    /** Start minus fire time, ms, per run. */
    readonly lateness: ReadonlyArray<number>
    readonly firstStart: number
    readonly lastEnd: number
    readonly claims: number
    /** `process.cpuUsage()` from `go` to the end, µs. */
    readonly cpuUs: number
    readonly maxRss: number
  }

/** Orchestrator → floor worker. */
export type FloorParentMessage = { readonly type: "go"; readonly at: number }

const now = () => performance.timeOrigin + performance.now()

const send = (message: FloorMessage) => process.send?.(message)

const main = (config: FloorConfig) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const runs = `${config.schema}.runs`
    const claim = `UPDATE ${runs} SET state = 'running', node = $1, token = $2, started_at = $3, lease_until = $3 + 30000
      WHERE id IN (
        SELECT id FROM ${runs} WHERE state = 'pending' AND fire_time <= $3
        ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED
      )
      RETURNING id, job_id, fire_time`
    const finish = `UPDATE ${runs} SET state = 'succeeded', ended_at = $1 WHERE id = ANY($2::bigint[])`

    // Open every connection of the pool before the fire instant, as a warmed-up scheduler has them.
    yield* Effect.forEach(Array.from({ length: config.connections }), () => sql.unsafe("SELECT 1"), {
      concurrency: "unbounded",
      discard: true
    })
    const gos = yield* Queue.unbounded<number>()
    process.on("message", (message: FloorParentMessage) => {
      if (message.type === "go") Queue.offerUnsafe(gos, message.at)
    })
    send({ type: "ready", node: config.node })
    for (;;) yield* drain(sql, config, claim, finish, yield* Queue.take(gos))
  })

const drain = (sql: SqlClient.SqlClient, config: FloorConfig, claim: string, finish: string, at: number) =>
  Effect.gen(function*() {
    yield* Effect.sleep(Math.max(0, at - Date.now()))

    const cpu = process.cpuUsage()
    const jobIds: Array<string> = []
    const lateness: Array<number> = []
    let firstStart = Number.POSITIVE_INFINITY
    let lastEnd = 0
    let claims = 0
    let batch = 0
    const loop = Effect.gen(function*() {
      for (;;) {
        const rows = yield* sql.unsafe<{ id: string; job_id: string; fire_time: string }>(claim, [
          config.node,
          `${config.node}-${++batch}`,
          Date.now(),
          config.batchSize
        ])
        claims++
        if (rows.length === 0) return
        const ids: Array<string> = []
        for (const row of rows) {
          // The no-op handler, with the same ledger as the scheduler's bench handler.
          const start = now()
          firstStart = Math.min(firstStart, start)
          jobIds.push(row.job_id)
          lateness.push(start - Number(row.fire_time))
          ids.push(String(row.id))
          lastEnd = now()
        }
        yield* sql.unsafe(finish, [Date.now(), `{${ids.join(",")}}`])
      }
    })
    yield* Effect.forEach(Array.from({ length: config.loops }), () => loop, { concurrency: "unbounded", discard: true })
    const spent = process.cpuUsage(cpu)
    send({
      type: "done",
      node: config.node,
      jobIds,
      lateness,
      firstStart,
      lastEnd,
      claims,
      cpuUs: spent.user + spent.system,
      maxRss: process.resourceUsage().maxRSS * 1024
    })
  })

if (import.meta.main) {
  const config: FloorConfig = JSON.parse(process.argv[2] ?? "{}")
  main(config).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(config.url), maxConnections: config.connections })),
    NodeRuntime.runMain
  )
}
