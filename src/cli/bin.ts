#!/usr/bin/env node
/**
 * The package's `steadfast` bin: the CLI on a PostgreSQL store.
 *
 *   DATABASE_URL=postgres://user:password@host:5432/app npx steadfast jobs
 *
 * `DATABASE_URL` is required by every subcommand (not by `--help`);
 * `STEADFAST_SCHEMA` names the store's schema (default `steadfast`, as
 * `PgJobStore.layer`). `@effect/platform-node` is loaded by subpath, never by
 * its barrel, which would cost about 60 MB of RSS for nothing.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Command from "effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as PgJobStore from "../PgJobStore.ts"
import * as Cli from "./Cli.ts"

/** A known condition: reported as one line (no stack trace), exit code 2. */
class MissingDatabaseUrl extends Schema.TaggedError<MissingDatabaseUrl>()("MissingDatabaseUrl", {}) {
  override readonly [Runtime.errorExitCode] = 2
  override readonly [Runtime.errorReported] = false
}

// dist/cli/bin.js and src/cli/bin.ts sit at the same depth below package.json.
const { version } = Schema.decodeUnknownSync(Schema.fromJsonString(Schema.Struct({ version: Schema.String })))(
  fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")
)

// Built only when a subcommand runs, so `steadfast --help` needs no database.
const store = Layer.unwrap(Effect.gen(function*() {
  const url = process.env["DATABASE_URL"]
  if (url === undefined || url === "") {
    yield* Console.error("steadfast: DATABASE_URL is not set (e.g. DATABASE_URL=postgres://user:password@host:5432/app)")
    return yield* new MissingDatabaseUrl()
  }
  return PgJobStore.layer({ schema: process.env["STEADFAST_SCHEMA"] || undefined }).pipe(
    Layer.provide(PgClient.layer({ url: Redacted.make(url) }))
  )
}))

Cli.command.pipe(
  Command.provide(store),
  Command.run({ version }),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
