/**
 * The dispatcher's claims, so that no claimed fire is lost on a live node.
 *
 * Every claim carries a fencing token of its own (`ClaimRequest.token`,
 * unique to this process). A claim that fails or is interrupted may have
 * committed all the same: the connection dropped after COMMIT reached the
 * server, the caller stopped waiting at its deadline, the scope closed while
 * the answer was on its way. Its token is kept as unanswered, and the runs
 * the store holds under it are adopted (`JobStore.adopt`) and run by this
 * node: at the dispatcher's next pass, and again every second for
 * `settleMs` (a COMMIT delivered late lands within the store's
 * idle-in-transaction bound). Adopting by token, not by "whatever runs under
 * this node's name", never takes runs of another process that shares the
 * name, nor of an earlier process of that name (whose handlers may have
 * started them): those are the reaper's.
 *
 * At shutdown, `handBack` returns to pending, at once, what this node claimed
 * and will not start: the executor's runs not started yet (queued, or claimed
 * ahead and waiting for their instant) and the runs of unanswered claims, so
 * that another node runs them within seconds instead of after their lease.
 * A claim given up an instant before is looked for `commitLatencyMs` after
 * it, and again after the grace period (the scheduler hands back twice).
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import type { Executor } from "../Executor.ts"
import type { ClaimResult, JobStore, Lease, Share } from "../JobStore.ts"
import * as Metrics from "../Metrics.ts"
import type { StoreGuard } from "./StoreGuard.ts"
import * as Telemetry from "./Telemetry.ts"

/**
 * How long the runs of an unanswered claim are looked for: past the store's
 * idle-in-transaction bound (5 s by default) and the driver's cancel bound
 * (5 s), its COMMIT can no longer land.
 *
 * @since 0.2.0
 */
export const settleMs = 15_000

/**
 * How often, while some unanswered claim may still land, its runs are looked for.
 *
 * @since 0.2.0
 */
export const recheckMs = 1_000

/**
 * How long after a claim was given up (interrupted by shutdown, say) its
 * runs are first looked for when handing back: its COMMIT may have reached
 * the server an instant before, and become visible to another connection an
 * instant after.
 *
 * @since 0.2.0
 */
export const commitLatencyMs = 300

/**
 * What the claims need.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly node: string
  readonly tasks: ReadonlyArray<string>
  readonly leaseMs: number
  readonly store: JobStore["Service"]
  readonly guard: StoreGuard
  readonly executor: Pick<Executor, "submit" | "adopt" | "withdraw" | "holding" | "ended">
}

/**
 * The claims of one dispatcher.
 *
 * @since 0.2.0
 */
export interface Claims {
  /**
   * Claims up to `limit` runs (retried under the guard, each attempt with a
   * token of its own) and submits them to the executor; an answer that
   * arrived is submitted before anything can interrupt.
   */
  readonly claim: (limit: number, aheadMs: number, share?: Share) => Effect.Effect<ClaimResult, unknown>
  /**
   * Round trip of recent answered claims, ms, as a decaying peak (the
   * slowest recent one, fading by a tenth per claim); `undefined` before one.
   */
  readonly claimMs: Effect.Effect<number | undefined>
  /** How many claim attempts failed or were interrupted so far. */
  readonly failures: Effect.Effect<number>
  /** Whether some unanswered claim may still have runs to adopt. */
  readonly unanswered: Effect.Effect<boolean>
  /** Adopts the runs of unanswered claims (nothing to do, no statement). */
  readonly adopt: Effect.Effect<void, unknown>
  /** Hands back what was claimed and will not start (see the module's notes). */
  readonly handBack: Effect.Effect<void, unknown>
}

// A random prefix per dispatcher (per process and scheduler) and a counter.
// Random from the platform, not Effect's `Random`, which tests seed: two
// nodes must never share a token.
const tokenSource = () => {
  const prefix = globalThis.crypto.randomUUID().replaceAll("-", "").slice(0, 16)
  let sequence = 0
  return () => `${prefix}.${(++sequence).toString(36)}`
}

