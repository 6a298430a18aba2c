// Types for test-runner.mjs (plain JS so `npm test` runs before anything is compiled).
export interface Suite {
  name: string
  args: string[]
  env?: Record<string, string>
}
export interface RunResult {
  passed: number
  failed: number
  skipped: number
  lines: string[]
  closing: string
  exitCode: 0 | 1
}
export function runSuites(opts: {
  root: string
  outDir: string
  suites: Suite[]
  floors?: Record<string, number>
  extraArgs?: string[]
  stdio?: 'inherit' | 'pipe'
}): RunResult
