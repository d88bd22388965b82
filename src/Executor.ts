/**
 * Runs claimed fires: one fiber per run.
 *
 * A run executes its task under the job's timeout and retry policies;
 * whatever the handler does — fail, die, hang past its timeout — ends as an
 * outcome on its own run and touches nothing else.
 *
 * Claims are apart from handler slots: claimed runs wait in a local queue
 * (`RunQueue`) and start, in due-then-fire-time order, as `maxInFlight`
 * slots free up; a run claimed ahead of its due instant (see
 * `Scheduler.Options.claimAhead`) starts at that instant by the store's
 * clock, never early. A `Skip` job's fire that cannot start within its
 * misfire grace of its claimed start is recorded missed instead of run late
 * (see `Outcomes.missedAfter`). Queued runs are renewed like running ones.
 * Outcomes are written in batches by the recorder, and a run's lease is
 * renewed until its outcome is accepted, so an outage while writing an
 * outcome cannot make another node run it again.
 *
 * One run id, one attempt: a run this node claims anew while it still holds
 * an earlier attempt (reaped and retried to this node) replaces it, the
 * earlier handler is interrupted, and nothing of the earlier attempt (its
 * outcome, its interruption) touches the new one. At shutdown, runs not
 * started yet are withdrawn (never started here) so the dispatcher can hand
 * them back to the store.
 *
 * The executor holds nothing for a job without work in progress (100,000 idle
 * jobs cost nothing here), and little per run: this is the hot path of a
 * drain, where every microsecond per run is a run per second less.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { Event } from "./Event.ts"
import * as Attempts from "./runtime/Attempts.ts"
import * as Bounded from "./runtime/Bounded.ts"
import * as InstantWait from "./runtime/InstantWait.ts"
import * as OutcomeWriter from "./runtime/OutcomeWriter.ts"
import * as Outcomes from "./runtime/Outcomes.ts"
import * as RunQueue from "./runtime/RunQueue.ts"
import * as Telemetry from "./runtime/Telemetry.ts"
import type { Lease } from "./JobStore.ts"
import type * as Run from "./Run.ts"
import type * as Task from "./Task.ts"

/**
 * What the executor needs from the scheduler around it.
 *
 * @since 0.1.0
 */
export interface Options<R> {
  readonly node: string
  readonly tasks: ReadonlyMap<string, Task.Any<R>>
  readonly context: Context.Context<R>
  readonly publish: (event: Event) => Effect.Effect<void>
  /** Writes a batch of outcomes; returns which were accepted (fenced). Retries are the caller's concern. */
  readonly finish: (outcomes: ReadonlyArray<Run.Outcome>) => Effect.Effect<ReadonlyArray<boolean>, unknown>
  /** Called when a run finished, so the dispatcher can claim again (an overlap slot may be free). */
  readonly onSlotFreed: Effect.Effect<void>
  /**
   * The store's clock (epoch ms), as this process estimates it: a run whose
   * `startedAt` is ahead of it waits until then. Default: `Clock`.
   */
  readonly storeNow?: Effect.Effect<number> | undefined
  /** Most handlers running at once (`Scheduler.Options.maxInFlight`). Default 10,000. */
  readonly maxInFlight?: number | undefined
  /** Called when the queue of claimed runs fell to the level asked for by `wakeBelow`. */
  readonly onRoom?: Effect.Effect<void> | undefined
}

/**
 * What the executor holds, for the dispatcher to size its claims.
 *
 * @since 0.3.0
 */
export interface Load {
  /** Handlers running (each holds a slot). */
  readonly running: number
  /** Claimed runs waiting for a slot or for their due instant. */
  readonly waiting: number
  /** Mean time a run holds its slot, ms (recent runs weigh more); `undefined` before any ended. */
  readonly meanRunMs: number | undefined
}

