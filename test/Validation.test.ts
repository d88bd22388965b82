/**
 * Issue 11, "bad input stays out", shown by a property: generated bad input
 * to every public entry point (`Job.make`, triggers, `add`, `update`,
 * `trigger`, `history`, `get`/`pause`/`resume`/`remove`, layer options and
 * declared jobs) is a typed error (never a throw, a defect or a
 * `StoreError`), the store is unchanged, and a valid job keeps firing on
 * every one of its fire times throughout. Run against the in-memory store
 * and against PostgreSQL, where it shows that nothing bad reaches the
 * database: any that did would come back as a `StoreError` (22P05, 22021,
 * 22P02, 2201W, 22003) or show in `health.store.lastError`.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Arbitrary, Cause, Clock, Effect, Exit, Layer, Option, Schema, Scope } from "effect"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as MemoryJobStore from "../src/MemoryJobStore.ts"
import type * as Run from "../src/Run.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import * as Bad from "./support/BadInput.ts"
import * as Pg from "./support/Pg.ts"

// What a JavaScript caller, or JSON from outside, may pass: the types promise nothing about it.
function fromJavaScript<A>(value: unknown): A
function fromJavaScript(value: unknown) {
  return value
}
const callJavaScript = <A>(f: (...args: Array<never>) => A, ...args: ReadonlyArray<unknown>): A =>
  fromJavaScript<(...args: ReadonlyArray<unknown>) => A>(f)(...args)

const device = Task.make("device", Schema.Struct({ deviceId: Schema.String }), () => Effect.void)
const good = (id: string, options: Partial<Job.Options<{ readonly deviceId: string }>> = {}) =>
  Job.make(device, { id, payload: { deviceId: "d" }, trigger: Trigger.every("1 hour"), ...options })
// An existing, paused job that bad updates and triggers aim at.
const target = good("target", { paused: true })
const beatEvery = 200

type Env = Scheduler.Scheduler | JobStore | Scope.Scope

/** One bad input: what it calls, and what it must come back as. */
interface Case {
  readonly entry: string
  readonly run: Effect.Effect<unknown, unknown, Env>
  /** The error tags it may fail with, and what the error must say; or what it must succeed with. */
  readonly expect:
    | { readonly fails: ReadonlyArray<string>; readonly check?: (error: unknown) => boolean }
    | { readonly succeeds: (value: unknown) => boolean }
}

const fails = (tags: ReadonlyArray<string>, check?: (error: unknown) => boolean) =>
  check === undefined ? { fails: tags } : { fails: tags, check }
const field = (name: string, value: unknown) => (error: unknown) =>
  typeof error === "object" && error !== null && Reflect.get(error, name) === value
const withScheduler = <A, E>(f: (scheduler: Scheduler.Scheduler["Service"]) => Effect.Effect<A, E>) =>
  Scheduler.Scheduler.use(f)
// Builds a second scheduler on the same store, as another process would.
const buildLayer = (options: object) =>
  Layer.build(Scheduler.layer(fromJavaScript<Scheduler.Options<never>>({ tasks: [device], shutdownGrace: 0, ...options })))

const idCases = (id: string): ReadonlyArray<Case> => [
  { entry: "add(id)", run: withScheduler((s) => s.add({ ...good("x"), id })), expect: fails(["InvalidJob"]) },
  { entry: "update(id)", run: withScheduler((s) => s.update({ ...target, id })), expect: fails(["InvalidJob"]) },
  { entry: "get", run: withScheduler((s) => s.get(id)), expect: { succeeds: (o) => Option.isOption(o) && Option.isNone(o) } },
  { entry: "pause", run: withScheduler((s) => s.pause(id)), expect: fails(["JobNotFound"]) },
  { entry: "resume", run: withScheduler((s) => s.resume(id)), expect: fails(["JobNotFound"]) },
  { entry: "remove", run: withScheduler((s) => s.remove(id)), expect: { succeeds: (existed) => existed === false } },
  { entry: "trigger(id)", run: withScheduler((s) => s.trigger(id)), expect: fails(["JobNotFound"]) },
  { entry: "trigger(id, p)", run: withScheduler((s) => s.trigger(id, { deviceId: "d" })), expect: fails(["JobNotFound"]) },
  { entry: "history(jobId)", run: withScheduler((s) => s.history({ jobId: id })), expect: fails(["InvalidQuery"]) }
]

