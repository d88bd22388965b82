#!/usr/bin/env node
/**
 * The package's `steadfast` bin: the CLI on PostgreSQL.
 *
 *   DATABASE_URL=postgres://user:password@host:5432/app npx steadfast jobs
 *
 * `DATABASE_URL` is required by every command (not by `--help`);
 * `STEADFAST_SCHEMA` names the store's schema (default `steadfast`, as
 * `PgJobStore.layer`). `steadfast --help` lists the commands, the exit codes
 * and what `--json` prints. `@effect/platform-node` is loaded by subpath,
 * never by its barrel, which would cost about 60 MB of RSS for nothing.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as Cli from "./Cli.ts"

// dist/cli/bin.js and src/cli/bin.ts sit at the same depth below package.json.
const { version } = Schema.decodeUnknownSync(Schema.fromJsonString(Schema.Struct({ version: Schema.String })))(
  fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")
)

const setting = (name: string): string | undefined => {
  const value = process.env[name]
  return value === undefined || value === "" ? undefined : value
}

const connection = Cli.layerPostgres({ url: setting("DATABASE_URL"), schema: setting("STEADFAST_SCHEMA") })

Cli.main(process.argv.slice(2), { version }).pipe(
  Effect.provide(Layer.merge(NodeServices.layer, connection)),
  // Exit at once with the code: a connection abandoned at the deadline must not keep the process alive.
  (program) =>
    NodeRuntime.runMain(program, {
      teardown: (exit, onExit) => Runtime.defaultTeardown(exit, (code) => {
        onExit(code)
        process.exit(code)
      })
    })
)
