/**
 * Start-up, against a real PostgreSQL: a process whose database cannot be
 * reached says so at once (one event, one log line naming the host, never
 * the password), keeps trying, and runs its jobs once the database answers;
 * `awaitReady` resolves after registration and fails with a typed error at
 * its deadline.
 */
import { assert, describe, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Context, Deferred, type Duration, Effect, Exit, Fiber, Layer, Logger, Redacted, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as net from "node:net"
import type { Event } from "../src/Event.ts"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as FaultyJobStore from "../src/testing/FaultyJobStore.ts"
import * as TestScheduler from "../src/testing/TestScheduler.ts"
import * as Trigger from "../src/Trigger.ts"
import * as Pg from "./support/Pg.ts"
import * as TcpProxy from "./support/TcpProxy.ts"

// A value as JavaScript or configuration hands it over: typed by the caller, unchecked.
function fromJavaScript<A>(value: unknown): A
function fromJavaScript(value: unknown) {
  return value
}

let counter = 0
const unique = (label: string) => `${label}_${Date.now().toString(36)}_${++counter}`

interface Line {
  readonly level: string
  readonly text: string
}

/** Every log line, formatted with its annotations, instead of the console. */
const capture = (lines: Array<Line>) =>
  Logger.layer([Logger.make((options) => {
    lines.push({ level: options.logLevel, text: Logger.formatLogFmt.log(options) })
  })])

/** Polls `condition` every 20 ms until it holds; fails the test past `ms`. */
const within = (ms: number, what: string, condition: () => boolean) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!condition()) {
      if (Date.now() > deadline) return assert.fail(`${what}: not within ${ms} ms`)
      yield* Effect.sleep(20)
    }
  })

/** Every event from now on. */
const record = (scheduler: Scheduler.Scheduler["Service"]) =>
  Effect.gen(function*() {
    const events: Array<Event> = []
    yield* Effect.forkScoped(Stream.runForEach(scheduler.events, (event) => Effect.sync(() => events.push(event))))
    for (let i = 0; i < 5; i++) yield* Effect.yieldNow
    return events
  })

/** A login role with a password that appears nowhere else, so a test can look for it in the logs. */
const roleWithPassword = Effect.acquireRelease(
  Effect.gen(function*() {
    const admin = yield* Pg.makeClient()
    const user = unique("startup_user")
    const password = `pw-${Math.random().toString(36).slice(2, 12)}`
    yield* admin.unsafe(`CREATE ROLE ${user} LOGIN SUPERUSER PASSWORD '${password}'`)
    const url = new URL(yield* Pg.url)
    url.username = user
    url.password = password
    return { user, password, url: url.toString(), port: Number(url.port) }
  }),
  ({ user }) =>
    Effect.gen(function*() {
      const admin = yield* Pg.makeClient()
      yield* admin.unsafe(`DROP OWNED BY ${user}`)
      yield* admin.unsafe(`DROP ROLE ${user}`)
    }).pipe(Effect.scoped, Effect.ignore)
)

/** A task whose handler completes `ran` with the fire time of its first run. */
const signalling = (ran: Deferred.Deferred<number>) =>
  Task.make("startup-tick", Schema.Null, (_, context) => Effect.asVoid(Deferred.succeed(ran, context.fireTime)))

const everySecond = (task: Task.Any<never>) =>
  Job.make(task, { id: "startup-tick", payload: null, trigger: Trigger.every("1 second") })

/**
 * A scheduler on its own pool (one process), for the life of the scope. The
 * store counts the registrar's attempts (each retry is one).
 */
const start = (options: {
  readonly url: string
  readonly schema: string
  readonly lines: Array<Line>
  readonly task: Task.Any<never>
  readonly connectTimeout?: Duration.Input
}) =>
  Effect.gen(function*() {
    const attempts = { register: 0 }
    const counting = Layer.effect(
      JobStore,
      Effect.map(JobStore, (store) =>
        JobStore.of({
          ...store,
          register: (jobs, registerOptions) =>
            Effect.suspend(() => {
              attempts.register++
              return store.register(jobs, registerOptions)
            })
        }))
    )
    const layer = Scheduler.layer({
      tasks: [options.task],
      jobs: [everySecond(options.task)],
      node: unique("node"),
      reapInterval: "1 hour",
      shutdownGrace: 0
    }).pipe(
      Layer.provide(counting),
      Layer.provide(PgJobStore.layer({ schema: options.schema })),
      Layer.provide(PgClient.layer({ url: Redacted.make(options.url), connectTimeout: options.connectTimeout })),
      Layer.provide(capture(options.lines))
    )
    const startedAt = Date.now()
    const scheduler = Context.get(yield* Layer.build(layer), Scheduler.Scheduler)
    return { scheduler, startedAt, builtIn: Date.now() - startedAt, attempts }
  })

