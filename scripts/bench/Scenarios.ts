/**
 * The benchmark's scenarios. Each returns the figures of its JSON line (the
 * entry point adds the command and the machine): medians over repetitions
 * where a repetition is cheap, with every repetition's value beside them.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { JobStore } from "../../src/JobStore.ts"
import * as Bench from "./Bench.ts"
import { type Producer, top } from "./Database.ts"
import { latency, mb, median, mergeRuns, round } from "./Figures.ts"
import { jobsOf, taskName } from "./Protocol.ts"
import { sleep, spawnWorker, stopAll, type Worker } from "./Workers.ts"

const hour = 3_600_000

/** With `BENCH_DUMP=dir`, the raw ledgers go to `dir/<scenario>.json`, for a closer look. */
const dump = (scenario: string, reports: ReadonlyArray<unknown>) => {
  const dir = process.env["BENCH_DUMP"]
  if (dir !== undefined && dir !== "") fs.writeFileSync(path.join(dir, `${scenario}.json`), JSON.stringify(reports))
}

/** How long a scheduler process may take to start and register its declared jobs. */
const startTimeoutMs = 180_000

const start = async (workers: ReadonlyArray<Worker>) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const late = workers.map((worker) => `${worker.node}: ${worker.output().slice(-1_000)}`).join("\n")
      reject(new Error(`workers not ready after ${startTimeoutMs} ms\n${late}`))
    }, startTimeoutMs)
  })
  try {
    return await Promise.race([Promise.all(workers.map((worker) => worker.ready)), timeout])
  } catch (error) {
    await stopAll(workers)
    throw error
  } finally {
    clearTimeout(timer)
  }
}

const pick = <A>(values: ReadonlyArray<A>, f: (a: A) => number) => {
  const all = values.map(f)
  return { median: round(median(all)), runs: all.map(round) }
}

export interface DrainOptions {
  readonly jobs: number
  readonly processes: number
  readonly repeat: number
  /** `Scheduler.Options.maxInFlight` per process; the library's default when omitted. */
  readonly maxInFlight?: number | undefined
  /** The floor's median runs/s, when `floor` ran first in this invocation. */
  readonly floorRunsPerSecond?: number | undefined
}

/**
 * 20,000 one-off jobs due at the same instant (scheduled by one `addMany`),
 * 2 processes, `repeat` times: runs per second from the first handler start
 * to the last handler end, lateness, what did not run or ran twice, CPU and
 * statements per run with the scheduling included, peak RSS.
 *
 * Each repetition starts fresh processes on a fresh schema and warms them
 * with one drain of as many other jobs first, unmeasured but printed
 * (`coldRunsPerSecond`): a scheduler is a long-running process, which pays
 * for its code's compilation once, not in every drain; a first drain in a
 * new process spent more than half its CPU there. The tables are vacuumed
 * between the two.
 */
