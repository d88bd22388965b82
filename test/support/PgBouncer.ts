/**
 * PgBouncer in transaction mode in front of a test server: the pooler most
 * deployments put between their processes and PostgreSQL.
 *
 * It runs as a child process (in the foreground, as the `postgres` user:
 * PgBouncer refuses to run as root), on a free port, with its own temporary
 * folder (configuration, `auth_file`, log). Clients connect without a
 * password (`auth_type = trust`); PgBouncer logs in to the server with the
 * credentials of the server URL. Every database name is forwarded to the same
 * name on the server.
 *
 * Needs the Debian package `pgbouncer` (`.ci/run` installs it).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export interface PgBouncer {
  readonly port: number
  /** `url` (a database on the server) rewritten to go through PgBouncer. */
  readonly via: (url: string) => string
  /** PgBouncer's log so far. */
  readonly log: () => string
  readonly dispose: () => Promise<void>
}

export interface Options {
  /** Server connections per (database, user) pair. Default 10. */
  readonly poolSize?: number
}

const binary = "/usr/sbin/pgbouncer"

/** Whether PgBouncer is installed (it is in CI: `.ci/run` installs it). */
export const installed = (): boolean => fs.existsSync(binary)

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      probe.close(() => resolve(port))
    })
  })

const accepting = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const idOf = (name: string, flag: "-u" | "-g"): number => Number(execFileSync("id", [flag, name]).toString().trim())

/**
 * Starts PgBouncer in front of the server of `serverUrl` (any database URL
 * with the server's credentials); resolves once it accepts connections.
 */
export const start = async (serverUrl: string, options: Options = {}): Promise<PgBouncer> => {
  const server = new URL(serverUrl)
  const user = decodeURIComponent(server.username || "postgres")
  const password = decodeURIComponent(server.password)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "steadfast-pgbouncer-"))
  const uid = idOf("postgres", "-u")
  const gid = idOf("postgres", "-g")
  const port = await freePort()
  const quote = (value: string) => `'${value.replace(/'/g, "''")}'`
  fs.writeFileSync(path.join(dir, "userlist.txt"), `"${user}" ""\n`)
  fs.writeFileSync(
    path.join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `* = host=${server.hostname} port=${server.port || "5432"} user=${user} password=${quote(password)}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = trust",
      `auth_file = ${path.join(dir, "userlist.txt")}`,
      "pool_mode = transaction",
      `default_pool_size = ${options.poolSize ?? 10}`,
      "max_client_conn = 500",
      "ignore_startup_parameters = extra_float_digits,options",
      `logfile = ${path.join(dir, "pgbouncer.log")}`,
      `pidfile = ${path.join(dir, "pgbouncer.pid")}`,
      ""
    ].join("\n")
  )
  for (const file of fs.readdirSync(dir)) fs.chownSync(path.join(dir, file), uid, gid)
  fs.chownSync(dir, uid, gid)

  let errors = ""
  const child: ChildProcess = spawn(binary, [path.join(dir, "pgbouncer.ini")], {
    uid,
    gid,
    stdio: ["ignore", "ignore", "pipe"]
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    errors += chunk.toString()
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  let running = true
  void exited.then(() => {
    running = false
  })

  const log = () => {
    const file = path.join(dir, "pgbouncer.log")
    return `${fs.existsSync(file) ? fs.readFileSync(file, "utf8") : ""}${errors}`
  }
  const deadline = Date.now() + 10_000
  while (!(await accepting(port))) {
    if (!running || Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error(`PgBouncer did not start on port ${port}: ${log().slice(-2_000)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  return {
    port,
    via: (url) => {
      const parsed = new URL(url)
      parsed.hostname = "127.0.0.1"
      parsed.port = String(port)
      parsed.password = ""
      return parsed.toString()
    },
    log,
    dispose: async () => {
      // SIGTERM: immediate shutdown (SIGINT would wait for clients).
      if (running) child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
      await exited
      clearTimeout(timer)
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