const taskNameCases = (name: string): ReadonlyArray<Case> => [
  { entry: "add(task)", run: withScheduler((s) => s.add({ ...good("x"), task: name })), expect: fails(["InvalidJob"]) },
  {
    entry: "layer(tasks)",
    run: buildLayer({ tasks: [Task.make(name, Schema.Null, () => Effect.void)] }),
    expect: fails(["InvalidOptions"], field("option", "tasks"))
  }
]

const payloadCases = ({ fault, value }: { readonly fault: string; readonly value: () => unknown }): ReadonlyArray<Case> => {
  const reason = field("reason", fault)
  return [
    {
      entry: "add(payload)",
      run: withScheduler((s) => s.add(fromJavaScript({ ...good("p"), payload: value() }))),
      expect: fails(["InvalidPayload"], reason)
    },
    {
      entry: "update(payload)",
      run: withScheduler((s) => s.update(fromJavaScript({ ...target, payload: value() }))),
      expect: fails(["InvalidPayload"], reason)
    },
    {
      entry: "trigger(target, payload)",
      run: withScheduler((s) => s.trigger("target", fromJavaScript(value()))),
      expect: fails(["InvalidPayload"], reason)
    },
    {
      entry: "add(Job.make(payload))",
      run: withScheduler((s) => s.add(Job.make(device, { id: "p", payload: fromJavaScript(value()), trigger: Trigger.every(1_000) }))),
      expect: fails(["InvalidPayload"], reason)
    },
    {
      entry: "layer(jobs: payload)",
      run: buildLayer({ jobs: [good("declared-good"), Job.make(device, { id: "declared-bad", payload: fromJavaScript(value()), trigger: Trigger.every(1_000) })] }),
      expect: fails(["InvalidPayload"], reason)
    }
  ]
}

const durationCases = (input: unknown): ReadonlyArray<Case> => [
  ...(["timeout", "misfire", "retryBase", "retryCap"] as const).map((where): Case => ({
    entry: `add(Job.make(${where}))`,
    run: withScheduler((s) =>
      s.add(good("d", fromJavaScript(
        where === "timeout" ? { timeout: input }
          : where === "misfire" ? { misfire: { grace: input } }
          : where === "retryBase" ? { retry: { base: input } }
          : { retry: { cap: input } }
      )))
    ),
    expect: fails(["InvalidJob"])
  })),
  ...(["pollInterval", "leaseDuration", "heartbeatInterval", "reapInterval", "janitorInterval", "shutdownGrace",
    "readyTimeout", "fallbackPollInterval", "stallAfter", "storeCallTimeout"] as const).map((option): Case => ({
      entry: `layer(${option})`,
      run: buildLayer({ [option]: input }),
      expect: fails(["InvalidOptions"], field("option", option))
    }))
]

const triggerCases = (make: () => Trigger.Trigger, label: string): ReadonlyArray<Case> => [
  {
    entry: `Trigger.validate(${label})`,
    run: Effect.suspend(() => {
      // The pure functions neither throw nor fire.
      const trigger = make()
      assert.isTrue(Option.isNone(Trigger.next(trigger, 0)), "next")
      assert.deepStrictEqual(Trigger.preview(trigger, 0, 3), [], "preview")
      return Trigger.validate(trigger)
    }),
    expect: fails(["InvalidTrigger"])
  },
  {
    entry: `add(${label})`,
    run: withScheduler((s) => Effect.suspend(() => s.add(good("t", { trigger: make() })))),
    // A trigger of the wrong shape (a cron expression that is a number) fails the job's schema first.
    expect: fails(["InvalidTrigger", "InvalidJob"])
  }
]