export const drain = async (bench: Bench.Bench, options: DrainOptions) => {
  const results: Array<Bench.DrainFigures> = []
  const cold: Array<number> = []
  const label = options.maxInFlight === undefined ? "defaults" : `maxInFlight ${options.maxInFlight}`
  for (let rep = 0; rep < options.repeat; rep++) {
    const schema = bench.schema("drain")
    const workers = Array.from({ length: options.processes }, (_, i) =>
      spawnWorker({ url: bench.db.url, schema, node: `drain-${rep}-${i}`, maxInFlight: options.maxInFlight }))
    try {
      await start(workers)
      const warm = await Bench.drain(bench, schema, workers, options.jobs, "w")
      cold.push(warm.runsPerSecond)
      // The warm-up's ledger is the harness's memory, not the scheduler's: gone before the measured drain.
      await Promise.all(workers.map((worker) => worker.reset()))
      await bench.db.query(`VACUUM ANALYZE ${schema}.jobs, ${schema}.runs`)
      const figures = await Bench.drain(bench, schema, workers, options.jobs, "d")
      bench.log(
        `drain (${label}) ${rep + 1}/${options.repeat}, first drain of the processes (warm-up, not measured): ` +
          `${warm.runsPerSecond} runs/s, ${warm.cpuUsPerRun.withScheduling} µs/run`
      )
      bench.log(
        `drain (${label}) ${rep + 1}/${options.repeat}: ${figures.runsPerSecond} runs/s, lateness p50 ` +
          `${figures.lateness.p50} ms, ${figures.cpuUsPerRun.withScheduling} µs/run, ` +
          `${figures.statementsPerJob} statements/job, missed ${figures.missed}, duplicates ${figures.duplicates}`
      )
      results.push(figures)
    } finally {
      await stopAll(workers)
    }
  }
  const runsPerSecond = pick(results, (r) => r.runsPerSecond)
  return {
    params: { ...options, floorRunsPerSecond: undefined },
    runsPerSecond,
    ratioToFloor: options.floorRunsPerSecond === undefined
      ? null
      : round(runsPerSecond.median / options.floorRunsPerSecond),
    floorRunsPerSecond: options.floorRunsPerSecond ?? null,
    coldRunsPerSecond: { median: round(median(cold)), runs: cold },
    latenessP50Ms: pick(results, (r) => r.lateness.p50),
    latenessP99Ms: pick(results, (r) => r.lateness.p99),
    fromFireMs: pick(results, (r) => r.fromFireMs),
    duplicates: results.reduce((sum, r) => sum + r.duplicates, 0),
    missed: results.reduce((sum, r) => sum + r.missed, 0),
    ran: results.map((r) => r.runs),
    perNode: results.map((r) => Object.values(r.perNode)),
    cpuUsPerRun: pick(results, (r) => r.cpuUsPerRun.withScheduling),
    cpuUsPerRunParts: results.map((r) => r.cpuUsPerRun),
    statementsPerJob: pick(results, (r) => r.statementsPerJob),
    peakRssMb: pick(results, (r) => Math.max(...r.peakRssMb)),
    addManyMs: pick(results, (r) => r.addManyMs),
    scheduledBeforeFire: results.every((r) => r.scheduledBeforeFire),
    statementMeanMs: results.at(-1)?.statementMeanMs,
    topStatements: results.at(-1)?.top,
    method: {
      cpu: "µs per run: the scheduler processes' CPU (user + system) from just before addMany to the end of the drain, " +
        "plus the orchestrator's CPU during its addMany call, over the jobs; cpuUsPerRunParts splits it (machine: " +
        "every core's busy time from addMany to the end of the drain, PostgreSQL included)",
      statements: `pg_stat_statements calls of the bench database from before addMany until no run is open, ` +
        `every statement (track ${bench.db.settings["pg_stat_statements.track"] ?? "?"}, track_utility ` +
        `${bench.db.settings["pg_stat_statements.track_utility"] ?? "?"}: BEGIN/COMMIT, LISTEN, nextWake and probes ` +
        "of idle loops included), over the jobs",
      peakRss: "process.resourceUsage().maxRSS of each scheduler process at the end of the drain; the larger of the two",
      warmUp: "each repetition's processes first drain as many other jobs (coldRunsPerSecond, not measured otherwise), " +
        "then the tables are vacuumed, then the measured drain runs"
    },
    targets: options.maxInFlight === undefined
      ? { runsPerSecond: ">= 16000", cpuUsPerRun: "<= 100", statementsPerJob: "<= 0.5", peakRssMb: "<= 150" }
      : {
        runsPerSecond: ">= 11000",
        ratioToFloor: ">= 0.6",
        cpuUsPerRun: "<= 100",
        statementsPerJob: "<= 0.5",
        peakRssMb: "<= 150"
      }
  }
}

// A store of the orchestrator's own on a fresh schema, for `f`; the schema is dropped after.
const withProducer = async <A>(
  bench: Bench.Bench,
  name: string,
  f: (producer: Producer, schema: string) => Promise<A>
): Promise<A> => {
  const schema = bench.schema(name)
  const producer = await bench.db.producer(schema)
  try {
    return await f(producer, schema)
  } finally {
    await producer.dispose()
    await bench.db.query(`DROP SCHEMA ${schema} CASCADE`)
  }
}