interface Held {
  readonly run: Run.Claimed
  /**
   * `waiting`: not started yet (queued, or claimed ahead of its instant);
   * `running`: its handler started; `done`: its handler is done (its outcome
   * waits to be recorded) or the run was revoked, superseded or withdrawn.
   * Changed only in synchronous steps, so a run is withdrawn or started,
   * never both.
   */
  phase: "waiting" | "running" | "done"
  /** The fiber running its handler, while it runs (a slot's fiber runs one run after another). */
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** Whether it holds a handler slot (from its start until its handler ended or it was taken away). */
  slot: boolean
  /** Claimed ahead of its instant (it starts at it, with the other fires due then: see `recorder`). */
  readonly ahead: boolean
  /** When it took its slot (this process's clock), for the mean run time; -1 until then. */
  since: number
  /** An operator cancelled it while its handler ran: an interruption records it `cancelled`. */
  cancelling?: boolean
}

/**
 * The executor of one scheduler instance.
 *
 * @since 0.1.0
 */
export interface Executor {
  /**
   * Runs what a claim returned. A run id this executor holds already under
   * another token was taken from it and claimed anew (reaped, then claimed
   * again by this node): the earlier attempt is revoked, and nothing of it
   * (outcome, interruption) touches the new one. `storeInstant`, the
   * store's clock at the claim (`ClaimResult.at`), is a time the store has
   * passed: runs due by it start at once, without waiting for the local
   * estimate of the store's time to reach it.
   */
  readonly submit: (runs: ReadonlyArray<Run.Claimed>, storeInstant?: number) => Effect.Effect<void>
  /**
   * Runs what `JobStore.adopt` found (runs of claims whose answer never
   * arrived): those this executor does not hold already.
   */
  readonly adopt: (runs: ReadonlyArray<Run.Claimed>) => Effect.Effect<void>
  /**
   * Withdraws the runs whose handler has not started (queued, or claimed
   * ahead and waiting for their instant): they never start here, their
   * leases are no longer renewed, and their leases are returned, to be
   * handed back (`JobStore.release`).
   */
  readonly withdraw: Effect.Effect<ReadonlyArray<Lease>>
  /** Which of `ids` this executor holds (in progress, or awaiting their record). */
  readonly holding: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>>
  /** Leases to renew: runs in progress and runs whose outcome is not yet recorded. */
  readonly leases: Effect.Effect<ReadonlyArray<Lease>>
  /**
   * Interrupts runs whose lease this node lost; their outcomes are never
   * written. By lease: a run claimed anew since (another token) is not
   * touched. Never waits for a handler to end: one that ignores interruption
   * holds nothing up.
   */
  readonly revoke: (leases: ReadonlyArray<Lease>) => Effect.Effect<void>
  /**
   * Cancels runs an operator asked to cancel (`JobStore.cancel`; by lease, as
   * `revoke`): a run not started yet never starts; a running one's handler is
   * interrupted. Each is recorded `cancelled` (note "cancelled by operator")
   * once its handler has ended, or after `marginMs` (default 2 s) when it
   * ignores interruption (abandoned, as at shutdown); its lease is renewed
   * until then. Never waits itself.
   *
   * @since 0.4.0
   */
  readonly cancel: (leases: ReadonlyArray<Lease>, marginMs?: number) => Effect.Effect<void>
  /** Running and waiting runs, and the mean run time (see `Load`). */
  readonly load: Effect.Effect<Load>
  /**
   * Asks for `onRoom` once the queue of waiting runs holds `waiting` runs or
   * fewer (at once if it does already).
   */
  readonly wakeBelow: (waiting: number) => Effect.Effect<void>
  /** Runs whose handlers ended and whose outcome is not written yet (`ClaimRequest.ended`). */
  readonly ended: Effect.Effect<ReadonlyArray<Lease>>
  /**
   * The recorder loop body: writes outcomes in batches, forever. It reports
   * `idle` while it waits for outcomes and `progress` when it has some and
   * when it wrote them.
   */
  readonly recorder: (report: { readonly idle: Effect.Effect<void>; readonly progress: Effect.Effect<void> }) => Effect.Effect<never, unknown>
  /**
   * Waits for handlers to finish within `graceMs`, then interrupts the rest
   * (waiting at most `marginMs` for them to end: a handler that ignores
   * interruption is abandoned, its run left to its lease); then writes
   * outstanding outcomes, for at most `marginMs`.
   */
  readonly drain: (graceMs: number, marginMs?: number) => Effect.Effect<void>
}