const badTriggers = Bad.oneOf<[() => Trigger.Trigger, string]>(
  Arbitrary.map(Bad.badInstant, (at) => [() => callJavaScript(Trigger.once, at), "once"]),
  Arbitrary.map(Bad.badDuration, (every) => [() => callJavaScript(Trigger.every, every), "every"]),
  Arbitrary.map(Bad.badInstant, (anchor) => [() => callJavaScript(Trigger.every, "1 minute", { anchor }), "every(anchor)"]),
  Arbitrary.map(Bad.badInstant, (start) => [() => callJavaScript(Trigger.every, "1 minute", { start }), "every(start)"]),
  Arbitrary.map(Bad.badDuration, (jitter) => [() => callJavaScript(Trigger.cron, "@hourly", { jitter }), "cron(jitter)"]),
  Arbitrary.map(Bad.badZone, (timeZone) => [() => Trigger.cron("0 3 * * *", { timeZone }), "cron(zone)"]),
  Arbitrary.map(
    Bad.pick<unknown>(["* * *", "61 * * * *", "0 3 * * * * *", "@sometimes", "", 5, null, "0 3 \u0000 * *"]),
    (expression) => [() => callJavaScript(Trigger.cron, expression), "cron(expression)"]
  )
)

const historyCases = Bad.oneOf<Case>(
  Arbitrary.map(Bad.badLimit, (limit) => ({
    entry: "history(limit)",
    run: withScheduler((s) => s.history(fromJavaScript({ limit }))),
    expect: fails(["InvalidQuery"], field("field", "limit"))
  })),
  Arbitrary.map(Bad.poisonedString, (state) => ({
    entry: "history(states)",
    run: withScheduler((s) => s.history(fromJavaScript({ states: ["succeeded", state] }))),
    expect: fails(["InvalidQuery"], field("field", "states"))
  }))
)

const optionCases = Bad.oneOf<Case>(
  Arbitrary.flatMap(Bad.pick(["batchSize", "maxInFlight", "maxPayloadBytes"]), (option) =>
    Arbitrary.map(Bad.badCount, (value) => ({
      entry: `layer(${option})`,
      run: buildLayer({ [option]: value }),
      expect: fails(["InvalidOptions"], field("option", option))
    }))),
  // A heartbeat not shorter than the lease it renews: every lease would expire.
  Arbitrary.flatMap(Bad.int(1, 60), (lease) =>
    Arbitrary.map(Bad.int(lease, 3 * lease), (heartbeat) => ({
      entry: "layer(heartbeat >= lease)",
      run: buildLayer({ leaseDuration: `${lease} seconds`, heartbeatInterval: heartbeat * 1_000 }),
      expect: fails(["InvalidOptions"], field("option", "heartbeatInterval"))
    }))),
  // An early-claim window longer than the lease: a run claimed that early would be taken over before it is due.
  Arbitrary.flatMap(Bad.int(1, 60), (lease) =>
    Arbitrary.map(Bad.int(lease + 1, 3 * lease), (ahead) => ({
      entry: "layer(claimAhead > lease)",
      run: buildLayer({ leaseDuration: `${lease} seconds`, claimAhead: `${ahead} seconds` }),
      expect: fails(["InvalidOptions"], field("option", "claimAhead"))
    }))),
  Arbitrary.map(Bad.pick(["soon", "-5 seconds", "NaN millis"]), (claimAhead) => ({
    entry: "layer(claimAhead)",
    run: buildLayer({ claimAhead }),
    expect: fails(["InvalidOptions"], field("option", "claimAhead"))
  })),
  Arbitrary.map(Bad.badTaskName, (node) => ({
    entry: "layer(node)",
    run: buildLayer({ node }),
    expect: fails(["InvalidOptions"], field("option", "node"))
  })),
  Arbitrary.map(Bad.badNonNegative, (maxAgeMs) => ({
    entry: "layer(retention)",
    run: buildLayer({ retention: { maxAgeMs } }),
    expect: fails(["InvalidOptions"], field("option", "retention.maxAgeMs"))
  })),
  Arbitrary.map(Bad.badId, (id) => ({
    entry: "layer(jobs: id)",
    run: buildLayer({ jobs: [good("declared-good"), good(id)] }),
    expect: fails(["InvalidJob"])
  }))
)

