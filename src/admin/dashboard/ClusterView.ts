/**
 * The cluster page: the live nodes (from their heartbeats in the store) and,
 * for this node, every loop's state, progress age, stalls and restarts, and
 * the store's health. It refreshes itself every few seconds and on loop and
 * store events.
 *
 * @since 0.4.0
 */
import type * as JobStore from "../../JobStore.ts"
import type * as Supervisor from "../../Supervisor.ts"
import { html, type Html } from "./Html.ts"
import { duration, relative, time, type View } from "./Layout.ts"

const statusBadge = (status: string): Html => html`<span class="badge status-${status}">${status}</span>`

const loops = (health: Supervisor.Health): Html =>
  html`<table class="grid" id="loops">
<thead><tr><th>Loop</th><th>State</th><th>Progress age</th><th>Stall after</th><th>Restarts</th><th>Stalls</th><th>Last error</th></tr></thead>
<tbody>${
    health.loops.map((loop) =>
      html`<tr data-loop="${loop.name}">
<td>${loop.name}</td><td>${statusBadge(loop.state)}</td>
<td>${duration(loop.progressAgeMs)}</td>
<td>${loop.stallAfterMs === null ? html`<span class="muted">not watched</span>` : duration(loop.stallAfterMs)}</td>
<td>${loop.restarts}</td><td>${loop.stalls}</td>
<td class="error">${loop.lastError ?? ""}${loop.lastFailure === null ? html`` : html` <span class="muted small">(${time(loop.lastFailure)})</span>`}</td>
</tr>`
    )
  }</tbody></table>`

const nodesTable = (view: View, nodes: ReadonlyArray<JobStore.NodeRecord>, self: string): Html =>
  html`<table class="grid" id="nodes">
<thead><tr><th>Node</th><th>Host</th><th>Pid</th><th>Version</th><th>Started</th><th>Last heartbeat</th><th>Running</th><th>Health</th><th>Store</th></tr></thead>
<tbody>${
    nodes.length === 0
      ? html`<tr><td colspan="9" class="muted">No node has reported a heartbeat yet.</td></tr>`
      : nodes.map((node) =>
        html`<tr data-node="${node.id}">
<td>${node.id}${node.id === self ? html` <span class="badge">this node</span>` : html``}</td>
<td>${node.host}</td><td>${node.pid}</td><td>${node.version}</td>
<td>${time(node.startedAt)}</td>
<td>${time(node.heartbeatAt)} <span class="muted small">${relative(node.heartbeatAt, view.now)}</span></td>
<td>${node.running}</td>
<td>${statusBadge(healthStatus(node.health))}</td>
<td>${statusBadge(node.store)}</td>
</tr>`
      )
  }</tbody></table>`

const healthStatus = (health: unknown): string =>
  typeof health === "object" && health !== null && "status" in health && typeof health.status === "string"
    ? health.status
    : "unknown"

/**
 * The cluster page's content, in the element that refreshes itself.
 *
 * @since 0.4.0
 */
export const content = (
  view: View,
  health: Supervisor.Health,
  nodes: ReadonlyArray<JobStore.NodeRecord> | undefined
): Html =>
  html`<div id="cluster" hx-get="${view.base}/cluster/table" hx-trigger="every 5s, sf-loop from:body throttle:1s, sf-store from:body throttle:1s" hx-swap="outerHTML">
<section><h2>This node: ${health.node} ${statusBadge(health.status)}</h2>
<table class="definition">
<tr><th>Ready</th><td>${health.ready ? html`yes, since ${time(health.readyAt)}` : "not yet"}</td></tr>
<tr><th>Store</th><td>${
    health.store.available
      ? html`${statusBadge("up")} since ${time(health.store.since)}`
      : html`${statusBadge("unavailable")} since ${time(health.store.since)}: <span class="error">${health.store.lastError ?? ""}</span>`
  }</td></tr>
<tr><th>Registration</th><td>${
    health.registration === null
      ? "none yet"
      : `${health.registration.inserted} inserted, ${health.registration.updated} updated, ${health.registration.unchanged} unchanged, ${health.registration.superseded} superseded, ${health.registration.orphaned} orphaned`
  }</td></tr>
</table>
<h3>Loops</h3>
${loops(health)}
</section>
<section><h2>Nodes</h2>${nodes === undefined ? html`<p class="muted">The store did not answer for the nodes table; this node is shown above.</p>` : nodesTable(view, nodes, health.node)}</section>
</div>`

/**
 * The body of the cluster page.
 *
 * @since 0.4.0
 */
export const body = (content: Html): Html => html`<h1>Cluster</h1>
${content}`
