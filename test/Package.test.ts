/**
 * The package as users get it: what importing each entry point loads, what
 * the tarball holds, and a fresh application that installs the tarball from
 * the npm cache, type-checks the README's embedding example and runs it
 * against PostgreSQL until a job has run. The README example is the
 * consumer's source, so it cannot drift.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, beforeAll } from "vitest"
import * as Consumer from "./support/Consumer.ts"
import * as Pg from "./support/Pg.ts"

const { root } = Consumer

// A child Node that records every module URL resolved while importing
// argv[1], through a synchronous resolve hook (Node >= 22.15), and prints them.
const recorder = `
import { registerHooks } from "node:module"
const resolved = []
registerHooks({ resolve(specifier, context, next) { const result = next(specifier, context); resolved.push(result.url); return result } })
await import(process.argv[1])
process.stdout.write(JSON.stringify(resolved))
`

const modulesLoadedBy = async (entry: string): Promise<ReadonlyArray<string>> => {
  const stdout = await Consumer.runOk(
    process.execPath,
    ["--input-type=module", "--eval", recorder, pathToFileURL(entry).href],
    { cwd: root, timeoutMs: 30_000 }
  )
  const parsed: unknown = JSON.parse(stdout)
  if (!Array.isArray(parsed)) throw new Error(`the recorder printed no list: ${stdout}`)
  return [...new Set(parsed.map(String))]
}

// `entry` is src/index.ts or dist/index.js: the CLI would be beside it, in cli/.
const assertLean = (loaded: ReadonlyArray<string>, entry: string) => {
  const dir = pathToFileURL(path.dirname(entry)).href
  // The recorder works: the scheduler itself was loaded.
  assert.include(loaded, `${dir}/Scheduler${path.extname(entry)}`)
  assert.deepStrictEqual(loaded.filter((url) => url.startsWith(`${dir}/cli/`)), [], "the CLI module was loaded")
  assert.deepStrictEqual(loaded.filter((url) => url.includes("/node_modules/effect/dist/cli/")), [], "effect/cli was loaded")
  assert.deepStrictEqual(
    loaded.filter((url) => url.endsWith("/node_modules/@effect/platform-node/dist/index.js")),
    [],
    "the @effect/platform-node barrel was loaded"
  )
}

describe("package", () => {
  it("importing steadfast (the source) loads neither the CLI nor the @effect/platform-node barrel", async () => {
    const entry = path.join(root, "src", "index.ts")
    assertLean(await modulesLoadedBy(entry), entry)
  })

  describe("packed and installed into a fresh application", () => {
    let work = ""
    let app = ""
    let tarball: Consumer.Tarball
    // The application's own node_modules/.bin first, then Node 24 (this process's) for `#!/usr/bin/env node`.
    // Without what `npm test` says about this repository (its prefix, its package): the
    // application is a project of its own. npm's settings (`npm_config_cache`, ...) stay.
    let env: NodeJS.ProcessEnv = {}

    beforeAll(async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), "steadfast-consumer-"))
      app = path.join(work, "app")
      env = {
        ...Object.fromEntries(
          Object.entries(process.env).filter(([key]) =>
            !(key.startsWith("npm_") && !key.startsWith("npm_config_")) && key !== "npm_config_local_prefix"
          )
        ),
        PATH: [path.join(app, "node_modules", ".bin"), path.dirname(process.execPath), process.env["PATH"]].join(
          path.delimiter
        )
      }
      // A file the build must remove: `npm pack` ships freshly built JavaScript only.
      fs.mkdirSync(path.join(root, "dist"), { recursive: true })
      fs.writeFileSync(path.join(root, "dist", "stale.js"), "export {}\n")
      tarball = await Consumer.pack(work)

      const manifest: Record<string, unknown> = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
      const peers = ["effect", "@effect/sql-pg", "@effect/platform-node", "@types/node"]
      const dependencies = {
        steadfast: `file:../${path.basename(tarball.file)}`,
        ...Object.fromEntries(peers.map((name) => [name, Consumer.installedVersion(name)]))
      }
      fs.mkdirSync(app)
      fs.writeFileSync(
        path.join(app, "package.json"),
        JSON.stringify({ name: "app", private: true, type: "module", dependencies }, null, 2)
      )
      fs.writeFileSync(
        path.join(app, "package-lock.json"),
        JSON.stringify(Consumer.lockfileFor("app", dependencies, tarball, manifest), null, 2)
      )
      // The package's own dependencies in npm's cache (a no-op when `npm ci` here put them there), so
      // that the application installs offline.
      const own = Object.keys(typeof manifest["dependencies"] === "object" && manifest["dependencies"] !== null ? manifest["dependencies"] : {})
      if (own.length > 0) {
        const specs = own.map((name) => `${name}@${Consumer.installedVersion(name)}`)
        await Consumer.runOk("npm", ["cache", "add", ...specs], { cwd: app, env, timeoutMs: 120_000 })
      }
      await Consumer.runOk("npm", ["ci", "--offline", "--no-audit", "--no-fund"], { cwd: app, env, timeoutMs: 120_000 })
      fs.writeFileSync(
        path.join(app, "main.ts"),
        Consumer.readmeExample(fs.readFileSync(path.join(root, "README.md"), "utf8"), "Embedding it")
      )
    }, 180_000)

    afterAll(() => {
      if (work !== "") fs.rmSync(work, { recursive: true, force: true })
    })

    it("the tarball holds dist, README.md, LICENSE and package.json, every entry point and the bin", () => {
      const stray = tarball.files.filter((file) =>
        !/^(dist\/.+\.(js|d\.ts|js\.map)|README\.md|LICENSE|package\.json)$/.test(file)
      )
      assert.deepStrictEqual(stray, [], "files outside dist/, README.md, LICENSE, package.json")
      assert.isFalse(tarball.files.some((file) => file.startsWith("test/") || file.startsWith("scripts/")))
      assert.notInclude(tarball.files, "dist/stale.js", "the build did not start from an empty dist/")
      for (const file of ["README.md", "LICENSE", "package.json", "dist/cli/bin.js"]) assert.include(tarball.files, file)
      const manifest: unknown = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
      const targets = JSON.stringify(manifest).match(/\.\/dist\/[^"]+/g) ?? []
      assert.isAbove(targets.length, 5)
      for (const target of targets) assert.include(tarball.files, target.slice(2))
      assert.isTrue(tarball.files.includes("dist/Scheduler.js.map") && tarball.files.includes("dist/Scheduler.d.ts"))
    })

    it("importing the installed steadfast loads neither the CLI nor the @effect/platform-node barrel", async () => {
      const entry = path.join(app, "node_modules", "steadfast", "dist", "index.js")
      assertLean(await modulesLoadedBy(entry), entry)
    })

    it("npm sees a valid tree: the peers it got satisfy the package's peerDependencies", async () => {
      const outcome = await Consumer.run("npm", ["ls", "--all", "--offline"], { cwd: app, env, timeoutMs: 60_000 })
      assert.strictEqual(outcome.code, 0, outcome.stdout + outcome.stderr)
    })

    for (
      const [resolution, options] of [
        ["nodenext", { module: "nodenext", moduleResolution: "nodenext" }],
        ["bundler", { module: "preserve", moduleResolution: "bundler" }]
      ] as const
    ) {
      it(`the README example type-checks (strict, ${resolution} resolution, library files checked too)`, async () => {
        const config = path.join(app, `tsconfig.${resolution}.json`)
        fs.writeFileSync(
          config,
          JSON.stringify({
            compilerOptions: { ...options, strict: true, target: "es2023", types: ["node"], skipLibCheck: false, noEmit: true },
            files: ["main.ts"]
          })
        )
        const tsc = fs.realpathSync(path.join(root, "node_modules", ".bin", "tsc"))
        const outcome = await Consumer.run(process.execPath, [tsc, "-p", config], { cwd: app, env, timeoutMs: 60_000 })
        assert.strictEqual(outcome.code, 0, outcome.stdout + outcome.stderr)
      })
    }

    it("the README example runs on PostgreSQL until a job has run, then stops on SIGTERM", async () => {
      const consumer = Consumer.start(process.execPath, ["main.ts"], {
        cwd: app,
        env: { ...env, DATABASE_URL: await Pg.databaseUrl() }
      })
      try {
        await consumer.waitFor(/heartbeat ran for \d{4}-\d\d-\d\dT/, 30_000)
      } catch (error) {
        await consumer.stop("SIGKILL", 5_000)
        throw error
      }
      const stopped = await consumer.stop("SIGTERM", 10_000)
      // Interrupted by the signal and shut down (130), not killed by it.
      assert.deepStrictEqual({ code: stopped.code, signal: stopped.signal }, { code: 130, signal: null }, consumer.output())
      assert.isBelow(stopped.ms, 10_000)
    })

    it("the installed steadfast/admin serves the API and the dashboard, its htmx and uPlot from the installed packages", async () => {
      fs.writeFileSync(
        path.join(app, "admin.ts"),
        [
          `import * as NodeRuntime from "@effect/platform-node/NodeRuntime"`,
          `import { Effect, Layer, Redacted } from "effect"`,
          `import { HttpServer } from "effect/http"`,
          `import { MemoryJobStore, Scheduler } from "steadfast"`,
          `import { Admin, Dashboard } from "steadfast/admin"`,
          `const server = Admin.serve({ port: 0, tokens: [{ name: "ops", role: "viewer", secret: Redacted.make("s3cret") }], routes: Dashboard.layer() })`,
          `  .pipe(Layer.provide(Scheduler.layer({ tasks: [] }).pipe(Layer.provide(MemoryJobStore.layer))))`,
          `Effect.gen(function*() {`,
          `  const http = yield* HttpServer.HttpServer`,
          `  console.log("listening " + HttpServer.formatAddress(http.address))`,
          `  return yield* Effect.never`,
          `}).pipe(Effect.provide(server), NodeRuntime.runMain)`
        ].join("\n")
      )
      const admin = Consumer.start(process.execPath, ["admin.ts"], { cwd: app, env })
      try {
        const line = await admin.waitFor(/listening (\S+)/, 30_000)
        const base = /listening (\S+)/.exec(line)![1]!
        const auth = { headers: { authorization: "Bearer s3cret" } }
        assert.strictEqual((await fetch(`${base}/jobs`, auth)).status, 200)
        assert.strictEqual((await fetch(`${base}/jobs`)).status, 401)
        const login = await fetch(`${base}/ui/login`)
        assert.strictEqual(login.status, 200)
        assert.include(await login.text(), "<form")
        // The pages' scripts and styles, read from the installed htmx.org and uplot packages.
        for (const asset of ["htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css"]) {
          const served = await fetch(`${base}/ui/assets/${asset}`)
          assert.strictEqual(served.status, 200, asset)
          assert.isAbove((await served.text()).length, 1_000, asset)
        }
      } finally {
        await admin.stop("SIGTERM", 10_000)
      }
    })

    it("the installed bin lists the jobs the example registered, and says in one line when DATABASE_URL is missing", async () => {
      const url = await Pg.databaseUrl()
      const jobs = await Consumer.run("steadfast", ["jobs"], { cwd: app, env: { ...env, DATABASE_URL: url }, timeoutMs: 30_000 })
      assert.strictEqual(jobs.code, 0, jobs.stderr)
      for (const id of ["heartbeat", "sync-42", "nightly-cleanup"]) assert.match(jobs.stdout, new RegExp(`^${id} `, "m"))

      const { DATABASE_URL: _, ...withoutUrl } = env
      const missing = await Consumer.run("steadfast", ["jobs"], { cwd: app, env: withoutUrl, timeoutMs: 30_000 })
      assert.strictEqual(missing.code, 2)
      assert.strictEqual(missing.stdout, "")
      assert.match(missing.stderr, /^steadfast: DATABASE_URL is not set \(.*\)\n$/)

      const help = await Consumer.run("steadfast", ["--help"], { cwd: app, env: withoutUrl, timeoutMs: 30_000 })
      assert.strictEqual(help.code, 0, help.stderr)
      assert.match(help.stdout, /Inspect and change Steadfast schedules/)
    })
  })
})
