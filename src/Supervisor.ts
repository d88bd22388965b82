/**
 * The root supervisor: runs every background loop under a restart `Schedule`
 * and keeps the health view that makes a stalled scheduler visible.
 *
 * A supervised loop never stops on its own: whatever ends it — a failure, a
 * defect, an interruption it did not ask for, or simply returning — is
 * recorded (event, log, metric, health), and the loop is started again after
 * the restart schedule's delay. Only the closing of the supervisor's own
 * scope stops it. The schedule restarts from its first delay once the loop
 * has made progress again, so a rare failure costs a short pause, and only a
 * loop that keeps failing backs off towards the cap.
 *
 * The watchdog side: each loop may declare how long it may go without
 * progress (`stallAfter`). `checkStalls` (run by the watchdog loop at the
 * first instant a loop can go past it) finds a loop past it, reports it
 * `stalled` (event, log, metric, health `degraded`), interrupts it and
 * starts it again. A loop waiting for input by design says so with `idle`
 * and is not watched until it makes progress again. Ages and intervals come
 * from the monotonic clock, so a wall-clock step neither hides a stall nor
 * invents one.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import { Event } from "./Event.ts"
import * as Metrics from "./Metrics.ts"

/**
 * How a failed loop is restarted: exponential from 100 ms, capped at 30 s,
 * jittered, forever. Replace it through `Scheduler` options.
 *
 * @example
 * ```ts
 * import { Schedule } from "effect"
 * import { Supervisor } from "steadfast"
 *
 * // restart after 1 s, then 2 s, 4 s, ... up to 10 s
 * const patient = Supervisor.restartSchedule({ base: "1 second", cap: "10 seconds" })
 * ```
 *
 * @since 0.1.0
 */
export const restartSchedule = (options: {
  readonly base?: Duration.Input | undefined
  readonly cap?: Duration.Input | undefined
  readonly jitter?: boolean | undefined
} = {}): Schedule.Schedule<Duration.Duration, unknown> => {
  const capped = Schedule.min([
    Schedule.exponential(options.base ?? "100 millis"),
    Schedule.spaced(options.cap ?? "30 seconds")
  ])
  const jittered = options.jitter === false ? capped : Schedule.jittered(capped)
  const cap = Duration.toMillis(Duration.fromInputUnsafe(options.cap ?? "30 seconds"))
  // Jitter scales by up to 1.2; clamp so the cap is a promise, not a suggestion.
  return Schedule.modifyDelay(
    jittered,
    ({ duration }) => Effect.succeed(Duration.millis(Math.floor(Math.min(Duration.toMillis(duration), cap))))
  )
}

/**
 * The default restart schedule.
 *
 * @since 0.1.0
 */
export const restart: Schedule.Schedule<Duration.Duration, unknown> = restartSchedule()

/**
 * Health of one loop.
 *
 * @since 0.1.0
 */
export interface LoopHealth {
  readonly name: string
  /**
   * `running`: working; `idle`: waiting for input by design (not watched);
   * `stalled`: past its `stallAfter` without progress, being restarted;
   * `restarting`: failed, waiting for its restart delay.
   */
  readonly state: "running" | "idle" | "stalled" | "restarting"
  /** When the loop last finished a unit of work (epoch ms). */
  readonly lastProgress: number | null
  /** How long ago it last made progress or (re)started, by the monotonic clock (ms). */
  readonly progressAgeMs: number
  /** How long it may go without progress before the watchdog restarts it; `null`: not watched. */
  readonly stallAfterMs: number | null
  readonly restarts: number
  readonly stalls: number
  readonly lastError: string | null
  readonly lastFailure: number | null
}

/**
 * What the registrar's upsert of the jobs declared in code did (counts of
 * job ids), as the `JobsRegistered` event says it.
 *
 * @since 0.1.0
 */
export interface Registration {
  readonly inserted: number
  readonly updated: number
  readonly unchanged: number
  readonly superseded: number
  readonly orphaned: number
  /** When the store answered (epoch ms, store clock). */
  readonly at: number
}

/**
 * The scheduler's health: `store-unavailable` while store operations are
 * failing and being retried, `degraded` while a loop is restarting or has
 * restarted within the last minute, `healthy` otherwise.
 *
 * `ready` turns true once, when the jobs declared in code are registered and
 * the dispatcher has made its first pass; `registration` keeps what the
 * registrar did. Both are state, not events: a reader who subscribed to
 * `Scheduler.events` too late to see `JobsRegistered` reads them here.
 *
 * @since 0.1.0
 */
