/**
 * The raw-SQL floor of the drain: the same 20,000 runs due at one instant,
 * drained by 2 processes (`scripts/bench/floorWorker.ts`) with the least SQL
 * that could do it and no scheduler at all: a plain table shaped like the
 * store's runs table, one claim statement and one finish statement per batch
 * of the scheduler's default `batchSize`, on a pool as large as a scheduler
 * process's. What the scheduler's drain is compared against
 * (`ratioToFloor`): what PostgreSQL, the driver and Node allow on this
 * machine, before any scheduling.
 *
 *   npm run bench -- floor
 */
import * as Compiled from "./Compiled.ts"
import { spawn } from "node:child_process"
import * as Bench from "./Bench.ts"
import { latency, mb, median, round } from "./Figures.ts"
import { within, workerFlags } from "./Workers.ts"
import type { FloorConfig, FloorMessage, FloorParentMessage } from "./floorWorker.ts"


type Done = Extract<FloorMessage, { type: "done" }>

const isOfType = <T extends FloorMessage["type"]>(
  message: FloorMessage,
  type: T
): message is Extract<FloorMessage, { type: T }> => message.type === type

interface FloorProcess {
  readonly ready: Promise<void>
  /** Starts a drain at `at`; its `done`. */
  readonly go: (at: number) => Promise<Done>
  readonly stop: () => Promise<void>
}

const spawnFloor = (config: FloorConfig): FloorProcess => {
  const child = spawn(process.execPath, [...workerFlags, Compiled.entry("floorWorker"), JSON.stringify(config)], { stdio: ["ignore", "pipe", "pipe", "ipc"] })
  let output = ""
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-5_000)
  }
  child.stdout?.on("data", keep)
  child.stderr?.on("data", keep)
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const died = exited.then((code) => Promise.reject(new Error(`floor worker ${config.node} exited (${code}): ${output}`)))
  // Handled where awaited; this keeps an early exit from being an unhandled rejection meanwhile.
  died.catch(() => undefined)
  const message = <T extends FloorMessage["type"]>(type: T) =>
    Promise.race([
      new Promise<Extract<FloorMessage, { type: T }>>((resolve) => {
        const listener = (m: FloorMessage) => {
          if (!isOfType(m, type)) return
          child.off("message", listener)
          resolve(m)
        }
        child.on("message", listener)
      }),
      died
    ])
  const ready = message("ready").then(() => undefined)
  return {
    ready,
    go: (at) => {
      const done = message("done")
      child.send({ type: "go", at } satisfies FloorParentMessage)
      return done
    },
    stop: async () => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
      if (child.exitCode === null) child.kill("SIGTERM")
      await exited
      clearTimeout(timer)
    }
  }
}

export interface FloorOptions {
  readonly jobs: number
  readonly processes: number
  readonly repeat: number
  /** The scheduler's default `batchSize` (`Scheduler.Options.batchSize`). */
  readonly batchSize: number
  /** A scheduler process's pool: `PgClient`'s default `maxConnections`. */
  readonly connections: number
  readonly loops: number
}

