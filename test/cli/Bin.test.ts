/**
 * The `steadfast` bin as a real process (Node 24, `src/cli/bin.ts`), as a
 * user or a script meets it: exit codes, one-line errors without stack
 * traces, `--json` documents on stdout, the deadline on an unreachable or
 * silent database, and a misspelled schema that creates nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { spawn } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import * as Pg from "../support/Pg.ts"

const root = path.join(import.meta.dirname, "..", "..")
const bin = path.join(root, "src", "cli", "bin.ts")

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly elapsedMs: number
  /** When it ended (`performance.now()`). */
  readonly endedAt: number
}

/** Runs the bin with `args`, `env` over this process's (without DATABASE_URL unless given), `input` on stdin. */
const steadfast = (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  input?: string
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const { DATABASE_URL: _url, STEADFAST_SCHEMA: _schema, ...inherited } = process.env
    const started = performance.now()
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...inherited, ...env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    // Every wait has a deadline: a bin that hangs fails the test instead of stalling it.
    const kill = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`steadfast ${args.join(" ")} still running after 60 s; stderr: ${stderr}`))
    }, 60_000)
    child.on("close", (code) => {
      clearTimeout(kill)
      const endedAt = performance.now()
      resolve({ code, stdout, stderr, elapsedMs: endedAt - started, endedAt })
    })
    child.stdin.end(input ?? "")
  })

const noStack = (text: string) => assert.notMatch(text, /^\s+at /m, `a stack trace: ${text}`)
const oneLine = (text: string) => {
  assert.strictEqual(text.trimEnd().split("\n").length, 1, `one line: ${text}`)
  noStack(text)
}

const ErrorDoc = Schema.fromJsonString(Schema.Struct({
  error: Schema.Struct({ _tag: Schema.String, message: Schema.String, exitCode: Schema.Number, reason: Schema.optional(Schema.String) })
}))
const JobsDoc = Schema.fromJsonString(Schema.Struct({
  jobs: Schema.Array(Schema.Struct({ id: Schema.String })),
  next: Schema.NullOr(Schema.String)
}))
const ErrorShape = (text: string) => {
  const { error } = Schema.decodeUnknownSync(ErrorDoc)(text)
  return { tag: error._tag, message: error.message, exitCode: error.exitCode, reason: error.reason }
}

/** A TCP server that accepts connections and never says a word (a database gone silent). */
const silentServer = () =>
  new Promise<{ readonly port: number; readonly firstConnection: () => number | undefined; readonly close: () => void }>((resolve) => {
    const sockets = new Set<net.Socket>()
    let first: number | undefined
    const server = net.createServer((socket) => {
      first ??= performance.now()
      sockets.add(socket)
      socket.on("error", () => {})
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve({
        port: typeof address === "object" && address !== null ? address.port : 0,
        firstConnection: () => first,
        close: () => {
          for (const socket of sockets) socket.destroy()
          server.close()
        }
      })
    })
  })

