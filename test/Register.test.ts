import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { isDeepStrictEqual } from "node:util"
import * as Job from "../src/Job.ts"
import { JobStore } from "../src/JobStore.ts"
import * as JobShape from "../src/internal/jobShape.ts"
import { toValues } from "../src/internal/pg/rows.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"
import * as Pg from "./support/Pg.ts"

const task = Task.make("shape", Schema.Unknown, () => Effect.void)
const isJob = Schema.is(Job.Job)
const encode = Schema.encodeSync(Job.Job)
const definition = (job: Job.Job) => {
  const { id: _id, paused: _paused, ...rest } = encode(job)
  return rest
}

// The stored form: the schema's encoding without the policies that equal `Job.defaults`.
const stored = (job: Job.Job) =>
  Object.fromEntries(
    Object.entries(definition(job)).filter(([key, value]) =>
      !(Object.hasOwn(Job.defaults, key) && isDeepStrictEqual(value, Reflect.get(Job.defaults, key)))
    )
  )

// Jobs as `Job.make` builds them, over every trigger and misfire variant.
const wellFormed: ReadonlyArray<Job.Job> = [
  Job.make(task, { id: "a", payload: null, trigger: Trigger.every("1 hour") }),
  Job.make(task, { id: "b", payload: { n: 1, s: "x", l: [1, { d: null }] }, trigger: Trigger.once(1_000) }),
  Job.make(task, {
    id: "c.d:e/f@g-h",
    payload: "text",
    trigger: Trigger.cron("0 9 * * 1-5", { timeZone: "Europe/Paris", onDstOverlap: "both", jitter: 5, start: 1, end: 2 }),
    overlap: { max: 3, onLimit: "wait" },
    misfire: { grace: "5 seconds", then: { _tag: "CatchUp", max: 3 } },
    retry: { attempts: 4, base: "1 second", factor: 1.5, cap: "1 minute", jitter: false },
    timeout: "30 seconds",
    onLost: "retry",
    paused: true
  }),
  Job.make(task, { id: "d", payload: 12.5, trigger: Trigger.every(5_000, { anchor: 7, start: 3 }), misfire: { then: { _tag: "Skip" } } })
]

describe("jobShape: the schema's answer without walking the schema", () => {
  it("a job as Job.make builds it conforms, and its stored definition is the schema's encoding", () => {
    for (const job of wellFormed) {
      assert.isTrue(JobShape.conforms(job), job.id)
      assert.isTrue(isJob(job), job.id)
      const values = toValues(job)
      assert.isTrue(values._tag === "Success")
      if (values._tag === "Success") {
        assert.deepStrictEqual(JSON.parse(JSON.stringify(values.success.definition)), stored(job))
        // Read back, the policies left out are the defaults again.
        assert.deepStrictEqual(JobShape.withDefaults(values.success.definition), definition(job))
      }
    }
  })

  it("a stored definition leaves out only the policies at their defaults", () => {
    const keys = (job: Job.Job) => {
      const values = toValues(job)
      return values._tag === "Success" ? Object.keys(values.success.definition).sort() : []
    }
    // Every policy at its default: task, payload and trigger only.
    assert.deepStrictEqual(keys(wellFormed[0]!), ["payload", "task", "trigger"])
    // Every policy named: all of them.
    assert.deepStrictEqual(keys(wellFormed[2]!), ["misfire", "onLost", "overlap", "payload", "retry", "task", "timeout", "trigger"])
    // One field of a policy off its default keeps the whole policy.
    assert.deepStrictEqual(keys(wellFormed[3]!), ["misfire", "payload", "task", "trigger"])
    const one = Job.make(task, { id: "e", payload: null, trigger: Trigger.every(1_000), retry: { jitter: false } })
    assert.deepStrictEqual(keys(one), ["payload", "retry", "task", "trigger"])
  })

  it("anything else is left to the schema: extra keys, prototypes, undefined optional keys, non-finite numbers", () => {
    const [base] = wellFormed
    if (base === undefined) return assert.fail("no job")
    const variants: ReadonlyArray<readonly [string, unknown]> = [
      ["extra key", { ...base, extra: 1 }],
      ["extra trigger key", { ...base, trigger: { ...base.trigger, extra: 1 } }],
      ["undefined start", { ...base, trigger: { ...base.trigger, start: undefined } }],
      ["NaN timeout", { ...base, timeout: Number.NaN }],
      ["bad id", { ...base, id: "-x" }],
      ["class instance", Object.assign(Object.create({ inherited: true }), base)],
      ["throwing getter", Object.defineProperty({ ...base }, "task", { enumerable: true, get: () => { throw new Error("no") } })]
    ]
    for (const [name, variant] of variants) assert.isFalse(JobShape.conforms(variant), name)
    // The schema still decides them: an extra key is stripped on encoding, not stored.
    const extra = toValues({ ...base, ...{ extra: 1 } })
    assert.isTrue(extra._tag === "Success" && !("extra" in extra.success.definition))
  })

  it.effect("validation of declared jobs still rejects what the schema rejects, naming the job", () =>
    Effect.gen(function*() {
      const [base] = wellFormed
      if (base === undefined) return assert.fail("no job")
      const bad = { ...base, id: "bad", retry: { ...base.retry, attempts: 0 } }
      const validate = Scheduler.validateJob(new Map([[task.name, task]]))
      const error = yield* Effect.flip(validate(bad))
      assert.strictEqual(error._tag, "InvalidJob")
    }))
})

