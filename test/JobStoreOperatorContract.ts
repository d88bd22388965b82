/**
 * The store contract, continued: what operators ask of a store (issue 14).
 * Job pages by filter, history pages by fire-time range and cursor, one run,
 * cancel, counts by state, and the nodes table. Part of `contract` (see
 * `JobStoreContract.ts`): it runs against every backend.
 */
import { assert, describe } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Stream } from "effect"
import { JobStore, type NodeInfo } from "../src/JobStore.ts"
import type * as Run from "../src/Run.ts"
import { StoreError } from "../src/StoreError.ts"
import { oneOff, outcome, unique } from "./support/StoreFixtures.ts"

type Test = (title: string, body: Effect.Effect<void, unknown, JobStore>) => void


const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined

const nodeInfo = (id: string, overrides: Partial<NodeInfo> = {}): NodeInfo => ({
  id,
  host: "host-a",
  pid: 4242,
  version: "1.2.3",
  tasks: ["t1", "t2"],
  startedAt: 1_700_000_000_000,
  running: 3,
  health: { status: "healthy", loops: [{ name: "dispatcher", restarts: 0 }] },
  store: "up",
  ...overrides
})

export const operatorContract = (
  name: string,
  test: Test,
  elapse: (ms: number) => Effect.Effect<void>
): void => {
  describe(`JobStore contract (operators): ${name}`, () => {
    test(
      "listJobs filters by task, paused and text (ASCII case folded), in id order",
      Effect.gen(function*() {
        const store = yield* JobStore
        const [task, other] = [unique("task"), unique("other")]
        const now = yield* store.now
        const prefix = unique("Lj")
        const ids = ["Report-b", "report-a", "sync-c", "Sync-d"].map((s) => `${prefix}-${s}`)
        for (const id of ids) yield* store.add(oneOff(task, id, now + 60_000))
        yield* store.add(oneOff(other, `${prefix}-report-z`, now + 60_000))
        yield* store.setPaused(ids[1]!, true)
        const all = yield* store.listJobs({ task })
        assert.deepStrictEqual(all.jobs.map((j) => j.id), [...ids].sort())
        assert.isNull(all.next)
        const reports = yield* store.listJobs({ task, text: "REPORT" })
        assert.deepStrictEqual(reports.jobs.map((j) => j.id), [`${prefix}-Report-b`, `${prefix}-report-a`])
        const paused = yield* store.listJobs({ task, paused: true })
        assert.deepStrictEqual(paused.jobs.map((j) => j.id), [ids[1]])
        const active = yield* store.listJobs({ task, paused: false, text: "sync" })
        assert.deepStrictEqual(active.jobs.map((j) => j.id), [`${prefix}-Sync-d`, `${prefix}-sync-c`])
        const anyTask = yield* store.listJobs({ text: `${prefix.toLowerCase()}-report` })
        assert.deepStrictEqual(anyTask.jobs.map((j) => j.id), [`${prefix}-Report-b`, `${prefix}-report-a`, `${prefix}-report-z`])
        assert.deepStrictEqual((yield* store.listJobs({ task, text: "no such text" })).jobs, [])
      })
    )

    test(
      "listJobs pages: every job once, in order, whatever is added between pages; an after past the end is empty",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const now = yield* store.now
        const ids = Array.from({ length: 10 }, (_, i) => `pg-${String(i * 2).padStart(2, "0")}`).map((s) => `${task}-${s}`)
        for (const id of ids) yield* store.add(oneOff(task, id, now + 60_000))
        const seen: Array<string> = []
        let after: string | undefined = undefined
        let pages = 0
        while (true) {
          const page: { readonly jobs: ReadonlyArray<{ readonly id: string }>; readonly next: string | null } =
            yield* store.listJobs({ task, limit: 3, after })
          pages++
          seen.push(...page.jobs.map((j) => j.id))
          if (pages === 2) {
            // Added between pages: one before the cursor (not in these pages), one after it (in them).
            yield* store.add(oneOff(task, `${task}-pg-00a`, now + 60_000))
            yield* store.add(oneOff(task, `${task}-pg-17`, now + 60_000))
          }
          if (page.next === null) break
          assert.strictEqual(page.next, page.jobs[page.jobs.length - 1]!.id)
          after = page.next
          assert.isBelow(pages, 10, "pages end")
        }
        const expected = [...ids, `${task}-pg-17`].sort()
        assert.deepStrictEqual(seen, expected)
        assert.strictEqual(new Set(seen).size, seen.length)
        const last = yield* store.listJobs({ task, after: `${task}-pg-99` })
        assert.deepStrictEqual([last.jobs.length, last.next], [0, null])
        const exact = yield* store.listJobs({ task, limit: 12 })
        assert.deepStrictEqual([exact.jobs.length, exact.next], [12, null])
        const none = yield* store.listJobs({ task, limit: 0 })
        assert.deepStrictEqual(none.jobs, [])
      })
    )

    test(
      "historyPage pages newest first with no gaps or repeats (ties of fire time broken by id), filters by state and fire-time range",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.add(oneOff(task, id, now + 3_600_000))
        const runs: Array<Run.RunRecord> = []
        for (let i = 0; i < 7; i++) runs.push(yield* store.triggerNow(id, i === 0 ? { n: i } : undefined))
        assert.deepStrictEqual(runs[0]!.payload, { n: 0 })
        assert.isNull(runs[1]!.payload)
        const everything = yield* store.history({ jobId: id })
        assert.strictEqual(everything.length, 7)
        const seen: Array<string> = []
        let before: string | undefined = undefined
        for (let pages = 0; pages < 10; pages++) {
          const page: { readonly runs: ReadonlyArray<Run.RunRecord>; readonly next: string | null } =
            yield* store.historyPage({ jobId: id, limit: 3, before })
          seen.push(...page.runs.map((r) => r.id))
          if (page.next === null) break
          before = page.next
          // A run added after the first page is newer: it is not in the pages that follow.
          if (pages === 0) yield* store.triggerNow(id)
        }
        assert.deepStrictEqual(seen, everything.map((r) => r.id))
        // The cursor works for `history` too.
        const firstTwo = yield* store.historyPage({ jobId: id, limit: 2 })
        const rest = yield* store.history({ jobId: id, before: firstTwo.next ?? undefined })
        assert.deepStrictEqual(rest.map((r) => r.id), (yield* store.history({ jobId: id })).slice(2).map((r) => r.id))
        // Fire-time range: from inclusive, to exclusive.
        const times = [...new Set(runs.map((r) => r.fireTime))].sort((a, b) => a - b)
        const from = times[1]!
        const to = times[times.length - 1]!
        const inRange = yield* store.history({ jobId: id, from, to })
        assert.isTrue(inRange.length > 0)
        assert.isTrue(inRange.every((r) => r.fireTime >= from && r.fireTime < to))
        assert.strictEqual(
          inRange.length,
          (yield* store.history({ jobId: id })).filter((r) => r.fireTime >= from && r.fireTime < to).length
        )
        yield* store.cancel(runs[2]!.id)
        const cancelled = yield* store.historyPage({ jobId: id, states: ["cancelled"] })
        assert.deepStrictEqual([cancelled.runs.map((r) => r.id), cancelled.next], [[runs[2]!.id], null])
        const empty = yield* store.historyPage({ jobId: id, limit: 0 })
        assert.deepStrictEqual(empty.runs, [])
      })
    )

    test(
      "a before that is not a cursor fails with a non-retryable StoreError (InvalidCursor), for history and historyPage",
      Effect.gen(function*() {
        const store = yield* JobStore
        for (const before of ["nope", "12:0", "1.5:3", "", "12:abc", "99999999999999999999:1"]) {
          const page = failureOf(yield* Effect.exit(store.historyPage({ before })))
          assert.instanceOf(page, StoreError, before)
          assert.strictEqual(page.reason, "InvalidCursor")
          assert.isFalse(page.retryable)
          const list = failureOf(yield* Effect.exit(store.history({ before })))
          assert.instanceOf(list, StoreError, before)
          assert.strictEqual(list.reason, "InvalidCursor")
        }
      })
    )

    test(
      "getRun and stateCounts",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const [id, other] = [unique("job"), unique("other")]
        const now = yield* store.now
        yield* store.add(oneOff(task, id, now - 5))
        yield* store.add(oneOff(task, other, now + 3_600_000))
        const { runs } = yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })
        yield* store.finish(runs.map((run) => outcome(run)))
        const manual = yield* store.triggerNow(id, { x: 1 })
        const found = yield* store.getRun(manual.id)
        assert.deepStrictEqual(Option.getOrThrow(found), manual)
        assert.deepStrictEqual(manual.payload, { x: 1 })
        // Lists leave payloads out (one may be megabytes): one run's record has it.
        const listed = (yield* store.history({ jobId: id })).find((r) => r.id === manual.id)
        assert.isFalse(listed === undefined || "payload" in listed)
        assert.deepStrictEqual(Option.getOrThrow(yield* store.getRun(runs[0]!.id)).payload, null)
        assert.deepStrictEqual((Option.getOrThrow(yield* store.getRun(runs[0]!.id))).state, "succeeded")
        assert.isTrue(Option.isNone(yield* store.getRun("999999999999")))
        assert.deepStrictEqual(yield* store.stateCounts(id, now - 60_000), { succeeded: 1, pending: 1 })
        assert.deepStrictEqual(yield* store.stateCounts(id, manual.fireTime + 1), {})
        assert.deepStrictEqual(yield* store.stateCounts(other, 0), {})
        const all = yield* store.stateCounts(undefined, now - 60_000)
        assert.isAtLeast(all["succeeded"] ?? 0, 1)
        assert.isAtLeast(all["pending"] ?? 0, 1)
      })
    )

    test(
      "cancel: a pending run is cancelled at once; a running one is asked to (renew reports it) and recorded cancelled by its node; ended and unknown runs are refused",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.add(oneOff(task, id, now + 3_600_000, { overlap: { max: 1, onLimit: "wait" } }))
        const pending = yield* store.triggerNow(id)
        const cancelled = yield* store.cancel(pending.id)
        assert.deepStrictEqual([cancelled.id, cancelled.state, cancelled.note], [pending.id, "cancelled", "cancelled by operator"])
        assert.isNotNull(cancelled.endedAt)
        assert.deepStrictEqual((yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })).runs, [])

        yield* store.triggerNow(id)
        const [run] = (yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })).runs
        const lease = { id: run!.id, token: run!.token }
        assert.deepStrictEqual(yield* store.renew("n", [lease], 30_000), { lost: [], cancel: [] })
        const asked = yield* store.cancel(run!.id)
        assert.strictEqual(asked.state, "running")
        // Asking again is harmless.
        assert.strictEqual((yield* store.cancel(run!.id)).state, "running")
        assert.deepStrictEqual(yield* store.renew("n", [lease], 30_000), { lost: [], cancel: [run!.id] })
        const ended = {
          ...outcome(run!),
          state: "cancelled" as const,
          note: "cancelled by operator"
        }
        assert.deepStrictEqual(yield* store.finish([ended]), [true])
        const record = Option.getOrThrow(yield* store.getRun(run!.id))
        assert.deepStrictEqual([record.state, record.note, record.error], ["cancelled", "cancelled by operator", null])
        // Recorded once: the same outcome again changes nothing.
        assert.deepStrictEqual(yield* store.finish([ended]), [true])

        // Cancelled already: asking again (a retry whose first answer was lost) succeeds with the record.
        const again = yield* store.cancel(run!.id)
        assert.deepStrictEqual([again.id, again.state], [run!.id, "cancelled"])
        // A run that ended otherwise cannot be cancelled.
        yield* store.triggerNow(id)
        const [done] = (yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })).runs
        assert.deepStrictEqual(yield* store.finish([outcome(done!)]), [true])
        const refused = failureOf(yield* Effect.exit(store.cancel(done!.id)))
        assert.deepStrictEqual([refused?._tag, refused?._tag === "RunNotCancellable" ? refused.state : undefined], [
          "RunNotCancellable",
          "succeeded"
        ])
        for (const unknown of ["999999999999", "nope", "0"]) {
          const missing = failureOf(yield* Effect.exit(store.cancel(unknown)))
          assert.strictEqual(missing?._tag, "RunNotFound", unknown)
        }
      })
    )

    test(
      "cancel of a run whose node died: the reaper records it cancelled, not lost or retried; one handed back unstarted is cancelled too",
      Effect.gen(function*() {
        const store = yield* JobStore
        const task = unique("task")
        const [dead, handed] = [unique("dead"), unique("handed")]
        const now = yield* store.now
        yield* store.add(oneOff(task, dead, now - 2, { onLost: "retry" }))
        yield* store.add(oneOff(task, handed, now - 1))
        const { runs } = yield* store.claim({ node: "gone", tasks: [task], limit: 10, leaseMs: 50 })
        assert.strictEqual(runs.length, 2)
        const [deadRun, handedRun] = [runs.find((r) => r.jobId === dead)!, runs.find((r) => r.jobId === handed)!]
        yield* store.cancel(deadRun.id)
        yield* store.cancel(handedRun.id)
        assert.deepStrictEqual(yield* store.release("gone", [{ id: handedRun.id, token: handedRun.token }]), [handedRun.id])
        const handedRecord = Option.getOrThrow(yield* store.getRun(handedRun.id))
        assert.deepStrictEqual([handedRecord.state, handedRecord.note], ["cancelled", "cancelled by operator"])
        yield* elapse(120)
        const reaped = (yield* store.reap).filter((r) => r.jobId === dead)
        assert.deepStrictEqual(reaped.map((r) => [r.id, r.state, r.attempt]), [[deadRun.id, "cancelled", 1]])
        assert.match(reaped[0]!.note ?? "", /^cancelled by operator; lease of node gone expired$/)
        // Not retried: nothing to claim.
        assert.deepStrictEqual((yield* store.claim({ node: "alive", tasks: [task], limit: 10, leaseMs: 30_000 })).runs, [])
      })
    )

    test(
      "cancelRequests hears a cancel of a running run (where the store offers it)",
      Effect.scoped(Effect.gen(function*() {
        const store = yield* JobStore
        const requests = store.cancelRequests
        if (requests === undefined) return
        const task = unique("task")
        const id = unique("job")
        const now = yield* store.now
        yield* store.add(oneOff(task, id, now - 1))
        const [run] = (yield* store.claim({ node: "n", tasks: [task], limit: 10, leaseMs: 30_000 })).runs
        // A store that hears requests through its change feed does while that is subscribed.
        yield* Effect.forkScoped(Stream.runDrain(store.changes))
        const heard = yield* Deferred.make<void>()
        const listening = yield* Effect.forkScoped(
          Stream.runForEach(requests, (heardId) => heardId === run!.id ? Deferred.succeed(heard, undefined) : Effect.void)
        )
        // Asked until heard (asking again is harmless): the feed may start after the first.
        for (let i = 0; i < 100 && !(yield* Deferred.isDone(heard)); i++) {
          yield* store.cancel(run!.id)
          yield* elapse(100)
        }
        assert.isTrue(yield* Deferred.isDone(heard), "the cancel request was heard")
        yield* Fiber.interrupt(listening)
      }))
    )

    test(
      "nodes: heartbeat upserts a node's row (heartbeatAt by the store's clock), nodes lists the live ones by id, leave removes one",
      Effect.gen(function*() {
        const store = yield* JobStore
        const [a, b] = [unique("node-a"), unique("node-b")]
        const before = yield* store.now
        yield* store.heartbeat(nodeInfo(a))
        yield* store.heartbeat(nodeInfo(b, { host: "host-b", store: "degraded", tasks: [] }))
        yield* store.heartbeat(nodeInfo(a, { running: 5 }))
        const after = yield* store.now
        const listed = (yield* store.nodes(60_000)).filter((n) => n.id === a || n.id === b)
        assert.deepStrictEqual(listed.map((n) => n.id), [a, b])
        const { heartbeatAt, ...first } = listed[0]!
        assert.deepStrictEqual(first, nodeInfo(a, { running: 5 }))
        assert.isTrue(heartbeatAt >= before && heartbeatAt <= after, "heartbeatAt is the store's now")
        assert.deepStrictEqual([listed[1]!.host, listed[1]!.store, listed[1]!.tasks], ["host-b", "degraded", []])
        yield* store.leave(b)
        yield* store.leave(unique("never-there"))
        assert.deepStrictEqual((yield* store.nodes(60_000)).filter((n) => n.id === a || n.id === b).map((n) => n.id), [a])
        // Stale: its last beat is older than the bound.
        yield* elapse(300)
        assert.deepStrictEqual((yield* store.nodes(100)).filter((n) => n.id === a), [])
        yield* store.heartbeat(nodeInfo(a))
        assert.deepStrictEqual((yield* store.nodes(100)).filter((n) => n.id === a).map((n) => n.id), [a])
        yield* store.leave(a)
      })
    )

    test(
      "nodes: a beat of a process that left, landing after it left, is ignored (no ghost); the next process of the id beats as usual, and the old one's leave never removes it",
      Effect.gen(function*() {
        const store = yield* JobStore
        const id = unique("node-ghost")
        const listed = Effect.map(store.nodes(60_000), (all) => all.filter((n) => n.id === id).map((n) => [n.pid, n.startedAt]))
        const first = nodeInfo(id)
        yield* store.heartbeat(first)
        yield* store.leave(id, first)
        assert.deepStrictEqual(yield* listed, [])
        // Its last beat, stuck on its way past shutdown, lands now.
        yield* store.heartbeat(first)
        assert.deepStrictEqual(yield* listed, [])
        // The next process of the same id (another pid and start).
        const second = nodeInfo(id, { pid: 4343, startedAt: first.startedAt + 60_000 })
        yield* store.heartbeat(second)
        assert.deepStrictEqual(yield* listed, [[4343, second.startedAt]])
        // The first process's leave once more (a retry whose answer was lost): the second's row stays.
        yield* store.leave(id, first)
        yield* store.heartbeat(second)
        assert.deepStrictEqual(yield* listed, [[4343, second.startedAt]])
        // Left before any beat of it landed: its first beat, landing late, is ignored too.
        yield* store.leave(id, second)
        const third = nodeInfo(id, { pid: 4444, startedAt: second.startedAt + 60_000 })
        yield* store.leave(id, third)
        yield* store.heartbeat(third)
        assert.deepStrictEqual(yield* listed, [])
      })
    )
  })
}
