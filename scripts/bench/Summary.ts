/**
 * The closing table of a bench run: every figure with a target, its measured
 * median, the target, and whether it was met. Printed on stderr, so stdout
 * stays one JSON line per scenario.
 */
export interface Check {
  readonly figure: string
  readonly measured: string
  readonly target: string
  /** `null` when there is no measurement to judge (e.g. no floor in this run). */
  readonly met: boolean | null
}

const show = (value: number | null | undefined, unit: string): string =>
  value === null || value === undefined || Number.isNaN(value) ? "n/a" : `${value.toLocaleString("en-US")}${unit}`

const judged = (value: number | null | undefined, pass: (v: number) => boolean): boolean | null =>
  value === null || value === undefined || Number.isNaN(value) ? null : pass(value)

/** `figure` must be at least `limit`. */
export const atLeast = (figure: string, value: number | null | undefined, limit: number, unit = ""): Check => ({
  figure,
  measured: show(value, unit),
  target: `>= ${show(limit, unit)}`,
  met: judged(value, (v) => v >= limit)
})

/** `figure` must be at most `limit`. */
export const atMost = (figure: string, value: number | null | undefined, limit: number, unit = ""): Check => ({
  figure,
  measured: show(value, unit),
  target: `<= ${show(limit, unit)}`,
  met: judged(value, (v) => v <= limit)
})

/** `figure` must be below `limit`. */
export const below = (figure: string, value: number | null | undefined, limit: number, unit = ""): Check => ({
  figure,
  measured: show(value, unit),
  target: `< ${show(limit, unit)}`,
  met: judged(value, (v) => v < limit)
})

/** A figure shown for reference, with no target. */
export const reference = (figure: string, value: number | null | undefined, unit = ""): Check => ({
  figure,
  measured: show(value, unit),
  target: "(reference)",
  met: null
})

/** The table, as text: one row per check, columns padded. */
export const table = (checks: ReadonlyArray<Check>): string => {
  const rows = [
    ["figure", "measured (median)", "target", "met?"],
    ...checks.map((c) => [c.figure, c.measured, c.target, c.met === null ? "-" : c.met ? "yes" : "NO"])
  ]
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length)))
  const line = (row: ReadonlyArray<string>) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`
  const rule = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`
  const [head = [], ...body] = rows
  const missed = checks.filter((c) => c.met === false).length
  return [line(head), rule, ...body.map(line), "", `${missed === 0 ? "every target met" : `${missed} target(s) missed`} ` +
    `(${checks.filter((c) => c.met === true).length} met, ${checks.filter((c) => c.met === null).length} not judged)`]
    .join("\n")
}