/**
 * Builds the claims of one dispatcher. Its unanswered tokens live as long as
 * the dispatcher, across restarts of its loop.
 *
 * @since 0.2.0
 */
export const make = (options: Options): Claims => {
  const { executor, guard, store } = options
  const nextToken = tokenSource()
  // Tokens of claim attempts that failed or were interrupted, with when.
  const unanswered = new Map<string, number>()
  let failures = 0

  let claimMs: number | undefined

  const attempt = (limit: number, aheadMs: number, share: Share | undefined) =>
    Effect.gen(function*() {
      const token = nextToken()
      // Runs whose handlers ended hold no overlap slot while their outcome is on its way.
      const ended = yield* executor.ended
      const sent = yield* Clock.currentTimeMillis
      const request = { node: options.node, tasks: options.tasks, limit, leaseMs: options.leaseMs, token, ended, aheadMs, share }
      return yield* store.claim(request).pipe(
        Effect.onExit((exit) =>
          Effect.flatMap(Clock.currentTimeMillis, (at) =>
            Effect.sync(() => {
              if (Exit.isSuccess(exit)) {
                // A decaying peak: a slow claim counts at once, and fades over some ten claims.
                const took = at - sent
                claimMs = claimMs === undefined ? took : Math.max(took, claimMs * 0.9)
                return
              }
              unanswered.set(token, at)
              failures++
            }))
        )
      )
    })

  const backlog = Metric.withAttributes(Metrics.backlog, { node: options.node })
  const claim = (limit: number, aheadMs: number, share?: Share) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.tap(
        restore(guard("claim", attempt(limit, aheadMs, share))),
        (result) => Effect.andThen(executor.submit(result.runs, result.at), Telemetry.claimed(backlog, limit, result))
      )
    )

  // An outage fails every attempt, each leaving a token: past a lease, the
  // runs of any of them are the reaper's, so the token is dropped, looked for
  // or not. Bounds what an outage accumulates.
  const forgetExpired = Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.sync(() => {
      for (const [token, since] of unanswered) {
        if (now - since > options.leaseMs) unanswered.delete(token)
      }
    }))

  const adopt = Effect.gen(function*() {
    yield* forgetExpired
    if (unanswered.size === 0) return
    const tokens = [...unanswered.keys()]
    const adopted = yield* Effect.uninterruptibleMask((restore) =>
      Effect.tap(
        restore(guard("adopt", store.adopt(options.node, tokens, options.leaseMs))),
        (runs) => executor.adopt(runs)
      )
    )
    if (adopted.length > 0) {
      yield* Effect.logInfo(`adopted ${adopted.length} runs of claims whose answer never arrived`)
    }
    const now = yield* Clock.currentTimeMillis
    for (const token of tokens) {
      if (now - (unanswered.get(token) ?? now) >= settleMs) unanswered.delete(token)
    }
  })

  const handBack = Effect.gen(function*() {
    const withdrawn = yield* executor.withdraw
    let leases: ReadonlyArray<Lease> = withdrawn
    if (unanswered.size > 0) {
      const wait = Math.max(...unanswered.values()) + commitLatencyMs - (yield* Clock.currentTimeMillis)
      if (wait > 0) yield* Effect.sleep(wait)
      const runs = yield* guard("adopt", store.adopt(options.node, [...unanswered.keys()], options.leaseMs))
      // Runs adopted earlier and started are the executor's: not handed back.
      const held = yield* executor.holding(runs.map((run) => run.id))
      const known = new Set(withdrawn.map((lease) => lease.id))
      leases = [
        ...withdrawn,
        ...runs.filter((run) => !held.has(run.id) && !known.has(run.id)).map((run) => ({ id: run.id, token: run.token }))
      ]
    }
    if (leases.length === 0) return
    const released = yield* guard("release", store.release(options.node, leases))
    yield* Effect.logInfo(`handed back ${released.length} runs claimed but not started`)
  })

  return {
    claim,
    claimMs: Effect.sync(() => claimMs),
    failures: Effect.sync(() => failures),
    unanswered: Effect.sync(() => unanswered.size > 0),
    adopt,
    handBack
  }
}
