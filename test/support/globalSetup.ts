/**
 * One PostgreSQL server for the whole vitest run (an embedded one in a
 * temporary folder, or the `DATABASE_URL` one). Test files get its URL with
 * `inject("steadfastPgUrl")` (see `test/support/Pg.ts`), and each creates its
 * own database on it.
 *
 * Enabled in `vitest.config.ts` with `globalSetup: ["test/support/globalSetup.ts"]`.
 */
import type { TestProject } from "vitest/node"
import * as EmbeddedPg from "../../scripts/lib/EmbeddedPg.ts"

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pg = await EmbeddedPg.launch({ fast: true })
  project.provide("steadfastPgUrl", pg.url)
  return () => pg.dispose()
}
