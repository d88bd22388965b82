/**
 * The CLI's commands in process, on a real PostgreSQL (a schema per test):
 * what `--json` prints for each command, the exit codes of typed errors and
 * bad input, and that bad input and read-only commands change nothing.
 * `test/cli/Bin.test.ts` runs the `steadfast` bin as a real process.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import { TestConsole } from "effect/testing"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import { Cli } from "../src/cli/index.ts"
import * as Job from "../src/Job.ts"
import * as MemoryJobStore from "../src/MemoryJobStore.ts"
import * as Run from "../src/Run.ts"
import * as Trigger from "../src/Trigger.ts"
import * as Pg from "./support/Pg.ts"

interface Outcome {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the CLI on this file's database, `schema` as STEADFAST_SCHEMA; its exit code and output. */
const cli = (schema: string, ...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const url = yield* Pg.url
    return yield* Effect.gen(function*() {
      const code = yield* Cli.main(args, { version: "test" }).pipe(
        Effect.as(0),
        Effect.catch((error) => Cli.isExit(error) ? Effect.succeed(error.code) : Effect.die(error))
      )
      const stdout = (yield* TestConsole.logLines).map(String).join("\n")
      const stderr = (yield* TestConsole.errorLines).map(String).join("\n")
      return { code, stdout, stderr } satisfies Outcome
    }).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, Cli.layerPostgres({ url, schema }), TestConsole.layer)))
  })

// What the commands print with --json (extra keys are allowed, the ones named must be there).
const StoredJob = Schema.Struct({ ...Job.Job.fields, nextFire: Schema.NullOr(Schema.Number), source: Schema.String })
const JobDoc = Schema.Struct({ job: StoredJob })
const JobsDoc = Schema.Struct({ jobs: Schema.Array(StoredJob), next: Schema.NullOr(Schema.String) })
const RunDoc = Schema.Struct({ run: Run.RunRecord, warning: Schema.optional(Schema.String) })
const RunsDoc = Schema.Struct({ runs: Schema.Array(Run.RunRecord), next: Schema.NullOr(Schema.String) })
const MigrateDoc = Schema.Struct({ schema: Schema.String, applied: Schema.Array(Schema.Number), current: Schema.Array(Schema.Number) })
const ShowDoc = Schema.Struct({
  job: StoredJob,
  now: Schema.Number,
  nextFires: Schema.Array(Schema.Struct({ fire: Schema.Number, iso: Schema.String, dst: Schema.String, note: Schema.optional(Schema.String) })),
  lastRuns: Schema.Array(Run.RunRecord),
  counts: Schema.Struct({ since: Schema.Number, byState: Schema.Record(Schema.String, Schema.Number) })
})
const NodesDoc = Schema.Struct({ nodes: Schema.Array(Schema.Struct({ id: Schema.String, tasks: Schema.Array(Schema.String) })) })
const ErrorDoc = Schema.Struct({
  error: Schema.Struct({ _tag: Schema.String, message: Schema.String, exitCode: Schema.Number, reason: Schema.optional(Schema.String) })
})

/** `cli` with `--json`, exit code 0: the document, decoded by `doc`. */
const json = <S extends Schema.Codec<unknown, unknown>>(doc: S, schema: string, ...args: ReadonlyArray<string>) =>
  Effect.map(cli(schema, ...args, "--json"), (outcome) => {
    assert.strictEqual(outcome.stderr, "", "nothing on stderr with --json")
    assert.strictEqual(outcome.code, 0, outcome.stdout)
    return Schema.decodeUnknownSync(Schema.fromJsonString(doc))(outcome.stdout)
  })

/** `cli` with `--json`, failing: the exit code and the error object. */
const fails = (schema: string, ...args: ReadonlyArray<string>) =>
  Effect.map(cli(schema, ...args, "--json"), (outcome) => {
    assert.strictEqual(outcome.stderr, "", "nothing on stderr with --json")
    const { error } = Schema.decodeUnknownSync(Schema.fromJsonString(ErrorDoc))(outcome.stdout)
    assert.strictEqual(error.exitCode, outcome.code)
    return { code: outcome.code, error }
  })

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "steadfast-cli-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
const jobFile = (name: string, job: unknown) => {
  const file = path.join(dir, `${name}.json`)
  fs.writeFileSync(file, JSON.stringify(job))
  return file
}
const device = (id: string, extra: Record<string, unknown> = {}) =>
  jobFile(id, { id, task: "syncDevice", payload: { deviceId: id }, trigger: { every: "1 hour" }, ...extra })

