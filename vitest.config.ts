import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"

// The files that take longest (real processes, outages, the packed package),
// longest first. Vitest starts the files it has timed before longest first,
// and the others largest first: on a fresh clone (CI) that started the packed
// package's test 28th of 68, and the run took a minute more than its files
// need. Measured with `npm test` on the 2-core machine, 2026-12-02.
const slowest = [
  "Package",
  "ClaimLoss",
  "ClusterOutages",
  "Cluster",
  "ClusterFaults",
  "PgFaults",
  "cli/Bin",
  "PgJobStore",
  "PgBouncer",
  "admin/dashboard",
  "FaultyJobStore",
  "Records",
  "EmbeddedPg"
]

class SlowestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const rank = (spec: TestSpecification) => {
      const at = slowest.findIndex((name) => spec.moduleId.replaceAll("\\", "/").endsWith(`/test/${name}.test.ts`))
      return at === -1 ? slowest.length : at
    }
    // A stable sort: the other files keep vitest's order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b))
  }
}

export default defineConfig({
  // The package's public names resolve to the source, as in tsconfig.json's `paths`:
  // `exports` point at dist/, which tests must not need.
  resolve: {
    alias: [
      { find: /^steadfast$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
      { find: /^steadfast\/testing$/, replacement: fileURLToPath(new URL("./src/testing/index.ts", import.meta.url)) },
      { find: /^steadfast\/cli$/, replacement: fileURLToPath(new URL("./src/cli/index.ts", import.meta.url)) },
      { find: /^steadfast\/admin$/, replacement: fileURLToPath(new URL("./src/admin/index.ts", import.meta.url)) }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    // One PostgreSQL server for the run; each test file creates its own database on it.
    globalSetup: ["test/support/globalSetup.ts"],
    // Three test files at a time, also on a 2-core machine: most of their time
    // is spent waiting on PostgreSQL, child processes and real time. (Two whole
    // suites side by side, four files at a time, passed 5 rounds of 5 here:
    // that load is tolerated.)
    maxWorkers: 3,
    sequence: { sequencer: SlowestFirst },
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
