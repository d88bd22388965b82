/**
 * A job's page: its definition, its next fires with every daylight-saving
 * decision `Trigger.preview` made about them, a chart of its recent runs'
 * durations and lateness (uPlot), its history (errors, durations,
 * lateness; live), and the actions an operator may take.
 *
 * @since 0.4.0
 */
import type * as JobStore from "../../JobStore.ts"
import type * as Run from "../../Run.ts"
import * as Trigger from "../../Trigger.ts"
import { html, type Html, jsonScript } from "./Html.ts"
import { actionButton, csrfField, duration, lateness, query, runDuration, stateBadge, time, type View } from "./Layout.ts"
import { runsTable } from "./RunsView.ts"

/**
 * A trigger in one line: `cron "30 2 * * *" (Europe/Berlin)`, `every 10.0 s`, ...
 *
 * @since 0.4.0
 */
export const describeTrigger = (trigger: Trigger.Trigger): string => {
  const window = ("start" in trigger && trigger.start !== undefined ? ` from ${new Date(trigger.start).toISOString()}` : "") +
    ("end" in trigger && trigger.end !== undefined ? ` until ${new Date(trigger.end).toISOString()}` : "")
  const jitter = "jitter" in trigger && trigger.jitter > 0 ? `, jitter ${duration(trigger.jitter)}` : ""
  switch (trigger._tag) {
    case "Cron":
      return `cron "${trigger.expression}" (${trigger.timeZone}${
        trigger.onDstOverlap === "earlier" ? "" : `, DST overlap: ${trigger.onDstOverlap}`
      })${jitter}${window}`
    case "Interval":
      return `every ${duration(trigger.every)}${trigger.anchor === 0 ? "" : ` from ${new Date(trigger.anchor).toISOString()}`}${jitter}${window}`
    case "Calendar":
      return `every ${trigger.count} ${trigger.unit}${trigger.count === 1 ? "" : "s"} (${trigger.timeZone})${jitter}${window}`
    case "Once":
      return `once at ${new Date(trigger.at).toISOString()}`
  }
}

const misfire = (job: JobStore.StoredJob): string => {
  const then = job.misfire.then
  const what = then._tag === "Coalesce" ? `coalesce (keep ${then.keep})` : then._tag === "Skip" ? "skip" : `catch up (at most ${then.max})`
  return `after ${duration(job.misfire.grace)} grace: ${what}`
}

const definition = (job: JobStore.StoredJob): Html =>
  html`<table class="definition">
<tr><th>Task</th><td>${job.task}</td></tr>
<tr><th>Trigger</th><td>${describeTrigger(job.trigger)}</td></tr>
<tr><th>Payload</th><td><pre>${JSON.stringify(job.payload, null, 2)}</pre></td></tr>
<tr><th>Overlap</th><td>at most ${job.overlap.max} at once; beyond: ${job.overlap.onLimit}</td></tr>
<tr><th>Misfire</th><td>${misfire(job)}</td></tr>
<tr><th>Retry</th><td>${job.retry.attempts} attempt${job.retry.attempts === 1 ? "" : "s"}, from ${duration(job.retry.base)} ×${job.retry.factor} up to ${duration(job.retry.cap)}${job.retry.jitter ? ", jittered" : ""}</td></tr>
<tr><th>Timeout</th><td>${job.timeout === null ? "none" : duration(job.timeout)}</td></tr>
<tr><th>Lost runs</th><td>${job.onLost}</td></tr>
<tr><th>Source</th><td>${job.source}${job.source === "code" ? ` (version ${job.version})` : ""}</td></tr>
<tr><th>Created / updated</th><td>${time(job.createdAt)} / ${time(job.updatedAt)}</td></tr>
${job.setAside ? html`<tr><th>Set aside</th><td class="bad">${job.setAside}</td></tr>` : html``}
</table>`

/**
 * The next fires of a trigger after `now`, with the DST decisions on each.
 *
 * @since 0.4.0
 */