export interface Health {
  readonly status: "healthy" | "degraded" | "store-unavailable"
  readonly node: string
  readonly ready: boolean
  /** When the scheduler became ready (epoch ms), or null. */
  readonly readyAt: number | null
  readonly registration: Registration | null
  readonly loops: ReadonlyArray<LoopHealth>
  readonly store: { readonly available: boolean; readonly since: number; readonly lastError: string | null }
}

const recentMs = 60_000

// How long a stalled loop is given to end once interrupted before it is
// abandoned (it may be stuck where interruption cannot reach) and replaced.
const interruptWaitMs = 1_000

// The watchdog's longest sleep, with no watched loop to bound it sooner.
const maxCheckMs = 60_000

const monotonicMillis = Effect.map(Clock.monotonicTimeNanos, (nanos) => Number(nanos) / 1_000_000)

/**
 * How a loop is supervised.
 *
 * @since 0.2.0
 */
export interface SuperviseOptions {
  /** How long the loop may go without progress (while not idle) before it is restarted. Default: not watched. */
  readonly stallAfter?: Duration.Input | undefined
}

/**
 * The supervisor of one scheduler instance.
 *
 * @since 0.1.0
 */
export interface Supervisor {
  /**
   * Runs `body` forever: whenever it ends (failure, defect, an interruption
   * from anywhere but this fiber's own, or returning), records it and
   * restarts it after the restart schedule's delay.
   */
  readonly supervise: <E, R>(
    name: string,
    body: Effect.Effect<void, E, R>,
    options?: SuperviseOptions
  ) => Effect.Effect<never, never, R>
  /** Marks that a loop made progress (for health, the watchdog, and resetting its restart backoff). */
  readonly progress: (name: string) => Effect.Effect<void>
  /** Marks that a loop waits for input by design: not watched until its next progress. */
  readonly idle: (name: string) => Effect.Effect<void>
  /**
   * Restarts every watched loop that went past its `stallAfter` without
   * progress (the watchdog's step), and tells in how many ms a watched loop
   * can next go past it (at most a minute).
   */
  readonly checkStalls: Effect.Effect<number>
  /** Completes once a loop with a `stallAfter` is supervised after the last `checkStalls` began. */
  readonly watchedChanged: Effect.Effect<void>
  readonly storeFailed: (operation: string, error: unknown) => Effect.Effect<void>
  readonly storeSucceeded: Effect.Effect<void>
  /** Keeps the registrar's report for `health`. */
  readonly registered: (registration: Registration) => Effect.Effect<void>
  /** Marks the scheduler ready (the first call counts; later ones do nothing). */
  readonly markReady: Effect.Effect<void>
  readonly health: Effect.Effect<Health>
}

interface Entry {
  readonly name: string
  state: LoopHealth["state"]
  lastProgress: number | null
  restarts: number
  stalls: number
  lastError: string | null
  lastFailure: number | null
  stallAfterMs: number | null
  /** Monotonic ms of the last progress, idle mark or (re)start. */
  progressMono: number
  failedMono: number | null
  /** Completed by the watchdog to give up on the current life of the loop. */
  stall: Deferred.Deferred<void> | null
}

/**
 * Creates a supervisor that reports through `publish`.
 *
 * @since 0.1.0
 */
