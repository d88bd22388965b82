/**
 * The in-memory store: for tests and single-process use.
 *
 * It obeys the same contract as the PostgreSQL store (the shared contract
 * suite runs against both). Its clock is Effect's `Clock`, so `TestClock`
 * drives it. Every operation is one synchronous block, which is what makes it
 * atomic: JavaScript runs one block at a time, so claims cannot interleave.
 * Like the PostgreSQL store, it writes every instant of a record from its
 * own clock (an outcome's `endedAt` is the node's, and is not recorded), keeps
 * manual runs in a key space of their own, and sets aside (pauses, with a
 * note) a job whose fires cannot be planned instead of failing the claim.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as FirePlan from "./FirePlan.ts"
import type * as Job from "./Job.ts"
import * as Browse from "./internal/memoryBrowse.ts"
import { inShare } from "./internal/cluster.ts"
import { planDue } from "./internal/plannedFires.ts"
import {
  JobExists,
  JobNotFound,
  JobStore,
  RunNotCancellable,
  RunNotFound,
  type SetAside,
  type StoredJob
} from "./JobStore.ts"
import * as Run from "./Run.ts"
import * as Trigger from "./Trigger.ts"

type RunRow = Browse.RunRow

// Compares what a declaration says, not what the store keeps beside it; a
// runtime pause is not part of the definition.
const definition = (job: Job.Job) =>
  JSON.stringify([job.task, job.payload, job.trigger, job.overlap, job.misfire, job.retry, job.timeout, job.onLost])
const definitionEquals = (a: Job.Job, b: Job.Job): boolean => definition(a) === definition(b)
const isSetAside = (job: StoredJob): boolean => job.setAside !== undefined && job.setAside !== null

/**
 * Builds an in-memory store.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { JobStore, MemoryJobStore } from "steadfast"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* JobStore.JobStore
 *   return yield* store.list
 * }).pipe(Effect.provide(MemoryJobStore.layer))
 * ```
 *
 * @since 0.1.0
 */
