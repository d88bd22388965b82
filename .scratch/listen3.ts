import { Effect, Redacted, Stream, Layer, Queue, Context, Fiber } from "effect"
import { PgClient } from "@effect/sql-pg"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"
import * as PgJobStore from "../src/PgJobStore.ts"
import { JobStore } from "../src/JobStore.ts"

const pg = await EmbeddedPg.launch({ fast: true })
const variant = process.argv[2]
const mk = Effect.map(Layer.build(PgJobStore.layer({ schema: "notify" }).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(pg.url) })))), (c) => Context.get(c, JobStore))
const program = Effect.gen(function*() {
  const b = yield* mk
  console.log("store")
  if (variant === "raw") {
    const sql = yield* PgClient.PgClient
  }
  const f = yield* Effect.forkChild(Stream.runForEach(b.changes, () => Effect.log("woke")))
  yield* Effect.sleep(300)
  console.log("interrupting")
  if (variant === "interrupt") { yield* Fiber.interrupt(f); console.log("interrupted") }
}).pipe(Effect.scoped)
const t = setTimeout(() => { console.log("TIMEOUT"); process.exit(1) }, 5000)
await Effect.runPromise(program).catch((e) => console.log("ERR", e))
clearTimeout(t)
await pg.dispose()
console.log("done")
