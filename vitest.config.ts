import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

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
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