// One bad value, given to every entry point that takes its kind.
const badCases: Arbitrary.Arbitrary<ReadonlyArray<Case>> = Bad.oneOf<ReadonlyArray<Case>>(
  Arbitrary.map(Bad.badId, idCases),
  Arbitrary.map(Bad.badTaskName, taskNameCases),
  Arbitrary.map(Bad.badPayload, payloadCases),
  Arbitrary.map(Bad.badDuration, durationCases),
  Arbitrary.map(badTriggers, ([make, label]) => triggerCases(make, label)),
  Arbitrary.map(historyCases, (c) => [c]),
  Arbitrary.map(optionCases, (c) => [c])
)

/** Why the outcome is wrong, or `undefined`. */
const verdict = (c: Case, exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) {
    return "succeeds" in c.expect && c.expect.succeeds(exit.value) ? undefined : "succeeded: bad input was accepted"
  }
  if (Cause.hasDies(exit.cause)) return `threw or died: ${Cause.pretty(exit.cause)}`
  if (!("fails" in c.expect)) return `failed: ${Cause.pretty(exit.cause)}`
  const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
  const tag = typeof error === "object" && error !== null ? Reflect.get(error, "_tag") : undefined
  if (!c.expect.fails.includes(String(tag))) return `failed with ${String(tag)}: ${Cause.pretty(exit.cause)}`
  if (c.expect.check !== undefined && !c.expect.check(error)) return `failed with the wrong details: ${Cause.pretty(exit.cause)}`
  return undefined
}

// What bad input must not change: every job's definition and state, and
// every run record except the heartbeat's scheduled fires.
const snapshot = Effect.gen(function*() {
  const store = yield* JobStore
  const jobs = (yield* store.list).map(({ nextFire: _, ...job }) => job)
  const runs = (yield* store.history({ limit: 100_000 })).filter((run) => run.jobId !== "heartbeat" || run.manual)
  return { jobs, runs }
})

// Each case, with the store compared before and after; what a failing case
// added is removed again, so that shrinking starts from the same store.
const checkAll = (cases: ReadonlyArray<Case>) =>
  Effect.gen(function*() {
    for (const c of cases) {
      const before = yield* snapshot
      const exit = yield* Effect.exit(Effect.scoped(Effect.suspend(() => c.run)))
      const after = yield* snapshot
      yield* Effect.forEach(after.jobs.filter((job) => !before.jobs.some((b) => b.id === job.id)), (job) =>
        JobStore.use((store) => store.remove(job.id)))
      assert.isUndefined(verdict(c, exit), c.entry)
      assert.deepStrictEqual(after, before, `${c.entry} changed the store`)
    }
  })

const has = (fields: Record<string, unknown>) => (error: unknown) =>
  Object.entries(fields).every(([name, value]) => field(name, value)(error))
const mentions = (...words: ReadonlyArray<string>) => (error: unknown) =>
  error instanceof Error && words.every((word) => error.message.includes(word))
const triggerReason = (tag: string) => (error: unknown) =>
  error instanceof Trigger.InvalidTrigger && error.reason._tag === tag
const mib17 = "x".repeat(17 * 1_048_576)
const deepPayload = () => {
  let value: unknown = "bottom"
  for (let i = 0; i < 100_000; i++) value = [value]
  return { deviceId: "d", deep: value }
}
const circular = () => {
  const value: { deviceId: string; self?: unknown } = { deviceId: "d" }
  value.self = value
  return value
}

