import { Effect } from "effect"
import * as EmbeddedPg from "../scripts/lib/EmbeddedPg.ts"
const dir = "/tmp/steadfast-reuse/pg"
const mode = process.argv[2]
const t0 = Date.now()
const pg = await EmbeddedPg.launch({ dataDir: dir })
console.log(mode, "up", pg.port, Date.now() - t0, "ms")
const q = (url: string) => Effect.runPromise(EmbeddedPg.admin(url, (sql) => Effect.tap(sql`SELECT 1`, () => Effect.log("query ok"))))
await q(pg.url)
if (mode === "hang") { setInterval(() => {}, 1000) }
else if (mode === "outage") { await pg.stop(); console.log("stopped"); await q(pg.url).catch(() => console.log("query failed as expected")); await pg.start(); await q(pg.url); await pg.dispose(); console.log("disposed") }
else { await pg.dispose(); console.log("disposed") }
