import { Effect, Redacted, Layer, Context } from "effect"
import { PgClient } from "@effect/sql-pg"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"

const pg = await EmbeddedPg.launch({ fast: true })
const client = (app: string) => Effect.map(Layer.build(PgClient.layer({ url: Redacted.make(pg.url), applicationName: app })), (c) => Context.get(c, PgClient.PgClient))
const program = Effect.gen(function*() {
  const victim = yield* client("victim")
  const admin = yield* client("admin")
  yield* victim`SELECT 1`
  console.log(yield* admin`SELECT pid, application_name, state FROM pg_stat_activity WHERE datname = current_database()`)
  const r = yield* admin`SELECT pg_terminate_backend(pid) AS k FROM pg_stat_activity WHERE application_name = 'victim' AND datname = current_database()`.pipe(Effect.exit)
  console.log("terminate", r)
  yield* Effect.sleep(100)
  console.log("victim again", yield* victim`SELECT 1 AS one`.pipe(Effect.exit))
}).pipe(Effect.scoped)
await Effect.runPromise(program).catch((e) => console.log("ERR", e))
await pg.dispose()