/**
 * 100,000 one-off jobs added by one `store.addMany` call into a fresh store
 * (migrated first), `repeat` times.
 */
export const addMany = async (bench: Bench.Bench, options: { readonly jobs: number; readonly repeat: number }) => {
  const results: Array<{ ms: number; cpuUs: number; added: number }> = []
  for (let rep = 0; rep < options.repeat; rep++) {
    await withProducer(bench, "add_many", async (producer) => {
      await producer.warm()
      const jobs = jobsOf({ kind: "once", prefix: "a", count: options.jobs, at: Date.now() + hour })
      const result = await producer.addMany(jobs)
      bench.log(`add-many ${rep + 1}/${options.repeat}: ${result.added} jobs in ${round(result.ms)} ms`)
      results.push(result)
    })
  }
  return {
    params: options,
    ms: pick(results, (r) => r.ms),
    added: results.map((r) => r.added),
    orchestratorCpuMs: pick(results, (r) => r.cpuUs / 1_000),
    notes: "one store.addMany call of the orchestrator (the jobs built beforehand, not timed), due in an hour",
    targets: { ms: "<= 2000" }
  }
}

/**
 * Lease renewals: `runs` running runs of one node (claimed from as many
 * one-off jobs), all renewed in one call per round, as the lease keeper
 * does every heartbeat, `rounds` times: µs a renewal, and how much the runs
 * table's indexes grew meanwhile (a renewal that cannot rewrite its row in
 * place adds an entry to every index).
 */
export const renew = async (bench: Bench.Bench, options: { readonly runs: number; readonly rounds: number; readonly repeat: number }) => {
  const results: Array<{ usPerRenewal: number; indexGrowthMb: number; renewed: number }> = []
  for (let rep = 0; rep < options.repeat; rep++) {
    await withProducer(bench, "renew", async (producer, schema) => {
      const indexBytes = async () =>
        Number((await bench.db.query<{ bytes: string }>(`SELECT pg_indexes_size('${schema}.runs')::text AS bytes`))[0]?.bytes ?? 0)
      const leases = await producer.run(Effect.gen(function*() {
        const store = yield* JobStore
        const at = yield* store.now
        yield* store.addMany(jobsOf({ kind: "once", prefix: "r", count: options.runs, at: at - 1 }))
        const held: Array<{ readonly id: string; readonly token: string }> = []
        for (;;) {
          const { runs } = yield* store.claim({ node: "renewing", tasks: [taskName], limit: 1_000, leaseMs: 600_000 })
          if (runs.length === 0) return held
          for (const run of runs) held.push({ id: run.id, token: run.token })
        }
      }))
      const before = await indexBytes()
      const started = performance.now()
      const renewed = await producer.run(Effect.gen(function*() {
        const store = yield* JobStore
        let count = 0
        for (let round = 0; round < options.rounds; round++) {
          const { lost } = yield* store.renew("renewing", leases, 600_000)
          count += leases.length - lost.length
        }
        return count
      }))
      const ms = performance.now() - started
      const grown = (await indexBytes()) - before
      bench.log(`renew ${rep + 1}/${options.repeat}: ${renewed} renewals in ${round(ms)} ms, indexes +${round(grown / 1e6)} MB`)
      results.push({ usPerRenewal: (ms * 1_000) / renewed, indexGrowthMb: grown / 1e6, renewed })
    })
  }
  return {
    params: options,
    usPerRenewal: pick(results, (r) => r.usPerRenewal),
    indexGrowthMb: pick(results, (r) => r.indexGrowthMb),
    renewed: results.map((r) => r.renewed),
    notes: "one store of the orchestrator's; each round renews every lease in one call, as the lease keeper does"
  }
}

/**
 * 500 jobs each firing every second for 30 s, 2 processes: duplicates and
 * missed fires (from the ledger, against every expected `(job, fire)`), and
 * lateness.
 */
