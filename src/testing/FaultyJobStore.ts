/**
 * A store that fails on purpose: wraps any `JobStore` and injects faults into
 * chosen operations, with the same error values a real store produces.
 *
 * A fault plan is a pure function of the operation, how many times it has
 * been called, and the store's clock; helpers build the common plans (the
 * n-th call, every call in a time window, a generated sequence). A fault can
 * strike before the operation (nothing happens, like a transaction rolled
 * back), after it (it happened, but the answer was lost, like a connection
 * dropped during commit), or as a defect.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { JobStore } from "../JobStore.ts"
import { StoreError } from "../StoreError.ts"

/**
 * The store operations a plan can target.
 *
 * @since 0.1.0
 */
export type Operation =
  | "now"
  | "register"
  | "add"
  | "addMany"
  | "update"
  | "setPaused"
  | "remove"
  | "get"
  | "list"
  | "triggerNow"
  | "claim"
  | "nextWake"
  | "finish"
  | "renew"
  | "adopt"
  | "release"
  | "reap"
  | "history"
  | "prune"
  | "historyPage"
  | "listJobs"
  | "getRun"
  | "cancel"
  | "stateCounts"
  | "heartbeat"
  | "nodes"
  | "leave"
  | "changes"

/**
 * What happens to one call.
 *
 * @since 0.1.0
 */
export type Fault =
  | { readonly _tag: "Fail"; readonly error: StoreError }
  | { readonly _tag: "FailAfter"; readonly error: StoreError }
  | { readonly _tag: "Die"; readonly defect: unknown }

/**
 * Decides, per call, whether to inject a fault. `call` counts calls of that
 * operation from 1; `now` is the wrapped store's clock (epoch ms).
 *
 * @since 0.1.0
 */
export type Plan = (operation: Operation, call: number, now: number) => Fault | undefined

/**
 * A retryable error like a dropped connection.
 *
 * @example
 * ```ts
 * import { FaultyJobStore } from "steadfast/testing"
 *
 * const error = FaultyJobStore.connectionLost("claim")
 * error.retryable // true
 * ```
 *
 * @since 0.1.0
 */
export const connectionLost = (operation: string): StoreError =>
  new StoreError({ operation, reason: "ConnectionError", retryable: true, cause: new Error("connection lost (injected)") })

/**
 * A fatal (not retryable) error like a failed constraint.
 *
 * @since 0.1.0
 */
export const fatal = (operation: string): StoreError =>
  new StoreError({ operation, reason: "ConstraintError", retryable: false, cause: new Error("constraint violated (injected)") })

/**
 * Fails the n-th call of an operation (before it takes effect).
 *
 * @example
 * ```ts
 * import { FaultyJobStore } from "steadfast/testing"
 *
 * const plan = FaultyJobStore.nthCall("claim", 2)
 * ```
 *
 * @since 0.1.0
 */
export const nthCall = (
  target: Operation,
  n: number,
  fault: (operation: Operation) => Fault = (operation) => ({ _tag: "Fail", error: connectionLost(operation) })
): Plan =>
(operation, call) => operation === target && call === n ? fault(operation) : undefined

/**
 * Fails the first call of an operation made when the store's clock reads
 * `at` or later (before it takes effect, unless `fault` says otherwise).
 *
 * @example
 * ```ts
 * import { FaultyJobStore } from "steadfast/testing"
 *
 * // the claim that would materialise the 12:00:05 fire commits, but its reply is lost
 * const plan = FaultyJobStore.firstCallAt("claim", Date.parse("2026-01-01T12:00:05Z"), (op) => ({
 *   _tag: "FailAfter",
 *   error: FaultyJobStore.connectionLost(op)
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const firstCallAt = (
  target: Operation,
  at: number,
  fault: (operation: Operation) => Fault = (operation) => ({ _tag: "Fail", error: connectionLost(operation) })
): Plan => {
  let struck = false
  return (operation, _call, now) => {
    if (struck || operation !== target || now < at) return undefined
    struck = true
    return fault(operation)
  }
}

/**
 * Fails every call (of the given operations, or all) while the store's clock
 * is within `[from, until)`: an outage.
 *
 * @since 0.1.0
 */
export const during = (
  from: number,
  until: number,
  operations?: ReadonlyArray<Operation>
): Plan =>
(operation, _call, now) =>
  now >= from && now < until && (operations === undefined || operations.includes(operation))
    ? { _tag: "Fail", error: connectionLost(operation) }
    : undefined

/**
 * Combines plans: the first that injects a fault wins.
 *
 * @since 0.1.0
 */
export const combine = (...plans: ReadonlyArray<Plan>): Plan => (operation, call, now) => {
  for (const plan of plans) {
    const fault = plan(operation, call, now)
    if (fault !== undefined) return fault
  }
  return undefined
}

