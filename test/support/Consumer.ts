/**
 * A fresh application that depends on Steadfast as a user's would, for the
 * consumer test (`test/Package.test.ts`): `pack` the repository, write the
 * application a lock file, install with `npm ci --offline`, `start` it.
 *
 * Nothing comes from the network. `npm install --offline effect@4.1.0` would
 * need the registry's document for each package (and, for the tarball's peer
 * dependencies, npm asks for them even when they are listed beside it) in
 * the cache, but `npm ci` caches only tarballs: it reads versions and
 * integrities from the lock file. So such an install fails with `ENOTCACHED`
 * or `ERESOLVE` on a clean clone. The application therefore gets its own lock
 * file, made of the entries of this repository's `package-lock.json` that its
 * dependencies reach plus one for the tarball, and `npm ci --offline` fetches
 * every tarball by its integrity from the cache that `npm ci` filled here.
 */
import { spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

/** The repository's root. */
export const root = path.resolve(import.meta.dirname, "..", "..")

/** What a child process did. */
export interface Outcome {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a command to its end, killing it at the deadline (then `signal` is
 * `SIGKILL`), and returns its output. Never rejects for a non-zero exit.
 */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs: number }
): Promise<Outcome> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: "pipe" })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })

/** Like `run`, but rejects with the command's output unless it exits with 0. */
export const runOk = async (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs: number }
): Promise<string> => {
  const outcome = await run(command, args, options)
  if (outcome.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited with ${outcome.code ?? outcome.signal}\n${outcome.stdout}\n${outcome.stderr}`
    )
  }
  return outcome.stdout
}

/**
 * The fenced ```ts block under a README heading (the first one in that
 * section): the README's example is the consumer's source, so it cannot drift.
 */
export const readmeExample = (readme: string, heading: string): string => {
  const section = readme.split(/^## /m).find((part) => part.startsWith(`${heading}\n`))
  const block = section?.match(/```ts\n([\s\S]*?)```/)?.[1]
  if (block === undefined) throw new Error(`README.md has no \`\`\`ts block under "## ${heading}"`)
  return block
}

/** The version of a package installed in this repository's `node_modules`. */
export const installedVersion = (name: string): string => {
  const manifest: unknown = JSON.parse(fs.readFileSync(path.join(root, "node_modules", name, "package.json"), "utf8"))
  if (typeof manifest === "object" && manifest !== null && "version" in manifest && typeof manifest.version === "string") {
    return manifest.version
  }
  throw new Error(`node_modules/${name}/package.json has no version`)
}

interface LockEntry {
  readonly version?: string
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
  readonly [key: string]: unknown
}

interface LockFile {
  readonly packages: Record<string, LockEntry>
}

const isLockFile = (u: unknown): u is LockFile =>
  typeof u === "object" && u !== null && "packages" in u && typeof u.packages === "object" && u.packages !== null

// Where Node would find `name` from the package installed at `from`: the
// nearest node_modules folder up the tree that the lock file says holds it.
const locate = (packages: LockFile["packages"], from: string, name: string): string | undefined => {
  let base = from
  for (;;) {
    const candidate = base === "" ? `node_modules/${name}` : `${base}/node_modules/${name}`
    if (packages[candidate] !== undefined) return candidate
    if (base === "") return undefined
    const cut = base.lastIndexOf("/node_modules/")
    base = cut === -1 ? "" : base.slice(0, cut)
  }
}

/** The packed package, as `npm pack` wrote it. */
export interface Tarball {
  /** Its absolute path. */
  readonly file: string
  /** Its paths inside the package (`dist/index.js`, `README.md`, ...), sorted. */
  readonly files: ReadonlyArray<string>
  /** The Subresource Integrity of the file, as npm writes it in lock files. */
  readonly integrity: string
}

/**
 * Packs this repository with `npm pack` (whose `prepack` builds `dist/`) into
 * `destination` and lists what the tarball holds.
 */
export const pack = async (destination: string): Promise<Tarball> => {
  await runOk("npm", ["pack", "--pack-destination", destination], { cwd: root, timeoutMs: 60_000 })
  const [name] = fs.readdirSync(destination).filter((f) => f.endsWith(".tgz"))
  if (name === undefined) throw new Error(`npm pack wrote no tarball into ${destination}`)
  const file = path.join(destination, name)
  const listing = await runOk("tar", ["-tzf", file], { cwd: destination, timeoutMs: 30_000 })
  const files = listing.split("\n").filter((line) => line !== "" && !line.endsWith("/"))
    .map((line) => line.replace(/^package\//, "")).sort()
  const integrity = `sha512-${crypto.createHash("sha512").update(fs.readFileSync(file)).digest("base64")}`
  return { file, files, integrity }
}

/**
 * A lock file for an application that depends on the packed package
 * (`dependencies[manifest.name]` is `file:<tarball>`) and on packages
 * installed in this repository: every entry of this repository's lock file
 * that those reach through dependencies and non-optional peers, as
 * production dependencies, plus the tarball's own entry.
 */
export const lockfileFor = (
  name: string,
  dependencies: Record<string, string>,
  tarball: Tarball,
  manifest: Record<string, unknown>
): object => {
  const parsed: unknown = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8"))
  if (!isLockFile(parsed)) throw new Error("package-lock.json has no packages")
  const packages = parsed.packages
  const chosen = new Map<string, LockEntry>()
  const visit = (from: string, dependency: string) => {
    const at = locate(packages, from, dependency)
    if (at === undefined) throw new Error(`package-lock.json does not hold ${dependency} (needed by ${from || "the app"})`)
    if (chosen.has(at)) return
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = packages[at]!
    chosen.set(at, entry)
    const optionalPeers = entry.peerDependenciesMeta ?? {}
    const next = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}).filter((d) => locate(packages, at, d) !== undefined),
      ...Object.keys(entry.peerDependencies ?? {}).filter((d) => optionalPeers[d]?.optional !== true)
    ]
    for (const d of next) visit(at, d)
  }
  const packageName = String(manifest["name"])
  for (const dependency of Object.keys(dependencies)) if (dependency !== packageName) visit("", dependency)
  // The package's own dependencies (the dashboard's htmx and uPlot), hoisted beside it.
  const ownDependencies = manifest["dependencies"]
  if (typeof ownDependencies === "object" && ownDependencies !== null) {
    for (const dependency of Object.keys(ownDependencies)) visit("", dependency)
  }
  const own = Object.fromEntries(
    ["bin", "dependencies", "engines", "license", "peerDependencies", "peerDependenciesMeta"]
      .filter((key) => manifest[key] !== undefined)
      .map((key) => [key, manifest[key]])
  )
  chosen.set(`node_modules/${packageName}`, {
    version: String(manifest["version"]),
    resolved: dependencies[packageName],
    integrity: tarball.integrity,
    ...own
  })
  return {
    name,
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name, dependencies },
      ...Object.fromEntries([...chosen].sort(([a], [b]) => a.localeCompare(b)))
    }
  }
}

