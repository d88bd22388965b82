/**
 * The commands about jobs: `jobs`, `show`, `add`, `update`, `pause`,
 * `resume`, `trigger`, `remove`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stdio from "effect/Stdio"
import * as Stream from "effect/Stream"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Payload from "../../internal/payload.ts"
import { invalidPayload } from "../../internal/jobValidation.ts"
import { JobNotFound, type StoredJob } from "../../JobStore.ts"
import * as Trigger from "../../Trigger.ts"
import type { Access } from "./connection.ts"
import { InvalidInput, NoNodeRunsTask } from "./errors.ts"
import { describeTrigger, iso, jobLine, policies, runLine } from "./format.ts"
import * as JobFile from "./jobFile.ts"
import { common, execute } from "./run.ts"

const id = Argument.String("id").pipe(Argument.withDescription("The job id"))

/** How long a node may go without a heartbeat and still count as live. @internal */
export const liveWithinMs = 30_000

const limitOf = (limit: number, max: number) =>
  Number.isInteger(limit) && limit >= 1 && limit <= max
    ? Effect.succeed(limit)
    : Effect.fail(new InvalidInput({ what: "--limit", issue: `${limit} is not a whole number from 1 to ${max}` }))

const found = (access: Access, jobId: string) =>
  Effect.gen(function*() {
    const store = yield* access.store
    const job = yield* store.get(jobId)
    if (Option.isNone(job)) return yield* new JobNotFound({ id: jobId })
    return { store, job: job.value }
  })

const jobs = Command.make("jobs", {
  task: Flag.String("task").pipe(Flag.withDescription("Only jobs of this task"), Flag.optional),
  paused: Flag.Boolean("paused").pipe(Flag.withDescription("Only paused jobs"), Flag.withDefault(false)),
  active: Flag.Boolean("active").pipe(Flag.withDescription("Only jobs that are not paused"), Flag.withDefault(false)),
  search: Flag.String("search").pipe(Flag.withDescription("Only jobs whose id contains this text (ASCII letters in any case)"), Flag.optional),
  limit: Flag.Int("limit").pipe(Flag.withDescription("At most this many (1 to 1000)"), Flag.withDefault(50)),
  after: Flag.String("after").pipe(Flag.withDescription("The page after this cursor (the `next` of the previous page)"), Flag.optional),
  ...common
}, (input) =>
  execute("jobs", input, (access) =>
    Effect.gen(function*() {
      const limit = yield* limitOf(input.limit, 1_000)
      if (input.paused && input.active) return yield* new InvalidInput({ what: "--paused and --active", issue: "choose one" })
      const store = yield* access.store
      const page = yield* store.listJobs({
        task: Option.getOrUndefined(input.task),
        paused: input.paused ? true : input.active ? false : undefined,
        text: Option.getOrUndefined(input.search),
        after: Option.getOrUndefined(input.after),
        limit
      })
      const more = page.next === null ? [] : [`more: steadfast jobs --after ${page.next}`]
      return {
        json: { jobs: page.jobs, next: page.next },
        text: page.jobs.length === 0 ? ["no jobs"] : [...page.jobs.map(jobLine), ...more]
      }
    }))).pipe(Command.withDescription("List jobs, ordered by id, a page at a time"))

const show = Command.make("show", {
  id,
  fires: Flag.Int("fires").pipe(Flag.withDescription("How many next fires (1 to 1000)"), Flag.withDefault(5)),
  last: Flag.Int("last").pipe(Flag.withDescription("How many recent runs (1 to 1000)"), Flag.withDefault(10)),
  ...common
}, (input) =>
  execute("show", input, (access) =>
    Effect.gen(function*() {
      const fires = yield* limitOf(input.fires, 1_000)
      const last = yield* limitOf(input.last, 1_000)
      const { job, store } = yield* found(access, input.id)
      const now = yield* store.now
      const next = Trigger.preview(job.trigger, now, fires)
      const runs = yield* store.history({ jobId: job.id, limit: last })
      const since = now - 86_400_000
      const counts = yield* store.stateCounts(job.id, since)
      return {
        json: { job, now, nextFires: next, lastRuns: runs, counts: { since, byState: counts } },
        text: showLines(job, next, runs, counts)
      }
    }))).pipe(Command.withDescription("A job: its definition, its next fires (with what daylight saving does to them), its last runs"))

