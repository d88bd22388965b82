/**
 * The cursor of a history page: where the next page starts. History is
 * ordered newest fire first, then by run id (both descending), so a cursor
 * is the last record's fire time and id, `"<fireTime>:<id>"`; the next page
 * holds the records strictly after it in that order, whatever was added or
 * pruned meanwhile: no record twice, none left out that was there before.
 *
 * @internal
 */
import type * as Run from "../Run.ts"
import { StoreError } from "../StoreError.ts"

/** A decoded cursor. @internal */
export interface HistoryCursor {
  readonly fireTime: number
  /** A run id: a decimal integer, as both stores number runs. */
  readonly id: string
}

const pattern = /^(-?(?:0|[1-9][0-9]{0,15})):([1-9][0-9]{0,17})$/

/** The cursor after `record`. @internal */
export const historyCursor = (record: Pick<Run.RunRecord, "fireTime" | "id">): string => `${record.fireTime}:${record.id}`

/** Decodes a cursor; `undefined` when `cursor` is not one. @internal */
export const parseHistoryCursor = (cursor: unknown): HistoryCursor | undefined => {
  if (typeof cursor !== "string") return undefined
  const match = pattern.exec(cursor)
  if (match === null) return undefined
  const fireTime = Number(match[1])
  return Number.isSafeInteger(fireTime) ? { fireTime, id: match[2]! } : undefined
}

/**
 * Whether a record comes after the cursor in history order (fire time
 * descending, then id descending; ids compared as numbers).
 *
 * @internal
 */
export const isAfter = (record: Pick<Run.RunRecord, "fireTime" | "id">, cursor: HistoryCursor): boolean =>
  record.fireTime < cursor.fireTime ||
  (record.fireTime === cursor.fireTime && BigInt(record.id) < BigInt(cursor.id))

/**
 * ASCII letters in lower case, nothing else changed: job ids are ASCII, and
 * both stores fold case the same way for `JobQuery.text`.
 *
 * @internal
 */
export const foldAscii = (text: string): string => text.replace(/[A-Z]/g, (c) => c.toLowerCase())

/**
 * A `before` cursor that is not one: the typed, non-retryable error of both
 * stores' history pages.
 *
 * @internal
 */
export const invalidCursor = (operation: string, cursor: unknown): StoreError =>
  new StoreError({
    operation,
    reason: "InvalidCursor",
    retryable: false,
    cause: new Error(`not a history cursor: ${JSON.stringify(cursor)} (pass the \`next\` of the previous page)`)
  })
