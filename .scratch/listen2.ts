import { Effect, Redacted, Stream, Layer, Queue, Context } from "effect"
import { PgClient } from "@effect/sql-pg"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import { JobStore } from "../src/JobStore.ts"

const pg = await EmbeddedPg.launch({ fast: true })
const mk = Effect.map(Layer.build(PgJobStore.layer({ schema: "notify" }).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(pg.url) })))), (c) => Context.get(c, JobStore))
const program = Effect.gen(function*() {
  const a = yield* mk
  const b = yield* mk
  console.log("stores")
  const wake = yield* Queue.unbounded<number>()
  yield* Effect.forkChild(Stream.runForEach(b.changes, () => { console.log("woke"); return Queue.offer(wake, Date.now()) }))
  yield* Effect.sleep(300)
  console.log("slept")
  const t = yield* a.now
  console.log("now", t)
  const x = yield* a.triggerNow("nope").pipe(Effect.flip)
  console.log("trig", x._tag)
  const at = yield* Queue.take(wake).pipe(Effect.timeout("2 seconds"), Effect.exit)
  console.log("at", at)
}).pipe(Effect.scoped)
const t = setTimeout(() => { console.log("TIMEOUT"); process.exit(1) }, 10000)
await Effect.runPromise(program).catch((e) => console.log("ERR", e))
clearTimeout(t)
await pg.dispose()
console.log("done")
