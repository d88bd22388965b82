/**
 * How long a silent database goes unnoticed, and how long scheduling takes to
 * come back once it speaks again: real scheduler processes, a real PostgreSQL
 * (embedded, in a temporary folder; or `DATABASE_URL`), and a TCP proxy in
 * between that makes every connection silent (bytes swallowed both ways, no
 * RST: a dead link, a NAT that forgot the flow, a failover) for S seconds,
 * then lets new connections through again.
 *
 *   npm run silence                                  # 2 processes, 10 s of silence, 3 times
 *   npm run silence -- --processes 1 --silence 20 --repeat 3 --jobs 20 --deadline 2000
 *
 * Per silence: the time to notice (from the start of the silence to the first
 * `StoreUnavailable` event of any process, and of each), and the time to
 * recover (from its end to the first run a handler started, and to each
 * process's `StoreRecovered`). Prints medians over the repetitions and the
 * machine (CPU model, cores, memory), Node and PostgreSQL versions as one JSON
 * line on stdout; progress on stderr. `--deadline` sets the store's default
 * deadline per call (ms); without it the store's built-in deadlines apply,
 * as in production.
 *
 * The processes are the multi-process tests' (`test/support/worker.ts`):
 * every handler appends to a ledger file, which also counts duplicates.
 */
import { Effect } from "effect"
import { parseArgs } from "node:util"
import * as Trigger from "../src/Trigger.ts"
import { readLedger, spawnWorker, startsByFire, stopAll, tempLedgerDir, until, withSql, type Worker } from "../test/support/Cluster.ts"
import * as TcpProxy from "../test/support/TcpProxy.ts"
import { describeMachine, machine, median, round } from "./bench/Figures.ts"
import { positive } from "./lib/Args.ts"
import * as EmbeddedPg from "./lib/EmbeddedPg.ts"

const { values } = parseArgs({
  options: {
    processes: { type: "string", default: "2" },
    silence: { type: "string", default: "10" },
    repeat: { type: "string", default: "3" },
    jobs: { type: "string", default: "20" },
    deadline: { type: "string" }
  }
})
const params = {
  processes: positive("processes", values.processes),
  silenceS: positive("silence", values.silence),
  repeat: positive("repeat", values.repeat),
  jobs: positive("jobs", values.jobs),
  deadlineMs: values.deadline === undefined ? null : positive("deadline", values.deadline)
}

const log = (text: string) => process.stderr.write(`[silence] ${text}\n`)

type Line = Worker["lines"][number]
const atOf = (line: Line | undefined): number => typeof line?.at === "number" ? line.at : Number.NaN
const firstAfter = (worker: Worker, tag: string, after: number): Line | undefined =>
  worker.lines.find((line) => line._tag === tag && atOf(line) >= after)

const server = await EmbeddedPg.launch()
let failed = false
try {
  const url = await Effect.runPromise(EmbeddedPg.createDatabase(server.url, `steadfast_silence_${Date.now().toString(36)}`))
  const pgVersion = (await withSql(url, (sql) => sql<{ v: string }>`SELECT current_setting('server_version') AS v`))[0]?.v ?? "unknown"
  const about = { command: ["npm run silence", ...process.argv.slice(2)].join(" "), machine: machine(pgVersion) }
  log(`${describeMachine(about.machine)}; ${JSON.stringify(params)}`)

  const target = new URL(url)
  const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port) })
  const ledgerDir = tempLedgerDir()
  const jobs = Array.from({ length: params.jobs }, (_, i) => ({ id: `silence-${i}`, trigger: Trigger.every("1 second") }))
  const workers = Array.from({ length: params.processes }, (_, i) =>
    spawnWorker({
      url: proxy.via(url),
      node: `silence-${i}`,
      ledgerDir,
      schema: "silence",
      jobs,
      ...(params.deadlineMs === null ? {} : { deadlines: { default: `${params.deadlineMs} millis` } })
    }))
  const rounds: Array<{
    readonly noticeMs: number
    readonly noticeMsPerProcess: ReadonlyArray<number>
    readonly recoverMs: number
    readonly recoveredMsPerProcess: ReadonlyArray<number>
  }> = []
  try {
    await Promise.all(workers.map((w) => w.waitFor((line) => line._tag === "JobsRegistered", 60_000)))
    for (let rep = 0; rep < params.repeat; rep++) {
      // Scheduling, steadily, before each silence.
      const calm = Date.now()
      await until(() => readLedger(ledgerDir).some((line) => line.at > calm + 3_000), 60_000, "runs before the silence")
      proxy.setBlackhole(true)
      const silenceStart = Date.now()
      await until(() => Date.now() - silenceStart >= params.silenceS * 1_000, params.silenceS * 1_000 + 5_000, "the silence")
      proxy.setBlackhole(false)
      const silenceEnd = Date.now()
      await until(() => readLedger(ledgerDir).some((line) => line.at >= silenceEnd), 120_000, "a run after the silence")
      await until(() => workers.every((w) => firstAfter(w, "StoreRecovered", silenceEnd) !== undefined), 120_000, "every process to recover")
      const noticeMsPerProcess = workers.map((w) => atOf(firstAfter(w, "StoreUnavailable", silenceStart)) - silenceStart)
      const recoveredMsPerProcess = workers.map((w) => atOf(firstAfter(w, "StoreRecovered", silenceEnd)) - silenceEnd)
      const firstRun = Math.min(...readLedger(ledgerDir).filter((line) => line.at >= silenceEnd).map((line) => line.at))
      const figures = {
        noticeMs: Math.min(...noticeMsPerProcess),
        noticeMsPerProcess,
        recoverMs: firstRun - silenceEnd,
        recoveredMsPerProcess
      }
      rounds.push(figures)
      log(`silence ${rep + 1}: ${JSON.stringify(figures)}`)
    }
  } finally {
    await stopAll(workers)
    await proxy.close()
  }
  const duplicates = [...startsByFire(readLedger(ledgerDir)).values()].filter((starts) => starts.length > 1).length
  const fatal = workers.flatMap((w) => w.lines.filter((line) => line._tag === "Fatal"))
  process.stdout.write(`${
    JSON.stringify({
      script: "silence",
      params,
      noticeMs: { median: round(median(rounds.map((r) => r.noticeMs))), runs: rounds.map((r) => r.noticeMs) },
      recoverMs: { median: round(median(rounds.map((r) => r.recoverMs))), runs: rounds.map((r) => r.recoverMs) },
      perProcess: {
        noticeMs: rounds.map((r) => r.noticeMsPerProcess),
        recoveredMs: rounds.map((r) => r.recoveredMsPerProcess)
      },
      duplicates,
      fatal: fatal.length,
      ...about
    })
  }\n`)
  failed = duplicates > 0 || fatal.length > 0
} catch (error) {
  failed = true
  process.stdout.write(`${JSON.stringify({ script: "silence", params, error: String(error) })}\n`)
} finally {
  await server.dispose()
}
process.exit(failed ? 1 : 0)
