/**
 * The PostgreSQL store under network faults that send no RST: a connection
 * that goes silent (the proxy swallows its bytes), in the middle of a call
 * and in the middle of a claim's transaction; the server-side guards; an
 * aborted transaction; the notification probe. Real PostgreSQL, the project's
 * TCP proxy in front of it; one process per store (its own pool).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Option, Redacted, Schema, Stream } from "effect"
import { SqlError } from "effect/sql"
import { PgClient } from "@effect/sql-pg"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import { transaction } from "../src/internal/pg/transaction.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import { StoreError } from "../src/StoreError.ts"
import * as StoreRetry from "../src/StoreRetry.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import { readLedger, spawnWorker, stopAll, tempLedgerDir, until, type Worker } from "./support/Cluster.ts"
import * as Pg from "./support/Pg.ts"
import * as TcpProxy from "./support/TcpProxy.ts"

let counter = 0
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${++counter}`
const taskNamed = (name: string) => Task.make(name, Schema.Unknown, () => Effect.void)
const oneOff = (task: string, id: string, at: number): Job.Job =>
  Job.make(taskNamed(task), { id, payload: null, trigger: Trigger.once(at) })

/** A proxy in front of this file's server, for the life of the scope. */
const proxied = Effect.acquireRelease(
  Effect.promise(async () => {
    const url = new URL(await Pg.databaseUrl())
    return TcpProxy.start({ host: url.hostname, port: Number(url.port) })
  }),
  (proxy) => Effect.promise(() => proxy.close())
)

/** A store whose connections go through `proxy` (one "process"). */
const storeVia = (proxy: TcpProxy.TcpProxy, options: PgJobStore.Options, config: Omit<PgClient.PgPoolConfig, "url"> = {}) =>
  Effect.gen(function*() {
    const url = proxy.via(yield* Pg.url)
    const context = yield* Layer.build(
      PgJobStore.layer(options).pipe(Layer.provide(PgClient.layer({ ...config, url: Redacted.make(url) })))
    )
    return Context.get(context, JobStore)
  })

/** Runs `effect`; its exit and how long it took. */
const timed = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const exit = yield* Effect.exit(effect)
    return { exit, ms: performance.now() - start }
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined

/** Polls `check` every 50 ms until it holds; fails the test after `ms`. */
const within = (ms: number, what: string, check: Effect.Effect<boolean, unknown>) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!(yield* check)) {
      if (Date.now() > deadline) return assert.fail(`not within ${ms} ms: ${what}`)
      yield* Effect.sleep(50)
    }
  })

describe("PgJobStore: a connection that goes silent", () => {
  it.live("a call on a silent connection fails with a retryable StoreError at its deadline; the next call works on a new connection", () =>
    Effect.gen(function*() {
      const proxy = yield* proxied
      const store = yield* storeVia(proxy, { schema: "silent", deadlines: { default: "1 second" } }, { connectTimeout: "2 seconds" })
      const task = unique("task")
      const at = yield* store.now
      yield* store.add(oneOff(task, unique("job"), at - 1))

      proxy.setBlackhole(true)
      // A single statement, and a transaction (its BEGIN never answered).
      const calls: ReadonlyArray<Effect.Effect<unknown, StoreError>> = [
        store.now,
        store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
      ]
      for (const call of calls) {
        const { exit, ms } = yield* timed(call)
        const error = failureOf(exit)
        assert.instanceOf(error, StoreError)
        assert.strictEqual(error.reason, "Deadline")
        assert.isTrue(error.retryable)
        assert.isAtLeast(ms, 950)
        assert.isBelow(ms, 1_500, "the caller does not wait for the network beyond the deadline")
      }

      proxy.setBlackhole(false)
      // The silent connections are never used again: the next calls work on
      // new connections (a silent one would time out again). The first may
      // still fail, retryably, with the timeout of a connection the pool
      // began to open during the silence (2 s here), so it is retried.
      const retried = StoreRetry.retrying(store)
      const after = yield* timed(retried.now)
      assert.isTrue(Exit.isSuccess(after.exit), String(after.exit))
      assert.isBelow(after.ms, 2_500)
      const { runs } = yield* retried.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
      assert.strictEqual(runs.length, 1)
      // And they are closed: the driver ends a session whose cancelled
      // statement is not confirmed within 5 seconds.
      yield* within(8_000, "the client closes its silent connection", Effect.sync(() => proxy.silentClosed() >= 1))
    }), 30_000)

  it.live("silent in the middle of a claim: the server ends the session within idleInTransaction, and another process claims the jobs", () =>
    Effect.gen(function*() {
      const proxy = yield* proxied
      const silent = yield* storeVia(proxy, {
        schema: "midclaim",
        deadlines: { claim: "3 seconds" },
        idleInTransaction: "1500 millis"
      })
      const other = yield* Pg.makeStore({ schema: "midclaim" })
      const task = unique("task")
      const at = yield* other.now
      const ids = Array.from({ length: 5 }, () => unique("job"))
      for (const id of ids) yield* other.add(oneOff(task, id, at - 1))
      yield* silent.now

      // The claim's second statement (`settle`) never arrives: its first one
      // holds the five job rows locked, and the client hears nothing more.
      const trap = proxy.blackholeOn("WITH fire AS (")
      const trapped = Effect.promise(() => trap)
      const claiming = yield* Effect.forkChild(timed(silent.claim({ node: "silent", tasks: [task], limit: 10, leaseMs: 30_000 })))
      yield* trapped
      const silenceAt = performance.now()
      const request = { node: "other", tasks: [task], limit: 10, leaseMs: 30_000 }
      // While the silent session lives, its locks hold: the other process skips those rows.
      assert.deepStrictEqual((yield* other.claim(request)).runs, [])

      let claimed: ReadonlyArray<string> = []
      yield* within(6_000, "the other process claims the jobs", Effect.map(other.claim(request), ({ runs }) => {
        claimed = [...claimed, ...runs.map((run) => run.jobId)]
        return claimed.length >= ids.length
      }))
      const freedAfter = performance.now() - silenceAt
      assert.isBelow(freedAfter, 4_000, `locks freed after ${freedAfter} ms`)
      assert.sameMembers([...claimed], ids)

      const { exit, ms } = yield* Fiber.join(claiming)
      assert.strictEqual(failureOf(exit)?.reason, "Deadline")
      assert.isBelow(ms, 3_500)
      // The silent claim never committed: every job has one run, the other process's.
      for (const id of ids) {
        const history = yield* other.history({ jobId: id })
        assert.deepStrictEqual(history.map((record) => record.node), ["other"])
      }
    }), 30_000)
})

