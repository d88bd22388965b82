/**
 * The web dashboard in a real browser (headless Chromium from the npm package
 * `@sparticuz/chromium`, driven by `playwright-core`), against a real
 * scheduler on a real PostgreSQL, served on an ephemeral port: log in, the
 * jobs page, pause, trigger and watch runs arrive over Server-Sent Events
 * without a reload, filter the history, the cluster page; a viewer cannot
 * act; a cross-site POST and a POST without the CSRF token are refused and
 * change nothing. Every page's screenshot goes to test-results/screenshots/.
 *
 * Every wait is Playwright's, with a deadline; nothing sleeps.
 */
import { NodeHttpServer } from "@effect/platform-node"
import Chromium from "@sparticuz/chromium"
import { Context, Effect, Exit, Layer, Option, Redacted, Schema, Scope } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { createServer } from "node:http"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import * as Admin from "../../src/admin/Admin.ts"
import type * as Auth from "../../src/admin/Auth.ts"
import * as Dashboard from "../../src/admin/dashboard/Dashboard.ts"
import * as Job from "../../src/Job.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Task from "../../src/Task.ts"
import * as Trigger from "../../src/Trigger.ts"
import * as Pg from "../support/Pg.ts"

const shots = "test-results/screenshots"
const wait = { timeout: 15_000 }

const work = Task.make("work", Schema.Struct({ ms: Schema.Number }), ({ ms }) => Effect.sleep(ms))
const flaky = Task.make(
  "import",
  Schema.Struct({ source: Schema.String }),
  ({ source }) => Effect.fail(`upstream ${source} answered 503 <Service Unavailable>`)
)

const jobs = [
  Job.make(work, {
    id: "billing/report-daily",
    payload: { ms: 20 },
    trigger: Trigger.cron("30 2 * * *", { timeZone: "Europe/Berlin" })
  }),
  // Sundays in March at 02:30 Berlin time: the last one falls in the gap.
  Job.make(work, { id: "march-sundays", payload: { ms: 5 }, trigger: Trigger.cron("30 2 * 3 0", { timeZone: "Europe/Berlin" }) }),
  Job.make(work, { id: "long-export", payload: { ms: 120_000 }, trigger: Trigger.cron("0 4 1 1 *") }),
  Job.make(work, { id: "sync-devices", payload: { ms: 10 }, trigger: Trigger.every("1 hour") }),
  Job.make(flaky, { id: "import-partner", payload: { source: "partner" }, trigger: Trigger.every("2 seconds") })
]

const tokens: ReadonlyArray<Auth.Token> = [
  { name: "ops", role: "operator", secret: Redacted.make("operator-secret-1") },
  { name: "wall", role: "viewer", secret: Redacted.make("viewer-secret-1") }
]

let scope: Scope.Closeable
let context: Context.Context<Scheduler.Scheduler | HttpServer.HttpServer>
let browser: Browser
let base: string
let origin: string

const run = <A, E>(effect: Effect.Effect<A, E, Scheduler.Scheduler>) => Effect.runPromise(Effect.provide(effect, context))
const scheduler = <A, E>(f: (s: Scheduler.Scheduler["Service"]) => Effect.Effect<A, E>) => run(Scheduler.Scheduler.use(f))
const isPaused = (id: string) =>
  scheduler((s) => Effect.map(s.get(id), (job) => Option.getOrThrow(job).paused))

