/**
 * Real OS processes running the scheduler (`test/support/worker.ts`), and the
 * independent ledger their handlers write.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert } from "vitest"
import * as Job from "../../src/Job.ts"
import { JobStore } from "../../src/JobStore.ts"
import * as PgJobStore from "../../src/PgJobStore.ts"
import * as Task from "../../src/Task.ts"
import * as Trigger from "../../src/Trigger.ts"
import type { LedgerLine, WorkerConfig, WorkerJob } from "./worker.ts"

const workerPath = path.join(import.meta.dirname, "worker.ts")

export interface Worker {
  readonly process: ChildProcess
  readonly node: string
  /** JSON lines the worker printed (events, Ready, Fatal). */
  readonly lines: Array<{ readonly _tag: string; readonly [key: string]: unknown }>
  readonly stderr: () => string
  readonly exited: Promise<number | null>
  /** Resolves when a printed line matches, rejects after `timeoutMs`. */
  readonly waitFor: (
    predicate: (line: { readonly _tag: string; readonly [key: string]: unknown }) => boolean,
    timeoutMs?: number
  ) => Promise<void>
  readonly signal: (signal: NodeJS.Signals) => void
  readonly alive: () => boolean
}

export const tempLedgerDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), "steadfast-ledger-"))

export const spawnWorker = (
  config: Omit<WorkerConfig, "ledger"> & {
    readonly ledgerDir: string
    /** Environment variables set for the process, over this one's (e.g. `Faketime.env()`). */
    readonly env?: Record<string, string>
  }
): Worker => {
  const { env, ledgerDir, ...rest } = config
  const full: WorkerConfig = { ...rest, ledger: path.join(ledgerDir, `${config.node}.jsonl`) }
  const child = spawn(process.execPath, [workerPath, JSON.stringify(full)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: env === undefined ? process.env : { ...process.env, ...env }
  })
  const lines: Array<{ readonly _tag: string; readonly [key: string]: unknown }> = []
  const waiters = new Set<() => void>()
  let buffer = ""
  let errors = ""
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString()
    let newline = buffer.indexOf("\n")
    while (newline >= 0) {
      const text = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      newline = buffer.indexOf("\n")
      try {
        lines.push(JSON.parse(text))
      } catch {
        // a log line, not an event
      }
    }
    for (const waiter of waiters) waiter()
  })
  child.stderr!.on("data", (chunk: Buffer) => {
    errors += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  let running = true
  void exited.then(() => {
    running = false
    for (const waiter of waiters) waiter()
  })
  const waitFor: Worker["waitFor"] = (predicate, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (lines.some(predicate)) {
          cleanup()
          resolve()
        } else if (!running) {
          cleanup()
          reject(new Error(`worker ${config.node} exited; stderr: ${errors.slice(-2_000)}`))
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`worker ${config.node}: no matching line within ${timeoutMs} ms; stderr: ${errors.slice(-2_000)}`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  return {
    process: child,
    node: config.node,
    lines,
    stderr: () => errors,
    exited,
    waitFor,
    signal: (signal) => {
      if (running) child.kill(signal)
    },
    alive: () => running
  }
}

/** Stops workers with SIGTERM (graceful) and waits for them; SIGKILL after `timeoutMs`. */
export const stopAll = async (workers: ReadonlyArray<Worker>, timeoutMs = 15_000): Promise<Array<number | null>> => {
  for (const worker of workers) {
    worker.signal("SIGCONT")
    worker.signal("SIGTERM")
  }
  const timer = setTimeout(() => workers.forEach((w) => w.signal("SIGKILL")), timeoutMs)
  const codes = await Promise.all(workers.map((w) => w.exited))
  clearTimeout(timer)
  return codes
}

export const readLedger = (dir: string): Array<LedgerLine> =>
  fs.readdirSync(dir)
    .filter((file) => file.endsWith(".jsonl"))
    .flatMap((file) =>
      fs.readFileSync(path.join(dir, file), "utf8").split("\n").filter((line) => line.length > 0).map((line): LedgerLine =>
        JSON.parse(line)
      )
    )

/** Ledger starts grouped by `(job, fire)`: the exactly-once check is that every group has one entry. */
export const startsByFire = (lines: ReadonlyArray<LedgerLine>): Map<string, Array<LedgerLine>> => {
  const groups = new Map<string, Array<LedgerLine>>()
  for (const line of lines) {
    if (line.kind !== "start") continue
    const key = `${line.jobId}|${line.fireTime}`
    const group = groups.get(key) ?? []
    group.push(line)
    groups.set(key, group)
  }
  return groups
}

/**
 * Waits until `condition` holds, polling every 50 ms; rejects after `timeoutMs`
 * with the last lines (events) and stderr of `workers`, so a failure says
 * what each process was doing.
 */
export const until = async (
  condition: () => boolean,
  timeoutMs: number,
  what: string,
  workers: ReadonlyArray<Worker | undefined> = []
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) {
      const tails = workers.flatMap((worker) =>
        worker === undefined ? [] : [
          `--- ${worker.node} (${worker.alive() ? "alive" : "exited"}), last events:`,
          ...worker.lines.slice(-15).map((line) => JSON.stringify(line)),
          `stderr: ${worker.stderr().slice(-1_000)}`
        ]
      )
      throw new Error([`timed out after ${timeoutMs} ms waiting for ${what}`, ...tails].join("\n"))
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Rejects with `what` unless `promise` settles within `timeoutMs`. */
export const within = <A>(promise: Promise<A>, timeoutMs: number, what: string): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Adds jobs of the workers' tasks at run time, from this process (as another
 * application would): the workers hear of them by notification or poll.
 */
export const addJobs = (url: string, schema: string, specs: ReadonlyArray<WorkerJob>): Promise<void> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const store = yield* JobStore
      yield* Effect.forEach(specs, (spec) => {
        // Only the name and the payload's schema matter here: the workers run the handler.
        const task = Task.make(spec.task ?? "ledger", Schema.Struct({ sleepMs: Schema.Number }), () => Effect.void)
        return store.add(Job.make(task, {
          id: spec.id,
          payload: { sleepMs: spec.sleepMs ?? 0 },
          trigger: spec.trigger,
          onLost: spec.onLost,
          overlap: spec.overlap,
          misfire: { grace: spec.graceMs, then: spec.misfire }
        }))
      }, { discard: true })
    }).pipe(
      Effect.provide(PgJobStore.layer({ schema }).pipe(
        Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
      )),
      Effect.orDie
    )
  )

