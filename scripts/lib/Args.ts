/**
 * Command-line checks shared by the measuring scripts (`npm run silence`,
 * `npm run lost-reply`): a bad value ends the script with exit code 2 and
 * one line saying which option and why.
 */

/** The number `text` of option `--name`, which must be positive. */
export const positive = (name: string, text: string | undefined): number => {
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`--${name} must be a positive number, not ${String(text)}\n`)
    process.exit(2)
  }
  return value
}
