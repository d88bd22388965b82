/**
 * A command-line interface to the schedules in a store: list, preview,
 * pause, resume, trigger, remove, and read history, from a terminal or a
 * deploy script, while the scheduler runs elsewhere.
 *
 * It talks to the `JobStore` only (PostgreSQL's notifications wake the
 * running schedulers at once), so it needs no task code. Embed `Cli.command`
 * in your own binary with your store layer, or run the package's `steadfast`
 * bin (`DATABASE_URL=postgres://... npx steadfast jobs`). It lives in the
 * `steadfast/cli` entry point so that importing `steadfast` never loads
 * `effect/cli`.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import { JobNotFound, JobStore, type StoredJob } from "../JobStore.ts"
import * as Trigger from "../Trigger.ts"

const describeTrigger = (trigger: Trigger.Trigger): string => {
  switch (trigger._tag) {
    case "Cron":
      return `cron "${trigger.expression}" ${trigger.timeZone}`
    case "Interval":
      return `every ${trigger.every} ms`
    case "Calendar":
      return `every ${trigger.count} ${trigger.unit}${trigger.count === 1 ? "" : "s"} ${trigger.timeZone}`
    case "Once":
      return `once at ${new Date(trigger.at).toISOString()}`
  }
}

const iso = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString())

const line = (job: StoredJob) =>
  `${job.id.padEnd(24)} ${job.task.padEnd(18)} ${job.paused ? "paused " : "active "} next ${iso(job.nextFire)}  ${
    describeTrigger(job.trigger)
  }`

const id = Argument.String("id").pipe(Argument.withDescription("The job id"))

const jobs = Command.make("jobs", {}, () =>
  Effect.gen(function*() {
    const store = yield* JobStore
    const all = yield* store.list
    if (all.length === 0) return yield* Console.log("no jobs")
    for (const job of all) yield* Console.log(line(job))
  })).pipe(Command.withDescription("List the stored schedules"))

const found = (jobId: string) =>
  JobStore.use((store) => Effect.flatMap(store.get(jobId), Option.match({
    onNone: () => Effect.fail(new JobNotFound({ id: jobId })),
    onSome: Effect.succeed
  })))

const preview = Command.make(
  "preview",
  { id, count: Flag.Int("count").pipe(Flag.withDescription("How many fires"), Flag.withDefault(10)) },
  ({ id, count }) =>
    Effect.gen(function*() {
      const job = yield* found(id)
      const now = yield* (yield* JobStore).now
      for (const entry of Trigger.preview(job.trigger, now, count)) {
        const marks = entry.decisions?.join(", ") ?? entry.dst
        yield* Console.log(`${entry.iso}${entry.note === undefined ? "" : `  (${marks}: ${entry.note})`}`)
      }
    })
).pipe(Command.withDescription("Show a job's next fires, marking what DST changes do to them"))

const pause = Command.make("pause", { id }, ({ id }) =>
  JobStore.use((store) => Effect.flatMap(store.setPaused(id, true), (job) => Console.log(line(job)))))
  .pipe(Command.withDescription("Pause a job: its fires wait until it is resumed"))

const resume = Command.make("resume", { id }, ({ id }) =>
  JobStore.use((store) => Effect.flatMap(store.setPaused(id, false), (job) => Console.log(line(job)))))
  .pipe(Command.withDescription("Resume a paused job"))

const trigger = Command.make(
  "trigger",
  {
    id,
    payload: Flag.String("payload").pipe(
      Flag.withDescription("Run with this JSON payload instead of the job's"),
      Flag.withSchema(Schema.fromJsonString(Schema.Json)),
      Flag.optional
    )
  },
  ({ id, payload }) =>
    Effect.gen(function*() {
      const store = yield* JobStore
      const record = yield* store.triggerNow(
        id,
        Option.getOrUndefined(payload)
      )
      yield* Console.log(`triggered ${id}: fire ${iso(record.fireTime)} (run ${record.id})`)
    })
).pipe(Command.withDescription("Run a job now, besides its schedule"))

const remove = Command.make("remove", { id }, ({ id }) =>
  JobStore.use((store) =>
    Effect.flatMap(store.remove(id), (existed) => existed ? Console.log(`removed ${id}`) : Effect.fail(new JobNotFound({ id }))))
).pipe(Command.withDescription("Remove a job; its history stays"))

const history = Command.make(
  "history",
  {
    id: Argument.String("id").pipe(Argument.withDescription("Only this job"), Argument.optional),
    limit: Flag.Int("limit").pipe(Flag.withDefault(20))
  },
  ({ id, limit }) =>
    Effect.gen(function*() {
      const store = yield* JobStore
      const records = yield* store.history({ jobId: Option.getOrUndefined(id), limit })
      for (const r of records) {
        yield* Console.log(
          `${iso(r.fireTime)} ${r.jobId.padEnd(24)} ${r.state.padEnd(10)} attempt ${r.attempt} ${r.node ?? "-"}${
            r.error ? `  error: ${r.error.split("\n")[0]}` : ""
          }${r.note ? `  (${r.note})` : ""}`
        )
      }
    })
).pipe(Command.withDescription("What ran, and what did not and why, newest first"))

/**
 * The `steadfast` command and its subcommands. Needs a `JobStore`.
 *
 * @example
 * ```ts
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import * as NodeServices from "@effect/platform-node/NodeServices"
 * import { Effect, Layer } from "effect"
 * import { Command } from "effect/cli"
 * import { MemoryJobStore } from "steadfast"
 * import { Cli } from "steadfast/cli"
 *
 * Cli.command.pipe(
 *   Command.run({ version: "0.1.0" }),
 *   Effect.provide(Layer.merge(NodeServices.layer, MemoryJobStore.layer)),
 *   NodeRuntime.runMain
 * )
 * ```
 *
 * @since 0.1.0
 */
export const command = Command.make("steadfast").pipe(
  Command.withDescription("Inspect and change Steadfast schedules"),
  Command.withSubcommands([jobs, preview, pause, resume, trigger, remove, history])
)