/** Runs `f` on a one-connection pool to `url` and returns its result. */
export const withSql = <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function*() {
      return yield* f(yield* SqlClient.SqlClient)
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })), Effect.orDie)
  )

let schemaCounter = 0
/** A schema name of its own for a test. */
export const freshSchema = () => `cluster_${++schemaCounter}_${Date.now().toString(36)}`

/** `count` jobs firing every second, ids `${prefix}-${i}`. */
export const everySecond = (count: number, prefix: string) =>
  Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, trigger: Trigger.every("1 second") }))

/** Each job's fires, from its first to its last, are one second apart: none lost. */
export const assertEverySecond = (
  groups: ReturnType<typeof startsByFire>,
  jobs: ReadonlyArray<{ readonly id: string }>,
  atLeast: number
) => {
  for (const job of jobs) {
    const fires = [...groups.keys()].filter((key) => key.startsWith(`${job.id}|`)).map((key) => Number(key.split("|")[1]))
      .sort((a, b) => a - b)
    assert.isTrue(fires.length >= atLeast, `${job.id} ran ${fires.length} fires`)
    for (let i = 1; i < fires.length; i++) assert.strictEqual(fires[i]! - fires[i - 1]!, 1_000, `${job.id} gap`)
  }
}

/** No worker printed a `Fatal` line. */
export const noFatal = (workers: ReadonlyArray<Worker>) => {
  for (const worker of workers) {
    const fatal = worker.lines.find((line) => line._tag === "Fatal")
    assert.isUndefined(fatal, `${worker.node}: ${JSON.stringify(fatal)} ${worker.stderr().slice(-2_000)}`)
  }
}
