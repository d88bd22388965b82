/**
 * The root supervisor: runs every background loop under a restart `Schedule`
 * and keeps the health view that makes a stalled scheduler visible.
 *
 * A supervised loop never stops on its own: any failure or defect is caught,
 * recorded (event, log, metric, health), and the loop is started again after
 * the restart schedule's delay. The schedule restarts from its first delay
 * once the loop has made progress again, so a rare failure costs a short
 * pause, and only a loop that keeps failing backs off towards the cap.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import { Event } from "./Event.ts"

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
  readonly state: "running" | "restarting"
  /** When the loop last finished a unit of work (epoch ms). */
  readonly lastProgress: number | null
  readonly restarts: number
  readonly lastError: string | null
  readonly lastFailure: number | null
}

/**
 * The scheduler's health: `store-unavailable` while store operations are
 * failing and being retried, `degraded` while a loop is restarting or has
 * restarted within the last minute, `healthy` otherwise.
 *
 * @since 0.1.0
 */
export interface Health {
  readonly status: "healthy" | "degraded" | "store-unavailable"
  readonly node: string
  readonly loops: ReadonlyArray<LoopHealth>
  readonly store: { readonly available: boolean; readonly since: number; readonly lastError: string | null }
}

const restartsTotal = Metric.counter("steadfast_loop_restarts_total", {
  description: "Background loop restarts after a failure or defect",
  incremental: true
})

const storeFailuresTotal = Metric.counter("steadfast_store_failures_total", {
  description: "Store operations that failed (before retry)",
  incremental: true
})

const recentMs = 60_000

/**
 * The supervisor of one scheduler instance.
 *
 * @since 0.1.0
 */
export interface Supervisor {
  /** Runs `body` forever: on failure or defect, records it and restarts after the restart schedule's delay. */
  readonly supervise: <E, R>(name: string, body: Effect.Effect<void, E, R>) => Effect.Effect<never, never, R>
  /** Marks that a loop made progress (for health and for resetting its restart backoff). */
  readonly progress: (name: string) => Effect.Effect<void>
  readonly storeFailed: (operation: string, error: unknown) => Effect.Effect<void>
  readonly storeSucceeded: Effect.Effect<void>
  readonly health: Effect.Effect<Health>
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
    const loops = new Map<string, { -readonly [K in keyof LoopHealth]: LoopHealth[K] }>()
    const startedAt = yield* Clock.currentTimeMillis
    const store = { available: true, since: startedAt, lastError: null as string | null }

    const entry = (name: string) => {
      let loop = loops.get(name)
      if (loop === undefined) {
        loop = { name, state: "running", lastProgress: null, restarts: 0, lastError: null, lastFailure: null }
        loops.set(name, loop)
      }
      return loop
    }

    const progress = (name: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        entry(name).lastProgress = now
      })

    const supervise = <E, R>(name: string, body: Effect.Effect<void, E, R>): Effect.Effect<never, never, R> =>
      Effect.gen(function*() {
        const loop = entry(name)
        let step = yield* Schedule.toStepWithMetadata(options.restart)
        let progressAtLastFailure = loop.lastProgress
        while (true) {
          loop.state = "running"
          const exit = yield* Effect.exit(body)
          if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) {
            return yield* Effect.interrupt
          }
          const now = yield* Clock.currentTimeMillis
          const error = Exit.isFailure(exit) ? describe(Cause.squash(exit.cause)) : "loop ended unexpectedly"
          loop.state = "restarting"
          loop.restarts++
          loop.lastError = error
          loop.lastFailure = now
          yield* options.publish(Event.LoopFailed({ loop: name, error, at: now }))
          yield* Effect.logWarning(`loop ${name} failed; restarting`).pipe(
            Effect.annotateLogs({ loop: name, error, restarts: loop.restarts })
          )
          yield* Metric.update(Metric.withAttributes(restartsTotal, { loop: name }), 1)
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

    const storeFailed = (operation: string, error: unknown) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const text = describe(error)
        yield* Metric.update(Metric.withAttributes(storeFailuresTotal, { operation }), 1)
        store.lastError = text
        if (store.available) {
          store.available = false
          store.since = now
          yield* options.publish(Event.StoreUnavailable({ operation, error: text, at: now }))
          yield* Effect.logWarning(`store unavailable: ${text}`).pipe(Effect.annotateLogs({ operation }))
        }
      })

    const storeSucceeded = Effect.suspend(() => {
      if (store.available) return Effect.void
      return Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const downtimeMs = now - store.since
        store.available = true
        store.since = now
        yield* options.publish(Event.StoreRecovered({ downtimeMs, at: now }))
        yield* Effect.logInfo(`store recovered after ${downtimeMs} ms`)
      })
    })

    const health = Effect.map(Clock.currentTimeMillis, (now): Health => {
      const snapshot = [...loops.values()].map((loop) => ({ ...loop }))
      const degraded = snapshot.some((loop) =>
        loop.state === "restarting" || (loop.lastFailure !== null && now - loop.lastFailure < recentMs)
      )
      return {
        status: !store.available ? "store-unavailable" : degraded ? "degraded" : "healthy",
        node: options.node,
        loops: snapshot,
        store: { ...store }
      }
    })

    return { supervise, progress, storeFailed, storeSucceeded, health }
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