// What issue 11 reproduced (items 3 and 7), each as it was reported.
const reproductions: ReadonlyArray<Case> = [
  {
    entry: "a declared job with \\u0000 in its payload",
    run: buildLayer({ jobs: [good("declared-good"), good("declared-nul", { payload: { deviceId: "a\u0000b" } })] }),
    expect: fails(["InvalidPayload"], has({ jobId: "declared-nul", path: "$.deviceId", reason: "nul-character" }))
  },
  {
    entry: "add with \\u0000 in a payload key",
    run: withScheduler((s) => s.add(fromJavaScript({ ...good("nul-key"), payload: { deviceId: "d", ["k\u0000"]: 1 } }))),
    expect: fails(["InvalidPayload"], has({ jobId: "nul-key", reason: "nul-character" }))
  },
  {
    entry: "add with a lone surrogate in the payload",
    run: withScheduler((s) => s.add(good("surrogate", { payload: { deviceId: "a\ud800" } }))),
    expect: fails(["InvalidPayload"], has({ path: "$.deviceId", reason: "lone-surrogate" }))
  },
  {
    entry: "add with a 17 MiB payload",
    run: withScheduler((s) => s.add(good("big", { payload: { deviceId: mib17 } }))),
    expect: fails(["InvalidPayload"], has({ reason: "too-large" }))
  },
  {
    entry: "trigger with a 17 MiB payload",
    run: withScheduler((s) => s.trigger("target", { deviceId: mib17 })),
    expect: fails(["InvalidPayload"], has({ jobId: "target", reason: "too-large" }))
  },
  {
    entry: "timeout: \"5 minutez\"",
    run: withScheduler((s) => s.add(good("minutez", fromJavaScript({ timeout: "5 minutez" })))),
    expect: fails(["InvalidJob"], mentions("timeout", "5 minutez"))
  },
  {
    entry: "pollInterval: \"ten seconds\"",
    run: buildLayer({ pollInterval: "ten seconds" }),
    expect: fails(["InvalidOptions"], has({ option: "pollInterval" }))
  },
  {
    entry: "heartbeatInterval >= leaseDuration",
    run: buildLayer({ heartbeatInterval: "30 seconds", leaseDuration: "30 seconds" }),
    expect: fails(["InvalidOptions"], has({ option: "heartbeatInterval" }))
  },
  {
    entry: "Trigger.once(\"2026-01-01\")",
    run: withScheduler((s) => s.add(good("once-string", { trigger: callJavaScript(Trigger.once, "2026-01-01") }))),
    expect: fails(["InvalidTrigger"], (e) => triggerReason("InvalidInstant")(e) && has({ jobId: "once-string" })(e))
  },
  {
    entry: "a BigInt in a trigger",
    run: Trigger.validate(callJavaScript(Trigger.once, 10n)),
    expect: fails(["InvalidTrigger"], triggerReason("InvalidInstant"))
  },
  {
    entry: "a BigInt in a trigger value",
    run: Trigger.validate(fromJavaScript({ _tag: "Interval", every: 10n, anchor: 0, jitter: 0 })),
    expect: fails(["InvalidTrigger"], triggerReason("MalformedTrigger"))
  },
  {
    entry: "zone +25:00",
    run: withScheduler((s) => s.add(good("zone-25", { trigger: Trigger.cron("0 3 * * *", { timeZone: "+25:00" }) }))),
    expect: fails(["InvalidTrigger"], triggerReason("UnknownTimeZone"))
  },
  {
    entry: "zone +99:99",
    run: Trigger.validate(Trigger.cron("0 3 * * *", { timeZone: "+99:99" })),
    expect: fails(["InvalidTrigger"], triggerReason("UnknownTimeZone"))
  },
  {
    entry: "every(NaN)",
    run: Trigger.validate(Trigger.every(Number.NaN)),
    expect: fails(["InvalidTrigger"], triggerReason("InvalidInterval"))
  },
  {
    entry: "Job.make with a BigInt payload",
    run: withScheduler((s) => s.add(Job.make(device, { id: "bigint", payload: fromJavaScript({ deviceId: 1n }), trigger: Trigger.every(1_000) }))),
    expect: fails(["InvalidPayload"], has({ path: "$.deviceId", reason: "not-json" }))
  },
  {
    entry: "Job.make with a circular payload",
    run: withScheduler((s) => s.add(Job.make(device, { id: "circular", payload: fromJavaScript(circular()), trigger: Trigger.every(1_000) }))),
    expect: fails(["InvalidPayload"], has({ path: "$.self", reason: "not-json" }))
  },
  {
    entry: "Job.make with a 100,000-deep payload",
    run: withScheduler((s) => s.add(Job.make(device, { id: "deep", payload: fromJavaScript(deepPayload()), trigger: Trigger.every(1_000) }))),
    expect: fails(["InvalidPayload"], has({ reason: "too-deep" }))
  },
  {
    entry: "history with a negative limit",
    run: withScheduler((s) => s.history({ limit: -1 })),
    expect: fails(["InvalidQuery"], has({ field: "limit" }))
  },
  {
    entry: "pause with a NUL in the id",
    run: withScheduler((s) => s.pause("a\u0000b")),
    expect: fails(["JobNotFound"])
  },
  {
    entry: "history of an id with a NUL",
    run: withScheduler((s) => s.history({ jobId: "a\u0000b" })),
    expect: fails(["InvalidQuery"], has({ field: "jobId" }))
  }
]