beforeAll(async () => {
  // Mounted as users mount it: beside the admin API, under its prefix, at
  // the dashboard's default path (`/admin/ui`), sharing the API's tokens.
  const admin = Admin.layer({ prefix: "/admin", tokens, routes: Dashboard.layer({ pageSize: 5 }) })
  const app = HttpRouter.serve(admin, { disableListenLog: true, disableLogger: true }).pipe(
    Layer.provideMerge(
      Scheduler.layer({ tasks: [work, flaky], jobs, shutdownGrace: 0 }).pipe(
        Layer.provide(Pg.layerStore({ schema: "dashboard" }))
      )
    ),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )
  scope = await Effect.runPromise(Scope.make())
  context = await Effect.runPromise(Layer.buildWithScope(app, scope))
  const address = Context.get(context, HttpServer.HttpServer).address
  if (!("port" in address)) throw new Error("expected a TCP address")
  origin = `http://127.0.0.1:${address.port}`
  base = `${origin}/admin/ui`
  await scheduler((s) => s.awaitReady("20 seconds"))
  // The package's flags are for AWS Lambda: `--disable-web-security` would
  // turn off the same-origin rules this test relies on, and
  // `--single-process` makes a second browser context unstable.
  const args = Chromium.args.filter((arg) => arg !== "--disable-web-security" && arg !== "--single-process")
  browser = await chromium.launch({ executablePath: await Chromium.executablePath(), args, headless: true })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
}, 30_000)

const login = async (secret: string): Promise<{ readonly context: BrowserContext; readonly page: Page }> => {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: "en-US", timezoneId: "UTC" })
  const page = await context.newPage()
  await page.goto(`${base}/jobs`)
  // Not logged in: the login page.
  await page.waitForURL(`${base}/login`, wait)
  await page.fill("input[name=token]", secret)
  await page.click("button[type=submit]")
  await page.waitForURL(`${base}/jobs`, wait)
  return { context, page }
}