export const make = Effect.gen(function*() {
  const jobs = new Map<string, StoredJob>()
  const runs = new Map<string, RunRow>()
  const keys = new Set<string>()
  let sequence = 0
  const pubsub = yield* PubSub.sliding<true>(1)
  const notify = PubSub.publish(pubsub, true)
  // Cancel requests, for the node running the run (`cancelRequests`).
  const cancels = yield* PubSub.sliding<string>(1_024)

  // Manual runs have a key space of their own: one never takes a scheduled fire's key.
  const keyOf = (jobId: string, fireTime: number, manual: boolean) => `${jobId}|${manual ? "m" : "s"}|${fireTime}`

  const addRun = (
    job: StoredJob,
    fire: { fireTime: number; dueAt: number; state: Run.State; note: string | null; catchUp: boolean },
    manual: boolean,
    payload: Job.Job["payload"] | null,
    at: number
  ): RunRow | undefined => {
    const key = keyOf(job.id, fire.fireTime, manual)
    if (keys.has(key)) return undefined
    keys.add(key)
    const row: RunRow = {
      record: {
        id: String(++sequence),
        jobId: job.id,
        fireTime: fire.fireTime,
        dueAt: fire.dueAt,
        state: fire.state,
        attempt: 1,
        node: null,
        startedAt: null,
        // A fire settled without running ends when the store settled it.
        endedAt: Run.finalStates.has(fire.state) ? at : null,
        error: null,
        note: fire.note,
        manual
      },
      token: "",
      leaseUntil: 0,
      payload,
      catchUp: fire.catchUp,
      cancelRequested: false
    }
    runs.set(row.record.id, row)
    return row
  }

  const store = (job: Job.Job, source: StoredJob["source"], version: number, now: number, previous?: StoredJob) => {
    const triggerChanged = previous === undefined ||
      JSON.stringify(previous.trigger) !== JSON.stringify(job.trigger)
    const stored: StoredJob = {
      ...job,
      source,
      version,
      nextFire: triggerChanged ? FirePlan.initialFire(job.trigger, now) : previous.nextFire,
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
      // A new definition is tried afresh by the next claim.
      setAside: null
    }
    jobs.set(job.id, stored)
    return stored
  }

  // Whole milliseconds, like the PostgreSQL store (TestClock can be fractional after jittered sleeps).
  const now = Effect.map(Clock.currentTimeMillis, Math.floor)

  const register: JobStore["Service"]["register"] = (declared, options) =>
    Effect.map(now, (t) => {
      const inserted: Array<string> = []
      const updated: Array<string> = []
      const unchanged: Array<string> = []
      const superseded: Array<string> = []
      const orphaned: Array<string> = []
      const ids = new Set<string>()
      for (const job of declared) {
        ids.add(job.id)
        const existing = jobs.get(job.id)
        if (existing === undefined) {
          store(job, "code", options.version, t)
          inserted.push(job.id)
        } else if (existing.source === "code" && existing.version > options.version) {
          superseded.push(job.id)
        } else if (existing.source === "code" && definitionEquals(existing, job)) {
          if (existing.version !== options.version) jobs.set(job.id, { ...existing, version: options.version })
          unchanged.push(job.id)
        } else {
          // A runtime pause outlives restarts: the declaration's `paused` applies on insert only,
          // and in place of a pause by which a claim set the stored job aside.
          store({ ...job, paused: isSetAside(existing) ? job.paused : existing.paused }, "code", options.version, t, existing)
          updated.push(job.id)
        }
      }
      for (const job of jobs.values()) {
        if (job.source !== "code" || ids.has(job.id) || job.version >= options.version) continue
        orphaned.push(job.id)
        if (options.orphans === "pause" && !job.paused) jobs.set(job.id, { ...job, paused: true, updatedAt: t })
        if (options.orphans === "remove") removeNow(job.id, t)
      }
      return { inserted, updated, unchanged, superseded, orphaned }
    })

  const removeNow = (id: string, t: number): boolean => {
    if (!jobs.delete(id)) return false
    for (const row of runs.values()) {
      if (row.record.jobId === id && row.record.state === "pending") {
        row.record = { ...row.record, state: "cancelled", endedAt: t, note: "job removed" }
      }
    }
    return true
  }

  // Runs whose handlers ended (`ClaimRequest.ended`) hold no overlap slot.
  // A running row as the executor takes it (claimed or adopted).
  const toClaimed = (row: RunRow, job: Job.Job, startedAt: number): Run.Claimed => ({
    id: row.record.id,
    jobId: job.id,
    fireTime: row.record.fireTime,
    dueAt: row.record.dueAt,
    attempt: row.record.attempt,
    token: row.token,
    task: job.task,
    payload: row.payload ?? job.payload,
    retry: job.retry,
    timeout: job.timeout,
    startedAt,
    manual: row.record.manual,
    misfire: job.misfire
  })

  const noneEnded: ReadonlySet<string> = new Set()
  const runningCount = (jobId: string, ended: ReadonlySet<string> = noneEnded): number => {
    let n = 0
    for (const row of runs.values()) {
      if (row.record.jobId === jobId && row.record.state === "running" && !ended.has(`${row.record.id}/${row.token}`)) n++
    }
    return n
  }

  const earliestRunningStart = (jobId: string, ended: ReadonlySet<string>): number => {
    let earliest = Infinity
    for (const row of runs.values()) {
      if (row.record.jobId === jobId && row.record.state === "running" && !ended.has(`${row.record.id}/${row.token}`)) {
        earliest = Math.min(earliest, row.record.startedAt ?? Infinity)
      }
    }
    return earliest
  }

  const nodeTable = Browse.nodeTable(now)

  const claim: JobStore["Service"]["claim"] = (request) =>
    Effect.map(now, (t) => {
      const tasks = new Set(request.tasks)
      const ended = new Set((request.ended ?? []).map((lease) => `${lease.id}/${lease.token}`))
      const settled: Array<Run.RunRecord> = []
      const setAside: Array<SetAside> = []
      const aheadMs = request.aheadMs ?? 0
      const place = nodeTable.place(request.share, t)
      // Fires planned ahead of their due instant (claim ahead): claimable now, to start when due.
      const ahead = new Set<RunRow>()
      // Jobs with a run in progress, in one pass (not one per job).
      const busy = new Set<string>()
      if (aheadMs > 0) {
        for (const row of runs.values()) {
          if (row.record.state === "running" && !ended.has(`${row.record.id}/${row.token}`)) busy.add(row.record.jobId)
        }
      }
      for (const job of jobs.values()) {
        if (job.paused || !tasks.has(job.task) || job.nextFire === null) continue
        // Claimed ahead only when nothing of the job runs (overlap decides
        // once due), and only in this node's share.
        const window = aheadMs > 0 && !busy.has(job.id) && inShare(job.id, place) ? aheadMs : 0
        const planned = planDue(job, job.nextFire, t, window)
        if (Result.isFailure(planned)) {
          const aside: SetAside = { jobId: job.id, reason: "unplannable", detail: planned.failure, at: t }
          setAside.push(aside)
          jobs.set(job.id, { ...job, paused: true, setAside: `${aside.reason}: ${aside.detail}`, updatedAt: t })
          continue
        }
        const { plan } = planned.success
        if (plan === null) continue
        for (const fire of plan.fires) {
          const row = addRun(job, fire, false, null, t)
          if (row !== undefined && fire.state !== "pending") settled.push(row.record)
          if (row !== undefined && fire.state === "pending" && fire.dueAt > t) ahead.add(row)
        }
        jobs.set(job.id, { ...job, nextFire: plan.nextFire })
      }
      const claimed: Array<Run.Claimed> = []
      const pending = [...runs.values()]
        .filter((row) => row.record.state === "pending" && (row.record.dueAt <= t || ahead.has(row)))
        .sort((a, b) => a.record.dueAt - b.record.dueAt || a.record.fireTime - b.record.fireTime)
      const running = new Map<string, number>()
      // Per job, the earliest start among runs running before this claim.
      const firstStart = new Map<string, number>()
      for (const row of pending) {
        if (claimed.length >= request.limit) break
        const job = jobs.get(row.record.jobId)
        if (job === undefined || job.paused || !tasks.has(job.task)) continue
        const first = firstStart.get(job.id) ?? earliestRunningStart(job.id, ended)
        firstStart.set(job.id, first)
        const active = running.get(job.id) ?? runningCount(job.id, ended)
        if (active >= job.overlap.max) {
          // Skip means "this fire found the job running": a run that started only
          // after the fire came due (a backlog after an outage or a pause) makes it wait.
          // (A run started in the very millisecond the fire came due was started by
          // the claim that found the fire due, with nothing running: it waits too.)
          const foundRunning = first < row.record.dueAt
          if (job.overlap.onLimit === "skip" && foundRunning && !row.catchUp && !row.record.manual) {
            row.record = {
              ...row.record,
              state: "skipped",
              endedAt: t,
              note: `overlap limit ${job.overlap.max} reached`
            }
            settled.push(row.record)
          }
          continue
        }
        running.set(job.id, active + 1)
        // A fire claimed ahead starts when it is due.
        const startedAt = Math.max(t, row.record.dueAt)
        row.token = request.token ?? `${request.node}:${++sequence}`
        row.leaseUntil = t + request.leaseMs
        row.record = { ...row.record, state: "running", node: request.node, startedAt }
        claimed.push(toClaimed(row, job, startedAt))
      }
      return { runs: claimed, settled, setAside, at: t }
    })

  const nextWake: JobStore["Service"]["nextWake"] = (taskList, aheadMs = 0, share) =>
    Effect.map(now, (t) => {
      const place = nodeTable.place(share, t)
      const tasks = new Set(taskList)
      const busy = new Set<string>()
      if (aheadMs > 0) for (const row of runs.values()) if (row.record.state === "running") busy.add(row.record.jobId)
      let earliest = Infinity
      for (const job of jobs.values()) {
        if (job.paused || !tasks.has(job.task) || job.nextFire === null) continue
        const due = Trigger.dueAt(job.trigger, job.nextFire, job.id)
        earliest = Math.min(earliest, aheadMs > 0 && !busy.has(job.id) && inShare(job.id, place) ? due - aheadMs : due)
      }
      for (const row of runs.values()) {
        if (row.record.state !== "pending") continue
        const job = jobs.get(row.record.jobId)
        if (job === undefined || job.paused || !tasks.has(job.task)) continue
        if (runningCount(job.id) >= job.overlap.max) continue
        earliest = Math.min(earliest, row.record.dueAt)
      }
      return earliest === Infinity ? Option.none() : Option.some(earliest)
    })

  const finish: JobStore["Service"]["finish"] = (outcomes) =>
    Effect.flatMap(
      Effect.map(now, (t) =>
        outcomes.map((outcome) => {
          const row = runs.get(outcome.id)
          if (row === undefined || row.token !== outcome.token) return false
          // The same outcome again (a retry after a lost reply) is accepted, changing nothing:
          // a token ends one run once, so the same state, attempt and error under it are that outcome.
          if (
            row.record.state === outcome.state && row.record.attempt === outcome.attempt &&
            row.record.error === outcome.error
          ) return true
          if (row.record.state !== "running") return false
          // A start later than the claim's (the run waited for a slot); never
          // past now, which a run claimed ahead and cancelled before its
          // instant would otherwise have (started and ended in the future).
          // A run its node found too late to start (`missed`) never started.
          const claimedStart = row.record.startedAt ?? t
          const startedAt = outcome.state === "missed"
            ? null
            : Math.min(Math.max(claimedStart, outcome.startedAt ?? claimedStart), t)
          row.record = {
            ...row.record,
            state: outcome.state,
            attempt: outcome.attempt,
            startedAt,
            // The store's clock, never the node's (`outcome.endedAt`).
            endedAt: t,
            error: outcome.error,
            note: outcome.note === undefined ? row.record.note : outcome.note
          }
          return true
        })
      ),
      (accepted) => Effect.as(notify, accepted)
    )

  const renew: JobStore["Service"]["renew"] = (node, leases, leaseMs) =>
    Effect.map(now, (t) => {
      const lost: Array<string> = []
      const cancel: Array<string> = []
      for (const lease of leases) {
        const row = runs.get(lease.id)
        if (
          row === undefined || row.record.state !== "running" || row.token !== lease.token ||
          row.record.node !== node
        ) {
          lost.push(lease.id)
        } else {
          row.leaseUntil = t + leaseMs
          if (row.cancelRequested) cancel.push(lease.id)
        }
      }
      return { lost, cancel }
    })

  const adopt: JobStore["Service"]["adopt"] = (node, tokens, leaseMs) =>
    Effect.map(now, (t) => {
      const wanted = new Set(tokens)
      const adopted: Array<Run.Claimed> = []
      for (const row of runs.values()) {
        if (row.record.state !== "running" || row.record.node !== node || !wanted.has(row.token)) continue
        // Cancelled before its node learned it held the run: never started (the reaper records it).
        if (row.cancelRequested) continue
        const job = jobs.get(row.record.jobId)
        if (job === undefined) continue
        row.leaseUntil = t + leaseMs
        adopted.push(toClaimed(row, job, row.record.startedAt ?? t))
      }
      return adopted.sort((a, b) => a.dueAt - b.dueAt || a.fireTime - b.fireTime || Number(a.id) - Number(b.id))
    })

  const release: JobStore["Service"]["release"] = (node, leases) =>
    Effect.flatMap(
      Effect.map(now, (t) => {
        const released: Array<string> = []
        for (const lease of leases) {
          const row = runs.get(lease.id)
          if (
            row === undefined || row.record.state !== "running" || row.token !== lease.token ||
            row.record.node !== node
          ) continue
          row.token = ""
          row.leaseUntil = 0
          released.push(lease.id)
          // Never started, and an operator asked to cancel it: it ends here.
          if (row.cancelRequested) {
            // Never before its start (a run claimed ahead starts at its due instant).
            const endedAt = Math.max(t, row.record.startedAt ?? t)
            row.record = { ...row.record, state: "cancelled", endedAt, note: Browse.cancelledNote }
            continue
          }
          // Not a new fire: an overlap limit must not skip it.
          row.catchUp = true
          row.record = { ...row.record, state: "pending", node: null, startedAt: null }
        }
        return released
      }),
      (released) => released.length > 0 ? Effect.as(notify, released) : Effect.succeed(released)
    )

  const reap: JobStore["Service"]["reap"] = Effect.flatMap(now, (t) => {
    const reaped: Array<Run.RunRecord> = []
    for (const row of runs.values()) {
      if (row.record.state !== "running" || row.leaseUntil >= t) continue
      const job = jobs.get(row.record.jobId)
      const note = `lease of node ${row.record.node} expired`
      row.token = ""
      row.record = row.cancelRequested
        // Its node died before it learned of the request: cancelled, not lost or retried.
        ? { ...row.record, state: "cancelled", endedAt: t, note: `${Browse.cancelledNote}; ${note}` }
        : job?.onLost === "retry"
        ? {
          ...row.record,
          state: "pending",
          attempt: row.record.attempt + 1,
          node: null,
          startedAt: null,
          note: `${note}; retried`
        }
        : { ...row.record, state: "lost", endedAt: t, note }
      // A retried run must not be skipped by overlap: it is not a new fire.
      row.catchUp = true
      reaped.push(row.record)
    }
    return reaped.length > 0 ? Effect.as(notify, reaped) : Effect.succeed(reaped)
  })

  const cancel: JobStore["Service"]["cancel"] = (id) =>
    Effect.flatMap(now, (t): Effect.Effect<Run.RunRecord, RunNotFound | RunNotCancellable> => {
      const row = runs.get(id)
      if (row === undefined) return Effect.fail(new RunNotFound({ id }))
      const done = Browse.cancel(row, t)
      if (done === "ended") {
        // Cancelled already (a retried request, another operator): done, as asked.
        return row.record.state === "cancelled"
          ? Effect.succeed(row.record)
          : Effect.fail(new RunNotCancellable({ id, state: row.record.state }))
      }
      const wake = done === "requested" ? PubSub.publish(cancels, id) : notify
      return Effect.as(wake, row.record)
    })

  const mutateJob = (id: string, f: (job: StoredJob, t: number) => StoredJob) =>
    Effect.flatMap(now, (t) => {
      const job = jobs.get(id)
      if (job === undefined) return Effect.fail(new JobNotFound({ id }))
      const next = f(job, t)
      jobs.set(id, next)
      return Effect.as(notify, next)
    })

  return JobStore.of({
    now,
    register: (declared, options) => Effect.tap(register(declared, options), () => notify),
    add: (job) =>
      Effect.flatMap(now, (t) =>
        jobs.has(job.id)
          ? Effect.fail(new JobExists({ id: job.id }))
          : Effect.as(notify, store(job, "dynamic", 0, t))
      ),
    addMany: (batch) =>
      batch.length === 0 ? Effect.succeed(0) : Effect.flatMap(now, (t) => {
        // Checked whole before anything is stored: all or nothing.
        const seen = new Set<string>()
        for (const [index, { id }] of batch.entries()) {
          if (jobs.has(id) || seen.has(id)) return Effect.fail(new JobExists({ id, index }))
          seen.add(id)
        }
        for (const job of batch) store(job, "dynamic", 0, t)
        return Effect.as(notify, batch.length)
      }),
    update: (job) =>
      mutateJob(job.id, (existing, t) => store(job, existing.source, existing.version, t, existing)),
    // Resuming a job that a claim set aside lets the next claim try it again.
    setPaused: (id, paused) =>
      mutateJob(id, (job, t) => ({ ...job, paused, updatedAt: t, setAside: paused ? job.setAside ?? null : null })),
    remove: (id) => Effect.flatMap(now, (t) => Effect.as(notify, removeNow(id, t))),
    get: (id) => Effect.sync(() => Option.fromUndefinedOr(jobs.get(id))),
    list: Effect.sync(() => [...jobs.values()].sort((a, b) => a.id.localeCompare(b.id))),
    triggerNow: (id, payload) =>
      Effect.flatMap(now, (t) => {
        const job = jobs.get(id)
        if (job === undefined) return Effect.fail(new JobNotFound({ id }))
        let fireTime = t
        while (keys.has(keyOf(id, fireTime, true))) fireTime++
        const row = addRun(
          job,
          { fireTime, dueAt: t, state: "pending", note: "triggered manually", catchUp: true },
          true,
          payload ?? null,
          t
        )
        // `fireTime` was chosen free of any existing key, so the run was added.
        return row === undefined
          ? Effect.die(new Error("manual fire collided"))
          : Effect.as(notify, { ...row.record, payload: row.payload ?? null })
      }),
    claim,
    nextWake,
    finish,
    renew,
    adopt,
    release,
    reap,
    prune: (retention) => Effect.map(now, (t) => Browse.prune(runs, retention, t)),
    ...Browse.reads(runs, jobs),
    ...nodeTable.members,
    cancel,
    changes: Stream.map(Stream.fromPubSub(pubsub), () => undefined),
    cancelRequests: Stream.fromPubSub(cancels)
  })
})

/**
 * The in-memory store as a Layer: a scheduler for one process, or for tests
 * (with `TestClock`, see `steadfast/testing`), with nothing to set up.
 *
 * @example
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { Job, MemoryJobStore, Scheduler, Task, Trigger } from "steadfast"
 *
 * const heartbeat = Task.make("heartbeat", Schema.Null, () => Effect.log("alive"))
 *
 * export const SchedulerLive = Scheduler.layer({
 *   tasks: [heartbeat],
 *   jobs: [Job.make(heartbeat, { id: "heartbeat", payload: null, trigger: Trigger.every("1 minute") })]
 * }).pipe(Layer.provide(MemoryJobStore.layer))
 * ```
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<JobStore> = Layer.effect(JobStore, make)