describe("register over chunks", () => {
  const layer = Pg.layerStore({ schema: "register_chunks" })

  it.effect("more jobs than a chunk: new, unchanged, changed, superseded and repeated ids each reported once, where first declared", () =>
    Effect.gen(function*() {
      const store = yield* JobStore
      const trigger = Trigger.every("1 hour")
      const make = (id: string, payload: unknown = null) => Job.make(task, { id, payload, trigger })
      // 5,000 jobs to a chunk: 12,000 span three.
      const ids = Array.from({ length: 12_000 }, (_, i) => `r-${String(i).padStart(5, "0")}`)
      const first = yield* store.register(ids.slice(0, 11_000).map((id) => make(id)), { version: 1, orphans: "keep" })
      assert.strictEqual(first.inserted.length, 11_000)
      yield* store.register([make("r-newer", 1)], { version: 2, orphans: "keep" })

      // Declared in reverse order, one id twice (the later declaration wins), a
      // few changed, and one stored by a newer version.
      const declared = [...ids].reverse().map((id) => make(id, id.endsWith("7") ? { changed: id } : null))
      declared.splice(5, 0, make("r-00003", "first"))
      declared.push(make("r-newer", 0))
      const report = yield* store.register(declared, { version: 1, orphans: "keep" })

      const changed = ids.filter((id) => id.endsWith("7") && id < "r-11000")
      assert.strictEqual(report.inserted.length, 1_000)
      assert.deepStrictEqual(report.inserted.slice(0, 2), ["r-11999", "r-11998"])
      assert.deepStrictEqual([...report.updated].sort(), changed)
      assert.deepStrictEqual(report.superseded, ["r-newer"])
      assert.strictEqual(report.unchanged.length, 11_000 - changed.length)
      const all = [...report.inserted, ...report.updated, ...report.unchanged, ...report.superseded]
      assert.strictEqual(all.length, new Set(all).size)
      assert.strictEqual(all.length, 12_001)
      // The last declaration of r-00003 won (`null`, as stored: unchanged), and
      // it is reported where it first appeared (before every other unchanged id).
      const stored = yield* store.get("r-00003")
      assert.isTrue(Option.isSome(stored) && stored.value.payload === null)
      assert.strictEqual(report.unchanged[0], "r-00003")
      const newer = yield* store.get("r-newer")
      assert.isTrue(Option.isSome(newer) && newer.value.payload === 1 && newer.value.version === 2)
    }).pipe(Effect.provide(layer)), 60_000)
})
