import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    root: "/work/main",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ["test/support/globalSetup.ts"]
  }
})