const once = async (bench: Bench.Bench, options: FloorOptions, rep: number) => {
  const schema = bench.schema("floor")
  const runs = `${schema}.runs`
  await bench.db.query(`CREATE SCHEMA ${schema}`)
  await bench.db.query(`CREATE TABLE ${runs} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id text NOT NULL,
    fire_time bigint NOT NULL,
    state text NOT NULL,
    node text,
    token text,
    lease_until bigint,
    started_at bigint,
    ended_at bigint
  )`)
  await bench.db.query(`CREATE INDEX ON ${runs} (id) WHERE state = 'pending'`)
  const workers = Array.from({ length: options.processes }, (_, i) =>
    spawnFloor({
      url: bench.db.url,
      schema,
      node: `floor-${rep}-${i}`,
      batchSize: options.batchSize,
      connections: options.connections,
      loops: options.loops
    }))
  try {
    await within(Promise.all(workers.map((worker) => worker.ready)), 60_000, "floor workers starting")
    // A first drain of as many rows warms the processes up, as the scheduler's are (see `Scenarios.drain`).
    // The scheduling: one statement, as `addMany` is one call.
    const schedule = (prefix: string, at: number) =>
      bench.db.query(
        `INSERT INTO ${runs} (job_id, fire_time, state)
         SELECT '${prefix}-' || i, ${at}, 'pending' FROM generate_series(0, ${options.jobs - 1}) AS i`
      )
    const warmAt = Math.round(Date.now() + 500)
    await schedule("w", warmAt)
    await within(Promise.all(workers.map((worker) => worker.go(warmAt))), 120_000, "floor warm-up drain")
    await bench.db.query(`VACUUM ANALYZE ${runs}`)
    const at = Math.round(Date.now() + 1_000)
    await bench.db.resetStatements()
    const cpu = process.cpuUsage()
    await schedule("f", at)
    const insertCpu = process.cpuUsage(cpu)
    const done = await within(Promise.all(workers.map((worker) => worker.go(at))), 120_000, "floor drain")
    const statements = await bench.db.statements()
    const seen = new Map<string, number>()
    for (const d of done) for (const id of d.jobIds) seen.set(id, (seen.get(id) ?? 0) + 1)
    let duplicates = 0
    for (const n of seen.values()) if (n > 1) duplicates += n - 1
    const count = done.reduce((sum, d) => sum + d.jobIds.length, 0)
    const spanMs = Math.max(...done.map((d) => d.lastEnd)) - Math.min(...done.map((d) => d.firstStart))
    return {
      runsPerSecond: Math.round(count / (spanMs / 1_000)),
      runs: count,
      missed: options.jobs - seen.size,
      duplicates,
      spanMs,
      lateness: latency(done.flatMap((d) => d.lateness)),
      claims: done.reduce((sum, d) => sum + d.claims, 0),
      cpuUsPerRun: round((done.reduce((sum, d) => sum + d.cpuUs, 0) + insertCpu.user + insertCpu.system) / options.jobs),
      statementsPerJob: round(statements.total / options.jobs),
      peakRssMb: done.map((d) => mb(d.maxRss))
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()))
    await bench.db.query(`DROP SCHEMA ${schema} CASCADE`)
  }
}

/** The floor, `repeat` times: runs per second (median and each), and what they cost. */
export const floor = async (bench: Bench.Bench, options: FloorOptions) => {
  const results: Array<Awaited<ReturnType<typeof once>>> = []
  for (let rep = 0; rep < options.repeat; rep++) {
    const result = await once(bench, options, rep)
    bench.log(`floor ${rep + 1}/${options.repeat}: ${result.runsPerSecond} runs/s, ${result.claims} claims`)
    results.push(result)
  }
  const all = results.map((r) => r.runsPerSecond)
  return {
    params: options,
    runsPerSecond: { median: round(median(all)), runs: all },
    latenessP50Ms: round(median(results.map((r) => r.lateness.p50))),
    duplicates: results.reduce((sum, r) => sum + r.duplicates, 0),
    missed: results.reduce((sum, r) => sum + r.missed, 0),
    cpuUsPerRun: round(median(results.map((r) => r.cpuUsPerRun))),
    statementsPerJob: round(median(results.map((r) => r.statementsPerJob))),
    peakRssMb: results.map((r) => Math.max(...r.peakRssMb)),
    method: "a plain table like the runs table (partial index on pending ids); per process " +
      `${options.loops} loops on a pool of ${options.connections}: one UPDATE … WHERE id IN (SELECT … ORDER BY id ` +
      `LIMIT ${options.batchSize} FOR UPDATE SKIP LOCKED) RETURNING (claim), a no-op per row, one UPDATE … ` +
      "WHERE id = ANY($ids) (finish); autocommit; the rows inserted by one INSERT … SELECT generate_series " +
      "(counted in statements and CPU); runs/s from the first run's start to the last run's end; the processes " +
      "first drain as many other rows (a warm-up, as the scheduler's drain has), then the table is vacuumed"
  }
}
