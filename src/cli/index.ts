/**
 * `steadfast/cli`: the command-line interface, as a command you can embed in
 * your own binary with your store layer.
 *
 * It is an entry point of its own so that importing `steadfast` never loads
 * `effect/cli`. The package's `steadfast` bin runs it on PostgreSQL.
 *
 * @since 0.1.0
 */

/** The `steadfast` command and its subcommands. @since 0.1.0 */
export * as Cli from "./Cli.ts"
