import { Effect, Redacted, Stream, Layer, Queue } from "effect"
import { PgClient } from "@effect/sql-pg"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"

const pg = await EmbeddedPg.launch({ fast: true })
console.log("started", pg.url)
const program = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const q = yield* sql.listen("steadfast:x:")
  console.log("listening")
  yield* Effect.forkChild(Effect.gen(function*() {
    yield* Effect.sleep(100)
    yield* sql`SELECT pg_notify('steadfast:x:', 'hi')`
    console.log("notified")
  }))
  const n = yield* Queue.take(q)
  console.log("got", n)
  const s = yield* Effect.forkChild(Stream.runForEach(Stream.fromQueue(q), (x) => Effect.sync(() => console.log("stream", x))))
  yield* Effect.sleep(100)
  yield* sql`SELECT pg_notify('steadfast:x:', 'again')`
  yield* Effect.sleep(200)
}).pipe(Effect.scoped, Effect.provide(PgClient.layer({ url: Redacted.make(pg.url) })))
const t = setTimeout(() => { console.log("TIMEOUT"); process.exit(1) }, 10000)
await Effect.runPromise(program).catch((e) => console.log("ERR", e))
clearTimeout(t)
await pg.dispose()
console.log("done")
