/**
 * Typed array parameters: a batch of values per column, sent in
 * PostgreSQL's binary format and expanded with `unnest`. Both sides encode
 * and decode them far more cheaply than the same rows as JSON text, which
 * matters on the hot path (claims, outcomes, lease renewals).
 *
 * @internal
 */
import { PgTypes } from "@effect/sql-pg"
import * as Result from "effect/Result"

const typed = (values: ReadonlyArray<unknown>, elementOid: number): PgTypes.Parameter =>
  // Fails only for an element type without an array type, which these are not.
  Result.getOrThrow(PgTypes.array(values, elementOid))

/** `bigint[]` of epoch milliseconds or ids (or nulls). @internal */
export const int8s = (values: ReadonlyArray<number | string | null>): PgTypes.Parameter =>
  typed(values.map((v) => (v === null ? null : BigInt(v))), PgTypes.OID.int8)

/** `text[]`. @internal */
export const texts = (values: ReadonlyArray<string | null>): PgTypes.Parameter => typed(values, PgTypes.OID.text)

/** `integer[]`. @internal */
export const int4s = (values: ReadonlyArray<number>): PgTypes.Parameter => typed(values, PgTypes.OID.int4)

/** `boolean[]`. @internal */
export const bools = (values: ReadonlyArray<boolean>): PgTypes.Parameter => typed(values, PgTypes.OID.bool)

/** `double precision[]` (or nulls). @internal */
export const float8s = (values: ReadonlyArray<number | null>): PgTypes.Parameter => typed(values, PgTypes.OID.float8)
