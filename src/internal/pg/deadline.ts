/**
 * A deadline on every store call, and the server-side guards derived from it.
 *
 * A call past its deadline fails at once with a retryable `StoreError`
 * (reason `"Deadline"`): the caller never waits for the network. The call
 * itself runs in a fiber of its own, which is interrupted in the background;
 * what that does to its connection is `@effect/sql-pg`'s: the statement in
 * flight is cancelled (a `CancelRequest` on a side connection) and, unless the
 * server confirms the cancel within 5 seconds, the session is closed and the
 * pool replaces it. A silent connection is therefore never used again.
 * Transactions are written so that every statement of theirs, `BEGIN`,
 * `COMMIT` and `ROLLBACK` included, can be interrupted that way (see
 * `transaction.ts`): `SqlClient.withTransaction` runs those three
 * uninterruptibly, and on a silent connection they wait for ever.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { StoreError } from "../../StoreError.ts"

/**
 * The store operations that have a deadline of their own.
 *
 * @internal
 */
export const operations = [
  "now",
  "register",
  "add",
  "addMany",
  "update",
  "setPaused",
  "remove",
  "get",
  "list",
  "triggerNow",
  "claim",
  "nextWake",
  "finish",
  "renew",
  "adopt",
  "release",
  "reap",
  "history",
  "prune",
  "historyPage",
  "listJobs",
  "getRun",
  "cancel",
  "stateCounts",
  "heartbeat",
  "nodes",
  "leave",
  "migrate",
  "listen",
  "probe"
] as const

/** @internal */
export type Operation = typeof operations[number]

/**
 * Deadlines as configured: `default` for every operation not named.
 *
 * @internal
 */
export type Input = { readonly [K in Operation | "default"]?: Duration.Input | undefined }

/**
 * The built-in deadlines of the operations whose work grows with the number
 * of jobs or records; every other operation has 5 seconds (or the configured
 * `default`): plenty for a healthy database under load.
 *
 * @internal
 */
export const defaults: { readonly [K in Operation]?: Duration.Input } = {
  register: "60 seconds",
  addMany: "60 seconds",
  migrate: "60 seconds",
  list: "30 seconds",
  prune: "30 seconds",
  history: "15 seconds",
  historyPage: "15 seconds",
  listJobs: "15 seconds",
  stateCounts: "15 seconds",
  reap: "15 seconds"
}

/**
 * The deadline of each operation, in milliseconds (`Infinity`: none).
 *
 * @internal
 */
export type Resolved = (operation: Operation) => number

const toMillis = (input: Duration.Input): number | undefined =>
  Option.match(Duration.fromInput(input), {
    onNone: () => undefined,
    onSome: (duration) => Duration.isFinite(duration) ? Duration.toMillis(duration) : Infinity
  })

/**
 * Resolves configured deadlines: an operation's own, else its built-in one
 * (`defaults`), else the configured `default`, else 5 seconds. A message for
 * the first one that is not a positive duration.
 *
 * @internal
 */
export const resolve = (input: Input = {}): Resolved | string => {
  const table = new Map<Operation, number>()
  for (const name of ["default", ...operations] as const) {
    const value = input[name]
    if (value === undefined) continue
    const ms = toMillis(value)
    if (ms === undefined || !(ms > 0)) return `invalid deadline for ${name}: ${String(value)} (a positive duration)`
  }
  for (const operation of operations) {
    const ms = toMillis(input[operation] ?? defaults[operation] ?? input.default ?? "5 seconds")
    table.set(operation, ms ?? 5_000)
  }
  return (operation) => table.get(operation) ?? 5_000
}

const positiveMillis = (input: Duration.Input | undefined, fallback: number): number | undefined =>
  input === undefined
    ? fallback
    : Option.match(Duration.fromInput(input), {
      onNone: () => undefined,
      onSome: (duration) => Duration.isFinite(duration) && Duration.toMillis(duration) > 0 ? Duration.toMillis(duration) : undefined
    })

