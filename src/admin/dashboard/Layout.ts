/**
 * The frame every dashboard page shares (navigation, the session's role, the
 * logout form, the live-update status) and the small pieces the pages reuse:
 * times, durations, state badges, CSRF fields and action forms.
 *
 * Every instant is shown in UTC with its ISO form in a `title`, so two
 * operators in different zones read the same thing.
 *
 * @since 0.4.0
 */
import type * as Run from "../../Run.ts"
import { html, type Html } from "./Html.ts"
import type { Session } from "./Session.ts"

/**
 * What every page knows: where the dashboard is mounted, who is looking, and
 * the time the page was rendered.
 *
 * @since 0.4.0
 */
export interface View {
  readonly base: string
  readonly session: Session
  readonly now: number
}

/**
 * `2026-12-01 15:30:00Z`, or an em dash for none.
 *
 * @since 0.4.0
 */
export const time = (ms: number | null | undefined): Html =>
  ms === null || ms === undefined || !Number.isFinite(ms)
    ? html`<span class="muted">—</span>`
    : html`<time datetime="${new Date(ms).toISOString()}">${new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z")}</time>`

/**
 * A duration in the largest units that keep it short: `850 ms`, `12.3 s`, `4m 05s`, `3h 20m`, `2d 4h`.
 *
 * @since 0.4.0
 */
export const duration = (ms: number): string => {
  const abs = Math.abs(ms)
  const sign = ms < 0 ? "-" : ""
  if (abs < 1_000) return `${sign}${Math.round(abs)} ms`
  if (abs < 60_000) return `${sign}${(abs / 1_000).toFixed(1)} s`
  if (abs < 3_600_000) return `${sign}${Math.floor(abs / 60_000)}m ${String(Math.floor(abs / 1_000) % 60).padStart(2, "0")}s`
  if (abs < 86_400_000) return `${sign}${Math.floor(abs / 3_600_000)}h ${String(Math.floor(abs / 60_000) % 60).padStart(2, "0")}m`
  return `${sign}${Math.floor(abs / 86_400_000)}d ${Math.floor(abs / 3_600_000) % 24}h`
}

/**
 * `in 4m 05s` or `12.3 s ago`, from the page's render time.
 *
 * @since 0.4.0
 */
export const relative = (ms: number | null | undefined, now: number): string =>
  ms === null || ms === undefined ? "" : ms >= now ? `in ${duration(ms - now)}` : `${duration(now - ms)} ago`

/**
 * How long a run took, or nothing while it has not ended.
 *
 * @since 0.4.0
 */
export const runDuration = (run: Run.RunRecord): number | null =>
  run.startedAt !== null && run.endedAt !== null ? run.endedAt - run.startedAt : null

/**
 * How late a run started: its start minus its due time (fire time plus jitter).
 *
 * @since 0.4.0
 */
export const lateness = (run: Run.RunRecord): number | null => run.startedAt !== null ? run.startedAt - run.dueAt : null

/**
 * A run state as a coloured badge.
 *
 * @since 0.4.0
 */
export const stateBadge = (state: string): Html => html`<span class="badge state-${state}">${state}</span>`

/**
 * The hidden field that carries the session's CSRF token in a form.
 *
 * @since 0.4.0
 */
export const csrfField = (view: View): Html => html`<input type="hidden" name="_csrf" value="${view.session.csrf}">`

/**
 * A one-button form that POSTs an action (`pause`, `trigger`, ...) about a job
 * or run, and comes back to `back`. Shown to operators only.
 *
 * @since 0.4.0
 */
export const actionButton = (view: View, options: {
  readonly action: string
  readonly fields: Readonly<Record<string, string>>
  readonly label: string
  readonly back: string
  readonly danger?: boolean | undefined
}): Html =>
  view.session.principal.role !== "operator" ? html`` : html`<form class="inline" method="post" action="${view.base}/actions/${options.action}">
  ${csrfField(view)}<input type="hidden" name="back" value="${options.back}">
  ${Object.entries(options.fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
  <button type="submit" class="${options.danger === true ? "danger" : ""}" data-action="${options.action}">${options.label}</button>
</form>`

/**
 * The whole page around `body`.
 *
 * @since 0.4.0
 */
export const page = (view: View, options: {
  readonly title: string
  readonly active: "jobs" | "runs" | "cluster"
  readonly flash?: string | undefined
  readonly error?: string | undefined
}, body: Html): Html => {
  const nav = (key: "jobs" | "runs" | "cluster", label: string) =>
    html`<a href="${view.base}/${key}" class="${options.active === key ? "active" : ""}">${label}</a>`
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Steadfast</title>
<link rel="stylesheet" href="${view.base}/assets/app.css">
<link rel="stylesheet" href="${view.base}/assets/uPlot.min.css">
<script src="${view.base}/assets/htmx.min.js" defer></script>
<script src="${view.base}/assets/uPlot.iife.min.js" defer></script>
<script src="${view.base}/assets/app.js" defer></script>
</head>
<body data-base="${view.base}">
<header>
  <strong class="brand">Steadfast</strong>
  <nav>${nav("jobs", "Jobs")}${nav("runs", "Runs")}${nav("cluster", "Cluster")}</nav>
  <span id="live" class="live" title="live updates">○ live</span>
  <span class="role role-${view.session.principal.role}" title="token ${view.session.principal.name}">${view.session.principal.name} · ${view.session.principal.role}</span>
  <form class="inline" method="post" action="${view.base}/logout">${csrfField(view)}<button type="submit">Log out</button></form>
</header>
<main>
${options.flash !== undefined ? html`<p class="flash" role="status">${options.flash}</p>` : html``}
${options.error !== undefined ? html`<p class="flash error" role="alert">${options.error}</p>` : html``}
${body}
</main>
</body>
</html>`
}

/**
 * The login page (no session yet): the form carries a one-time value that
 * must match the login cookie set with it (a double-submit CSRF check).
 *
 * @since 0.4.0
 */
export const loginPage = (base: string, loginCsrf: string, error?: string): Html =>
  html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Steadfast</title>
<link rel="stylesheet" href="${base}/assets/app.css">
</head>
<body class="login">
<main>
<h1>Steadfast</h1>
${error !== undefined ? html`<p class="flash error" role="alert">${error}</p>` : html``}
<form method="post" action="${base}/login">
  <input type="hidden" name="_csrf" value="${loginCsrf}">
  <label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
  <button type="submit">Log in</button>
</form>
<p class="muted">A viewer token shows; an operator token also acts.</p>
</main>
</body>
</html>`

/**
 * A query string (`?a=1&b=2`) of the parameters that are set, or nothing.
 *
 * @since 0.4.0
 */
export const query = (params: Readonly<Record<string, string | number | boolean | undefined>>): string => {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") search.set(name, String(value))
  }
  const text = search.toString()
  return text === "" ? "" : `?${text}`
}

/**
 * The link to a job's page.
 *
 * @since 0.4.0
 */
export const jobLink = (view: View, id: string): Html => html`<a href="${view.base}/job${query({ id })}">${id}</a>`