export const make = (options: {
  readonly node: string
  readonly restart: Schedule.Schedule<unknown, unknown>
  readonly publish: (event: Event) => Effect.Effect<void>
}): Effect.Effect<Supervisor> =>
  Effect.gen(function*() {
    const loops = new Map<string, Entry>()
    const startedAt = yield* Clock.currentTimeMillis
    const store = { available: true, since: startedAt, lastError: null as string | null }
    let registration: Registration | null = null
    let readyAt: number | null = null
    // Store errors are counted by the store guard; availability here, where outages begin and end.
    const available = Metric.withAttributes(Metrics.storeAvailable, { node: options.node })
    yield* Metric.update(available, 1)

    const entry = (name: string, mono: number) => {
      let loop = loops.get(name)
      if (loop === undefined) {
        loop = {
          name,
          state: "running",
          lastProgress: null,
          restarts: 0,
          stalls: 0,
          lastError: null,
          lastFailure: null,
          stallAfterMs: null,
          progressMono: mono,
          failedMono: null,
          stall: null
        }
        loops.set(name, loop)
      }
      return loop
    }

    const progress = (name: string) =>
      Effect.gen(function*() {
        const loop = entry(name, yield* monotonicMillis)
        loop.lastProgress = yield* Clock.currentTimeMillis
        loop.progressMono = yield* monotonicMillis
        if (loop.state === "idle") loop.state = "running"
      })

    const idle = (name: string) =>
      Effect.map(monotonicMillis, (mono) => {
        const loop = entry(name, mono)
        if (loop.state === "running") loop.state = "idle"
        loop.progressMono = mono
      })

    // Runs one life of the loop: its exit, or "stalled" when the watchdog
    // gave up on it (interrupted, and abandoned if it would not end).
    const runOnce = <E, R>(loop: Entry, body: Effect.Effect<void, E, R>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const stall = yield* Deferred.make<void>()
          loop.stall = stall
          loop.state = "running"
          loop.progressMono = yield* monotonicMillis
          // Detached, not a child: a fiber ends only once its children have, so
          // a life the watchdog abandoned (stuck where interruption cannot
          // reach) would hold the supervisor's own interruption forever. The
          // current life is interrupted, and awaited, when the supervisor is.
          const fiber = yield* Effect.forkDetach(body)
          const outcome = yield* restore(Effect.raceFirst(
            Effect.map(Fiber.await(fiber), (exit) => ({ _tag: "Ended" as const, exit })),
            Effect.as(Deferred.await(stall), { _tag: "Stalled" as const })
          )).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))
          loop.stall = null
          if (outcome._tag === "Ended") return outcome
          yield* Effect.forkDetach(Fiber.interrupt(fiber))
          const ended = yield* restore(Effect.timeoutOption(Fiber.await(fiber), interruptWaitMs))
          if (Option.isNone(ended)) {
            yield* Effect.logError(`loop ${loop.name} did not end within ${interruptWaitMs} ms of its interruption; abandoned and replaced`)
          }
          return outcome
        })
      )

    const supervise = <E, R>(
      name: string,
      body: Effect.Effect<void, E, R>,
      superviseOptions: SuperviseOptions = {}
    ): Effect.Effect<never, never, R> =>
      Effect.gen(function*() {
        const loop = entry(name, yield* monotonicMillis)
        loop.stallAfterMs = superviseOptions.stallAfter === undefined
          ? null
          : Duration.toMillis(Duration.fromInputUnsafe(superviseOptions.stallAfter))
        if (loop.stallAfterMs !== null) yield* Queue.offer(newlyWatched, undefined)
        let step = yield* Schedule.toStepWithMetadata(options.restart)
        let progressAtLastFailure = loop.lastProgress
        while (true) {
          // Interruption of this fiber (its scope closing) interrupts the race
          // above and ends `supervise`; anything else that ends the body,
          // an interruption included, is a failure to restart from.
          const outcome = yield* runOnce(loop, body)
          const now = yield* Clock.currentTimeMillis
          const error = outcome._tag === "Stalled"
            ? `stalled: no progress within ${loop.stallAfterMs} ms`
            : Exit.isFailure(outcome.exit)
            ? Cause.hasInterruptsOnly(outcome.exit.cause)
              ? "interrupted by something other than its supervisor"
              : describe(Cause.squash(outcome.exit.cause))
            : "loop ended unexpectedly"
          loop.state = "restarting"
          loop.restarts++
          loop.lastError = error
          loop.lastFailure = now
          loop.failedMono = yield* monotonicMillis
          if (outcome._tag === "Ended") {
            yield* options.publish(Event.LoopFailed({ loop: name, error, at: now }))
            yield* Effect.logWarning(`loop ${name} failed; restarting`).pipe(
              Effect.annotateLogs({ loop: name, error, restarts: loop.restarts })
            )
          }
          yield* Metric.update(Metric.withAttributes(Metrics.loopRestarts, { loop: name }), 1)
          if (loop.lastProgress !== progressAtLastFailure) {
            // It worked for a while before failing: start backing off afresh.
            step = yield* Schedule.toStepWithMetadata(options.restart)
          }
          progressAtLastFailure = loop.lastProgress
          // A schedule that ends would leave the loop stopped: start it over instead.
          yield* step(undefined).pipe(
            Effect.catchCause(() =>
              Effect.flatMap(Schedule.toStepWithMetadata(options.restart), (fresh) => {
                step = fresh
                return Effect.asVoid(Effect.exit(fresh(undefined)))
              })
            )
          )
          yield* options.publish(
            Event.LoopRestarted({ loop: name, restarts: loop.restarts, at: yield* Clock.currentTimeMillis })
          )
        }
      })

    // Loops newly watched: the watchdog's sleep was computed without them.
    const newlyWatched = yield* Queue.sliding<void>(1)

    const checkStalls = Effect.gen(function*() {
      yield* Queue.clear(newlyWatched)
      const mono = yield* monotonicMillis
      // A loop running now can go past its bound at `progressMono + stallAfterMs`
      // at the earliest; any other (idle, restarting) once it runs again
      // (progress, restart), which sets its `progressMono` to then: no sooner
      // than its whole `stallAfterMs` from now.
      let nextMs = maxCheckMs
      for (const loop of loops.values()) {
        if (loop.stallAfterMs === null) continue
        nextMs = Math.min(nextMs, loop.stallAfterMs)
        if (loop.state !== "running" || loop.stall === null) continue
        const age = mono - loop.progressMono
        if (age <= loop.stallAfterMs) {
          nextMs = Math.min(nextMs, loop.stallAfterMs - age)
          continue
        }
        loop.state = "stalled"
        loop.stalls++
        loop.lastError = `stalled: no progress within ${loop.stallAfterMs} ms`
        const at = yield* Clock.currentTimeMillis
        yield* options.publish(Event.LoopStalled({ loop: loop.name, progressAgeMs: Math.round(age), at }))
        yield* Effect.logWarning(`loop ${loop.name} made no progress for ${Math.round(age)} ms; restarting it`).pipe(
          Effect.annotateLogs({ loop: loop.name, stallAfterMs: loop.stallAfterMs })
        )
        yield* Metric.update(Metric.withAttributes(Metrics.loopStalls, { loop: loop.name }), 1)
        yield* Deferred.succeed(loop.stall, undefined)
      }
      // Strictly past the bound (`age <= stallAfterMs` is not a stall).
      return Math.floor(nextMs) + 1
    })

    const storeFailed = (operation: string, error: unknown) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const text = describe(error)
        store.lastError = text
        if (store.available) {
          store.available = false
          yield* Metric.update(available, 0)
          store.since = now
          yield* options.publish(Event.StoreUnavailable({ operation, error: text, at: now }))
          // One line per outage, however many retries it takes; `StoreRecovered` ends it.
          yield* Effect.logWarning(`store unavailable, retrying until it answers: ${text}`).pipe(
            Effect.annotateLogs({ operation })
          )
        }
      })

    const storeSucceeded = Effect.suspend(() => {
      if (store.available) return Effect.void
      return Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const downtimeMs = now - store.since
        store.available = true
        yield* Metric.update(available, 1)
        store.since = now
        yield* options.publish(Event.StoreRecovered({ downtimeMs, at: now }))
        yield* Effect.logInfo(`store recovered after ${downtimeMs} ms`)
      })
    })

    const registered = (report: Registration) =>
      Effect.sync(() => {
        registration = report
      })

    const markReady = Effect.suspend(() =>
      readyAt !== null ? Effect.void : Effect.map(Clock.currentTimeMillis, (now) => {
        readyAt = now
      })
    )

    const health = Effect.map(monotonicMillis, (mono): Health => {
      const snapshot = [...loops.values()].map((loop): LoopHealth => ({
        name: loop.name,
        state: loop.state,
        lastProgress: loop.lastProgress,
        progressAgeMs: Math.max(0, Math.round(mono - loop.progressMono)),
        stallAfterMs: loop.stallAfterMs,
        restarts: loop.restarts,
        stalls: loop.stalls,
        lastError: loop.lastError,
        lastFailure: loop.lastFailure
      }))
      const degraded = [...loops.values()].some((loop) =>
        loop.state === "restarting" || loop.state === "stalled" ||
        (loop.failedMono !== null && mono - loop.failedMono < recentMs)
      )
      return {
        status: !store.available ? "store-unavailable" : degraded ? "degraded" : "healthy",
        node: options.node,
        ready: readyAt !== null,
        readyAt,
        registration,
        loops: snapshot,
        store: { ...store }
      }
    })

    const watchedChanged = Queue.take(newlyWatched)

    return { supervise, progress, idle, checkStalls, watchedChanged, storeFailed, storeSucceeded, registered, markReady, health }
  })

/**
 * A one-line description of a failure, for events and health.
 *
 * @since 0.1.0
 */
export const describe = (error: unknown): string => {
  if (error instanceof Error) return error.message || error.name
  if (typeof error === "object" && error !== null && "_tag" in error) return String(error._tag)
  return String(error)
}