/**
 * Builds an executor whose fibers live in the current scope.
 *
 * @since 0.1.0
 */
export const make = <R>(options: Options<R>): Effect.Effect<Executor, never, Scope.Scope> =>
  Effect.gen(function*() {
    // Runs live in a scope of their own, closed after the scheduler's
    // shutdown (which lets them finish within the grace period), not before,
    // and never waited for without a bound: a handler that ignores
    // interruption must not hold the closing of the scheduler's scope.
    const scope = yield* Scope.make("parallel")
    yield* Effect.addFinalizer(() => Bounded.close(scope, 1_000))
    const storeNow = options.storeNow ?? Clock.currentTimeMillis
    const slots = options.maxInFlight ?? 10_000
    // One entry per run id: the attempt this node executes now. An earlier
    // attempt of the same run (superseded, revoked) is no longer in it, and
    // every step of a run checks that its entry is still the one held before
    // touching anything, so a late step of an earlier attempt changes nothing.
    const held = new Map<string, Held>()
    // Every handler fiber not yet ended, revoked and superseded ones included:
    // shutdown waits for them, then interrupts them, within its bounds.
    const live = new Set<Fiber.Fiber<void>>()
    const current = (entry: Held) => held.get(entry.run.id) === entry
    const outcomes = yield* OutcomeWriter.make({
      held: (run) => held.get(run.id)?.run === run,
      settle: (run) => {
        const entry = held.get(run.id)
        if (entry?.run !== run) return undefined
        held.delete(run.id)
        return entry.since
      },
      finish: options.finish,
      publish: options.publish,
      onWritten: options.onSlotFreed
    })
    // Claimed runs not started yet, first to start at the head.
    const queue = RunQueue.make<Held>((entry) => entry.phase === "waiting" && current(entry))
    let waiting = 0
    let running = 0
    let meanRunMs: number | undefined
    let wakeAt = -1
    // Forked runs whose fibers have not begun yet.
    let starting = 0
    // The one timer waiting for the head's due instant, if any.
    let timer: { readonly at: number; readonly fiber: Fiber.Fiber<void> } | undefined
    // Metrics: runs in flight are read when scraped (a run's own, when its outcome is accepted).
    yield* Telemetry.inFlight(options.node, () => running)
    // Runs are traced when a tracer that exports spans is provided (read once).
    const attemptOptions = { ...options, tracing: yield* Telemetry.tracing }

    const leave = (entry: Held) => {
      if (entry.phase === "waiting") waiting--
    }
    // Gives back an entry's slot (once), weighing its time into the mean.
    const release = (entry: Held, at: number) => {
      if (!entry.slot) return
      entry.slot = false
      running--
      const took = Math.max(0, at - entry.since)
      meanRunMs = meanRunMs === undefined ? took : meanRunMs + (took - meanRunMs) / 8
    }

    const interrupted = (entry: Held) =>
      Effect.gen(function*() {
        // Revoked, withdrawn or superseded (no outcome of this node counts), or
        // interrupted before its handler started (it did not run: nothing to record).
        if (!current(entry) || entry.phase !== "running") return
        entry.phase = "done"
        const { run } = entry
        const endedAt = yield* Clock.currentTimeMillis
        release(entry, endedAt)
        // Cancelled by an operator, or interrupted by shutdown after the grace period.
        yield* outcomes.offer(entry.cancelling === true ? Outcomes.cancelled(run, endedAt) : Outcomes.interrupted(run, endedAt))
      })

    // A run found too late to start (`Outcomes.missedAfter`): recorded missed, its handler never run.
    const missed = (entry: Held, lateMs: number) =>
      Effect.suspend(() => {
        entry.fiber = undefined
        if (!current(entry) || entry.phase !== "running") return Effect.void
        entry.phase = "done"
        const endedAt = entry.since
        release(entry, endedAt)
        // No handler ran: nothing for the duration metric.
        entry.since = -1
        return outcomes.offer(Outcomes.missed(entry.run, lateMs, endedAt))
      })

    // Every run's path: combinators, not generators (each costs some µs,
    // and 500 runs due at one instant start one after the other).
    const execute = (entry: Held): Effect.Effect<void> => {
      const { run } = entry
      return Effect.flatMap(Clock.currentTimeMillis, (since) => {
        starting--
        entry.since = since
        return Effect.flatMap(storeNow, (now) => {
          // Never before its due instant (the queue starts it then); later when it waited for a slot.
          const startedAt = Math.max(run.startedAt, now)
          if (startedAt > Outcomes.missedAfter(run)) return missed(entry, Math.round(startedAt - run.startedAt))
          return options.publish(Event.RunStarted({
            jobId: run.jobId,
            fireTime: run.fireTime,
            runId: run.id,
            attempt: run.attempt,
            node: options.node,
            at: startedAt
          })).pipe(
            Effect.andThen(Attempts.run(run, attemptOptions)),
            // Runs started together (due at one instant): let the others'
            // handlers start before this one's bookkeeping.
            Effect.tap(() => starting > 0 ? Effect.yieldNow : Effect.void),
            Effect.flatMap((ended) => {
              // Its fiber goes on to other runs: interrupting this one must not reach them.
              entry.fiber = undefined
              // Revoked or superseded while it ran: its outcome is not this node's to write.
              if (!current(entry) || entry.phase !== "running") return Effect.void
              entry.phase = "done"
              release(entry, ended.outcome.endedAt)
              return outcomes.offer({ run, event: ended.event, outcome: { ...ended.outcome, startedAt } })
            })
          )
        })
      }).pipe(Effect.onInterrupt(() => Effect.andThen(interrupted(entry), pump)))
    }

    // The latest store instant read: a head due by it needs no new reading.
    let seen = Number.NEGATIVE_INFINITY

    // The head of the queue when it is due by the latest store instant read
    // and a slot is free, marked started; else nothing.
    const takeDue = (): Held | undefined => {
      const head = queue.peek()
      if (head === undefined || running >= slots || head.run.startedAt > seen) return undefined
      queue.pop()
      head.phase = "running"
      if (head.ahead) outcomes.startedAhead()
      waiting--
      running++
      head.slot = true
      starting++
      return head
    }

    // A slot's fiber: runs `entry`, then the next due runs of the queue one
    // after the other while there are, with no fork (and no trip through the
    // scheduler) between them: a drain through a few slots would otherwise
    // spend more on starting fibers than on the runs. Past them, `pump`
    // (timers, the dispatcher's wake-up).
    const runSlot = (entry: Held): Effect.Effect<void> =>
      Effect.andThen(
        execute(entry),
        Effect.withFiber((fiber) => {
          const next = takeDue()
          if (next === undefined) return pump
          next.fiber = fiber
          return Effect.andThen(roomCheck, runSlot(next))
        })
      )

    // The dispatcher asked to hear when the queue runs down to a level (`wakeBelow`).
    const roomCheck = Effect.suspend(() => {
      if (wakeAt < 0 || waiting > wakeAt) return Effect.void
      wakeAt = -1
      return options.onRoom ?? Effect.void
    })

    // Starts queued runs while slots are free and the head is due (by the
    // store's clock), in queue order; past them, arms one timer for the
    // head's instant. Uninterruptible: a run marked started always gets its fiber.
    const pump: Effect.Effect<void> = Effect.uninterruptible(Effect.suspend(() => {
      if (waiting === 0 || running >= slots) return Effect.void
      return Effect.gen(function*() {
        const first = queue.peek()
        if (first !== undefined && first.run.startedAt > seen) seen = Math.max(seen, yield* storeNow)
        let entry = takeDue()
        while (entry !== undefined) {
          const started = entry
          const fiber = yield* Effect.forkIn(runSlot(started), scope, { startImmediately: true })
          started.fiber = fiber
          live.add(fiber)
          fiber.addObserver(() => {
            live.delete(fiber)
            started.fiber = undefined
          })
          entry = takeDue()
        }
        yield* roomCheck
        const head = queue.peek()
        if (head !== undefined && running < slots && head.run.startedAt > seen) yield* arm(head.run.startedAt)
      })
    }))

    // Runs claimed ahead start within a fraction of a millisecond of their instant.
    const sleepUntil = InstantWait.make(storeNow)

    const arm = (at: number) =>
      Effect.gen(function*() {
        if (timer !== undefined && timer.at <= at) return
        if (timer !== undefined) yield* Effect.forkIn(Fiber.interrupt(timer.fiber), scope)
        const fiber = yield* Effect.forkIn(
          Effect.andThen(sleepUntil(at), Effect.suspend(() => {
            timer = undefined
            return pump
          })),
          scope
        )
        timer = { at, fiber }
      })

    // Interrupts an attempt's handler in the background: never waits for it
    // (one that ignores interruption holds nothing up).
    const stop = (entry: Held) =>
      entry.fiber === undefined ? Effect.void : Effect.asVoid(Effect.forkIn(Fiber.interrupt(entry.fiber), scope))

    // Takes an entry away (revoked, superseded): it leaves the queue or gives back its slot.
    const takeAway = (entry: Held) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Effect.sync(() => {
          leave(entry)
          release(entry, at)
          entry.phase = "done"
          held.delete(entry.run.id)
        }))

    const leaseLost = (run: Run.Claimed) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        options.publish(Event.RunLeaseLost({ jobId: run.jobId, fireTime: run.fireTime, runId: run.id, at })))

    // Claimed runs join the queue; they start as slots free up, in due and
    // fire-time order, and never before their due instant.
    const accept = (claimed: ReadonlyArray<Run.Claimed>, adopted: boolean, storeInstant?: number) =>
      Effect.gen(function*() {
        if (claimed.length === 0) return
        for (const run of claimed) {
          const earlier = held.get(run.id)
          if (earlier !== undefined) {
            // The same attempt again, or (adopted) a run this node holds already: nothing to do.
            if (adopted || earlier.run.token === run.token) continue
            // Claimed anew: the store took the earlier attempt's lease. Its
            // handler is interrupted; nothing of it is recorded.
            yield* takeAway(earlier)
            yield* stop(earlier)
            yield* leaseLost(earlier.run)
          }
          const ahead = storeInstant !== undefined && run.startedAt > storeInstant
          const entry: Held = { run, phase: "waiting", fiber: undefined, slot: false, since: -1, ahead }
          held.set(run.id, entry)
          queue.push(entry)
          waiting++
        }
        yield* pump
      })

    const withdraw = Effect.sync(() => {
      const withdrawn = queue.drain()
      for (const entry of withdrawn) {
        entry.phase = "done"
        held.delete(entry.run.id)
      }
      waiting = 0
      return withdrawn.map(({ run }) => ({ id: run.id, token: run.token }))
    })

    const holding = (ids: ReadonlyArray<string>) => Effect.sync(() => new Set(ids.filter((id) => held.has(id))))

    const leases = Effect.sync(() => [...held.values()].map(({ run }) => ({ id: run.id, token: run.token })))

    const revoke = (lost: ReadonlyArray<Lease>) =>
      Effect.andThen(
        Effect.forEach(lost, ({ id, token }) =>
          Effect.gen(function*() {
            const entry = held.get(id)
            if (entry === undefined || entry.run.token !== token) return
            // Ended, its outcome on its way to the store: the store's answer
            // to that outcome decides (`record` tells RunLeaseLost if it is
            // refused). A renewal sent as the outcome was being written is
            // told "lost" for a run that in fact succeeded.
            if (entry.phase === "done") return
            // Done first, so neither its end nor its interrupt hook writes an outcome.
            yield* takeAway(entry)
            yield* stop(entry)
            yield* leaseLost(entry.run)
          }), { discard: true }),
        pump
      )

    const cancel = (leases: ReadonlyArray<Lease>, marginMs = 2_000) =>
      Effect.andThen(
        Effect.forEach(leases, ({ id, token }) =>
          Effect.gen(function*() {
            const entry = held.get(id)
            if (entry === undefined || entry.run.token !== token || entry.phase === "done") return
            const { fiber, run } = entry
            if (entry.phase === "running" && fiber !== undefined) {
              // Its handler runs: interrupted, it is recorded cancelled (see
              // `interrupted`); ended first on its own, its own outcome
              // stands (the work was done). One that ignores interruption
              // past `marginMs` is recorded cancelled all the same and
              // abandoned, as at shutdown. Held until recorded, so its lease
              // is still renewed.
              entry.cancelling = true
              const abandoned = Effect.suspend(() => {
                if (!current(entry) || entry.phase !== "running") return Effect.void
                entry.phase = "done"
                return Effect.flatMap(Clock.currentTimeMillis, (endedAt) => {
                  release(entry, endedAt)
                  return outcomes.offer(Outcomes.cancelled(run, endedAt))
                })
              })
              yield* Effect.forkIn(Effect.andThen(Bounded.within(Fiber.interrupt(fiber), marginMs), abandoned), scope)
              return
            }
            // Not started (queued, or claimed ahead of its instant): it never starts.
            leave(entry)
            release(entry, yield* Clock.currentTimeMillis)
            entry.phase = "done"
            yield* outcomes.offer(Outcomes.cancelled(run, yield* Clock.currentTimeMillis))
          }), { discard: true }),
        pump
      )

    const load = Effect.sync((): Load => ({ running, waiting, meanRunMs }))
    const wakeBelow = (level: number) =>
      Effect.suspend(() => {
        if (waiting <= level) return options.onRoom ?? Effect.void
        wakeAt = level
        return Effect.void
      })

    // Revoked, withdrawn and superseded entries leave `held`: what is done there waits for its record.
    const ended = Effect.sync(() => {
      const out: Array<Lease> = []
      for (const { phase, run } of held.values()) if (phase === "done") out.push({ id: run.id, token: run.token })
      return out
    })

    const awaitRuns = Effect.suspend(() => Effect.forEach([...live], Fiber.await, { discard: true }))

    const drain = (graceMs: number, marginMs = 2_000) =>
      Effect.gen(function*() {
        const done = graceMs > 0 ? yield* Effect.timeoutOption(awaitRuns, graceMs) : Option.none()
        if (Option.isNone(done)) {
          const interrupted = yield* Bounded.within(Fiber.interruptAll([...live]), marginMs)
          if (Option.isNone(interrupted)) {
            yield* Effect.logWarning(`${live.size} handlers did not end within ${marginMs} ms of their interruption; abandoned`)
          }
        }
        yield* outcomes.flush(marginMs)
      })

    return {
      submit: (runs: ReadonlyArray<Run.Claimed>, storeInstant?: number) =>
        Effect.suspend(() => {
          // The store's time was at least the claim's instant: runs due by it need no clock reading.
          if (storeInstant !== undefined && storeInstant > seen) seen = storeInstant
          return accept(runs, false, storeInstant)
        }),
      adopt: (runs: ReadonlyArray<Run.Claimed>) => accept(runs, true),
      withdraw,
      holding,
      leases,
      revoke,
      cancel,
      load,
      wakeBelow,
      ended,
      recorder: outcomes.recorder,
      drain
    }
  })