/**
 * The limits a store's options describe (`PgJobStore.Options`, structurally).
 *
 * @internal
 */
export interface LimitOptions {
  readonly deadlines?: Input | undefined
  readonly idleInTransaction?: Duration.Input | undefined
  readonly notificationProbe?: {
    readonly timeout?: Duration.Input | undefined
    readonly interval?: Duration.Input | undefined
  } | undefined
  readonly pooler?: "transaction" | undefined
}

/**
 * The deadlines, guards and probe timing of a store's options, or why they
 * are unusable.
 *
 * @internal
 */
export const resolveLimits = (options: LimitOptions, client: { readonly prepare?: boolean | undefined }) => {
  const deadline = resolve(options.deadlines)
  if (typeof deadline === "string") return deadline
  const idleMs = positiveMillis(options.idleInTransaction, 5_000)
  if (idleMs === undefined) return `invalid idleInTransaction ${String(options.idleInTransaction)} (a positive, finite duration)`
  const probeTimeoutMs = positiveMillis(options.notificationProbe?.timeout, 5_000)
  const probeIntervalMs = positiveMillis(options.notificationProbe?.interval, 60_000)
  if (probeTimeoutMs === undefined || probeIntervalMs === undefined) {
    return "invalid notificationProbe (timeout and interval: positive, finite durations)"
  }
  if (options.pooler !== undefined && options.pooler !== "transaction") return `invalid pooler ${String(options.pooler)}`
  // Behind a transaction pooler a named prepared statement lives on one
  // server connection, and the next transaction may run on another: 26000,
  // then 25P02 on every BEGIN of that client.
  if (options.pooler === "transaction" && client.prepare !== false) {
    return "pooler: \"transaction\" needs a PgClient with prepare: false (PgJobStore.clientConfig sets it)"
  }
  return { deadline, idleMs, probeTimeoutMs, probeIntervalMs }
}

/**
 * The error of a call that did not end within its deadline.
 *
 * @internal
 */
export const exceeded = (operation: string, ms: number): StoreError =>
  new StoreError({
    operation,
    reason: "Deadline",
    retryable: true,
    cause: new Error(`no answer from the database within ${ms} ms; the connection is discarded`)
  })

/**
 * Runs `effect` with a deadline of `ms`. Past it, or when the caller is
 * interrupted, the call's fiber is interrupted in the background: the caller
 * gets its answer (a `"Deadline"` `StoreError`, or its own interruption) at
 * once, whatever the network does.
 *
 * @internal
 */
export const within = (operation: string, ms: number) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError, R> => {
  if (ms === Infinity) return effect
  return Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.forkDetach(effect, { startImmediately: true }), (fiber) => {
      const abandon = Effect.asVoid(Effect.forkDetach(Fiber.interrupt(fiber)))
      return restore(Effect.timeoutOption(Fiber.await(fiber), ms)).pipe(
        Effect.onInterrupt(() => abandon),
        Effect.flatMap((exit): Effect.Effect<A, E | StoreError> =>
          Option.isSome(exit) ? exit.value : Effect.andThen(abandon, Effect.fail(exceeded(operation, ms)))
        )
      )
    })
  )
}

/**
 * The server-side guards of a transaction, in milliseconds (0: off).
 *
 * @internal
 */
export interface Guards {
  /** `statement_timeout`: no statement of the transaction runs longer. */
  readonly statementMs: number
  /** `lock_timeout`: no statement waits longer for a lock. */
  readonly lockMs: number
  /**
   * `idle_in_transaction_session_timeout`: a client that goes silent in the
   * middle of the transaction has its session ended (and its row locks
   * released) by the server after this long.
   */
  readonly idleMs: number
}

/**
 * The guards of a transaction whose call has a deadline of `deadlineMs`.
 *
 * @internal
 */
export const guardsFor = (deadlineMs: number, idleMs: number): Guards => {
  const bound = deadlineMs === Infinity ? 0 : Math.ceil(deadlineMs)
  return { statementMs: bound, lockMs: bound, idleMs: Math.ceil(idleMs) }
}
