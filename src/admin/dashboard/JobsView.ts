/**
 * The jobs page: every job with its next fire, last outcome, paused state and
 * a sparkline of its recent outcomes; filtered by text in the id, task and
 * paused state; paged by id. The filter form re-renders the table (htmx) as
 * the user types and when a run event arrives over the page's event stream.
 *
 * @since 0.4.0
 */
import type * as JobStore from "../../JobStore.ts"
import type * as Run from "../../Run.ts"
import type * as Data from "./Data.ts"
import { html, type Html } from "./Html.ts"
import { actionButton, jobLink, query, relative, stateBadge, time, type View } from "./Layout.ts"
import { describeTrigger } from "./JobView.ts"

const colour = (state: Run.State): string => {
  switch (state) {
    case "succeeded":
      return "ok"
    case "failed":
    case "timed-out":
    case "lost":
      return "bad"
    case "running":
    case "pending":
      return "live"
    default:
      return "quiet"
  }
}

/**
 * Recent outcomes as a row of small bars, oldest first, each with its state
 * and fire time in a tooltip; server-rendered SVG, no script needed.
 *
 * @since 0.4.0
 */
export const sparkline = (runs: ReadonlyArray<Run.RunRecord>): Html => {
  const ordered = [...runs].reverse()
  const width = Math.max(1, ordered.length) * 7
  return html`<svg class="spark" width="${width}" height="16" viewBox="0 0 ${width} 16" role="img" aria-label="${
    ordered.map((run) => run.state).join(", ")
  }">${
    ordered.map((run, i) =>
      html`<rect x="${i * 7}" y="${run.state === "succeeded" ? 4 : 0}" width="5" height="${
        run.state === "succeeded" ? 12 : 16
      }" class="${colour(run.state)}"><title>${run.state} · fire ${new Date(run.fireTime).toISOString()}</title></rect>`
    )
  }</svg>`
}

const filterQuery = (filter: Data.JobFilter) =>
  query({ text: filter.text, task: filter.task, paused: filter.paused === undefined ? undefined : String(filter.paused) })

/**
 * The table of a page of jobs, in the element the live updates replace.
 *
 * @since 0.4.0
 */
export const table = (view: View, filter: Data.JobFilter, page: JobStore.JobPage, recent: ReadonlyMap<string, ReadonlyArray<Run.RunRecord>>): Html => {
  const back = `${view.base}/jobs${filterQuery(filter)}`
  return html`<div id="jobs">
<table class="grid">
<thead><tr><th>Job</th><th>Task</th><th>Trigger</th><th>Next fire</th><th>Last outcome</th><th>Recent</th><th>State</th><th></th></tr></thead>
<tbody>
${
    page.jobs.length === 0
      ? html`<tr><td colspan="8" class="muted">No jobs match.</td></tr>`
      : page.jobs.map((job) => {
        const runs = recent.get(job.id) ?? []
        const last = runs.find((run) => run.state !== "pending")
        return html`<tr data-job="${job.id}">
<td>${jobLink(view, job.id)}</td>
<td>${job.task}</td>
<td class="small">${describeTrigger(job.trigger)}</td>
<td>${job.paused ? html`<span class="muted">paused</span>` : html`${time(job.nextFire)} <span class="muted small">${relative(job.nextFire, view.now)}</span>`}</td>
<td>${last === undefined ? html`<span class="muted">none yet</span>` : html`${stateBadge(last.state)} <span class="muted small">${relative(last.endedAt ?? last.startedAt ?? last.fireTime, view.now)}</span>`}</td>
<td>${sparkline(runs)}</td>
<td>${job.paused ? html`<span class="badge paused">paused</span>` : html`<span class="badge active">active</span>`}${
          job.setAside ? html` <span class="badge bad" title="${job.setAside}">set aside</span>` : html``
        }</td>
<td class="actions">${
          job.paused
            ? actionButton(view, { action: "resume", fields: { id: job.id }, label: "Resume", back })
            : actionButton(view, { action: "pause", fields: { id: job.id }, label: "Pause", back })
        }${actionButton(view, { action: "trigger", fields: { id: job.id }, label: "Trigger", back })}</td>
</tr>`
      })
  }
</tbody>
</table>
${
    page.next === null ? html`` : html`<p><a class="next" href="${view.base}/jobs${query({
      text: filter.text,
      task: filter.task,
      paused: filter.paused === undefined ? undefined : String(filter.paused),
      after: page.next
    })}">Next page →</a></p>`
  }
</div>`
}

/**
 * The filter form: a plain GET form (works without script) that htmx
 * submits as the user types, replacing only the table.
 *
 * @since 0.4.0
 */
export const filters = (view: View, filter: Data.JobFilter): Html =>
  html`<form id="job-filter" class="filters" method="get" action="${view.base}/jobs" hx-get="${view.base}/jobs/table" hx-target="#jobs" hx-swap="outerHTML" hx-trigger="${
    // The live refresh is the form's too, so it always carries the current
    // filter and never crosses a filter request. A later page stays put.
    filter.after === undefined ? "input changed delay:300ms, change, submit, sf-run from:body throttle:1s, sf-job from:body throttle:1s" : "input changed delay:300ms, change, submit"
  }">
<label>Id contains <input type="search" name="text" value="${filter.text ?? ""}"></label>
<label>Task <input type="text" name="task" value="${filter.task ?? ""}"></label>
<label>State <select name="paused">
  <option value="" ${filter.paused === undefined ? "selected" : ""}>any</option>
  <option value="false" ${filter.paused === false ? "selected" : ""}>active</option>
  <option value="true" ${filter.paused === true ? "selected" : ""}>paused</option>
</select></label>
<button type="submit">Filter</button>
</form>`

/**
 * The body of the jobs page around its table.
 *
 * @since 0.4.0
 */
export const body = (view: View, filter: Data.JobFilter, table: Html): Html =>
  html`<h1>Jobs</h1>
${filters(view, filter)}
${table}`
