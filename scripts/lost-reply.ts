/**
 * How long a node takes to run the fires of a claim whose COMMIT reply was
 * lost: a real PostgreSQL (embedded, in a temporary folder; or
 * `DATABASE_URL`), a scheduler node whose connections go through the
 * project's TCP proxy, and a proxy that forwards the COMMIT of a claim that
 * took runs and swallows everything the server sends back on that connection
 * (the claim committed; its answer never comes).
 *
 *   npm run lost-reply                                   # 200 fires, 3 times
 *   npm run lost-reply -- --jobs 1000 --repeat 5 --deadline 2000
 *
 * Per repetition: the time to recover, from the lost reply (the COMMIT went
 * through) to the first and to the last of the claimed fires starting, and
 * whether each fire ran once and none was recorded `lost`. The lease is 60
 * seconds, so recovering within seconds is not a lease expiring. Prints the
 * medians over the repetitions and the machine (CPU model, cores, memory),
 * Node and PostgreSQL versions as one JSON line on stdout; progress on
 * stderr. `--deadline` sets the store's claim deadline (ms); without it the
 * built-in one (5 s) applies, as in production: it bounds how long the node
 * waits for the answer before it looks for the claim's runs.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Exit, Layer, Redacted, Schema, Scope } from "effect"
import { parseArgs } from "node:util"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import { withSql } from "../test/support/Cluster.ts"
import * as TcpProxy from "../test/support/TcpProxy.ts"
import { describeMachine, machine, median, round } from "./bench/Figures.ts"
import { positive } from "./lib/Args.ts"
import * as EmbeddedPg from "./lib/EmbeddedPg.ts"

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "200" },
    repeat: { type: "string", default: "3" },
    deadline: { type: "string" }
  }
})
const params = {
  jobs: positive("jobs", values.jobs),
  repeat: positive("repeat", values.repeat),
  claimDeadlineMs: values.deadline === undefined ? null : positive("deadline", values.deadline),
  leaseMs: 60_000
}

const log = (text: string) => process.stderr.write(`[lost-reply] ${text}\n`)

// The claim's write (`settle` in src/internal/pg/claim.ts): the COMMIT right
// after it on the same connection is that of a claim that took runs.
const claimWrite = "WITH fire AS"
const schema = "lost_reply"

const waitUntil = async (condition: () => boolean, ms: number, what: string) => {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

interface Round {
  readonly firstMs: number
  readonly lastMs: number
  readonly ran: number
  readonly duplicates: number
  readonly lost: number
}

const server = await EmbeddedPg.launch()
let failed = false
try {
  const url = await Effect.runPromise(EmbeddedPg.createDatabase(server.url, `steadfast_lost_reply_${Date.now().toString(36)}`))
  const pgVersion = (await withSql(url, (sql) => sql<{ v: string }>`SELECT current_setting('server_version') AS v`))[0]?.v ?? "unknown"
  const about = { command: ["npm run lost-reply", ...process.argv.slice(2)].join(" "), machine: machine(pgVersion) }
  log(`${describeMachine(about.machine)}; ${JSON.stringify(params)}`)

  const target = new URL(url)
  const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) })
  const starts = new Map<string, Array<number>>()
  const task = Task.make("lost-reply", Schema.Unknown, (_payload, context) =>
    Effect.sync(() => {
      const key = `${context.jobId}|${context.fireTime}`
      starts.set(key, [...(starts.get(key) ?? []), Date.now()])
    }))

  // One node through the proxy, without prepared statements (so the proxy
  // sees the claim's SQL every time); the jobs are added directly.
  const scope = Effect.runSync(Scope.make())
  const node = await Effect.runPromise(Layer.buildWithScope(
    Scheduler.layer({ tasks: [task], node: "lost-reply", leaseDuration: params.leaseMs, shutdownGrace: "1 second" }).pipe(
      Layer.provide(PgJobStore.layer({
        schema,
        ...(params.claimDeadlineMs === null ? {} : { deadlines: { claim: params.claimDeadlineMs } })
      })),
      Layer.provide(PgClient.layer({ url: Redacted.make(proxy.via(url)), prepare: false }))
    ),
    scope
  ))
  const scheduler = Context.get(node, Scheduler.Scheduler)
  const direct = Effect.runSync(Scope.make())
  const store = Context.get(
    await Effect.runPromise(Layer.buildWithScope(
      PgJobStore.layer({ schema }).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))),
      direct
    )),
    JobStore
  )
  const rounds: Array<Round> = []
  try {
    await Effect.runPromise(scheduler.awaitReady("30 seconds"))
    for (let rep = 0; rep < params.repeat; rep++) {
      const ids = Array.from({ length: params.jobs }, (_, i) => `lost-${rep}-${i}`)
      const due = (await Effect.runPromise(store.now)) + 2_000
      await Effect.runPromise(store.register(
        ids.map((id) => Job.make(task, { id, payload: null, trigger: Trigger.once(due) })),
        { version: 0, orphans: "keep" }
      ))
      await proxy.withholdReplyTo("COMMIT", { after: claimWrite })
      const lostAt = Date.now()
      const mine = () => ids.map((id) => starts.get(`${id}|${due}`) ?? [])
      await waitUntil(() => mine().every((s) => s.length > 0), params.leaseMs / 2, "every claimed fire to start")
      const first = Math.min(...mine().map((s) => s[0]!))
      const last = Math.max(...mine().map((s) => s[0]!))
      // Every outcome recorded (within 10 s) before the next repetition.
      const mineRecorded = async () =>
        (await Effect.runPromise(store.history({ limit: params.jobs * params.repeat * 2 }))).filter((r) => ids.includes(r.jobId))
      let records = await mineRecorded()
      for (let i = 0; i < 200 && records.some((r) => r.state === "running"); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        records = await mineRecorded()
      }
      const round: Round = {
        firstMs: first - lostAt,
        lastMs: last - lostAt,
        ran: mine().filter((s) => s.length > 0).length,
        duplicates: mine().filter((s) => s.length > 1).length,
        lost: records.filter((r) => r.state === "lost").length
      }
      rounds.push(round)
      log(`repetition ${rep + 1}: ${JSON.stringify(round)}`)
      // The silent connection is the pool's to replace; drop it now rather than after its cancel bound.
      proxy.dropAll()
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await Effect.runPromise(Scope.close(direct, Exit.void))
    await proxy.close()
  }
  const figures = {
    script: "lost-reply",
    params,
    recoverMs: {
      toFirstStart: { median: round(median(rounds.map((r) => r.firstMs))), runs: rounds.map((r) => r.firstMs) },
      toLastStart: { median: round(median(rounds.map((r) => r.lastMs))), runs: rounds.map((r) => r.lastMs) }
    },
    ran: rounds.reduce((n, r) => n + r.ran, 0),
    duplicates: rounds.reduce((n, r) => n + r.duplicates, 0),
    lost: rounds.reduce((n, r) => n + r.lost, 0),
    ...about
  }
  process.stdout.write(`${JSON.stringify(figures)}\n`)
  failed = figures.duplicates > 0 || figures.lost > 0 || figures.ran !== params.jobs * params.repeat
} catch (error) {
  failed = true
  process.stdout.write(`${JSON.stringify({ script: "lost-reply", params, error: String(error) })}\n`)
} finally {
  await server.dispose()
}
process.exit(failed ? 1 : 0)
