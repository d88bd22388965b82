import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

export default defineConfig({
  // The package's public names resolve to the source, as in tsconfig.json's `paths`:
  // `exports` point at dist/, which tests must not need.
  resolve: {
    alias: [
      { find: /^steadfast$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
      { find: /^steadfast\/testing$/, replacement: fileURLToPath(new URL("./src/testing/index.ts", import.meta.url)) },
      { find: /^steadfast\/cli$/, replacement: fileURLToPath(new URL("./src/cli/index.ts", import.meta.url)) }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    // One PostgreSQL server for the run; each test file creates its own database on it.
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