/** A long-running child process (the consumer application). */
export interface Running {
  /** Everything it printed so far, stdout and stderr. */
  readonly output: () => string
  /** Resolves with the output once it matches; rejects at the deadline or when the process ends first. */
  readonly waitFor: (pattern: RegExp, timeoutMs: number) => Promise<string>
  /** Sends `signal` and resolves with how it ended and how long that took; SIGKILL and reject after `timeoutMs`. */
  readonly stop: (
    signal: NodeJS.Signals,
    timeoutMs: number
  ) => Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly ms: number }>
}

/** Starts `command` with `args` in `cwd`; see `Running`. */
export const start = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv }
): Running => {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  const listeners = new Set<() => void>()
  const notify = () => listeners.forEach((listener) => listener())
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString()
    notify()
  })
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString()
    notify()
  })
  let ended: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined
  child.on("close", (code, signal) => {
    ended = { code, signal }
    notify()
  })
  // Settles on the first notification for which `check` returns a value (or throws).
  const until = <A>(check: () => A | undefined, timeoutMs: number, what: string) =>
    new Promise<A>((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer)
        listeners.delete(listener)
        settle()
      }
      const listener = () => {
        try {
          const value = check()
          if (value !== undefined) finish(() => resolve(value))
        } catch (error) {
          finish(() => reject(error))
        }
      }
      const timer = setTimeout(
        () => finish(() => reject(new Error(`no ${what} within ${timeoutMs} ms; output:\n${output}`))),
        timeoutMs
      )
      listeners.add(listener)
      listener()
    })
  return {
    output: () => output,
    waitFor: (pattern, timeoutMs) =>
      until(() => {
        if (pattern.test(output)) return output
        if (ended !== undefined) throw new Error(`exited (${ended.code ?? ended.signal}) before ${pattern}:\n${output}`)
        return undefined
      }, timeoutMs, `output matching ${pattern}`),
    stop: async (signal, timeoutMs) => {
      const sent = Date.now()
      child.kill(signal)
      try {
        const how = await until(() => ended, timeoutMs, `exit after ${signal}`)
        return { ...how, ms: Date.now() - sent }
      } catch (error) {
        child.kill("SIGKILL")
        throw error
      }
    }
  }
}
