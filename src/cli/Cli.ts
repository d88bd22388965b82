/**
 * The command-line interface to a store's jobs and runs: list, show, add,
 * update, pause, resume, trigger, remove, history, one run, cancel, the
 * live nodes, and migrate, from a terminal or a deploy script, while the
 * schedulers run elsewhere.
 *
 * Every command takes `--json` (one JSON document on stdout, errors
 * included) and `--timeout` (its deadline), prints errors as one line, and
 * exits with a code a script can act on (`ExitCode`). It needs no task
 * code: it talks to the store (PostgreSQL's notifications wake the running
 * schedulers at once). Run the package's `steadfast` bin
 * (`DATABASE_URL=postgres://... npx steadfast jobs`), or embed `command`
 * in your own binary with `main` and a `Connection` (`layerPostgres`, or
 * `layerStore` on any store). It lives in the `steadfast/cli` entry point
 * so that importing `steadfast` never loads `effect/cli`.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as CliError from "effect/cli/CliError"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import { Reported } from "./internal/errors.ts"
import * as JobCommands from "./internal/jobCommands.ts"
import * as RunCommands from "./internal/runCommands.ts"
import { report } from "./internal/run.ts"

export {
  /**
   * What one command reaches its store through.
   *
   * @since 0.4.0
   */
  type Access,
  Connection,
  layerPostgres,
  layerStore,
  /**
   * What `migrate` did.
   *
   * @since 0.4.0
   */
  type MigrateReport,
  /**
   * Options of `layerPostgres`.
   *
   * @since 0.4.0
   */
  type PostgresOptions
} from "./internal/connection.ts"

/**
 * The exit codes of the commands: `ok` 0; `operational` 1, a typed error
 * about the things asked for (no such job or run, a job that exists
 * already, a run that has ended, a schema without a store, a task no live
 * node runs); `usage` 2, bad usage or input (flags, arguments, JSON, a job
 * definition or payload that fails validation, no `DATABASE_URL`);
 * `unreachable` 3, the database could not be reached or did not answer
 * within the deadline.
 *
 * @example
 * ```ts
 * import { Cli } from "steadfast/cli"
 *
 * const retryLater = (code: number) => code === Cli.ExitCode.unreachable
 * ```
 *
 * @since 0.4.0
 */
export { ExitCode } from "./internal/errors.ts"

const description = `Inspect and change Steadfast schedules in PostgreSQL.

Environment:
  DATABASE_URL      postgres://user:password@host:5432/database (required by every command)
  STEADFAST_SCHEMA  the store's schema (default steadfast, as PgJobStore.layer)

Only \`migrate\` creates the schema and its tables; every other command needs them
and says "schema X does not exist (run \`steadfast migrate\`)" otherwise, creating nothing.

--json prints one JSON document on stdout: the result, or {"error": {"_tag", "message",
"exitCode", ...}} (also on stdout). Without it, errors are one line on stderr.

Exit codes: 0 ok; 1 a typed operational error (no such job or run, a job that exists,
a run that has ended, no store in the schema, no live node runs the task); 2 usage or
bad input (flags, JSON, an invalid job or payload, DATABASE_URL not set); 3 the database
cannot be reached or did not answer within --timeout (default 10 s; connecting gives up
after 5 s).`

/**
 * The `steadfast` command and its subcommands. Needs a `Connection`; run
 * it with `main` for the exit codes and one-line errors.
 *
 * @example
 * ```ts
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import * as NodeServices from "@effect/platform-node/NodeServices"
 * import { Effect, Layer } from "effect"
 * import { MemoryJobStore } from "steadfast"
 * import { Cli } from "steadfast/cli"
 *
 * Cli.main(process.argv.slice(2), { version: "0.1.0" }).pipe(
 *   Effect.provide(Layer.mergeAll(NodeServices.layer, Cli.layerStore.pipe(Layer.provide(MemoryJobStore.layer)))),
 *   NodeRuntime.runMain
 * )
 * ```
 *
 * @since 0.1.0
 */
export const command = Command.make("steadfast").pipe(
  Command.withDescription(description),
  Command.withSubcommands([...JobCommands.commands, ...RunCommands.commands])
)

// Usage errors as one line (or the JSON error document) instead of the help
// page followed by the errors; help asked for (or no command) as usual.
const presenter = (json: boolean): CliOutput.Presenter => ({
  present: (event) =>
    event._tag !== "InvalidInvocation" ? CliOutput.defaultPresenter.present(event) : Effect.gen(function*() {
      const [first] = event.errors
      const message = event.errors.map((error) => error.message.split("\n")[0]).join("; ")
      const path = event.commandPath.join(" ")
      if (json) {
        const tag = first === undefined ? "UsageError" : first._tag
        return yield* Console.log(JSON.stringify({ error: { _tag: tag, message, exitCode: 2 } }))
      }
      yield* Console.error(`steadfast: ${message} (see \`${path} --help\`)`)
    })
})

const wantsJson = (args: ReadonlyArray<string>): boolean => {
  const end = args.indexOf("--")
  return (end === -1 ? args : args.slice(0, end)).includes("--json")
}

/**
 * Runs `command` on `args` (without the program's name): prints the result
 * or the error, and fails, when it fails, only with an error that carries
 * its exit code (`Runtime.errorExitCode`) and is marked reported, so
 * `NodeRuntime.runMain` exits with that code and prints nothing more.
 *
 * @example
 * ```ts
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import * as NodeServices from "@effect/platform-node/NodeServices"
 * import { Effect, Layer } from "effect"
 * import { Cli } from "steadfast/cli"
 *
 * const connection = Cli.layerPostgres({ url: process.env["DATABASE_URL"], schema: "jobs" })
 * Cli.main(process.argv.slice(2), { version: "1.0.0" }).pipe(
 *   Effect.provide(Layer.merge(NodeServices.layer, connection)),
 *   NodeRuntime.runMain
 * )
 * ```
 *
 * @since 0.4.0
 */
export const main = (args: ReadonlyArray<string>, options: { readonly version: string }) => {
  const json = wantsJson(args)
  return Command.runWith(command, { version: options.version })(args).pipe(
    Effect.provide(CliOutput.layerPresenter(presenter(json))),
    // Stdout is the commands' output (one JSON document with --json): logs go to stderr.
    Effect.provideService(Logger.LogToStderr, true),
    Effect.catch((error): Effect.Effect<never, Reported> => {
      if (error instanceof Reported) return Effect.fail(error)
      // Help shown: for errors (already printed, one line) and for no command at all.
      if (CliError.isCliError(error) && error._tag === "ShowHelp") return Effect.fail(new Reported({ code: 2 }))
      return report(json, error)
    }),
    Effect.withSpan("Cli.main", { attributes: { command: args.find((arg) => !arg.startsWith("-")) ?? "" } })
  )
}

/**
 * Whether a value is the error `main` fails with (already printed): `code`
 * is the exit code.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Cli } from "steadfast/cli"
 *
 * const exitCode = (program: Effect.Effect<void, unknown>) =>
 *   program.pipe(Effect.as(0), Effect.catch((error) => Effect.succeed(Cli.isExit(error) ? error.code : 1)))
 * ```
 *
 * @since 0.4.0
 */
export const isExit = (u: unknown): u is Reported => u instanceof Reported