describe("dashboard", () => {
  let operator: { readonly context: BrowserContext; readonly page: Page }

  it("logs in with an operator token into an HttpOnly, SameSite=Strict session cookie, and lists the jobs", async () => {
    operator = await login("operator-secret-1")
    const { page } = operator
    const cookie = (await operator.context.cookies()).find((c) => c.name === "steadfast_session")
    assert.isDefined(cookie)
    assert.isTrue(cookie!.httpOnly)
    assert.strictEqual(cookie!.sameSite, "Strict")
    assert.notInclude(cookie!.value, "operator-secret-1")
    for (const job of jobs) await page.locator(`tr[data-job="${job.id}"]`).waitFor(wait)
    // An id with markup is shown as text, not markup.
    assert.strictEqual(await page.locator(`tr[data-job="import-partner"] td a`).first().textContent(), "import-partner")
    // Its failures show in its sparkline once there are some.
    await page.locator(`tr[data-job="import-partner"] svg.spark rect.bad`).first().waitFor({ state: "attached", ...wait })
    await page.screenshot({ path: `${shots}/jobs.png`, fullPage: true })
  })

  it("filters the jobs by text in the id and by paused state", async () => {
    const { page } = operator
    await page.fill("#job-filter input[name=text]", "billing")
    await page.locator(`tr[data-job="sync-devices"]`).waitFor({ state: "detached", ...wait })
    assert.strictEqual(await page.locator("#jobs tbody tr[data-job]").count(), 1)
    await page.fill("#job-filter input[name=text]", "")
    await page.locator(`tr[data-job="sync-devices"]`).waitFor(wait)
  })

  it("pauses a job from the jobs page: the store says paused", async () => {
    const { page } = operator
    assert.isFalse(await isPaused("sync-devices"))
    await page.click(`tr[data-job="sync-devices"] button[data-action="pause"]`)
    await page.locator(".flash", { hasText: "Paused sync-devices." }).waitFor(wait)
    assert.isTrue(await isPaused("sync-devices"))
    await page.locator(`tr[data-job="sync-devices"] button[data-action="resume"]`).waitFor(wait)
    await page.goto(`${base}/jobs?paused=true`)
    assert.deepStrictEqual(
      await page.locator("#jobs tbody tr[data-job]").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-job"))),
      ["sync-devices"]
    )
  })

  it("shows a job's page with its next fires and DST notes, and new runs arrive over SSE without a reload", async () => {
    const { page } = operator
    await page.goto(`${base}/job?id=${encodeURIComponent("billing/report-daily")}`)
    await page.locator("#next-fires").waitFor(wait)
    assert.include(await page.locator("#next-fires").textContent(), "+01:00")
    await page.locator("#live.on").waitFor(wait)
    // Marks this document: a reload would lose it.
    await page.evaluate(`document.body.setAttribute("data-marker", "same-document")`)
    const triggered = await scheduler((s) => s.trigger("billing/report-daily"))
    await page.locator(`tr[data-run="${triggered.id}"][data-state="succeeded"]`).waitFor(wait)
    assert.strictEqual(await page.getAttribute("body", "data-marker"), "same-document")
    // The chart is drawn from the runs.
    await page.locator("#chart canvas").first().waitFor({ state: "attached", ...wait })

    // The operator's own trigger, with a payload checked against the task's schema.
    await page.fill("input[name=payload]", `{"ms": "not a number"}`)
    await page.click(`button[data-action="trigger"]`)
    await page.locator(".flash.error").waitFor(wait)
    await page.fill("input[name=payload]", `{"ms": 30}`)
    await page.click(`button[data-action="trigger"]`)
    const flash = await page.locator(".flash", { hasText: "Triggered billing/report-daily" }).textContent(wait)
    const runId = /run (\S+)\.$/.exec(flash ?? "")?.[1]
    assert.isDefined(runId)
    await page.locator(`tr[data-run="${runId}"][data-state="succeeded"]`).waitFor(wait)
    await page.screenshot({ path: `${shots}/job.png`, fullPage: true })
  })

  it("notes daylight-saving decisions among a job's next fires", async () => {
    const { page } = operator
    await page.goto(`${base}/job?id=march-sundays`)
    const shifted = page.locator("#next-fires tr", { hasText: "shifted" })
    await shifted.first().waitFor(wait)
    // 02:30 does not exist on the last Sunday of March in Berlin: it runs at 03:00 CEST.
    assert.include(await shifted.first().textContent(), "T03:00:00+02:00")
    await page.screenshot({ path: `${shots}/job-dst.png`, fullPage: true })
  })

  it("filters the runs by job, state and fire-time range, and pages them by cursor", async () => {
    const { page } = operator
    await page.goto(`${base}/runs`)
    await page.locator(`#runs tr[data-run]`).first().waitFor(wait)
    await page.fill("#run-filter input[name=job]", "import-partner")
    await page.selectOption("#run-filter select[name=state]", "failed")
    // (The page's CSP forbids string evaluation, so no waitForFunction here.)
    await page.locator(`#runs tr[data-run]:not([data-state="failed"])`).first().waitFor({ state: "detached", ...wait })
    await page.locator(`#runs tr[data-run][data-state="failed"]`).first().waitFor(wait)
    assert.include(await page.locator("#runs td.error").first().textContent(), "503 <Service Unavailable>")
    await page.screenshot({ path: `${shots}/runs.png`, fullPage: true })
    // Pages of 5, by cursor: the next page goes on where this one ends.
    const ids = () => page.locator("#runs tr[data-run]").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-run")))
    // More than a page of runs, whatever the job's own fires made so far.
    for (let i = 0; i < 6; i++) await scheduler((s) => s.trigger("import-partner"))
    await page.goto(`${base}/runs?job=import-partner`)
    await page.locator("#runs a.next").waitFor(wait)
    // The page's rows and its next link read in one go: live updates (the job fires every 2 s)
    // replace the table, and a link read later would go on from a newer first page.
    const snapshot = await page.locator("#runs").evaluate((table) => ({
      ids: [...table.querySelectorAll("tr[data-run]")].map((row) => row.getAttribute("data-run")),
      next: table.querySelector("a.next")?.getAttribute("href") ?? null
    }))
    const first = snapshot.ids
    assert.strictEqual(first.length, 5)
    assert.isNotNull(snapshot.next)
    assert.match(snapshot.next!, /before=/)
    await page.goto(new URL(snapshot.next!, page.url()).href)
    const second = await ids()
    assert.isAbove(second.length, 0)
    assert.deepStrictEqual(second.filter((id) => first.includes(id)), [])
    await page.goto(`${base}/runs?job=billing%2Freport-daily&to=2000-01-01T00:00`)
    await page.locator("#runs", { hasText: "No runs match." }).waitFor(wait)
  })

  it("cancels a running run from the runs page: its node interrupts it and records it cancelled", async () => {
    const { page } = operator
    await page.goto(`${base}/runs?job=long-export`)
    const running = await scheduler((s) => s.trigger("long-export"))
    const row = page.locator(`tr[data-run="${running.id}"][data-state="running"]`)
    await row.waitFor(wait)
    await row.locator(`button[data-action="cancel"]`).click()
    await page.locator(".flash", { hasText: `run ${running.id} of long-export` }).waitFor(wait)
    await page.locator(`tr[data-run="${running.id}"][data-state="cancelled"]`).waitFor(wait)
    const record = await scheduler((s) => s.getRun(running.id))
    assert.strictEqual(Option.getOrThrow(record).state, "cancelled")
    await page.screenshot({ path: `${shots}/runs-cancelled.png`, fullPage: true })
  })

  it("shows the cluster: the live nodes, this node's loops, their state and progress, and the store", async () => {
    const { page } = operator
    await page.goto(`${base}/cluster`)
    await page.locator(`#loops tr[data-loop="dispatcher"]`).waitFor(wait)
    const node = await scheduler((s) => Effect.succeed(s.node))
    await page.locator(`#nodes tr[data-node="${node}"]`).waitFor(wait)
    assert.include(await page.locator("#cluster").textContent(), "Store")
    await page.screenshot({ path: `${shots}/cluster.png`, fullPage: true })
  })

  it("refuses a cross-site POST and a POST without the CSRF token: nothing changes", async () => {
    const { context, page } = operator
    // A page on another origin that posts a form to the dashboard on load.
    await page.route("http://evil.test/**", (route) =>
      route.fulfill({
        contentType: "text/html",
        body: `<form id="f" method="post" action="${base}/actions/pause">
<input name="id" value="billing/report-daily"><input name="back" value="/admin/ui/jobs"></form>
<script>document.getElementById("f").submit()</script>`
      }))
    const refused = page.waitForResponse((response) => response.url() === `${base}/actions/pause`, wait)
    await page.goto("http://evil.test/")
    assert.strictEqual((await refused).status(), 403)
    // Same origin and a session, but no CSRF token.
    const noToken = await context.request.post(`${base}/actions/pause`, {
      form: { id: "billing/report-daily", back: "/admin/ui/jobs" },
      headers: { origin }
    })
    assert.strictEqual(noToken.status(), 403)
    assert.include(await noToken.text(), "CSRF")
    assert.isFalse(await isPaused("billing/report-daily"))
  })

  it("a viewer sees but cannot act: no action buttons, and an action POST is refused", async () => {
    const viewer = await login("viewer-secret-1")
    const { page } = viewer
    await page.locator(`tr[data-job="billing/report-daily"]`).waitFor(wait)
    assert.strictEqual(await page.locator("button[data-action]").count(), 0)
    const csrf = await page.getAttribute("input[name=_csrf]", "value")
    const response = await viewer.context.request.post(`${base}/actions/pause`, {
      form: { _csrf: csrf ?? "", id: "billing/report-daily", back: "/admin/ui/jobs" },
      headers: { origin }
    })
    assert.strictEqual(response.status(), 403)
    assert.isFalse(await isPaused("billing/report-daily"))
    await page.screenshot({ path: `${shots}/jobs-viewer.png`, fullPage: true })
    await viewer.context.close()
  })

  it("rejects an unknown token at login, and logs out", async () => {
    const context = await browser.newContext({ locale: "en-US", timezoneId: "UTC" })
    const page = await context.newPage()
    await page.goto(`${base}/login`)
    await page.fill("input[name=token]", "guess")
    await page.click("button[type=submit]")
    await page.locator(".flash.error", { hasText: "Unknown token." }).waitFor(wait)
    await page.screenshot({ path: `${shots}/login.png` })
    await context.close()
    await operator.page.goto(`${base}/jobs`)
    await operator.page.click("header button[type=submit]")
    await operator.page.waitForURL(`${base}/login`, wait)
    await operator.page.goto(`${base}/jobs`)
    await operator.page.waitForURL(`${base}/login`, wait)
    await operator.context.close()
  })
})