/** A store on the schema, for what the CLI cannot do (a node's heartbeat) and to check what it did. */
const storeOn = (schema: string) => Pg.makeStore({ schema })

describe("Cli (in process, PostgreSQL)", () => {
  it.live("migrate creates the store once; add, jobs (filters, pages), pause and resume print their records", () =>
    Effect.gen(function*() {
      const s = "cli_jobs"
      const first = yield* json(MigrateDoc, s, "migrate")
      assert.isAbove(first.applied.length, 0)
      assert.deepStrictEqual(first.applied, first.current)
      assert.deepStrictEqual((yield* json(MigrateDoc, s, "migrate")).applied, [])

      for (const id of ["dev-a", "dev-b", "dev-c"]) yield* json(JobDoc, s, "add", "--file", device(id))
      const { job: report } = yield* json(JobDoc, s, "add", "--file", jobFile("report", {
        id: "report-1",
        task: "report",
        trigger: { cron: "0 3 * * *", timeZone: "Europe/Berlin" },
        retry: { attempts: 3, base: "1 second" },
        timeout: "5 minutes"
      }))
      assert.strictEqual(report.timeout, 300_000)
      assert.deepStrictEqual(report.trigger, Trigger.cron("0 3 * * *", { timeZone: "Europe/Berlin" }))
      assert.strictEqual(report.retry.attempts, 3)
      assert.isNumber(report.nextFire)

      const ids = (page: { readonly jobs: ReadonlyArray<{ readonly id: string }> }) => page.jobs.map((job) => job.id)
      const all = yield* json(JobsDoc, s, "jobs")
      assert.deepStrictEqual(ids(all), ["dev-a", "dev-b", "dev-c", "report-1"])
      assert.isNull(all.next)
      const page1 = yield* json(JobsDoc, s, "jobs", "--limit", "2")
      assert.deepStrictEqual(ids(page1), ["dev-a", "dev-b"])
      assert.isNotNull(page1.next)
      const page2 = yield* json(JobsDoc, s, "jobs", "--limit", "2", "--after", page1.next ?? "")
      assert.deepStrictEqual(ids(page2), ["dev-c", "report-1"])
      assert.deepStrictEqual(ids(yield* json(JobsDoc, s, "jobs", "--task", "report")), ["report-1"])
      assert.deepStrictEqual(ids(yield* json(JobsDoc, s, "jobs", "--search", "DEV-B")), ["dev-b"])

      assert.isTrue((yield* json(JobDoc, s, "pause", "dev-b")).job.paused)
      assert.deepStrictEqual(ids(yield* json(JobsDoc, s, "jobs", "--paused")), ["dev-b"])
      assert.deepStrictEqual(ids(yield* json(JobsDoc, s, "jobs", "--active")), ["dev-a", "dev-c", "report-1"])
      assert.isFalse((yield* json(JobDoc, s, "resume", "dev-b")).job.paused)
      const bad = yield* fails(s, "jobs", "--limit", "0")
      assert.strictEqual(bad.code, 2)

      const text = yield* cli(s, "jobs", "--limit", "1")
      assert.strictEqual(text.code, 0)
      assert.match(text.stdout, /^dev-a +syncDevice +active/)
      assert.include(text.stdout, "more: steadfast jobs --after")
    }).pipe(Effect.scoped))

  it.live("show: the definition, next fires with daylight-saving notes, last runs and counts", () =>
    Effect.gen(function*() {
      const s = "cli_show"
      yield* json(MigrateDoc, s, "migrate")
      yield* json(JobDoc, s, "add", "--file", jobFile("nightly", {
        id: "nightly",
        task: "cleanup",
        trigger: { cron: "30 2 * * *", timeZone: "Europe/Berlin" }
      }))
      yield* json(RunDoc, s, "trigger", "nightly")
      // A year of daily fires crosses a spring-forward night, where 02:30 does not exist.
      const shown = yield* json(ShowDoc, s, "show", "nightly", "--fires", "370")
      assert.strictEqual(shown.job.id, "nightly")
      assert.isAtLeast(shown.nextFires.length, 370)
      assert.isTrue(shown.nextFires.every((entry) => entry.fire > shown.now))
      const shifted = shown.nextFires.find((entry) => entry.dst === "shifted")
      assert.match(shifted?.iso ?? "", /T03:00:00\+02:00$/)
      assert.isString(shifted?.note)
      assert.deepStrictEqual(shown.lastRuns.map((run) => run.manual), [true])
      assert.deepStrictEqual(shown.counts.byState, { pending: 1 })
      const text = yield* cli(s, "show", "nightly", "--fires", "370")
      assert.include(text.stdout, "shifted")
      assert.include(text.stdout, "cron \"30 2 * * *\" Europe/Berlin")
    }).pipe(Effect.scoped))

  it.live("trigger, run, history and cancel: one manual run through its life, with exit codes", () =>
    Effect.gen(function*() {
      const s = "cli_runs"
      yield* json(MigrateDoc, s, "migrate")
      yield* json(JobDoc, s, "add", "--file", device("dev-7"))
      const triggered = yield* json(RunDoc, s, "trigger", "dev-7", "--payload", "{\"deviceId\":\"99\"}")
      const run = triggered.run
      assert.isTrue(run.manual)
      assert.strictEqual(run.state, "pending")
      assert.deepStrictEqual(run.payload, { deviceId: "99" })
      assert.include(triggered.warning, "no live node")

      assert.deepStrictEqual((yield* json(RunDoc, s, "run", run.id)).run, run)
      const history = yield* json(RunsDoc, s, "history", "--job", "dev-7")
      assert.deepStrictEqual(history.runs.map((r) => r.id), [run.id])
      assert.isNull(history.next)
      assert.deepStrictEqual((yield* json(RunsDoc, s, "history", "--job", "dev-7", "--state", "failed,succeeded")).runs, [])
      assert.deepStrictEqual((yield* json(RunsDoc, s, "history", "--to", "2000-01-01T00:00:00Z")).runs, [])
      assert.strictEqual((yield* json(RunsDoc, s, "history", "--from", "2000-01-01T00:00:00Z")).runs.length, 1)

      const cancelled = yield* json(RunDoc, s, "cancel", run.id)
      assert.strictEqual(cancelled.run.state, "cancelled")
      // Again: done, as asked (a retried cancel whose first answer was lost succeeds).
      assert.strictEqual((yield* json(RunDoc, s, "cancel", run.id)).run.state, "cancelled")
      const missing = yield* fails(s, "run", "987654")
      assert.deepStrictEqual([missing.code, missing.error._tag], [1, "RunNotFound"])

      const badState = yield* fails(s, "history", "--state", "exploded")
      assert.deepStrictEqual([badState.code, badState.error._tag], [2, "InvalidInput"])
      const badCursor = yield* fails(s, "history", "--before", "not-a-cursor")
      assert.deepStrictEqual([badCursor.code, badCursor.error._tag], [2, "StoreError"])
      assert.include(badCursor.error.message, "invalid cursor")
      const badTime = yield* fails(s, "history", "--from", "yesterday-ish")
      assert.deepStrictEqual([badTime.code, badTime.error._tag], [2, "InvalidInput"])
      const badJson = yield* fails(s, "trigger", "dev-7", "--payload", "{not json")
      assert.deepStrictEqual([badJson.code, badJson.error._tag], [2, "InvalidInput"])
      const store = yield* storeOn(s)
      assert.strictEqual((yield* store.history({ jobId: "dev-7" })).length, 1, "the bad trigger stored nothing")

      // A running run: cancel asks its node to interrupt it, and says so.
      const second = yield* json(RunDoc, s, "trigger", "dev-7", "--force")
      const { runs } = yield* store.claim({ node: "node-x", tasks: ["syncDevice"], limit: 10, leaseMs: 30_000 })
      assert.deepStrictEqual(runs.map((r) => r.id), [second.run.id])
      const requested = yield* cli(s, "cancel", second.run.id)
      assert.strictEqual(requested.code, 0)
      assert.include(requested.stdout, `cancel requested for run ${second.run.id} of dev-7 (running on node-x)`)
      assert.strictEqual((yield* json(RunDoc, s, "run", second.run.id)).run.state, "running", "until its node records it")
      // Its node recorded it succeeded after all (it ended before it heard): too late to cancel, exit 1.
      const [claimed] = runs
      yield* store.finish([{ id: claimed!.id, token: claimed!.token, state: "succeeded", attempt: 1, error: null, endedAt: Date.now() }])
      const late = yield* fails(s, "cancel", second.run.id)
      assert.deepStrictEqual([late.code, late.error._tag], [1, "RunNotCancellable"])

      // Two runs, a page at a time: newest fire first, none twice.
      const newest = yield* json(RunsDoc, s, "history", "--job", "dev-7", "--limit", "1")
      assert.deepStrictEqual(newest.runs.map((r) => r.id), [second.run.id])
      const older = yield* json(RunsDoc, s, "history", "--job", "dev-7", "--limit", "1", "--before", newest.next ?? "")
      assert.deepStrictEqual(older.runs.map((r) => r.id), [run.id])
    }).pipe(Effect.scoped))

  it.live("nodes lists live nodes; trigger refuses a job whose task no live node runs, unless --force", () =>
    Effect.gen(function*() {
      const s = "cli_nodes"
      yield* json(MigrateDoc, s, "migrate")
      yield* json(JobDoc, s, "add", "--file", device("dev-1"))
      const store = yield* storeOn(s)
      yield* store.heartbeat({
        id: "node-a",
        host: "host-a",
        pid: 42,
        version: "0.4.0",
        tasks: ["report"],
        startedAt: Date.now(),
        running: 0,
        health: { status: "ok" },
        store: "up"
      })
      const nodes = yield* json(NodesDoc, s, "nodes")
      assert.deepStrictEqual(nodes.nodes.map((n) => [n.id, n.tasks]), [["node-a", ["report"]]])

      const refused = yield* fails(s, "trigger", "dev-1")
      assert.deepStrictEqual([refused.code, refused.error._tag], [1, "NoNodeRunsTask"])
      assert.strictEqual((yield* store.history({ jobId: "dev-1" })).length, 0, "nothing stored")
      const forced = yield* json(RunDoc, s, "trigger", "dev-1", "--force")
      assert.isUndefined(forced.warning)
      assert.strictEqual((yield* store.history({ jobId: "dev-1" })).length, 1)
    }).pipe(Effect.scoped))

  it.live("bad job files get the library's typed errors, exit 2, and store nothing; duplicates and unknown ids exit 1", () =>
    Effect.gen(function*() {
      const s = "cli_bad"
      yield* json(MigrateDoc, s, "migrate")
      const cron = yield* fails(s, "add", "--file", jobFile("bad-cron", { id: "bad", task: "t", trigger: { cron: "61 * * * *" } }))
      assert.deepStrictEqual([cron.code, cron.error._tag, cron.error.reason], [2, "InvalidTrigger", "InvalidCron"])
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ id: "bad", task: "t", trigger: { cron: "* * * * *", timeZone: "Mars/Olympus" } }, "InvalidTrigger"],
        [{ id: "bad", task: "t", trigger: { every: "1 hourz" } }, "InvalidTrigger"],
        [{ id: "bad id!", task: "t", trigger: { every: "1 hour" } }, "InvalidJob"],
        [{ id: "bad", task: "t", trigger: { every: "1 hour" }, timeout: "5 minutez" }, "InvalidJob"],
        [{ id: "bad", task: "t", trigger: { every: "1 hour" }, retries: 3 }, "InvalidJob"],
        [{ id: "bad", task: "t", trigger: { every: "1 hour" }, payload: "a\u0000b" }, "InvalidPayload"]
      ]
      for (const [job, tag] of cases) {
        const outcome = yield* fails(s, "add", "--file", jobFile("bad", job))
        assert.deepStrictEqual([outcome.code, outcome.error._tag], [2, tag], JSON.stringify(job))
      }
      fs.writeFileSync(path.join(dir, "garbage.json"), "{ not json")
      assert.strictEqual((yield* fails(s, "add", "--file", path.join(dir, "garbage.json"))).code, 2)
      assert.strictEqual((yield* fails(s, "add", "--file", path.join(dir, "absent.json"))).code, 2)
      const store = yield* storeOn(s)
      assert.deepStrictEqual(yield* store.list, [], "nothing stored")

      yield* json(JobDoc, s, "add", "--file", device("dev-9"))
      const duplicate = yield* fails(s, "add", "--file", device("dev-9"))
      assert.deepStrictEqual([duplicate.code, duplicate.error._tag], [1, "JobExists"])
      for (const args of [["show", "nope"], ["pause", "nope"], ["remove", "nope"], ["trigger", "nope"]]) {
        const outcome = yield* fails(s, ...args)
        assert.deepStrictEqual([outcome.code, outcome.error._tag], [1, "JobNotFound"], args.join(" "))
      }
      const text = yield* cli(s, "show", "nope")
      assert.deepStrictEqual([text.code, text.stdout, text.stderr], [1, "", "steadfast: no job with id nope"])
    }).pipe(Effect.scoped))

  it.live("update replaces the definition and keeps the paused state unless the file says; remove removes", () =>
    Effect.gen(function*() {
      const s = "cli_update"
      yield* json(MigrateDoc, s, "migrate")
      yield* json(JobDoc, s, "add", "--file", device("dev-u"))
      yield* json(JobDoc, s, "pause", "dev-u")
      const { job: updated } = yield* json(JobDoc, s, "update", "--file", device("dev-u", { trigger: { every: "2 hours" } }))
      assert.deepStrictEqual(updated.trigger, Trigger.every("2 hours"))
      assert.isTrue(updated.paused, "still paused")
      assert.isFalse((yield* json(JobDoc, s, "update", "--file", device("dev-u", { paused: false }))).job.paused)
      const missing = yield* fails(s, "update", "--file", device("dev-none"))
      assert.deepStrictEqual([missing.code, missing.error._tag], [1, "JobNotFound"])

      yield* json(Schema.Struct({ removed: Schema.Literal("dev-u") }), s, "remove", "dev-u")
      const store = yield* storeOn(s)
      assert.isTrue(Option.isNone(yield* store.get("dev-u")))
    }).pipe(Effect.scoped))

  it.live("a schema that holds no store: read-only and acting commands say so, exit 1, and create nothing", () =>
    Effect.gen(function*() {
      for (const args of [["jobs"], ["show", "x"], ["history"], ["run", "1"], ["nodes"], ["pause", "x"], ["trigger", "x"]]) {
        const text = yield* cli("steadfats", ...args)
        assert.deepStrictEqual(
          [text.code, text.stderr],
          [1, "steadfast: schema steadfats does not exist (run `steadfast migrate`)"],
          args.join(" ")
        )
      }
      const outcome = yield* fails("steadfats", "jobs")
      assert.deepStrictEqual([outcome.code, outcome.error._tag], [1, "StoreNotMigrated"])
      const sql = yield* Pg.makeClient()
      const schemas = yield* sql<{ readonly name: string }>`
        SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name = 'steadfats'`
      assert.deepStrictEqual(schemas, [], "no schema created")

      // A store that lacks a migration of this version is not used, nor migrated, by a read-only command.
      yield* json(MigrateDoc, "cli_old", "migrate")
      yield* sql`DELETE FROM cli_old.migrations WHERE id = (SELECT max(id) FROM cli_old.migrations)`
      const old = yield* cli("cli_old", "jobs")
      assert.deepStrictEqual([old.code, old.stderr], [1, "steadfast: schema cli_old needs migrations (run `steadfast migrate`)"])
    }).pipe(Effect.scoped))

  it.live("on any store: Cli.layerStore runs the same commands on an in-process store", () =>
    Effect.gen(function*() {
      const run = (...args: ReadonlyArray<string>) =>
        Cli.main([...args, "--json"], { version: "test" }).pipe(
          Effect.andThen(TestConsole.logLines),
          Effect.map((lines) => String(lines.at(-1)))
        )
      const decode = <S extends Schema.Codec<unknown, unknown>>(doc: S, text: string) =>
        Schema.decodeUnknownSync(Schema.fromJsonString(doc))(text)
      assert.deepStrictEqual(decode(MigrateDoc, yield* run("migrate")).applied, [])
      yield* run("add", "--file", device("mem-1"))
      assert.isTrue(decode(JobDoc, yield* run("pause", "mem-1")).job.paused)
      assert.isTrue(decode(RunDoc, yield* run("trigger", "mem-1")).run.manual)
      assert.deepStrictEqual(decode(JobsDoc, yield* run("jobs")).jobs.map((job) => [job.id, job.paused]), [["mem-1", true]])
    }).pipe(
      Effect.provide(Layer.mergeAll(NodeServices.layer, Cli.layerStore.pipe(Layer.provide(MemoryJobStore.layer)), TestConsole.layer))
    ))
})