const everySecondOnce = async (
  bench: Bench.Bench,
  options: { readonly jobs: number; readonly seconds: number; readonly processes: number; readonly maxInFlight?: number }
) => {
  const schema = bench.schema("every")
  const workers = Array.from({ length: options.processes }, (_, i) =>
    spawnWorker({ url: bench.db.url, schema, node: `every-${i}`, maxInFlight: options.maxInFlight, claimAheadMs: "auto" }))
  try {
    await start(workers)
    await bench.db.register(schema, jobsOf({ kind: "every", prefix: "e", count: options.jobs, everyMs: 1_000, anchor: 0 }))
    // A few warm-up seconds, then a window of whole seconds.
    const from = Math.ceil((Date.now() + 3_000) / 1_000) * 1_000
    const until = from + options.seconds * 1_000
    bench.log(`every-second: window of ${options.seconds} s starts in ${from - Date.now()} ms`)
    await bench.db.resetStatements()
    await sleep(until - Date.now() + 2_000)
    const statements = await bench.db.statements()
    const reports = await Promise.all(workers.map((worker) => worker.report(true)))
    const all = mergeRuns(reports)
    const window = mergeRuns(reports, (fire) => fire >= from && fire < until)
    dump("every-second", reports)
    let missed = 0
    for (let i = 0; i < options.jobs; i++) {
      for (let fire = from; fire < until; fire += 1_000) if (!window.byFire.has(`e-${i}|${fire}`)) missed++
    }
    const lateness = latency(window.lateness)
    bench.log(
      `every-second (${options.maxInFlight === undefined ? "defaults" : `maxInFlight ${options.maxInFlight}`}): ${window.count} runs, ${all.duplicates} duplicates, ` +
        `${missed} missed, p50 ${lateness.p50} ms, p99 ${lateness.p99} ms`
    )
    return {
      params: options,
      expected: options.jobs * options.seconds,
      ran: window.count,
      duplicates: all.duplicates,
      missed,
      latenessMs: lateness,
      perNode: window.perNode,
      statementsPerSecond: round(statements.total / ((until - from + 2_000) / 1_000)),
      statementMeanMs: {
        lock: Bench.meanOf(statements, Bench.statementMarkers.lock),
        settle: Bench.meanOf(statements, Bench.statementMarkers.settle),
        finish: Bench.meanOf(statements, Bench.statementMarkers.finish)
      },
      targets: { duplicates: 0, missed: 0, latenessP50Ms: "<= 5", latenessP99Ms: "<= 15" }
    }
  } finally {
    await stopAll(workers)
  }
}

/**
 * `everySecondOnce` with the library's defaults and `claimAhead: "auto"`,
 * then with `maxInFlight` per process.
 */
export const everySecond = async (
  bench: Bench.Bench,
  options: { readonly jobs: number; readonly seconds: number; readonly processes: number; readonly maxInFlight: number }
) => {
  const { maxInFlight, ...rest } = options
  const defaults = await everySecondOnce(bench, rest)
  const limited = await everySecondOnce(bench, { ...rest, maxInFlight })
  return { params: options, defaults, withMaxInFlight: limited }
}

/**
 * 10,000 jobs none of which is due for the next hour, declared by 2
 * processes: database statements per second over a window, and the
 * workers' CPU.
 */