describe("PgJobStore: replies held or lost", () => {
  it.live("bytes held shorter than the deadline are delivered: the call succeeds, late", () =>
    Effect.gen(function*() {
      const proxy = yield* proxied
      const store = yield* storeVia(proxy, { schema: "stall", deadlines: { default: "2 seconds" } })
      yield* store.now
      proxy.setStalled(true)
      const call = yield* Effect.forkChild(timed(store.now))
      yield* Effect.sleep(400)
      proxy.setStalled(false)
      const { exit, ms } = yield* Fiber.join(call)
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.isAtLeast(ms, 390)
      assert.isBelow(ms, 2_000)
    }), 30_000)

  it.live("a statement whose reply is withheld takes effect, and its call fails with a retryable StoreError at the deadline", () =>
    Effect.gen(function*() {
      const proxy = yield* proxied
      // Without prepared statements the statement's text goes with every execution.
      const store = yield* storeVia(proxy, { schema: "withheld", deadlines: { default: "1 second" } }, { prepare: false })
      const direct = yield* Pg.makeStore({ schema: "withheld" })
      const task = unique("task")
      const at = yield* store.now
      const id = unique("job")
      const trap = proxy.withholdReplyTo("INSERT INTO")
      const withheld = Effect.promise(() => trap)
      const { exit, ms } = yield* timed(store.add(oneOff(task, id, at + 60_000)))
      yield* withheld
      assert.strictEqual(failureOf(exit)?._tag, "StoreError")
      assert.isTrue(StoreRetry.classify("add", failureOf(exit)).retryable)
      assert.isBelow(ms, 1_500)
      assert.isTrue(Option.isSome(yield* direct.get(id)), "the insert committed")
    }), 30_000)
})

describe("Cluster: a node silent in the middle of a claim (real processes)", () => {
  it("(b) one node's connection goes silent right after its claim locked job rows: the other node runs those jobs within 10 s", async () => {
    const direct = await Pg.databaseUrl()
    const address = new URL(direct)
    const proxy = await TcpProxy.start({ host: address.hostname, port: Number(address.port) })
    const ledgerDir = tempLedgerDir()
    const schema = `midclaim_cluster_${Date.now().toString(36)}`
    const due = Date.now() + 4_000
    const jobs = Array.from({ length: 10 }, (_, i) => ({ id: `m-${i}`, trigger: Trigger.once(due) }))
    const workers: Array<Worker> = []
    try {
      const silent = spawnWorker({ url: proxy.via(direct), node: "silent", ledgerDir, schema, jobs })
      workers.push(silent)
      await silent.waitFor((line) => line._tag === "JobsRegistered", 30_000)
      // The claim's second statement never arrives (its first one locked the
      // ten job rows), and from that instant the whole node is cut off.
      await Promise.race([
        proxy.blackholeOn("WITH fire AS (", { everything: true }),
        new Promise((_, reject) => setTimeout(() => reject(new Error("the silent node never claimed")), 15_000))
      ])
      const silenceAt = Date.now()
      const other = spawnWorker({ url: direct, node: "other", ledgerDir, schema, jobs })
      workers.push(other)
      await until(() => readLedger(ledgerDir).filter((line) => line.kind === "start").length >= jobs.length, 15_000, "ten runs")
      const starts = readLedger(ledgerDir).filter((line) => line.kind === "start")
      assert.sameMembers(starts.map((line) => line.jobId), jobs.map((job) => job.id), "each job once")
      for (const line of starts) {
        assert.strictEqual(line.node, "other")
        assert.isAtMost(line.at - silenceAt, 10_000, `${line.jobId} ran ${line.at - silenceAt} ms after the silence`)
      }
    } finally {
      // The cut-off node's connections end with the proxy; then both stop.
      await proxy.close()
      await stopAll(workers)
    }
  }, 60_000)
})

