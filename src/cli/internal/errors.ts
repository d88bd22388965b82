/**
 * The CLI's own errors, and how every error a command can meet is told to a
 * person (one line, no stack trace) or to a program (a JSON object), with
 * its exit code:
 *
 * - 0 ok;
 * - 1 a typed operational error (no such job or run, a job that exists
 *   already, a run that has ended, a schema without a store, a task no live
 *   node runs);
 * - 2 usage or bad input (flags, arguments, JSON, a job definition, a
 *   payload; a missing `DATABASE_URL`);
 * - 3 the database could not be reached or did not answer in time.
 *
 * @internal
 */
import * as Predicate from "effect/Predicate"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import { StoreError } from "../../StoreError.ts"

/** Exit codes of the `steadfast` bin. @internal */
export const ExitCode = { ok: 0, operational: 1, usage: 2, unreachable: 3 } as const

/**
 * Input the command cannot use: a flag value, a JSON document, a file.
 *
 * @internal
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  what: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `${this.what}: ${this.issue}`
  }
}

/** `DATABASE_URL` is not set. @internal */
export class MissingDatabaseUrl extends Schema.TaggedError<MissingDatabaseUrl>()("MissingDatabaseUrl", {}) {
  override get message(): string {
    return "DATABASE_URL is not set (e.g. DATABASE_URL=postgres://user:password@host:5432/app)"
  }
}

/** The command did not finish within its deadline (`--timeout`). @internal */
export class CommandTimeout extends Schema.TaggedError<CommandTimeout>()("CommandTimeout", {
  command: Schema.String,
  ms: Schema.Number,
  target: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const where = this.target === undefined ? "" : ` (${this.target})`
    return `${this.command} did not finish within ${this.ms} ms${where}; raise --timeout if the database is only slow`
  }
}

/**
 * Live nodes report the tasks they run, and none runs this job's task: a
 * manual run would wait for ever.
 *
 * @internal
 */
export class NoNodeRunsTask extends Schema.TaggedError<NoNodeRunsTask>()("NoNodeRunsTask", {
  jobId: Schema.String,
  task: Schema.String,
  nodes: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `no live node runs task ${this.task} of job ${this.jobId} (live nodes: ${this.nodes.join(", ")}); ` +
      `pass --force to queue the run anyway`
  }
}

/**
 * An error already told to the user: carries the exit code to the process,
 * and is not reported again.
 *
 * @internal
 */
export class Reported extends Schema.TaggedError<Reported>()("Reported", { code: Schema.Number }) {
  override readonly [Runtime.errorExitCode] = this.code
  override readonly [Runtime.errorReported] = false
}

const tagOf = (error: unknown): string =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : "Error"

// SqlError reasons that mean "no database to talk to" (not "the database said no").
const unreachableReasons = /^(Deadline|ConnectionError|AuthenticationError)\b/

const usageTags = new Set([
  "InvalidInput",
  "MissingDatabaseUrl",
  "InvalidJob",
  "InvalidTrigger",
  "InvalidPayload",
  "InvalidQuery",
  "UnknownTask",
  "ShowHelp"
])

/** The exit code of an error. @internal */
export const exitCodeOf = (error: unknown): number => {
  if (error instanceof Reported) return error.code
  if (error instanceof StoreError) {
    if (error.reason === "InvalidOptions" || error.reason === "InvalidCursor") return ExitCode.usage
    return error.retryable || unreachableReasons.test(error.reason) ? ExitCode.unreachable : ExitCode.operational
  }
  const tag = tagOf(error)
  if (tag === "CommandTimeout") return ExitCode.unreachable
  return usageTags.has(tag) || isParseError(error) ? ExitCode.usage : ExitCode.operational
}

// effect/cli's parse errors (unknown flag, missing argument, bad value).
const isParseError = (error: unknown): boolean =>
  Predicate.hasProperty(error, "~effect/cli/CliError") ||
  ["UnrecognizedOption", "DuplicateOption", "MissingOption", "MissingArgument", "UnexpectedArgument", "InvalidValue", "UnknownSubcommand", "ValidationError"]
    .includes(tagOf(error))

const causeMessage = (cause: unknown): string =>
  Predicate.hasProperty(cause, "message") && typeof cause.message === "string" && cause.message !== ""
    ? cause.message
    : String(cause)

/**
 * One line for a person. A store that cannot be reached says which database
 * and why, without the `StoreError` framing.
 *
 * @internal
 */
export const messageOf = (error: unknown): string => {
  if (error instanceof StoreError) {
    const detail = firstLine(causeMessage(error.cause))
    const where = error.target === undefined ? "the database" : error.target
    if (error.reason === "InvalidOptions") return `invalid store settings: ${detail}`
    if (error.reason === "InvalidCursor") return `invalid cursor: ${detail}`
    if (exitCodeOf(error) === ExitCode.unreachable) return `cannot reach ${where}: ${detail} (${error.reason})`
    return `${where} refused ${error.operation}: ${detail} (${error.reason})`
  }
  if (tagOf(error) === "StoreNotMigrated" && Predicate.hasProperty(error, "schema")) {
    const exists = Predicate.hasProperty(error, "exists") && error.exists === true
    return exists
      ? `schema ${String(error.schema)} needs migrations (run \`steadfast migrate\`)`
      : `schema ${String(error.schema)} does not exist (run \`steadfast migrate\`)`
  }
  return firstLine(causeMessage(error))
}

// Effect's parse errors sometimes spread a suggestion over more lines.
const firstLine = (text: string): string => text.split("\n").map((line) => line.trim()).filter((line) => line !== "").join(" ")

/**
 * The JSON form of an error: `{ "error": { "_tag", "message", "exitCode", ... } }`,
 * with the error's own scalar fields (`id`, `schema`, `reason`, ...).
 *
 * @internal
 */
export const jsonOf = (error: unknown): { readonly error: Record<string, unknown> } => {
  const fields: Record<string, unknown> = {}
  if (Predicate.isObject(error)) {
    for (const [key, value] of Object.entries(error)) {
      if (key === "cause" || key === "_tag" || key === "stack") continue
      if (value === null || ["string", "number", "boolean"].includes(typeof value)) fields[key] = value
      else if (Array.isArray(value) && value.every((v) => typeof v === "string" || typeof v === "number")) fields[key] = value
      else if (Predicate.hasProperty(value, "_tag") && typeof value._tag === "string") fields[key] = value._tag
    }
  }
  return { error: { ...fields, _tag: tagOf(error), message: messageOf(error), exitCode: exitCodeOf(error) } }
}
