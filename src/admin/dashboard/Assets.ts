/**
 * The dashboard's static files, served by the dashboard itself so it works
 * offline: htmx and uPlot come from their npm packages (`htmx.org`, `uplot`,
 * runtime dependencies of steadfast, so an install from the registry has
 * them), resolved through Node's module resolution and read once; the
 * dashboard's own script and style sheet are strings here, so the compiled
 * package needs no extra files copied at build.
 *
 * @since 0.4.0
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"

/**
 * One file: its bytes and content type.
 *
 * @since 0.4.0
 */
export interface Asset {
  readonly body: string
  readonly contentType: string
}

const fromPackage = (specifier: string, contentType: string): Asset => ({
  body: fs.readFileSync(createRequire(import.meta.url).resolve(specifier), "utf8"),
  contentType
})

// Renders the chart of a job's page from the JSON the server put beside it,
// and turns the scheduler's events (Server-Sent Events) into DOM events the
// live parts of a page listen for with `hx-trigger="sf-run from:body"`.
const appJs = `(function () {
  "use strict";
  var body = document.body;
  var base = body.getAttribute("data-base");
  var live = document.getElementById("live");
  var plot = null;
  function chart() {
    var el = document.getElementById("chart");
    var data = document.getElementById("chart-data");
    if (!el || !data || typeof uPlot === "undefined") return;
    var d = JSON.parse(data.textContent);
    if (plot) { plot.destroy(); plot = null; }
    el.textContent = "";
    if (d.x.length === 0) { el.textContent = "No runs have started yet."; return; }
    plot = new uPlot({
      width: Math.max(320, Math.min(el.clientWidth || 800, 1100)),
      height: 200,
      scales: { x: { time: true } },
      series: [
        {},
        { label: "duration (ms)", stroke: "#2563eb", width: 2, points: { show: true } },
        { label: "lateness (ms)", stroke: "#d97706", width: 2, points: { show: true } }
      ]
    }, [d.x, d.duration, d.lateness], el);
  }
  chart();
  // A job page's history was swapped in with its chart data: redraw.
  body.addEventListener("htmx:after:swap", function () {
    if (document.getElementById("chart-data")) chart();
  });
  if (base === null || typeof EventSource === "undefined") return;
  var source = new EventSource(base + "/events");
  source.addEventListener("open", function () { if (live) { live.textContent = "\\u25CF live"; live.className = "live on"; } });
  source.addEventListener("error", function () { if (live) { live.textContent = "\\u25CB reconnecting"; live.className = "live"; } });
  ["run", "job", "loop", "store"].forEach(function (name) {
    source.addEventListener(name, function (event) {
      var detail = null;
      try { detail = JSON.parse(event.data); } catch (e) { detail = null; }
      body.setAttribute("data-last-event", name);
      body.dispatchEvent(new CustomEvent("sf-" + name, { detail: detail }));
    });
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
`

const appCss = `
:root { --fg: #1f2933; --muted: #7b8794; --line: #e4e7eb; --bg: #ffffff; --accent: #2563eb; --ok: #16a34a; --bad: #dc2626; --live: #2563eb; --quiet: #9aa5b1; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); background: #f8fafc; }
header nav { display: flex; gap: .8rem; flex: 1; }
header nav a { color: var(--fg); text-decoration: none; padding: .2rem .4rem; border-radius: 4px; }
header nav a.active { background: var(--accent); color: white; }
.brand { font-size: 1.05rem; }
main { padding: 1rem 1.2rem; max-width: 1400px; }
h1 { font-size: 1.3rem; margin: .2rem 0 .8rem; } h2 { font-size: 1.05rem; margin: 1.2rem 0 .5rem; } h3 { font-size: .95rem; }
a { color: var(--accent); }
table.grid { border-collapse: collapse; width: 100%; }
table.grid th, table.grid td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
table.grid th { font-weight: 600; color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .02em; }
table.definition th { text-align: left; padding: .2rem .8rem .2rem 0; color: var(--muted); font-weight: 500; vertical-align: top; }
table.definition pre, td.error pre { margin: 0; white-space: pre-wrap; max-width: 60ch; }
tr.not-fire td { color: var(--muted); font-style: italic; }
.muted { color: var(--muted); } .small { font-size: .85em; } .bad, .error { color: var(--bad); }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8rem; background: #eef2f7; color: var(--fg); }
.badge.state-succeeded, .badge.status-healthy, .badge.status-up, .badge.status-running, .badge.active { background: #dcfce7; color: #166534; }
.badge.state-failed, .badge.state-timed-out, .badge.state-lost, .badge.status-stalled, .badge.status-store-unavailable, .badge.status-unavailable, .badge.bad { background: #fee2e2; color: #991b1b; }
.badge.state-running, .badge.state-pending, .badge.manual { background: #dbeafe; color: #1e40af; }
.badge.paused, .badge.status-degraded, .badge.status-restarting, .badge.dst { background: #fef3c7; color: #92400e; }
.badge.state-cancelled, .badge.state-skipped, .badge.state-missed, .badge.state-coalesced, .badge.status-idle { background: #f1f5f9; color: #475569; }
svg.spark rect.ok { fill: var(--ok); } svg.spark rect.bad { fill: var(--bad); } svg.spark rect.live { fill: var(--live); } svg.spark rect.quiet { fill: var(--quiet); }
form.inline { display: inline; margin: 0 .2rem 0 0; }
form.filters { display: flex; gap: .8rem; flex-wrap: wrap; align-items: end; margin-bottom: .8rem; }
form.filters label { display: flex; flex-direction: column; font-size: .8rem; color: var(--muted); }
input, select, button { font: inherit; padding: .25rem .5rem; border: 1px solid #cbd2d9; border-radius: 4px; background: white; }
button { cursor: pointer; background: #f1f5f9; } button:hover { background: #e2e8f0; }
button.danger { color: var(--bad); border-color: #fca5a5; }
.actions { margin: .4rem 0 .8rem; }
.flash { padding: .5rem .8rem; background: #ecfdf5; border: 1px solid #a7f3d0; border-radius: 4px; }
.flash.error { background: #fef2f2; border-color: #fecaca; color: var(--bad); }
.live { color: var(--muted); font-size: .85rem; } .live.on { color: var(--ok); }
.role { font-size: .85rem; color: var(--muted); }
.columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1.5rem; }
.chart { min-height: 60px; }
details summary { cursor: pointer; }
body.login main { max-width: 360px; margin: 10vh auto; }
body.login form { display: flex; flex-direction: column; gap: .6rem; }
body.login label { display: flex; flex-direction: column; gap: .2rem; }
@media (max-width: 900px) { .columns { grid-template-columns: 1fr; } }
`

/**
 * The files under `<base>/assets/`, by name. Reading the vendored ones fails
 * (at layer build) only if the packages are missing, which npm prevents.
 *
 * @since 0.4.0
 */
export const load = (): ReadonlyMap<string, Asset> =>
  new Map<string, Asset>([
    ["htmx.min.js", fromPackage("htmx.org/dist/htmx.min.js", "text/javascript; charset=utf-8")],
    ["uPlot.iife.min.js", fromPackage("uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8")],
    ["uPlot.min.css", fromPackage("uplot/dist/uPlot.min.css", "text/css; charset=utf-8")],
    ["app.js", { body: appJs, contentType: "text/javascript; charset=utf-8" }],
    ["app.css", { body: appCss, contentType: "text/css; charset=utf-8" }]
  ])
