/**
 * The runs page: history across jobs, filtered by job, state and fire-time
 * range, paged by cursor, live; running and pending runs can be cancelled by
 * an operator. `runsTable` is shared with a job's page.
 *
 * @since 0.4.0
 */
import type * as JobStore from "../../JobStore.ts"
import * as Run from "../../Run.ts"
import type * as Data from "./Data.ts"
import { html, type Html } from "./Html.ts"
import { actionButton, duration, jobLink, lateness, query, runDuration, stateBadge, time, type View } from "./Layout.ts"

const ms = (value: number | null): Html => value === null ? html`<span class="muted">—</span>` : html`${duration(value)}`

/**
 * A table of run records, newest first.
 *
 * @since 0.4.0
 */
export const runsTable = (view: View, runs: ReadonlyArray<Run.RunRecord>, options: {
  readonly showJob: boolean
  readonly back: string
}): Html =>
  html`<table class="grid runs">
<thead><tr>${options.showJob ? html`<th>Job</th>` : html``}<th>Fire time</th><th>State</th><th>Attempt</th><th>Node</th><th>Started</th><th>Duration</th><th>Lateness</th><th>Error / note</th><th></th></tr></thead>
<tbody>${
    runs.length === 0
      ? html`<tr><td colspan="10" class="muted">No runs match.</td></tr>`
      : runs.map((run) =>
        html`<tr data-run="${run.id}" data-state="${run.state}">
${options.showJob ? html`<td>${jobLink(view, run.jobId)}</td>` : html``}
<td>${time(run.fireTime)}${run.manual ? html` <span class="badge manual">manual</span>` : html``}</td>
<td>${stateBadge(run.state)}</td>
<td>${run.attempt}</td>
<td class="small">${run.node ?? ""}</td>
<td>${time(run.startedAt)}</td>
<td>${ms(runDuration(run))}</td>
<td>${ms(lateness(run))}</td>
<td class="error">${run.error === null ? html`` : html`<details><summary>${run.error.split("\n")[0]?.slice(0, 120) ?? ""}</summary><pre>${run.error}</pre></details>`}${
          run.note === null ? html`` : html`<span class="muted small">${run.note}</span>`
        }</td>
<td>${
          run.state === "running" || run.state === "pending"
            ? actionButton(view, { action: "cancel", fields: { run: run.id }, label: "Cancel", back: options.back, danger: true })
            : html``
        }</td>
</tr>`
      )
  }</tbody></table>`

const toInput = (ms: number | undefined): string => ms === undefined ? "" : new Date(ms).toISOString().slice(0, 16)

const filterParams = (filter: Data.RunFilter) => ({
  job: filter.jobId,
  state: filter.state,
  from: filter.from === undefined ? undefined : toInput(filter.from),
  to: filter.to === undefined ? undefined : toInput(filter.to)
})

/**
 * A page of runs with its "older" link, in the element the filter form
 * replaces.
 *
 * @since 0.4.0
 */
export const table = (view: View, filter: Data.RunFilter, page: JobStore.HistoryPage): Html => {
  const params = filterParams(filter)
  const here = `${view.base}/runs${query({ ...params, before: filter.before })}`
  return html`<div id="runs">
${runsTable(view, page.runs, { showJob: true, back: here })}
${
    page.next === null
      ? html``
      : html`<p><a class="next" href="${view.base}/runs${query({ ...params, before: page.next })}">Older →</a></p>`
  }
</div>`
}

/**
 * The filter form (plain GET, enhanced by htmx to replace only the table).
 * Times are UTC.
 *
 * @since 0.4.0
 */
export const filters = (view: View, filter: Data.RunFilter): Html =>
  html`<form id="run-filter" class="filters" method="get" action="${view.base}/runs" hx-get="${view.base}/runs/table" hx-target="#runs" hx-swap="outerHTML" hx-trigger="${
    // The live refresh is the form's too, so it always carries the current
    // filter and never crosses a filter request. A later page stays put.
    filter.before === undefined ? "change, submit, sf-run from:body throttle:500ms" : "change, submit"
  }">
<label>Job <input type="text" name="job" value="${filter.jobId ?? ""}"></label>
<label>State <select name="state">
  <option value="">any</option>
  ${Run.State.literals.map((state) => html`<option value="${state}" ${filter.state === state ? "selected" : ""}>${state}</option>`)}
</select></label>
<label>Fired from (UTC) <input type="datetime-local" name="from" value="${toInput(filter.from)}"></label>
<label>to (UTC) <input type="datetime-local" name="to" value="${toInput(filter.to)}"></label>
<button type="submit">Filter</button>
</form>`

/**
 * The body of the runs page around its table.
 *
 * @since 0.4.0
 */
export const body = (view: View, filter: Data.RunFilter, table: Html): Html =>
  html`<h1>Runs</h1>
${filters(view, filter)}
${table}`