/**
 * Wraps a store so that `plan` decides which calls fail.
 *
 * @since 0.1.0
 */
export const wrap = (store: JobStore["Service"], plan: Plan): JobStore["Service"] => {
  const calls = new Map<Operation, number>()
  const inject = <A, E>(operation: Operation, effect: Effect.Effect<A, E>): Effect.Effect<A, E | StoreError> =>
    Effect.gen(function*() {
      const call = (calls.get(operation) ?? 0) + 1
      calls.set(operation, call)
      const now = yield* Effect.orDie(store.now)
      const fault = plan(operation, call, now)
      if (fault === undefined) return yield* effect
      switch (fault._tag) {
        case "Fail":
          return yield* fault.error
        case "Die":
          return yield* Effect.die(fault.defect)
        case "FailAfter":
          yield* effect
          return yield* fault.error
      }
    })
  return JobStore.of({
    now: inject("now", store.now),
    register: (jobs, options) => inject("register", store.register(jobs, options)),
    add: (job) => inject("add", store.add(job)),
    addMany: (jobs) => inject("addMany", store.addMany(jobs)),
    update: (job) => inject("update", store.update(job)),
    setPaused: (id, paused) => inject("setPaused", store.setPaused(id, paused)),
    remove: (id) => inject("remove", store.remove(id)),
    get: (id) => inject("get", store.get(id)),
    list: inject("list", store.list),
    triggerNow: (id, payload) => inject("triggerNow", store.triggerNow(id, payload)),
    claim: (request) => inject("claim", store.claim(request)),
    nextWake: (tasks, aheadMs, share) => inject("nextWake", store.nextWake(tasks, aheadMs, share)),
    finish: (outcomes) => inject("finish", store.finish(outcomes)),
    renew: (node, leases, leaseMs) => inject("renew", store.renew(node, leases, leaseMs)),
    adopt: (node, tokens, leaseMs) => inject("adopt", store.adopt(node, tokens, leaseMs)),
    release: (node, leases) => inject("release", store.release(node, leases)),
    reap: inject("reap", store.reap),
    history: (query) => inject("history", store.history(query)),
    prune: (retention) => inject("prune", store.prune(retention)),
    historyPage: (query) => inject("historyPage", store.historyPage(query)),
    listJobs: (query) => inject("listJobs", store.listJobs(query)),
    getRun: (id) => inject("getRun", store.getRun(id)),
    cancel: (id) => inject("cancel", store.cancel(id)),
    stateCounts: (jobId, sinceMs) => inject("stateCounts", store.stateCounts(jobId, sinceMs)),
    heartbeat: (info) => inject("heartbeat", store.heartbeat(info)),
    nodes: (staleAfterMs) => inject("nodes", store.nodes(staleAfterMs)),
    leave: (node, instance) => inject("leave", store.leave(node, instance)),
    changes: Stream.unwrap(Effect.as(inject("changes", Effect.void), store.changes)),
    // Wake-ups only: faults of the feed are those of `changes`.
    cancelRequests: store.cancelRequests
  })
}

/**
 * Wraps the `JobStore` below it.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { MemoryJobStore } from "steadfast"
 * import { FaultyJobStore } from "steadfast/testing"
 *
 * const store = FaultyJobStore.layer(FaultyJobStore.nthCall("claim", 3)).pipe(Layer.provide(MemoryJobStore.layer))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (plan: Plan): Layer.Layer<JobStore, never, JobStore> =>
  Layer.effect(JobStore, Effect.gen(function*() {
    return wrap(yield* JobStore, plan)
  }))

/**
 * Turns a failure plan given as data (see `Arbitraries.failurePlan`) into a
 * `Plan`: outages fail every call while the store clock is in their
 * window; single failures strike the given call of an operation.
 *
 * @example
 * ```ts
 * import { FaultyJobStore } from "steadfast/testing"
 *
 * const plan = FaultyJobStore.fromPlan({
 *   outages: [{ from: 10_000, until: 15_000, error: FaultyJobStore.connectionLost("claim") }],
 *   single: []
 * })
 * ```
 *
 * @since 0.1.0
 */
export const fromPlan = (plan: {
  readonly outages: ReadonlyArray<{ readonly from: number; readonly until: number; readonly error: StoreError }>
  readonly single: ReadonlyArray<{
    readonly operation: Operation
    readonly call: number
    readonly when: "before" | "after"
    readonly error: StoreError
  }>
}): Plan =>
(operation, call, now) => {
  for (const outage of plan.outages) {
    if (now >= outage.from && now < outage.until) return { _tag: "Fail", error: outage.error }
  }
  for (const single of plan.single) {
    if (single.operation === operation && single.call === call) {
      return { _tag: single.when === "before" ? "Fail" : "FailAfter", error: single.error }
    }
  }
  return undefined
}