export const idle = async (
  bench: Bench.Bench,
  options: { readonly jobs: number; readonly windowSeconds: number; readonly processes: number }
) => {
  const schema = bench.schema("idle")
  const anchor = Date.now() + hour / 2
  const declare = { kind: "every", prefix: "i", count: options.jobs, everyMs: hour, anchor } as const
  const workers = Array.from({ length: options.processes }, (_, i) =>
    spawnWorker({ url: bench.db.url, schema, node: `idle-${i}`, declare }))
  try {
    await start(workers)
    // Let start-up settle (registration wake-ups, first claims).
    await sleep(5_000)
    await bench.db.resetStatements()
    const before = await Promise.all(workers.map((worker) => worker.report(false)))
    const t0 = Bench.now()
    bench.log(`idle: measuring for ${options.windowSeconds} s`)
    await sleep(options.windowSeconds * 1_000)
    const after = await Promise.all(workers.map((worker) => worker.report(false)))
    const seconds = (Bench.now() - t0) / 1_000
    const statements = await bench.db.statements()
    const cpu = after.map((report, i) => {
      const b = before[i]!
      const us = report.cpu.user + report.cpu.system - b.cpu.user - b.cpu.system
      return { node: report.node, cpuMsPerSecond: round(us / 1_000 / seconds), rssMb: mb(report.rss) }
    })
    bench.log(`idle: ${statements.total} statements in ${seconds.toFixed(1)} s`)
    return {
      params: options,
      statementsPerSecond: round(statements.total / seconds),
      statements: statements.total,
      windowSeconds: round(seconds),
      method: statements.method === "pg_stat_statements"
        ? "pg_stat_statements: every statement any session ran in the bench database during the window " +
          "(idle schedulers open no BEGIN/COMMIT transactions: they claim only when something is due)"
        : "pg_stat_database: committed and rolled back transactions of the bench database (a statement outside " +
          "BEGIN/COMMIT is one; background work such as autovacuum counts too)",
      top: top(statements),
      workers: cpu,
      cpuPercentOfOneCore: round(cpu.reduce((sum, w) => sum + w.cpuMsPerSecond, 0) / 10),
      targets: { statementsPerSecond: "<= 0.5 (both processes)", cpu: "near zero" }
    }
  } finally {
    await stopAll(workers)
  }
}

/**
 * One process declaring 100,000 jobs: time to register them at start-up (its
 * scheduler built and the registrar done), its resident memory once idle and
 * its peak so far (beside those of the same process declaring none, and its
 * live heap after a full collection), and a drain of 20,000 due jobs (2 processes) with the
 * 100,000 not-due jobs beside them.
 */
export const scale = async (
  bench: Bench.Bench,
  options: { readonly jobs: number; readonly drainJobs: number; readonly repeat: number; readonly idleMs: number }
) => {
  const nodeFlags = ["--expose-gc"]
  const memoryOf = async (worker: Worker) => {
    await sleep(options.idleMs)
    const idleReport = await worker.report(false)
    const collected = await worker.report(false, true)
    return {
      rss: idleReport.rss,
      peakRss: idleReport.maxRss,
      liveHeap: collected.liveHeap ?? Number.NaN,
      rssAfterGc: collected.rss
    }
  }
  // The same process holding no jobs: what the runtime itself takes.
  const empty = spawnWorker({ url: bench.db.url, schema: bench.schema("scale_empty"), node: "scale-empty", nodeFlags })
  let baseline: Awaited<ReturnType<typeof memoryOf>>
  try {
    await start([empty])
    baseline = await memoryOf(empty)
  } finally {
    await stopAll([empty])
  }
  const results: Array<{ registerMs: number; memory: typeof baseline; drain: Bench.DrainFigures }> = []
  for (let rep = 0; rep < options.repeat; rep++) {
    const schema = bench.schema("scale")
    const anchor = Date.now() + hour / 2
    const holder = spawnWorker({
      url: bench.db.url,
      schema,
      node: `scale-${rep}-holder`,
      nodeFlags,
      declare: { kind: "every", prefix: "s", count: options.jobs, everyMs: hour, anchor }
    })
    const workers = [holder]
    try {
      const [ready] = await start(workers)
      const memory = await memoryOf(holder)
      // As a long-running system would have it: the 100,000 rows vacuumed, not
      // vacuumed by autovacuum in the middle of the drain.
      await bench.db.query(`VACUUM ANALYZE ${schema}.jobs`)
      const other = spawnWorker({ url: bench.db.url, schema, node: `scale-${rep}-other` })
      workers.push(other)
      await start([other])
      const figures = await Bench.drain(bench, schema, workers, options.drainJobs, "due")
      const registerMs = ready?.registerMs ?? Number.NaN
      bench.log(
        `scale ${rep + 1}/${options.repeat}: registered in ${round(registerMs)} ms, rss ${mb(memory.rss)} MB ` +
          `(peak ${mb(memory.peakRss)} MB) ` +
          `(empty process ${mb(baseline.rss)} MB), drain ${figures.runsPerSecond} runs/s`
      )
      results.push({ registerMs, memory, drain: figures })
    } finally {
      await stopAll(workers)
    }
  }
  return {
    params: options,
    registerMs: pick(results, (r) => r.registerMs),
    idleRssMb: pick(results, (r) => mb(r.memory.rss)),
    peakRssMb: pick(results, (r) => mb(r.memory.peakRss)),
    emptyProcessRssMb: mb(baseline.rss),
    emptyProcessPeakRssMb: mb(baseline.peakRss),
    rssOverEmptyMb: pick(results, (r) => mb(r.memory.rss - baseline.rss)),
    liveHeapMb: pick(results, (r) => mb(r.memory.liveHeap)),
    emptyProcessLiveHeapMb: mb(baseline.liveHeap),
    rssAfterFullGcMb: pick(results, (r) => mb(r.memory.rssAfterGc)),
    drainBesideIdle: {
      runsPerSecond: pick(results, (r) => r.drain.runsPerSecond),
      latenessP50Ms: pick(results, (r) => r.drain.lateness.p50),
      latenessP99Ms: pick(results, (r) => r.drain.lateness.p99),
      duplicates: results.reduce((sum, r) => sum + r.drain.duplicates, 0),
      missed: results.reduce((sum, r) => sum + r.drain.missed, 0),
      ran: results.map((r) => r.drain.runs),
      cpuUsPerRun: pick(results, (r) => r.drain.cpuUsPerRun.withScheduling),
      statementsPerJob: pick(results, (r) => r.drain.statementsPerJob),
      statementMeanMs: results.at(-1)?.drain.statementMeanMs
    },
    notes: "the 100,000-job table is vacuumed before the drain; memory is measured after " +
      `${options.idleMs / 1_000} s idle; peak RSS is process.resourceUsage().maxRSS then (start-up and registration ` +
      "included); the live heap after a full collection (--expose-gc)",
    targets: { registerMs: "<= 2000", peakRssMb: "<= 220", drainBesideIdle: "as drain" }
  }
}

