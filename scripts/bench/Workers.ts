/**
 * Scheduler processes for the benchmark: real OS processes running
 * `scripts/bench/worker.ts` on the same Node (`process.execPath`), spoken to
 * over IPC. The same pattern as `test/support/Cluster.ts`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Compiled from "./Compiled.ts"
import type { ParentMessage, WorkerConfig, WorkerMessage } from "./Protocol.ts"


const isOfType = <T extends WorkerMessage["type"]>(
  message: WorkerMessage,
  type: T
): message is Extract<WorkerMessage, { type: T }> => message.type === type

type Ready = Extract<WorkerMessage, { type: "ready" }>
type Report = Extract<WorkerMessage, { type: "report" }>

export interface Worker {
  readonly node: string
  readonly process: ChildProcess
  /** Resolves when the scheduler is built and its declared jobs registered. */
  readonly ready: Promise<Ready>
  readonly count: () => Promise<number>
  readonly report: (ledger: boolean, gc?: boolean) => Promise<Report>
  /** Empties the worker's ledger (after a warm-up). */
  readonly reset: () => Promise<void>
  /** SIGTERM (graceful shutdown), SIGKILL after `timeoutMs`; resolves with the exit code. */
  readonly stop: (timeoutMs?: number) => Promise<number | null>
  readonly output: () => string
}

/**
 * Node flags for the worker processes (the scheduler's and the floor's):
 * by default the young generation a worker deployment is advised to use
 * (README, "Running workers"): `--max-semi-space-size=4`. V8's default grows
 * the young generation to tens of megabytes under a drain's allocation rate,
 * which costs both memory and CPU (cache misses while scavenging).
 * `BENCH_WORKER_FLAGS` replaces them (`BENCH_WORKER_FLAGS=` for Node's
 * defaults, `"--cpu-prof --cpu-prof-dir=prof"` to profile).
 */
export const workerFlags: ReadonlyArray<string> = (process.env["BENCH_WORKER_FLAGS"] ?? "--max-semi-space-size=4")
  .split(" ")
  .filter((flag) => flag.length > 0)

export const spawnWorker = (config: WorkerConfig): Worker => {
  const child = spawn(process.execPath, [...workerFlags, ...(config.nodeFlags ?? []), Compiled.entry("worker"), JSON.stringify(config)], {
    stdio: ["ignore", "pipe", "pipe", "ipc"]
  })
  let output = ""
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout?.on("data", keep)
  child.stderr?.on("data", keep)
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  let alive = true
  void exited.then(() => {
    alive = false
  })
  const died = () => exited.then(() => Promise.reject(new Error(`worker ${config.node} exited: ${output.slice(-3_000)}`)))

  // Requests are answered in order: one FIFO of waiters per message type.
  const waiters = new Map<string, Array<(message: WorkerMessage) => void>>()
  child.on("message", (message: WorkerMessage) => {
    const queue = waiters.get(message.type)
    queue?.shift()?.(message)
  })
  const next = <T extends WorkerMessage["type"]>(type: T): Promise<Extract<WorkerMessage, { type: T }>> =>
    Promise.race([
      new Promise<Extract<WorkerMessage, { type: T }>>((resolve, reject) => {
        const queue = waiters.get(type) ?? []
        queue.push((message) => {
          if (isOfType(message, type)) resolve(message)
          else reject(new Error(`worker ${config.node}: expected ${type}, got ${message.type}`))
        })
        waiters.set(type, queue)
      }),
      died()
    ])
  const request = <T extends ParentMessage["type"]>(message: ParentMessage & { readonly type: T }) => {
    const reply = next(message.type)
    child.send(message)
    return reply
  }

  return {
    node: config.node,
    process: child,
    ready: next("ready"),
    count: () => request({ type: "count" }).then((m) => m.runs),
    report: (ledger, gc = false) => request({ type: "report", ledger, gc }),
    reset: () => request({ type: "reset" }).then(() => undefined),
    stop: async (timeoutMs = 15_000) => {
      if (alive) child.kill("SIGTERM")
      const timer = setTimeout(() => {
        if (alive) child.kill("SIGKILL")
      }, timeoutMs)
      const code = await exited
      clearTimeout(timer)
      return code
    },
    output: () => output
  }
}

/** Stops every worker, in parallel. */
export const stopAll = (workers: ReadonlyArray<Worker>): Promise<Array<number | null>> =>
  Promise.all(workers.map((worker) => worker.stop()))

/**
 * Sums the workers' ledger counts until they reach `total`, or until they
 * stop growing for `stallMs`, or `timeoutMs` passed; resolves with the last
 * sum either way (what did not run is then counted as missed, not thrown).
 */
export const waitForRunsOrStall = async (
  workers: ReadonlyArray<Worker>,
  total: number,
  options: { readonly timeoutMs: number; readonly stallMs: number; readonly intervalMs: number }
): Promise<number> => {
  const deadline = Date.now() + options.timeoutMs
  let last = -1
  let grewAt = Date.now()
  for (;;) {
    const counts = await Promise.all(workers.map((worker) => worker.count()))
    const sum = counts.reduce((a, b) => a + b, 0)
    if (sum >= total) return sum
    if (sum > last) {
      last = sum
      grewAt = Date.now()
    }
    if (Date.now() > deadline || Date.now() - grewAt > options.stallMs) return sum
    await sleep(options.intervalMs)
  }
}

/** `promise`, or a rejection naming `what` after `timeoutMs`. */
export const within = async <A>(promise: Promise<A>, timeoutMs: number, what: string): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
