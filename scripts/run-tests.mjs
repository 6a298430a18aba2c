#!/usr/bin/env node
// `npm test`: the unit/integration suite, the browser suite, the real agent CLIs, then one closing line
// `N passed, N failed` (CI reads that line, not vitest's own summary).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outDir = join(root, '.ci-out')
mkdirSync(outDir, { recursive: true })
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs')
const extra = process.argv.slice(2)

const suites = [
  { name: 'unit', args: [] },
  { name: 'e2e', args: ['-c', 'vitest.e2e.config.mts'] },
  { name: 'clis', args: ['-c', 'vitest.clis.config.mts'] },
]
let passed = 0
let failed = 0
let skipped = 0
let exitCode = 0
for (const suite of suites) {
  const report = join(outDir, `${suite.name}.json`)
  rmSync(report, { force: true })
  const r = spawnSync(
    process.execPath,
    [vitest, 'run', ...suite.args, '--reporter=default', '--reporter=json', `--outputFile=${report}`, ...extra],
    { cwd: root, stdio: 'inherit' },
  )
  if (r.status !== 0) exitCode = 1
  if (!existsSync(report)) {
    process.stderr.write(`${suite.name} suite wrote no report (exit ${r.status}); counting it as failed\n`)
    failed++
    continue
  }
  const j = JSON.parse(readFileSync(report, 'utf8'))
  passed += j.numPassedTests
  failed += j.numFailedTests + (j.numRuntimeErrorTestSuites ?? 0)
  skipped += j.numPendingTests + (j.numTodoTests ?? 0)
}
if (passed === 0) {
  process.stderr.write('no tests ran\n')
  exitCode = 1
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(exitCode)
