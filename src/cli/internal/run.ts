/**
 * What every command shares: the `--json` and `--timeout` flags, the
 * command's deadline, and how its result or its error is printed (one JSON
 * document on stdout with `--json`, errors included; otherwise lines on
 * stdout and errors as one line on stderr) with the exit code.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Flag from "effect/cli/Flag"
import * as DurationInput from "../../internal/durationInput.ts"
import { type Access, Connection } from "./connection.ts"
import { CommandTimeout, exitCodeOf, InvalidInput, jsonOf, messageOf, Reported } from "./errors.ts"

/** The flags of every command. @internal */
export const common = {
  json: Flag.Boolean("json").pipe(
    Flag.withDescription("Print one JSON document on stdout; an error too, as {\"error\": {\"_tag\", \"message\", \"exitCode\", ...}}"),
    Flag.withDefault(false)
  ),
  timeout: Flag.String("timeout").pipe(
    Flag.withDescription("The command's deadline: 10s, 500ms, \"30 seconds\" (default 10 s, migrate 60 s; connecting gives up after 5 s)"),
    Flag.optional
  )
}

/** @internal */
export interface Common {
  readonly json: boolean
  readonly timeout: Option.Option<string>
}

/** What a command prints: `json` with `--json`, else `text` on stdout and `notes` on stderr. @internal */
export interface Output {
  readonly json: unknown
  readonly text: ReadonlyArray<string>
  readonly notes?: ReadonlyArray<string> | undefined
}

const shorthand = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/

/** A `--timeout` value in ms. @internal */
export const timeoutMs = (text: string): number | undefined => {
  const short = shorthand.exec(text.trim())
  const ms = short === null
    ? DurationInput.decodeMillis(text)
    : Number(short[1]) * (short[2] === "ms" ? 1 : short[2] === "m" ? 60_000 : 1_000)
  return ms !== undefined && Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : undefined
}

// Runs `effect` within `ms`: past it, the caller gets `onTimeout` at once and
// the effect is interrupted in the background (a connection attempt into a
// silent network may not end when asked; the process exits anyway).
const within = <A, E, R>(
  ms: number,
  effect: Effect.Effect<A, E, R>,
  onTimeout: () => CommandTimeout
): Effect.Effect<A, E | CommandTimeout, R> =>
  Effect.flatMap(Effect.forkDetach(effect, { startImmediately: true }), (fiber) =>
    Effect.flatMap(Effect.timeoutOption(Fiber.await(fiber), ms), (exit): Effect.Effect<A, E | CommandTimeout> =>
      Option.isSome(exit)
        ? exit.value
        : Effect.andThen(Effect.forkDetach(Fiber.interrupt(fiber)), Effect.fail(onTimeout()))))

/**
 * Prints an error as the command's output and fails with `Reported` (its exit code).
 *
 * @internal
 */
export const report = (json: boolean, error: unknown): Effect.Effect<never, Reported> =>
  Effect.andThen(
    json ? Console.log(JSON.stringify(jsonOf(error))) : Console.error(`steadfast: ${messageOf(error)}`),
    Effect.fail(new Reported({ code: exitCodeOf(error) }))
  )

/**
 * Runs a command's body on its store access, within its deadline, and
 * prints what it returns or the error it fails with.
 *
 * @internal
 */
export const execute = <E, R>(
  name: string,
  input: Common,
  body: (access: Access) => Effect.Effect<Output, E, R | Scope.Scope>,
  defaultTimeoutMs = 10_000
): Effect.Effect<void, Reported, Connection | Exclude<R, Scope.Scope>> =>
  Effect.gen(function*() {
    const ms = Option.isSome(input.timeout) ? timeoutMs(input.timeout.value) : defaultTimeoutMs
    if (ms === undefined) {
      return yield* new InvalidInput({ what: "--timeout", issue: `${Option.getOrElse(input.timeout, () => "")} is not a positive duration (10s, 500ms, "30 seconds")` })
    }
    const access = (yield* Connection).open({ timeoutMs: ms })
    const output = yield* within(ms, Effect.scoped(body(access)), () => new CommandTimeout({ command: name, ms, target: access.target }))
    if (input.json) return yield* Console.log(JSON.stringify(output.json, null, 2))
    for (const note of output.notes ?? []) yield* Console.error(`steadfast: ${note}`)
    for (const line of output.text) yield* Console.log(line)
  }).pipe(
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.interrupt
      const error = Cause.squash(cause)
      return error instanceof Reported ? Effect.fail(error) : report(input.json, error)
    })
  )