/**
 * The database restarted (stop, 3 s down, start) while jobs fire every
 * second, 2 processes: from the server being ready again to the first
 * handler start. Repeated; duplicates over the whole scenario.
 */
export const recovery = async (
  bench: Bench.Bench,
  options: { readonly jobs: number; readonly processes: number; readonly downMs: number; readonly repeat: number }
) => {
  if (!bench.db.server.managed) return { params: options, skipped: "the server comes from DATABASE_URL: it cannot be restarted" }
  const schema = bench.schema("recovery")
  const workers = Array.from({ length: options.processes }, (_, i) =>
    spawnWorker({ url: bench.db.url, schema, node: `recovery-${i}` }))
  const restarts: Array<{ startCalled: number; ready: number }> = []
  try {
    await start(workers)
    await bench.db.register(schema, jobsOf({ kind: "every", prefix: "r", count: options.jobs, everyMs: 1_000, anchor: 0 }))
    await sleep(3_000)
    for (let rep = 0; rep < options.repeat; rep++) {
      await bench.db.server.stop()
      await sleep(options.downMs)
      const startCalled = Bench.now()
      await bench.db.server.start()
      const ready = Bench.now()
      restarts.push({ startCalled, ready })
      await sleep(3_000)
    }
    const reports = await Promise.all(workers.map((worker) => worker.report(true)))
    const runs = mergeRuns(reports)
    const starts = [...runs.starts].sort((a, b) => a - b)
    const firsts = restarts.map(({ startCalled, ready }) => {
      const first = starts.find((s) => s > startCalled)
      return {
        serverStartMs: round(ready - startCalled),
        firstRunAfterReadyMs: first === undefined ? null : round(first - ready)
      }
    })
    const after = firsts.map((f) => f.firstRunAfterReadyMs).filter((v): v is number => v !== null)
    bench.log(`recovery: first runs ${after.join(", ")} ms after the server was ready`)
    return {
      params: options,
      firstRunAfterReadyMs: { median: round(median(after)), runs: after },
      serverStartMs: firsts.map((f) => f.serverStartMs),
      duplicates: runs.duplicates,
      restarts: reports.map((r) => r.health.restarts),
      targets: { firstRunAfterReadyMs: "< 100", duplicates: 0 }
    }
  } finally {
    await stopAll(workers)
  }
}
