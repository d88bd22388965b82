/**
 * The commands about runs and the cluster: `history`, `run`, `cancel`,
 * `nodes`, `migrate`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Job from "../../Job.ts"
import { RunNotFound } from "../../JobStore.ts"
import * as Run from "../../Run.ts"
import { InvalidInput } from "./errors.ts"
import { nodeLine, runLine, runLines } from "./format.ts"
import { liveWithinMs } from "./jobCommands.ts"
import { common, execute, timeoutMs } from "./run.ts"

const runId = Argument.String("run-id").pipe(Argument.withDescription("The run id (from history, or trigger's output)"))

const isState = (u: string): u is Run.State => (Run.State.literals as ReadonlyArray<string>).includes(u)
const isJobId = Schema.is(Job.JobId)

// An instant as an operator writes it: ISO 8601, or epoch milliseconds.
const instant = (flag: string, text: Option.Option<string>) => {
  if (Option.isNone(text)) return Effect.succeed(undefined)
  const ms = /^\d+$/.test(text.value) ? Number(text.value) : Date.parse(text.value)
  return Number.isSafeInteger(ms)
    ? Effect.succeed(ms)
    : Effect.fail(new InvalidInput({ what: flag, issue: `${text.value} is not an instant (ISO 8601, or epoch ms)` }))
}

const history = Command.make("history", {
  job: Flag.String("job").pipe(Flag.withDescription("Only runs of this job"), Flag.optional),
  state: Flag.String("state").pipe(
    Flag.withDescription(`Only runs in these states, comma-separated (${Run.State.literals.join(", ")})`),
    Flag.optional
  ),
  from: Flag.String("from").pipe(Flag.withDescription("Only fires at or after this instant (ISO 8601 or epoch ms)"), Flag.optional),
  to: Flag.String("to").pipe(Flag.withDescription("Only fires before this instant (ISO 8601 or epoch ms)"), Flag.optional),
  limit: Flag.Int("limit").pipe(Flag.withDescription("At most this many (1 to 1000)"), Flag.withDefault(20)),
  before: Flag.String("before").pipe(Flag.withDescription("The page after this cursor (the `next` of the previous page)"), Flag.optional),
  ...common
}, (input) =>
  execute("history", input, (access) =>
    Effect.gen(function*() {
      if (!Number.isInteger(input.limit) || input.limit < 1 || input.limit > 1_000) {
        return yield* new InvalidInput({ what: "--limit", issue: `${input.limit} is not a whole number from 1 to 1000` })
      }
      const jobId = Option.getOrUndefined(input.job)
      if (jobId !== undefined && !isJobId(jobId)) return yield* new InvalidInput({ what: "--job", issue: `${jobId} is not a job id` })
      const states = Option.isNone(input.state) ? undefined : input.state.value.split(",").map((s) => s.trim())
      const unknown = states?.find((s) => !isState(s))
      if (unknown !== undefined) {
        return yield* new InvalidInput({ what: "--state", issue: `${unknown} is not a run state (${Run.State.literals.join(", ")})` })
      }
      const from = yield* instant("--from", input.from)
      const to = yield* instant("--to", input.to)
      const store = yield* access.store
      const page = yield* store.historyPage({
        jobId,
        states: states?.filter(isState),
        from,
        to,
        limit: input.limit,
        before: Option.getOrUndefined(input.before)
      })
      const more = page.next === null ? [] : [`more: steadfast history --before ${page.next}`]
      return {
        json: { runs: page.runs, next: page.next },
        text: page.runs.length === 0 ? ["no runs"] : [...page.runs.map(runLine), ...more]
      }
    }))).pipe(Command.withDescription("What ran, and what did not and why: newest fire first, a page at a time"))

const run = Command.make("run", { id: runId, ...common }, (input) =>
  execute("run", input, (access) =>
    Effect.gen(function*() {
      const store = yield* access.store
      const record = yield* store.getRun(input.id)
      if (Option.isNone(record)) return yield* new RunNotFound({ id: input.id })
      return { json: { run: record.value }, text: runLines(record.value) }
    }))).pipe(Command.withDescription("One run's record"))

const cancel = Command.make("cancel", { id: runId, ...common }, (input) =>
  execute("cancel", input, (access) =>
    Effect.gen(function*() {
      const store = yield* access.store
      const record = yield* store.cancel(input.id)
      const text = record.state === "running"
        ? `cancel requested for run ${record.id} of ${record.jobId} (running on ${record.node ?? "a node"}): that node interrupts it and records it cancelled`
        : `cancelled run ${record.id} of ${record.jobId}`
      return { json: { run: record }, text: [text] }
    }))).pipe(Command.withDescription("Cancel a pending or running run (a running one is interrupted by its node within seconds)"))

const nodes = Command.make("nodes", {
  staleAfter: Flag.String("stale-after").pipe(
    Flag.withDescription(`Count a node live if its last heartbeat is at most this old (default ${liveWithinMs / 1000}s)`),
    Flag.optional
  ),
  ...common
}, (input) =>
  execute("nodes", input, (access) =>
    Effect.gen(function*() {
      const within = Option.isNone(input.staleAfter) ? liveWithinMs : timeoutMs(input.staleAfter.value)
      if (within === undefined) {
        return yield* new InvalidInput({ what: "--stale-after", issue: `${Option.getOrElse(input.staleAfter, () => "")} is not a positive duration` })
      }
      const store = yield* access.store
      const now = yield* store.now
      const live = yield* store.nodes(within)
      return {
        json: { nodes: live, now },
        text: live.length === 0 ? ["no live nodes"] : live.map((node) => nodeLine(node, now))
      }
    }))).pipe(Command.withDescription("The live nodes of the cluster: host, pid, version, runs in progress, store status, tasks"))

const migrate = Command.make("migrate", { ...common }, (input) =>
  execute("migrate", input, (access) =>
    Effect.gen(function*() {
      const report = yield* access.migrate
      const what = report.applied.length === 0
        ? `schema ${report.schema} is up to date`
        : `schema ${report.schema}: applied migration${report.applied.length === 1 ? "" : "s"} ${report.applied.join(", ")}`
      return { json: report, text: [`${what} (${report.target})`] }
    }), 60_000)).pipe(
      Command.withDescription(
        "Create the store's schema and tables, or bring them up to date: the only command that creates them " +
          "(safe to run again, and from several processes at once)"
      ),
      Command.withShortDescription("Create the store's schema and tables, or bring them up to date")
    )

/** The run and cluster commands. @internal */
export const commands = [history, run, cancel, nodes, migrate] as const