export const nextFires = (trigger: Trigger.Trigger, now: number, n: number): Html => {
  const entries = Trigger.preview(trigger, now, n)
  if (entries.length === 0) return html`<p class="muted">No more fires.</p>`
  return html`<table class="grid" id="next-fires">
<thead><tr><th>Fire (UTC)</th><th>Local time</th><th>DST</th><th>Note</th></tr></thead>
<tbody>${
    entries.map((entry) =>
      html`<tr class="${Trigger.isFire(entry) ? "" : "not-fire"}">
<td>${time(entry.fire)}</td><td>${entry.iso}</td>
<td>${entry.dst === "none" && entry.decisions === undefined ? html`<span class="muted">—</span>` : html`<span class="badge dst">${
        [entry.dst === "none" ? undefined : entry.dst, ...(entry.decisions ?? []).filter((d) => d !== entry.dst)]
          .filter((d) => d !== undefined).join(", ")
      }</span>`}</td>
<td>${entry.note ?? ""}</td></tr>`
    )
  }</tbody></table>`
}

/**
 * The data of the durations and lateness chart, oldest first: fire times in
 * seconds (uPlot's x axis), durations and lateness in ms (`null` where unknown).
 *
 * @since 0.4.0
 */
export const chartData = (runs: ReadonlyArray<Run.RunRecord>) => {
  const started = [...runs].filter((run) => run.startedAt !== null).reverse()
  return {
    x: started.map((run) => run.fireTime / 1_000),
    duration: started.map(runDuration),
    lateness: started.map(lateness)
  }
}

/**
 * The job's history, in the element live updates replace.
 *
 * @since 0.4.0
 */
export const history = (view: View, job: JobStore.StoredJob, runs: ReadonlyArray<Run.RunRecord>): Html =>
  html`<div id="job-runs" hx-get="${view.base}/job/runs${query({ id: job.id })}" hx-trigger="sf-run from:body throttle:500ms" hx-swap="outerHTML">
${jsonScript("chart-data", chartData(runs))}
${runsTable(view, runs, { showJob: false, back: `${view.base}/job${query({ id: job.id })}` })}
</div>`

const actions = (view: View, job: JobStore.StoredJob): Html => {
  if (view.session.principal.role !== "operator") return html`<p class="muted">Viewer: read only.</p>`
  const back = `${view.base}/job${query({ id: job.id })}`
  return html`<div class="actions">
${
    job.paused
      ? actionButton(view, { action: "resume", fields: { id: job.id }, label: "Resume", back })
      : actionButton(view, { action: "pause", fields: { id: job.id }, label: "Pause", back })
  }
<form class="inline" method="post" action="${view.base}/actions/trigger">
  ${csrfField(view)}<input type="hidden" name="back" value="${back}"><input type="hidden" name="id" value="${job.id}">
  <input type="text" name="payload" placeholder="payload as JSON (optional)" size="32">
  <button type="submit" data-action="trigger">Trigger now</button>
</form>
<form class="inline" method="post" action="${view.base}/actions/remove">
  ${csrfField(view)}<input type="hidden" name="back" value="${view.base}/jobs"><input type="hidden" name="id" value="${job.id}">
  <label class="small"><input type="checkbox" name="confirm" value="yes" required> sure</label>
  <button type="submit" class="danger" data-action="remove">Remove</button>
</form>
</div>`
}

/**
 * The body of a job's page.
 *
 * @since 0.4.0
 */
export const body = (
  view: View,
  job: JobStore.StoredJob,
  runs: ReadonlyArray<Run.RunRecord>,
  counts: Readonly<Record<string, number>>
): Html =>
  html`<h1>${job.id} ${job.paused ? html`<span class="badge paused">paused</span>` : html`<span class="badge active">active</span>`}</h1>
${actions(view, job)}
<p id="counts" class="counts">Last 24 hours: ${
    Object.keys(counts).length === 0
      ? html`<span class="muted">no runs</span>`
      : Object.entries(counts).map(([state, n]) => html`${stateBadge(state)} ${n} `)
  }</p>
<div class="columns">
<section><h2>Definition</h2>${definition(job)}</section>
<section><h2>Next fires</h2>${job.paused ? html`<p class="muted">Paused: these fire once resumed.</p>` : html``}${nextFires(job.trigger, view.now, 8)}</section>
</div>
<section><h2>Durations and lateness</h2><div id="chart" class="chart"></div></section>
<section><h2>History</h2>${history(view, job, runs)}</section>`
