/**
 * The Steadfast CLI for this repository: `npm run cli -- <command>`, the
 * package's `steadfast` bin (`src/cli/bin.ts`) plus the demo's database.
 *
 * With DATABASE_URL it is the bin: schema STEADFAST_SCHEMA, default
 * `steadfast` (the library's). Without it, it talks to the demo's embedded
 * server in STEADFAST_DATA_DIR (default `.data/pg`, started for the command
 * if `npm start` is not running) and to the demo's schema, `steadfast_demo`,
 * unless STEADFAST_SCHEMA says otherwise. `npm run cli -- --help` lists the
 * commands, `--json`, and the exit codes.
 *
 *   npm run cli -- jobs
 *   npm run cli -- show heartbeat --fires 5
 *   npm run cli -- pause sync-device-7
 *   npm run cli -- trigger sync-device-42 --payload '{"deviceId":"99"}'
 *   npm run cli -- history --job sync-device-7 --limit 5 --json
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Layer, Runtime } from "effect"
import * as path from "node:path"
import { Cli } from "../src/cli/index.ts"
import * as EmbeddedPg from "./lib/EmbeddedPg.ts"

const setting = (name: string): string | undefined => {
  const value = process.env[name]
  return value === undefined || value === "" ? undefined : value
}

const connection = Layer.unwrap(Effect.gen(function*() {
  const url = setting("DATABASE_URL")
  if (url !== undefined) return Cli.layerPostgres({ url, schema: setting("STEADFAST_SCHEMA") })
  const dataDir = path.resolve(setting("STEADFAST_DATA_DIR") ?? path.join(import.meta.dirname, "..", ".data", "pg"))
  const pg = yield* EmbeddedPg.make({ dataDir, databaseUrl: "", dataDirSetting: "STEADFAST_DATA_DIR" })
  return Cli.layerPostgres({ url: pg.url, schema: setting("STEADFAST_SCHEMA") ?? "steadfast_demo" })
}))

Cli.main(process.argv.slice(2), { version: "0.1.0" }).pipe(
  Effect.provide(Layer.merge(NodeServices.layer, connection)),
  // A data folder the server cannot reach: one line saying what to change, exit code 1, no stack trace.
  EmbeddedPg.reportUnreachable,
  (program) =>
    NodeRuntime.runMain(program, {
      teardown: (exit, onExit) =>
        Runtime.defaultTeardown(exit, (code) => {
          onExit(code)
          // The embedded server is stopped by then (its scope closed); a code set by reportUnreachable stands.
          process.exit(code === 0 ? process.exitCode ?? 0 : code)
        })
    })
)