/** A port nothing listens on: bound, then closed. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 1))
    })
  })

describe("steadfast bin (real processes)", () => {
  it("--help documents DATABASE_URL, STEADFAST_SCHEMA, --json and the exit codes; no DATABASE_URL is exit 2", async () => {
    const [help, showHelp, unset, usage] = await Promise.all([
      steadfast(["--help"], {}),
      steadfast(["trigger", "--help"], {}),
      steadfast(["jobs", "--json"], {}),
      steadfast(["history", "--limit", "many"], {})
    ])
    assert.strictEqual(help.code, 0)
    for (const text of ["DATABASE_URL", "STEADFAST_SCHEMA", "default steadfast", "--json", "Exit codes", "migrate"]) {
      assert.include(help.stdout, text)
    }
    assert.strictEqual(showHelp.code, 0)
    assert.include(showHelp.stdout, "--payload")
    assert.include(showHelp.stdout, "schema")
    assert.deepStrictEqual([unset.code, unset.stderr], [2, ""])
    assert.strictEqual(ErrorShape(unset.stdout).tag, "MissingDatabaseUrl")
    assert.include(ErrorShape(unset.stdout).message, "DATABASE_URL is not set")
    assert.deepStrictEqual([usage.code, usage.stdout], [2, ""])
    oneLine(usage.stderr)
    assert.include(usage.stderr, "--limit")
  }, 120_000)

  it("an unreachable or silent database: exit 3 with one line, within the deadline (not minutes)", async () => {
    const silent = await silentServer()
    const port = await closedPort()
    try {
      const [refused, quiet] = await Promise.all([
        steadfast(["jobs"], { DATABASE_URL: `postgres://u:secret@127.0.0.1:${port}/db` }),
        steadfast(["jobs", "--timeout", "2s", "--json"], { DATABASE_URL: `postgres://u:p@127.0.0.1:${silent.port}/db` })
      ])
      assert.deepStrictEqual([refused.code, refused.stdout], [3, ""], refused.stderr)
      oneLine(refused.stderr)
      assert.include(refused.stderr, `cannot reach PostgreSQL at 127.0.0.1:${port}/db`)
      assert.notInclude(refused.stderr, "secret", "no password in the message")
      assert.strictEqual(quiet.code, 3, quiet.stderr)
      const error = ErrorShape(quiet.stdout)
      // The store's call deadline or the command's, whichever ends first: both are the --timeout.
      assert.include(["StoreError", "CommandTimeout"], error.tag)
      assert.strictEqual(error.exitCode, 3)
      assert.include(error.message, `127.0.0.1:${silent.port}`)
      // A deadline check, not a benchmark: from the moment the bin reached the silent server (its start-up
      // done) to its exit, the 2 s deadline plus a margin; and the whole run, start-up on a busy machine included.
      const connected = silent.firstConnection()
      assert.isDefined(connected, "the bin connected")
      const waited = quiet.endedAt - (connected ?? 0)
      assert.isAtLeast(waited, 1_900)
      assert.isBelow(waited, 2_000 + 3_000, `waited ${waited} ms after connecting`)
      assert.isBelow(quiet.elapsedMs, 2_000 + 15_000, `took ${quiet.elapsedMs} ms`)
    } finally {
      silent.close()
    }
  }, 120_000)

  it("on PostgreSQL: migrate, add from stdin, typed errors with their exit codes, and a misspelled schema creates nothing", async () => {
    const env = { DATABASE_URL: await Pg.databaseUrl(), STEADFAST_SCHEMA: "cli_bin" }
    const migrate = await steadfast(["migrate", "--json"], env)
    assert.strictEqual(migrate.code, 0, migrate.stderr)
    assert.include(JSON.parse(migrate.stdout), { schema: "cli_bin" })

    const badCron = JSON.stringify({ id: "nightly", task: "cleanup", trigger: { cron: "0 25 * * *" } })
    const good = JSON.stringify({ id: "nightly", task: "cleanup", trigger: { cron: "0 3 * * *" } })
    const [invalid, added, badPayload, typo] = await Promise.all([
      steadfast(["add", "--json"], env, badCron),
      steadfast(["add", "--json"], env, good),
      steadfast(["trigger", "nightly", "--payload", "{nope"], env),
      steadfast(["jobs"], { ...env, STEADFAST_SCHEMA: "steadfats" })
    ])
    const error = ErrorShape(invalid.stdout)
    assert.deepStrictEqual([invalid.code, error.tag, error.reason], [2, "InvalidTrigger", "InvalidCron"])
    assert.strictEqual(added.code, 0, added.stderr)
    assert.strictEqual(badPayload.code, 2)
    oneLine(badPayload.stderr)
    assert.include(badPayload.stderr, "--payload: not JSON")
    assert.deepStrictEqual(
      [typo.code, typo.stdout, typo.stderr.trim()],
      [1, "", "steadfast: schema steadfats does not exist (run `steadfast migrate`)"]
    )

    const [jobs, missing] = await Promise.all([
      steadfast(["jobs", "--json"], env),
      steadfast(["show", "nope"], env)
    ])
    assert.strictEqual(jobs.code, 0)
    const listed = Schema.decodeUnknownSync(JobsDoc)(jobs.stdout)
    assert.isNull(listed.next)
    assert.deepStrictEqual(listed.jobs.map((job) => job.id), ["nightly"], "only the valid job was stored")
    assert.deepStrictEqual([missing.code, missing.stdout, missing.stderr.trim()], [1, "", "steadfast: no job with id nope"])

    const schemas = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const sql = yield* Pg.makeClient()
      return yield* sql<{ readonly name: string }>`
        SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name IN ('cli_bin', 'steadfats')`
    })))
    assert.deepStrictEqual(schemas.map((row) => row.name), ["cli_bin"], "the misspelled schema was not created")
  }, 180_000)
})
