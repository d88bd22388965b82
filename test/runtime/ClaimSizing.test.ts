/**
 * The dispatcher's claim sizing (issue 12): claims apart from handler slots,
 * bounded so that a claimed run never waits long for a slot, worth their
 * round trip, and an early-claim window within its bounds. Properties over
 * every combination of slots, batch size, load and handler speed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as ClaimSizing from "../../src/runtime/ClaimSizing.ts"

const int = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const Load = Schema.Struct({
  slots: int(1, 20_000),
  batchSize: int(1, 5_000),
  runningShare: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
  waiting: int(0, 20_000),
  meanRunMs: Schema.UndefinedOr(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 600_000 }))),
  windowMs: int(50, 1_000)
})

const inputOf = (load: typeof Load.Type): ClaimSizing.Input => ({
  slots: load.slots,
  batchSize: load.batchSize,
  running: Math.floor(load.slots * load.runningShare),
  waiting: load.waiting,
  meanRunMs: load.meanRunMs,
  windowMs: load.windowMs
})

describe("ClaimSizing", () => {
  it.prop("a claim takes at most a batch, and never fills the queue past its bound", { load: Load }, ({ load }) => {
    const input = inputOf(load)
    const { limit } = ClaimSizing.size(input)
    assert.isAtLeast(limit, 0)
    assert.isAtMost(limit, input.batchSize)
    if (limit > 0) assert.isAtMost(input.waiting + limit, ClaimSizing.queueBound(input))
  })

  it.prop("with nothing queued and a free slot, something is claimed", { load: Load }, ({ load }) => {
    const input = { ...inputOf(load), waiting: 0 }
    if (input.running < input.slots) assert.isAbove(ClaimSizing.size(input).limit, 0)
  })

  it.prop("the queue holds no more than the free slots, or what the slots start within the window", { load: Load }, ({ load }) => {
    const input = inputOf(load)
    const bound = ClaimSizing.queueBound(input)
    const free = input.slots - input.running
    assert.isAtLeast(bound, free, "every free slot can be filled")
    if (input.meanRunMs === undefined) {
      // Before any run ended nothing is known of the handlers: only the free slots are claimed for.
      assert.strictEqual(bound, free)
    } else if (bound > free) {
      const startable = Math.floor((input.slots * input.windowMs) / Math.max(input.meanRunMs, 0.05))
      assert.isAtMost(bound, Math.min(2 * input.batchSize, startable))
    }
  })

  it.prop("without a claim now, the wake level is one at which a claim is made", { load: Load }, ({ load }) => {
    const input = inputOf(load)
    const { limit, wakeAt } = ClaimSizing.size(input)
    if (limit > 0 || wakeAt < 0) return
    assert.isBelow(wakeAt, input.waiting, "a level the queue has still to run down to")
    assert.isAbove(ClaimSizing.size({ ...input, waiting: wakeAt }).limit, 0)
  })

  it("slow handlers: ten slots of one-minute runs claim for the free slots only", () => {
    const sizing = ClaimSizing.size({ slots: 10, batchSize: 512, running: 10, waiting: 0, meanRunMs: 60_000, windowMs: 1_000 })
    assert.deepStrictEqual(sizing, { limit: 0, wakeAt: -1 })
    assert.strictEqual(ClaimSizing.size({ slots: 10, batchSize: 512, running: 7, waiting: 0, meanRunMs: 60_000, windowMs: 1_000 }).limit, 3)
  })

  it("fast handlers: ten slots claim whole batches, up to two of them queued", () => {
    const input = { slots: 10, batchSize: 512, running: 10, meanRunMs: 0, windowMs: 1_000 }
    assert.strictEqual(ClaimSizing.size({ ...input, waiting: 0 }).limit, 512)
    assert.strictEqual(ClaimSizing.size({ ...input, waiting: 512 }).limit, 512)
    // A claim worth its trip (half a batch) does not fit: wait until the queue runs down to where it does.
    assert.deepStrictEqual(ClaimSizing.size({ ...input, waiting: 900 }), { limit: 0, wakeAt: 768 })
  })

  it.prop("the early-claim window covers 4 claim round trips, in steps from 50 ms, within the window", {
    mean: Schema.UndefinedOr(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 10_000 }))),
    windowMs: int(50, 1_000)
  }, ({ mean, windowMs }) => {
    const ahead = ClaimSizing.aheadMs(mean, windowMs)
    assert.isAtLeast(ahead, 50)
    assert.isAtMost(ahead, windowMs)
    // A step of 50 ms doubled: at least 4 round trips (unless the window is less), at most twice that.
    assert.isTrue([50, 100, 200, 400, 800].includes(ahead) || ahead === windowMs, `${ahead} is a step or the window`)
    const wanted = 4 * (mean ?? 0)
    if (wanted <= windowMs) assert.isAtLeast(ahead, wanted)
    if (wanted > 50) assert.isBelow(ahead, 2 * wanted + 1)
  })
})