describe("PgJobStore transactions", () => {
  it.live("set statement_timeout, lock_timeout and idle_in_transaction_session_timeout for themselves only", () =>
    Effect.gen(function*() {
      const sql = yield* Pg.makeClient({ maxConnections: 1 })
      const inside = yield* transaction(
        sql,
        { statementMs: 1_234, lockMs: 2_345, idleMs: 3_456 },
        sql<{ readonly s: string; readonly l: string; readonly i: string }>`
          SELECT current_setting('statement_timeout') AS s, current_setting('lock_timeout') AS l,
            current_setting('idle_in_transaction_session_timeout') AS i`
      )
      assert.deepStrictEqual(inside[0], { s: "1234ms", l: "2345ms", i: "3456ms" })
      const [outside] = yield* sql<{ readonly s: string }>`SELECT current_setting('statement_timeout') AS s`
      assert.strictEqual(outside?.s, "0")
    }), 30_000)

  it.live("an aborted transaction (25P02) fails retryably and is rolled back before its connection is used again", () =>
    Effect.gen(function*() {
      const sql = yield* Pg.makeClient({ maxConnections: 1 })
      const guards = { statementMs: 5_000, lockMs: 5_000, idleMs: 5_000 }
      const exit = yield* Effect.exit(transaction(
        sql,
        guards,
        Effect.gen(function*() {
          // A failure the body ignores leaves the transaction aborted ...
          yield* Effect.ignore(sql`SELECT 1 / 0`)
          // ... so the next statement fails with 25P02.
          yield* sql`SELECT 1`
        })
      ))
      const error = failureOf(exit)
      assert.isTrue(SqlError.isSqlError(error))
      assert.strictEqual(StoreRetry.errorCode(error), "25P02")
      assert.isTrue(StoreRetry.classify("claim", error).retryable)
      // One connection in the pool: it was rolled back, so this works.
      const [row] = yield* sql<{ readonly ok: number }>`SELECT 1 AS ok`
      assert.strictEqual(row?.ok, 1)
    }), 30_000)

  it.live("26000 (a prepared statement the server connection lacks, as behind a transaction pooler) is retryable", () =>
    Effect.gen(function*() {
      const sql = yield* Pg.makeClient({ maxConnections: 1 })
      const error = yield* Effect.flip(sql`EXECUTE steadfast_no_such_statement`)
      assert.strictEqual(StoreRetry.errorCode(error), "26000")
      assert.isTrue(StoreRetry.classify("claim", error).retryable)
    }), 30_000)
})

describe("PgJobStore notifications", () => {
  it.live("a direct connection: the probe's notification comes back, notifications are working, and probes are no changes", () =>
    Effect.gen(function*() {
      const store = yield* Pg.makeStore({ schema: "probe", notificationProbe: { interval: "200 millis" } })
      assert.strictEqual(yield* store.notifications!, "unknown")
      let changes = 0
      yield* Effect.forkChild(Stream.runForEach(store.changes, () => Effect.sync(() => void changes++)))
      yield* within(5_000, "notifications working", Effect.map(store.notifications!, (status) => status === "working"))
      // Several probes went round; only the subscription's first change was emitted.
      yield* Effect.sleep(600)
      assert.strictEqual(changes, 1)
    }), 30_000)

  it.live("a listening connection that goes silent after notifications worked: changes fails with a retryable StoreError", () =>
    Effect.gen(function*() {
      const proxy = yield* proxied
      const store = yield* storeVia(proxy, {
        schema: "probesilent",
        notificationProbe: { interval: "300 millis", timeout: "500 millis" }
      })
      const listening = yield* Effect.forkChild(Stream.runDrain(store.changes))
      yield* within(5_000, "notifications working", Effect.map(store.notifications!, (status) => status === "working"))
      const start = performance.now()
      // Only the listening connection: the probe itself is sent as usual.
      assert.strictEqual(proxy.blackholeSent("LISTEN"), 1)
      const exit = yield* Fiber.await(listening)
      const error = failureOf(exit)
      assert.instanceOf(error, StoreError)
      assert.isTrue(error.retryable)
      // The next probe (sent within 300 ms) goes unanswered for 500 ms; ending
      // the subscription does not wait for the silent connection.
      assert.isBelow(performance.now() - start, 2_500)
    }), 30_000)

  it.effect("pooler: \"transaction\" with prepared statements is refused when the layer is built", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Pg.makeStore({ schema: "pooler", pooler: "transaction" }))
      assert.instanceOf(error, StoreError)
      assert.strictEqual(error.reason, "InvalidOptions")
    }))

  it.effect("deadlines that are not positive durations are refused when the layer is built", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Pg.makeStore({ schema: "deadlines", deadlines: { claim: "0 millis" } }))
      assert.instanceOf(error, StoreError)
      assert.strictEqual(error.reason, "InvalidOptions")
    }))
})