const showLines = (
  job: StoredJob,
  next: ReadonlyArray<Trigger.PreviewEntry>,
  runs: ReadonlyArray<Parameters<typeof runLine>[0]>,
  counts: Record<string, number>
): ReadonlyArray<string> => [
  `job ${job.id}: task ${job.task}, ${job.paused ? "paused" : "active"}, ${job.source}, updated ${iso(job.updatedAt)}`,
  ...(job.setAside ? [`  set aside: ${job.setAside}`] : []),
  `  trigger   ${describeTrigger(job.trigger)}`,
  `  payload   ${JSON.stringify(job.payload)}`,
  `  policies  ${policies(job)}`,
  "next fires:",
  ...(next.length === 0 ? ["  none"] : next.map((entry) =>
    `  ${entry.iso}${entry.note === undefined ? "" : `  (${entry.decisions?.join(", ") ?? entry.dst}: ${entry.note})`}`
  )),
  "last runs:",
  ...(runs.length === 0 ? ["  none"] : runs.map((run) => `  ${runLine(run)}`)),
  `last 24 h: ${Object.entries(counts).map(([state, n]) => `${state} ${n}`).join(", ") || "no runs"}`
]

const file = Flag.String("file").pipe(
  Flag.withAlias("f"),
  Flag.withDescription("The job as JSON (`-`, or no --file: read stdin)"),
  Flag.optional
)

const readText = (path: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isSome(path) && path.value !== "-") {
      const fs = yield* FileSystem.FileSystem
      return yield* Effect.mapError(
        fs.readFileString(path.value),
        (error) => new InvalidInput({ what: `--file ${path.value}`, issue: error.message })
      )
    }
    const stdio = yield* Stdio.Stdio
    if (Option.isNone(path) && (yield* stdio.stdinIsTerminal)) {
      return yield* new InvalidInput({ what: "job", issue: "give --file job.json, or the job as JSON on stdin" })
    }
    return yield* stdio.stdin.pipe(
      Stream.decodeText(),
      Stream.mkString,
      Effect.mapError((error) => new InvalidInput({ what: "stdin", issue: error.message }))
    )
  })

const jobHelp = "Its form: {\"id\", \"task\", \"payload\", \"trigger\": {\"cron\": \"0 3 * * *\", \"timeZone\": \"Europe/Berlin\"} | " +
  "{\"every\": \"2 hours\"} | {\"once\": \"2026-12-24T10:00:00Z\"}, \"overlap\", \"misfire\", \"retry\", \"timeout\", \"onLost\", " +
  "\"paused\"} (durations as ms or \"5 minutes\"). Checked before anything is stored; the payload against the task's " +
  "schema only where the task runs (this bin has no task code)."

const add = Command.make("add", { file, ...common }, (input) =>
  execute("add", input, (access) =>
    Effect.gen(function*() {
      // Checked in full before the store is asked anything.
      const { job } = yield* JobFile.decode(yield* readText(input.file))
      const store = yield* access.store
      const stored = yield* store.add(job)
      return { json: { job: stored }, text: [`added ${stored.id}: next fire ${iso(stored.nextFire)}`] }
    }))).pipe(
      Command.withDescription(`Add a job from a JSON file or stdin. ${jobHelp}`),
      Command.withShortDescription("Add a job from a JSON file or stdin (checked before anything is stored)")
    )

