/**
 * One of the repository's scripts (`scripts/demo.ts`, `scripts/cli.ts`) run
 * as a real process, the way `npm start` runs it: its output as lines, waits
 * on them with deadlines, and a clean stop.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "..")

export interface Script {
  readonly process: ChildProcess
  /** Every line printed so far, stdout and stderr interleaved as they came. */
  readonly lines: Array<string>
  readonly stdout: () => string
  readonly stderr: () => string
  /** The exit code (or the signal's name). */
  readonly exited: Promise<number | string>
  /** Resolves with the first line from index `from` on that matches; rejects at the deadline or when the process ends. */
  readonly waitFor: (predicate: (line: string) => boolean, timeoutMs: number, from?: number) => Promise<string>
  /** SIGTERM, then the exit code; SIGKILL if it has not ended by the deadline (and reject). */
  readonly stop: (timeoutMs: number) => Promise<number | string>
}

/** Starts `scripts/<name>` with Node 24 (this process's), in the repository, with `env` added. */
export const start = (name: string, args: ReadonlyArray<string>, env: Record<string, string>): Script => {
  const child = spawn(process.execPath, [path.join("scripts", name), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<string> = []
  let out = ""
  let err = ""
  const partial = { stdout: "", stderr: "" }
  const waiters = new Set<() => void>()
  const collect = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
    const text = chunk.toString()
    if (stream === "stdout") out += text
    else err += text
    partial[stream] += text
    const parts = partial[stream].split("\n")
    partial[stream] = parts.pop() ?? ""
    lines.push(...parts)
    for (const waiter of waiters) waiter()
  }
  child.stdout!.on("data", collect("stdout"))
  child.stderr!.on("data", collect("stderr"))
  let ended = false
  const exited = new Promise<number | string>((resolve) =>
    child.on("close", (code, signal) => {
      ended = true
      for (const stream of ["stdout", "stderr"] as const) if (partial[stream] !== "") lines.push(partial[stream])
      for (const waiter of waiters) waiter()
      resolve(code ?? signal ?? "unknown")
    })
  )
  const tail = () => lines.slice(-40).join("\n")
  const waitFor: Script["waitFor"] = (predicate, timeoutMs, from = 0) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.slice(from).find(predicate)
        if (found !== undefined) {
          cleanup()
          resolve(found)
        } else if (ended) {
          cleanup()
          reject(new Error(`${name} ended before the line came; its output:\n${tail()}`))
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`${name}: no matching line within ${timeoutMs} ms; its output:\n${tail()}`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  const stop: Script["stop"] = async (timeoutMs) => {
    if (!ended) child.kill("SIGTERM")
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill("SIGKILL")
        reject(new Error(`${name} did not stop within ${timeoutMs} ms; its output:\n${tail()}`))
      }, timeoutMs)
    })
    try {
      return await Promise.race([exited, deadline])
    } finally {
      clearTimeout(timer)
    }
  }
  return { process: child, lines, stdout: () => out, stderr: () => err, exited, waitFor, stop }
}

/** Resolves with the exit code, or rejects (after SIGKILL) when the process has not ended by the deadline. */
export const exit = async (script: Script, timeoutMs: number): Promise<number | string> => {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      script.process.kill("SIGKILL")
      reject(new Error(`the process did not end within ${timeoutMs} ms; its output:\n${script.lines.join("\n")}`))
    }, timeoutMs)
  })
  try {
    return await Promise.race([script.exited, deadline])
  } finally {
    clearTimeout(timer)
  }
}
