import react from '@vitejs/plugin-react'
import { defineConfig } from 'vitest/config'

// Unit and integration tests: everything under test/ except the browser suite and the real-CLI suite.
export default defineConfig({
  plugins: [react()],
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    exclude: ['test/e2e/**', 'test/real-clis/**', '**/node_modules/**'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
})