const update = Command.make("update", { file, ...common }, (input) =>
  execute("update", input, (access) =>
    Effect.gen(function*() {
      const { job, pausedGiven } = yield* JobFile.decode(yield* readText(input.file))
      const { store, job: before } = yield* found(access, job.id)
      // A file that does not say `paused` leaves the job paused or not, as it is.
      const stored = yield* store.update(pausedGiven ? job : { ...job, paused: before.paused })
      return { json: { job: stored }, text: [`updated ${stored.id}: next fire ${iso(stored.nextFire)}`] }
    }))).pipe(
      Command.withDescription(`Replace a job's definition (the id in the file names it). ${jobHelp}`),
      Command.withShortDescription("Replace a job's definition from a JSON file or stdin")
    )

const setPaused = (name: "pause" | "resume", paused: boolean, description: string) =>
  Command.make(name, { id, ...common }, (input) =>
    execute(name, input, (access) =>
      Effect.gen(function*() {
        const store = yield* access.store
        const job = yield* store.setPaused(input.id, paused)
        return { json: { job }, text: [jobLine(job)] }
      }))).pipe(Command.withDescription(description))

const trigger = Command.make("trigger", {
  id,
  payload: Flag.String("payload").pipe(Flag.withDescription("Run with this JSON payload instead of the job's"), Flag.optional),
  force: Flag.Boolean("force").pipe(
    Flag.withDescription("Queue the run even when no live node runs the job's task"),
    Flag.withDefault(false)
  ),
  ...common
}, (input) =>
  execute("trigger", input, (access) =>
    Effect.gen(function*() {
      const payload = yield* parsePayload(input.payload)
      const { store, job } = yield* found(access, input.id)
      if (payload !== undefined) {
        const problem = Payload.check(payload, Payload.defaultMaxBytes)
        if (problem !== undefined) return yield* invalidPayload(job.id, job.task, problem)
      }
      const nodes = yield* store.nodes(liveWithinMs)
      const runners = nodes.filter((node) => node.tasks.includes(job.task))
      if (nodes.length > 0 && runners.length === 0 && !input.force) {
        return yield* new NoNodeRunsTask({ jobId: job.id, task: job.task, nodes: nodes.map((node) => node.id) })
      }
      const warning = nodes.length === 0
        ? `no live node reports its tasks: the run waits for a node that runs task ${job.task}`
        : undefined
      const run = yield* store.triggerNow(job.id, payload)
      return {
        json: { run, ...(warning === undefined ? {} : { warning }) },
        text: [`triggered ${job.id}: run ${run.id}, fire ${iso(run.fireTime)}`],
        notes: warning === undefined ? [] : [warning]
      }
    }))).pipe(
      Command.withDescription(
        "Run a job now, besides its schedule. The payload must be JSON; it is checked against the task's schema where " +
          "the task runs (this bin has no task code). Refused when live nodes report their tasks and none runs this one."
      ),
      Command.withShortDescription("Run a job now, besides its schedule (optionally with another JSON payload)")
    )

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Json))

const parsePayload = (text: Option.Option<string>) =>
  Option.isNone(text) ? Effect.succeed(undefined) : Effect.mapError(
    decodeJson(text.value),
    (error) => new InvalidInput({ what: "--payload", issue: `not JSON: ${error.message}` })
  )

const remove = Command.make("remove", { id, ...common }, (input) =>
  execute("remove", input, (access) =>
    Effect.gen(function*() {
      const store = yield* access.store
      if (!(yield* store.remove(input.id))) return yield* new JobNotFound({ id: input.id })
      return { json: { removed: input.id }, text: [`removed ${input.id}`] }
    }))).pipe(Command.withDescription("Remove a job: its pending runs are cancelled, running ones finish; its history stays"))

/** The job commands. @internal */
export const commands = [
  jobs,
  show,
  add,
  update,
  setPaused("pause", true, "Pause a job: its fires wait until it is resumed (the misfire policy decides what then)"),
  setPaused("resume", false, "Resume a paused job"),
  trigger,
  remove
] as const