const suite = (name: string, store: Layer.Layer<JobStore, unknown>) => {
  const beats: Array<number> = []
  const heartbeat = Task.make("heartbeat", Schema.Null, () =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => beats.push(now))))
  const window = { start: Infinity, end: 0 }
  const scheduler = Scheduler.layer({
    tasks: [device, heartbeat],
    jobs: [
      Job.make(heartbeat, {
        id: "heartbeat",
        payload: null,
        trigger: Trigger.every(beatEvery),
        // Never skipped while a previous fire is still being recorded.
        overlap: { max: 100, onLimit: "wait" }
      }),
      target
    ],
    shutdownGrace: 0
  }).pipe(Layer.provideMerge(Layer.orDie(store)))

  layer(scheduler, { excludeTestServices: true, timeout: "60 seconds" })(name, (it) => {
    it.effect("starts with its valid jobs registered, and the heartbeat firing", () =>
      Effect.gen(function*() {
        const s = yield* Scheduler.Scheduler
        yield* s.awaitReady("20 seconds")
        assert.deepStrictEqual((yield* s.list).map((job) => job.id).sort(), ["heartbeat", "target"])
        const deadline = Date.now() + 10_000
        while (beats.length === 0 && Date.now() < deadline) yield* Effect.sleep("20 millis")
        assert.isAbove(beats.length, 0, "the heartbeat fired")
      }))

    it.effect("what issue 11 reproduced is a typed error naming the input, and the store is unchanged", () =>
      Effect.gen(function*() {
        window.start = Math.min(window.start, Date.now())
        yield* checkAll(reproductions)
      }))

    it.effect.prop(
      "every bad input is a typed error, and the store is unchanged",
      { cases: badCases },
      ({ cases }) =>
        Effect.gen(function*() {
          window.start = Math.min(window.start, Date.now())
          yield* checkAll(cases)
          window.end = Date.now()
        }),
      { timeout: 60_000, arbitrary: { runs: 100 } }
    )

    it.effect("the valid job fired at every one of its fire times throughout, and the store never failed", () =>
      Effect.gen(function*() {
        const s = yield* Scheduler.Scheduler
        assert.isBelow(window.start, window.end, "the property ran")
        // A fire due after the property, run to success: the scheduler still runs its jobs.
        const firedAfter = (runs: ReadonlyArray<Run.RunRecord>) =>
          runs.some((run) => run.fireTime > window.end && run.state === "succeeded")
        const deadline = Date.now() + 10_000
        let runs = yield* s.history({ jobId: "heartbeat", limit: 100_000 })
        while (!firedAfter(runs) && Date.now() < deadline) {
          yield* Effect.sleep("50 millis")
          runs = yield* s.history({ jobId: "heartbeat", limit: 100_000 })
        }
        assert.isTrue(firedAfter(runs), "a fire after the bad input")
        assert.isTrue(beats.some((t) => t > window.end), "its handler ran")
        const fires = runs.map((run) => run.fireTime).sort((a, b) => a - b)
        assert.isAtMost(fires[0]!, window.start, "fires from before the property")
        assert.isAtLeast(fires[fires.length - 1]!, window.end, "to after it")
        fires.forEach((fire, i) => {
          if (i > 0) assert.strictEqual(fire - fires[i - 1]!, beatEvery, "no fire time missing")
        })
        for (const run of runs) assert.include(["pending", "running", "succeeded"], run.state, `fire ${run.fireTime}`)
        const health = yield* s.health
        assert.isNull(health.store.lastError, "no store operation failed")
        assert.deepStrictEqual(health.loops.filter((loop) => loop.restarts > 0), [], "no loop restarted")
      }))
  })
}

describe("bad input stays out", () => {
  suite("memory store", MemoryJobStore.layer)
  suite("PostgreSQL store", Pg.layerStore({ schema: "validation" }))
})
