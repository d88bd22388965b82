/**
 * How the CLI writes jobs, runs and nodes for a person (one line each, times
 * in ISO 8601 UTC). `--json` prints the records themselves (epoch ms).
 *
 * @internal
 */
import type * as Job from "../../Job.ts"
import type { NodeRecord, StoredJob } from "../../JobStore.ts"
import type * as Run from "../../Run.ts"
import type * as Trigger from "../../Trigger.ts"

/** An instant, or "-". @internal */
export const iso = (ms: number | null | undefined): string =>
  ms === null || ms === undefined || !Number.isFinite(ms) ? "-" : new Date(ms).toISOString()

/** A trigger in words. @internal */
export const describeTrigger = (trigger: Trigger.Trigger): string => {
  switch (trigger._tag) {
    case "Cron":
      return `cron "${trigger.expression}" ${trigger.timeZone}`
    case "Interval":
      return `every ${trigger.every} ms`
    case "Calendar":
      return `every ${trigger.count} ${trigger.unit}${trigger.count === 1 ? "" : "s"} ${trigger.timeZone}`
    case "Once":
      return `once at ${iso(trigger.at)}`
  }
}

/** One job, one line. @internal */
export const jobLine = (job: StoredJob): string =>
  `${job.id.padEnd(24)} ${job.task.padEnd(18)} ${job.paused ? "paused " : "active "} next ${iso(job.nextFire)}  ${
    describeTrigger(job.trigger)
  }`

/** One run, one line. @internal */
export const runLine = (run: Run.RunRecord): string => {
  const duration = run.startedAt !== null && run.endedAt !== null ? ` ${run.endedAt - run.startedAt} ms` : ""
  const error = run.error === null ? "" : `  error: ${run.error.split("\n")[0]}`
  const note = run.note === null ? "" : `  (${run.note})`
  return `${run.id.padStart(8)} ${iso(run.fireTime)} ${run.jobId.padEnd(24)} ${run.state.padEnd(10)} attempt ${run.attempt}` +
    ` ${run.node ?? "-"}${duration}${run.manual ? " manual" : ""}${error}${note}`
}

/** A run in full, a field a line. @internal */
export const runLines = (run: Run.RunRecord): ReadonlyArray<string> => [
  `run ${run.id} of job ${run.jobId}: ${run.state}${run.manual ? " (manual)" : ""}`,
  `  fire      ${iso(run.fireTime)}  due ${iso(run.dueAt)}`,
  `  started   ${iso(run.startedAt)}  ended ${iso(run.endedAt)}`,
  `  attempt   ${run.attempt}  node ${run.node ?? "-"}`,
  ...(run.payload === null ? [] : [`  payload   ${JSON.stringify(run.payload)}`]),
  ...(run.error === null ? [] : [`  error     ${run.error.split("\n")[0]}`]),
  ...(run.note === null ? [] : [`  note      ${run.note}`])
]

/** A job's policies in words. @internal */
export const policies = (job: Job.Job): string => {
  const then = job.misfire.then._tag === "Coalesce"
    ? `coalesce (${job.misfire.then.keep})`
    : job.misfire.then._tag === "CatchUp"
    ? `catch up ${job.misfire.then.max}`
    : "skip"
  return `overlap ${job.overlap.max} (${job.overlap.onLimit}); misfire grace ${job.misfire.grace} ms, then ${then}; ` +
    `retry ${job.retry.attempts} attempt${job.retry.attempts === 1 ? "" : "s"}; timeout ${
      job.timeout === null ? "none" : `${job.timeout} ms`
    }; lost runs: ${job.onLost}`
}

/** One node, one line (`now`: the store's clock, for the heartbeat's age). @internal */
export const nodeLine = (node: NodeRecord, now: number): string =>
  `${node.id.padEnd(28)} ${`${node.host}:${node.pid}`.padEnd(24)} v${node.version} running ${node.running} store ${node.store} ` +
  `seen ${Math.max(0, Math.round((now - node.heartbeatAt) / 1000))} s ago  tasks ${node.tasks.join(",") || "-"}`
