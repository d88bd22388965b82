import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Duration, Effect, Schema } from "effect"
import * as Job from "../src/Job.ts"
import * as Scheduler from "../src/Scheduler.ts"
import * as Task from "../src/Task.ts"
import * as Trigger from "../src/Trigger.ts"

// What a JavaScript caller may pass: the types promise nothing about it.
function fromJavaScript<A>(value: unknown): A
function fromJavaScript(value: unknown) {
  return value
}

const task = Task.make("any", Schema.Unknown, () => Effect.void)
const validate = (maxPayloadBytes?: number) => Scheduler.validateJob(new Map([[task.name, task]]), { maxPayloadBytes })
const make = (options: Partial<Job.Options<unknown>>) =>
  Job.make(task, { id: "job", payload: null, trigger: Trigger.every("1 minute"), ...options })

describe("Job.make", () => {
  it("copies the payload as JSON would: undefined properties dropped, later changes to the input not seen", () => {
    const input = { a: undefined, b: [1, { c: "é😀" }], d: null }
    const job = make({ payload: input })
    assert.deepStrictEqual(job.payload, { b: [1, { c: "é😀" }], d: null })
    input.b.push(2)
    assert.deepStrictEqual(job.payload, { b: [1, { c: "é😀" }], d: null })
    assert.isNull(make({ payload: undefined }).payload)
    // A "__proto__" key is data, kept as such (not turned into the copy's prototype).
    const proto = make({ payload: JSON.parse(`{"__proto__":{"x":1}}`) })
    assert.strictEqual(JSON.stringify(proto.payload), `{"__proto__":{"x":1}}`)
  })

  it("takes every form of Duration.Input", () => {
    const inputs: ReadonlyArray<Duration.Input> = [5_000, "5 seconds", Duration.seconds(5), { seconds: 5 }, [5, 0], 5_000_000_000n]
    for (const timeout of inputs) {
      assert.strictEqual(make({ timeout }).timeout, 5_000, String(timeout))
    }
    assert.isNull(make({ timeout: fromJavaScript(null) }).timeout, "null means no timeout, as undefined does")
  })

  it.effect("never throws: what it cannot represent is rejected by validation, naming the input", () =>
    Effect.gen(function*() {
      const deep = () => {
        let value: unknown = 0
        for (let i = 0; i < 100_000; i++) value = { next: value }
        return value
      }
      const cycle = () => {
        const value: { self?: unknown } = {}
        value.self = [value]
        return value
      }
      const cases: ReadonlyArray<readonly [Partial<Job.Options<unknown>>, string, ReadonlyArray<string>]> = [
        [{ timeout: fromJavaScript("5 minutez") }, "InvalidJob", ["timeout", "5 minutez"]],
        [{ misfire: { grace: fromJavaScript("ten seconds") } }, "InvalidJob", ["misfire.grace", "ten seconds"]],
        [{ retry: { base: Number.NaN } }, "InvalidJob", ["retry.base", "NaN"]],
        [{ retry: { cap: -1 } }, "InvalidJob", ["retry.cap", "-1"]],
        [{ timeout: fromJavaScript({ secs: 5 }) }, "InvalidJob", ["timeout"]],
        [{ timeout: "Infinity" }, "InvalidJob", ["timeout", "finite"]],
        [{ payload: { n: 10n } }, "InvalidPayload", ["$.n", "BigInt"]],
        [{ payload: { f: () => 1 } }, "InvalidPayload", ["$.f", "function"]],
        [{ payload: cycle() }, "InvalidPayload", ["$.self[0]", "cycle"]],
        [{ payload: deep() }, "InvalidPayload", ["nests deeper than 100"]],
        [{ payload: [1, Number.NaN] }, "InvalidPayload", ["$[1]", "NaN"]],
        [{ payload: { at: new Date(0) } }, "InvalidPayload", ["$.at", "Date"]]
      ]
      for (const [options, tag, words] of cases) {
        const job = make(options)
        const error = yield* Effect.flip(validate()(job))
        assert.strictEqual(error._tag, tag, words.join(" "))
        for (const word of words) assert.include(error.message, word)
        // A copy loses nothing: what could not be represented is NaN, which validation refuses too.
        const copy = yield* Effect.flip(validate()({ ...job }))
        assert.strictEqual(copy._tag, tag, `copy: ${words.join(" ")}`)
      }
    }))
})

describe("Job schemas", () => {
  it("a task name holds no whitespace, control characters or lone surrogates; a job id only its safe alphabet", () => {
    const isTaskName = Schema.is(Job.TaskName)
    for (const name of ["sync", "sync.device/v2", "😀"]) assert.isTrue(isTaskName(name), name)
    for (const name of ["", "a b", "a\u0000b", "a\u0007", "a\ud800", "\udc00a", "x".repeat(201)]) {
      assert.isFalse(isTaskName(name), JSON.stringify(name))
    }
    const isJobId = Schema.is(Job.JobId)
    for (const id of ["", "-a", "a b", "a\u0000", "a\ud800", "x".repeat(201)]) assert.isFalse(isJobId(id), JSON.stringify(id))
  })

  it("an overlap limit fits the store's 32-bit integer", () => {
    const isOverlap = Schema.is(Job.OverlapPolicy)
    assert.isTrue(isOverlap({ max: 2_147_483_647, onLimit: "wait" }))
    assert.isFalse(isOverlap({ max: 2_147_483_648, onLimit: "wait" }))
  })
})

describe("payload size", () => {
  // The limit is on the UTF-8 bytes of the payload's JSON text, counted without building it.
  it.effect.prop(
    "a payload of exactly maxPayloadBytes is accepted, one byte less is too-large",
    { payload: Arbitrary.schema(Schema.Json) },
    ({ payload }) =>
      Effect.gen(function*() {
        const text = JSON.stringify(payload)
        // NUL characters and lone surrogates are refused whatever their size (JSON.stringify escapes both).
        if (/\\u0000|\\ud[89a-f]/i.test(text)) return
        const bytes = new TextEncoder().encode(text).length
        yield* validate(bytes)(make({ payload }))
        if (bytes > 1) {
          const error = yield* Effect.flip(validate(bytes - 1)(make({ payload })))
          assert.strictEqual(error._tag === "InvalidPayload" ? error.reason : error._tag, "too-large")
        }
      }),
    { arbitrary: { runs: 200 } }
  )
})
