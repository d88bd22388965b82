/**
 * The dashboard's sessions (src/admin/dashboard/Session.ts): bounded per
 * token, so a flood of logins with one token never logs out the holders of
 * another; expired sessions are gone.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Session from "../../src/admin/dashboard/Session.ts"

const viewer = { name: "wall-display", role: "viewer" } as const
const operator = { name: "ops", role: "operator" } as const

describe("dashboard sessions", () => {
  it("a flood of one token's logins evicts only that token's oldest sessions", () => {
    const sessions = Session.makeSessions({ ttlMs: 60_000, max: 3 })
    const ops = sessions.open(operator)
    const walls = Array.from({ length: 50 }, () => sessions.open(viewer))
    assert.strictEqual(sessions.get(ops.id)?.principal.name, "ops", "the operator is still logged in")
    // The viewer's newest three remain, the older ones were evicted.
    assert.deepStrictEqual(walls.map((s) => sessions.get(s.id) !== undefined).filter(Boolean).length, 3)
    assert.isDefined(sessions.get(walls[49]!.id))
    assert.isUndefined(sessions.get(walls[0]!.id))
  })

  it("an expired session is gone, and a closed one", () => {
    const sessions = Session.makeSessions({ ttlMs: -1 })
    const expired = sessions.open(operator)
    assert.isUndefined(sessions.get(expired.id))
    const live = Session.makeSessions({ ttlMs: 60_000 })
    const open = live.open(operator)
    assert.isDefined(live.get(open.id))
    live.close(open.id)
    assert.isUndefined(live.get(open.id))
  })
})