const tick = Task.make("startup-tick", Schema.Null, () => Effect.void)

const warnings = (lines: ReadonlyArray<Line>) => lines.filter((line) => line.level === "Warn")
const tagged = <T extends Event["_tag"]>(events: ReadonlyArray<Event>, tag: T) => events.filter((e) => e._tag === tag)

describe("Start-up", () => {
  it.live("an unreachable database is reported within 5 s, once; jobs run when it answers", () =>
    Effect.gen(function*() {
      const role = yield* roleWithPassword
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(() => TcpProxy.start({ host: "127.0.0.1", port: role.port })),
        (p) => Effect.promise(() => p.close())
      )
      proxy.setDown(true)
      const lines: Array<Line> = []
      const ran = yield* Deferred.make<number>()
      const { scheduler, startedAt, builtIn, attempts } = yield* start({
        url: proxy.via(role.url),
        schema: unique("startup"),
        lines,
        task: signalling(ran)
      })
      const events = yield* record(scheduler)
      // The layer does not wait for the database.
      assert.isBelow(builtIn, 1_000)

      yield* within(5_000 - (Date.now() - startedAt), "a StoreUnavailable event and a warning", () =>
        tagged(events, "StoreUnavailable").length > 0 && warnings(lines).length > 0)
      const health = yield* scheduler.health
      assert.strictEqual(health.status, "store-unavailable")
      assert.isFalse(health.ready)
      assert.isNull(health.registration)

      // It keeps trying; still one event and one line for the whole outage.
      yield* within(10_000, "ten registration attempts", () => attempts.register >= 10)
      assert.strictEqual(tagged(events, "StoreUnavailable").length, 1)
      const [warning, ...more] = warnings(lines)
      assert.deepStrictEqual(more, [])
      assert.include(warning!.text, `127.0.0.1:${proxy.port}`)
      assert.include(warning!.text, "store unavailable")
      assert.notInclude(warning!.text, role.password)
      assert.notInclude(JSON.stringify(events), role.password)
      assert.notInclude(health.store.lastError ?? "", role.password)

      proxy.setDown(false)
      const fireTime = yield* Deferred.await(ran).pipe(Effect.timeout("15 seconds"))
      assert.isAbove(fireTime, startedAt)
      yield* scheduler.awaitReady("5 seconds")
      const after = yield* scheduler.health
      assert.notStrictEqual(after.status, "store-unavailable")
      assert.isTrue(after.ready)
      assert.strictEqual(after.registration?.inserted, 1)
      assert.strictEqual(tagged(events, "StoreRecovered").length, 1)
      assert.strictEqual(tagged(events, "JobsRegistered").length, 1)
    }), 40_000)

  it.live("a server that accepts but never answers is reported within 5 s with a 2 s connect timeout", () =>
    Effect.gen(function*() {
      // Takes connections and says nothing, as a stuck server or a black-holed route would.
      const held = new Set<net.Socket>()
      const silent = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<net.Server>((resolve) => {
            const server = net.createServer((socket) => {
              held.add(socket)
              socket.on("error", () => undefined)
            })
            server.listen(0, "127.0.0.1", () => resolve(server))
          })
        ),
        (server) =>
          Effect.promise(() =>
            new Promise<void>((resolve) => {
              for (const socket of held) socket.destroy()
              server.close(() => resolve())
            })
          )
      )
      const address = silent.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const lines: Array<Line> = []
      const { scheduler, startedAt } = yield* start({
        url: `postgres://someone:hush-hush@127.0.0.1:${port}/app`,
        schema: unique("startup"),
        lines,
        task: signalling(yield* Deferred.make<number>()),
        connectTimeout: "2 seconds"
      })
      yield* within(5_000 - (Date.now() - startedAt), "a warning", () => warnings(lines).length > 0)
      const [warning] = warnings(lines)
      assert.include(warning!.text, `127.0.0.1:${port}/app`)
      assert.notInclude(warning!.text, "hush-hush")
      assert.strictEqual((yield* scheduler.health).status, "store-unavailable")
    }), 20_000)

  it.live("awaitReady resolves once the jobs are registered and dispatching; health keeps it for late readers", () =>
    Effect.gen(function*() {
      const url = yield* Pg.url
      const schema = unique("ready")
      const lines: Array<Line> = []
      const first = yield* start({ url, schema, lines, task: signalling(yield* Deferred.make<number>()) })
      yield* first.scheduler.awaitReady("20 seconds")
      const health = yield* first.scheduler.health
      assert.isTrue(health.ready)
      assert.isAtLeast(health.readyAt ?? 0, first.startedAt)
      assert.deepStrictEqual(
        { ...health.registration, at: 0 },
        { inserted: 1, updated: 0, unchanged: 0, superseded: 0, orphaned: 0, at: 0 }
      )
      // Registered: the store has the job; dispatching: the dispatcher made a pass.
      assert.deepStrictEqual((yield* first.scheduler.list).map((job) => job.id), ["startup-tick"])
      assert.isNotNull(health.loops.find((loop) => loop.name === "dispatcher")?.lastProgress ?? null)
      // Ready is a state: asking again answers at once, even with no time to wait.
      yield* first.scheduler.awaitReady(0)

      // A subscriber made now has missed JobsRegistered; health still says it, for each process.
      const late = yield* record(first.scheduler)
      const second = yield* start({ url, schema, lines, task: signalling(yield* Deferred.make<number>()) })
      yield* second.scheduler.awaitReady("20 seconds")
      assert.strictEqual(tagged(late, "JobsRegistered").length, 0)
      assert.strictEqual((yield* first.scheduler.health).registration?.inserted, 1)
      assert.strictEqual((yield* second.scheduler.health).registration?.unchanged, 1)
      assert.deepStrictEqual(warnings(lines), [])
    }), 40_000)

  it.live("awaitReady fails with NotReady at its deadline while the store never answers, and the scheduler keeps trying", () =>
    Effect.gen(function*() {
      const role = yield* roleWithPassword
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(() => TcpProxy.start({ host: "127.0.0.1", port: role.port })),
        (p) => Effect.promise(() => p.close())
      )
      proxy.setDown(true)
      const { scheduler } = yield* start({
        url: proxy.via(role.url),
        schema: unique("notready"),
        lines: [],
        task: signalling(yield* Deferred.make<number>())
      })
      const asked = Date.now()
      const exit = yield* Effect.exit(scheduler.awaitReady("1 second"))
      const waited = Date.now() - asked
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(exit)
      assert.instanceOf(error, Scheduler.NotReady)
      assert.strictEqual(error._tag, "NotReady")
      assert.strictEqual(error.waitingFor, "registration")
      assert.isAtLeast(error.waitedMs, 1_000)
      assert.isAtLeast(waited, 1_000)
      assert.isBelow(waited, 3_000)
      assert.include(error.lastError ?? "", `127.0.0.1:${proxy.port}`)
      assert.notInclude(error.message, role.password)
      assert.isFalse((yield* scheduler.health).ready)

      proxy.setDown(false)
      yield* scheduler.awaitReady("15 seconds")
      assert.isTrue((yield* scheduler.health).ready)
    }), 40_000)

  it.effect("awaitReady's deadline is kept by the Clock: NotReady after exactly its timeout, ready once the store answers", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const waiting = yield* Effect.forkChild(Effect.flip(scheduler.awaitReady("10 seconds")))
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(waiting)
      assert.strictEqual(error._tag, "NotReady")
      if (error._tag !== "NotReady") return
      assert.strictEqual(error.waitedMs, 10_000)
      assert.strictEqual(error.waitingFor, "registration")
      assert.include(error.lastError ?? "", "connection lost")
      const health = yield* scheduler.health
      assert.strictEqual(health.status, "store-unavailable")
      assert.isFalse(health.ready)

      // A timeout that is not a duration is a typed error, not a defect.
      const invalid = yield* Effect.flip(scheduler.awaitReady(fromJavaScript<Duration.Input>("banana")))
      assert.strictEqual(invalid._tag, "InvalidOptions")

      // The store answers from 20 s on: a later call succeeds.
      const again = yield* Effect.forkChild(scheduler.awaitReady("20 seconds"))
      yield* TestClock.adjust("11 seconds")
      yield* Fiber.join(again)
      const after = yield* scheduler.health
      assert.isTrue(after.ready)
      assert.isAtLeast(after.readyAt ?? 0, 20_000)
      assert.strictEqual(after.registration?.inserted, 1)
    }).pipe(Effect.provide(TestScheduler.layer({
      tasks: [tick],
      jobs: [everySecond(tick)],
      faults: (operation, _call, now) =>
        operation === "register" && now < 20_000
          ? { _tag: "Fail", error: FaultyJobStore.connectionLost("register") }
          : undefined
    }))))
})
