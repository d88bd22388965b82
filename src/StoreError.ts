/**
 * The one error every store backend fails with.
 *
 * A store operation fails for reasons a caller can act on in two ways only:
 * retry it (the database went away, a deadlock, a serialization conflict) or
 * give up and report it (a syntax error, a violated constraint). Backends
 * classify their native errors into this shape so the runtime's retry
 * policies (`StoreRetry`) never have to know which database is underneath.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * A store operation failed.
 *
 * `reason` names the backend's classification (for PostgreSQL the `SqlError`
 * reason tag or the SQLSTATE), `retryable` says whether trying again may
 * succeed, `target` (when the backend knows it) says which database was asked,
 * without credentials (`PostgreSQL at db.internal:5432/app`).
 *
 * @example
 * ```ts
 * import { StoreError } from "steadfast"
 *
 * const error = new StoreError.StoreError({
 *   operation: "claim",
 *   reason: "ConnectionError",
 *   retryable: true,
 *   cause: new Error("ECONNREFUSED")
 * })
 * console.log(error.retryable) // true
 * ```
 *
 * @since 0.1.0
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.String,
  reason: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.Defect(),
  target: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const detail = Predicate.hasProperty(this.cause, "message") && typeof this.cause.message === "string"
      ? `: ${this.cause.message}`
      : ""
    const where = this.target === undefined ? "" : ` [${this.target}]`
    return `store operation ${this.operation} failed (${this.reason}${this.retryable ? ", retryable" : ""})${detail}${where}`
  }
}

/**
 * Whether a value is a `StoreError` that may succeed when retried.
 *
 * @example
 * ```ts
 * import { StoreError } from "steadfast"
 *
 * StoreError.isRetryable(new Error("boom")) // false
 * ```
 *
 * @since 0.1.0
 */
export const isRetryable = (u: unknown): boolean => u instanceof StoreError && u.retryable
