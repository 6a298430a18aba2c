import { defineConfig } from 'vitest/config'

// Browser end-to-end tests: Debian Chromium driven by playwright-core against `npm run serve`.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    environment: 'node',
    testTimeout: 90_000,
    hookTimeout: 90_000,
    fileParallelism: false,
  },
})
