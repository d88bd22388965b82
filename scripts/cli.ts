/**
 * The Steadfast CLI on PostgreSQL: `npm run cli -- <command>`.
 *
 * Uses DATABASE_URL, or else the demo's embedded server in STEADFAST_DATA_DIR
 * (default `.data/pg`; started for the command if the demo is not running). The schema is
 * STEADFAST_SCHEMA, default `steadfast_demo` (the demo's). The package's own
 * bin (`src/cli/bin.ts`) is the same CLI without the embedded server.
 *
 *   npm run cli -- jobs
 *   npm run cli -- preview heartbeat --count 5
 *   npm run cli -- pause sync-device-7
 *   npm run cli -- trigger sync-device-42 --payload '{"deviceId":"99"}'
 *   npm run cli -- history sync-device-7 --limit 5
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { Command } from "effect/cli"
import * as path from "node:path"
import { Cli } from "../src/cli/index.ts"
import { PgJobStore } from "../src/index.ts"
import * as EmbeddedPg from "./lib/EmbeddedPg.ts"

const database = Layer.unwrap(Effect.gen(function*() {
  const fromEnv = process.env["DATABASE_URL"]
  if (fromEnv !== undefined && fromEnv !== "") return PgClient.layer({ url: Redacted.make(fromEnv) })
  const setting = process.env["STEADFAST_DATA_DIR"]
  const dataDir = setting !== undefined && setting !== ""
    ? path.resolve(setting)
    : path.join(import.meta.dirname, "..", ".data", "pg")
  const pg = yield* EmbeddedPg.make({ dataDir, databaseUrl: "", dataDirSetting: "STEADFAST_DATA_DIR" })
  return PgClient.layer({ url: Redacted.make(pg.url) })
}))

const store = PgJobStore.layer({ schema: process.env["STEADFAST_SCHEMA"] ?? "steadfast_demo" }).pipe(
  Layer.provide(database)
)

Cli.command.pipe(
  Command.run({ version: "0.1.0" }),
  Effect.provide(Layer.merge(NodeServices.layer, store)),
  // A data folder the server cannot reach: one line saying what to change, exit code 1, no stack trace.
  EmbeddedPg.reportUnreachable,
  NodeRuntime.runMain
)
