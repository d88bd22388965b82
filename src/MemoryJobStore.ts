/**
 * The in-memory store: for tests and single-process use.
 *
 * It obeys the same contract as the PostgreSQL store (the shared contract
 * suite runs against both). Its clock is Effect's `Clock`, so `TestClock`
 * drives it. Every operation is one synchronous block, which is what makes it
 * atomic: JavaScript runs one block at a time, so claims cannot interleave.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import * as FirePlan from "./FirePlan.ts"
import type * as Job from "./Job.ts"
import { JobExists, JobNotFound, JobStore, type StoredJob } from "./JobStore.ts"
import * as Run from "./Run.ts"
import * as Trigger from "./Trigger.ts"

interface RunRow {
  record: Run.RunRecord
  token: string
  leaseUntil: number
  payload: Job.Job["payload"] | null
  catchUp: boolean
}

// Compares what a declaration says, not what the store keeps beside it; a
// runtime pause is not part of the definition.
const definition = (job: Job.Job) =>
  JSON.stringify([job.task, job.payload, job.trigger, job.overlap, job.misfire, job.retry, job.timeout, job.onLost])
const definitionEquals = (a: Job.Job, b: Job.Job): boolean => definition(a) === definition(b)

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

  const addRun = (
    job: StoredJob,
    fire: { fireTime: number; dueAt: number; state: Run.State; note: string | null; catchUp: boolean },
    manual: boolean,
    payload: Job.Job["payload"] | null
  ): RunRow | undefined => {
    const key = `${job.id}|${fire.fireTime}`
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
        endedAt: Run.finalStates.has(fire.state) ? fire.dueAt : null,
        error: null,
        note: fire.note,
        manual
      },
      token: "",
      leaseUntil: 0,
      payload,
      catchUp: fire.catchUp
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
      updatedAt: now
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
          // A runtime pause outlives restarts: the declaration's `paused` applies on insert only.
          store({ ...job, paused: existing.paused }, "code", options.version, t, existing)
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

  const runningCount = (jobId: string): number => {
    let n = 0
    for (const row of runs.values()) if (row.record.jobId === jobId && row.record.state === "running") n++
    return n
  }

  const earliestRunningStart = (jobId: string): number => {
    let earliest = Infinity
    for (const row of runs.values()) {
      if (row.record.jobId === jobId && row.record.state === "running") {
        earliest = Math.min(earliest, row.record.startedAt ?? Infinity)
      }
    }
    return earliest
  }

  const claim: JobStore["Service"]["claim"] = (request) =>
    Effect.map(now, (t) => {
      const tasks = new Set(request.tasks)
      const settled: Array<Run.RunRecord> = []
      for (const job of jobs.values()) {
        if (job.paused || !tasks.has(job.task) || job.nextFire === null) continue
        if (Trigger.dueAt(job.trigger, job.nextFire, job.id) > t) continue
        const plan = FirePlan.plan(job, job.nextFire, t)
        for (const fire of plan.fires) {
          const row = addRun(job, fire, false, null)
          if (row !== undefined && fire.state !== "pending") settled.push(row.record)
        }
        jobs.set(job.id, { ...job, nextFire: plan.nextFire })
      }
      const claimed: Array<Run.Claimed> = []
      const pending = [...runs.values()]
        .filter((row) => row.record.state === "pending" && row.record.dueAt <= t)
        .sort((a, b) => a.record.dueAt - b.record.dueAt || a.record.fireTime - b.record.fireTime)
      const running = new Map<string, number>()
      // Per job, the earliest start among runs running before this claim.
      const firstStart = new Map<string, number>()
      for (const row of pending) {
        if (claimed.length >= request.limit) break
        const job = jobs.get(row.record.jobId)
        if (job === undefined || job.paused || !tasks.has(job.task)) continue
        const first = firstStart.get(job.id) ?? earliestRunningStart(job.id)
        firstStart.set(job.id, first)
        const active = running.get(job.id) ?? runningCount(job.id)
        if (active >= job.overlap.max) {
          // Skip means "this fire found the job running": a run that started only
          // after the fire came due (a backlog after an outage or a pause) makes it wait.
          const foundRunning = first <= row.record.dueAt
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
        row.token = `${request.node}:${++sequence}`
        row.leaseUntil = t + request.leaseMs
        row.record = { ...row.record, state: "running", node: request.node, startedAt: t }
        claimed.push({
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
          startedAt: t
        })
      }
      return { runs: claimed, settled }
    })

  const nextWake: JobStore["Service"]["nextWake"] = (taskList) =>
    Effect.sync(() => {
      const tasks = new Set(taskList)
      let earliest = Infinity
      for (const job of jobs.values()) {
        if (job.paused || !tasks.has(job.task) || job.nextFire === null) continue
        earliest = Math.min(earliest, Trigger.dueAt(job.trigger, job.nextFire, job.id))
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
      Effect.sync(() =>
        outcomes.map((outcome) => {
          const row = runs.get(outcome.id)
          if (row === undefined || row.token !== outcome.token) return false
          // The same outcome again (a retry after a lost reply) is accepted, changing nothing.
          if (row.record.state === outcome.state && row.record.endedAt === outcome.endedAt) return true
          if (row.record.state !== "running") return false
          row.record = {
            ...row.record,
            state: outcome.state,
            attempt: outcome.attempt,
            endedAt: outcome.endedAt,
            error: outcome.error
          }
          return true
        })
      ),
      (accepted) => Effect.as(notify, accepted)
    )

  const renew: JobStore["Service"]["renew"] = (node, leases, leaseMs) =>
    Effect.map(now, (t) => {
      const lost: Array<string> = []
      for (const lease of leases) {
        const row = runs.get(lease.id)
        if (
          row === undefined || row.record.state !== "running" || row.token !== lease.token ||
          row.record.node !== node
        ) {
          lost.push(lease.id)
        } else {
          row.leaseUntil = t + leaseMs
        }
      }
      return lost
    })

  const reap: JobStore["Service"]["reap"] = Effect.flatMap(now, (t) => {
    const reaped: Array<Run.RunRecord> = []
    for (const row of runs.values()) {
      if (row.record.state !== "running" || row.leaseUntil >= t) continue
      const job = jobs.get(row.record.jobId)
      const note = `lease of node ${row.record.node} expired`
      row.token = ""
      row.record = job?.onLost === "retry"
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

  const history: JobStore["Service"]["history"] = (query) =>
    Effect.sync(() => {
      const states = query.states === undefined ? undefined : new Set(query.states)
      return [...runs.values()]
        .map((row) => row.record)
        .filter((r) => (query.jobId === undefined || r.jobId === query.jobId) && (states?.has(r.state) ?? true))
        .sort((a, b) => b.fireTime - a.fireTime || Number(b.id) - Number(a.id))
        .slice(0, query.limit ?? 100)
    })

  const prune: JobStore["Service"]["prune"] = (retention) =>
    Effect.map(now, (t) => {
      let deleted = 0
      const byJob = new Map<string, Array<RunRow>>()
      for (const row of runs.values()) {
        if (!Run.finalStates.has(row.record.state)) continue
        if (retention.maxAgeMs !== undefined && (row.record.endedAt ?? row.record.fireTime) < t - retention.maxAgeMs) {
          runs.delete(row.record.id)
          deleted++
          continue
        }
        const list = byJob.get(row.record.jobId) ?? []
        list.push(row)
        byJob.set(row.record.jobId, list)
      }
      if (retention.maxPerJob !== undefined) {
        for (const list of byJob.values()) {
          list.sort((a, b) => b.record.fireTime - a.record.fireTime)
          for (const row of list.slice(retention.maxPerJob)) {
            runs.delete(row.record.id)
            deleted++
          }
        }
      }
      return deleted
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
    update: (job) =>
      mutateJob(job.id, (existing, t) => store(job, existing.source, existing.version, t, existing)),
    setPaused: (id, paused) => mutateJob(id, (job, t) => ({ ...job, paused, updatedAt: t })),
    remove: (id) => Effect.flatMap(now, (t) => Effect.as(notify, removeNow(id, t))),
    get: (id) => Effect.sync(() => Option.fromUndefinedOr(jobs.get(id))),
    list: Effect.sync(() => [...jobs.values()].sort((a, b) => a.id.localeCompare(b.id))),
    triggerNow: (id, payload) =>
      Effect.flatMap(now, (t) => {
        const job = jobs.get(id)
        if (job === undefined) return Effect.fail(new JobNotFound({ id }))
        let fireTime = t
        while (keys.has(`${id}|${fireTime}`)) fireTime++
        const row = addRun(
          job,
          { fireTime, dueAt: t, state: "pending", note: "triggered manually", catchUp: true },
          true,
          payload ?? null
        )
        // `fireTime` was chosen free of any existing key, so the run was added.
        return row === undefined ? Effect.die(new Error("manual fire collided")) : Effect.as(notify, row.record)
      }),
    claim,
    nextWake,
    finish,
    renew,
    reap,
    history,
    prune,
    changes: Stream.map(Stream.fromPubSub(pubsub), () => undefined)
  })
})

/**
 * The in-memory store as a Layer.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<JobStore> = Layer.effect(JobStore, make)

