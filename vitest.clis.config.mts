import { defineConfig } from 'vitest/config'

// The real agent CLIs (test/real-clis): one file at a time, since each CLI is a heavy
// process and the machine has two cores; generous bounds for their start-up.
export default defineConfig({
  test: {
    include: ['test/real-clis/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    environment: 'node',
    testTimeout: 240_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    pool: 'forks',
  },
})
